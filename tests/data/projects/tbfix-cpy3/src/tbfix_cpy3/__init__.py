from ._core import machine, triangle

__all__ = ["machine", "triangle"]
