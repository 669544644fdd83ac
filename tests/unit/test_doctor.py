"""The doctor on recorded PyPI answers: the seed causes, one by one, and the exit status."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.version import Version

from data.pypi.replay import PROJECTS, PYPI, Replay, client, gpu, profile, reader
from torchbuild.detect.torch import InstalledTorch
from torchbuild.doctor.diagnose import diagnose
from torchbuild.doctor.report import Report, report_json
from torchbuild.errors import EXIT_FINDINGS
from torchbuild.resolve.indexes import IndexCache, IndexClient, Source
from torchbuild.resolve.pipconfig import PipConfig
from torchbuild.target import Target, load_target


@pytest.fixture(scope="module")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> IndexClient:
    return client(Path(tmp_path_factory.mktemp("pypi")))


def run(target: Target, client_: IndexClient, **kw: object) -> Report:
    sources = kw.pop("sources", [PYPI])
    return diagnose(target, sources=sources, client=client_, **kw)  # type: ignore[arg-type]


def codes(report: Report) -> list[str]:
    return [f.code for f in report.findings]


def test_x86_64_without_gpu_is_fine(pypi: IndexClient) -> None:
    report = run(profile(), pypi)
    assert report.ok
    assert report.findings == ()
    assert [(o.name, str(o.version), o.works) for o in report.outcomes] == [
        ("torch", "2.15.0", True),
        ("torchvision", "0.29.2", True),
        ("torchaudio", "2.11.1", True),
    ]


def test_old_glibc_on_aarch64_falls_back_to_2_5_1(pypi: IndexClient) -> None:
    # pip's "from versions: ..." on such a machine ends at 2.5.1: the last manylinux2014 release.
    report = run(profile(arch="aarch64", libc_version="2.27"), pypi)
    assert report.ok  # pip install gives a working (older) set
    (finding,) = report.findings
    assert finding.code == "glibc-too-old"
    assert finding.severity == "warning"
    assert "need glibc 2.28; this target has 2.27" in finding.evidence
    assert finding.newest_fitting == "torch 2.5.1, torchvision 0.20.1, torchaudio 2.5.1"
    assert [str(o.version) for o in report.outcomes] == ["2.5.1", "0.20.1", "2.5.1"]


def test_armv7l_has_no_wheels_at_all(pypi: IndexClient) -> None:
    report = run(load_target("rpi-bookworm-armv7l"), pypi)
    assert not report.ok
    assert codes(report) == ["no-wheels-for-platform"]
    finding = report.findings[0]
    assert (
        finding.what == "no release of torch, torchvision, torchaudio has wheels for linux/armv7l"
    )
    assert "64-bit OS" in finding.fix
    assert "torchbuild wheel torch torchvision torchaudio" in finding.fix


def test_riscv64_has_no_wheels(pypi: IndexClient) -> None:
    report = run(
        profile(arch="riscv64", libc_version="2.39", python="3.12"), pypi, packages=["torch"]
    )
    assert codes(report) == ["no-wheels-for-platform"]


def test_musl(pypi: IndexClient) -> None:
    report = run(profile(libc="musl", libc_version="1.2.4", python="3.12"), pypi)
    assert codes(report) == ["musl"]
    assert "glibc-based" in report.findings[0].fix


def test_python_too_old_and_glibc_on_jetpack4(pypi: IndexClient) -> None:
    report = run(load_target("jetson-nano-jp4"), pypi)
    assert not report.ok
    assert codes(report)[:2] == ["python-too-old", "glibc-too-old"]
    assert "torch 1.10 for Python 3.6" in report.findings[0].fix


def test_python_too_new(pypi: IndexClient) -> None:
    report = run(profile(python="3.16"), pypi)
    assert codes(report) == ["python-too-new"]
    assert "supports Python up to 3.15" in report.findings[0].evidence


def test_python_3_15_gets_torchaudio_2_11_1(tmp_path: Path) -> None:
    # torchaudio 2.11.0 has no cp315 wheel, but 2.11.1 is a py3-none wheel whose METADATA says
    # torch>=2.11: pip installs it next to torch 2.15.0, and it works.
    replay = Replay(metadata=True)
    meta = reader(tmp_path, replay)
    report = run(profile(python="3.15"), client(tmp_path, replay), metadata=meta)
    assert report.ok
    assert codes(report) == []
    assert [(o.name, str(o.version), o.works) for o in report.outcomes] == [
        ("torch", "2.15.0", True),
        ("torchvision", "0.29.2", True),
        ("torchaudio", "2.11.1", True),
    ]
    assert any(
        u.endswith("torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl.metadata")
        for u in replay.metadata_calls
    )


def test_orin_jp6_gets_an_sbsa_build_that_cannot_work(pypi: IndexClient) -> None:
    report = run(load_target("jetson-orin-jp6"), pypi, packages=["torch"])
    (finding,) = report.findings
    assert finding.code == "platform"
    assert (
        finding.what == "`pip install torch` would install torch 2.14.1, which does not work here"
    )
    assert "without sm_87 kernels" in finding.evidence
    assert "+cu126.sm87" in finding.fix
    assert finding.newest_fitting is None


def test_thor_driver_and_the_newest_release_that_fits(pypi: IndexClient) -> None:
    report = run(load_target("jetson-thor-jp7"), pypi)
    # torch 2.15.0, torchvision 0.29.2 and torchaudio 2.11.1 (+cu132) are all CUDA 13.2 builds.
    assert codes(report) == ["driver", "driver", "driver"]
    torch = report.findings[0]
    assert torch.evidence == (
        "PyPI's torch 2.15.0 for aarch64 is a CUDA 13.2 build, and this Jetson's driver "
        "supports CUDA 13.0"
    )
    assert torch.newest_fitting == "2.14.1"
    assert "install torch 2.14.1, the newest release that fits, by its file" in torch.fix
    audio = {o.name: o for o in report.outcomes}["torchaudio"]
    assert (str(audio.version), audio.works) == ("2.11.1", False)
    assert str(audio.newest_fitting) == "2.11.0"
    # the way out pins the fitting files, not just their versions
    assert report.install is not None
    routes = {r.project: r for r in report.install.routes}
    assert routes["torch"].version == Version("2.14.1")
    assert routes["torch"].filename == "torch-2.14.1-cp312-cp312-manylinux_2_28_aarch64.whl"
    assert routes["torch"].constraint.startswith("torch==2.14.1 --hash=sha256:")
    assert "-c constraints.txt" in dict(report.install.commands)["pip"]


def test_cpu_only_wheels_on_jetpack5(pypi: IndexClient) -> None:
    report = run(load_target("jetson-xavier-jp5"), pypi, packages=["torch"])
    assert codes(report) == ["cpu-only"]
    assert "+cu114.sm72" in report.findings[0].fix
    accepted = run(load_target("jetson-xavier-jp5"), pypi, packages=["torch"], cuda="none")
    assert accepted.ok


def test_gpu_architecture_not_covered(pypi: IndexClient) -> None:
    report = run(profile(cuda=gpu("6.1", "13.0", "13.0")), pypi, packages=["torch"])
    (finding,) = report.findings
    assert finding.code == "gpu-arch"
    assert finding.newest_fitting == "2.7.1"  # the CUDA 12.6 build still has sm_60 code


def test_toolkit_newer_than_driver(pypi: IndexClient) -> None:
    report = run(profile(cuda=gpu("8.6", "12.6", "12.8")), pypi, packages=["torch"])
    assert "cuda-toolkit-driver" in codes(report)
    assert "driver" in codes(report)


def test_unreachable_index_is_named_with_its_error(tmp_path: Path) -> None:
    report = run(profile(), client(tmp_path, Replay(down=True)), packages=["torch"])
    index = [f for f in report.findings if f.code == "index-unreachable"]
    assert index
    assert index[0].severity == "error"  # nothing answered at all
    assert "https://pypi.org/simple/torch/" in index[0].evidence
    assert "Connection refused" in index[0].evidence


def test_missing_file_index_is_a_warning_next_to_a_working_pypi(
    pypi: IndexClient, tmp_path: Path
) -> None:
    missing = Source("index", (tmp_path / "pypi-more" / "simple").as_uri(), "pip file:/x [global]")
    report = run(profile(), pypi, sources=[PYPI, missing], packages=["torch"])
    assert report.ok
    (finding,) = report.findings
    assert finding.code == "index-unreachable"
    assert finding.severity == "warning"
    assert "pypi-more" in finding.what
    assert "does not exist" in finding.evidence


def test_broken_pip_config_is_an_error(pypi: IndexClient) -> None:
    pip = PipConfig(problems=("/root/.config/pip/pip.conf: File contains no section headers.",))
    report = run(profile(), pypi, pip=pip, packages=["torch"])
    assert codes(report) == ["pip-config"]
    assert not report.ok


def test_installed_torch_newer_than_the_driver(pypi: IndexClient) -> None:
    target = profile(cuda=gpu("8.6", "12.6", "12.6"))
    installed = InstalledTorch(Version("2.13.0+cu130"), "13.0", "/venv/torch")
    runtime = {"available": False, "warnings": ["The NVIDIA driver on your system is too old"]}
    report = run(target, pypi, packages=["torch"], installed=installed, runtime=runtime)
    found = [f for f in report.findings if f.code == "installed-torch"]
    assert [f.severity for f in found] == ["error", "error"]
    assert "CUDA 13.0 build, newer than the driver runs" in found[0].what
    assert found[1].evidence == "The NVIDIA driver on your system is too old"


def test_no_python(pypi: IndexClient) -> None:
    report = run(replace(profile(), python=None), pypi)
    assert codes(report) == ["no-python"]


def test_json(pypi: IndexClient) -> None:
    data = report_json(run(load_target("jetson-thor-jp7"), pypi))
    assert data["version"] == 1
    assert data["ok"] is False
    assert data["pip_would_install"][0]["wheel"]["filename"] == (
        "torch-2.15.0-cp312-cp312-manylinux_2_28_aarch64.whl"
    )
    assert data["findings"][0]["newest_fitting"] == "2.14.1"
    install = data["install"]
    assert [r["project"] for r in install["routes"]] == list(PROJECTS)
    assert all(r["constraint"].count("--hash=sha256:") == 1 for r in install["routes"])
    assert install["commands"]["pip"].startswith("pip install --no-require-hashes -c ")
    assert "[tool.uv.sources]" in install["files"]["pyproject-uv.toml"]
    fine = report_json(run(profile(), pypi))
    assert fine["ok"] is True
    assert fine["install"] is None  # pip install already works: nothing to pin


# -- the command line (offline, from a warmed cache) ---------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    cache = tmp_path / "cache"
    warm = IndexClient(cache=IndexCache(cache / "index"), transport=Replay())
    warm.listings([PYPI], PROJECTS)
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("PIP_", "TORCHBUILD_")):
            monkeypatch.delenv(key)
    return {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / ".config"),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        "PIP_CONFIG_FILE": os.devnull,
        "TORCHBUILD_CACHE_DIR": str(cache),
        "TORCHBUILD_WHEELHOUSE": str(tmp_path / "wheelhouse"),
    }


def test_cli_doctor_exit_status(cli_env: dict[str, str]) -> None:
    from torchbuild.__main__ import cli

    runner = CliRunner()
    bad = runner.invoke(
        cli, ["doctor", "--offline", "--json", "--target", "rpi-bookworm-armv7l"], env=cli_env
    )
    assert bad.exit_code == EXIT_FINDINGS, bad.output
    data = json.loads(bad.stdout)
    assert data["version"] == 1
    assert data["findings"][0]["code"] == "no-wheels-for-platform"
    good = runner.invoke(
        cli, ["doctor", "--offline", "--target", "rpi5-bookworm-arm64"], env=cli_env
    )
    assert good.exit_code == 0, good.output
    assert "gives a working set" in good.stdout
    text = runner.invoke(
        cli, ["doctor", "--offline", "--target", "rpi-bookworm-armv7l"], env=cli_env
    )
    assert text.exit_code == EXIT_FINDINGS, text.output
    lines = text.stdout.splitlines()
    way_out = next(i for i, line in enumerate(lines) if line.startswith("  way out:"))
    # The way out is longer than a pipe's 80 columns: it wraps under its own column.
    assert lines[way_out + 1].startswith(" " * 12), lines[way_out : way_out + 2]
    assert "torchbuild wheel torch" in " ".join(line.strip() for line in lines[way_out:])


def test_cli_plan_json_and_text(cli_env: dict[str, str]) -> None:
    from torchbuild.__main__ import cli

    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "plan",
            "--offline",
            "--json",
            "--target",
            "jetson-orin-jp6",
            "torch==2.13.0",
            "torchvision",
        ],
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 1
    assert [p["action"] for p in data["packages"]] == ["build", "build"]
    assert data["packages"][0]["wheel"] is None
    assert data["packages"][0]["recipe"] == "recipes/torch.toml"
    text = runner.invoke(
        cli, ["plan", "--offline", "--target", "rpi5-bookworm-arm64", "torch"], env=cli_env
    )
    assert text.exit_code == 0, text.output
    assert "prebuilt" in text.stdout
    assert "torch-2.15.0-cp311-cp311-manylinux_2_28_aarch64.whl" in text.stdout
    # The reason is longer than the 80 columns of a pipe: it wraps under its own column.
    lines = text.stdout.splitlines()
    why = next(i for i, line in enumerate(lines) if line.startswith("  why:"))
    assert lines[why + 1].startswith(" " * 8), lines[why : why + 2]
    assert lines[why + 1].strip(), lines[why : why + 2]


def test_cli_plan_refuses_an_impossible_set(cli_env: dict[str, str]) -> None:
    from torchbuild.__main__ import main

    os.environ.update(cli_env)
    try:
        code = main(
            [
                "plan",
                "--offline",
                "--target",
                "rpi5-bookworm-arm64",
                "torch==2.13",
                "torchvision==0.21",
            ]
        )
    finally:
        for key in cli_env:
            os.environ.pop(key, None)
    assert code == 4  # ResolveError
