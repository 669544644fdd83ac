"""Cross-compiling for aarch64 on this machine, end to end, with real tools.

A bookworm arm64 sysroot is made from Debian's packages (apt in a private configuration, then
``dpkg-deb -x``; nothing of it runs), kept in the test cache
(``$TORCHBUILD_TEST_CACHE`` or ``~/.cache/torchbuild-tests``, then ``cross/``) so reruns skip
the download. The fixture project tbfix-cext (scikit-build-core, CMake, Ninja) and a small
setuptools extension are built for aarch64 with the host's cross GCC and the 3.11 venv, and
the wheels are checked without the board and imported under qemu-aarch64-static with the
sysroot's own Python 3.11. Measured here: the sysroot in about 5 s (61 packages, 37 MB of
.deb files through this machine's mirror), each build 5-10 s, each QEMU import under 1 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from torchbuild.cross import (
    CrossSetup,
    Sysroot,
    check_foreign_wheel,
    cross_setup,
    prepare_sysroot,
    read_record,
    run_under_qemu,
)
from torchbuild.elf import wheel_elfs
from torchbuild.errors import TorchbuildError
from torchbuild.repair import RepairRequest, repair
from torchbuild.target import load_target

pytestmark = [pytest.mark.integration, pytest.mark.network]

ROOT = Path(__file__).resolve().parents[2]
CEXT = ROOT / "tests" / "data" / "projects" / "tbfix-cext"
PYTHON = Path(sys.executable)


@pytest.fixture(scope="module")
def sysroot(arm64_sysroot: Sysroot) -> Sysroot:
    return arm64_sysroot


@pytest.fixture(scope="module")
def setup(sysroot: Sysroot, tmp_path_factory: pytest.TempPathFactory) -> CrossSetup:
    target = load_target("rpi5-bookworm-arm64")
    return cross_setup(
        target, sysroot, workdir=tmp_path_factory.mktemp("cross"), host_python=PYTHON
    )


def _build(project: Path, setup: CrossSetup, out: Path, **extra: str) -> Path:
    env = {**os.environ, **setup.env, **extra}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(PYTHON), "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _install(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(into)
    return into


def _qemu_python(sysroot: Sysroot, site: Path, code: str) -> str:
    done = run_under_qemu(
        sysroot.path,
        ["/usr/bin/python3.11", "-c", code],
        arch="aarch64",
        env={"PYTHONPATH": str(site), "PATH": os.environ.get("PATH", "/usr/bin")},
        timeout=120,
    )
    assert done.ok, done.stderr
    return done.stdout.strip()


def test_sysroot_is_complete_and_self_contained(sysroot: Sysroot) -> None:
    assert sysroot.python_version == "3.11"
    assert sysroot.multiarch == "aarch64-linux-gnu"
    assert sysroot.pyconfig.name == "pyconfig.h"
    assert sysroot.python is not None
    record = read_record(sysroot.path)
    assert record is not None
    assert record.packages == ("libc6-dev", "libstdc++6", "python3-dev")
    assert any(deb.startswith("python3.11-dev_") for deb in record.debs)
    assert all(deb.endswith(("_arm64.deb", "_all.deb")) for deb in record.debs)
    absolute = [
        p for p in sysroot.path.rglob("*") if p.is_symlink() and os.readlink(p).startswith("/")
    ]
    assert absolute == []
    # Asking again for the same sysroot reuses it: nothing is downloaded.
    started = time.monotonic()
    again = prepare_sysroot(sysroot.path, dist="bookworm", arch="arm64")
    assert again == sysroot
    assert time.monotonic() - started < 5
    assert read_record(sysroot.path) == record


def test_asking_for_other_packages_in_the_same_directory_fails(sysroot: Sysroot) -> None:
    with pytest.raises(TorchbuildError, match="not the one asked for"):
        prepare_sysroot(sysroot.path, dist="bookworm", arch="arm64", packages=["libc6-dev"])


def test_scikit_build_core_project_cross_builds_and_runs_under_qemu(
    sysroot: Sysroot, setup: CrossSetup, tmp_path: Path
) -> None:
    project = tmp_path / "tbfix-cext"
    shutil.copytree(CEXT, project)
    started = time.monotonic()
    wheel = _build(project, setup, tmp_path / "dist", TBFIX_WEIGHT="0")
    built = time.monotonic() - started
    assert wheel.name == "tbfix_cext-1.0.0-cp311-cp311-linux_aarch64.whl"
    elfs = wheel_elfs(wheel)
    assert [e.path for e in elfs] == ["tbfix_cext/_core.cpython-311-aarch64-linux-gnu.so"]
    assert {e.machine for e in elfs} == {"aarch64"}
    assert check_foreign_wheel(wheel, sysroot) == []

    repaired = repair(wheel, tmp_path / "repaired", RepairRequest("1.0.0", None, "aarch64"))
    assert repaired.platform.startswith("manylinux_2_")
    assert repaired.platform.endswith("_aarch64")
    assert check_foreign_wheel(repaired.path, sysroot) == []

    started = time.monotonic()
    site = _install(repaired.path, tmp_path / "site")
    out = _qemu_python(
        sysroot,
        site,
        "import platform, tbfix_cext; print(platform.machine(), tbfix_cext.add(2, 3))",
    )
    assert out == "aarch64 5"
    print(f"cross build {built:.1f} s, qemu import {time.monotonic() - started:.1f} s")  # noqa: T201


_SETUP_PY = """
from setuptools import Extension, setup
setup(
    name="tbx-sum",
    version="1.0",
    ext_modules=[Extension("tbx_sum", ["tbx_sum.c"])],
)
"""
_SUM_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *sum(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b + (long)sizeof(void *));
}
static PyMethodDef methods[] = {{"sum", sum, METH_VARARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tbx_sum", NULL, -1, methods};
PyMODINIT_FUNC PyInit_tbx_sum(void) { return PyModule_Create(&module); }
"""


