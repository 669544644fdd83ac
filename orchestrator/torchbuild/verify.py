"""Verify: a wheel installs into a fresh environment and works there, or it is not published.

The environment is new for every wheel and holds only the wheel, what it was built against
(the torch wheel of this run, or the target interpreter's own torch through its site-packages)
and its declared dependencies. The recipe's smoke code runs in an empty directory, so the
source tree can never be imported by mistake. For CUDA builds the compiled GPU code in every
binary is listed and must cover each architecture that was asked for.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from packaging.utils import canonicalize_name

from . import run, venvs
from .errors import BuildError, NetworkError, VerifyError
from .wheel import parse_name, read_metadata, requires_dist

if TYPE_CHECKING:
    from .venvs import Installer

__all__ = ["Verified", "required_cuda_archs", "top_level_modules", "verify_wheel"]

SMOKE_TIMEOUT = 900.0


@dataclass(frozen=True)
class Verified:
    output: str  # what the smoke code printed (last lines)
    seconds: float
    cuda_archs: frozenset[str] | None  # GPU code found in the wheel's binaries (CUDA builds)


def top_level_modules(wheel: Path) -> list[str]:
    """Importable top-level names a wheel installs (packages and extension modules)."""
    names: set[str] = set()
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            head = name.split("/", 1)[0]
            if head.endswith((".dist-info", ".data", ".libs")) or not head:
                continue
            if "/" in name:
                names.add(head)
            elif head.endswith((".py", ".so", ".pyd")):
                names.add(head.split(".", 1)[0])
    return sorted(n for n in names if n.isidentifier())


def required_cuda_archs(arch_list: str | None) -> set[str]:
    """``"8.7;9.0+PTX"`` (TORCH_CUDA_ARCH_LIST) → {"sm_87", "sm_90", "compute_90"}."""
    out: set[str] = set()
    for raw in (arch_list or "").replace(",", ";").replace(" ", ";").split(";"):
        item = raw.strip()
        if not item:
            continue
        ptx = item.upper().endswith("+PTX")
        number = item[: -len("+PTX")] if ptx else item
        digits = number.replace(".", "")
        if not digits.isalnum():
            continue
        out.add(f"sm_{digits}")
        if ptx:
            out.add(f"compute_{digits}")
    return out


def _cuda_check(wheel: Path, wanted: set[str], cuobjdump: Path, tmp: Path) -> frozenset[str]:
    from .elf import cuda_architectures

    found: set[str] = set()
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if ".so" not in info.filename.rsplit("/", 1)[-1]:
                continue
            path = tmp / "elf" / info.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(zf.read(info))
            found |= set(cuda_architectures(path, cuobjdump))
    missing = sorted(wanted - found)
    if missing:
        have = ", ".join(sorted(found)) or "no GPU code at all"
        raise VerifyError(
            f"{wheel.name} lacks GPU code for {', '.join(missing)} (it has {have})",
            hint="check TORCH_CUDA_ARCH_LIST in the rendered recipe (`torchbuild recipes show`) "
            "and that this nvcc supports those architectures",
        )
    return frozenset(found)


def verify_wheel(
    wheel: Path,
    *,
    python: Path,
    installer: Installer,
    companions: Sequence[Path] = (),
    inherit_site: bool = False,
    smoke: str | None = None,
    cuda_arch_list: str | None = None,
    cuobjdump: Path | None = None,
    provided_projects: Sequence[str] = (),
    work: Path,
) -> Verified:
    """Install ``wheel`` (with ``companions``) into a fresh environment and run its smoke code."""
    started = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="verify-", dir=work))
    try:
        archs = None
        wanted = required_cuda_archs(cuda_arch_list)
        if wanted:
            if cuobjdump is None:
                raise VerifyError(
                    f"cannot check the GPU code in {wheel.name}: cuobjdump was not found",
                    hint="install the CUDA toolkit's binary utilities next to nvcc",
                )
            archs = _cuda_check(wheel, wanted, cuobjdump, tmp)
        venv = venvs.make_venv(tmp / "env", python, installer, inherit_site=inherit_site)
        try:
            venvs.install(venv, installer, [str(c) for c in companions])
            # The wheel itself without its dependencies, then those dependencies except the
            # packages it was built against: an installer that cannot see an inherited torch
            # (uv looks only at the environment's own site-packages) would otherwise fetch
            # another torch from the index and verify against the wrong one.
            venvs.install(venv, installer, [str(wheel)], no_deps=True)
            skip: set[str] = {canonicalize_name(n) for n in provided_projects}
            skip |= {parse_name(c.name).project for c in companions}
            # Extras-only entries are left out; the installer evaluates the other markers for
            # the environment's own interpreter.
            dependencies = requires_dist(read_metadata(wheel), extras=False)
            venvs.install(
                venv,
                installer,
                [str(r) for r in dependencies if canonicalize_name(r.name) not in skip],
            )
        except (BuildError, NetworkError) as exc:
            raise VerifyError(
                f"{wheel.name} does not install into a fresh environment: {exc}",
                hint="its dependencies must be installable from the configured indexes",
            ) from None
        code = smoke or "".join(f"import {m}\n" for m in top_level_modules(wheel)) or "pass"
        cwd = tmp / "empty"
        cwd.mkdir()
        done = run.capture(
            [str(venv.python), "-c", code],
            timeout=SMOKE_TIMEOUT,
            cwd=cwd,
            env=venv.env({"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", "HOME": str(tmp)}),
        )
        if not done.ok:
            lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
            last = lines[-1].strip() if lines else f"exit {done.returncode}"
            raise VerifyError(
                f"{wheel.name} installs but fails its smoke test: {last}",
                hint="nothing was published; the smoke code is the recipe's `smoke` value",
            )
        output = "\n".join(done.stdout.strip().splitlines()[-5:])
        return Verified(output, time.monotonic() - started, archs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
