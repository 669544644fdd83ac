"""Running the target's programs on the build machine with QEMU's user-mode emulator.

The emulator is called by name (``qemu-aarch64-static -L SYSROOT PROGRAM``) rather than through
the kernel's binfmt_misc handlers, which containers and CI runners often lack. ``-L`` makes the
emulated loader and every library it opens come from the sysroot; the program itself is named
by its path inside the sysroot, so an interpreter finds its standard library there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import run
from ..errors import ToolchainError
from .arches import cross_arch

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["emulator", "find_emulator", "run_under_qemu"]


def find_emulator(arch: str, path: str | None = None) -> Path | None:
    """QEMU's user emulator for ``arch`` on this machine, or None.

    Debian up to bookworm names the static build ``qemu-aarch64-static`` (package
    qemu-user-static); from trixie the ``qemu-user`` package itself is static and names it
    ``qemu-aarch64``. Either runs a program given ``-L SYSROOT``.
    """
    names = cross_arch(arch)
    return run.which(f"qemu-{names.qemu}-static", path) or run.which(f"qemu-{names.qemu}", path)


def emulator(arch: str, path: str | None = None) -> Path:
    """QEMU's user emulator for ``arch`` on this machine; a clear error when there is none."""
    names = cross_arch(arch)
    found = find_emulator(arch, path)
    if found is None:
        raise ToolchainError(
            f"qemu-{names.qemu}-static is not installed; it runs {names.arch} programs here",
            hint="apt-get install qemu-user-static (Debian trixie and newer: qemu-user)",
        )
    return found


def run_under_qemu(
    sysroot: Path,
    args: Sequence[str],
    *,
    arch: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> run.Completed:
    """Run ``args`` (``args[0]`` a path inside ``sysroot``, e.g. ``/usr/bin/python3``) emulated.

    Returns what it printed; a program that cannot be found raises :class:`ToolchainError`.
    """
    if not args:
        raise ValueError("no program to run")
    qemu = emulator(arch)
    program = Path(args[0])
    root = sysroot.absolute()
    if program.is_absolute() and root not in program.parents:
        program = root / program.relative_to("/")
    if not program.exists():
        raise ToolchainError(
            f"{args[0]} is not in the sysroot {root}",
            hint="add the package that has it to the sysroot",
        )
    return run.capture(
        [str(qemu), "-L", str(root), str(program), *args[1:]],
        timeout=timeout,
        env=env,
        cwd=cwd,
    )
