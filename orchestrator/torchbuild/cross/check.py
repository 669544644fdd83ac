"""Checking a wheel built for another machine without running it: every ELF file is for the
target, and every library it needs, with the symbol versions it asks for, is there.

The loader on the board will look in the wheel (run paths), in the wheels it is installed with
(torch's ``lib/`` for torchvision) and in the system's directories; the sysroot stands in for
the board's system. A library found in the sysroot must also define every symbol version asked
of it: a cross compiler newer than the board's can ask for a ``GLIBCXX_3.4.30`` the board's
``libstdc++.so.6`` lacks, which would only show as an import error on the board.
"""

from __future__ import annotations

import os
import zipfile
from typing import TYPE_CHECKING

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ..elf import DEVICE_MACHINES, normalize_arch, same_arch, wheel_elfs
from ..errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from ..elf import ElfInfo
    from .sysroot import Sysroot

__all__ = ["check_foreign_wheel", "sysroot_library_dirs", "version_definitions"]


def version_definitions(path: Path) -> frozenset[str]:
    """The symbol versions a library defines (``GLIBC_2.17``...); empty for an unversioned one."""
    found: set[str] = set()
    try:
        with path.open("rb") as stream:
            for section in ELFFile(stream).iter_sections():
                if isinstance(section, GNUVerDefSection):
                    for _verdef, auxiliaries in section.iter_versions():
                        found.update(str(aux.name) for aux in auxiliaries)
    except (OSError, ELFError):
        return frozenset()
    return frozenset(found)


def sysroot_library_dirs(sysroot: Sysroot) -> list[Path]:
    """The sysroot's loader directories: the multiarch defaults, then ``/etc/ld.so.conf.d``."""
    dirs = list(sysroot.lib_dirs)
    conf = sysroot.path / "etc" / "ld.so.conf.d"
    if conf.is_dir():
        for entry in sorted(conf.glob("*.conf")):
            for raw in entry.read_text(errors="replace").splitlines():
                line = raw.split("#", 1)[0].strip()
                if line.startswith("/"):
                    inside = sysroot.path / line.lstrip("/")
                    if inside.is_dir() and inside not in dirs:
                        dirs.append(inside)
    return dirs


def _names_in(paths: Iterable[Path]) -> set[str]:
    """File names of the libraries in wheels and directories handed over as ``against``."""
    names: set[str] = set()
    for path in paths:
        if path.is_file() and path.suffix == ".whl":
            with zipfile.ZipFile(path) as archive:
                names.update(n.rsplit("/", 1)[-1] for n in archive.namelist() if ".so" in n)
        elif path.is_dir():
            for _folder, _dirs, files in os.walk(path):
                names.update(name for name in files if ".so" in name)
        else:
            raise InputError(
                f"{path} is neither a wheel nor a directory",
                hint="give the wheels (or unpacked directories) the checked wheel runs with",
            )
    return names


def _tag_problems(wheel: Path, arch: str) -> list[str]:
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as exc:
        return [f"{wheel.name}: not a wheel file name ({exc})"]
    wrong = sorted(
        {t.platform for t in tags if t.platform != "any" and not t.platform.endswith(f"_{arch}")}
    )
    return [f"{wheel.name}: tagged for {p}, not {arch}" for p in wrong]


def _needs(info: ElfInfo, inside: set[str], against: set[str], dirs: Sequence[Path]) -> list[str]:
    problems: list[str] = []
    for lib in info.needed:
        if lib in inside or lib in against:
            continue
        found = next((d / lib for d in dirs if (d / lib).exists()), None)
        if found is None:
            problems.append(
                f"{info.path}: needs {lib}, which is in neither the wheel, the wheels it is "
                "checked with, nor the sysroot"
            )
            continue
        asked = info.version_needs.get(lib, frozenset())
        if not asked:
            continue
        missing = sorted(asked - version_definitions(found.resolve()))
        if missing:
            problems.append(
                f"{info.path}: needs {', '.join(missing)} of {lib}, which the target's "
                f"{lib} does not define (too new a compiler or library for the board)"
            )
    return problems


def check_foreign_wheel(
    wheel: Path,
    sysroot: Sysroot,
    *,
    arch: str | None = None,
    against: Sequence[Path] = (),
) -> list[str]:
    """What would stop ``wheel`` from loading on the target; an empty list when nothing would.

    ``against`` names the wheels or directories it is installed with (torch for torchvision).
    """
    machine = normalize_arch(arch or sysroot.arch)
    problems = _tag_problems(wheel, machine)
    elfs = [e for e in wheel_elfs(wheel) if e.machine not in DEVICE_MACHINES]
    inside = {e.name for e in elfs} | {e.soname for e in elfs if e.soname}
    provided = _names_in(against)
    dirs = sysroot_library_dirs(sysroot)
    for info in elfs:
        if not same_arch(info.machine, machine):
            problems.append(f"{info.path}: built for {info.machine}, not {machine}")
            continue
        if info.kind == "ET_REL":
            continue  # object files are linked, never loaded
        problems.extend(_needs(info, inside, provided, dirs))
    return problems
