"""One module per subcommand; each exposes a click command, registered here in help order."""

from __future__ import annotations

from .detect import detect
from .doctor import doctor
from .index import index
from .plan import plan
from .recipes import recipes
from .root import root
from .wheel import wheel

__all__ = ["COMMANDS"]

COMMANDS = [detect, plan, wheel, doctor, index, recipes, root]
