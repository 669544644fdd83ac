"""`torchbuild doctor`: why `pip install torch` fails or misfires here, and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.table import Table

from .. import ui
from ..detect.torch import probe_installed_torch, probe_runtime
from ..doctor.diagnose import diagnose
from ..doctor.report import report_json
from ..errors import EXIT_FINDINGS
from ..resolve.indexes import client_for
from ..resolve.matrix import PACKAGES, parse_request
from ..resolve.metadata import reader_for
from ..resolve.tags import tag_set
from ._common import json_option, target_option
from ._planning import index_options, where_pip_looks

if TYPE_CHECKING:
    from ..doctor.report import Report

__all__ = ["doctor"]

_MARK = {"error": "[red]✗[/]", "warning": "[yellow]![/]", "info": "[blue]i[/]"}


def _render(report: Report) -> None:
    target = report.target
    where = escape(target.origin)
    if target.python is not None:
        tagset = tag_set(target)
        where += f": {tagset.interpreter} on {tagset.best_platform}"
    ui.console.print(f"[bold]torchbuild doctor[/] for {where}")
    pip_table = Table(
        title="what `pip install` would do", title_justify="left", box=None, pad_edge=False
    )
    for column in ("package", "pip gets", "works here", "newest that fits"):
        pip_table.add_column(column, overflow="fold")
    for o in report.outcomes:
        gets = "nothing (no wheel fits)" if o.version is None else f"{o.version}"
        works = "[green]yes[/]" if o.works else "[red]no[/]"
        pip_table.add_row(o.name, gets, works, str(o.newest_fitting or "-"))
    ui.console.print(pip_table)
    # File names on lines of their own, never wrapped by us: a table cell would split them.
    for o in report.outcomes:
        if o.wheel is not None:
            ui.print_whole(f"  {o.name}: ", o.wheel.link.filename)
    if not report.findings:
        ui.console.print("[green]no problems found[/]: `pip install` gives a working set here")
        return
    for f in report.findings:
        ui.console.print(f"\n{_MARK.get(f.severity, '-')} [bold]{escape(f.what)}[/]")
        rows = [("evidence", escape(f.evidence)), ("way out", escape(f.fix))]
        if f.newest_fitting:
            rows.append(("newest release that fits", escape(f.newest_fitting)))
        ui.console.print(ui.labelled(rows))
    if report.install is not None:
        _render_install(report)
    verdict = (
        "[green]pip install gives a working set[/]"
        if report.ok
        else "[red]pip install does not give a working set here[/]"
    )
    ui.console.print(f"\n{verdict}")


def _render_install(report: Report) -> None:
    """The newest set that fits, pinned to its files: what to run instead of `pip install`."""
    install = report.install
    assert install is not None
    wanted = " ".join(f"{r.project}=={r.version}" for r in install.routes)
    ui.console.print("\n[bold]install exactly[/] the newest set that fits:")
    rows = [
        (r.project, f"{escape(r.filename or '?')} [dim]from[/] {escape(r.index_url)}")
        for r in install.routes
    ]
    rows.append(
        (
            "files",
            (
                "`torchbuild index config --for` (below) writes constraints.txt, pip.conf and "
                "the uv routing (pyproject-uv.toml) for this set"
            ),
        )
    )
    ui.console.print(ui.labelled(rows))
    # Hashes, commands and URLs are copied by people: each on a line of its own, never folded.
    ui.console.print("[bold]constraints.txt[/]:")
    for route in install.routes:
        ui.print_whole("  ", route.constraint)
    ui.console.print("[bold]then[/]:")
    ui.print_whole("  ", dict(install.commands)["pip"])
    ui.print_whole("  ", f"torchbuild index config --for '{wanted}'")


@click.command()
@click.argument("packages", nargs=-1, metavar="[PKG]...")
@target_option
@json_option
@index_options
@click.pass_context
def doctor(
    ctx: click.Context,
    packages: tuple[str, ...],
    target_spec: str | None,
    as_json: bool,
    cuda: str,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    offline: bool,
    no_known_indexes: bool,
) -> None:
    """Check why `pip install torch torchvision torchaudio` fails or misfires, and what to do.

    Exit status 0 when pip install would give a working set, 1 when it would not.
    """
    names = [parse_request(p).name for p in packages] or list(PACKAGES)
    settings, target, pip, sources = where_pip_looks(
        target_spec, index_url, extra_index_url, find_links, offline, no_known_indexes, cuda=cuda
    )
    installed = probe_installed_torch(target, timeout=max(settings.probe_timeout, 10.0))
    runtime = None
    if installed is not None and installed.cuda and target.cuda and target.cuda.gpus:
        runtime = probe_runtime(target, timeout=max(settings.probe_timeout, 60.0))
    report = diagnose(
        target,
        packages=names,
        sources=sources,
        client=client_for(settings, pip),
        pip=pip,
        cuda=cuda,
        installed=installed,
        runtime=runtime,
        metadata=reader_for(settings, pip.cert),
    )
    if as_json:
        ui.print_json(report_json(report))
    else:
        _render(report)
    if not report.ok:
        ctx.exit(EXIT_FINDINGS)
