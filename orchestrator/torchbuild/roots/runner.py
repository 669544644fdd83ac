"""How roots run their long commands (debootstrap, apt-get, pip, the user's command).

Every long command of this package goes through ``run_long``, so moving them to a streaming
runner is a change to this one function.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from .. import run
from ..errors import TorchbuildError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = ["LONG", "names_log", "run_long"]

#: Generous on purpose: a torch build inside an emulated root takes a day; a hang is for the
#: user to interrupt, not for a timer to guess.
LONG = 7 * 24 * 3600.0


def run_long(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log: IO[str] | None = None,
    timeout: float = LONG,
) -> run.Completed:
    """Run a long command; its output also goes to ``log`` (command line first)."""
    done = run.capture(args, timeout=timeout, env=env)
    if log is not None:
        log.write("+ " + " ".join(args) + "\n" + done.stdout + done.stderr)
        log.write(f"[exit status {done.returncode}]\n")
        log.flush()
    return done


def names_log(exc: BaseException, log: Path | str) -> bool:
    """Whether an error sends the user to ``log`` (a log no error mentions is not kept)."""
    return isinstance(exc, TorchbuildError) and str(log) in f"{exc.message} {exc.hint}"
