"""`torchbuild wheel`: plan, then fetch what fits and build the rest into the wheelhouse."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from rich.markup import escape
from rich.table import Table

from .. import detect, sources, ui
from ..errors import InputError, TorchbuildError
from ..pipeline.producer import Outcome, Producer, Wanted, WheelOptions
from ..resolve.matrix import PACKAGES, parse_request
from ..resolve.plan import plan_json
from ..resolve.variants import need_for
from ..target import Libc, Target
from ..venvs import find_installer, interpreter_facts
from ._common import json_option, terminate_as_interrupt
from .plan import index_options, plan_for, where_pip_looks

if TYPE_CHECKING:
    from ..resolve.indexes import Source
    from ..resolve.matrix import Request
    from ..resolve.plan import Plan

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


@dataclass(frozen=True)
class _Job:
    """One target's share of the run: what it is, its plan, and how to build for it."""

    label: str
    target: Target
    plan: Plan | None
    options: WheelOptions | None
    error: TorchbuildError | None = None


def _plan_table(jobs: Sequence[_Job], wanted: Sequence[Wanted]) -> Table:
    many = len(jobs) > 1
    table = Table(title="plan", title_justify="left", box=None, pad_edge=False)
    if many:
        table.add_column("target", no_wrap=True)
    table.add_column("package", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("why")
    colours = {"cached": "green", "prebuilt": "cyan", "build": "yellow"}
    for job in jobs:
        lead = [escape(job.label)] if many else []
        if job.error is not None:
            table.add_row(*lead, "-", "-", "[red]failed[/]", escape(job.error.message))
            continue
        for d in job.plan.decisions if job.plan else ():
            colour = colours.get(d.action, "white")
            table.add_row(
                *lead, d.name, str(d.version), f"[{colour}]{d.action}[/]", escape(d.reason)
            )
        for w in wanted:
            table.add_row(
                *lead,
                w.name,
                w.version or "?",
                "[yellow]build[/]",
                escape(w.origin or f"from {w.source.location}"),
            )
    return table


def _summary_table(rows: Sequence[tuple[str, Outcome]], many: bool) -> Table:
    table = Table(title="wheelhouse", title_justify="left", box=None, pad_edge=False)
    if many:
        table.add_column("target", no_wrap=True)
    table.add_column("package", no_wrap=True)
    table.add_column("done", no_wrap=True)
    table.add_column("wheel", overflow="fold")
    table.add_column("detail")
    for label, o in rows:
        lead = [escape(label)] if many else []
        table.add_row(*lead, o.project, o.action, escape(o.wheel or "-"), escape(o.detail))
    return table


class TargetsFailedError(TorchbuildError):
    """Some targets of a multi-target run failed; the others finished. The exit code is the
    first failure's."""

    def __init__(self, failures: Sequence[tuple[str, TorchbuildError]], total: int) -> None:
        first = failures[0][1]
        names = "; ".join(f"{label}: {err.message}" for label, err in failures)
        super().__init__(
            f"{len(failures)} of {total} targets failed ({names})",
            hint=first.hint or "see the messages above",
        )
        self.exit_code = first.exit_code


@click.command()
@click.argument("packages", nargs=-1, required=True, metavar="PKG[SPEC]...")
@click.option(
    "--target",
    "target_specs",
    multiple=True,
    metavar="NAME|FILE",
    help="A preset, a profile from `detect --json`, or `host` (repeatable: plan all, then "
    "build each); default: this machine.",
)
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
@click.option(
    "--root",
    "sysroot",
    type=click.Path(path_type=Path, file_okay=False),
    help="The target's sysroot (a board image, or `torchbuild root sysroot`): builds for "
    "another machine are cross-compiled against it. Without --target, the target is read "
    "from it.",
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
    target_specs: tuple[str, ...],
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
    sysroot: Path | None,
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
    # Without a recipe or a --source: the package's sdist from the configured indexes.
    pending = [(name, version) for name, version, _ in others if name not in given]
    index = (index_url, extra_index_url, find_links, offline)
    from_index = _index_sdists(pending, target_specs, sysroot, python, index) if pending else {}
    for name, version, _ in others:
        if name in from_index:
            choice = from_index[name]
            wanted.append(Wanted(name, str(choice.version), choice.request(), choice.describe()))
        else:
            wanted.append(Wanted(name, version, given[name]))

    specs: list[str | None] = list(dict.fromkeys(target_specs)) or [None]
    many = len(specs) > 1
    common = {
        "packages": family,
        "given": given,
        "python": python,
        "sysroot": sysroot,
        "wheelhouse": wheelhouse,
        "cuda": cuda,
        "ignore_matrix": ignore_matrix,
        "index": index,
        "build": {
            "jobs": jobs,
            "verbose": bool((ctx.find_root().obj or {}).get("verbose")),
            "cli_env": _env_pairs(env_pairs),
            "recipe_dirs": tuple(recipe_dir),
            "compiler_cache": compiler_cache,
            "distcc_hosts": distcc_hosts,
            "installer": installer,
            "with_deps": not no_deps,
        },
    }
    jobs_: list[_Job] = []
    for spec in specs:
        try:
            jobs_.append(_prepare(spec, **common))  # type: ignore[arg-type]
        except TorchbuildError as exc:  # noqa: PERF203 - one target's failure is reported
            if not many:
                raise
            jobs_.append(_Job(spec or "this machine", _no_target(), None, None, exc))
    out = ui.err_console if as_json else ui.console
    if dry_run:
        if as_json:
            ui.print_json(
                {
                    "version": JSON_VERSION,
                    "targets": [
                        {
                            "target": j.label,
                            "plan": plan_json(j.plan) if j.plan else None,
                            "error": j.error.message if j.error else None,
                        }
                        for j in jobs_
                    ],
                    "others": [
                        {"name": w.name, "source": w.source.location, "origin": w.origin}
                        for w in wanted
                    ],
                }
            )
        else:
            ui.console.print(_plan_table(jobs_, wanted))
        if any(j.error for j in jobs_):
            raise TargetsFailedError([(j.label, j.error) for j in jobs_ if j.error], len(jobs_))
        return

    if not as_json:
        out.print(_plan_table(jobs_, wanted))
    rows: list[tuple[str, Outcome]] = []
    failures = [(j.label, j.error) for j in jobs_ if j.error is not None]
    with terminate_as_interrupt():
        for job in jobs_:
            if job.error is not None or job.options is None:
                continue
            if many:
                out.print(f"[bold]{escape(job.label)}[/]")
            producer = Producer(
                job.target,
                job.options,
                out,
                user_sources=given,
                note=lambda text: out.print(f"[dim]{escape(text)}[/]"),
            )
            try:
                producer.run(job.plan, wanted)
            except TorchbuildError as exc:
                # One target failing does not stop the others; the summary says which and why.
                if not many:
                    rows.extend((job.label, o) for o in producer.outcomes)
                    if rows:
                        out.print(_summary_table(rows, many))
                    raise
                ui.err_console.print(f"[red]error:[/] {escape(job.label)}: {escape(exc.message)}")
                failures.append((job.label, exc))
            except KeyboardInterrupt:
                rows.extend((job.label, o) for o in producer.outcomes)
                if rows:
                    out.print(_summary_table(rows, many))
                raise
            rows.extend((job.label, o) for o in producer.outcomes)
    wheelhouse_dir = next((j.options.wheelhouse for j in jobs_ if j.options), None)
    if as_json:
        ui.print_json(
            {
                "version": JSON_VERSION,
                "wheelhouse": str(wheelhouse_dir) if wheelhouse_dir else None,
                "packages": [{"target": label, **o.to_json()} for label, o in rows],
                "failed": [{"target": label, "error": e.message} for label, e in failures],
            }
        )
    else:
        out.print(_summary_table(rows, many))
        if wheelhouse_dir is not None:
            out.print(
                f"\ninstall with: torchbuild index config  [dim](wheelhouse {wheelhouse_dir})[/]"
            )
    if failures:
        raise TargetsFailedError(failures, len(jobs_))


def _no_target() -> Target:
    return Target(os="linux", arch="unknown", libc=Libc("glibc", None), python=None)


def _index_sdists(
    pending: Sequence[tuple[str, str | None]],
    target_specs: Sequence[str],
    sysroot: Path | None,
    python: Path | None,
    index: tuple[str | None, tuple[str, ...], tuple[str, ...], bool],
) -> dict[str, Any]:
    """Each pending package's sdist (``sources.index.SdistChoice``) on the first target's
    indexes, for the Python that will build it."""
    from ..resolve.indexes.client import client_for
    from ..sources.index import find_sdists

    spec = next(iter(target_specs), None)
    spec = None if spec == "host" else spec
    root = sysroot.expanduser().absolute() if sysroot and not spec else None
    settings, target, pip, where = where_pip_looks(spec, *index, root=root)
    version = target.python.version if target.python else None
    if python is not None:
        version = interpreter_facts(python.expanduser().absolute())["version"]
    return find_sdists(client_for(settings, pip), where, pending, python=version)


def _prepare(
    spec: str | None,
    *,
    packages: Sequence[Request],
    given: dict[str, sources.SourceRequest],
    python: Path | None,
    sysroot: Path | None,
    wheelhouse: Path | None,
    cuda: str,
    ignore_matrix: bool,
    index: tuple[str | None, tuple[str, ...], tuple[str, ...], bool],
    build: dict[str, Any],
) -> _Job:
    """Detect or load one target and plan for it ("host": this machine, as with no --target)."""
    label = spec or (str(sysroot) if sysroot else "this machine")
    if spec == "host":
        if sysroot is not None:
            raise InputError(
                "--root names another machine's sysroot, and --target host is this machine",
                hint="give the target's preset or profile with --target, or drop --root",
            )
        spec = None
    root = sysroot.expanduser().absolute() if sysroot else None
    if root is not None and not root.is_dir():
        raise InputError(f"--root {root} is not a directory", hint="give the sysroot's path")
    settings, target, pip, where = where_pip_looks(spec, *index, root=None if spec else root)
    if wheelhouse is not None:
        settings = dataclasses.replace(
            settings, wheelhouse=wheelhouse, sources={**settings.sources, "wheelhouse": "flag"}
        )
    interpreter = python.expanduser().absolute() if python else None
    if interpreter is not None and not spec and root is None:
        facts = interpreter_facts(interpreter)
        target = detect.detect_host(settings, python_executable=facts["executable"])
    # A preset's or profile's interpreter path is the board's, not one on this machine.
    on_host = target.origin == "host"
    exe = target.python.executable if on_host and target.python else None
    run_python = interpreter or (Path(exe) if exe else None)
    plan = None
    if packages:
        plan = plan_for(
            target,
            list(packages),
            settings=settings,
            pip=pip,
            sources=where,
            cuda=cuda,
            ignore_matrix=ignore_matrix,
            user_sources={k: v.location for k, v in given.items()},
        )
    # A preset or profile names no interpreter on this machine: its prebuilt wheels are still
    # fetched (dependencies resolved for its tags); its builds are cross-compiled against
    # --root, with --python (the target's minor version) running the build scripts here.
    run_python = run_python or Path(sys.executable)
    options = WheelOptions(
        wheelhouse=settings.wheelhouse_dir,
        cache_dir=settings.cache_path,
        python=run_python,
        installer=_installer_args(where, settings.offline, build["installer"]),
        jobs=build["jobs"],
        verbose=build["verbose"],
        cli_env=build["cli_env"],
        recipe_dirs=build["recipe_dirs"],
        compiler_cache=build["compiler_cache"] or settings.compiler_cache or "auto",
        distcc_hosts=build["distcc_hosts"] or settings.distcc_hosts,
        offline=settings.offline,
        variant=need_for(target, cuda).kind,
        with_deps=build["with_deps"],
        cert=pip.cert,
        sysroot=root,
    )
    return _Job(label, target, plan, options)
