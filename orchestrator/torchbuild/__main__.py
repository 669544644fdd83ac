"""The command line. The only place that turns errors into messages and exit codes."""

from __future__ import annotations

import errno
import importlib
import logging
import sys
import traceback
from typing import Sequence

import click

from . import __version__
from .commands import COMMANDS
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, InputError, TorchbuildError

__all__ = ["cli", "console", "main"]

#: OS errors that mean "this place refuses us", not "torchbuild is broken".
_PLACE_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENAMETOOLONG,
    }
)


class _LazyGroup(click.Group):
    """Subcommands imported on first use (see torchbuild.commands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click API
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(f".commands.{spec[0]}", __package__)
        command: click.Command = getattr(module, spec[1])
        return command


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "-V", "--version", prog_name="torchbuild")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", count=True, help="More output (repeat for more).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """Get a working torch, torchvision and torchaudio where `pip install` cannot.

    torchbuild detects the machine, reuses a prebuilt wheel where one truly fits, builds the
    rest from source, and keeps every wheel in a local index that pip and uv install from.
    """
    level = logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["verbose"] = verbose


def _say(kind: str, text: str) -> None:
    # Plain writes: the error funnel must work even when rich cannot (broken terminal, pipes).
    sys.stderr.write(f"{kind}: {text}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the documented exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        # Without standalone mode click returns what ctx.exit() was given (e.g. doctor's
        # findings code) instead of exiting with it.
        code = cli.main(args=args, prog_name="torchbuild", standalone_mode=False)
    except TorchbuildError as exc:
        if debug:
            traceback.print_exc()
        _say("error", exc.message)
        _say("hint", exc.hint)
        return exc.exit_code
    except click.UsageError as exc:
        _say("error", exc.format_message())
        command = exc.ctx.command_path if exc.ctx else "torchbuild"
        _say("hint", f"see `{command} --help`")
        return EXIT_USAGE
    except click.exceptions.Exit as exc:  # --help / --version
        return int(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        _say("error", "interrupted")
        _say("hint", "run the same command again: finished work is kept")
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        _say("error", exc.format_message())
        _say("hint", "see `torchbuild --help`")
        return exc.exit_code
    except BrokenPipeError:
        # `torchbuild detect --json | head` closed the pipe: not an error worth a message.
        return 0
    except OSError as exc:
        if exc.errno not in _PLACE_ERRNOS:
            return _internal(exc, debug)
        # A place the user chose that refuses us (read-only, full, a file where a directory
        # belongs) is theirs to fix, not a bug; the commands check their places first, and
        # this catches the ones no check foresaw.
        if debug:
            traceback.print_exc()
        where = f" {exc.filename}" if exc.filename else ""
        _say("error", f"cannot use{where}: {exc.strerror or exc}")
        _say(
            "hint", "check that the path is a writable directory with free space, or choose another"
        )
        return InputError.exit_code
    except UnicodeDecodeError as exc:
        if debug:
            traceback.print_exc()
        _say(
            "error",
            f"a file given to torchbuild is not UTF-8 text (byte {exc.start}: {exc.reason})",
        )
        _say("hint", "check the files named on the command line and in torchbuild.toml")
        return InputError.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence, reported as a bug
        return _internal(exc, debug)
    return code if isinstance(code, int) else 0


def _internal(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    _say("error", f"internal error: {type(exc).__name__}: {exc}")
    _say("hint", "this is a bug in torchbuild; rerun with --debug and report the traceback")
    return EXIT_INTERNAL


def console() -> None:  # pragma: no cover - console-script and `python -m` entry
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console()
