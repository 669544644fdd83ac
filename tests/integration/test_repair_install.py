"""A repaired wheel with a real CPython extension installs with pip and imports where the
unrepaired one did not: the run path the build left points at a build directory that is gone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from typing import TYPE_CHECKING

import pytest

from torchbuild.repair import RepairRequest, clean_version, repair
from wheelfactory import make_wheel

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

RAW = "2.6.0a0+git1eba9b3"
LIB_C = "int foo_value(void) { return 42; }\n"
EXT_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
int foo_value(void);
static PyObject *value(PyObject *self, PyObject *args) { return PyLong_FromLong(foo_value() + 1); }
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, "foo_value() + 1"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&module); }
"""


def _gcc(out: Path, source: str, *flags: str) -> Path:
    src = out.with_name(out.name + ".c")
    src.write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(out), str(src), *flags], check=True)
    return out


def _pip_install(wheel: Path, target: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )


def _import(target: Path) -> subprocess.CompletedProcess[str]:
    code = "import importlib.metadata as m, pkgx._ext as e; print(e.value(), m.version('pkgx'))"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(target)},
    )


@pytest.fixture
def built_wheel(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    build = tmp_path / "build" / "lib"
    build.mkdir(parents=True)
    lib = _gcc(build / "libfoo.so.2", LIB_C, "-Wl,-soname,libfoo.so.2")
    include = sysconfig.get_paths()["include"]
    ext = _gcc(
        tmp_path / "ext.so",
        EXT_C,
        f"-I{include}",
        f"-L{build}",
        "-l:libfoo.so.2",
        f"-Wl,-rpath,{build}",
    )
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    wheel = make_wheel(
        tmp_path / "dist",
        "pkgx",
        RAW,
        tag=f"{tag}-{tag}-linux_x86_64",
        files={
            f"pkgx/_ext{suffix}": ext.read_bytes(),
            "pkgx/lib/libfoo.so.2": lib.read_bytes(),
            "pkgx/lib/libfoo.so": lib.read_bytes(),  # a copy under the link-time name
        },
    )
    shutil.rmtree(tmp_path / "build")  # the machine that installs the wheel has no build tree
    return wheel


@pytest.mark.skipif(
    sys.platform != "linux" or not sysconfig.get_config_var("EXT_SUFFIX"),
    reason="Linux CPython only",
)
def test_repaired_wheel_installs_and_imports(built_wheel: Path, tmp_path: Path) -> None:
    _pip_install(built_wheel, tmp_path / "before")
    failed = _import(tmp_path / "before")
    assert failed.returncode != 0
    assert "libfoo.so.2: cannot open shared object file" in failed.stderr

    done = repair(
        built_wheel,
        tmp_path / "out",
        RepairRequest(
            version=clean_version(RAW), local="cpu", arch="x86_64", provenance={"source": "test"}
        ),
    )
    # One copy, under the link-time name, which becomes the soname the extension needs.
    assert done.removed_duplicates == ("pkgx/lib/libfoo.so.2",)
    assert done.renamed_sonames == ("libfoo.so.2 -> libfoo.so",)
    assert done.platform == "manylinux_2_5_x86_64.manylinux1_x86_64"
    _pip_install(done.path, tmp_path / "after")
    loaded = _import(tmp_path / "after")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["43", "2.6.0+cpu"]
    dist_info = tmp_path / "after" / "pkgx-2.6.0+cpu.dist-info"
    assert (dist_info / "torchbuild.json").read_text() == '{\n  "source": "test"\n}\n'
    assert not (tmp_path / "after" / "pkgx" / "lib" / "libfoo.so.2").exists()
    assert (tmp_path / "after" / "pkgx" / "lib" / "libfoo.so").is_file()
