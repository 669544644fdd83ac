"""Typing helpers the standard library only has in newer Pythons."""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["assert_never"]

if sys.version_info >= (3, 11):
    from typing import assert_never
else:

    def assert_never(value: NoReturn) -> NoReturn:
        """Mark the branch no value can reach: mypy reports a case a chain of ``if`` missed."""
        raise AssertionError(f"unhandled value: {value!r}")
