"""`torchbuild wheel`: plan, then fetch what fits and build the rest into the wheelhouse."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click
from packaging.utils import canonicalize_name
from rich.markup import escape
from rich.table import Table

from .. import sources, ui
from ..detect.interpreter import probe_interpreter
from ..errors import InputError, TorchbuildError
from ..pipeline import Outcome, Pipeline, WheelOptions, host_for, plan_jobs
from ..recipes.layers import package_names, recipe_dirs
from ..resolve.jobs import Wanted
from ..resolve.matrix import PACKAGES
from ..resolve.plan import plan_json
from ..target import Libc, Target
from ..venvs import find_installer
from ..wheelhouse.place import check_wheelhouse
from ._common import (
    check_package_name,
    check_source_names,
    json_option,
    parse_env,
    parse_sources,
    terminate_as_interrupt,
)
from ._planning import (
    index_options,
    plan_for,
    prefer_option,
    split_packages,
    where_pip_looks,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..pipeline import BuildHost
    from ..resolve.indexes import Source
    from ..resolve.jobs import Job
    from ..resolve.matrix import Request
    from ..resolve.plan import Plan

__all__ = ["wheel"]

JSON_VERSION = 1


def _installer_args(sources_: Sequence[Source], offline: bool, prefer: str) -> Any:
    # Dependencies come from where pip is configured; the known sources only serve the plan.
    index = [s.location for s in sources_ if s.kind == "index" and s.known is None]
    links = [s.location for s in sources_ if s.kind == "find-links"]
    return find_installer(
        index_url=index[0] if index else None,
        extra_index_urls=index[1:],
        find_links=links,
        offline=offline or not index,
        prefer=prefer,
    )


@dataclass(frozen=True)
class _TargetRun:
    """One target's share of the run: what it is, its plan, its jobs and where they run."""

    label: str
    target: Target
    plan: Plan | None
    options: WheelOptions | None
    jobs: tuple[Job, ...] = ()
    host: BuildHost | None = None
    error: TorchbuildError | None = None


def _plan_table(jobs: Sequence[_TargetRun]) -> Table:
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
        for j in job.jobs:
            colour = colours.get(j.action, "white")
            table.add_row(*lead, j.name, j.version, f"[{colour}]{j.action}[/]", escape(j.reason))
    return table


def _print_summary(out: Console, rows: Sequence[tuple[str, Outcome]], many: bool) -> None:
    """What landed in the wheelhouse: per package a line, then its wheel file and where it came
    from, each whole on its own line (a table column would split them in the middle)."""
    out.print("[bold]wheelhouse[/]")
    for label, o in rows:
        lead = f"{escape(label)}  " if many else ""
        out.print(f"  {lead}[bold]{escape(o.project)}[/] {escape(o.version)}  {o.action}")
        if o.wheel:
            ui.print_whole("    ", o.wheel, out=out)
        if o.detail:
            ui.print_whole("    [dim]detail:[/] ", o.detail, out=out)


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
    default=None,
    help="What fills build and verify environments (default: auto, uv when installed).",
)
@click.option(
    "--no-deps", is_flag=True, help="Do not add the set's dependencies to the wheelhouse."
)
@prefer_option
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
    no_known_indexes: bool,
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
    installer: str | None,
    no_deps: bool,
    prefer: str,
) -> None:
    """Fetch every fitting prebuilt wheel and build the rest, into the wheelhouse.

    torch first, then torchvision and torchaudio against that torch (or against the torch
    installed in --python). Other packages (torch extensions, any PEP 517 project) build from
    --source with the generic recipe, after the torch family. Each built wheel is repaired,
    verified in a fresh environment and only then published. Interrupted builds resume.
    """
    family, others = split_packages(packages)
    given = parse_sources(user_sources)
    check_source_names(given, [r.name for r in family] + [name for name, _, _ in others])
    wanted = []
    # Without a recipe or a --source: the package's sdist from the configured indexes (a near
    # miss of a recipe's name is a typo, not a project to fetch).
    pending = [(name, version) for name, version, _ in others if name not in given]
    for name, _ in pending:
        check_package_name(name, [*PACKAGES, *package_names(recipe_dirs(list(recipe_dir)))])
    index = (index_url, extra_index_url, find_links, offline, no_known_indexes)
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
        "wanted": wanted,
        "given": given,
        "python": python,
        "sysroot": sysroot,
        "cuda": cuda,
        "ignore_matrix": ignore_matrix,
        "prefer": prefer,
        "index": index,
        # Flags that are settings go through the settings chain (flag > env > file > default).
        "flags": {
            "wheelhouse": wheelhouse,
            "jobs": jobs,
            "compiler_cache": compiler_cache,
            "distcc_hosts": distcc_hosts,
            "installer": installer,
        },
        "build": {
            "verbose": bool((ctx.find_root().obj or {}).get("verbose")),
            "cli_env": parse_env(env_pairs),
            "recipe_dirs": tuple(recipe_dir),
            "with_deps": not no_deps,
        },
    }
    jobs_: list[_TargetRun] = []
    for spec in specs:
        # Every check a build makes before its work (recipe, compilers, sysroot, CUDA toolkit,
        # wheelhouse) runs here, for --dry-run too: a dry run that passes means the run starts.
        try:
            prepared = _prepare(spec, **common)  # type: ignore[arg-type]
        except TorchbuildError as exc:
            if not many:
                raise
            prepared = _TargetRun(spec or "this machine", _no_target(), None, None, error=exc)
        if prepared.error is not None and not many:
            raise prepared.error
        jobs_.append(prepared)
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
            ui.console.print(_plan_table(jobs_))
        if any(j.error for j in jobs_):
            raise TargetsFailedError([(j.label, j.error) for j in jobs_ if j.error], len(jobs_))
        return

    if not as_json:
        out.print(_plan_table(jobs_))
    rows: list[tuple[str, Outcome]] = []
    failures = [(j.label, j.error) for j in jobs_ if j.error is not None]
    with terminate_as_interrupt():
        for job in jobs_:
            if job.error is not None or job.options is None or job.host is None:
                continue
            if many:
                out.print(f"[bold]{escape(job.label)}[/]")
            pipeline = Pipeline(
                job.target,
                job.options,
                out,
                job.host,
                note=lambda text: out.print(f"[dim]{escape(text)}[/]"),
            )
            installed = job.plan is not None and job.plan.resolution.torch_role == "installed"
            try:
                pipeline.run(job.jobs, torch_installed=installed)
            except TorchbuildError as exc:
                # One target failing does not stop the others; the summary says which and why.
                if not many:
                    rows.extend((job.label, o) for o in pipeline.outcomes)
                    if rows:
                        _print_summary(out, rows, many)
                    raise
                ui.err_console.print(f"[red]error:[/] {escape(job.label)}: {escape(exc.message)}")
                failures.append((job.label, exc))
            except KeyboardInterrupt:
                rows.extend((job.label, o) for o in pipeline.outcomes)
                if rows:
                    _print_summary(out, rows, many)
                raise
            rows.extend((job.label, o) for o in pipeline.outcomes)
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
        _print_summary(out, rows, many)
        if wheelhouse_dir is not None:
            out.print(
                f"\ninstall with: torchbuild index config  [dim](wheelhouse {wheelhouse_dir})[/]"
            )
    if failures:
        raise TargetsFailedError(failures, len(jobs_))


