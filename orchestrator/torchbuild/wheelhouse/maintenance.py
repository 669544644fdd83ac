"""``index prune``: remove old wheels by policy, and files no manifest accounts for."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from ..fs import unlink_quiet
from .check import find_orphans
from .policy import select_prune

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from .manifest import Entry
    from .store import Wheelhouse

__all__ = ["PruneResult", "prune"]


@dataclass(frozen=True)
class PruneResult:
    removed: tuple[Entry, ...]
    orphans: tuple[Path, ...]
    freed: int


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _remove_orphan(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        # A directory no manifest knows: its plain files go, nested directories stay.
        for child in path.iterdir():
            if child.is_symlink() or child.is_file():
                unlink_quiet(child)
        with contextlib.suppress(OSError):
            path.rmdir()
        return
    unlink_quiet(path)


def prune(
    wh: Wheelhouse,
    *,
    keep: int | None,
    projects: Sequence[str] = (),
    orphans: bool = False,
    dry_run: bool = False,
) -> PruneResult:
    """Remove all but the ``keep`` newest versions of each variant, and orphans if asked."""
    wh.require()
    with wh.locked():
        names = [canonicalize_name(p) for p in projects] or wh.projects()
        doomed: list[Entry] = []
        if keep is not None:
            for name in names:
                doomed += select_prune(wh.read_entries(name).values(), keep)
        stray: list[Path] = []
        if orphans:
            # read_entries raises on a damaged manifest: never delete what it might list.
            listed = {p: set(wh.read_entries(p)) for p in wh.projects()}
            stray = find_orphans(wh, listed)
            if projects:
                stray = [p for p in stray if p.relative_to(wh.simple).parts[0] in names]
        freed = sum(e.size for e in doomed) + sum(_size(p) for p in stray)
        if not dry_run:
            # remove() takes the lock again: it is re-entrant for the same Wheelhouse.
            wh.remove(doomed)
            for path in stray:
                _remove_orphan(path)
    return PruneResult(tuple(doomed), tuple(stray), freed)
