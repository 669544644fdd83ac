"""The names one target machine goes by in each tool a cross build touches.

A Raspberry Pi 5 is ``aarch64`` to a wheel tag, ``arm64`` to Debian, ``aarch64-linux-gnu`` to
GCC's triplet and to the multiarch directories of a Debian/Ubuntu sysroot, and ``aarch64`` to
QEMU. Keeping them in one table stops each module from guessing its own spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..elf import normalize_arch
from ..errors import InputError

__all__ = ["CrossArch", "cross_arch", "known_arches"]


@dataclass(frozen=True)
class CrossArch:
    """One target machine's names."""

    arch: str  #: wheel-tag name: ``aarch64``, ``armv7l``
    debian: str  #: Debian architecture: ``arm64``, ``armhf``
    multiarch: str  #: Debian multiarch triplet: ``aarch64-linux-gnu``
    gnu_prefix: str  #: prefix of the cross GCC: ``aarch64-linux-gnu-`` (gcc, g++, ...)
    qemu: str  #: QEMU user emulator name: ``aarch64`` -> ``qemu-aarch64-static``
    cmake_processor: str  #: ``CMAKE_SYSTEM_PROCESSOR`` (what ``uname -m`` says on the board)
    gcc_packages: tuple[str, ...]  #: Debian/Ubuntu packages of the host's cross compilers

    @property
    def platform(self) -> str:
        """The sysconfig platform (``_PYTHON_HOST_PLATFORM``): ``linux-aarch64``."""
        return f"linux-{self.arch}"

    @property
    def platform_tag(self) -> str:
        """The wheel platform tag before repair: ``linux_aarch64``."""
        return f"linux_{self.arch}"


def _gcc(triplet: str) -> tuple[str, ...]:
    return (f"gcc-{triplet}", f"g++-{triplet}")


_TABLE = {
    "aarch64": CrossArch(
        "aarch64",
        "arm64",
        "aarch64-linux-gnu",
        "aarch64-linux-gnu-",
        "aarch64",
        "aarch64",
        _gcc("aarch64-linux-gnu"),
    ),
    # 32-bit Raspberry Pi OS and Debian armhf: hard-float ARMv7 userland (the Pi's kernel
    # says armv7l, and that is the tag pip looks for there).
    "armv7l": CrossArch(
        "armv7l",
        "armhf",
        "arm-linux-gnueabihf",
        "arm-linux-gnueabihf-",
        "arm",
        "armv7l",
        _gcc("arm-linux-gnueabihf"),
    ),
    "riscv64": CrossArch(
        "riscv64",
        "riscv64",
        "riscv64-linux-gnu",
        "riscv64-linux-gnu-",
        "riscv64",
        "riscv64",
        _gcc("riscv64-linux-gnu"),
    ),
    "x86_64": CrossArch(
        "x86_64",
        "amd64",
        "x86_64-linux-gnu",
        "x86_64-linux-gnu-",
        "x86_64",
        "x86_64",
        _gcc("x86-64-linux-gnu"),
    ),
}


def known_arches() -> tuple[str, ...]:
    """The target machines torchbuild can cross-compile for."""
    return tuple(sorted(_TABLE))


def cross_arch(arch: str) -> CrossArch:
    """The names of ``arch`` (a wheel-tag or Debian name: ``aarch64``/``arm64``, ``armhf``)."""
    try:
        return _TABLE[normalize_arch(arch)]
    except KeyError:
        raise InputError(
            f"torchbuild cannot cross-compile for {arch!r}",
            hint="one of: " + ", ".join(known_arches()),
        ) from None
