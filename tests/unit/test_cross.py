"""Cross-compiling: names per machine, sysroot inspection, toolchain file and environment,
the CUDA target check, and the private apt configuration, without the network."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from torchbuild.cross import (
    Compilers,
    Sysroot,
    cross_arch,
    cross_setup,
    find_cuda_cross,
    fix_absolute_links,
    inspect_sysroot,
    prepare_sysroot,
    render_toolchain,
)
from torchbuild.cross.check import version_definitions
from torchbuild.cross.cuda import target_dir_names
from torchbuild.cross.prepare import _apt_config
from torchbuild.cross.toolchain import ToolchainPython
from torchbuild.errors import InputError, ToolchainError
from torchbuild.target import Cuda, Python, load_target

# Debian's cross packages put a real aarch64 C library here (libc6-arm64-cross).
# Recorded stand-ins (tests/data/cross/README.md): no cross C library of the host is needed.
DATA = Path(__file__).resolve().parents[1] / "data" / "cross"
CROSS_LIBC = DATA / "libc-aarch64.so.6"
HOST_LIBC = DATA / "libc-x86_64.so.6"
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


def _sysroot(root: Path, *, libc: Path = CROSS_LIBC, pythons: tuple[str, ...] = (PY,)) -> Path:
    """A sysroot laid out as Debian's packages lay it out, with a real C library."""
    lib = root / "lib/aarch64-linux-gnu"
    lib.mkdir(parents=True)
    shutil.copy(libc, lib / "libc.so.6")
    dev = root / "usr/lib/aarch64-linux-gnu"
    dev.mkdir(parents=True)
    (dev / "crt1.o").write_bytes(b"")
    (dev / "libc.so").write_text("GROUP ( /lib/aarch64-linux-gnu/libc.so.6 )\n")
    for version in pythons:
        headers = root / f"usr/include/python{version}"
        headers.mkdir(parents=True)
        (headers / "Python.h").write_text("/* Python.h */\n")
        config = root / f"usr/include/aarch64-linux-gnu/python{version}"
        config.mkdir(parents=True)
        (config / "pyconfig.h").write_text("#define SIZEOF_VOID_P 8\n")
    return root


def _fake_tool(directory: Path, name: str, output: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- names ----------------------------------------------------------------------------------


def test_machine_names_per_tool() -> None:
    arm64 = cross_arch("arm64")
    assert arm64 == cross_arch("aarch64")
    assert (arm64.debian, arm64.multiarch, arm64.gnu_prefix, arm64.qemu) == (
        "arm64",
        "aarch64-linux-gnu",
        "aarch64-linux-gnu-",
        "aarch64",
    )
    armhf = cross_arch("armhf")
    assert (armhf.arch, armhf.multiarch, armhf.platform, armhf.platform_tag) == (
        "armv7l",
        "arm-linux-gnueabihf",
        "linux-armv7l",
        "linux_armv7l",
    )
    with pytest.raises(InputError, match="cannot cross-compile for 'sparc'"):
        cross_arch("sparc")


# -- sysroot inspection ---------------------------------------------------------------------


def test_inspect_finds_headers_pyconfig_and_libc(tmp_path: Path) -> None:
    root = _sysroot(tmp_path / "sr")
    found = inspect_sysroot(root, "arm64")
    assert found.arch == "aarch64"
    assert found.python_version == PY
    assert found.python_include == root / f"usr/include/python{PY}"
    assert found.pyconfig == root / f"usr/include/aarch64-linux-gnu/python{PY}/pyconfig.h"
    assert found.ext_suffix == f".cpython-{PY.replace('.', '')}-aarch64-linux-gnu.so"
    assert found.python is None
    assert found.lib_dirs == tuple(
        root / d for d in ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib")
    )


def test_inspect_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a directory"):
        inspect_sysroot(tmp_path / "nothing", "aarch64")


def test_inspect_without_libc_names_the_packages(tmp_path: Path) -> None:
    (tmp_path / "usr/include").mkdir(parents=True)
    with pytest.raises(ToolchainError, match=r"no C library for aarch64") as info:
        inspect_sysroot(tmp_path, "aarch64")
    assert "torchbuild root sysroot" in info.value.hint


def test_inspect_rejects_a_libc_of_another_machine(tmp_path: Path) -> None:
    _sysroot(tmp_path / "sr", libc=HOST_LIBC)
    with pytest.raises(InputError, match="is for x86_64, not aarch64"):
        inspect_sysroot(tmp_path / "sr", "aarch64")


def test_inspect_without_libc_dev_files(tmp_path: Path) -> None:
    root = _sysroot(tmp_path / "sr")
    (root / "usr/lib/aarch64-linux-gnu/crt1.o").unlink()
    with pytest.raises(ToolchainError, match=r"crt1\.o") as info:
        inspect_sysroot(root, "aarch64")
    assert "libc6-dev (arm64)" in info.value.hint


def test_inspect_python_header_errors(tmp_path: Path) -> None:
    none = _sysroot(tmp_path / "none", pythons=())
    with pytest.raises(ToolchainError, match="no Python headers") as info:
        inspect_sysroot(none, "aarch64")
    assert "python3-dev (arm64)" in info.value.hint
    two = _sysroot(tmp_path / "two", pythons=("3.11", "3.12"))
    with pytest.raises(InputError, match=r"several Pythons: 3\.11, 3\.12"):
        inspect_sysroot(two, "aarch64")
    assert inspect_sysroot(two, "aarch64", python_version="3.12.1").python_version == "3.12"
    with pytest.raises(ToolchainError, match=r"no headers for Python 3\.10") as info:
        inspect_sysroot(two, "aarch64", python_version="3.10")
    assert "python3.10-dev" in info.value.hint
    (two / "usr/include/aarch64-linux-gnu/python3.11/pyconfig.h").unlink()
    with pytest.raises(ToolchainError, match=r"no pyconfig\.h"):
        inspect_sysroot(two, "aarch64", python_version="3.11")


def test_absolute_links_become_relative(tmp_path: Path) -> None:
    lib = tmp_path / "lib/aarch64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libz.so.1.2.13").write_bytes(b"z")
    dev = tmp_path / "usr/lib/aarch64-linux-gnu"
    dev.mkdir(parents=True)
    (dev / "libz.so").symlink_to("/lib/aarch64-linux-gnu/libz.so.1.2.13")
    (dev / "libkeep.so").symlink_to("libz.so")
    assert fix_absolute_links(tmp_path) == 1
    assert os.readlink(dev / "libz.so") == "../../../lib/aarch64-linux-gnu/libz.so.1.2.13"
    assert (dev / "libz.so").read_bytes() == b"z"
    assert os.readlink(dev / "libkeep.so") == "libz.so"


