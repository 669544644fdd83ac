"""Options and glue shared by the subcommands."""

from __future__ import annotations

import contextlib
import difflib
import signal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence, TypeVar

import click

from ..errors import InputError
from ..settings import Settings, load_settings
from ..target import Target, load_target

if TYPE_CHECKING:
    from pathlib import Path

    from ..sources import SourceRequest

__all__ = [
    "check_package_name",
    "check_source_names",
    "json_option",
    "parse_env",
    "parse_sources",
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


def parse_env(values: Sequence[str]) -> dict[str, str]:
    """``--env KEY=VALUE`` (repeatable; a later KEY wins). A malformed one is a usage error."""
    from ..recipes.load import ENV_NAME

    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not ENV_NAME.match(key):
            raise click.BadParameter(
                f"{value!r} is not KEY=VALUE (KEY a variable name, e.g. USE_CUDA=0)",
                param_hint="--env",
            )
        out[key] = val
    return out


def parse_sources(values: Sequence[str]) -> dict[str, SourceRequest]:
    """``--source PKG=LOCATION`` (repeatable; a later one for the same package wins), keyed by
    the package's canonical name (``TorchVision`` and ``torchvision`` are one package)."""
    from ..sources import parse_user_source

    out: dict[str, SourceRequest] = {}
    for value in values:
        request = parse_user_source(value)
        out[request.package] = request
    return out


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


def check_package_name(name: str, known: Iterable[str], *, what: str = "recipe") -> None:
    """Refuse a name that is a near miss of a known package (``torchvison``): without a
    recipe of its own it would fall to the generic recipe and fail far from the typo.

    A name close to nothing is left alone: any PEP 517 project may be built generically.
    """
    from packaging.utils import canonicalize_name

    wanted = canonicalize_name(name)
    names = sorted({canonicalize_name(k) for k in known})
    if wanted in names:
        return
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.85)
    if close:
        raise InputError(
            f"there is no {what} for {name!r}",
            hint=f"did you mean {close[0]!r}? known: {', '.join(names)}",
        )


def check_source_names(given: Iterable[str], asked: Iterable[str]) -> None:
    """Refuse ``--source NAME=...`` for a package the command was not asked for: it would be
    ignored without a word, and the build would use the upstream source instead.

    ``asked`` are canonical names; torch counts as asked whenever one of its family is, since
    torchvision and torchaudio build against it.
    """
    from packaging.utils import canonicalize_name

    from ..resolve.matrix import PACKAGES

    allowed: set[str] = {canonicalize_name(n) for n in asked}
    if allowed & set(PACKAGES):
        allowed.add("torch")
    stray = sorted(n for n in {canonicalize_name(g) for g in given} if n not in allowed)
    if stray:
        close = difflib.get_close_matches(stray[0], sorted(allowed), n=1, cutoff=0.8)
        raise InputError(
            f"--source {stray[0]}=... names a package this command was not asked for "
            f"(asked: {', '.join(sorted(allowed))})",
            hint=(f"did you mean --source {close[0]}=...? " if close else "")
            + f"or add {stray[0]} to the packages to build",
        )


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
