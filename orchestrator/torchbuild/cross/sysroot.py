"""A sysroot: the target's headers and libraries, laid out as on the board, that a cross
compiler builds against.

It can be a mounted board image (``--root``), a copy of one, or what :mod:`.prepare` extracts
from Debian's packages. Inspection only reads files: nothing in it is run.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..elf import read_elf, same_arch
from ..errors import InputError, ToolchainError
from .arches import CrossArch, cross_arch, known_arches

__all__ = ["MERGED_USR", "Sysroot", "fix_absolute_links", "inspect_sysroot", "link_merged_usr"]

_PYTHON_DIR = re.compile(r"^python(3\.\d+)$")


@dataclass(frozen=True)
class Sysroot:
    """What a cross build needs to know about a sysroot."""

    path: Path
    arch: str  #: wheel-tag name of its machine: ``aarch64``
    multiarch: str  #: ``aarch64-linux-gnu``
    python_version: str  #: ``3.11``: the minor version its Python headers are for
    python_include: Path  #: the directory holding ``Python.h``
    pyconfig: Path  #: the ``pyconfig.h`` for this machine (Debian keeps it per triplet)
    libc: Path  #: the C library itself (``libc.so.6``)
    #: the target's own interpreter inside the sysroot, when it has one (for the emulator)
    python: Path | None

    @property
    def ext_suffix(self) -> str:
        """The target Python's extension suffix: ``.cpython-311-aarch64-linux-gnu.so``."""
        return f".cpython-{self.python_version.replace('.', '')}-{self.multiarch}.so"

    @property
    def numpy_include(self) -> Path | None:
        """The target's NumPy C headers (``numpy/_numpyconfig.h`` records the machine's type
        sizes, so a 32-bit target needs its own), when the sysroot has NumPy."""
        bases = [f"usr/lib/{self.multiarch}/python3-numpy", "usr/lib/python3/dist-packages"]
        for base in bases:
            for sub in ("numpy/_core/include", "numpy/core/include"):
                where = self.path / base / sub
                if (where / "numpy" / "_numpyconfig.h").is_file():
                    return where
        return None

    def python_distributions(self) -> dict[str, Version]:
        """The Python distributions the target's system packages installed (Debian's
        ``python3-numpy``: ``{"numpy": Version("2.2.4")}``), by canonical name; the board has
        them whatever pip installs beside them. Read from their metadata (.dist-info or
        .egg-info), never imported."""
        base = self.path / "usr/lib/python3/dist-packages"
        found: dict[str, Version] = {}
        for dist in importlib.metadata.distributions(path=[str(base)]):
            name, version = dist.metadata["Name"], dist.metadata["Version"]
            if not name or not version:
                continue
            with contextlib.suppress(InvalidVersion):
                found[canonicalize_name(name)] = Version(version)
        return found

    @property
    def lib_dirs(self) -> tuple[Path, ...]:
        """Where the target's loader looks for libraries, inside the sysroot, in its order."""
        triplet = self.multiarch
        return tuple(
            self.path / sub
            for sub in (f"lib/{triplet}", f"usr/lib/{triplet}", "lib", "usr/lib")
            if (self.path / sub).is_dir()
        )


def _first(candidates: list[Path]) -> Path | None:
    for path in candidates:
        if path.exists():
            return path
    return None


def _libc(root: Path, names: CrossArch) -> Path:
    triplet = names.multiarch
    libc = _first([root / f"lib/{triplet}/libc.so.6", root / f"usr/lib/{triplet}/libc.so.6"])
    if libc is None:
        for other in (cross_arch(a) for a in known_arches()):
            if other.multiarch != triplet and (root / f"usr/lib/{other.multiarch}").is_dir():
                raise InputError(
                    f"{root} is a sysroot for {other.arch}, and the target is {names.arch}",
                    hint=f"give a sysroot made for {names.arch} (`torchbuild root sysroot DIST "
                    f"DIR --arch {names.debian}`)",
                )
        raise ToolchainError(
            f"{root} has no C library for {names.arch} (lib/{triplet}/libc.so.6)",
            hint=f"a sysroot needs the target's libc6 and libc6-dev ({names.debian}); "
            "make one with `torchbuild root sysroot DIST DIR --arch "
            f"{names.debian}`",
        )
    info = read_elf(libc.resolve())
    if info is None or not same_arch(info.machine, names.arch):
        machine = info.machine if info is not None else "not an ELF file"
        raise InputError(
            f"{libc} is for {machine}, not {names.arch}",
            hint=f"give a sysroot made for {names.arch} (--arch must match the sysroot)",
        )
    # The startup file and the linker script come with libc6-dev; without them every link
    # fails with a less helpful "cannot find crt1.o".
    for dev in ("crt1.o", "libc.so"):
        if not (root / f"usr/lib/{triplet}/{dev}").exists():
            raise ToolchainError(
                f"{root} has the C library but not its development files (usr/lib/{triplet}/{dev})",
                hint=f"add libc6-dev ({names.debian}) to the sysroot",
            )
    return libc