def _expected_bytes(plan: Plan | None) -> int:
    """Room the wheelhouse needs for this plan: each prebuilt wheel's listed size, and for a
    build the largest file its project has on the indexes asked (the best guess of how big the
    wheel it builds will be)."""
    if plan is None:
        return 0
    largest: dict[str, int] = {}
    for listing in plan.listings:
        for link in listing.files:
            if link.size:
                name = canonicalize_name(listing.project)
                largest[name] = max(largest.get(name, 0), link.size)
    total = 0
    for d in plan.decisions:
        if d.action == "prebuilt" and d.wheel is not None:
            total += d.wheel.size or 0
        elif d.action == "build":
            total += largest.get(canonicalize_name(d.name), 0)
    return total


def _no_target() -> Target:
    return Target(os="linux", arch="unknown", libc=Libc("glibc", None), python=None)


def _index_sdists(
    pending: Sequence[tuple[str, str | None]],
    target_specs: Sequence[str],
    sysroot: Path | None,
    python: Path | None,
    index: tuple[str | None, tuple[str, ...], tuple[str, ...], bool, bool],
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
        version = probe_interpreter(python.expanduser().absolute()).version
    return find_sdists(client_for(settings, pip), where, pending, python=version)


def _prepare(
    spec: str | None,
    *,
    packages: Sequence[Request],
    wanted: Sequence[Wanted],
    given: dict[str, sources.SourceRequest],
    python: Path | None,
    sysroot: Path | None,
    cuda: str,
    ignore_matrix: bool,
    prefer: str,
    index: tuple[str | None, tuple[str, ...], tuple[str, ...], bool, bool],
    flags: dict[str, Any],
    build: dict[str, Any],
) -> _TargetRun:
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
    interpreter = python.expanduser().absolute() if python else None
    executable = None
    if interpreter is not None and not spec and root is None:
        # This machine with another interpreter: detected once, for that interpreter.
        executable = probe_interpreter(interpreter).executable
    settings, target, pip, where = where_pip_looks(
        spec,
        *index,
        root=None if spec else root,
        cuda=cuda,
        python_executable=executable,
        **flags,
    )
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
            prefer=prefer,
            recipe_dirs=build["recipe_dirs"],
        )
    # Before any download or build: a wheelhouse that is read-only, under a file or on a full
    # disk would otherwise be found after hours of compiling.
    check_wheelhouse(settings.wheelhouse_dir, write=True, need_bytes=_expected_bytes(plan))
    # A preset or profile names no interpreter on this machine: its prebuilt wheels are still
    # fetched (dependencies resolved for its tags); its builds are cross-compiled against
    # --root, with --python (the target's minor version) running the build scripts here.
    run_python = run_python or Path(sys.executable)
    options = WheelOptions(
        wheelhouse=settings.wheelhouse_dir,
        cache_dir=settings.cache_path,
        python=run_python,
        installer=_installer_args(where, settings.offline, settings.installer),
        jobs=settings.jobs,
        verbose=build["verbose"],
        cli_env=build["cli_env"],
        recipe_dirs=build["recipe_dirs"],
        compiler_cache=settings.compiler_cache or "auto",
        distcc_hosts=settings.distcc_hosts,
        offline=settings.offline,
        cuda=cuda,
        with_deps=build["with_deps"],
        cert=pip.cert,
        sysroot=root,
    )
    host = host_for(target, options)
    try:
        jobs = plan_jobs(
            plan, wanted, target=target, options=options, host=host, user_sources=given
        )
    except TorchbuildError as exc:
        # The plan stands; what stops this target's run is known before any work.
        return _TargetRun(label, target, plan, options, error=exc)
    return _TargetRun(label, target, plan, options, jobs, host)
