"""The one way torchbuild runs other programs.

Probes (``capture``) run with a timeout and never raise for a missing or hanging tool: detection
must report ``null``, not crash. Long jobs (``live``) stream their output line by line to a
callback and a log file.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["CommandFailed", "Completed", "capture", "live", "probe"]

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


class CommandFailed(Exception):  # noqa: N818 - reads as what happened
    """A command exited non-zero (or was killed); carries the tail of its output."""

    def __init__(
        self, args: Sequence[str], returncode: int, tail: str, log_path: Path | None
    ) -> None:
        super().__init__(f"{shlex.join(args)} exited with {returncode}")
        self.args_ = tuple(args)
        self.returncode = returncode
        self.tail = tail
        self.log_path = log_path


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


def live(
    args: Sequence[str],
    *,
    log_path: Path,
    on_line: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tail_lines: int = 60,
) -> None:
    """Run a long command, appending its combined output to ``log_path`` as it comes.

    Raises :class:`CommandFailed` with the last ``tail_lines`` lines on a non-zero exit.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    with log_path.open("a", encoding="utf-8", errors="replace") as sink:
        sink.write(f"+ {shlex.join(args)}\n")
        sink.flush()
        proc = subprocess.Popen(
            list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=dict(env) if env is not None else None,
            cwd=cwd,
            bufsize=1,
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sink.write(line)
                tail.append(line.rstrip("\n"))
                if len(tail) > tail_lines:
                    del tail[0]
                if on_line is not None:
                    on_line(line.rstrip("\n"))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        returncode = proc.wait()
    if returncode != 0:
        raise CommandFailed(args, returncode, "\n".join(tail), log_path)


def which(name: str, path: str | None = None) -> Path | None:
    """``shutil.which`` returning a ``Path``; ``path`` defaults to this process's ``PATH``."""
    import shutil

    found = shutil.which(name, path=path if path is not None else os.environ.get("PATH"))
    return Path(found) if found else None
