"""The target's torch for cross builds: unpacked from its wheel, named in the toolchain and in
the compiler and linker flags."""

from __future__ import annotations

import shutil
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from torchbuild.cross import cross_setup, inspect_sysroot
from torchbuild.cross.torch import unpack_target_torch
from torchbuild.errors import InputError
from torchbuild.target import load_target

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
CROSS_LIBC = Path(__file__).resolve().parents[1] / "data" / "cross" / "libc-aarch64.so.6"

# torch/version.py as the 2.13.0 aarch64 wheel on PyPI has it (CUDA 13.0 build), trimmed.
VERSION_PY = """from typing import Optional

__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'rocm', 'xpu']
__version__ = '2.13.0'
debug = False
cuda: Optional[str] = '13.0'
git_version = '0a9e9f3b3c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f'
hip: Optional[str] = None
rocm: Optional[str] = None
xpu: Optional[str] = None
"""


def _torch_wheel(path: Path, version_py: str = VERSION_PY) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("torch/__init__.py", "")
        archive.writestr("torch/version.py", version_py)
        archive.writestr("torch/lib/libtorch.so", b"\x7fELF")
        archive.writestr("torch/include/torch/extension.h", "")
        archive.writestr("torch/share/cmake/Torch/TorchConfig.cmake", "")
        archive.writestr("torch/testing/big.py", "")
        archive.writestr("torch-2.13.0.dist-info/METADATA", "Name: torch\n")
    return path


def test_unpacks_what_a_compiler_reads_and_the_version_facts(tmp_path: Path) -> None:
    wheel = _torch_wheel(tmp_path / "torch-2.13.0-cp311-cp311-manylinux_2_28_aarch64.whl")
    torch = unpack_target_torch(wheel, tmp_path / "cache", "ab" * 32)
    assert (torch.version, torch.cuda) == ("2.13.0", "13.0")
    assert (torch.lib_dir / "libtorch.so").is_file()
    assert (torch.cmake_dir / "TorchConfig.cmake").is_file()
    assert torch.include_dirs[1] == torch.root / "torch/include/torch/csrc/api/include"
    # Only the build-time parts: no Python sources beyond version.py, no metadata.
    assert not (torch.root / "torch/testing").exists()
    assert not (torch.root / "torch/__init__.py").exists()
    # Unpacked once: a second call finds the directory and leaves it as it is.
    (torch.lib_dir / "marker").write_text("kept")
    again = unpack_target_torch(wheel, tmp_path / "cache", "ab" * 32)
    assert again == torch
    assert (again.lib_dir / "marker").read_text() == "kept"
    assert [p.name for p in (tmp_path / "cache" / "target-torch").iterdir()] == [torch.root.name]


def test_a_cpu_build_has_no_cuda(tmp_path: Path) -> None:
    text = VERSION_PY.replace("cuda: Optional[str] = '13.0'", "cuda: Optional[str] = None")
    text = text.replace("'2.13.0'", "'2.10.0+cpu'")
    wheel = _torch_wheel(tmp_path / "t.whl", text)
    torch = unpack_target_torch(wheel, tmp_path / "cache", "cd" * 32)
    assert (torch.version, torch.cuda) == ("2.10.0+cpu", None)


def test_a_wheel_that_is_not_torch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(InputError, match="not a torch wheel"):
        unpack_target_torch(wheel, tmp_path / "cache", "ef" * 32)
    assert list((tmp_path / "cache" / "target-torch").iterdir()) == []


@pytest.mark.programs
def test_the_targets_torch_goes_into_toolchain_and_flags(tmp_path: Path) -> None:
    root = tmp_path / "sr"
    (root / "lib/aarch64-linux-gnu").mkdir(parents=True)
    shutil.copy(CROSS_LIBC, root / "lib/aarch64-linux-gnu/libc.so.6")
    dev = root / "usr/lib/aarch64-linux-gnu"
    dev.mkdir(parents=True)
    (dev / "crt1.o").write_bytes(b"")
    (dev / "libc.so").write_text("GROUP ( /lib/aarch64-linux-gnu/libc.so.6 )\n")
    (root / f"usr/include/python{PY}").mkdir(parents=True)
    (root / f"usr/include/python{PY}/Python.h").write_text("")
    (root / f"usr/include/aarch64-linux-gnu/python{PY}").mkdir(parents=True)
    (root / f"usr/include/aarch64-linux-gnu/python{PY}/pyconfig.h").write_text("")
    sysroot = inspect_sysroot(root, "aarch64")
    tools = tmp_path / "bin"  # stand-ins for the cross compilers: only their paths are used
    tools.mkdir()
    for name in ("gcc", "g++"):
        (tools / f"aarch64-linux-gnu-{name}").write_text("#!/bin/sh\n")
        (tools / f"aarch64-linux-gnu-{name}").chmod(0o755)
    torch = unpack_target_torch(_torch_wheel(tmp_path / "t.whl"), tmp_path / "cache", "01" * 32)
    target = load_target("rpi5-bookworm-arm64")
    assert target.python is not None
    target = replace(target, python=replace(target.python, version=f"{PY}.2"))
    setup = cross_setup(
        target,
        sysroot,
        workdir=tmp_path / "w",
        host_python=Path(sys.executable),
        torch=torch,
        path=str(tools),
    )
    text = setup.toolchain_file.read_text()
    # The project's own -D (torchaudio passes the host's) cannot win over these.
    assert f'set(Torch_DIR "{torch.cmake_dir}" CACHE PATH "" FORCE)' in text
    include = sysroot.python_include
    assert f'set(Python_INCLUDE_DIR "{include}" CACHE PATH "" FORCE)' in text
    assert f'set(CMAKE_FIND_ROOT_PATH "{root};{torch.root}")' in text
    flags = setup.env["CPPFLAGS"].split()
    assert flags.index(f"-I{include}") < flags.index(f"-I{torch.include_dirs[0]}")
    assert setup.env["LDFLAGS"].split() == [
        f"-L{torch.lib_dir}",
        f"-Wl,-rpath-link,{torch.lib_dir}",
        f"-L{root}/usr/lib/aarch64-linux-gnu",
    ]
