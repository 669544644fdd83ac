"""Distributed compiles with distcc: the host list, the job count it supports, and the
environment that sends a build's compiles to the hosts.

distcc ships only compiles: the client preprocesses (plain mode) or the hosts do (pump mode,
``,cpp``), the host compiles to an object file, and everything else (CMake's configure, code
generation, linking, archive steps) runs on this machine. A compile distcc cannot ship (nvcc,
an unknown source suffix, a host that does not answer) runs locally instead.

With ccache in the build, ccache stays first and distcc runs only on a miss
(``CCACHE_PREFIX``). Without a cache, a directory of links named like the compilers and
pointing at distcc goes first on ``PATH``; distcc, called by a compiler's name, runs the next
compiler of that name on ``PATH``. No ``CMAKE_<LANG>_COMPILER_LAUNCHER`` is set for distcc:
CMake finds the compiler through those links, and distcc given one of its own links as the
compiler calls itself forever.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .. import run
from ..errors import InputError, ToolchainError
from .compiler_cache import masquerade

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .compiler_cache import CompilerCache

__all__ = [
    "DEFAULT_PORT",
    "Distcc",
    "DistccHost",
    "DistccHosts",
    "cmake_launchers",
    "find_distcc",
    "parse_hosts",
]

DEFAULT_PORT = 3632
# distcc's own defaults for a host without /LIMIT.
_REMOTE_SLOTS = 4
_LOCAL_SLOTS = 2
_OPTIONS = ("lzo", "cpp", "auth")
_NUMBER = re.compile(r"[0-9]+\Z")


@dataclass(frozen=True)
class DistccHost:
    """One entry of a distcc host list."""

    spec: str  # as written
    kind: Literal["localhost", "tcp", "ssh"]  #: localhost runs here, without a daemon
    host: str
    port: int | None  # tcp only
    user: str | None  # ssh only, when named
    command: str | None  # ssh only: the distccd to start on the host
    slots: int  # /LIMIT, else distcc's default
    options: tuple[str, ...]  # lzo, cpp, auth or auth=NAME


@dataclass(frozen=True)
class DistccHosts:
    """A parsed DISTCC_HOSTS value."""

    text: str  # the value, whitespace normalised and comments dropped
    hosts: tuple[DistccHost, ...]
    randomize: bool = False
    local_slots: int | None = None  # --localslots: local jobs that cannot be shipped
    local_slots_cpp: int | None = None  # --localslots_cpp: local preprocessors
    zeroconf: bool = False  # +zeroconf: hosts found at run time, slots unknown here

    @property
    def slots(self) -> int:
        """Compile jobs the listed hosts take at once (localhost included)."""
        return sum(h.slots for h in self.hosts)

    @property
    def remote_slots(self) -> int:
        """Compile jobs that leave this machine."""
        return sum(h.slots for h in self.hosts if h.kind != "localhost")

    def jobs(self, local_jobs: int) -> int:
        """The build's job count: every host slot busy, never fewer than ``local_jobs``."""
        return max(local_jobs, self.slots)


@dataclass(frozen=True)
class Distcc:
    """distcc found on this machine, its hosts, and how a build's environment uses it."""

    executable: Path
    hosts: DistccHosts
    env: Mapping[str, str]  # variables to add to the build environment
    path_prefix: Path | None  # goes first on PATH (compiler masquerade links), no-cache builds
    via_cache: bool  # True: ccache calls distcc on a miss (CCACHE_PREFIX)


def parse_hosts(text: str) -> DistccHosts:
    """Parse a host list in DISTCC_HOSTS syntax; InputError names the entry that is wrong."""
    hosts: list[DistccHost] = []
    words: list[str] = []
    randomize = zeroconf = False
    local_slots: int | None = None
    local_slots_cpp: int | None = None
    for line in text.splitlines():
        for word in line.split("#", 1)[0].split():
            words.append(word)
            if word == "--randomize":
                randomize = True
            elif word == "+zeroconf":
                zeroconf = True
            elif word.startswith("--localslots_cpp="):
                local_slots_cpp = _count(word, word.split("=", 1)[1])
            elif word.startswith("--localslots="):
                local_slots = _count(word, word.split("=", 1)[1])
            elif word.startswith("-"):
                raise InputError(
                    f"distcc hosts: unknown option {word!r}",
                    hint="distcc knows --randomize, --localslots=N and --localslots_cpp=N",
                )
            else:
                hosts.append(_parse_host(word))
    if not hosts and not zeroconf:
        raise InputError(
            f"distcc hosts {text!r} names no host",
            hint="list hosts like 'localhost/2 build1/8 10.0.0.7:3632/16'",
        )
    return DistccHosts(
        " ".join(words), tuple(hosts), randomize, local_slots, local_slots_cpp, zeroconf
    )


