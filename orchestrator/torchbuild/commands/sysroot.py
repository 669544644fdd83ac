"""`torchbuild root sysroot`: a cross-compiling sysroot from a distribution's packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import ui
from ._common import json_option

__all__ = ["sysroot", "sysroot_json"]


def sysroot_json(facts: Any, record: Any) -> dict[str, Any]:
    """The JSON form of a prepared sysroot: its facts and how it was made."""
    return {
        "version": 1,
        "sysroot": str(facts.path),
        "arch": facts.arch,
        "multiarch": facts.multiarch,
        "python_version": facts.python_version,
        "python_include": str(facts.python_include),
        "python": str(facts.python) if facts.python is not None else None,
        "ext_suffix": facts.ext_suffix,
        "dist": record.dist if record else None,
        "mirror": record.mirror if record else None,
        "packages": list(record.packages) if record else [],
        "debs": len(record.debs) if record else None,
        "seconds": record.seconds if record else None,
    }


@click.command("sysroot")
@click.argument("dist")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option("--arch", required=True, help="Debian architecture of the target: arm64, armhf.")
@click.option(
    "--packages",
    "--package",
    "packages",
    multiple=True,
    metavar="SET|PKG",
    help="A package set from recipes/roots.toml (torch-sysroot) or a Debian package; repeat "
    "or separate with commas. Default: libc6-dev libstdc++6 python3-dev.",
)
@click.option(
    "--mirror",
    metavar="URL",
    help="Archive to fetch from; default: the one this machine's apt uses.",
)
@click.option(
    "--keyring",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Keyring of the archive; default: the one apt trusts for it here.",
)
@click.option("--python", "python_version", metavar="X.Y", help="Python headers to expect.")
@json_option
def sysroot(
    dist: str,
    directory: Path,
    arch: str,
    packages: tuple[str, ...],
    mirror: str | None,
    keyring: Path | None,
    python_version: str | None,
    as_json: bool,
) -> None:
    """Make DIR a sysroot of DIST (e.g. bookworm) for cross-compiling; nothing of it is run.

    Running it again with the same arguments reuses DIR, so a CI cache can keep it.
    """
    from ..cross.prepare import DEFAULT_PACKAGES, prepare_sysroot, read_record
    from ..roots.packagesets import select

    wanted = select(packages).packages if packages else DEFAULT_PACKAGES

    ui.err_console.print(
        f"preparing a {dist} {arch} sysroot in {directory} (apt download, dpkg-deb -x)",
        markup=False,
        soft_wrap=True,
    )
    facts = prepare_sysroot(
        directory,
        dist=dist,
        arch=arch,
        packages=wanted,
        mirror=mirror,
        keyring=keyring,
        python_version=python_version,
    )
    data = sysroot_json(facts, read_record(facts.path))
    if as_json:
        ui.print_json(data)
        return
    lines = [
        f"sysroot:   {data['sysroot']}",
        f"arch:      {data['arch']} ({data['multiarch']})",
        f"python:    {data['python_version']} (headers {data['python_include']})",
        f"suffix:    {data['ext_suffix']}",
        f"packages:  {data['debs']} .deb files from {data['mirror']}",
    ]
    ui.console.print("\n".join(lines), markup=False, soft_wrap=True)
