"""One module per subcommand; each exposes a click command, registered here in help order."""

from __future__ import annotations

from .detect import detect
from .recipes import recipes

__all__ = ["COMMANDS"]

COMMANDS = [detect, recipes]
