"""`torchbuild root`: prepared root file systems to build inside (create, show, run, install)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from .. import ui
from ._common import json_option, parse_env
from .sysroot import sysroot as sysroot_command

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..roots.marker import RootInfo

__all__ = ["root"]

_DIR = click.Path(path_type=Path, file_okay=False)


@click.group()
def root() -> None:
    """Prepared root file systems that torchbuild builds inside.

    A root is a minimal Debian made by debootstrap, e.g. trixie on a bookworm machine when a
    build needs newer system libraries than the host has. Commands run inside it with /proc,
    /sys, /dev and DNS mounted in a private mount namespace, so nothing stays mounted.
    """


@contextlib.contextmanager
def _log_file(prefix: str) -> Iterator[IO[str]]:
    """A log for the tools' output, kept only when the error it ends with names it."""
    from ..roots.runner import names_log

    log = tempfile.NamedTemporaryFile("w", prefix=prefix, suffix=".log", delete=False)  # noqa: SIM115
    path = Path(log.name)
    try:
        with log:
            yield log
    except BaseException as exc:
        if not names_log(exc, path):
            path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)


def _info_lines(directory: Path, info: RootInfo) -> list[str]:
    lines = [
        f"root:      {directory}",
        f"dist:      {info.dist} ({info.variant})",
        f"arch:      {info.arch}" + (f" (emulated on {info.host_arch})" if info.foreign else ""),
        f"mirror:    {info.mirror}",
        f"sets:      {', '.join(info.package_sets) or '-'}",
        f"packages:  {len(info.packages)}",
        f"created:   {info.created} by {info.created_by}",
    ]
    if info.timings:
        lines.append(
            "timings:   " + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in info.timings)
        )
    if info.updated:
        lines.append(f"updated:   {info.updated}")
    own = info.self_install
    lines.append(
        f"torchbuild: {own.version} in {own.venv} (Python {own.python})"
        if own
        else "torchbuild: not installed (torchbuild root install-self)"
    )
    return lines


def _print_info(directory: Path, info: RootInfo, as_json: bool, **extra: Any) -> None:
    from ..roots.marker import to_json

    if as_json:
        ui.print_json({**to_json(info), "root": str(directory), **extra})
    else:
        ui.console.print("\n".join(_info_lines(directory, info)), markup=False, soft_wrap=True)


@root.command("create")
@click.argument("dist")
@click.argument("directory", metavar="DIR", type=_DIR)
@click.option("--arch", help="Debian architecture (arm64, armhf...); default: this machine's.")
@click.option(
    "--packages",
    "packages",
    multiple=True,
    metavar="SET|PKG",
    help="A package set from recipes/roots.toml or a Debian package; repeat or separate with "
    "commas.",
)
@click.option(
    "--mirror", metavar="URL", help="Debian mirror; default: the one this machine's apt uses."
)
@json_option
def create(
    dist: str,
    directory: Path,
    arch: str | None,
    packages: tuple[str, ...],
    mirror: str | None,
    as_json: bool,
) -> None:
    """Create a minimal DIST root (e.g. trixie) in DIR and install package sets inside it."""
    from ..roots.create import create_root

    ui.err_console.print(
        f"creating a {dist} root in {directory} (debootstrap, then apt-get; minutes)",
        markup=False,
        soft_wrap=True,
    )
    result = create_root(dist, directory, arch=arch, mirror=mirror, packages=packages)
    _print_info(result.root, result.info, as_json, log=str(result.log))


@root.command("show")
@click.argument("directory", metavar="DIR", type=_DIR)
@json_option
def show(directory: Path, as_json: bool) -> None:
    """Show how the root in DIR was made and what it holds."""
    from ..roots.marker import read_marker

    _print_info(directory, read_marker(directory), as_json)


@root.command("sets")
@json_option
def sets(as_json: bool) -> None:
    """List the named package sets (recipes/roots.toml)."""
    from ..roots.packagesets import package_sets

    found = package_sets()
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "sets": [
                    {"name": s.name, "description": s.description, "packages": list(s.packages)}
                    for s in found.values()
                ],
            }
        )
        return
    for s in found.values():
        ui.console.print(f"{s.name}: {s.description}", markup=False, soft_wrap=True)
        ui.console.print("  " + " ".join(s.packages), markup=False, soft_wrap=True)


@root.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("directory", metavar="DIR", type=_DIR)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option(
    "--bind",
    "binds",
    multiple=True,
    metavar="HOST[:INSIDE][:ro]",
    help="Make a host path visible inside the root (repeatable).",
)
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Set a variable inside.")
@click.option("--cwd", default="/", show_default=True, help="Working directory inside the root.")
@click.pass_context
def run_command(
    ctx: click.Context,
    directory: Path,
    command: tuple[str, ...],
    binds: tuple[str, ...],
    env: tuple[str, ...],
    cwd: str,
) -> None:
    """Run COMMAND inside the root in DIR; its exit status is passed through.

    Write `--` before the command: torchbuild root run DIR -- python3 -c 'print(1)'
    """
    from ..errors import InputError
    from ..roots.inside import parse_bind, run_attached

    if command[:1] == ("--",):
        # Click keeps the separator when options after DIR are not parsed (so that the
        # command's own options reach it untouched).
        command = command[1:]
    if not command:
        raise InputError("no command given", hint="torchbuild root run DIR -- COMMAND...")
    variables = parse_env(env)
    # On this terminal: a build inside shows its own progress as it goes.
    status = run_attached(
        directory, command, binds=[parse_bind(b) for b in binds], env=variables, cwd=cwd
    )
    # A command killed by a signal reads as 128 + the signal's number, as in a shell.
    ctx.exit(status if status >= 0 else 128 - status)


@root.command("install")
@click.argument("directory", metavar="DIR", type=_DIR)
@click.argument("packages", nargs=-1, required=True, metavar="SET|PKG...")
@json_option
def install(directory: Path, packages: tuple[str, ...], as_json: bool) -> None:
    """Install package sets or Debian packages into the root in DIR."""
    from ..roots.create import install_packages

    with _log_file("torchbuild-root-install-") as log:
        info = install_packages(directory, packages, log)
    if info is not None:
        _print_info(directory, info, as_json)
    elif as_json:
        ui.print_json({"version": 1, "root": str(directory), "installed": list(packages)})
    else:
        ui.console.print(f"installed {' '.join(packages)} in {directory}", markup=False)


@root.command("install-self")
@click.argument("directory", metavar="DIR", type=_DIR)
@json_option
def install_self(directory: Path, as_json: bool) -> None:
    """Install this torchbuild into /opt/torchbuild/venv inside the root in DIR."""
    from ..roots.selfinstall import install_self as install

    with _log_file("torchbuild-root-install-self-") as log:
        made = install(directory, log)
    result = {
        "version": 1,
        "root": str(directory),
        "venv": made.venv,
        "torchbuild": made.version,
        "python": made.python,
        "installed": made.installed,
    }
    if as_json:
        ui.print_json(result)
    else:
        ui.console.print(
            f"torchbuild {made.version} installed in {directory}{made.venv} "
            f"(the root's Python {made.python}); run it with\n"
            f"  torchbuild root run {directory} -- {made.venv}/bin/torchbuild detect",
            markup=False,
            soft_wrap=True,
        )


# `root sysroot`: a cross-compiling sysroot made from Debian's packages (see torchbuild.cross).
root.add_command(sysroot_command)