def test_setuptools_project_cross_builds_and_runs_under_qemu(
    sysroot: Sysroot, setup: CrossSetup, tmp_path: Path
) -> None:
    pytest.importorskip("wheel")
    project = tmp_path / "tbx-sum"
    project.mkdir()
    (project / "setup.py").write_text(_SETUP_PY)
    (project / "tbx_sum.c").write_text(_SUM_C)
    wheel = _build(project, setup, tmp_path / "dist")
    assert wheel.name == "tbx_sum-1.0-cp311-cp311-linux_aarch64.whl"
    elfs = wheel_elfs(wheel)
    assert [e.path for e in elfs] == ["tbx_sum.cpython-311-aarch64-linux-gnu.so"]
    assert elfs[0].machine == "aarch64"
    assert check_foreign_wheel(wheel, sysroot) == []
    site = _install(wheel, tmp_path / "site")
    assert _qemu_python(sysroot, site, "import tbx_sum; print(tbx_sum.sum(2, 3))") == "13"


def test_check_finds_a_library_missing_from_the_target(
    sysroot: Sysroot, setup: CrossSetup, tmp_path: Path
) -> None:
    """An aarch64 module needing a library that neither the wheel nor the sysroot has."""
    (tmp_path / "dep.c").write_text("int dep(void) { return 1; }\n")
    (tmp_path / "mod.c").write_text("int dep(void);\nint mod(void) { return dep(); }\n")
    cc = setup.env["CC"]
    root = f"--sysroot={sysroot.path}"
    subprocess.run(
        [
            cc,
            root,
            "-shared",
            "-fPIC",
            "-o",
            str(tmp_path / "libtbdep.so.1"),
            "-Wl,-soname,libtbdep.so.1",
            str(tmp_path / "dep.c"),
        ],
        check=True,
    )
    subprocess.run(
        [
            cc,
            root,
            "-shared",
            "-fPIC",
            "-o",
            str(tmp_path / "mod.so"),
            str(tmp_path / "mod.c"),
            str(tmp_path / "libtbdep.so.1"),
        ],
        check=True,
    )
    wheel = tmp_path / "tbx_mod-1.0-cp311-cp311-linux_aarch64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(tmp_path / "mod.so", "tbx_mod/mod.so")
    problems = check_foreign_wheel(wheel, sysroot)
    assert problems == [
        (
            "tbx_mod/mod.so: needs libtbdep.so.1, which is in neither the wheel, the wheels it "
            "is checked with, nor the sysroot"
        )
    ]
    # Handed over as the directory it is installed with, the library is found.
    lib_dir = tmp_path / "libs"
    lib_dir.mkdir()
    shutil.copy(tmp_path / "libtbdep.so.1", lib_dir)
    assert check_foreign_wheel(wheel, sysroot, against=[lib_dir]) == []
    # A wheel of this machine's own build is not for the target.
    host = tmp_path / "host.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(host), str(tmp_path / "dep.c")], check=True
    )
    x86 = tmp_path / "tbx_host-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(x86, "w") as archive:
        archive.write(host, "tbx_host/host.so")
    assert check_foreign_wheel(x86, sysroot) == [
        f"{x86.name}: tagged for linux_x86_64, not aarch64",
        "tbx_host/host.so: built for x86_64, not aarch64",
    ]


def test_sysroot_command_reuses_and_describes_the_sysroot(sysroot: Sysroot) -> None:
    import json

    from click.testing import CliRunner

    from torchbuild.commands.sysroot import sysroot as command

    result = CliRunner().invoke(
        command, ["bookworm", str(sysroot.path), "--arch", "arm64", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 1
    assert data["sysroot"] == str(sysroot.path)
    assert data["ext_suffix"] == ".cpython-311-aarch64-linux-gnu.so"
    assert data["python"] == str(sysroot.path / "usr/bin/python3.11")
    assert data["packages"] == ["libc6-dev", "libstdc++6", "python3-dev"]
