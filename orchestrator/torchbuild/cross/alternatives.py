"""The links Debian's maintainer scripts would have made with ``update-alternatives``.

A sysroot is unpacked with ``dpkg-deb -x`` and no maintainer script runs, so the names that
packages register as alternatives never appear. For most packages that does not matter; for
the BLAS and LAPACK implementations it does: ``libopenblas-dev`` puts its files under
``/usr/lib/<triplet>/openblas-pthread/`` and only its ``postinst`` makes ``libopenblas.so``,
``libblas.so.3`` and ``cblas.h`` in the places a linker and a compiler look.

The calls are read from each package's own ``postinst`` (``update-alternatives --install LINK
NAME PATH PRIORITY`` with its ``--slave LINK NAME PATH`` groups), and, as dpkg's automatic mode
does, the highest priority wins for each name. Only paths that exist in the sysroot are linked.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import run

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = ["Alternative", "apply_alternatives", "parse_alternatives", "postinst_of"]


@dataclass(frozen=True)
class Alternative:
    """One ``--install`` group: the master link and its slaves, at one priority."""

    name: str
    priority: int
    links: tuple[tuple[str, str], ...]  #: (link, path) pairs, the master first


def _commands(script: str) -> Iterable[list[str]]:
    """Each shell command line of ``script``, continuation lines joined, split into words."""
    for raw in script.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            yield shlex.split(line, comments=True)
        except ValueError:
            continue  # a line a shell would read differently is not one we need


def parse_alternatives(script: str) -> list[Alternative]:
    """The ``update-alternatives --install`` calls of a maintainer script whose paths are
    literal (a call built from shell variables is skipped: it cannot be known here)."""
    found: list[Alternative] = []
    for words in _commands(script):
        if "update-alternatives" not in (w.rsplit("/", 1)[-1] for w in words[:1]):
            continue
        try:
            at = words.index("--install")
            link, name, path, priority = words[at + 1 : at + 5]
            links = [(link, path)]
            rest = words[at + 5 :]
            while rest[:1] == ["--slave"] and len(rest) >= 4:
                links.append((rest[1], rest[3]))
                rest = rest[4:]
            value = int(priority)
        except (ValueError, IndexError):
            continue
        if any("$" in part for pair in links for part in pair):
            continue
        found.append(Alternative(name, value, tuple(links)))
    return found


def postinst_of(deb: Path, dpkg_deb: str = "dpkg-deb") -> str:
    """A ``.deb``'s ``postinst`` script, or ``""`` when it has none."""
    done = run.capture([dpkg_deb, "--info", str(deb), "postinst"], timeout=60)
    return done.stdout if done.ok else ""


def apply_alternatives(root: Path, alternatives: Sequence[Alternative]) -> int:
    """Make each name's highest-priority links under ``root``, relative, where the target
    exists and nothing is there yet. Returns how many links were made."""
    best: dict[str, Alternative] = {}
    for alt in alternatives:
        if alt.name not in best or alt.priority > best[alt.name].priority:
            best[alt.name] = alt
    made = 0
    for alt in best.values():
        for link, path in alt.links:
            where = root / link.lstrip("/")
            target = root / path.lstrip("/")
            if not target.exists() or where.exists() or where.is_symlink():
                continue
            where.parent.mkdir(parents=True, exist_ok=True)
            where.symlink_to(os.path.relpath(target, where.parent))
            made += 1
    return made