def test_version_definitions_of_a_versioned_libc() -> None:
    versions = version_definitions(CROSS_LIBC)
    assert {"GLIBC_2.17", "GLIBC_2.34"} <= versions


# -- toolchain file and environment ---------------------------------------------------------


def _compilers(prefix: str) -> Compilers:
    return Compilers(
        cc=Path(f"/usr/bin/{prefix}gcc"),
        cxx=Path(f"/usr/bin/{prefix}g++"),
        ar=Path(f"/usr/bin/{prefix}ar"),
        ranlib=None,
        strip=None,
    )


def test_toolchain_file_for_aarch64() -> None:
    text = render_toolchain(
        cross_arch("aarch64"),
        Path("/srv/sr"),
        _compilers("aarch64-linux-gnu-"),
        emulator=("/usr/bin/qemu-aarch64-static", "-L", "/srv/sr"),
        find_roots=(Path("/venv/torch"),),
    )
    lines = text.splitlines()
    for expected in (
        "set(CMAKE_SYSTEM_NAME Linux)",
        "set(CMAKE_SYSTEM_PROCESSOR aarch64)",
        "set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)",
        'set(CMAKE_SYSROOT "/srv/sr")',
        'set(CMAKE_C_COMPILER "/usr/bin/aarch64-linux-gnu-gcc")',
        'set(CMAKE_CXX_COMPILER "/usr/bin/aarch64-linux-gnu-g++")',
        'set(CMAKE_FIND_ROOT_PATH "/srv/sr;/venv/torch")',
        "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)",
        'set(CMAKE_AR "/usr/bin/aarch64-linux-gnu-ar" CACHE FILEPATH "")',
        'set(CMAKE_CROSSCOMPILING_EMULATOR "/usr/bin/qemu-aarch64-static;-L;/srv/sr")',
    ):
        assert expected in lines
    assert not any("RANLIB" in line or "CUDA" in line for line in lines)


def test_toolchain_file_for_armv7l_quotes_paths() -> None:
    text = render_toolchain(
        cross_arch("armv7l"), Path('/srv/my "pi" $root'), _compilers("arm-linux-gnueabihf-")
    )
    assert "set(CMAKE_SYSTEM_PROCESSOR armv7l)" in text
    assert "set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)" in text
    assert 'set(CMAKE_SYSROOT "/srv/my \\"pi\\" \\$root")' in text
    assert "EMULATOR" not in text


