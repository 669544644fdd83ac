"""The findings by topic: the Python, the CUDA toolkit and driver, the indexes, the torch
already installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from packaging.version import InvalidVersion, Version

from .. import resources
from ..resolve import matrix as matrix_mod
from ..resolve import tags, variants
from .report import Finding

if TYPE_CHECKING:
    from ..detect.torch import InstalledTorch
    from ..resolve.indexes import Listing, Source
    from ..resolve.pipconfig import PipConfig
    from ..target import Target

__all__ = ["cuda_findings", "fix", "index_findings", "installed_findings", "python_findings"]


def python_findings(target: Target, matrix: matrix_mod.Matrix) -> list[Finding]:
    assert target.python is not None
    py = tags.python_tuple(target)
    ft = target.python.free_threaded
    label = f"{py[0]}.{py[1]}" + ("t" if ft else "")
    oldest, newest = matrix.oldest, matrix.newest
    if py < oldest.python_min:
        fix = (
            f"use Python {newest.python_text()} for current torch (any Python >= "
            f"{matrix_mod.py_text(oldest.python_min)} gets torch {oldest.torch} or newer), e.g. a "
            "newer distribution Python or `uv python install 3.12`, then run `torchbuild doctor` "
            "with it"
        )
        if target.jetson and target.jetson.l4t.startswith("32."):
            fix += "; on JetPack 4 NVIDIA's last wheels are torch 1.10 for Python 3.6"
        return [
            Finding(
                "python-too-old",
                "error",
                f"Python {label} is older than any torch release supports",
                f"the oldest release in the matrix, torch {oldest.torch}, needs Python "
                f"{matrix_mod.py_text(oldest.python_min)} or newer",
                fix,
            )
        ]
    if py > newest.python_max:
        return [
            Finding(
                "python-too-new",
                "error",
                f"Python {label} is newer than any torch release supports",
                f"the newest release, torch {newest.torch}, supports Python up to "
                f"{matrix_mod.py_text(newest.python_max)}",
                f"use Python {matrix_mod.py_text(newest.python_max)} or older, or try a source "
                "build with `torchbuild wheel torch --ignore-matrix` (unsupported)",
            )
        ]
    if ft and matrix.newest_for_python(py, free_threaded=True) is None:
        return [
            Finding(
                "python-free-threaded",
                "error",
                f"no torch release supports free-threaded Python {label}",
                "free-threaded builds exist for: "
                + ", ".join(
                    sorted(
                        {
                            matrix_mod.py_text(p) + "t"
                            for s in matrix.series
                            for p in s.free_threaded
                        }
                    )
                ),
                f"use the regular (GIL) Python {py[0]}.{py[1]}",
            )
        ]
    return []


def index_findings(listings: Iterable[Listing], pip: PipConfig | None) -> list[Finding]:
    out: list[Finding] = []
    seen: set[Source] = set()
    answered = False
    known: list[Finding] = []
    for listing in listings:
        if listing.ok:
            answered = answered or listing.source.kind != "wheelhouse"
            continue
        if listing.source in seen:
            continue
        seen.add(listing.source)
        src = listing.source
        if src.known:  # asked by torchbuild, not by pip: nothing for the user to fix
            known.append(
                Finding(
                    "known-source-unreachable",
                    "info",
                    f"cannot read the known wheel source {src.location}",
                    f"{listing.error} ({src.origin})",
                    f"pip does not use it; give a reachable copy with TORCHBUILD_MIRRORS="
                    f'"{src.known}=URL", or leave the known sources out with --no-known-indexes',
                )
            )
            continue
        out.append(
            Finding(
                "index-unreachable",
                "warning",
                f"cannot read the {'index' if src.kind == 'index' else src.kind} {src.location}",
                f"{listing.error} (configured by {src.origin})",
                "fix or remove it where it is configured; pip skips it too, but anything only it "
                "serves is not found",
            )
        )
    if out and not answered:
        out = [
            Finding(o.code, "error", o.what, o.evidence, o.fix + "; no index answered at all")
            for o in out
        ]
    out.extend(known)
    for problem in pip.problems if pip is not None else ():
        out.append(
            Finding(
                "pip-config",
                "error",
                "a pip configuration file cannot be read; pip itself refuses to run",
                problem,
                "fix the file (INI syntax: [global] then key = value) or remove it",
            )
        )
    return out


def cuda_findings(target: Target, need: variants.Need) -> list[Finding]:
    out: list[Finding] = []
    toolkit = target.cuda.toolkit if target.cuda else None
    if toolkit and need.driver_cuda:
        try:
            too_new = Version(toolkit) > Version(need.driver_cuda)
        except InvalidVersion:
            too_new = False
        if too_new:
            out.append(
                Finding(
                    "cuda-toolkit-driver",
                    "warning",
                    f"the CUDA toolkit {toolkit} is newer than the driver runs",
                    f"nvcc is {toolkit}; the driver supports CUDA {need.driver_cuda}",
                    f"update the driver for CUDA {toolkit}, or build with a toolkit <= "
                    f"{need.driver_cuda}: code built with {toolkit} will not run on this driver",
                )
            )
    if need.kind == "cuda" and need.capabilities and need.driver_cuda is None:
        out.append(
            Finding(
                "cuda-driver-unknown",
                "info",
                "the driver's CUDA version is not known",
                "the profile has no cuda.driver_cuda and no driver version",
                "run `torchbuild detect` on the machine itself (it reads nvidia-smi)",
            )
        )
    return out


def fix(
    code: str,
    package: str,
    pkgs: str,
    newest: Version | None,
    need: variants.Need,
    variant: variants.Variant,
) -> str:
    label = variants.planned_variant(need).label
    build = f"build with `torchbuild wheel {pkgs}`" + (
        f" (+{label} for this target)" if label else ""
    )
    older = (
        f"install {package} {newest}, the newest release that fits, by its file (`install "
        "exactly` below: a bare version pin may get another index's file again), or "
        if newest
        else ""
    )
    if code == "cpu-only":
        return f"{build}, or accept a CPU-only torch with `--cuda none`"
    if code == "platform":
        return f"{older}{build}"
    if code == "gpu-arch":
        return f"{older}{build}"
    if code == "driver":
        if need.jetson:
            return f"{older}{build}; or move to a JetPack whose CUDA is {variant.cuda} or newer"
        minimum = _driver_for(variant.cuda)
        return f"{older}{build}; or update the NVIDIA driver to one for CUDA {variant.cuda}" + (
            f" (>= {minimum})" if minimum else ""
        )
    if code == "cuda-exact":
        return f"build for that CUDA with `torchbuild wheel {pkgs} --cuda {need.exact_cuda}`"
    return f"{older}{build}"


def _driver_for(cuda: str | None) -> str | None:
    """The minimum Linux driver for ``cuda``, as NVIDIA writes it (``580.65.06``)."""
    table = resources.table("cuda")["driver_minimum"]
    return str(table[cuda]) if cuda in table else None


def installed_findings(
    installed: InstalledTorch | None, runtime: dict[str, Any] | None, need: variants.Need
) -> list[Finding]:
    if installed is None:
        return []
    out: list[Finding] = []
    label = f"the installed torch {installed.version}"
    if installed.cuda and need.driver_cuda:
        try:
            too_new = Version(installed.cuda) > Version(need.driver_cuda)
        except InvalidVersion:
            too_new = False
        if too_new:
            out.append(
                Finding(
                    "installed-torch",
                    "error",
                    f"{label} is a CUDA {installed.cuda} build, newer than the driver runs",
                    f"torch/version.py says cuda = {installed.cuda}; the driver supports CUDA "
                    f"{need.driver_cuda} ({installed.location})",
                    "replace it: `torchbuild plan torch` shows a build that fits this driver",
                )
            )
    if need.kind == "cuda" and installed.cuda is None:
        out.append(
            Finding(
                "installed-torch",
                "warning",
                f"{label} is a CPU-only build on a machine with an NVIDIA GPU",
                f"torch/version.py says cuda = None ({installed.location})",
                "replace it with a CUDA build: `torchbuild plan torch` shows which",
            )
        )
    if runtime and need.kind == "cuda" and installed.cuda:
        if runtime.get("error"):
            out.append(
                Finding(
                    "installed-torch",
                    "error",
                    f"{label} does not import",
                    str(runtime["error"]),
                    "reinstall it, or replace it with the build `torchbuild plan torch` shows",
                )
            )
        elif runtime.get("available") is False:
            said = "; ".join(runtime.get("warnings") or []) or "torch.cuda.is_available() is False"
            out.append(
                Finding(
                    "installed-torch",
                    "error",
                    f"{label} imports, but cannot use the GPU",
                    said,
                    "replace it with a build for this GPU and driver: `torchbuild plan torch`",
                )
            )
    return out
