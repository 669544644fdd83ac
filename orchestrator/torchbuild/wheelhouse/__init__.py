"""The wheelhouse: every wheel torchbuild gets, in a directory that is itself a package index.

The build stage calls :class:`Wheelhouse` directly::

    wh = Wheelhouse(settings.wheelhouse_dir)
    result = wh.add(wheel_path, origin="built torch 2.6.0 key=ab12...")
    wh.find("torch")          # entries, newest first
    verify(wh).ok             # rehash everything

``torchbuild index ...`` is the command-line face of the same API.
"""

from __future__ import annotations

from ..wheel import WheelInfo, WheelName, inspect_wheel, parse_name
from .check import Finding, VerifyReport, verify
from .manifest import Entry
from .store import AddResult, Wheelhouse

__all__ = [
    "AddResult",
    "Entry",
    "Finding",
    "VerifyReport",
    "WheelInfo",
    "WheelName",
    "Wheelhouse",
    "inspect_wheel",
    "parse_name",
    "verify",
]
