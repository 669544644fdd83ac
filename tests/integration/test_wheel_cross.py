"""`torchbuild wheel --target PRESET --root SYSROOT`: wheels for an arm64 board built here.

The bookworm arm64 sysroot comes from Debian's packages (conftest's ``arm64_sysroot``). The
fixture project tbfix-cext (scikit-build-core, CMake, Ninja) goes through the whole pipeline:
cross-compiled with the host's aarch64 GCC, repaired to a manylinux aarch64 tag, checked
against the sysroot and imported under qemu-aarch64-static, then published. The slow test
does the same for torchaudio 2.6.0 from Debian's source against PyPI's aarch64 torch wheel,
with the host's own CPU torch running torchaudio's build scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from debsrc import download
from torchbuild.cross import check_foreign_wheel, run_under_qemu
from torchbuild.elf import wheel_elfs

if TYPE_CHECKING:
    from torchbuild.cross import Sysroot

pytestmark = [pytest.mark.integration, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[2]
CEXT = ROOT / "tests" / "data" / "projects" / "tbfix-cext"
TORCHBUILD = Path(sys.executable).with_name("torchbuild")
PRESET = "rpi5-bookworm-arm64"


def _torchbuild(
    args: list[str], home: Path, *, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(TORCHBUILD_CACHE_DIR=str(home / "cache"), TORCHBUILD_WHEELHOUSE=str(home / "wh"))
    return subprocess.run(
        [str(TORCHBUILD), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=home,
    )


def _published(home: Path, project: str) -> list[Path]:
    return sorted((home / "wh" / "simple" / project).glob("*.whl"))


def test_fixture_cross_builds_verifies_under_qemu_and_publishes(
    arm64_sysroot: Sysroot, tmp_path: Path
) -> None:
    args = ["wheel", "tbfix-cext", "--source", f"tbfix-cext={CEXT}", "--target", PRESET]
    args += ["--root", str(arm64_sysroot.path), "--python", sys.executable, "--json"]
    done = _torchbuild(args, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    (row,) = report["packages"]
    assert row["action"] == "built"
    assert "smoke test run under QEMU" in row["build"]["verified"]
    (wheel,) = _published(tmp_path, "tbfix-cext")
    assert wheel.name.endswith("_aarch64.whl")
    assert "manylinux" in wheel.name
    elfs = wheel_elfs(wheel)
    assert elfs
    assert {e.machine for e in elfs} == {"aarch64"}
    assert check_foreign_wheel(wheel, arm64_sysroot) == []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert any(n.endswith(".cpython-311-aarch64-linux-gnu.so") for n in names)

    # The same command again: the build key finds the published wheel, nothing compiles.
    again = _torchbuild(args, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    (row,) = json.loads(again.stdout)["packages"]
    assert row["action"] == "cached"


def test_fixture_cross_builds_for_32_bit_arm(armhf_sysroot: Sysroot, tmp_path: Path) -> None:
    # 32-bit Raspberry Pi OS: the armhf cross GCC, an armv7l tag, and qemu-arm for the import.
    args = ["wheel", "tbfix-cext", "--source", f"tbfix-cext={CEXT}"]
    args += ["--target", "rpi-bookworm-armv7l", "--root", str(armhf_sysroot.path)]
    done = _torchbuild([*args, "--python", sys.executable, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(done.stdout)["packages"]
    assert row["action"] == "built"
    assert row["build"]["verified"].endswith("smoke test run under QEMU"), row["build"]
    (wheel,) = _published(tmp_path, "tbfix-cext")
    assert wheel.name.endswith("manylinux2014_armv7l.whl"), wheel.name
    assert {e.machine for e in wheel_elfs(wheel)} == {"armv7l"}
    assert check_foreign_wheel(wheel, armhf_sysroot) == []
    with zipfile.ZipFile(wheel) as archive:
        assert any(n.endswith(".cpython-311-arm-linux-gnueabihf.so") for n in archive.namelist())


@pytest.mark.parametrize(
    ("project", "module"),
    [
        # C, cmake_minimum_required(VERSION 3.15), find_package(Python ...).
        ("tbfix-cpy", "tbfix_cpy"),
        # C++, cmake_minimum_required(VERSION 3.18), find_package(Python3 ...).
        ("tbfix-cpy3", "tbfix_cpy3"),
    ],
)
def test_plain_cmake_projects_with_old_policies_cross_build_and_run_under_qemu(
    arm64_sysroot: Sysroot, tmp_path: Path, project: str, module: str
) -> None:
    # FindPython under old policies runs no interpreter through the emulator and leaves the
    # SOABI empty when cross-compiling: the toolchain file supplies both.
    source = ROOT / "tests" / "data" / "projects" / project
    args = ["wheel", project, "--source", f"{project}={source}", "--target", PRESET]
    args += ["--root", str(arm64_sysroot.path), "--python", sys.executable, "--json"]
    done = _torchbuild(args, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(done.stdout)["packages"]
    assert row["action"] == "built"
    (wheel,) = _published(tmp_path, project)
    assert wheel.name.endswith("_aarch64.whl"), wheel.name
    assert {e.machine for e in wheel_elfs(wheel)} == {"aarch64"}
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
        names = archive.namelist()
    assert f"{module}/_core.cpython-311-aarch64-linux-gnu.so" in names
    code = f"import {module} as m; print(m.machine(), m.triangle(100))"
    ran = run_under_qemu(
        arm64_sysroot.path,
        ["/usr/bin/python3.11", "-c", code],
        arch="aarch64",
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert ran.ok, ran.stderr
    assert ran.stdout.split() == ["aarch64", str(100 * 101 // 2)]


def test_root_alone_reads_the_target_from_the_sysroot(
    arm64_sysroot: Sysroot, tmp_path: Path
) -> None:
    args = ["wheel", "tbfix-cext", "--source", f"tbfix-cext={CEXT}", "--json"]
    done = _torchbuild([*args, "--root", str(arm64_sysroot.path)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(done.stdout)["packages"]
    assert row["target"] == str(arm64_sysroot.path)
    # The board's cores and memory are unknown from its files (the model would give 1 job);
    # the compilers run here, so the jobs model sizes them by this machine.
    if (os.cpu_count() or 1) >= 2:
        assert row["build"]["jobs"] >= 2
    (wheel,) = _published(tmp_path, "tbfix-cext")
    assert wheel.name.endswith("manylinux2014_aarch64.whl")


def test_a_foreign_target_without_a_sysroot_says_to_give_one(tmp_path: Path) -> None:
    args = ["wheel", "tbfix-cext", "--source", f"tbfix-cext={CEXT}", "--target", PRESET]
    done = _torchbuild(args, tmp_path)
    assert done.returncode == 3, done.stderr
    assert "sysroot" in done.stderr
    assert "--root" in done.stderr
    assert _published(tmp_path, "tbfix-cext") == []


def test_a_sysroot_for_another_machine_is_refused(arm64_sysroot: Sysroot, tmp_path: Path) -> None:
    args = ["wheel", "tbfix-cext", "--source", f"tbfix-cext={CEXT}"]
    args += ["--target", "rpi-bookworm-armv7l", "--root", str(arm64_sysroot.path)]
    done = _torchbuild(args, tmp_path)
    assert done.returncode == 3, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    assert "aarch64" in lines[0]
    assert _published(tmp_path, "tbfix-cext") == []


def test_a_build_python_of_another_version_is_refused(
    arm64_sysroot: Sysroot, tmp_path: Path
) -> None:
    candidates = [
        *sorted(Path.home().glob(".pyenv/versions/3.*/bin/python3")),
        *sorted(Path("/usr/bin").glob("python3.1[0-9]")),
    ]
    other = next(
        (
            p
            for p in candidates
            if subprocess.run(
                [str(p), "-c", "import sys; assert sys.version_info[:2] not in ((3, 11),)"],
                check=False,
                capture_output=True,
            ).returncode
            == 0
        ),
        None,
    )
    if other is None:
        pytest.skip("no Python other than 3.11 on this machine")
    args = ["wheel", "tbfix-cext", "--source", f"tbfix-cext={CEXT}", "--target", PRESET]
    args += ["--root", str(arm64_sysroot.path), "--python", str(other)]
    done = _torchbuild(args, tmp_path)
    assert done.returncode == 5, done.stderr
    assert "3.11" in done.stderr
    assert _published(tmp_path, "tbfix-cext") == []


def test_root_with_target_host_is_refused(arm64_sysroot: Sysroot, tmp_path: Path) -> None:
    args = ["wheel", "tbfix-cext", "--source", f"tbfix-cext={CEXT}", "--target", "host"]
    done = _torchbuild([*args, "--root", str(arm64_sysroot.path)], tmp_path)
    assert done.returncode == 3, done.stderr
    assert "--target host" in done.stderr


def _for_the_board(sysroot: Sysroot, python: Path) -> list[str]:
    """The options of a cross build for the preset board against ``sysroot``."""
    return ["--target", PRESET, "--root", str(sysroot.path), "--python", str(python)]


def _torchaudio_tarball() -> Path:
    folder = download("pytorch-audio", "2.6.0-1")
    (tarball,) = sorted(folder.glob("pytorch-audio_2.6.0.orig.tar.*"))
    return tarball


def test_a_build_python_without_torch_says_to_install_the_cpu_one(
    arm64_sysroot: Sysroot, tmp_path: Path
) -> None:
    args = ["wheel", "torch==2.10.0", "torchaudio==2.6.0", "--ignore-matrix", "--no-deps"]
    args += _for_the_board(arm64_sysroot, Path(sys.executable))
    args += ["--source", f"torchaudio={_torchaudio_tarball()}"]
    done = _torchbuild(args, tmp_path)
    assert done.returncode == 3, done.stderr
    assert "import torch" in done.stderr
    assert "CPU torch" in done.stderr
    assert _published(tmp_path, "torchaudio") == []


@pytest.mark.slow
def test_torchaudio_cross_builds_against_the_targets_torch_wheel(
    arm64_sysroot: Sysroot, torch_python: Path, tmp_path: Path
) -> None:
    """torchaudio 2.6.0 for aarch64 against PyPI's aarch64 torch 2.10.0 (a CPU build); the
    host's torch 2.13.0 CPU runs its setup.py. Measured here: about 2 min of compiling on two
    cores, and the QEMU smoke test (torch imported, a biquad filter run) in under a minute."""
    args = ["wheel", "torch==2.10.0", "torchaudio==2.6.0", "--ignore-matrix", "--no-deps"]
    args += _for_the_board(arm64_sysroot, torch_python)
    args += ["--source", f"torchaudio={_torchaudio_tarball()}", "--json"]
    done = _torchbuild(args, tmp_path, timeout=2400)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = {r["project"]: r for r in json.loads(done.stdout)["packages"]}
    assert rows["torch"]["action"] == "prebuilt"
    assert rows["torchaudio"]["action"] == "built"
    assert "smoke test run under QEMU (2.6.0)" in rows["torchaudio"]["build"]["verified"]
    (torch_wheel,) = _published(tmp_path, "torch")
    (wheel,) = _published(tmp_path, "torchaudio")
    assert wheel.name.startswith("torchaudio-2.6.0+cpu-cp311-cp311-manylinux_")
    assert wheel.name.endswith("_aarch64.whl")
    assert {e.machine for e in wheel_elfs(wheel)} == {"aarch64"}
    assert check_foreign_wheel(wheel, arm64_sysroot, against=[torch_wheel]) == []
    # Linked against the target's torch: its libraries are needed, and found in its wheel.
    needed = {lib for e in wheel_elfs(wheel) for lib in e.needed}
    assert {"libtorch.so", "libc10.so"} <= needed
    provenance = json.loads(
        zipfile.ZipFile(wheel).read(
            next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("torchbuild.json"))
        )
    )
    assert torch_wheel.name in provenance["against"]["torch"]


# -- against PyPI's aarch64 torch 2.13.0, a CUDA 13.0 build ------------------------------------
# Both tests share one cache and wheelhouse, so the 427 MB torch wheel is fetched once.


@pytest.fixture(scope="module")
def home_2_13(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("torch-2.13-aarch64")


def _vision_tarball() -> Path:
    folder = download("pytorch-vision", "0.21.0-3")
    (tarball,) = sorted(folder.glob("pytorch-vision_0.21.0.orig.tar.*"))
    return tarball


@pytest.mark.slow
def test_torchaudio_against_a_cuda_torch_without_cuda_files_says_why(
    arm64_sysroot: Sysroot, torch_python: Path, home_2_13: Path
) -> None:
    """torch 2.13.0 for aarch64 on PyPI is a CUDA 13.0 build, and its CMake package insists on
    finding CUDA even for torchaudio's CPU build: the build stops at CMake's configure step,
    and the error names that cause and the two ways out. Nothing is published."""
    args = ["wheel", "torch==2.13.0", "torchaudio==2.6.0", "--ignore-matrix", "--no-deps"]
    args += _for_the_board(arm64_sysroot, torch_python)
    args += ["--source", f"torchaudio={_torchaudio_tarball()}"]
    done = _torchbuild(args, home_2_13, timeout=1800)
    assert done.returncode == 8, done.stderr[-4000:]
    hints = [ln for ln in done.stderr.splitlines() if ln.startswith("hint:")]
    assert any("CPU torch" in ln for ln in hints), done.stderr[-4000:]
    assert "Caffe2 version uses CUDA" in done.stderr
    assert _published(home_2_13, "torchaudio") == []


@pytest.mark.slow
def test_torchvision_cross_builds_against_pypis_aarch64_torch_2_13(
    arm64_sysroot: Sysroot, torch_python: Path, home_2_13: Path
) -> None:
    """torchvision 0.21.0 (setuptools, no torch CMake package) for aarch64 against PyPI's
    aarch64 torch 2.13.0, the host's torch 2.13.0 CPU running its setup.py. The codecs are off
    (the sysroot has no libpng/libjpeg -dev files). The ELF and linkage checks decide; where
    that torch does not import under QEMU, the report says the smoke test was not run."""
    args = ["wheel", "torch==2.13.0", "torchvision==0.21.0", "--ignore-matrix", "--no-deps"]
    args += _for_the_board(arm64_sysroot, torch_python)
    args += ["--source", f"torchvision={_vision_tarball()}", "--json"]
    for codec in ("PNG", "JPEG", "WEBP"):
        args += ["--env", f"TORCHVISION_USE_{codec}=0"]
    done = _torchbuild(args, home_2_13, timeout=3600)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = {r["project"]: r for r in json.loads(done.stdout)["packages"]}
    assert rows["torch"]["action"] in ("prebuilt", "cached")
    assert rows["torchvision"]["action"] == "built"
    verified = rows["torchvision"]["build"]["verified"]
    assert verified.startswith("checked against the sysroot; "), verified
    assert "smoke test run under QEMU" in verified or "smoke test not run: " in verified
    (torch_wheel,) = _published(home_2_13, "torch")
    assert torch_wheel.name == "torch-2.13.0-cp311-cp311-manylinux_2_28_aarch64.whl"
    (wheel,) = _published(home_2_13, "torchvision")
    # Its own kernels are CPU ones (the board has no NVIDIA GPU), whatever torch carries.
    assert wheel.name.startswith("torchvision-0.21.0+cpu-cp311-cp311-manylinux_"), wheel.name
    assert wheel.name.endswith("_aarch64.whl"), wheel.name
    elfs = wheel_elfs(wheel)
    assert elfs
    assert {e.machine for e in elfs} == {"aarch64"}
    assert check_foreign_wheel(wheel, arm64_sysroot, against=[torch_wheel]) == []
    needed = {lib for e in elfs for lib in e.needed}
    # Linked against the target's torch (the linker keeps only the libraries it uses).
    assert {"libtorch_cpu.so", "libc10.so"} <= needed, needed
