"""Cross-compiling: wheels for an ARM board built on an x86_64 machine (or any other pair).

A sysroot (:mod:`.sysroot`, made by :mod:`.prepare` from the distribution's packages or taken
from a board image) holds the target's headers and libraries; :func:`cross_setup` turns a
Target and a sysroot into the environment and CMake toolchain file a build runs with; the
wheel that comes out is checked without the board (:func:`check_foreign_wheel`) and, where a
Python is in the sysroot, imported under QEMU (:func:`run_under_qemu`).
"""

from __future__ import annotations

from .arches import CrossArch, cross_arch, known_arches
from .check import check_foreign_wheel
from .cuda import CudaCross, find_cuda_cross
from .prepare import DEFAULT_PACKAGES, SysrootRecord, prepare_sysroot, read_record
from .qemu import emulator, run_under_qemu
from .sysroot import Sysroot, fix_absolute_links, inspect_sysroot
from .toolchain import Compilers, CrossSetup, cross_setup, find_compilers, render_toolchain

__all__ = [
    "DEFAULT_PACKAGES",
    "Compilers",
    "CrossArch",
    "CrossSetup",
    "CudaCross",
    "Sysroot",
    "SysrootRecord",
    "check_foreign_wheel",
    "cross_arch",
    "cross_setup",
    "emulator",
    "find_compilers",
    "find_cuda_cross",
    "fix_absolute_links",
    "inspect_sysroot",
    "known_arches",
    "prepare_sysroot",
    "read_record",
    "render_toolchain",
    "run_under_qemu",
]
