"""Is a wheel in another index the same file as ours? (``index push`` and ``index import``)

Wheels are immutable: one filename in two indexes must be one set of bytes, or an installer
that cached either copy would never notice the other. The answer compares sha256 digests and
is one of three; a conflict refuses the whole transfer before anything moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from ..errors import WheelhouseError

__all__ = ["Conflict", "Sameness", "conflict_error", "sameness"]

#: ``missing``: the other side lacks the file; ``present``: same bytes; ``conflict``: other bytes.
Sameness = Literal["missing", "present", "conflict"]


def sameness(ours: str | None, theirs: str | None) -> Sameness:
    """Compare two sha256 digests (hex, any case); ``None`` is a side that lacks the file."""
    if ours is None or theirs is None:
        return "missing"
    return "present" if ours.lower() == theirs.lower() else "conflict"


@dataclass(frozen=True)
class Conflict:
    """One filename with different bytes on the two sides, each digest with its side's name."""

    filename: str
    first: tuple[str, str]  #: (side, sha256) shown first, e.g. ("remote", "ab12...")
    second: tuple[str, str]


def conflict_error(
    conflicts: Sequence[Conflict], *, where: str, nothing_done: str, hint: str
) -> WheelhouseError:
    """The refusal of a transfer with conflicts: the first file with both digests, and a count
    of the others (``where`` is the place the file already is, ``nothing_done`` what did not
    happen)."""
    first = conflicts[0]
    more = len(conflicts) - 1
    digests = ", ".join(f"{side} sha256 {digest}" for side, digest in (first.first, first.second))
    return WheelhouseError(
        f"{first.filename} is {where} with different contents ({digests})"
        + (f", and {more} more file(s) differ" if more else "")
        + f"; {nothing_done}",
        hint=hint,
    )
