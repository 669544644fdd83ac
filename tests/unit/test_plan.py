"""Plans on recorded PyPI answers, for a table of targets: the decision and its reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.version import Version

from data.pypi.replay import PYPI, Replay, client, gpu, profile, reader
from torchbuild.detect.torch import InstalledTorch, probe_installed_torch
from torchbuild.errors import InputError, ResolveError
from torchbuild.resolve.indexes import IndexClient, Source
from torchbuild.resolve.matrix import parse_request
from torchbuild.resolve.plan import (
    Decision,
    Plan,
    make_plan,
    plan_json,
)
from torchbuild.resolve.variants import installed_variant
from torchbuild.target import Target, load_target

if TYPE_CHECKING:
    from torchbuild.resolve.metadata import MetadataReader

#: The METADATA reader that goes with each replaying client (pypi.org serves PEP 658 files).
READERS: dict[int, MetadataReader] = {}


@pytest.fixture(scope="module")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> IndexClient:
    tmp = Path(tmp_path_factory.mktemp("pypi"))
    replay = Replay(metadata=True)
    found = client(tmp, replay)
    READERS[id(found)] = reader(tmp, replay)
    return found


def plan_for(
    target: Target,
    *packages: str,
    client_: IndexClient,
    sources: list[Source] | None = None,
    **kw: Any,
) -> Plan:
    kw.setdefault("metadata", READERS.get(id(client_)))
    return make_plan(
        target,
        [parse_request(p) for p in packages or ("torch", "torchvision", "torchaudio")],
        sources=sources or [PYPI],
        client=client_,
        **kw,
    )


def rows(result: Plan) -> dict[str, Decision]:
    return {d.name: d for d in result.decisions}


def summary(result: Plan) -> list[tuple[str, str, str, str | None]]:
    return [
        (d.name, str(d.version), d.action, d.wheel.filename if d.wheel else None)
        for d in result.decisions
    ]


# (target, packages, expected rows: (name, version, action, filename or None))
CASES: list[tuple[str, Target, tuple[str, ...], list[tuple[str, str, str, str | None]]]] = [
    (
        "x86_64 glibc 2.35 py3.11, no GPU",
        profile(),
        (),
        [
            ("torch", "2.15.0", "prebuilt", "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
            (
                "torchvision",
                "0.29.2",
                "prebuilt",
                "torchvision-0.29.2-py3-none-manylinux_2_28_x86_64.whl",
            ),
            (
                "torchaudio",
                "2.11.1",
                "prebuilt",
                "torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl",
            ),
        ],
    ),
    (
        "x86_64 glibc 2.17: the 2_28 wheels do not install, 2.6.0's manylinux1 wheel does",
        profile(libc_version="2.17"),
        ("torch",),
        [("torch", "2.6.0", "prebuilt", "torch-2.6.0-cp311-cp311-manylinux1_x86_64.whl")],
    ),
    (
        "x86_64 glibc 2.17, torch 2.5.1 is manylinux1",
        profile(libc_version="2.17"),
        ("torch==2.5.1",),
        [("torch", "2.5.1", "prebuilt", "torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl")],
    ),
    (
        "aarch64 glibc 2.27 py3.11",
        profile(arch="aarch64", libc_version="2.27"),
        ("torch==2.5.1", "torchvision"),
        [
            ("torch", "2.5.1", "prebuilt", "torch-2.5.1-cp311-cp311-manylinux2014_aarch64.whl"),
            (
                "torchvision",
                "0.20.1",
                "prebuilt",
                "torchvision-0.20.1-cp311-cp311-manylinux2014_aarch64.whl",
            ),
        ],
    ),
    (
        "python 3.8",
        profile(python="3.8"),
        (),
        [
            ("torch", "2.4.1", "prebuilt", "torch-2.4.1-cp38-cp38-manylinux1_x86_64.whl"),
            (
                "torchvision",
                "0.19.1",
                "prebuilt",
                "torchvision-0.19.1-cp38-cp38-manylinux1_x86_64.whl",
            ),
            ("torchaudio", "2.4.1", "prebuilt", "torchaudio-2.4.1-cp38-cp38-manylinux1_x86_64.whl"),
        ],
    ),
    (
        "python 3.9 aarch64",
        profile(arch="aarch64", python="3.9", libc_version="2.31"),
        ("torch",),
        [("torch", "2.8.0", "prebuilt", "torch-2.8.0-cp39-cp39-manylinux_2_28_aarch64.whl")],
    ),
    (
        "python 3.14t",
        profile(python="3.14", free_threaded=True),
        ("torch", "torchaudio"),
        [
            ("torch", "2.15.0", "prebuilt", "torch-2.15.0-cp314-cp314t-manylinux_2_28_x86_64.whl"),
            (
                "torchaudio",
                "2.11.1",
                "prebuilt",
                "torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl",
            ),
        ],
    ),
    (
        "python 3.15: torchaudio 2.11.1 is a py3-none wheel for torch>=2.11",
        profile(python="3.15"),
        (),
        [
            ("torch", "2.15.0", "prebuilt", "torch-2.15.0-cp315-cp315-manylinux_2_28_x86_64.whl"),
            (
                "torchvision",
                "0.29.2",
                "prebuilt",
                "torchvision-0.29.2-py3-none-manylinux_2_28_x86_64.whl",
            ),
            (
                "torchaudio",
                "2.11.1",
                "prebuilt",
                "torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl",
            ),
        ],
    ),
    (
        "armv7l: no recipe series builds 2.15.0, so 2.14.1",
        load_target("rpi-bookworm-armv7l"),
        ("torch",),
        [("torch", "2.14.1", "build", None)],
    ),
    (
        "musl",
        profile(libc="musl", libc_version="1.2.4", python="3.12"),
        ("torch",),
        [("torch", "2.14.1", "build", None)],
    ),
    (
        "Raspberry Pi 5, 64-bit",
        load_target("rpi5-bookworm-arm64"),
        ("torch",),
        [("torch", "2.15.0", "prebuilt", "torch-2.15.0-cp311-cp311-manylinux_2_28_aarch64.whl")],
    ),
    (
        "Jetson Orin JP6 (py3.10): newest set is 2.14 (2.15 needs 3.11)",
        load_target("jetson-orin-jp6"),
        (),
        [
            ("torch", "2.14.1", "build", None),
            ("torchvision", "0.29.2", "build", None),
            ("torchaudio", "2.11.1", "build", None),
        ],
    ),
    (
        "Jetson Thor JP7: PyPI's 2.13.0 SBSA CUDA 13.0 build has sm_110",
        load_target("jetson-thor-jp7"),
        ("torch==2.13.0", "torchvision"),
        [
            ("torch", "2.13.0", "prebuilt", "torch-2.13.0-cp312-cp312-manylinux_2_28_aarch64.whl"),
            (
                "torchvision",
                "0.28.0",
                "prebuilt",
                "torchvision-0.28.0-cp312-cp312-manylinux_2_28_aarch64.whl",
            ),
        ],
    ),
    (
        "Jetson Thor JP7: 2.15.0 is CUDA 13.2 (the driver runs 13.0), PyPI's 2.14.1 fits",
        load_target("jetson-thor-jp7"),
        ("torch",),
        [("torch", "2.14.1", "prebuilt", "torch-2.14.1-cp312-cp312-manylinux_2_28_aarch64.whl")],
    ),
    (
        "x86_64 RTX 3090 (sm_86), driver CUDA 12.8: 2.8.0 is cu128",
        profile(cuda=gpu("8.6", "12.8", "12.8")),
        ("torch==2.8.0", "torchvision"),
        [
            ("torch", "2.8.0", "prebuilt", "torch-2.8.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
            (
                "torchvision",
                "0.23.0",
                "prebuilt",
                "torchvision-0.23.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            ),
        ],
    ),
    (
        "x86_64 GTX 1080 (sm_61): 2.13's CUDA 13 build starts at sm_75",
        profile(cuda=gpu("6.1", "13.0", "13.0")),
        ("torch==2.13.0",),
        [("torch", "2.13.0", "build", None)],
    ),
]


@pytest.mark.parametrize(
    ("name", "target", "packages", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_decisions(
    pypi: IndexClient,
    name: str,
    target: Target,
    packages: tuple[str, ...],
    expected: list[tuple[str, str, str, str | None]],
) -> None:
    assert summary(plan_for(target, *packages, client_=pypi)) == expected


def test_reason_glibc_too_old(pypi: IndexClient) -> None:
    result = plan_for(profile(arch="aarch64", libc_version="2.27"), "torch==2.13.0", client_=pypi)
    assert rows(result)["torch"].reason == (
        "no wheel for cp311 on manylinux_2_27_aarch64: the published torch 2.13.0 wheels need "
        "glibc 2.28; this target has 2.27"
    )


def test_reason_orin_and_the_build_row(pypi: IndexClient) -> None:
    result = plan_for(load_target("jetson-orin-jp6"), "torch==2.13.0", client_=pypi)
    torch = rows(result)["torch"]
    assert torch.reason.startswith(
        "PyPI's torch 2.13.0 for aarch64 is a CUDA 13.0 build without sm_87 kernels, "
        "and this Jetson's driver supports CUDA 12.6"
    )
    assert torch.source == "git https://github.com/pytorch/pytorch at tag v2.13.0 with submodules"
    assert torch.recipe == "recipes/torch.toml"
    assert torch.variant is not None
    assert torch.variant.label == "cu126.sm87"
    assert any("CMake 3.22.1 is older than the 3.27" in n for n in torch.notes)


def test_reason_cpu_only_wheel_on_a_jetson(pypi: IndexClient) -> None:
    torch = rows(plan_for(load_target("jetson-orin-jp6"), "torch==2.10.0", client_=pypi))["torch"]
    assert torch.reason == (
        "PyPI's torch 2.10.0 for aarch64 is a CPU-only build, and this Jetson has sm_87; "
        "pass --cuda none to accept CPU-only wheels"
    )


def test_jetpack5_python_has_no_torch_a_recipe_builds(pypi: IndexClient) -> None:
    # Python 3.8 ends at torch 2.4.1; the recipes start at 2.6: a build would stop before
    # compiling, so the plan says so instead of planning it.
    with pytest.raises(
        ResolveError, match=r"no torch recipe series covers 2\.4\.1 \(they cover 2\.6"
    ):
        plan_for(load_target("jetson-xavier-jp5"), "torch", client_=pypi)


def test_cuda_none_accepts_the_wheels_on_a_jetson(pypi: IndexClient) -> None:
    result = plan_for(load_target("jetson-orin-jp5"), "torch", client_=pypi, cuda="none")
    assert summary(result) == [
        ("torch", "2.4.1", "prebuilt", "torch-2.4.1-cp38-cp38-manylinux2014_aarch64.whl")
    ]


def test_reason_no_wheels_for_armv7l(pypi: IndexClient) -> None:
    torch = rows(plan_for(load_target("rpi-bookworm-armv7l"), "torch", client_=pypi))["torch"]
    assert torch.reason == (
        "no wheel for cp311 on manylinux_2_36_armv7l: none is built for armv7l "
        "(published for: Linux aarch64, Linux x86_64, Windows x86-64, macOS arm64)"
    )


def test_reason_musl(pypi: IndexClient) -> None:
    target = profile(libc="musl", libc_version="1.2.4", python="3.12")
    torch = rows(plan_for(target, "torch", client_=pypi))["torch"]
    assert torch.reason == (
        "no wheel for cp312 on musllinux_1_2_x86_64: the published torch 2.14.1 wheels for "
        "x86_64 need glibc (manylinux); this target uses musl libc"
    )


def test_reason_python_tag(pypi: IndexClient) -> None:
    audio = rows(plan_for(profile(python="3.15"), "torch", "torchaudio==2.11.0", client_=pypi))
    audio = audio["torchaudio"]
    assert audio.reason == (
        "no wheel for cp315 on manylinux_2_35_x86_64: the published torchaudio 2.11.0 wheels "
        "are for cp310, cp311, cp312, cp313, cp313t, cp314, cp314t; it goes with torch 2.15.0: "
        "the compatibility table pairs it with torch>=2.11"
    )


def test_reason_gpu_architecture(pypi: IndexClient) -> None:
    torch = rows(plan_for(profile(cuda=gpu("6.1", "13.0", "13.0")), "torch==2.13.0", client_=pypi))
    assert torch["torch"].reason == (
        "PyPI's torch 2.13.0 for x86_64 is a CUDA 13.0 build without sm_61 kernels"
    )


def test_exact_cuda_flag(pypi: IndexClient) -> None:
    result = plan_for(
        profile(cuda=gpu("8.6", "13.0", "12.6")), "torch==2.13.0", client_=pypi, cuda="12.6"
    )
    torch = rows(result)["torch"]
    assert torch.action == "build"
    assert "--cuda asks for CUDA 12.6" in torch.reason
    assert torch.variant is not None
    assert torch.variant.label == "cu126.sm86"


def test_companions_of_a_built_torch_are_built_too(pypi: IndexClient) -> None:
    # Thor: torch 2.13.0 is built from the given tree, so PyPI's torchvision 0.28.0 (linked
    # against PyPI's torch) cannot be reused although its own variant fits.
    result = plan_for(
        load_target("jetson-thor-jp7"),
        "torch==2.13.0",
        "torchvision",
        client_=pypi,
        user_sources={"torch": "/src/pytorch-2.13.0"},
    )
    assert [(d.name, str(d.version), d.action) for d in result.decisions] == [
        ("torch", "2.13.0", "build"),
        ("torchvision", "0.28.0", "build"),
    ]
    assert "cannot sit on the torch 2.13.0 built here" in result.decisions[1].reason


def test_stable_abi_companion_sits_on_a_built_torch(pypi: IndexClient) -> None:
    result = plan_for(load_target("jetson-thor-jp7"), "torch", "torchaudio", client_=pypi)
    audio = rows(result)["torchaudio"]
    assert audio.action == "prebuilt"  # torchaudio 2.11 is built on the stable ABI, CUDA 13


def test_impossible_set_and_override(pypi: IndexClient) -> None:
    with pytest.raises(
        ResolveError,
        match=r"torchvision 0\.21\.0 does not go with torch 2\.13\.0: the compatibility table "
        r"pairs it with torch 2\.6\.0",
    ):
        plan_for(profile(), "torch==2.13", "torchvision==0.21", client_=pypi)
    result = plan_for(
        profile(), "torch==2.13", "torchvision==0.21", client_=pypi, ignore_matrix=True
    )
    assert result.warnings[0].startswith("--ignore-matrix: torchvision 0.21.0 does not go with")
    vision = rows(result)["torchvision"]
    assert vision.action == "build"
    assert "cannot sit on the prebuilt torch 2.13.0" in vision.reason


def test_jetpack4_python_is_too_old(pypi: IndexClient) -> None:
    with pytest.raises(ResolveError, match=r"Python 3\.6"):
        plan_for(load_target("jetson-nano-jp4"), client_=pypi)


def test_unknown_package_is_an_input_error(pypi: IndexClient) -> None:
    with pytest.raises(InputError):
        plan_for(profile(), "numpy", client_=pypi)


# -- where wheels come from ----------------------------------------------------------------------


def test_cached_from_the_wheelhouse(pypi: IndexClient, tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "torch"
    wh.mkdir(parents=True)
    (wh / "torch-2.14.1+cu126.sm87-cp310-cp310-linux_aarch64.whl").write_bytes(b"")
    (wh / "torchvision-0.29.2+cu126.sm87-cp310-cp310-linux_aarch64.whl").write_bytes(b"")
    sources = [PYPI, Source("wheelhouse", str(tmp_path / "wh"), "test")]
    result = plan_for(
        load_target("jetson-orin-jp6"),
        "torch",
        "torchvision",
        "torchaudio",
        client_=pypi,
        sources=sources,
    )
    got = rows(result)
    assert got["torch"].action == "cached"
    assert got["torch"].wheel is not None
    assert got["torch"].wheel.filename == "torch-2.14.1+cu126.sm87-cp310-cp310-linux_aarch64.whl"
    assert got["torchvision"].action == "cached"  # same torchbuild build of the same torch
    assert got["torchaudio"].action == "build"  # PyPI's is SBSA CUDA 13 without sm_87


def test_cached_wheel_of_another_variant_is_not_reused(pypi: IndexClient, tmp_path: Path) -> None:
    (tmp_path / "torch-2.14.1+cu126.sm72-cp310-cp310-linux_aarch64.whl").write_bytes(b"")
    sources = [PYPI, Source("wheelhouse", str(tmp_path), "test")]
    torch = rows(plan_for(load_target("jetson-orin-jp6"), "torch", client_=pypi, sources=sources))
    assert torch["torch"].action == "build"
    assert "the wheelhouse" in torch["torch"].reason
    assert "without sm_87 kernels" in torch["torch"].reason


def test_find_links_wheel_beats_pypi_like_pip_does(pypi: IndexClient, tmp_path: Path) -> None:
    # /opt/wheels on this project's machines: torch-2.13.0+cpu. pip prefers 2.13.0+cpu over
    # 2.13.0 (a local label sorts higher), and so does the plan.
    name = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    (tmp_path / name).write_bytes(b"")
    sources = [PYPI, Source("find-links", str(tmp_path), "test")]
    torch = rows(plan_for(profile(), "torch==2.13.0", client_=pypi, sources=sources))["torch"]
    assert torch.action == "prebuilt"
    assert torch.wheel is not None
    assert torch.wheel.filename == name
    assert torch.wheel.index == str(tmp_path)


def test_unreachable_index_still_plans(tmp_path: Path) -> None:
    down = client(tmp_path, Replay(down=True))
    result = plan_for(profile(), "torch", client_=down)
    torch = rows(result)["torch"]
    assert torch.action == "build"
    # From the matrix's known releases: 2.15.0 is newer than every recipe series.
    assert torch.version == Version("2.14.1")
    assert "no torch 2.14.1 wheel is published on the configured indexes" in torch.reason
    data = plan_json(result)
    assert data["sources"][0]["status"] == "error"
    assert "pypi.org/simple/torch/" in data["sources"][0]["error"]


def test_offline_second_plan_needs_no_network(tmp_path: Path) -> None:
    replay = Replay()
    online = client(tmp_path, replay)
    first = plan_for(profile(), client_=online)
    calls = len(replay.calls)
    offline = client(tmp_path, Replay(down=True), offline=True)
    second = plan_for(profile(), client_=offline)
    assert summary(first) == summary(second)
    assert len(replay.calls) == calls == 3
    assert all(row["cached"] for row in plan_json(second)["sources"])


def test_installed_torch_is_built_against(pypi: IndexClient) -> None:
    # Jetson AI Lab's jp6/cu126 torch 2.8.0 (no local label; the index names the variant).
    installed = InstalledTorch(Version("2.8.0"), "12.6", "/usr/lib/python3/torch")
    result = plan_for(
        load_target("jetson-orin-jp6"), "torchvision", client_=pypi, installed=installed
    )
    assert [d.name for d in result.decisions] == ["torchvision"]
    vision = result.decisions[0]
    assert (str(vision.version), vision.action) == ("0.23.0", "build")
    assert result.resolution.torch_role == "installed"


def test_installed_torch_older_than_the_recipes(pypi: IndexClient) -> None:
    # NVIDIA's JetPack 6 torch 2.5.0a0 goes with torchvision 0.20, which no recipe builds.
    installed = InstalledTorch(
        Version("2.5.0a0+872d972e41.nv24.08"), "12.6", "/usr/lib/python3/torch"
    )
    with pytest.raises(ResolveError, match=r"no torchvision recipe series covers 0\.20\.0"):
        plan_for(load_target("jetson-orin-jp6"), "torchvision", client_=pypi, installed=installed)


def test_json_shape(pypi: IndexClient) -> None:
    data = plan_json(plan_for(profile(), "torch", client_=pypi))
    assert data["version"] == 1
    assert data["target"]["arch"] == "x86_64"
    (pkg,) = data["packages"]
    assert set(pkg) >= {"name", "version", "action", "reason", "wheel"}
    assert pkg["action"] == "prebuilt"
    assert set(pkg["wheel"]) >= {"filename", "url", "index"}
    assert pkg["wheel"]["index"] == "https://pypi.org/simple"


@pytest.mark.programs
def test_probe_installed_torch_reads_the_files_without_importing(tmp_path: Path) -> None:
    site = tmp_path / "site" / "torch"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("raise SystemExit('torch must not be imported')\n")
    (site / "version.py").write_text(
        "__version__ = '2.5.0a0+872d972e41.nv24.08'\ncuda: Optional[str] = '12.6'\n"
    )
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={tmp_path / "site"} exec python3 "$@"\n')
    python.chmod(0o755)
    from dataclasses import replace

    base = profile()
    assert base.python is not None
    host = replace(base, origin="host", python=replace(base.python, executable=str(python)))
    found = probe_installed_torch(host, timeout=30)
    assert found is not None
    assert found.version == Version("2.5.0a0+872d972e41.nv24.08")
    assert found.cuda == "12.6"
    assert installed_variant(found).family == "nvidia"
    # Profiles of other machines are never probed.
    assert probe_installed_torch(replace(host, origin="preset:x"), timeout=30) is None


def test_a_given_source_is_built_even_where_a_wheel_fits(pypi: IndexClient) -> None:
    target = load_target("jetson-thor-jp7")
    fitting = plan_for(target, "torch==2.13.0", client_=pypi)
    assert rows(fitting)["torch"].action == "prebuilt"
    given = plan_for(
        target, "torch==2.13.0", client_=pypi, user_sources={"torch": "/src/pytorch-2.13.0"}
    )
    torch = rows(given)["torch"]
    assert torch.action == "build"
    assert torch.wheel is None
    assert torch.source == "/src/pytorch-2.13.0"
    assert torch.reason == "built from the given source (/src/pytorch-2.13.0)"


def test_the_plan_reads_a_pypi_torch_wheels_cuda_from_its_metadata(tmp_path: Path) -> None:
    """A facts table that is wrong about a release (here: PyPI's aarch64 torch 2.15.0 listed
    as CPU-only) is corrected by the wheel's own METADATA (cuda-toolkit==13.2.2)."""
    from torchbuild import resources
    from torchbuild.resolve import variants

    data = copy.deepcopy(resources.table("variants"))
    for row in data["pypi"]:
        if row["arch"] == "aarch64" and row["torch"] == ">=2.15":
            row["cuda"] = "none"
    wrong = variants._build_facts(data)
    pi = load_target("rpi5-bookworm-arm64")
    replay = Replay(metadata=True)
    requests = [parse_request("torch==2.15.0")]
    blind = make_plan(pi, requests, sources=[PYPI], client=client(tmp_path / "a"), facts=wrong)
    seeing = make_plan(
        pi,
        requests,
        sources=[PYPI],
        client=client(tmp_path / "b", replay),
        facts=wrong,
        metadata=reader(tmp_path / "b", replay),
    )
    (before,) = blind.decisions
    (after,) = seeing.decisions
    assert before.variant is not None
    assert before.variant.kind == "cpu"
    assert after.variant is not None
    assert (after.variant.kind, after.variant.cuda) == ("cuda", "13.2")
    assert "its METADATA requires CUDA 13.2" in after.reason
    assert any(url.endswith("manylinux_2_28_aarch64.whl.metadata") for url in replay.metadata_calls)
