"""The board model: device-tree model string, or the Model line of /proc/cpuinfo."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import resources
from ..target import Board

if TYPE_CHECKING:
    from .fs import Root

__all__ = ["BoardFacts", "board_facts", "clean_model", "probe_board"]


def clean_model(data: bytes | str) -> str | None:
    """A device-tree string ends in NUL and no newline; captures add whitespace."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.split("\x00", 1)[0].strip()
    return text or None


def probe_board(root: Root) -> Board | None:
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        data = root.read_bytes(path)
        model = clean_model(data) if data else None
        if model:
            return Board(model)
    cpuinfo = root.read_text("/proc/cpuinfo") or ""
    m = re.search(r"^Model\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    if m:
        return Board(m.group(1).strip())
    return None


@dataclass(frozen=True)
class BoardFacts:
    family: str
    soc: str
    cpu: str
    arch32: str


def board_facts(model: str | None) -> BoardFacts | None:
    """What ``recipes/boards.toml`` knows about a model (longest matching prefix wins)."""
    if not model:
        return None
    best: dict[str, Any] | None = None
    for entry in resources.table("boards").get("board", []):
        if model.startswith(entry["match"]) and (
            best is None or len(entry["match"]) > len(best["match"])
        ):
            best = entry
    if best is None:
        return None
    return BoardFacts(best["family"], best["soc"], best["cpu"], best["arch32"])