def _armhf_sysroot(root: Path) -> Sysroot:
    """The facts of an armhf sysroot (its files are not read by cross_setup)."""
    return Sysroot(
        path=root,
        arch="armv7l",
        multiarch="arm-linux-gnueabihf",
        python_version=PY,
        python_include=root / f"usr/include/python{PY}",
        pyconfig=root / f"usr/include/arm-linux-gnueabihf/python{PY}/pyconfig.h",
        libc=root / "lib/arm-linux-gnueabihf/libc.so.6",
        python=None,
    )


def _armv7l_target(version: str = PY):  # type: ignore[no-untyped-def]
    target = load_target("rpi-bookworm-armv7l")
    assert target.python is not None
    return replace(target, python=replace(target.python, version=f"{version}.2"))


@pytest.mark.programs
def test_armv7l_without_its_cross_compiler_says_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(ToolchainError, match="arm-linux-gnueabihf-gcc is not on PATH") as info:
        cross_setup(
            _armv7l_target(),
            _armhf_sysroot(tmp_path / "sr"),
            workdir=tmp_path,
            host_python=Path(sys.executable),
            path=str(empty),
        )
    assert info.value.hint == "apt-get install gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf"


@pytest.mark.programs
def test_armv7l_environment(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    for name in ("gcc", "g++", "ar", "ranlib"):
        _fake_tool(tools, f"arm-linux-gnueabihf-{name}")
    sr = _armhf_sysroot(tmp_path / "sr")
    setup = cross_setup(
        _armv7l_target(),
        sr,
        workdir=tmp_path / "w",
        host_python=Path(sys.executable),
        path=str(tools),
    )
    tag = PY.replace(".", "")
    assert setup.platform_tag == "linux_armv7l"
    assert setup.ext_suffix == f".cpython-{tag}-arm-linux-gnueabihf.so"
    assert setup.emulator is None  # no QEMU on that PATH, and no Python in the sysroot
    env = setup.env
    assert env["_PYTHON_HOST_PLATFORM"] == "linux-armv7l"
    assert env["SETUPTOOLS_EXT_SUFFIX"] == setup.ext_suffix
    assert env["CC"] == str(tools / "arm-linux-gnueabihf-gcc")
    assert env["CXX"] == str(tools / "arm-linux-gnueabihf-g++")
    assert env["LDSHARED"] == f"{tools}/arm-linux-gnueabihf-gcc -shared --sysroot={sr.path}"
    assert env["CPPFLAGS"] == f"--sysroot={sr.path} -I{sr.python_include}"
    # Before the host Python's library directory that setuptools adds to every link.
    assert env["LDFLAGS"] == f"-L{sr.path}/usr/lib/arm-linux-gnueabihf"
    assert env["CMAKE_TOOLCHAIN_FILE"] == str(setup.toolchain_file)
    assert env["PKG_CONFIG_SYSROOT_DIR"] == str(sr.path)
    assert env["SKBUILD_CMAKE_ARGS"].split(";") == list(setup.cmake_args)
    assert f"-DPython_SOABI=cpython-{tag}-arm-linux-gnueabihf" in setup.cmake_args
    assert f"-DPython_INCLUDE_DIR={sr.python_include}" in setup.cmake_args
    assert not any("EXECUTABLE" in arg for arg in setup.cmake_args)
    assert "set(CMAKE_SYSTEM_PROCESSOR armv7l)" in setup.toolchain_file.read_text()


@pytest.mark.programs
def test_aarch64_environment_with_emulator(tmp_path: Path) -> None:
    root = _sysroot(tmp_path / "sr")
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(CROSS_LIBC, root / f"usr/bin/python{PY}")  # stands in for the interpreter
    sr = inspect_sysroot(root, "aarch64")
    tools = tmp_path / "bin"
    for name in ("gcc", "g++"):
        _fake_tool(tools, f"aarch64-linux-gnu-{name}")
    qemu = _fake_tool(tools, "qemu-aarch64-static")
    target = load_target("rpi5-bookworm-arm64")
    assert target.python is not None
    target = replace(target, python=replace(target.python, version=f"{PY}.2"))
    setup = cross_setup(
        target, sr, workdir=tmp_path / "w", host_python=Path(sys.executable), path=str(tools)
    )
    assert setup.emulator == (str(qemu), "-L", str(root))
    assert f"-DPython_EXECUTABLE={root}/usr/bin/python{PY}" in setup.cmake_args
    assert "AR" not in setup.env  # none on that PATH
    assert setup.platform_tag == "linux_aarch64"


@pytest.mark.programs
def test_python_versions_must_agree(tmp_path: Path) -> None:
    sr = inspect_sysroot(_sysroot(tmp_path / "sr"), "aarch64")
    target = load_target("rpi5-bookworm-arm64")
    other = replace(target, python=Python(None, "3.9.2", "cpython", "cp39", free_threaded=False))
    with pytest.raises(InputError, match=rf"target runs Python 3\.9, the sysroot has .* {PY}"):
        cross_setup(other, sr, workdir=tmp_path, host_python=Path(sys.executable))
    with pytest.raises(InputError, match=r"sysroot .* is for aarch64, the target is armv7l"):
        cross_setup(_armv7l_target(), sr, workdir=tmp_path, host_python=Path(sys.executable))
    others = sorted(Path("/root/.pyenv/versions").glob("3.1[02]*/bin/python"))
    if not others:
        pytest.skip("no second Python version on this machine")
    host = replace(target, python=replace(target.python, version=f"{PY}.2"))  # type: ignore[type-var]
    with pytest.raises(ToolchainError, match=rf"is 3\.1[02], the target's is {PY}") as info:
        cross_setup(host, sr, workdir=tmp_path, host_python=others[0])
    assert "--python PATH" in info.value.hint


# -- CUDA -----------------------------------------------------------------------------------


def _cuda_target_files(home: Path, name: str, version: int) -> Path:
    target = home / "targets" / name
    (target / "include").mkdir(parents=True)
    (target / "lib").mkdir()
    (target / "include/cuda_runtime.h").write_text("/* runtime */\n")
    (target / "include/cuda_runtime_api.h").write_text(f"#define CUDART_VERSION  {version}\n")
    (target / "lib/libcudart.so.12").write_bytes(b"")
    return target


def test_cuda_target_needs_nvidias_aarch64_files(tmp_path: Path) -> None:
    sr = inspect_sysroot(_sysroot(tmp_path / "sr"), "aarch64")
    orin = load_target("jetson-orin-jp6")
    assert find_cuda_cross(load_target("rpi5-bookworm-arm64"), sr, host_cuda=tmp_path) is None
    with pytest.raises(ToolchainError, match=r"no CUDA 12\.6 libraries for aarch64-linux") as info:
        find_cuda_cross(orin, sr, host_cuda=tmp_path / "host")
    assert "cuda-cross-aarch64-12-6" in info.value.hint
    # The files of another CUDA release do not count.
    _cuda_target_files(sr.path / "usr/local/cuda-12.6", "aarch64-linux", 12020)
    with pytest.raises(ToolchainError, match=r"no CUDA 12\.6 libraries"):
        find_cuda_cross(orin, sr, host_cuda=tmp_path / "host")


@pytest.mark.programs
def test_cuda_target_files_in_the_sysroot_and_host_nvcc(tmp_path: Path) -> None:
    sr = inspect_sysroot(_sysroot(tmp_path / "sr"), "aarch64")
    orin = load_target("jetson-orin-jp6")
    files = _cuda_target_files(sr.path / "usr/local/cuda-12.6", "aarch64-linux", 12060)
    host = tmp_path / "host"
    with pytest.raises(ToolchainError, match=r"no host nvcc of CUDA 12\.6"):
        find_cuda_cross(orin, sr, host_cuda=host)
    _fake_tool(host / "cuda/bin", "nvcc", "Cuda compilation tools, release 13.0, V13.0.48")
    with pytest.raises(ToolchainError, match=r"no host nvcc of CUDA 12\.6"):
        find_cuda_cross(orin, sr, host_cuda=host)
    nvcc = _fake_tool(
        host / "cuda-12.6/bin", "nvcc", "Cuda compilation tools, release 12.6, V12.6.77"
    )
    found = find_cuda_cross(orin, sr, host_cuda=host)
    assert found is not None
    assert (found.version, found.target_dir, found.nvcc, found.in_sysroot) == (
        "12.6",
        files,
        nvcc,
        True,
    )
    text = render_toolchain(
        cross_arch("aarch64"), sr.path, _compilers("aarch64-linux-gnu-"), cuda=found
    )
    assert f'set(CUDAToolkit_TARGET_DIR "{files}")' in text
    assert f'set(CMAKE_CUDA_COMPILER "{nvcc}")' in text


def test_cuda_target_directory_names() -> None:
    assert target_dir_names(load_target("jetson-orin-jp6"))[0] == "aarch64-linux"
    assert target_dir_names(load_target("jetson-thor-jp7"))[0] == "sbsa-linux"
    server = replace(load_target("rpi5-bookworm-arm64"), cuda=Cuda("12.8", None, None, None))
    assert target_dir_names(server)[0] == "sbsa-linux"


# -- sysroot preparation (no network) -------------------------------------------------------


def test_private_apt_configuration(tmp_path: Path) -> None:
    config = _apt_config(tmp_path, "arm64")
    text = config.read_text()
    assert f'Dir "{tmp_path}/";' in text
    assert 'APT::Architecture "arm64";' in text
    assert 'APT::Install-Recommends "false";' in text
    assert (tmp_path / "var/lib/dpkg/status").read_text() == ""
    assert (tmp_path / "var/cache/apt/archives/partial").is_dir()


def test_prepare_refuses_a_foreign_directory_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    with pytest.raises(InputError, match="not a sysroot made by torchbuild"):
        prepare_sysroot(tmp_path / "busy", dist="bookworm", arch="arm64")
    with pytest.raises(InputError, match="not a distribution code name"):
        prepare_sysroot(tmp_path / "x", dist="Bookworm 12", arch="arm64")
    with pytest.raises(InputError, match="no packages"):
        prepare_sysroot(tmp_path / "x", dist="bookworm", arch="arm64", packages=())
    with pytest.raises(InputError, match="cannot cross-compile for 'm68k'"):
        prepare_sysroot(tmp_path / "x", dist="bookworm", arch="m68k")
    assert not (tmp_path / "x").exists()


def test_toolchain_file_gives_findpython_the_targets_facts() -> None:
    python = ToolchainPython(
        host=Path("/venv/bin/python"),
        target=Path("/srv/sr/usr/bin/python3.11"),
        include=Path("/srv/sr/usr/include/python3.11"),
        soabi="cpython-311-aarch64-linux-gnu",
    )
    emulator = ("/usr/bin/qemu-aarch64-static", "-L", "/srv/sr")
    names = cross_arch("aarch64")
    text = render_toolchain(
        names, Path("/srv/sr"), _compilers("aarch64-linux-gnu-"), emulator=emulator, python=python
    )
    lines = [line.strip() for line in text.splitlines()]
    # Wrapped once, whatever number of times CMake reads the file.
    assert "macro(find_package _torchbuild_name)" in lines
    assert "set_property(GLOBAL PROPERTY TORCHBUILD_FIND_PYTHON TRUE)" in lines
    assert "_find_package(${ARGV})" in lines
    # The target's interpreter only under CMP0190 NEW; the host's of the same version before.
    assert "cmake_policy(GET CMP0190 _torchbuild_policy)" in lines
    new = lines.index('if(_torchbuild_policy STREQUAL "NEW")')
    assert lines[new + 1] == 'set(${_torchbuild_name}_EXECUTABLE "/srv/sr/usr/bin/python3.11")'
    assert lines[new + 3] == 'set(${_torchbuild_name}_EXECUTABLE "/venv/bin/python")'
    assert 'set(${_torchbuild_name}_FIND_ABI "OFF;OFF;OFF")' in lines
    soabi = 'set(${_torchbuild_name}_SOABI "cpython-311-aarch64-linux-gnu")'
    assert lines.index(soabi) > lines.index("_find_package(${ARGV})")
    # Without QEMU there is no choice: the host's interpreter.
    plain = render_toolchain(
        names, Path("/srv/sr"), _compilers("aarch64-linux-gnu-"), python=python
    )
    assert "CMP0190" not in plain
    assert 'set(${_torchbuild_name}_EXECUTABLE "/venv/bin/python")' in plain


@pytest.mark.parametrize(
    ("include", "abi"),
    [
        ("python3.11", "OFF;OFF;OFF"),
        ("python3.7m", "OFF;ON;OFF"),
        ("python3.13t", "OFF;OFF;OFF;ON"),
        ("python3.12d", "ON;OFF;OFF"),
    ],
)
def test_find_abi_follows_the_sysroots_header_directory(include: str, abi: str) -> None:
    python = ToolchainPython(Path("/p"), None, Path("/sr/usr/include") / include, "x")
    assert python.find_abi == abi
