"""The target's torch, unpacked for a cross build to compile and link against.

torchvision, torchaudio and torch extensions build against torch: its headers, its shared
libraries and its CMake package. When the wheels are for another machine, those must be the
target's (an aarch64 ``libtorch.so`` from the target's torch wheel), while the build's own
Python code (``setup.py`` imports torch for its helpers) runs the host's torch of the same
release. The target's wheel is never installed on the host: only the parts a compiler and a
linker read are taken out of it, once per wheel, into torchbuild's cache.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["TargetTorch", "unpack_target_torch"]

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


def _version_facts(version_py: Path) -> tuple[str, str | None]:
    """``__version__`` and ``cuda`` from torch/version.py, read as data (never run)."""
    found: dict[str, object] = {}
    tree = ast.parse(version_py.read_text(encoding="utf-8", errors="replace"))
    for node in tree.body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            found[target.id] = value.value
    version = found.get("__version__")
    cuda = found.get("cuda")
    return (str(version) if version else "", str(cuda) if cuda else None)


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
    version, cuda = _version_facts(dest / "torch" / "version.py")
    return TargetTorch(root=dest, version=version, cuda=cuda)
