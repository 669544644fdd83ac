"""What the user sees: rich tables on a terminal, plain JSON for machines.

Library code never prints; commands hand their results to these functions.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

__all__ = [
    "console",
    "err_console",
    "human_bytes",
    "labelled",
    "print_json",
    "print_whole",
    "warn",
]

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


def print_json(obj: Any) -> None:
    """One JSON object on stdout (never through rich: no wrapping, no colour)."""
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()


def labelled(rows: Iterable[tuple[str, str]], indent: int = 2) -> Padding:
    """Indented ``label: text`` lines (rich markup in the text) where a long text wraps under
    its own column, not back under the labels."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text in rows:
        grid.add_row(f"{label}:", text)
    return Padding(grid, (0, 0, 0, indent))


def print_whole(lead: str, text: str, *, out: Console | None = None) -> None:
    """``lead`` (rich markup) and then ``text`` (a file name, a path: plain) on one line that
    rich never breaks: a terminal wraps it visually, a pipe gets it in one piece, and either
    way it can be copied whole."""
    (out or console).print(f"{lead}{escape(text)}", soft_wrap=True, overflow="ignore")


def warn(text: str) -> None:
    err_console.print(f"[yellow]warning:[/] {text}")


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # unreachable; keeps mypy's return analysis simple
