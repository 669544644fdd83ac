"""Options and glue shared by the subcommands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from ..settings import Settings, load_settings
from ..target import Target, load_target

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["json_option", "settings_from", "target_from", "target_option"]

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


def target_from(spec: str | None, settings: Settings, root: Path | None = None) -> Target:
    """The Target a command works for: a profile/preset, a mounted root, or this host."""
    from .. import detect

    if spec:
        return load_target(spec)
    if root is not None:
        return detect.detect_root(root)
    return detect.detect_host(settings)
