"""A compiler cache (ccache or sccache) wired into both kinds of build torchbuild runs.

CMake builds (torch) pick the cache up from ``CMAKE_<LANG>_COMPILER_LAUNCHER`` in the
environment (CMake >= 3.17). setuptools builds (torchvision, torchaudio, cpp_extension) run
``gcc``/``g++``/``c++`` by name from ``PATH``, so for ccache a directory of symlinks named like
the compilers and pointing at ccache goes first on ``PATH``: ccache, called by a compiler's name,
runs the next compiler of that name on ``PATH`` and skips itself. ``CCACHE_BASEDIR`` and
``CCACHE_NOHASHDIR`` make two build directories of the same tree (a rebuild after a clean, a
second Python version) share their hits.

A remote URL (``redis://HOST:PORT``) makes the cache shared between machines: ccache 4.4+ looks
in its local directory, then in the remote storage, and writes what it compiles to both; nvcc
compiles are cached too (ccache is nvcc's ``CMAKE_CUDA_COMPILER_LAUNCHER``). A base directory
that holds both the build trees and the build environments makes the keys independent of where
each machine keeps them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import run
from ..errors import InputError, ToolchainError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["CacheStats", "CompilerCache", "ccache_version", "find_compiler_cache"]

TOOLS = ("ccache", "sccache")
_LAUNCHER_VARS = (
    "CMAKE_C_COMPILER_LAUNCHER",
    "CMAKE_CXX_COMPILER_LAUNCHER",
    "CMAKE_CUDA_COMPILER_LAUNCHER",
)
# Schemes each tool can use as shared remote storage: ccache's remote_storage backends, and
# sccache's Redis (the one backend that a single URL configures).
_CCACHE_REMOTE = ("redis", "rediss", "http", "https", "file")
_SCCACHE_REMOTE = ("redis", "rediss")
_CCACHE_REMOTE_SINCE = (4, 4)
_STATS_TIMEOUT = 60.0


@dataclass(frozen=True)
class CacheStats:
    """Cache hits and misses, as counted by the tool (cumulative, or the difference of two)."""

    hits: int
    misses: int
    #: Of ``hits``, those served from shared remote storage (another machine's compiles).
    remote_hits: int = 0

    def rate(self) -> float | None:
        """Hits as a fraction of cacheable compilations; None before any."""
        total = self.hits + self.misses
        return self.hits / total if total else None

    def since(self, before: CacheStats) -> CacheStats:
        """What happened between ``before`` and these counts (a build's own hits and misses)."""
        return CacheStats(
            max(0, self.hits - before.hits),
            max(0, self.misses - before.misses),
            max(0, self.remote_hits - before.remote_hits),
        )


@dataclass(frozen=True)
class CompilerCache:
    """A compiler cache found on this machine and the environment that makes builds use it."""

    tool: Literal["ccache", "sccache"]
    executable: Path
    env: Mapping[str, str]  # variables to add to the build environment
    path_prefix: Path | None  # goes first on PATH (compiler masquerade links)

    def stats(self) -> CacheStats | None:
        """The tool's hit and miss counts now; None when it cannot tell."""
        env = {**os.environ, **self.env}
        if self.tool == "ccache":
            done = run.probe(
                [str(self.executable), "--print-stats"], timeout=_STATS_TIMEOUT, env=env
            )
            if done is not None and done.ok:
                found = parse_ccache_print_stats(done.stdout)
                if found is not None:
                    return found
            # ccache < 3.7 has no --print-stats; its -s lists the same counters in words.
            done = run.probe([str(self.executable), "-s"], timeout=_STATS_TIMEOUT, env=env)
            return parse_ccache_summary(done.stdout) if done is not None and done.ok else None
        done = run.probe(
            [str(self.executable), "--show-stats", "--stats-format", "json"],
            timeout=_STATS_TIMEOUT,
            env=env,
        )
        return parse_sccache_json(done.stdout) if done is not None and done.ok else None


def find_compiler_cache(
    setting: str, *, cache_dir: Path, base_dir: Path, compilers: Sequence[str]
) -> CompilerCache | None:
    """The compiler cache for ``setting`` ("auto", "none", "ccache", "sccache" or a remote URL).

    None when the setting is "none" or the tool is not installed. A URL (``redis://host:port``)
    names shared storage: ccache (else sccache) is used with it as remote storage.
    """
    choice = setting.strip()
    if choice.lower() == "none":
        return None
    remote: str | None = None
    if "://" in choice:
        remote = choice
        scheme = choice.split("://", 1)[0].lower()
        candidates = [t for t in TOOLS if scheme in _remote_schemes(t)]
        if not candidates:
            raise InputError(
                f"compiler cache URL {choice!r}: no cache tool speaks {scheme}://",
                hint="use redis://HOST:PORT (ccache or sccache) or http(s):// (ccache)",
            )
    elif choice.lower() == "auto":
        candidates = list(TOOLS)
    elif choice.lower() in TOOLS:
        candidates = [choice.lower()]
    else:
        raise InputError(
            f"unknown compiler cache setting {setting!r}",
            hint="use auto, none, ccache, sccache, or a remote cache URL like redis://HOST:PORT",
        )
    too_old: str | None = None
    for tool in candidates:
        exe = run.which(tool)
        if exe is None:
            continue
        if tool == "ccache":
            version = ccache_version(exe) if remote is not None else None
            if version is not None and version < _CCACHE_REMOTE_SINCE:
                # An older ccache ignores the remote setting and would share nothing.
                too_old = ".".join(map(str, version))
                continue
            return _ccache(exe, cache_dir, base_dir, compilers, remote, version)
        return _sccache(exe, cache_dir, base_dir, remote)
    if too_old is not None:
        raise ToolchainError(
            f"ccache {too_old} cannot use a shared cache: remote storage needs ccache 4.4 or newer",
            hint="install ccache 4.4+ (or sccache for redis://), or use --compiler-cache ccache",
        )
    return None


def ccache_version(exe: Path) -> tuple[int, ...] | None:
    """ccache's version from ``ccache --version`` (``(4, 7, 5)``); None when it cannot tell."""
    done = run.probe([str(exe), "--version"], timeout=_STATS_TIMEOUT)
    if done is None or not done.ok:
        return None
    found = re.search(r"ccache version (\d+(?:\.\d+)*)", done.stdout)
    return tuple(int(x) for x in found.group(1).split(".")) if found else None


def _remote_schemes(tool: str) -> tuple[str, ...]:
    return _CCACHE_REMOTE if tool == "ccache" else _SCCACHE_REMOTE


def _ccache(
    exe: Path,
    cache_dir: Path,
    base_dir: Path,
    compilers: Sequence[str],
    remote: str | None,
    version: tuple[int, ...] | None = None,
) -> CompilerCache:
    env = dict.fromkeys(_LAUNCHER_VARS, str(exe))
    # A cache directory the user chose (their own CCACHE_DIR) is theirs to keep using.
    env["CCACHE_DIR"] = os.environ.get("CCACHE_DIR") or str(cache_dir / "ccache")
    env["CCACHE_BASEDIR"] = str(base_dir)
    env["CCACHE_NOHASHDIR"] = "1"
    if remote is not None:
        # 4.4 and 4.5 called it secondary storage; 4.6 renamed the setting.
        old = version is not None and version < (4, 6)
        env["CCACHE_SECONDARY_STORAGE" if old else "CCACHE_REMOTE_STORAGE"] = remote
    links = masquerade(exe, cache_dir / "ccache-bin", compilers)
    return CompilerCache("ccache", exe, env, links)


def _sccache(exe: Path, cache_dir: Path, base_dir: Path, remote: str | None) -> CompilerCache:
    env = dict.fromkeys(_LAUNCHER_VARS, str(exe))
    if remote is not None:
        env["SCCACHE_REDIS"] = remote
    else:
        env["SCCACHE_DIR"] = os.environ.get("SCCACHE_DIR") or str(cache_dir / "sccache")
    # sccache >= 0.15 strips these prefixes from paths in its keys (older ones ignore it).
    env["SCCACHE_BASEDIRS"] = str(base_dir)
    # sccache cannot be called by a compiler's name, so setuptools builds go uncached with it.
    return CompilerCache("sccache", exe, env, None)


def masquerade(exe: Path, directory: Path, compilers: Sequence[str]) -> Path | None:
    """A directory of symlinks ``<compiler> -> exe`` (ccache, distcc) for the compilers on PATH.

    A name with no real compiler behind it gets no link: ccache would then fail with its own
    message where the build would have said which compiler is missing.
    """
    names = [c for c in dict.fromkeys(compilers) if "/" not in c and _real_compiler(c, exe)]
    if not names:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = directory / name
        with contextlib.suppress(OSError):
            if link.is_symlink() and Path(os.readlink(link)) == exe:
                continue
        # Made under a temporary name and renamed over: a build starting at the same moment
        # never finds the name missing or pointing elsewhere.
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        try:
            tmp.symlink_to(exe)
            tmp.replace(link)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    return directory


def _real_compiler(name: str, cache_exe: Path) -> bool:
    found = run.which(name)
    return found is not None and found.resolve() != cache_exe.resolve()


# -- stats parsers (fed the tools' real output in tests) -------------------------------------


def parse_ccache_print_stats(text: str) -> CacheStats | None:
    """``ccache --print-stats`` (3.7+): one ``key<TAB>value`` counter per line."""
    counters: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        if value.strip().isdigit():
            counters[key.strip()] = int(value)
    if "cache_miss" not in counters:
        return None
    # A hit from remote storage is also a direct or preprocessed hit (ccache 4.4+ counts where
    # it came from separately: "secondary_storage_hit" in 4.4-4.5, "remote_storage_hit" since).
    hits = counters.get("direct_cache_hit", 0) + counters.get("preprocessed_cache_hit", 0)
    remote = counters.get("remote_storage_hit", counters.get("secondary_storage_hit", 0))
    return CacheStats(hits, counters["cache_miss"], remote)


_S_HIT_3 = re.compile(r"^cache hit \((?:direct|preprocessed)\)\s+(\d+)\s*$", re.MULTILINE)
_S_MISS_3 = re.compile(r"^cache miss\s+(\d+)\s*$", re.MULTILINE)
_S_HITS_4 = re.compile(r"^\s*Hits:\s+(\d+)\s*/", re.MULTILINE)
_S_MISSES_4 = re.compile(r"^\s*Misses:\s+(\d+)\s*/", re.MULTILINE)
# 4.6+: "Remote storage:" then its own "Hits:" line (4.4-4.5 say "Secondary storage:").
_S_REMOTE_4 = re.compile(r"^(?:Remote|Secondary) storage:\s*\n\s*Hits:\s+(\d+)\s*/", re.MULTILINE)


def parse_ccache_summary(text: str) -> CacheStats | None:
    """``ccache -s``: 3.x's ``cache hit (direct)  N`` lines or 4.x's ``Hits: N / M``."""
    misses3 = _S_MISS_3.findall(text)
    if misses3:
        return CacheStats(sum(int(h) for h in _S_HIT_3.findall(text)), int(misses3[0]))
    hits4, misses4 = _S_HITS_4.search(text), _S_MISSES_4.search(text)
    if hits4 and misses4:  # the first Hits/Misses pair is the overall one
        remote = _S_REMOTE_4.search(text)
        return CacheStats(
            int(hits4.group(1)), int(misses4.group(1)), int(remote.group(1)) if remote else 0
        )
    return None


def parse_sccache_json(text: str) -> CacheStats | None:
    """``sccache --show-stats --stats-format json``: hits and misses summed over languages."""
    try:
        data: Any = json.loads(text)
        stats = data["stats"]
        hits = sum(int(v) for v in stats["cache_hits"]["counts"].values())
        misses = sum(int(v) for v in stats["cache_misses"]["counts"].values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return CacheStats(hits, misses)
