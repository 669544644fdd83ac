"""CUDA when cross-compiling for a Jetson: the host's ``nvcc`` compiles, the target's CUDA
libraries link.

``nvcc`` runs on the build machine, so it is the host's toolkit (x86_64). What the wheel links
against must be NVIDIA's *aarch64* CUDA target files: ``targets/aarch64-linux`` (JetPack 4-6,
from the ``cuda-cross-aarch64`` packages or a Jetson's own ``/usr/local/cuda``) or
``targets/sbsa-linux`` (JetPack 7 and server ARM). torchbuild looks for them in the sysroot
first (a board image has them), then in the host toolkit (where NVIDIA's cross packages put
them). Without them there is no CUDA cross build, and the error says so before any compile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import run
from ..errors import ToolchainError

if TYPE_CHECKING:
    from ..target import Target
    from .sysroot import Sysroot

__all__ = ["CudaCross", "find_cuda_cross", "target_dir_names"]

_CUDART = re.compile(r"#define\s+CUDART_VERSION\s+(\d+)")
_NVCC_RELEASE = re.compile(r"release (\d+)\.(\d+)")


@dataclass(frozen=True)
class CudaCross:
    """The two halves of a CUDA cross build."""

    version: str  #: ``12.6``: what the target's libraries are
    target_dir: Path  #: ``.../targets/aarch64-linux``: include/ and lib/ for the target
    nvcc: Path  #: the host's compiler driver, of the same major.minor
    in_sysroot: bool  #: the target files came from the sysroot, not the host toolkit


def target_dir_names(target: Target) -> tuple[str, ...]:
    """NVIDIA's names for the target's CUDA directory, the expected one first."""
    jetpack = target.jetson.jetpack if target.jetson is not None else None
    major = int(jetpack.split(".")[0]) if jetpack and jetpack.split(".")[0].isdigit() else 0
    # JetPack 7 (Thor) moved Jetson onto the server-ARM (SBSA) CUDA; earlier ones have their own.
    if target.jetson is not None and major < 7:
        return ("aarch64-linux", "sbsa-linux")
    return ("sbsa-linux", "aarch64-linux")


def _cudart_version(target_dir: Path) -> str | None:
    header = target_dir / "include" / "cuda_runtime_api.h"
    try:
        match = _CUDART.search(header.read_text(errors="replace"))
    except OSError:
        return None
    if not match:
        return None
    number = int(match.group(1))
    return f"{number // 1000}.{number % 1000 // 10}"


def _has_runtime(target_dir: Path) -> bool:
    lib = target_dir / "lib"
    return (target_dir / "include" / "cuda_runtime.h").is_file() and (
        any(lib.glob("libcudart.so*")) or (lib / "libcudart_static.a").is_file()
    )


def _nvcc_version(nvcc: Path) -> str | None:
    done = run.probe([str(nvcc), "--version"], timeout=60)
    if done is None or not done.ok:
        return None
    match = _NVCC_RELEASE.search(done.stdout)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def find_cuda_cross(
    target: Target, sysroot: Sysroot, *, host_cuda: Path = Path("/usr/local")
) -> CudaCross | None:
    """The CUDA cross setup for ``target``; ``None`` for a CPU target.

    Raises :class:`ToolchainError` when the target has CUDA but the aarch64 target libraries
    or a matching host ``nvcc`` are missing.
    """
    if target.cuda is None or not target.cuda.toolkit:
        return None
    version = ".".join(target.cuda.toolkit.split(".")[:2])
    names = target_dir_names(target)
    places = [(sysroot.path / "usr/local" / f"cuda-{version}", True)]
    places.append((sysroot.path / "usr/local/cuda", True))
    places.append((host_cuda / f"cuda-{version}", False))
    places.append((host_cuda / "cuda", False))
    looked: list[str] = []
    found: tuple[Path, bool] | None = None
    for home, inside in places:
        for name in names:
            candidate = home / "targets" / name
            looked.append(str(candidate))
            if _has_runtime(candidate) and _cudart_version(candidate) == version:
                found = (candidate, inside)
                break
        if found:
            break
    if found is None:
        raise ToolchainError(
            f"no CUDA {version} libraries for {names[0]} in the sysroot or the host toolkit "
            f"(looked for include/cuda_runtime.h and lib/libcudart.so in {looked[0]} and "
            f"{len(looked) - 1} other places)",
            hint=f"a CUDA cross build needs NVIDIA's aarch64 CUDA {version} target files: "
            "use the board's image as --root (it has /usr/local/cuda), or install NVIDIA's "
            f"cuda-cross-aarch64-{version.replace('.', '-')} on this machine; or build on "
            "the board",
        )
    nvcc: Path | None = None
    for home in (host_cuda / f"cuda-{version}", host_cuda / "cuda"):
        if (home / "bin" / "nvcc").is_file() and _nvcc_version(home / "bin" / "nvcc") == version:
            nvcc = home / "bin" / "nvcc"
            break
    if nvcc is None:
        raise ToolchainError(
            f"no host nvcc of CUDA {version} (in {host_cuda}/cuda-{version}/bin or "
            f"{host_cuda}/cuda/bin) to compile for the target's CUDA {version}",
            hint=f"install the CUDA {version} toolkit for this machine next to the target files",
        )
    return CudaCross(version, found[0], nvcc, found[1])
