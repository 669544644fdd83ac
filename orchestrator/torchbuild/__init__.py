"""torchbuild: working torch, torchvision and torchaudio wheels for machines pip cannot serve."""

__version__ = "0.1.0"

__all__ = ["__version__"]
