"""Which wheels ``index prune`` removes: a pure function of the entries and a stated policy.

The policy is "keep the newest N versions of each variant". A variant is what one kind of board
installs: the same project, local version label (``cpu``, ``cu126.sm87``), Python tag, ABI tag
and platform, where the platform ignores its glibc or macOS version (``manylinux_2_17_aarch64``
and ``manylinux_2_28_aarch64`` are one variant, ``musllinux_1_2_aarch64`` is another). Every
build tag of a kept version is kept.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..wheel import WheelName
    from .manifest import Entry

__all__ = ["platform_family", "select_prune", "variant_key"]

_PLATFORM_VERSION = re.compile(r"^(manylinux|musllinux|macosx)_?\d+(?:_\d+)?_")


def platform_family(platform_tag: str) -> str:
    """``manylinux_2_28_aarch64.manylinux2014_aarch64`` -> ``manylinux_aarch64``."""
    parts = {_PLATFORM_VERSION.sub(r"\1_", part) for part in platform_tag.split(".")}
    return ".".join(sorted(parts))


def variant_key(name: WheelName) -> tuple[str, str, str, str, str]:
    return (
        name.project,
        name.local or "",
        name.python_tag,
        name.abi_tag,
        platform_family(name.platform_tag),
    )


def select_prune(entries: Iterable[Entry], keep: int) -> list[Entry]:
    """The entries to remove so that each variant keeps its ``keep`` newest versions."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    groups: dict[tuple[str, ...], list[Entry]] = {}
    for entry in entries:
        groups.setdefault(variant_key(entry.name), []).append(entry)
    doomed: list[Entry] = []
    for members in groups.values():
        newest = sorted({e.name.version for e in members}, reverse=True)[:keep]
        doomed += [e for e in members if e.name.version not in newest]
    return sorted(doomed, key=lambda e: e.filename)
