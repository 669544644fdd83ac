"""torchbuild test fixture: one CUDA kernel; imports without a GPU driver."""

from __future__ import annotations

from . import _core

__version__ = "1.0.0"
__all__ = ["CUDART_VERSION", "__version__", "axpy", "built_archs", "device_count", "driver_status"]

CUDART_VERSION: int = _core.CUDART_VERSION
axpy = _core.axpy


def built_archs() -> list[str]:
    """The CMake CUDA architectures compiled in, e.g. ['87-real', '87-virtual']."""
    return [a for a in _core.built_archs().split(",") if a]


def device_count() -> int:
    """Number of usable GPUs; 0 when there is none or no driver (see driver_status)."""
    return int(_core.device_count()[0])


def driver_status() -> str:
    """The CUDA runtime's answer to the device query: 'cudaSuccess' or the error's name."""
    return str(_core.device_count()[1])
