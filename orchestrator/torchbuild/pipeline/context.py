"""The state one target's run carries from step to step: where wheels go, what was produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from packaging.utils import canonicalize_name

from ..fs import sha256_file

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
        project = canonicalize_name(wheel.name.split("-", 1)[0])
        if wheel.resolve().parent == self.wheelhouse.project_dir(project).resolve():
            for entry in self.wheelhouse.find(project):
                if entry.filename == wheel.name:
                    return entry.sha256
        return _sha256(wheel)


def _sha256(path: Path) -> str:
    return sha256_file(path)[0]
