"""`torchbuild detect`: what torchbuild knows about this machine, or a mounted root."""

from __future__ import annotations

from pathlib import Path

import click

from .. import ui
from ..target import to_json
from ._common import json_option, settings_from, target_from

__all__ = ["detect"]


@click.command()
@json_option
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    help="Describe a mounted root file system (a board image) from its files, running nothing.",
)
def detect(as_json: bool, root: Path | None) -> None:
    """Show the machine as torchbuild sees it: OS, arch, libc, Python, CUDA, board, tools."""
    settings = settings_from()
    target = target_from(None, settings, root)
    if as_json:
        ui.print_json(to_json(target))
    else:
        from ..detect.report import detect_table

        ui.console.print(detect_table(target))
