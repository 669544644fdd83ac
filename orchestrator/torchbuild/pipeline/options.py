"""What a `torchbuild wheel` run is told, and what it reports per package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Mapping

if TYPE_CHECKING:
    from pathlib import Path

    from ..venvs import Installer

__all__ = ["Done", "Outcome", "WheelOptions"]


@dataclass(frozen=True)
class WheelOptions:
    wheelhouse: Path
    cache_dir: Path
    python: Path
    installer: Installer
    jobs: int | None = None
    verbose: bool = False
    cli_env: Mapping[str, str] = field(default_factory=dict)
    recipe_dirs: tuple[Path, ...] = ()
    compiler_cache: str = "auto"
    #: distcc hosts (DISTCC_HOSTS syntax) to spread compiles over; None: compile locally.
    distcc_hosts: str | None = None
    offline: bool = False
    #: ``--cuda``: what the jobs are made for when no plan was made (only given projects).
    cuda: str = "auto"
    with_deps: bool = True
    timeout: float = 60.0
    cert: str | None = None
    #: The target's sysroot (``--root``): builds for another machine are cross-compiled
    #: against it, and their wheels checked against it and run under QEMU.
    sysroot: Path | None = None


#: What happened to a package: found in the wheelhouse, downloaded, or built here.
Done = Literal["cached", "prebuilt", "built"]


@dataclass(frozen=True)
class Outcome:
    project: str
    version: str
    action: Done
    wheel: str | None
    detail: str
    seconds: float = 0.0
    build: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.version,
            "action": self.action,
            "wheel": self.wheel,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "build": dict(self.build) if self.build else None,
        }
