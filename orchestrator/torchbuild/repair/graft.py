"""Finding a needed library on this machine, to copy it into the wheel.

Libraries are looked up the way the loader would on the build machine, without running it:
first the needing file's own absolute run paths from the build (where a dependency built
alongside lives), then ``LD_LIBRARY_PATH``, then the ``ldconfig -p`` cache (which is what
``/etc/ld.so.conf`` lists), then the standard and multiarch directories, including the
``/usr/<triplet>/lib`` ones cross toolchains install. A candidate counts only if it is an ELF
file for the wheel's machine, so a host library is never grafted into a cross-built wheel.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .. import run
from ..elf import read_elf, same_arch

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["find_library", "ldconfig_cache"]

_TRIPLETS = {
    "x86_64": ("x86_64-linux-gnu",),
    "aarch64": ("aarch64-linux-gnu",),
    "armv7l": ("arm-linux-gnueabihf",),
    "i686": ("i386-linux-gnu",),
    "ppc64le": ("powerpc64le-linux-gnu",),
    "s390x": ("s390x-linux-gnu",),
    "riscv64": ("riscv64-linux-gnu",),
}


@functools.lru_cache(maxsize=1)
def ldconfig_cache() -> tuple[tuple[str, Path], ...]:
    """``(soname, path)`` pairs of the loader cache, as ``ldconfig -p`` prints them."""
    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        done = run.probe([ldconfig, "-p"], timeout=30)
        if done is not None and done.ok:
            pairs = []
            for line in done.stdout.splitlines():
                name, arrow, target = line.strip().partition(" => ")
                if arrow:
                    pairs.append((name.split(" (", 1)[0].strip(), Path(target.strip())))
            return tuple(pairs)
    return ()


def _default_dirs(arch: str) -> list[Path]:
    dirs: list[Path] = []
    for triplet in _TRIPLETS.get(arch, ()):
        dirs += [Path("/lib", triplet), Path("/usr/lib", triplet), Path("/usr", triplet, "lib")]
    return [*dirs, Path("/lib64"), Path("/usr/lib64"), Path("/lib"), Path("/usr/lib")]


def find_library(name: str, arch: str, first: Sequence[str] = ()) -> Path | None:
    """The file the loader would find for ``name`` for ``arch``; ``None`` when there is none."""
    candidates = [Path(d, name) for d in first if d.startswith("/")]
    env = os.environ.get("LD_LIBRARY_PATH", "")
    candidates += [Path(d, name) for d in env.split(":") if d]
    candidates += [path for soname, path in ldconfig_cache() if soname == name]
    candidates += [d / name for d in _default_dirs(arch)]
    for candidate in candidates:
        if not candidate.is_file():
            continue
        info = read_elf(candidate)
        if info is not None and same_arch(info.machine, arch):
            return candidate.resolve()
    return None
