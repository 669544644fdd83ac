"""Verifying a wheel built for another machine: checked without the board, then run under QEMU.

The check (:func:`~.check.check_foreign_wheel`) proves every ELF file is the target's and every
library it needs is in the wheel, in the wheels it is installed with (the target's torch) or in
the sysroot. Then, where ``qemu-<arch>-static`` and the sysroot's own Python are there, the
wheel, its companions and its dependencies (resolved by pip for the target's tags; where the
indexes have none for them, the sysroot's own Python packages stand in) are laid out in a fresh
directory and the smoke code runs on the sysroot's interpreter, emulated, in an empty directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import run
from ..errors import BuildError, NetworkError, VerifyError
from .check import check_foreign_wheel
from .qemu import find_emulator, run_under_qemu

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .sysroot import Sysroot

__all__ = ["ForeignVerified", "provided_by_sysroot", "verify_foreign_wheel"]

#: Emulated imports of torch take tens of seconds; a smoke test gets this long in all.
SMOKE_TIMEOUT = 1800.0


def _last_line(done: run.Completed) -> str:
    lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else f"exit {done.returncode}"


@dataclass(frozen=True)
class ForeignVerified:
    output: str  #: what the smoke code printed (last lines), or why it did not run
    emulated: bool  #: the smoke code ran under QEMU


def _pip_target(
    pip: Sequence[str],
    site: Path,
    items: Sequence[str],
    options: Sequence[str],
) -> None:
    """Lay ``items`` (wheel files, requirements) out in ``site`` for the target's tags.

    ``options`` are the index and platform options of ``pip install``.
    """
    if not items:
        return
    args = [*pip, "install", "--target", str(site), "--only-binary=:all:", "--no-compile"]
    args += ["--disable-pip-version-check", "--no-input", "--upgrade", *options, *items]
    done = run.capture(args, timeout=3600.0, env={**os.environ, "PIP_NO_INPUT": "1"})
    if not done.ok:
        tail = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        raise VerifyError(
            f"cannot lay out {', '.join(Path(i).name for i in items)} for the target: "
            f"{tail[-1].strip() if tail else f'exit {done.returncode}'}",
            hint="its dependencies must be installable for the target's tags from the "
            "configured indexes",
        )


def provided_by_sysroot(requirements: Sequence[str], sysroot: Sysroot) -> list[str]:
    """Those of ``requirements`` the sysroot's own Python packages meet, as the board's
    system packages do (Debian's ``python3-numpy`` for ``numpy``)."""
    provided = sysroot.python_distributions()
    met = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue  # pip says what is wrong with it
        have = provided.get(canonicalize_name(req.name))
        if have is not None and req.specifier.contains(have, prereleases=True):
            met.append(text)
    return met


def verify_foreign_wheel(
    wheel: Path,
    sysroot: Sysroot,
    *,
    arch: str,
    pip: Sequence[str],
    pip_options: Sequence[str],
    companions: Sequence[Path] = (),
    requirements: Sequence[str] = (),
    smoke: str,
    baseline: str | None = None,
    work: Path,
) -> ForeignVerified:
    """Check ``wheel`` for the target, then run ``smoke`` under QEMU when it can be run here.

    ``pip`` is the command that runs pip; ``pip_options`` are its index options and its flags
    for the target's tags. ``companions`` are the wheels it is installed with (the
    target's torch) and ``requirements`` the rest of what it needs at run time. ``baseline``
    imports the companions alone, first: when that fails too, the emulator cannot run what
    the wheel is installed with (oneDNN in torch 2.11+ for aarch64 reads the CPU's MIDR_EL1
    from sysfs, which QEMU's user mode does not provide, and crashes), so the smoke test is
    reported as not run rather than blamed on the wheel.
    """
    problems = check_foreign_wheel(wheel, sysroot, arch=arch, against=companions)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise VerifyError(
            f"{wheel.name} would not load on the target: {problems[0]}{more}",
            hint="nothing was published; add what is missing to the sysroot or the wheel",
        )
    qemu = find_emulator(arch)
    if sysroot.python is None or qemu is None:
        missing = "the sysroot has no Python" if sysroot.python is None else "QEMU is not here"
        return ForeignVerified(f"smoke test not run: {missing}", emulated=False)
    work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="verify-foreign-", dir=work))
    try:
        site = tmp / "site"
        try:
            items = [str(wheel), *map(str, companions)]
            _pip_target(pip, site, items, [*pip_options, "--no-deps"])
            try:
                _pip_target(pip, site, list(requirements), pip_options)
            except VerifyError:
                # The indexes lack some for the target's tags (PyPI has no NumPy or Pillow
                # for 32-bit Arm): the board's own packages stand in where the sysroot has them.
                met = provided_by_sysroot(requirements, sysroot)
                if not met:
                    raise
                rest = [r for r in requirements if r not in met]
                _pip_target(pip, site, rest, pip_options)
        except (BuildError, NetworkError) as exc:
            raise VerifyError(str(exc), hint=exc.hint) from None
        empty = tmp / "empty"
        empty.mkdir()
        assert sysroot.python is not None
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(site),
            "PYTHONNOUSERSITE": "1",
            "HOME": str(tmp),
        }

        def emulated(code: str) -> run.Completed:
            assert sysroot.python is not None
            return run_under_qemu(
                sysroot.path,
                [str(sysroot.python), "-c", code],
                arch=arch,
                env=env,
                cwd=empty,
                timeout=SMOKE_TIMEOUT,
            )

        if baseline:
            first = emulated(baseline)
            if not first.ok:
                return ForeignVerified(
                    f"smoke test not run: what it is installed with does not run under "
                    f"{qemu.name} here ({_last_line(first)})",
                    emulated=False,
                )
        done = emulated(smoke)
        if not done.ok:
            last = _last_line(done)
            raise VerifyError(
                f"{wheel.name} fails its smoke test under {qemu.name}: {last}",
                hint="nothing was published; the smoke code is the recipe's `smoke` value",
            )
        return ForeignVerified("\n".join(done.stdout.strip().splitlines()[-5:]), emulated=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
