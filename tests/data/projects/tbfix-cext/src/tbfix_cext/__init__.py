"""torchbuild test fixture: a C++ extension whose header other packages build against."""

from __future__ import annotations

from pathlib import Path

from ._core import WEIGHT, add, fingerprint

__version__ = "1.0.0"
__all__ = ["WEIGHT", "__version__", "add", "fingerprint", "get_include"]


def get_include() -> str:
    """Directory holding tbfix_cext.hpp."""
    return str(Path(__file__).resolve().parent / "include")
