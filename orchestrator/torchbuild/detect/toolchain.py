"""Compilers and build tools: cc, c++, cmake, ninja, ccache, git.

On a host each tool is run once with ``--version`` (in parallel, under a timeout); in a mounted
root nothing is run and versions come from the package database.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Mapping

from .. import run
from ..target import Tool

if TYPE_CHECKING:
    from .fs import Root
    from .packages import Packages

__all__ = [
    "PARSERS",
    "parse_ccache_version",
    "parse_cmake_version",
    "parse_compiler_version",
    "parse_git_version",
    "parse_ninja_version",
    "probe_tool",
    "root_tool",
]

_GCC = re.compile(
    r"^\S*(?:gcc|g\+\+|cc|c\+\+)(?:-\d+)?\s+\(.*\)\s+(\d+\.\d+(?:\.\d+)?)", re.MULTILINE
)
_CLANG = re.compile(r"clang version (\d+\.\d+(?:\.\d+)?)")


def parse_compiler_version(text: str) -> str | None:
    """gcc/g++/cc (``gcc (Debian 12.2.0-14) 12.2.0``, ``gcc (Raspbian 10.2.1-6+rpi1) 10.2.1
    20210110``) or clang (``Debian clang version 14.0.6``)."""
    m = _CLANG.search(text) or _GCC.search(text)
    if m:
        return m.group(1)
    # Cross and vendor builds (aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0).
    first = text.strip().splitlines()[0] if text.strip() else ""
    m = re.search(r"\)\s+(\d+\.\d+(?:\.\d+)?)", first)
    return m.group(1) if m else None


def parse_cmake_version(text: str) -> str | None:
    m = re.search(
        r"cmake3?\s+version\s*:?\s*(?:version\s+)?(\d+\.\d+(?:\.\d+)?(?:-rc\d+)?)",
        text,
        re.IGNORECASE,
    )
    return m.group(1) if m else None


def parse_ninja_version(text: str) -> str | None:
    m = re.match(r"\s*(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def parse_ccache_version(text: str) -> str | None:
    m = re.search(r"ccache version (\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def parse_git_version(text: str) -> str | None:
    m = re.search(r"git version (\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


PARSERS: dict[str, Callable[[str], str | None]] = {
    "cc": parse_compiler_version,
    "cxx": parse_compiler_version,
    "cmake": parse_cmake_version,
    "ninja": parse_ninja_version,
    "ccache": parse_ccache_version,
    "git": parse_git_version,
}

# Executable names tried in order; CC/CXX from the environment come first.
_CANDIDATES = {
    "cc": ("cc", "gcc", "clang"),
    "cxx": ("c++", "g++", "clang++"),
    "cmake": ("cmake", "cmake3"),
    "ninja": ("ninja", "ninja-build"),
    "ccache": ("ccache",),
    "git": ("git",),
}
_ENV = {"cc": "CC", "cxx": "CXX"}


def probe_tool(name: str, env: Mapping[str, str], timeout: float) -> Tool | None:
    search = env.get("PATH", "")
    names = list(_CANDIDATES[name])
    if name in _ENV and env.get(_ENV[name]):
        # CC="ccache gcc" is common: the compiler is the last word.
        names.insert(0, env[_ENV[name]].split()[-1])
    for candidate in names:
        path = run.which(candidate, search)
        if path is None:
            continue
        out = run.probe([str(path), "--version"], timeout=timeout, env=env)
        version = PARSERS[name](out.stdout + out.stderr) if out else None
        return Tool(str(path), version)
    return None


# Packages that provide each tool on Debian/Ubuntu (and Alpine), for a root we may not run.
_ROOT_PACKAGES = {
    "cmake": (r"cmake",),
    "ninja": (r"ninja-build", r"ninja", r"samurai"),
    "ccache": (r"ccache",),
    "git": (r"git",),
}


def root_tool(root: Root, name: str, packages: Packages) -> Tool | None:
    for candidate in _CANDIDATES[name]:
        path = f"/usr/bin/{candidate}"
        resolved = root.resolve(path)
        if resolved is None or not root.is_file(path):
            continue
        return Tool(path, _root_version(name, resolved, packages))
    return None


def _root_version(name: str, resolved: str, packages: Packages) -> str | None:
    if name in ("cc", "cxx"):
        # /usr/bin/cc -> /etc/alternatives/cc -> /usr/bin/gcc -> gcc-12 (package gcc-12).
        base = resolved.rsplit("/", 1)[-1]
        m = re.search(r"(gcc|g\+\+|clang|clang\+\+)-(\d+(?:\.\d+)?)$", base)
        if m:
            return packages.version(f"{m.group(1)}-{m.group(2)}") or packages.version(
                f"{'gcc' if m.group(1).startswith('g') else 'clang'}-{m.group(2)}"
            )
        for pkg in ("gcc", "g++") if base.startswith("g") or base in ("cc", "c++") else ("clang",):
            version = packages.version(pkg)
            if version:
                # The Debian "gcc" package is versioned by its major only (4:12.2.0-3): use the
                # real compiler package where there is one.
                major = version.split(".")[0]
                return packages.version(f"gcc-{major}") or version
        return None
    for pkg in _ROOT_PACKAGES[name]:
        version = packages.version(pkg)
        if version:
            return version
    return None
