"""The target's torch, unpacked for a cross build to compile and link against.

torchvision, torchaudio and torch extensions build against torch: its headers, its shared
libraries and its CMake package. When the wheels are for another machine, those must be the
target's (an aarch64 ``libtorch.so`` from the target's torch wheel), while the build's own
Python code (``setup.py`` imports torch for its helpers) runs the host's torch of the same
release. The target's wheel is never installed on the host: only the parts a compiler and a
linker read are taken out of it, once per wheel, into torchbuild's cache.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..detect.torch import version_py_facts
from ..errors import InputError

__all__ = ["TargetTorch", "abi_of_torch_config", "abi_of_torch_package", "unpack_target_torch"]

_ABI_FLAG = re.compile(r"-D_GLIBCXX_USE_CXX11_ABI=([01])")

#: what a compiler and a linker read from a torch wheel (headers, libraries, CMake package)
_PARTS = ("torch/include/", "torch/lib/", "torch/share/", "torch/version.py")


@dataclass(frozen=True)
class TargetTorch:
    """The target's torch, as far as a compiler and a linker see it."""

    root: Path  #: the directory holding ``torch/`` (a CMake find root)
    version: str  #: ``2.13.0``
    cuda: str | None  #: ``13.0`` for a CUDA build, None for a CPU one

    @property
    def include_dirs(self) -> tuple[Path, ...]:
        """The include directories torch's C++ API needs, in torch's own order."""
        base = self.root / "torch" / "include"
        return (base, base / "torch" / "csrc" / "api" / "include")

    @property
    def lib_dir(self) -> Path:
        return self.root / "torch" / "lib"

    @property
    def cmake_dir(self) -> Path:
        """``TorchConfig.cmake``'s directory (``Torch_DIR``)."""
        return self.root / "torch" / "share" / "cmake" / "Torch"

    @property
    def cxx11_abi(self) -> str | None:
        """``"1"`` or ``"0"``: the C++ library ABI torch was built with, as its CMake package
        tells dependents (None when it does not say)."""
        return abi_of_torch_package(self.root / "torch")


def abi_of_torch_config(text: str) -> str | None:
    """The ``_GLIBCXX_USE_CXX11_ABI`` value ``TorchConfig.cmake`` puts in ``TORCH_CXX_FLAGS``."""
    found = _ABI_FLAG.search(text)
    return found.group(1) if found else None


def abi_of_torch_package(package: Path) -> str | None:
    """The C++ library ABI of the torch package directory ``package`` (``.../torch``), from its
    CMake package; None when it has none or it does not say (newer torch knows one ABI only)."""
    try:
        text = (package / "share/cmake/Torch/TorchConfig.cmake").read_text(errors="replace")
    except OSError:
        return None
    return abi_of_torch_config(text)


def unpack_target_torch(wheel: Path, cache_dir: Path, digest: str) -> TargetTorch:
    """The build-time parts of the target's torch ``wheel``, unpacked once under ``cache_dir``.

    ``digest`` (the wheel's sha256) names the directory, so a different wheel of the same
    name never reuses another's files; a directory is complete once it has been renamed into
    place.
    """
    dest = cache_dir / "target-torch" / digest[:24]
    if not (dest / "torch" / "version.py").is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = [
                    m
                    for m in archive.infolist()
                    if m.filename.startswith(_PARTS)
                    and not m.is_dir()
                    and ".." not in m.filename.split("/")
                ]
                for member in members:
                    archive.extract(member, tmp)
            if not (tmp / "torch" / "version.py").is_file() or not (tmp / "torch/lib").is_dir():
                raise InputError(
                    f"{wheel.name} has no torch/version.py or torch/lib: not a torch wheel",
                    hint="give the target's torch wheel (from its index or its build)",
                )
            try:
                tmp.replace(dest)
            except OSError:
                if not (dest / "torch" / "version.py").is_file():
                    raise
                # Another run unpacked the same wheel first; its copy is as good.
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    text = (dest / "torch" / "version.py").read_text(encoding="utf-8", errors="replace")
    version, cuda = version_py_facts(text)
    return TargetTorch(root=dest, version=version, cuda=cuda)
