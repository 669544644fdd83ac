"""The state one target's run carries from step to step: where wheels go, what was produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..fs import sha256_file
from ..wheel import parse_name

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from ..target import Target
    from ..wheelhouse import Wheelhouse
    from .options import WheelOptions
    from .sites import BuildHost

__all__ = ["Context"]


@dataclass
class Context:
    target: Target
    options: WheelOptions
    console: Console
    wheelhouse: Wheelhouse
    host: BuildHost
    note: Callable[[str], None]
    #: canonical project -> its wheel in the wheelhouse, as the run goes
    produced: dict[str, Path] = field(default_factory=dict)

    def scratch(self) -> Path:
        path = self.options.cache_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def wheel_sha256(self, wheel: Path) -> str:
        """A wheelhouse wheel's sha256 from its manifest (hashing a 200 MB torch wheel again
        for every package that builds against it would cost seconds)."""
        project = parse_name(wheel.name).project
        if wheel.resolve().parent == self.wheelhouse.project_dir(project).resolve():
            for entry in self.wheelhouse.find(project):
                if entry.filename == wheel.name:
                    return entry.sha256
        return sha256_file(wheel).sha256
