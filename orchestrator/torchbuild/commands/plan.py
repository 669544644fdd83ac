"""`torchbuild plan`: per package, reuse a fitting wheel or build it, and say why."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import click
from packaging.version import Version
from rich.markup import escape
from rich.table import Table

from .. import ui
from ..resolve.indexes import Source, client_for
from ..resolve.pipconfig import DEFAULT_INDEX_URL
from ..resolve.plan import (
    JSON_VERSION,
    Decision,
    plan_json,
    sdist_decision,
    source_summaries,
)
from ..resolve.tags import tag_set
from ..resolve.variants import describe_need
from ._common import (
    check_source_names,
    json_option,
    parse_sources,
    target_option,
)
from ._planning import index_options, plan_for, prefer_option, split_packages, where_pip_looks

if TYPE_CHECKING:
    from ..resolve.indexes import IndexClient
    from ..resolve.plan import Plan
    from ..target import Target

__all__ = ["looked_in_table", "plan"]


def looked_in_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        title="looked in", title_justify="left", box=None, pad_edge=False, show_header=False
    )
    table.add_column(no_wrap=True)
    table.add_column()
    for row in rows:
        status = row["status"]
        mark = {"ok": "[green]ok[/]", "error": "[red]unreachable[/]"}.get(status, status)
        if row["cached"]:
            mark += " [dim](cached)[/]"
        detail = f"{escape(row['location'])} [dim]({escape(row['origin'])})[/]"
        answers = row.get("answers") or {}
        if answers and row["status"] != "error":
            said = (
                f"{n} files" if isinstance(n, int) else str(n).replace("-", " ")
                for n in answers.values()
            )
            detail += "\n[dim]" + escape(", ".join(f"{p}: {a}" for p, a in zip(answers, said)))
            detail += "[/]"
        if row["error"]:
            detail += f"\n[red]{escape(row['error'])}[/]"
        table.add_row(mark, detail)
    return table


def _where(index: str) -> str:
    return "PyPI" if index.rstrip("/") == DEFAULT_INDEX_URL else index


def _render(result: Plan) -> None:
    target = result.target
    tagset = tag_set(target)
    ui.console.print(
        f"[bold]torchbuild plan[/] for {escape(target.origin)}: {tagset.interpreter} on "
        f"{tagset.best_platform}; wants {escape(describe_need(result.need))}\n"
    )
    colours = {"cached": "green", "prebuilt": "cyan", "build": "yellow"}
    for d in result.decisions:
        colour = colours.get(d.action, "white")
        needed = " [dim](needed by the others)[/]" if d.role == "implied" else ""
        ui.console.print(f"[bold]{d.name}[/] {d.version}  [{colour}]{d.action}[/]{needed}")
        rows: list[tuple[str, str]] = []
        # The file name on a line of its own, whole: a grid cell would split it.
        if d.wheel is not None:
            ui.print_whole("  [dim]file:[/]   ", d.wheel.filename)
            rows.append(("from", escape(_where(d.wheel.index))))
        else:
            rows.append(("source", escape(d.source or "unknown")))
            rows.append(("recipe", escape(d.recipe or "unknown")))
            if d.variant is not None and d.variant.label:
                rows.append(("builds", f"{escape(d.name)} {d.version}+{escape(d.variant.label)}"))
        rows.append(("why", escape(d.reason)))
        rows.extend(("note", f"[dim]{escape(note)}[/]") for note in d.notes)
        ui.console.print(ui.labelled(rows))
    for note in result.choice_notes:
        ui.console.print(f"[dim]{escape(note)}[/]")
    if result.newer is not None:
        ui.console.print(f"[yellow]newer:[/] {escape(result.newer.line())}")
    if result.installed is not None and result.resolution.torch_role == "installed":
        kind = f"CUDA {result.installed.cuda}" if result.installed.cuda else "CPU"
        ui.console.print(
            f"\n[dim]for the installed torch {result.installed.version} ({kind}), not planned[/]"
        )
    ui.console.print()
    ui.console.print(looked_in_table(source_summaries(result)))


def _recipeless(
    others: list[tuple[str, str | None, str]],
    given: dict[str, str],
    target: Target,
    client: IndexClient,
    sources: list[Source],
) -> list[Decision]:
    """Packages without a recipe: built from --source, or from their sdist on the indexes."""
    from ..sources.index import find_sdists

    out = [
        Decision(
            name,
            Version(version or "0"),
            "build",
            "built from the source given",
            source=given[name],
            recipe="recipes/generic.toml",
        )
        for name, version, _ in others
        if name in given
    ]
    pending = [(name, version) for name, version, _ in others if name not in given]
    if pending:
        python = target.python.version if target.python else None
        found = find_sdists(client, sources, pending, python=python)
        out.extend(sdist_decision(found[name]) for name, _ in pending)
    return out


def _show_recipeless(decisions: list[Decision], *, as_json: bool) -> None:
    if as_json:
        ui.print_json({"version": JSON_VERSION, "packages": [d.to_json() for d in decisions]})
        return
    for d in decisions:
        ui.console.print(f"[bold]{d.name}[/] {d.version}  [yellow]{d.action}[/]")
        rows = [("source", escape(d.source or "unknown")), ("recipe", escape(d.recipe or ""))]
        ui.console.print(ui.labelled([*rows, ("why", escape(d.reason))]))


@click.command()
@click.argument("packages", nargs=-1, required=True, metavar="PKG[SPEC]...")
@target_option
@json_option
@index_options
@click.option(
    "--ignore-matrix",
    is_flag=True,
    help="Plan versions the compatibility matrix says do not go together (shown as a warning).",
)
@click.option(
    "--source",
    "user_sources",
    multiple=True,
    metavar="PKG=PATH",
    help="Build PKG from this directory or tarball instead of the upstream release.",
)
@prefer_option
def plan(
    packages: tuple[str, ...],
    target_spec: str | None,
    as_json: bool,
    cuda: str,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    offline: bool,
    no_known_indexes: bool,
    ignore_matrix: bool,
    user_sources: tuple[str, ...],
    prefer: str,
) -> None:
    """Decide per package: cached, prebuilt (which file, from where) or build, and why.

    Versions left open are resolved to the newest set that goes together (torchvision and
    torchaudio with the torch their wheels' METADATA names) and supports the target, prebuilt
    first (--prefer); `torch==2.6.0 torchvision` completes the set. Wheels are looked for where
    pip would look (pip's configuration), in the known wheel sources that fit the target
    (PyTorch's and Jetson AI Lab's indexes), and in the local wheelhouse.
    """
    requests, others = split_packages(packages)
    given = {k: v.location for k, v in parse_sources(user_sources).items()}
    check_source_names(given, [r.name for r in requests] + [name for name, _, _ in others])
    settings, target, pip, sources = where_pip_looks(
        target_spec, index_url, extra_index_url, find_links, offline, no_known_indexes, cuda=cuda
    )
    extra = _recipeless(others, given, target, client_for(settings, pip), sources)
    if not requests:
        _show_recipeless(extra, as_json=as_json)
        return
    result = plan_for(
        target,
        requests,
        settings=settings,
        pip=pip,
        sources=sources,
        cuda=cuda,
        ignore_matrix=ignore_matrix,
        user_sources=given,
        prefer=prefer,
    )
    result = dataclasses.replace(result, decisions=(*result.decisions, *extra))
    for row in source_summaries(result):
        # A known source nobody configured is listed with its error below, not warned about.
        if row["status"] == "error" and not row["known"]:
            ui.warn(f"could not read {row['location']}: {row['error']}")
    for problem in pip.problems:
        ui.warn(f"pip configuration: {problem}")
    if as_json:
        ui.print_json(plan_json(result))
    else:
        _render(result)
