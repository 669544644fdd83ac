"""Options and glue shared by the subcommands."""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

import click

from ..settings import Settings, load_settings
from ..target import Target, load_target

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "json_option",
    "settings_from",
    "target_from",
    "target_option",
    "terminate_as_interrupt",
]

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(func)


def target_option(func: F) -> F:
    return click.option(
        "--target",
        "target_spec",
        metavar="NAME|FILE",
        help="Plan for a preset (see recipes/targets) or a profile from `detect --json`; "
        "default: this machine.",
    )(func)


def settings_from(**flags: Any) -> Settings:
    """Settings with this command's flags on top of environment, file and defaults."""
    return load_settings(flags)


def target_from(
    spec: str | None,
    settings: Settings,
    root: Path | None = None,
    *,
    python_executable: str | None = None,
) -> Target:
    """The Target a command works for: a profile/preset, a mounted root, or this host (with
    ``python_executable`` the interpreter its wheels are for, instead of the running one)."""
    from .. import detect

    if spec:
        return load_target(spec)
    if root is not None:
        return detect.detect_root(root)
    return detect.detect_host(settings, python_executable=python_executable)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`, a service manager stopping us) ends a command like
    Ctrl-C: a build stops its compilers and keeps its build directory, a server stops serving.

    SIGINT is made to raise KeyboardInterrupt as well: a process started in the background by a
    non-interactive shell inherits SIGINT ignored, and `kill -INT` must still stop it.
    """

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous_term = signal.signal(signal.SIGTERM, handler)
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (tests driving the CLI in a thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
