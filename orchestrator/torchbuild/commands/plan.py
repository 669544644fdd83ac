"""`torchbuild plan`: per package, reuse a fitting wheel or build it, and say why."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click
from packaging.version import Version
from rich.markup import escape
from rich.table import Table

from .. import ui
from ..detect.torch import probe_installed_torch
from ..resolve.choice import PREFER, parse_prefer
from ..resolve.indexes import Source, client_for, configured_sources
from ..resolve.matrix import parse_request
from ..resolve.metadata import reader_for
from ..resolve.pipconfig import DEFAULT_INDEX_URL, PipConfig, read_pip_config
from ..resolve.plan import (
    JSON_VERSION,
    Decision,
    make_plan,
    plan_json,
    sdist_decision,
    source_summaries,
)
from ..resolve.tags import tag_set
from ..resolve.variants import check_cuda_option, describe_need
from ._common import (
    check_source_names,
    json_option,
    parse_sources,
    settings_from,
    target_from,
    target_option,
)

if TYPE_CHECKING:
    from ..resolve.indexes import IndexClient
    from ..resolve.matrix import Request
    from ..resolve.plan import Plan
    from ..settings import Settings
    from ..target import Target

__all__ = [
    "index_options",
    "looked_in_table",
    "plan",
    "plan_for",
    "prefer_option",
    "where_pip_looks",
]

F = TypeVar("F", bound=Callable[..., Any])


def index_options(func: F) -> F:
    """--index-url, --extra-index-url, --find-links, --offline, --no-known-indexes, --cuda:
    shared with doctor and wheel."""
    for option in reversed(
        [
            click.option(
                "--cuda",
                default="auto",
                show_default=True,
                metavar="auto|none|X.Y",
                help="auto: CUDA if the target has an NVIDIA GPU; none: CPU only; X.Y: that CUDA.",
                # Checked as the command line is read, before any detection or network.
                callback=lambda _ctx, _param, value: check_cuda_option(value),
            ),
            click.option(
                "--index-url",
                metavar="URL",
                help="Replace pip's main index (default: whatever pip is configured with).",
            ),
            click.option(
                "--extra-index-url",
                multiple=True,
                metavar="URL",
                help="Also look in this index (repeatable), after pip's own.",
            ),
            click.option(
                "--find-links",
                multiple=True,
                metavar="DIR|URL",
                help="Also look in this directory or page of wheels (repeatable).",
            ),
            click.option(
                "--offline",
                is_flag=True,
                help="Use only cached index answers and local files; never the network.",
            ),
            click.option(
                "--no-known-indexes",
                is_flag=True,
                help="Do not look in the known wheel sources (PyTorch's and Jetson AI Lab's "
                "indexes); only where pip and these flags say.",
            ),
        ]
    ):
        func = option(func)
    return func


def prefer_option(func: F) -> F:
    """--prefer prebuilt|newest|build: shared with wheel."""
    return click.option(
        "--prefer",
        type=click.Choice(PREFER),
        default="prebuilt",
        show_default=True,
        help="prebuilt: the newest set that needs no build; newest: the newest set, building "
        "what has no wheel; build: build everything asked.",
    )(func)


def where_pip_looks(
    target_spec: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    offline: bool,
    no_known_indexes: bool = False,
    root: Path | None = None,
    cuda: str = "auto",
    python_executable: str | None = None,
    **flags: Any,
) -> tuple[Settings, Target, PipConfig, list[Source]]:
    """The settings (these flags, and ``flags``: more of the command's own, through the chain),
    the target, pip's configuration and the places wheels are looked for."""
    settings = settings_from(
        index_url=index_url,
        extra_index_url=extra_index_url,
        find_links=find_links,
        offline=True if offline else None,
        known_indexes=False if no_known_indexes else None,
        **flags,
    )
    target = target_from(target_spec, settings, root, python_executable=python_executable)
    prefix = None
    if target.origin == "host" and target.python and target.python.executable:
        # pip's "site" config file lives in the interpreter's sys.prefix.
        prefix = Path(target.python.executable).parent.parent
    pip = read_pip_config(site_prefix=prefix)
    return settings, target, pip, configured_sources(settings, pip, target, cuda)


def plan_for(
    target: Target,
    requests: list[Request],
    *,
    settings: Settings,
    pip: PipConfig,
    sources: list[Source],
    cuda: str,
    ignore_matrix: bool,
    user_sources: dict[str, str],
    prefer: str = "prebuilt",
    recipe_dirs: tuple[Path, ...] = (),
) -> Plan:
    """The plan for ``requests`` on ``target`` (the installed torch probed when torch is not
    asked for), with its warnings shown: shared by `plan` and `wheel`."""
    installed = None
    if "torch" not in {r.name for r in requests}:
        installed = probe_installed_torch(target, timeout=max(settings.probe_timeout, 10.0))
    result = make_plan(
        target,
        requests,
        sources=sources,
        client=client_for(settings, pip),
        cuda=cuda,
        ignore_matrix=ignore_matrix,
        installed=installed,
        user_sources=user_sources,
        metadata=reader_for(settings, pip.cert),
        prefer=parse_prefer(prefer),
        recipe_dirs=recipe_dirs,
    )
    if target.os != "linux":
        result = _plan_elsewhere(result, requests, sources, client_for(settings, pip), cuda)
    for warning in result.warnings:
        ui.warn(warning)
    return result


def _plan_elsewhere(
    result: Plan, requests: list[Request], sources: list[Source], client: Any, cuda: str
) -> Plan:
    """macOS and Windows: torchbuild builds nothing there, so the plan is the newest set the
    indexes have wheels for (what pip would install, found by the doctor), or an error that
    names the way out."""
    from dataclasses import replace

    from ..doctor.diagnose import diagnose
    from ..doctor.platforms import LINUX_ONLY, foreign_way_out, where_words
    from ..errors import ResolveError

    builds = [d for d in result.decisions if d.action == "build"]
    target = result.target
    if not builds:
        if result.newer is None:
            return result
        # The newer set needs builds, which cannot happen there: say so instead of its cost.
        newer = ", ".join(f"{n} {v}" for n, v in result.newer.versions)
        note = f"{where_words(target)} has no wheel for {newer}; planned the newest set with "
        note += f"wheels there ({LINUX_ONLY})"
        return replace(result, newer=None, warnings=(*result.warnings, note))
    names = [r.name for r in requests]
    report = diagnose(target, packages=names, sources=sources, client=client, cuda=cuda)
    pins = {o.name: o.version for o in report.outcomes if o.version is not None}
    wanted = {r.name: r for r in requests}
    fits = all(
        d.name in pins and (d.name not in wanted or wanted[d.name].specifier.contains(pins[d.name]))
        for d in builds
    )
    if fits:
        pinned = [parse_request(f"{r.name}=={pins[r.name]}") for r in requests]
        again = make_plan(
            target,
            pinned,
            sources=sources,
            client=client,
            cuda=cuda,
            ignore_matrix=False,
            installed=result.installed,
            user_sources={},
        )
        if not any(d.action == "build" for d in again.decisions):
            dropped = ", ".join(f"{d.name} {d.version}" for d in builds)
            got = ", ".join(f"{d.name} {d.version}" for d in again.decisions)
            note = f"{where_words(target)} has no wheel for {dropped}; planned {got}, the newest "
            note += f"with wheels there ({LINUX_ONLY})"
            return replace(again, warnings=(*result.warnings, note))
    first = builds[0]
    finding = next((f for f in report.findings if f.severity == "error"), None)
    raise ResolveError(
        f"{first.name} {first.version} has no wheel for {where_words(target)}, and "
        f"{LINUX_ONLY}" + (f": {finding.what}" if finding else ""),
        hint=finding.fix if finding else foreign_way_out(target, []),
    )


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
    from .wheel import _split

    requests, others = _split(packages)
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
