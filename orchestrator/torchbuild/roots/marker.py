"""The record a root keeps of how it was made: ``/.torchbuild-root.json`` inside the root.

It is written last when a root is created (a root without it is unfinished or not torchbuild's)
and updated when packages or torchbuild itself are installed later.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "MARKER",
    "RootInfo",
    "SelfInstall",
    "add_packages",
    "now",
    "read_marker",
    "to_json",
    "write_marker",
]

MARKER = ".torchbuild-root.json"
FORMAT = 1


def now() -> str:
    """The current UTC time as an ISO 8601 string to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class SelfInstall:
    """torchbuild installed inside the root by ``root install-self``."""

    venv: str
    version: str
    python: str
    installed: str


@dataclass(frozen=True)
class RootInfo:
    """What a root is: distribution, architecture, where it came from, what was installed."""

    dist: str
    arch: str
    host_arch: str
    mirror: str
    variant: str
    package_sets: tuple[str, ...]
    packages: tuple[str, ...]
    created: str
    created_by: str
    #: Seconds per step of the creation (debootstrap, second-stage, packages).
    timings: tuple[tuple[str, float], ...] = ()
    updated: str | None = None
    self_install: SelfInstall | None = field(default=None)

    @property
    def foreign(self) -> bool:
        """Whether the root's programs run through an emulator on the machine that made it."""
        return self.arch != self.host_arch


def to_json(info: RootInfo) -> dict[str, Any]:
    """The marker's JSON object."""
    return {
        "version": FORMAT,
        "dist": info.dist,
        "arch": info.arch,
        "host_arch": info.host_arch,
        "foreign": info.foreign,
        "mirror": info.mirror,
        "variant": info.variant,
        "package_sets": list(info.package_sets),
        "packages": list(info.packages),
        "created": info.created,
        "created_by": info.created_by,
        "timings": {step: round(seconds, 1) for step, seconds in info.timings},
        "updated": info.updated,
        "self_install": None
        if info.self_install is None
        else {
            "venv": info.self_install.venv,
            "version": info.self_install.version,
            "python": info.self_install.python,
            "installed": info.self_install.installed,
        },
    }


def _from_json(data: dict[str, Any]) -> RootInfo:
    own = data.get("self_install")
    return RootInfo(
        dist=str(data["dist"]),
        arch=str(data["arch"]),
        host_arch=str(data.get("host_arch", data["arch"])),
        mirror=str(data["mirror"]),
        variant=str(data.get("variant", "minbase")),
        package_sets=tuple(data.get("package_sets", ())),
        packages=tuple(data.get("packages", ())),
        created=str(data["created"]),
        created_by=str(data.get("created_by", "")),
        timings=tuple((str(k), float(v)) for k, v in dict(data.get("timings") or {}).items()),
        updated=data.get("updated"),
        self_install=None
        if not own
        else SelfInstall(
            str(own["venv"]), str(own["version"]), str(own["python"]), str(own["installed"])
        ),
    )


def read_marker(root: Path) -> RootInfo:
    """The record of the root at ``root``."""
    path = root / MARKER
    try:
        data = json.loads(path.read_text())
        return _from_json(data)
    except FileNotFoundError:
        raise InputError(
            f"{root} is not a root made by torchbuild: it has no {MARKER}",
            hint="create one with `torchbuild root create DIST DIR`",
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path} is unreadable: {exc}",
            hint="recreate the root with `torchbuild root create`",
        ) from None


def write_marker(root: Path, info: RootInfo) -> None:
    """Write the record atomically (a reader sees the old record or the new one)."""
    path = root / MARKER
    temp = root / f"{MARKER}.tmp-{os.getpid()}"
    try:
        temp.write_text(json.dumps(to_json(info), indent=2) + "\n")
        temp.replace(path)
    finally:
        if temp.exists():
            temp.unlink()


def add_packages(info: RootInfo, sets: Sequence[str], packages: Sequence[str]) -> RootInfo:
    """The record after installing more packages."""
    return replace(
        info,
        package_sets=tuple(dict.fromkeys((*info.package_sets, *sets))),
        packages=tuple(dict.fromkeys((*info.packages, *packages))),
        updated=now(),
    )
