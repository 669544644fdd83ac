"""The one way torchbuild runs other programs.

Probes run with a timeout and never raise for a missing or hanging tool: detection must report
``null``, not crash. ``capture`` is for commands whose failure the caller handles itself.
``stream`` runs a long command (a build, an install) line by line into a log and a callback.
``attached`` hands the terminal to a command the user asked for (its own progress display).
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["Completed", "attached", "capture", "probe", "stream", "which"]

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


def attached(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Run a command on this process's terminal (stdin, stdout, stderr) and return its status.

    Ctrl-C reaches the command too (it is in the same foreground process group); this process
    waits for it to stop, so nothing is left running behind the caller.
    """
    log.debug("+ %s", shlex.join(args))
    proc = subprocess.Popen(list(args), env=dict(env) if env is not None else None, cwd=cwd)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # noqa: PERF203 - the command stops on the same Ctrl-C
            continue


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


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """End a command and everything it started: SIGTERM to its process group, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        return


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when torchbuild dies, even by SIGKILL.

    Without this a killed torchbuild leaves its build driver running, and the next run's build
    in the same directory would race it.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the process-group clean-up on interrupt still applies


def stream(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: IO[str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> int:
    """Run a long command, passing each output line (stdout and stderr merged) to ``log`` and
    ``on_line``; return its exit status (negative: killed by that signal).

    The command gets its own process group, so an interrupt (Ctrl-C, or an exception from
    ``on_line``) ends the whole tree it started (compilers included) before it propagates: a
    build left running in the background would fight the next one for the same directory.
    """
    log_line = shlex.join(args)
    logging.getLogger(__name__).debug("+ %s", log_line)
    if log is not None:
        log.write(f"+ {log_line}\n")
        log.flush()
    proc = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent if os.name == "posix" else None,  # noqa: PLW1509
    )
    assert proc.stdout is not None
    try:
        # Binary lines decoded leniently: compilers print whatever encoding the sources had.
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if log is not None:
                log.write(line + "\n")
            if on_line is not None:
                on_line(line)
        return proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        proc.stdout.close()
        if log is not None:
            log.flush()
