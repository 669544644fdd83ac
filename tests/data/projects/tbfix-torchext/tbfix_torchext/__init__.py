"""torchbuild test fixture: a torch operator compiled against the torch of the build."""

from __future__ import annotations

import torch

from . import _C  # loading it registers torch.ops.tbfix

__version__ = "1.0.0"
__all__ = ["__version__", "built_with_torch", "scale_add"]


def scale_add(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """x * alpha + y, by the compiled CPU kernel."""
    return torch.ops.tbfix.scale_add(x, y, alpha)


def built_with_torch() -> str:
    """The torch version this extension was compiled against."""
    return str(_C.BUILT_WITH_TORCH)
