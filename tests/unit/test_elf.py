"""ELF facts read from files this machine's compilers really make."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from torchbuild.elf import (
    DEVICE_MACHINES,
    ElfInfo,
    cuda_architectures,
    find_cuobjdump,
    parse_cuobjdump,
    read_elf,
    same_arch,
    wheel_elfs,
)
from torchbuild.errors import BuildError
from wheelfactory import make_wheel

LIB_C = "int foo_value(void) { return 42; }\n"
# arc4random is new in glibc 2.36: the file asks libc.so.6 for GLIBC_2.36.
NEW_C = "#include <stdlib.h>\nunsigned r(void) { return arc4random(); }\n"


def _cc(tmp: Path, name: str, source: str, *flags: str, compiler: str = "gcc") -> Path:
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(out), str(src), *flags], check=True
    )
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("elf")
    lib = _cc(tmp, "libfoo.so.2.6", LIB_C, "-Wl,-soname,libfoo.so.2")
    return {
        "lib": lib,
        "runpath": _cc(
            tmp,
            "ext_runpath.so",
            "int foo_value(void);\nint ext(void) { return foo_value(); }\n",
            f"-L{tmp}",
            "-l:libfoo.so.2.6",
            "-Wl,--enable-new-dtags",
            "-Wl,-rpath,/tmp/build/lib:$ORIGIN/lib",
        ),
        "rpath": _cc(
            tmp, "ext_rpath.so", LIB_C, "-Wl,--disable-new-dtags", "-Wl,-rpath,/opt/x/lib"
        ),
        "new": _cc(tmp, "new.so", NEW_C),
        "aarch64": _cc(tmp, "arm.so", NEW_C, compiler="aarch64-linux-gnu-gcc"),
    }


def test_reads_soname_and_machine(built: dict[str, Path]) -> None:
    info = read_elf(built["lib"])
    assert info is not None
    assert info.path == str(built["lib"])
    assert info.machine == "x86_64"
    assert info.soname == "libfoo.so.2"
    assert info.name == "libfoo.so.2.6"
    assert info.kind == "ET_DYN"


def test_needed_and_runpath_kept_apart_from_rpath(built: dict[str, Path]) -> None:
    runpath = read_elf(built["runpath"])
    rpath = read_elf(built["rpath"])
    assert runpath is not None
    assert rpath is not None
    # Linked as -l:libfoo.so.2.6, it needs the library by its soname.
    assert runpath.needed == ("libfoo.so.2",)
    assert runpath.runpath == ("/tmp/build/lib", "$ORIGIN/lib")
    assert runpath.rpath == ()
    assert rpath.rpath == ("/opt/x/lib",)
    assert rpath.runpath == ()


def test_version_needs_name_glibc_versions(built: dict[str, Path]) -> None:
    info = read_elf(built["new"])
    assert info is not None
    assert "GLIBC_2.36" in info.version_needs["libc.so.6"]
    assert all(v.startswith("GLIBC_") for v in info.version_needs["libc.so.6"])
    assert isinstance(info.version_needs["libc.so.6"], frozenset)


def test_aarch64_file(built: dict[str, Path]) -> None:
    info = read_elf(built["aarch64"].read_bytes(), name="pkg/arm.so")
    assert info is not None
    assert info.path == "pkg/arm.so"
    assert info.machine == "aarch64"
    assert "GLIBC_2.36" in info.version_needs["libc.so.6"]


def test_not_an_elf(tmp_path: Path) -> None:
    text = tmp_path / "a.py"
    text.write_text("print(1)\n")
    assert read_elf(text) is None
    assert read_elf(b"#!/bin/sh\n") is None
    assert read_elf(tmp_path) is None
    assert read_elf(tmp_path / "missing.so") is None


def test_truncated_elf_is_an_error(built: dict[str, Path], tmp_path: Path) -> None:
    cut = tmp_path / "cut.so"
    cut.write_bytes(built["lib"].read_bytes()[:2000])
    with pytest.raises(BuildError, match=r"cut\.so looks like an ELF file but cannot be read"):
        read_elf(cut)


def test_wheel_elfs_reads_members(built: dict[str, Path], tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "pkg",
        "1.0",
        tag="cp311-cp311-linux_x86_64",
        files={
            "pkg/lib/libfoo.so.2": built["lib"].read_bytes(),
            "pkg/arm.so": built["aarch64"].read_bytes(),
        },
    )
    found = wheel_elfs(wheel)
    assert [(e.path, e.machine) for e in found] == [
        ("pkg/arm.so", "aarch64"),
        ("pkg/lib/libfoo.so.2", "x86_64"),
    ]
    with zipfile.ZipFile(wheel) as archive:
        assert len(archive.namelist()) == 6  # the Python file and dist-info members are not ELF


def test_same_arch_aliases() -> None:
    assert same_arch("aarch64", "arm64")
    assert same_arch("x86_64", "amd64")
    assert same_arch("armv7l", "armv6l")
    assert not same_arch("aarch64", "x86_64")


def test_elfinfo_is_hashable() -> None:
    info = ElfInfo("a.so", "x86_64", None, (), (), (), {"libc.so.6": frozenset({"GLIBC_2.2.5"})})
    assert hash(info) == hash(ElfInfo("a.so", "x86_64", None, (), (), (), {}))


# Recorded from cuobjdump 13.2 on objects nvcc 13.0 built for sm_87 with and without PTX.
LIST_ELF = "ELF file    1: k2.1.sm_87.cubin\nELF file    2: k2.2.sm_87.cubin\n"
LIST_PTX = "PTX file    1: k2.1.sm_87.ptx\n"


def test_parse_cuobjdump_recorded() -> None:
    assert parse_cuobjdump(LIST_ELF, "") == {"sm_87"}
    assert parse_cuobjdump(LIST_ELF, LIST_PTX) == {"sm_87", "compute_87"}
    assert parse_cuobjdump("ELF file    1: x.1.sm_90a.cubin\n", "") == {"sm_90a"}
    assert parse_cuobjdump("", "") == frozenset()


NVCC = Path("/usr/local/cuda/bin/nvcc")
KERNEL = """
__global__ void add(float *a, float b) { a[threadIdx.x] += b; }
extern "C" void launch(float *a) { add<<<1, 32>>>(a, 1.0f); }
"""


@pytest.fixture(scope="module")
def cuobjdump() -> Path:
    found = find_cuobjdump()
    if found is None or not NVCC.is_file():
        pytest.skip("needs nvcc at /usr/local/cuda/bin and cuobjdump (nvidia-cuda-cuobjdump)")
    return found


def _nvcc(tmp: Path, name: str, *gencode: str) -> Path:
    src = tmp / "k.cu"
    src.write_text(KERNEL)
    out = tmp / name
    subprocess.run(
        [str(NVCC), "-shared", "-Xcompiler", "-fPIC", *gencode, "-o", str(out), str(src)],
        check=True,
    )
    return out


@pytest.mark.programs
def test_cuda_architectures_sass_only(cuobjdump: Path, tmp_path: Path) -> None:
    lib = _nvcc(tmp_path, "k1.so", "-gencode", "arch=compute_87,code=sm_87")
    assert cuda_architectures(lib, cuobjdump) == {"sm_87"}


@pytest.mark.programs
def test_cuda_architectures_with_ptx(cuobjdump: Path, tmp_path: Path) -> None:
    lib = _nvcc(
        tmp_path,
        "k2.so",
        "-gencode",
        "arch=compute_87,code=sm_87",
        "-gencode",
        "arch=compute_87,code=compute_87",
    )
    assert cuda_architectures(lib, cuobjdump) == {"sm_87", "compute_87"}


@pytest.mark.programs
def test_cuda_architectures_of_host_only_code(cuobjdump: Path, tmp_path: Path) -> None:
    lib = _cc(tmp_path, "plain.so", LIB_C)
    assert cuda_architectures(lib, cuobjdump) == frozenset()


def test_cubin_is_device_code(cuobjdump: Path, tmp_path: Path) -> None:
    src = tmp_path / "k.cu"
    src.write_text(KERNEL)
    cubin = tmp_path / "k.cubin"
    subprocess.run([str(NVCC), "-cubin", "-arch=sm_87", "-o", str(cubin), str(src)], check=True)
    info = read_elf(cubin)
    assert info is not None
    assert info.machine == "cuda"
    assert info.machine in DEVICE_MACHINES
