"""The one way torchbuild runs other programs.

Probes run with a timeout and never raise for a missing or hanging tool: detection must report
``null``, not crash. ``capture`` is for commands whose failure the caller handles itself.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["Completed", "capture", "probe", "which"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed:
    """What a finished probe printed."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def capture(
    args: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Completed:
    """Run a short command and collect its output; raise ``OSError``/``TimeoutExpired`` as is."""
    log.debug("+ %s", shlex.join(args))
    proc = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Completed(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def probe(
    args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> Completed | None:
    """Run a tool to learn something about the machine; ``None`` when it cannot answer.

    A missing executable, a permission problem or a hang past ``timeout`` all mean the same
    thing to detection: the fact is unknown.
    """
    try:
        return capture(args, timeout=timeout, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("probe %s failed: %s", args[0], exc)
        return None


def which(name: str, path: str | None = None) -> Path | None:
    """``shutil.which`` returning a ``Path``; ``path`` defaults to this process's ``PATH``."""
    import shutil

    found = shutil.which(name, path=path if path is not None else os.environ.get("PATH"))
    return Path(found) if found else None
