"""One module per subcommand; each exposes a click command, listed here in help order.

The modules are imported only when their command runs (or help lists them): `torchbuild
detect` need not load the build, repair and cross-compiling code, and an all-cached `wheel`
run starts in a fraction of the time.
"""

from __future__ import annotations

__all__ = ["COMMANDS"]

#: Command name -> (module under torchbuild.commands, attribute), in help order.
COMMANDS = {
    "detect": ("detect", "detect"),
    "plan": ("plan", "plan"),
    "wheel": ("wheel", "wheel"),
    "doctor": ("doctor", "doctor"),
    "index": ("index", "index"),
    "recipes": ("recipes", "recipes"),
    "root": ("root", "root"),
}
