"""`torchbuild wheel`: plan, then fetch what fits and build the rest into the wheelhouse."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import click
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from rich.markup import escape
from rich.table import Table

from .. import detect, sources, ui
from ..errors import InputError, TorchbuildError
from ..indexes import client_for
from ..matrix import PACKAGES, parse_request
from ..pipeline import Outcome, Producer, Wanted, WheelOptions
from ..plan import make_plan, plan_json, probe_installed_torch
from ..variants import need_for
from ..venvs import find_installer, interpreter_facts
from ._common import json_option, target_option
from .plan import index_options, where_pip_looks

if TYPE_CHECKING:
    from ..indexes import Source
    from ..matrix import Request
    from ..plan import Plan

__all__ = ["wheel"]

JSON_VERSION = 1


def _split(packages: Sequence[str]) -> tuple[list[Request], list[tuple[str, str | None, str]]]:
    """Torch-family requests for the planner, and other projects (name, pinned version, text)."""
    family: list[Request] = []
    others: list[tuple[str, str | None, str]] = []
    for text in packages:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            family.append(parse_request(text))  # the planner's own message for bad input
            continue
        name = canonicalize_name(req.name)
        if name in PACKAGES:
            family.append(parse_request(text))
            continue
        pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
        others.append((name, pins[0] if pins else None, text))
    return family, others


def _user_sources(values: Sequence[str]) -> dict[str, sources.SourceRequest]:
    out: dict[str, sources.SourceRequest] = {}
    for value in values:
        request = sources.parse_user_source(value)
        out[request.package] = request
    return out


def _env_pairs(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise InputError(f"--env {value!r} is not KEY=VALUE", hint="e.g. --env USE_CUDA=0")
        out[key] = val
    return out


def _installer_args(sources_: Sequence[Source], offline: bool, prefer: str) -> Any:
    index = [s.location for s in sources_ if s.kind == "index"]
    links = [s.location for s in sources_ if s.kind == "find-links"]
    return find_installer(
        index_url=index[0] if index else None,
        extra_index_urls=index[1:],
        find_links=links,
        offline=offline or not index,
        prefer=prefer,
    )


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) ends a build like Ctrl-C: compilers stopped, the
    build directory kept for the next run."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests driving the CLI in a thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _plan_table(plan: Plan | None, wanted: Sequence[Wanted]) -> Table:
    table = Table(title="plan", title_justify="left", box=None, pad_edge=False)
    table.add_column("package", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("why")
    colours = {"cached": "green", "prebuilt": "cyan", "build": "yellow"}
    for d in plan.decisions if plan else ():
        colour = colours.get(d.action, "white")
        table.add_row(d.name, str(d.version), f"[{colour}]{d.action}[/]", escape(d.reason))
    for w in wanted:
        table.add_row(
            w.name, w.version or "?", "[yellow]build[/]", escape(f"from {w.source.location}")
        )
    return table


def _summary_table(outcomes: Sequence[Outcome]) -> Table:
    table = Table(title="wheelhouse", title_justify="left", box=None, pad_edge=False)
    table.add_column("package", no_wrap=True)
    table.add_column("done", no_wrap=True)
    table.add_column("wheel", overflow="fold")
    table.add_column("detail")
    for o in outcomes:
        table.add_row(o.project, o.action, escape(o.wheel or "-"), escape(o.detail))
    return table


@click.command()
@click.argument("packages", nargs=-1, required=True, metavar="PKG[SPEC]...")
@target_option
@json_option
@index_options
@click.option(
    "--source",
    "user_sources",
    multiple=True,
    metavar="PKG=PATH",
    help="Build PKG from this directory, tarball (PATH#sha256=HEX), Debian .dsc or git URL.",
)
@click.option("--wheelhouse", type=click.Path(path_type=Path), help="The wheelhouse to fill.")
@click.option("--jobs", type=click.IntRange(min=1), help="Compile jobs (default: memory model).")
@click.option(
    "--python",
    "python",
    type=click.Path(path_type=Path),
    help="The interpreter the wheels are for (default: the one running torchbuild).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
@click.option("--ignore-matrix", is_flag=True, help="Allow versions the matrix does not pair.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Recipe override.")
@click.option(
    "--recipe-dir",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A directory of recipes layered over the bundled ones (repeatable).",
)
@click.option(
    "--compiler-cache",
    default=None,
    metavar="auto|none|ccache|sccache|URL",
    help="Compiler cache (default auto: ccache, else sccache, when installed).",
)
@click.option(
    "--distcc-hosts",
    default=None,
    metavar="HOSTS",
    help="Spread compiles over these distcc hosts (DISTCC_HOSTS syntax).",
)
@click.option(
    "--installer",
    type=click.Choice(["auto", "uv", "pip"]),
    default="auto",
    show_default=True,
    help="What fills build and verify environments.",
)
@click.option(
    "--no-deps", is_flag=True, help="Do not add the set's dependencies to the wheelhouse."
)
@click.pass_context
def wheel(
    ctx: click.Context,
    packages: tuple[str, ...],
    target_spec: str | None,
    as_json: bool,
    cuda: str,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    offline: bool,
    user_sources: tuple[str, ...],
    wheelhouse: Path | None,
    jobs: int | None,
    python: Path | None,
    dry_run: bool,
    ignore_matrix: bool,
    env_pairs: tuple[str, ...],
    recipe_dir: tuple[Path, ...],
    compiler_cache: str | None,
    distcc_hosts: str | None,
    installer: str,
    no_deps: bool,
) -> None:
    """Fetch every fitting prebuilt wheel and build the rest, into the wheelhouse.

    torch first, then torchvision and torchaudio against that torch (or against the torch
    installed in --python). Other packages (torch extensions, any PEP 517 project) build from
    --source with the generic recipe, after the torch family. Each built wheel is repaired,
    verified in a fresh environment and only then published. Interrupted builds resume.
    """
    family, others = _split(packages)
    given = _user_sources(user_sources)
    wanted = []
    for name, version, text in others:
        if name not in given:
            raise InputError(
                f"{text} has no recipe of its own and no source was given",
                hint=f"give its source: --source {name}=/path/to/tree-or-sdist",
            )
        wanted.append(Wanted(name, version, given[name]))

    settings, target, pip, where = where_pip_looks(
        target_spec, index_url, extra_index_url, find_links, offline
    )
    if wheelhouse is not None:
        settings = dataclasses.replace(
            settings, wheelhouse=wheelhouse, sources={**settings.sources, "wheelhouse": "flag"}
        )
    interpreter = python.expanduser().absolute() if python else None
    if interpreter is not None:
        facts = interpreter_facts(interpreter)
        if not target_spec:
            target = detect.detect_host(settings, python_executable=facts["executable"])
    exe = target.python.executable if target.python and target.python.executable else None
    run_python = interpreter or (Path(exe) if exe else None)
    if run_python is None:
        raise InputError("the target's Python interpreter is not known", hint="pass --python PATH")

    plan = None
    if family:
        installed = None
        if "torch" not in {r.name for r in family}:
            installed = probe_installed_torch(target, timeout=max(settings.probe_timeout, 10.0))
        plan = make_plan(
            target,
            family,
            sources=where,
            client=client_for(settings, pip),
            cuda=cuda,
            ignore_matrix=ignore_matrix,
            installed=installed,
            user_sources={k: v.location for k, v in given.items()},
        )
        for warning in plan.warnings:
            ui.warn(warning)
    if dry_run:
        if as_json:
            ui.print_json(
                {
                    "version": JSON_VERSION,
                    "plan": plan_json(plan) if plan else None,
                    "others": [{"name": w.name, "source": w.source.location} for w in wanted],
                }
            )
        else:
            ui.console.print(_plan_table(plan, wanted))
        return

    options = WheelOptions(
        wheelhouse=settings.wheelhouse_dir,
        cache_dir=settings.cache_path,
        python=run_python,
        installer=_installer_args(where, settings.offline, installer),
        jobs=jobs,
        verbose=bool((ctx.find_root().obj or {}).get("verbose")),
        cli_env=_env_pairs(env_pairs),
        recipe_dirs=tuple(recipe_dir),
        compiler_cache=compiler_cache or settings.compiler_cache or "auto",
        distcc_hosts=distcc_hosts or settings.distcc_hosts,
        offline=settings.offline,
        variant=need_for(target, cuda).kind,
        with_deps=not no_deps,
        cert=pip.cert,
    )
    out = ui.err_console if as_json else ui.console
    if not as_json:
        out.print(_plan_table(plan, wanted))
    producer = Producer(
        target,
        options,
        out,
        user_sources=given,
        note=lambda text: out.print(f"[dim]{escape(text)}[/]"),
    )
    try:
        with _terminate_as_interrupt():
            outcomes = producer.run(plan, wanted)
    except (TorchbuildError, KeyboardInterrupt):
        if producer.outcomes:
            out.print(_summary_table(producer.outcomes))
        raise
    if as_json:
        ui.print_json(
            {
                "version": JSON_VERSION,
                "wheelhouse": str(options.wheelhouse),
                "packages": [o.to_json() for o in outcomes],
            }
        )
    else:
        out.print(_summary_table(outcomes))
        out.print(
            f"\ninstall with: torchbuild index config  [dim](wheelhouse {options.wheelhouse})[/]"
        )
