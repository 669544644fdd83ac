"""What wheels are for: the Target, its JSON form (a *profile*), and loading profiles and presets.

``torchbuild detect --json`` prints exactly what :func:`to_json` returns, and :func:`from_json`
reads it back, so a board's profile can be planned for on another machine. Unknown facts are
``None`` (JSON ``null``); extra keys in a profile are ignored so newer profiles still load.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from . import resources
from .errors import InputError

__all__ = [
    "ARCHES",
    "PROFILE_VERSION",
    "Board",
    "Cpu",
    "Cuda",
    "Distro",
    "Gpu",
    "Jetson",
    "Libc",
    "Python",
    "Resources",
    "Target",
    "Tool",
    "Toolchain",
    "from_json",
    "load_target",
    "preset_names",
    "to_json",
]

PROFILE_VERSION = 1
#: Normalised machine names (what ``uname -m`` says on Linux, with aliases folded).
ARCHES = ("x86_64", "aarch64", "armv7l", "armv6l", "riscv64", "ppc64le", "s390x", "i686")
#: Operating systems a profile may name. torchbuild builds for Linux only; macOS and Windows
#: profiles are planned (what PyPI offers there) and diagnosed, never built for.
OSES = ("linux", "macos", "windows")
#: Spellings other tools use for the same machine (``uname -m`` on a Mac, ``platform.machine()``
#: on Windows), folded when a profile is read.
ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "x86": "i686", "win32": "i686"}
#: The shape of each dotted version fact a profile holds: "2.36", "12.6", "8.7", "560.35.03".
_DOTTED = re.compile(r"^\d+(\.\d+)*$")
_CAPABILITY = re.compile(r"^\d+\.\d+$")
TOOL_NAMES = ("cc", "cxx", "cmake", "ninja", "ccache", "git")


@dataclass(frozen=True)
class Libc:
    name: str  # "glibc" or "musl"
    version: str | None


@dataclass(frozen=True)
class Python:
    executable: str | None
    version: str  # "3.10.12", or "3.10" when only the minor is known
    implementation: str  # "cpython", "pypy"
    abi: str  # "cp310", "cp313t"
    free_threaded: bool


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str | None


@dataclass(frozen=True)
class Cuda:
    toolkit: str | None
    nvcc: str | None
    driver: str | None
    driver_cuda: str | None
    gpus: tuple[Gpu, ...] = ()
    cudnn: str | None = None


@dataclass(frozen=True)
class Jetson:
    l4t: str
    jetpack: str | None
    soc: str | None


@dataclass(frozen=True)
class Board:
    model: str


@dataclass(frozen=True)
class Tool:
    path: str
    version: str | None


@dataclass(frozen=True)
class Toolchain:
    cc: Tool | None = None
    cxx: Tool | None = None
    cmake: Tool | None = None
    ninja: Tool | None = None
    ccache: Tool | None = None
    git: Tool | None = None


@dataclass(frozen=True)
class Resources:
    cpus: int | None = None
    memory_bytes: int | None = None
    swap_bytes: int | None = None
    disk_free_bytes: int | None = None


@dataclass(frozen=True)
class Distro:
    id: str
    version: str | None
    name: str | None


@dataclass(frozen=True)
class Cpu:
    model: str | None
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """Everything torchbuild needs to know about the machine the wheels are for."""

    os: str
    arch: str
    libc: Libc
    python: Python | None
    cuda: Cuda | None = None
    jetson: Jetson | None = None
    board: Board | None = None
    toolchain: Toolchain = field(default_factory=Toolchain)
    resources: Resources = field(default_factory=Resources)
    distro: Distro | None = None
    cpu: Cpu | None = None
    #: Where these facts came from: "host", "root:<dir>", "preset:<name>" or "file:<path>".
    origin: str = "host"

    def with_origin(self, origin: str) -> Target:
        return replace(self, origin=origin)


# -- JSON ------------------------------------------------------------------------------------


def _tool_json(tool: Tool | None) -> dict[str, Any] | None:
    return None if tool is None else {"path": tool.path, "version": tool.version}


def to_json(target: Target) -> dict[str, Any]:
    """The profile: ``{"version": 1, ...}`` with every required key, unknown facts as null."""
    cuda = target.cuda
    return {
        "version": PROFILE_VERSION,
        "os": target.os,
        "arch": target.arch,
        "libc": {"name": target.libc.name, "version": target.libc.version},
        "python": None
        if target.python is None
        else {
            "executable": target.python.executable,
            "version": target.python.version,
            "implementation": target.python.implementation,
            "abi": target.python.abi,
            "free_threaded": target.python.free_threaded,
        },
        "cuda": None
        if cuda is None
        else {
            "toolkit": cuda.toolkit,
            "nvcc": cuda.nvcc,
            "driver": cuda.driver,
            "driver_cuda": cuda.driver_cuda,
            "gpus": [
                {"name": g.name, "compute_capability": g.compute_capability} for g in cuda.gpus
            ],
            "cudnn": cuda.cudnn,
        },
        "jetson": None
        if target.jetson is None
        else {
            "l4t": target.jetson.l4t,
            "jetpack": target.jetson.jetpack,
            "soc": target.jetson.soc,
        },
        "board": None if target.board is None else {"model": target.board.model},
        "toolchain": {name: _tool_json(getattr(target.toolchain, name)) for name in TOOL_NAMES},
        "resources": {
            "cpus": target.resources.cpus,
            "memory_bytes": target.resources.memory_bytes,
            "swap_bytes": target.resources.swap_bytes,
            "disk_free_bytes": target.resources.disk_free_bytes,
        },
        "distro": None
        if target.distro is None
        else {
            "id": target.distro.id,
            "version": target.distro.version,
            "name": target.distro.name,
        },
        "cpu": None
        if target.cpu is None
        else {"model": target.cpu.model, "features": list(target.cpu.features)},
        "origin": target.origin,
    }


T = TypeVar("T")


class _Reader:
    """Reads one profile, collecting every problem so the user sees them all at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def get(
        self,
        obj: Mapping[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        where: str,
        *,
        required: bool = True,
        nullable: bool = True,
    ) -> Any:
        if key not in obj:
            if required:
                self.problems.append(f"{where}{key} is missing")
            return None
        value = obj[key]
        if value is None:
            if not nullable:
                self.problems.append(f"{where}{key} must not be null")
            return None
        # bool is an int subclass: a count given as true/false is a mistake.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.problems.append(f"{where}{key} must be {_kind_name(kind)}, not a boolean")
            return None
        if not isinstance(value, kind):
            self.problems.append(
                f"{where}{key} must be {_kind_name(kind)}, not {type(value).__name__}"
            )
            return None
        return value

    def section(
        self,
        obj: Mapping[str, Any],
        key: str,
        build: Callable[[Mapping[str, Any], str], T],
        *,
        required: bool = True,
        nullable: bool = True,
    ) -> T | None:
        value = self.get(obj, key, dict, "", required=required, nullable=nullable)
        return None if value is None else build(value, f"{key}.")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", dict: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, "a list" if k is list else k.__name__) for k in kinds)


def from_json(data: Any, *, source: str) -> Target:
    """Build a Target from a profile; raise :class:`InputError` naming every problem found."""
    if not isinstance(data, dict):
        raise InputError(f"profile {source} must be a JSON object")
    r = _Reader(source)
    version = r.get(data, "version", int, "", nullable=False)
    if version is not None and version != PROFILE_VERSION:
        r.problems.append(f"version is {version}; this torchbuild reads version {PROFILE_VERSION}")
    os_name = r.get(data, "os", str, "", nullable=False)
    if os_name is not None and os_name not in OSES:
        r.problems.append(f"os {os_name!r} is not one of {', '.join(OSES)}")
    arch = r.get(data, "arch", str, "", nullable=False)
    if arch is not None:
        arch = ARCH_ALIASES.get(arch.lower(), arch)
    if arch is not None and arch not in ARCHES:
        hint = difflib.get_close_matches(arch, ARCHES, n=1)
        r.problems.append(
            f"arch {arch!r} is not one of {', '.join(ARCHES)}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
        )

    def dotted(
        obj: Mapping[str, Any], key: str, w: str, pattern: re.Pattern[str] = _DOTTED, **kw: Any
    ) -> str | None:
        # Unknown is null; a known fact must read as a version, or it ends up in tags and
        # labels (a compute capability "abc" planned `+cu126.smabc`).
        value: str | None = r.get(obj, key, str, w, **kw)
        if value is not None and not pattern.match(value.strip()):
            r.problems.append(f"{w}{key} {value!r} is not a version like 12.6 (or null if unknown)")
            return None
        return value

    def libc(obj: Mapping[str, Any], w: str) -> Libc:
        name = r.get(obj, "name", str, w, nullable=False) or "glibc"
        if name not in ("glibc", "musl"):
            r.problems.append(f"{w}name must be glibc or musl, not {name!r}")
        return Libc(name, dotted(obj, "version", w))

    def python(obj: Mapping[str, Any], w: str) -> Python:
        return Python(
            executable=r.get(obj, "executable", str, w, required=False),
            version=dotted(obj, "version", w, nullable=False) or "",
            implementation=r.get(obj, "implementation", str, w, nullable=False) or "cpython",
            abi=r.get(obj, "abi", str, w, nullable=False) or "",
            free_threaded=bool(r.get(obj, "free_threaded", bool, w, required=False)),
        )

    def cuda(obj: Mapping[str, Any], w: str) -> Cuda:
        gpus: list[Gpu] = []
        for i, g in enumerate(r.get(obj, "gpus", list, w, required=False) or []):
            gw = f"{w}gpus[{i}]."
            if not isinstance(g, dict):
                r.problems.append(f"{gw[:-1]} must be an object")
                continue
            gpus.append(
                Gpu(
                    r.get(g, "name", str, gw, nullable=False) or "",
                    dotted(g, "compute_capability", gw, _CAPABILITY),
                )
            )
        return Cuda(
            toolkit=dotted(obj, "toolkit", w, required=False),
            nvcc=r.get(obj, "nvcc", str, w, required=False),
            driver=r.get(obj, "driver", str, w, required=False),
            driver_cuda=dotted(obj, "driver_cuda", w, required=False),
            gpus=tuple(gpus),
            cudnn=r.get(obj, "cudnn", str, w, required=False),
        )

    def jetson(obj: Mapping[str, Any], w: str) -> Jetson:
        return Jetson(
            l4t=r.get(obj, "l4t", str, w, nullable=False) or "",
            jetpack=r.get(obj, "jetpack", str, w, required=False),
            soc=r.get(obj, "soc", str, w, required=False),
        )

    def board(obj: Mapping[str, Any], w: str) -> Board:
        return Board(r.get(obj, "model", str, w, nullable=False) or "")

    def toolchain(obj: Mapping[str, Any], w: str) -> Toolchain:
        tools: dict[str, Tool | None] = {}
        for name in TOOL_NAMES:
            tw = f"{w}{name}."
            t = r.get(obj, name, dict, w, required=False)
            tools[name] = (
                None
                if t is None
                else Tool(r.get(t, "path", str, tw) or "", r.get(t, "version", str, tw))
            )
        return Toolchain(**tools)

    def res(obj: Mapping[str, Any], w: str) -> Resources:
        def count(key: str) -> int | None:
            value: int | None = r.get(obj, key, int, w, required=False)
            if value is not None and value < 0:
                r.problems.append(f"{w}{key} must not be negative")
                return None
            return value

        return Resources(
            count("cpus"), count("memory_bytes"), count("swap_bytes"), count("disk_free_bytes")
        )

    def distro(obj: Mapping[str, Any], w: str) -> Distro:
        return Distro(
            r.get(obj, "id", str, w, nullable=False) or "",
            r.get(obj, "version", str, w, required=False),
            r.get(obj, "name", str, w, required=False),
        )

    def cpu(obj: Mapping[str, Any], w: str) -> Cpu:
        feats = r.get(obj, "features", list, w, required=False) or []
        if not all(isinstance(f, str) for f in feats):
            r.problems.append(f"{w}features must be a list of strings")
            feats = []
        return Cpu(r.get(obj, "model", str, w, required=False), tuple(feats))

    target = Target(
        os=os_name or "",
        arch=arch or "",
        # libc null: not known (a profile written by hand, a macOS or Windows machine).
        libc=r.section(data, "libc", libc) or Libc("glibc", None),
        python=r.section(data, "python", python),
        cuda=r.section(data, "cuda", cuda, required=False),
        jetson=r.section(data, "jetson", jetson, required=False),
        board=r.section(data, "board", board, required=False),
        toolchain=r.section(data, "toolchain", toolchain, required=False) or Toolchain(),
        resources=r.section(data, "resources", res, required=False) or Resources(),
        distro=r.section(data, "distro", distro, required=False),
        cpu=r.section(data, "cpu", cpu, required=False),
        origin=source,
    )
    if r.problems:
        shown = "; ".join(r.problems[:5])
        more = f" (and {len(r.problems) - 5} more)" if len(r.problems) > 5 else ""
        raise InputError(
            f"profile {source} is not valid: {shown}{more}",
            hint="a profile is what `torchbuild detect --json` prints; regenerate it on the device",
        )
    return target


# -- profiles and presets ----------------------------------------------------------------------


def preset_names() -> list[str]:
    """Names of the target presets shipped in ``recipes/targets/``."""
    return sorted(p.stem for p in resources.targets_dir().glob("*.json"))


def _read_profile(path: Path, source: str) -> Target:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"profile {path} is not text (byte {exc.start} is not UTF-8)",
            hint="a profile is what `torchbuild detect --json` prints; regenerate it on the device",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"profile {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint="a profile is what `torchbuild detect --json` prints; regenerate it on the device",
        ) from None
    return from_json(data, source=source)


def load_target(spec: str) -> Target:
    """Resolve ``--target NAME|FILE``: an existing file wins, then a shipped preset."""
    path = Path(spec).expanduser()
    if path.is_file():
        return _read_profile(path, f"file:{path}")
    preset = resources.targets_dir() / f"{spec}.json"
    if preset.is_file():
        return _read_profile(preset, f"preset:{spec}")
    names = preset_names()
    close = difflib.get_close_matches(spec, names, n=1, cutoff=0.5)
    looks_like_path = "/" in spec or spec.endswith(".json")
    message = (
        f"target profile {spec} does not exist"
        if looks_like_path
        else f"unknown target {spec!r}: not a file and not a preset"
    )
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(
        message,
        hint=f"{hint}presets: {', '.join(names)}; or a file from `torchbuild detect --json`",
    )