def _parse_host(spec: str) -> DistccHost:
    base, *options = spec.split(",")
    for option in options:
        if option.split("=", 1)[0] not in _OPTIONS or option in ("", "auth="):
            raise InputError(
                f"distcc host {spec!r}: unknown option {option!r}",
                hint="host options are ,lzo ,cpp and ,auth[=NAME]",
            )
    if base == "localhost" or base.startswith("localhost/"):
        slots = _limit(spec, base[len("localhost/") :]) if "/" in base else _LOCAL_SLOTS
        return DistccHost(spec, "localhost", "localhost", None, None, None, slots, tuple(options))
    if "@" in base:
        user, _, rest = base.partition("@")
        host, rest = _host_id(spec, rest)
        slots = _REMOTE_SLOTS
        command: str | None = None
        if rest.startswith("/"):
            number, _, command_part = rest[1:].partition(":")
            slots = _limit(spec, number)
            command = command_part or None
        elif rest.startswith(":"):
            command = rest[1:] or None
        elif rest:
            raise _bad(spec)
        return DistccHost(spec, "ssh", host, None, user or None, command, slots, tuple(options))
    host, rest = _host_id(spec, base)
    port: int | None = None
    limit: int | None = None
    # ":PORT/LIMIT" and the older "/LIMIT:PORT" are both distcc syntax.
    parts = re.findall(r"[:/][^:/]*", rest)
    if "".join(parts) != rest:
        raise _bad(spec)
    for part in parts:
        if part[0] == ":" and port is None:
            port = _count(spec, part[1:])
            if port > 65535:
                raise _bad(spec)
        elif part[0] == "/" and limit is None:
            limit = _limit(spec, part[1:])
        else:
            raise _bad(spec)
    slots = limit if limit is not None else _REMOTE_SLOTS
    return DistccHost(spec, "tcp", host, port or DEFAULT_PORT, None, None, slots, tuple(options))


def _host_id(spec: str, text: str) -> tuple[str, str]:
    """The host name or address at the start of ``text``, and what follows it."""
    if text.startswith("["):  # an IPv6 address: [::1]
        end = text.find("]")
        if end <= 1:
            raise _bad(spec)
        return text[1:end], text[end + 1 :]
    match = re.match(r"[^:/\[\]]+", text)
    if match is None:
        raise _bad(spec)
    return match.group(0), text[match.end() :]


def _limit(spec: str, text: str) -> int:
    value = _count(spec, text)
    if value < 1:
        raise InputError(
            f"distcc host {spec!r}: a job limit must be at least 1",
            hint="write HOST/N with N the number of compiles that host takes at once",
        )
    return value


def _count(spec: str, text: str) -> int:
    if not _NUMBER.match(text):
        raise _bad(spec)
    return int(text)


def _bad(spec: str) -> InputError:
    return InputError(
        f"distcc host {spec!r} is not in DISTCC_HOSTS syntax",
        hint="write HOST[:PORT][/N][,lzo], [USER]@HOST[/N][:COMMAND] or localhost[/N]",
    )


def find_distcc(
    hosts_text: str | None,
    *,
    cache: CompilerCache | None,
    cache_dir: Path,
    compilers: Sequence[str],
) -> Distcc | None:
    """distcc set up for ``hosts_text`` (DISTCC_HOSTS syntax); None when no hosts are given.

    ``cache`` is the build's compiler cache: ccache then calls distcc on a miss. sccache
    cannot hand a compile to distcc, so the two together are refused.
    """
    if hosts_text is None or not hosts_text.strip():
        return None
    hosts = parse_hosts(hosts_text)
    exe = run.which("distcc")
    if exe is None:
        raise ToolchainError(
            "distcc hosts were given but distcc is not installed",
            hint="install it (Debian: apt-get install distcc), or drop --distcc-hosts",
        )
    env = {"DISTCC_HOSTS": hosts.text}
    # distcc keeps its locks and host back-off state here; a DISTCC_DIR the user chose stays.
    state = os.environ.get("DISTCC_DIR")
    if not state:
        # distcc makes its lock/ and state/ inside but not the directory itself; without it
        # every compile falls back to this machine.
        (cache_dir / "distcc").mkdir(parents=True, exist_ok=True)
        state = str(cache_dir / "distcc")
    env["DISTCC_DIR"] = state
    if cache is not None and cache.tool == "ccache":
        env["CCACHE_PREFIX"] = str(exe)
        return Distcc(exe, hosts, env, None, via_cache=True)
    if cache is not None:
        raise InputError(
            f"distcc cannot be combined with {cache.tool}",
            hint="use --compiler-cache ccache (it calls distcc on a miss) or --compiler-cache none",
        )
    prefix = masquerade(exe, cache_dir / "distcc-bin", compilers)
    if prefix is None:
        raise ToolchainError(
            "distcc hosts were given but no compiler was found on PATH to send to them",
            hint="install a C/C++ compiler (Debian: apt-get install g++)",
        )
    return Distcc(exe, hosts, env, prefix, via_cache=False)


def cmake_launchers(
    env: Mapping[str, str], cache_exe: Path, cache_links: Path | None
) -> dict[str, str | None]:
    """How ``CMAKE_<LANG>_COMPILER_LAUNCHER`` change when ccache calls distcc (None: removed).

    C/C++: CMake looks a compiler up on ``PATH`` and finds ccache's link there, so with the
    launcher ccache gets its own link as the compiler and hands that link, not the real
    compiler, to distcc, which loops until distcc stops it. The link alone already runs ccache.
    A compiler named by absolute path in CC/CXX (outside the links) is what CMake uses instead,
    and only the launcher puts ccache in front of it: that one stays.

    CUDA: ccache keeps caching nvcc, but without the distcc prefix: distcc cannot ship nvcc and
    runs it here, and the host compiler nvcc then calls (through ccache's link) would start
    distcc inside distcc, which distcc refuses.
    """
    changes: dict[str, str | None] = {}
    for lang, var in (("C", "CC"), ("CXX", "CXX")):
        named = env.get(var, "").strip()
        if cache_links is None or (
            named and Path(named).is_absolute() and Path(named).parent != cache_links
        ):
            continue
        changes[f"CMAKE_{lang}_COMPILER_LAUNCHER"] = None
    if "CMAKE_CUDA_COMPILER_LAUNCHER" in env:
        launcher = [str(run.which("env") or "/usr/bin/env"), "CCACHE_PREFIX=", str(cache_exe)]
        changes["CMAKE_CUDA_COMPILER_LAUNCHER"] = ";".join(launcher)  # a CMake list
    return changes