def _python(root: Path, names: CrossArch, wanted: str | None) -> tuple[str, Path, Path]:
    include = root / "usr" / "include"
    found: dict[str, Path] = {}
    if include.is_dir():
        for entry in include.iterdir():
            match = _PYTHON_DIR.match(entry.name)
            if match and (entry / "Python.h").is_file():
                found[match.group(1)] = entry
    dev = f"python{wanted}-dev" if wanted else "python3-dev"
    if wanted is not None and wanted not in found:
        have = ", ".join(sorted(found)) or "none"
        raise ToolchainError(
            f"{root} has no headers for Python {wanted} (usr/include/python{wanted}/Python.h; "
            f"headers found: {have})",
            hint=f"add {dev} ({names.debian}) to the sysroot, or target the Python it has",
        )
    if not found:
        raise ToolchainError(
            f"{root} has no Python headers (usr/include/python3.X/Python.h)",
            hint=f"add {dev} ({names.debian}) to the sysroot",
        )
    if wanted is None:
        if len(found) > 1:
            raise InputError(
                f"{root} has headers for several Pythons: {', '.join(sorted(found))}",
                hint="say which one the wheels are for (the target's Python version)",
            )
        wanted = next(iter(found))
    headers = found[wanted]
    pyconfig = _first(
        [root / f"usr/include/{names.multiarch}/python{wanted}/pyconfig.h", headers / "pyconfig.h"]
    )
    if pyconfig is None:
        raise ToolchainError(
            f"{root} has Python.h for {wanted} but no pyconfig.h for {names.multiarch}",
            hint=f"add libpython{wanted}-dev ({names.debian}) to the sysroot",
        )
    return wanted, headers, pyconfig


def inspect_sysroot(path: Path, arch: str, *, python_version: str | None = None) -> Sysroot:
    """Check that ``path`` is a usable sysroot for ``arch`` and return its facts.

    ``python_version`` (``3.11``, or a full ``3.11.2``) picks the headers when the sysroot has
    several; without it, exactly one set of Python headers must be there.
    """
    names = cross_arch(arch)
    root = path.absolute()
    if not root.is_dir():
        raise InputError(f"sysroot {root} is not a directory", hint="give the sysroot's path")
    libc = _libc(root, names)
    wanted = ".".join(python_version.split(".")[:2]) if python_version else None
    version, include, pyconfig = _python(root, names, wanted)
    interpreter = _first([root / f"usr/bin/python{version}"])
    return Sysroot(
        path=root,
        arch=names.arch,
        multiarch=names.multiarch,
        python_version=version,
        python_include=include,
        pyconfig=pyconfig,
        libc=libc,
        python=interpreter,
    )


def fix_absolute_links(root: Path) -> int:
    """Point every absolute symbolic link under ``root`` at the same file inside ``root``.

    Debian packages ship links such as ``libz.so -> /lib/aarch64-linux-gnu/libz.so.1``: on the
    board they are right, but in a sysroot they lead to the build machine's own files (or to
    nothing), so the linker and the emulator would load the wrong library. Returns how many
    links were rewritten.
    """
    count = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            link = Path(folder) / name
            if not link.is_symlink():
                continue
            target = os.readlink(link)
            if not target.startswith("/"):
                continue
            inside = root / target.lstrip("/")
            relative = os.path.relpath(inside, link.parent)
            tmp = link.with_name(f".{name}.tb-link")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(relative)
            tmp.replace(link)
            count += 1
    return count


#: the top-level directories a merged-/usr system has as links into ``/usr``
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def link_merged_usr(root: Path) -> list[str]:
    """Make ``lib -> usr/lib`` (and the same for ``bin``, ``sbin``, ``lib64``...) where the
    packages put everything under ``/usr`` and left the top-level name unmade.

    Debian from trixie on ships its files under ``/usr`` only; on an installed system the
    top-level names are links made at installation, which unpacking packages never does. The
    programs still ask for ``/lib/ld-linux-aarch64.so.1`` (their ``PT_INTERP``), so QEMU's
    ``-L`` finds nothing without them. Returns the links made.
    """
    made: list[str] = []
    for name in MERGED_USR:
        top, inside = root / name, root / "usr" / name
        if inside.is_dir() and not top.exists() and not top.is_symlink():
            try:
                top.symlink_to(f"usr/{name}")
            except OSError:
                continue  # a read-only sysroot stays as it is; the caller's checks decide
            made.append(name)
    return made
