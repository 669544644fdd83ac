"""Repair: clean version and local label, platform tag earned, run paths, duplicates, RECORD.

See :mod:`.core` for the steps, :mod:`.version` for the version rule and :mod:`.policy` for
how the manylinux tag is chosen.
"""

from __future__ import annotations

from .core import Repaired, RepairRequest, repair
from .version import clean_version

__all__ = ["RepairRequest", "Repaired", "clean_version", "repair"]
