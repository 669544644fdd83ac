"""What a person sees while a build runs: a progress bar on a terminal, a few plain lines in CI.

A torch build prints tens of thousands of lines in one to several hours. On a terminal the bar
shows how far it is and how long is left; in a pipe (CI, ``| tee``) an animation would fill the
log with redraws, so a plain status line is printed at most every tenth of the way or every
30 seconds instead. The full output always goes to the build log, which the caller writes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, final

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .progress import ProgressTracker, Step

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from rich.console import Console

__all__ = ["BuildDisplay"]

#: In a pipe, a status line at most this often (seconds) when the fraction has not moved 10 %.
PLAIN_INTERVAL = 30.0
#: ... and whenever another tenth of the phase is done.
PLAIN_FRACTION = 0.1


@final
class BuildDisplay:
    """Shows one build's progress on ``console``; use as a context manager."""

    def __init__(
        self,
        console: Console,
        title: str,
        *,
        verbose: bool,
        log_path: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console = console
        self._title = title
        self._verbose = verbose
        self._log_path = log_path
        self._clock = clock
        self._tracker = ProgressTracker()
        self._live = console.is_terminal and not console.is_dumb_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._phase = 0
        self._started = 0.0
        self._last: Step | None = None
        # Plain mode: when and at which tenth the last status line was printed.
        self._printed_at = 0.0
        self._printed_bucket = -1
        self._printed: Step | None = None

    def __enter__(self) -> BuildDisplay:
        self._started = self._clock()
        self._printed_at = self._started
        self._console.print(f"[bold]building {escape(self._title)}[/]")
        # The log path whole on its own line, to be copied (never split by rich, even in a pipe).
        self._console.print(
            f"  [dim]log:[/] {escape(str(self._log_path))}", soft_wrap=True, overflow="ignore"
        )
        if self._live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("[dim]{task.fields[label]}[/]"),
                console=self._console,
                # The bar goes when the build ends (a frozen spinner would stay on screen);
                # a plain line then says where it ended.
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(escape(self._title), total=None, label="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            if self._last is not None:
                self._plain(self._last)
        elif self._last is not None and self._last != self._printed:
            self._plain(self._last)  # where it ended, unless that was the last line printed

    def line(self, text: str) -> None:
        """One line of the build's output: shown when verbose, and read for progress."""
        if self._verbose:
            self._console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
        step = self._tracker.feed(text)
        if step is not None:
            self._update(step)

    def note(self, text: str) -> None:
        """A torchbuild message during the build, printed above the bar."""
        self._console.print(f"[bold cyan]torchbuild:[/] {escape(text)}", soft_wrap=True)

    # -- internals ----------------------------------------------------------------------------

    def _update(self, step: Step) -> None:
        new_phase = step.phase != self._phase
        self._phase = step.phase
        self._last = step
        if self._progress is not None and self._task is not None:
            if new_phase:
                # A new ninja run: its own count from its own start, not the previous run's.
                self._progress.reset(self._task, total=step.total, label="")
            self._progress.update(
                self._task, completed=step.done or 0, total=step.total, label=escape(step.label)
            )
            return
        now = self._clock()
        bucket = self._bucket(step)
        if new_phase:
            self._printed_bucket = -1 if bucket is None else bucket
            return
        due = now - self._printed_at >= PLAIN_INTERVAL
        if (bucket is not None and bucket > self._printed_bucket) or due:
            self._plain(step)
            self._printed_at = now
            if bucket is not None:
                self._printed_bucket = bucket

    @staticmethod
    def _bucket(step: Step) -> int | None:
        if step.done is None or not step.total:
            return None
        return int(step.done / step.total / PLAIN_FRACTION)

    def _plain(self, step: Step) -> None:
        elapsed = _clock_text(self._clock() - self._started)
        if step.total:
            done = step.done or 0
            where = f"[{done}/{step.total}] {100 * done // step.total}%"
        else:
            where = f"[{step.done if step.done is not None else '?'}]"
        self._console.print(
            f"  {where} {elapsed} elapsed  {step.label}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        self._printed = step


def _clock_text(seconds: float) -> str:
    """``12:31`` or ``1:02:03``: the way rich's elapsed column writes it."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
