"""The wheel tags a Target accepts, computed from its facts, never from the host running us.

The list is what pip would compute *on the target* (or with ``--python-version``/``--abi``/
``--platform`` for it): ``packaging.tags.cpython_tags`` + ``compatible_tags`` over the target's
platform tags, best first. Platform tags are built from the target's arch and libc: every
``manylinux_2_x`` from its glibc down to the oldest the arch has (with the legacy
``manylinux1/2010/2014`` aliases where they apply), or every ``musllinux_1_x``, and
``linux_<arch>``. Free-threaded interpreters (``cp313t``) get no ``abi3`` tags, as in packaging 24.

Where ``linux_<arch>`` goes follows the installed ``packaging``: last up to 26.2, first from 26.3
(a wheel built on the machine beats a manylinux one; pip 26.3 vendors that). It only matters when
one version has both kinds of file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import packaging
from packaging import tags as ptags
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import InputError

if TYPE_CHECKING:
    from ..target import Target

__all__ = [
    "TagSet",
    "glibc_of_platform",
    "interpreter_label",
    "platform_tags",
    "python_admits",
    "python_tuple",
    "tag_set",
]

# Arches that manylinux tags exist for (packaging's _manylinux._is_compatible); armv7l only for
# hard-float userlands, which every armv7l distribution torchbuild targets is.
_MANYLINUX_ARCHES = frozenset(
    {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x", "riscv64", "loongarch64"}
)
# The oldest glibc a manylinux tag exists for: 2.5 on x86, 2.17 everywhere else.
_OLDEST_GLIBC_MINOR = {"x86_64": 5, "i686": 5}
_LEGACY = {
    17: ("manylinux2014", {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"}),
    12: ("manylinux2010", {"x86_64", "i686"}),
    5: ("manylinux1", {"x86_64", "i686"}),
}
#: What torchbuild assumes when a profile does not know its glibc: the manylinux2014 floor.
ASSUMED_GLIBC = "2.17"
#: packaging 26.3 moved ``linux_<arch>`` before the manylinux tags (pypa/packaging#160).
LINUX_FIRST = Version(packaging.__version__) >= Version("26.3")


def _minor_pair(version: str, what: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", version.strip())
    if not match:
        raise InputError(f"cannot read {what} version {version!r}")
    return int(match.group(1)), int(match.group(2))


def python_tuple(target: Target) -> tuple[int, int]:
    if target.python is None:
        raise InputError(
            "the target has no Python interpreter, so no wheel can be chosen for it",
            hint="plan for a profile with a Python (`torchbuild detect --json` on the device)",
        )
    return _minor_pair(target.python.version, "Python")


def interpreter_label(target: Target) -> str:
    """``cp311``, ``cp314t``, ``pp310``: the interpreter as wheel tags name it."""
    major, minor = python_tuple(target)
    assert target.python is not None
    if target.python.implementation == "pypy":
        return f"pp{major}{minor}"
    return f"cp{major}{minor}" + ("t" if target.python.free_threaded else "")


def _abi(target: Target) -> str:
    assert target.python is not None
    if target.python.abi:
        return target.python.abi
    major, minor = python_tuple(target)
    return f"cp{major}{minor}" + ("t" if target.python.free_threaded else "")


#: The macOS release assumed when a profile does not say (``distro.version``): new enough that
#: every macOS wheel on the indexes counts, as pip on a current Mac would see them.
ASSUMED_MACOS = (15, 0)
#: Windows platform tags by the interpreter's machine: a 32-bit Python is ``win32`` even on
#: 64-bit Windows, which is why it finds no torch.
_WINDOWS = {"x86_64": "win_amd64", "i686": "win32", "aarch64": "win_arm64"}


def _macos_version(target: Target) -> tuple[int, int]:
    version = target.distro.version if target.distro else None
    if version:
        match = re.match(r"^(\d+)(?:\.(\d+))?", version)
        if match:
            return int(match.group(1)), int(match.group(2) or 0)
    return ASSUMED_MACOS


def platform_tags(target: Target, *, linux_first: bool | None = None) -> list[str]:
    """Platform tags the target accepts, best first (what pip calls ``--platform``)."""
    if target.os == "macos":
        arch = "arm64" if target.arch == "aarch64" else target.arch
        return list(ptags.mac_platforms(_macos_version(target), arch))
    if target.os == "windows":
        return [_WINDOWS[target.arch]] if target.arch in _WINDOWS else []
    if target.os != "linux":
        return []
    arch = target.arch
    linux_first = LINUX_FIRST if linux_first is None else linux_first
    out: list[str] = [f"linux_{arch}"] if linux_first else []
    if target.libc.name == "musl":
        if target.libc.version:
            major, minor = _minor_pair(target.libc.version, "musl")
            if major == 1:
                out.extend(f"musllinux_1_{m}_{arch}" for m in range(minor, -1, -1))
    elif arch in _MANYLINUX_ARCHES:
        _, glibc_minor = _minor_pair(target.libc.version or ASSUMED_GLIBC, "glibc")
        oldest = _OLDEST_GLIBC_MINOR.get(arch, 17)
        for minor in range(glibc_minor, oldest - 1, -1):
            out.append(f"manylinux_2_{minor}_{arch}")
            legacy = _LEGACY.get(minor)
            if legacy and arch in legacy[1]:
                out.append(f"{legacy[0]}_{arch}")
    if not linux_first:
        out.append(f"linux_{arch}")
    return out


def glibc_of_platform(platform: str) -> tuple[int, int] | None:
    """The glibc a manylinux platform tag needs, or None for any other tag."""
    match = re.match(r"^manylinux_(\d+)_(\d+)_", platform)
    if match:
        return int(match.group(1)), int(match.group(2))
    for minor, (name, _) in _LEGACY.items():
        if platform.startswith(name + "_"):
            return 2, minor
    return None


@dataclass(frozen=True)
class TagSet:
    """The target's supported tags in pip's order of preference (index 0 is best)."""

    tags: tuple[ptags.Tag, ...]
    platforms: tuple[str, ...]
    interpreter: str
    abi: str

    def rank(self, tag: ptags.Tag) -> int | None:
        return self._ranks().get(tag)

    def best_rank(self, tags: frozenset[ptags.Tag]) -> int | None:
        ranks = self._ranks()
        found = [ranks[t] for t in tags if t in ranks]
        return min(found) if found else None

    def _ranks(self) -> dict[ptags.Tag, int]:
        cached: dict[ptags.Tag, int] | None = self.__dict__.get("_rank_cache")
        if cached is None:
            cached = {}
            for i, tag in enumerate(self.tags):
                cached.setdefault(tag, i)
            object.__setattr__(self, "_rank_cache", cached)
        return cached

    @property
    def best_platform(self) -> str:
        """The most specific portable platform (``manylinux_2_35_x86_64``), for messages."""
        portable = [p for p in self.platforms if not p.startswith("linux_")]
        return (portable or list(self.platforms) or ["(no platform)"])[0]

    def accepts_interpreter(self, tag: ptags.Tag) -> bool:
        """Whether the (interpreter, abi) half of a tag suits this target, whatever its platform."""
        return any(t.interpreter == tag.interpreter and t.abi == tag.abi for t in self._pairs())

    def _pairs(self) -> list[ptags.Tag]:
        pairs: list[ptags.Tag] | None = self.__dict__.get("_pair_cache")
        if pairs is None:
            seen: dict[tuple[str, str], ptags.Tag] = {}
            for t in self.tags:
                seen.setdefault((t.interpreter, t.abi), t)
            pairs = list(seen.values())
            object.__setattr__(self, "_pair_cache", pairs)
        return pairs

    def accepts_platform(self, platform: str) -> bool:
        return platform == "any" or platform in self.platforms


def tag_set(target: Target) -> TagSet:
    """Every tag a wheel may carry to install on ``target``, best first, as pip orders them."""
    major, minor = python_tuple(target)
    assert target.python is not None
    platforms = platform_tags(target)
    abi = _abi(target)
    interpreter = interpreter_label(target)
    out: list[ptags.Tag] = []
    if target.python.implementation == "cpython":
        for tag in ptags.cpython_tags((major, minor), [abi], platforms):
            # packaging < 24 still offers abi3 to free-threaded builds; they cannot load it.
            if target.python.free_threaded and tag.abi == "abi3":
                continue
            out.append(tag)
        generic_interpreter = f"cp{major}{minor}"
    else:
        generic_interpreter = interpreter.rstrip("t")
        out.extend(ptags.generic_tags(generic_interpreter, [abi, "none"], platforms))
    out.extend(ptags.compatible_tags((major, minor), generic_interpreter, platforms))
    return TagSet(tuple(out), tuple(platforms), interpreter, abi)


def python_admits(requires: str | None, python: str | None) -> bool:
    """Whether a file's ``Requires-Python`` admits ``python`` (unknown on either side: yes).

    pip ignores a ``Requires-Python`` it cannot read, and so does torchbuild.
    """
    if not requires or python is None:
        return True
    try:
        return SpecifierSet(requires).contains(python, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True
