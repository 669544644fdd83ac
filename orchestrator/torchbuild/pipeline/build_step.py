"""One build job: obtain the source, reuse a wheel of the same build key, or prepare the kept
build directory (patches, the steps before the build), make the build environment and run the
recipe's command under the compiler cache; then :mod:`.finish` repairs, verifies, publishes."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from .. import sources, venvs
from ..compile.before import run_before
from ..compile.compiler_cache import find_compiler_cache
from ..compile.distcc import find_distcc
from ..compile.key import BuildKey, build_key
from ..compile.requirements import with_dynamic_requirements
from ..compile.runner import run_build
from ..compile.workdir import BuildDir
from ..sources.patches import apply_series
from ..wheel import parse_name
from .against import Resolved, resolve_against
from .finish import finish
from .options import Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ..recipes import Rendered
    from ..resolve.jobs import Build
    from ..venvs import Venv
    from .context import Context

__all__ = ["build", "build_env"]


def build(job: Build, ctx: Context) -> Outcome:
    started = time.monotonic()
    options = ctx.options
    for note in job.notes:
        ctx.note(note)
    ctx.note(f"getting the source of {job.what}")
    source = sources.fetch(
        job.request, cache_dir=options.cache_dir, offline=options.offline, timeout=options.timeout
    )
    rendered = job.rendered
    against = resolve_against(job, ctx)
    key = build_key(
        rendered,
        source={"digest": source.digest, "distro_patches": list(source.distro_patches)},
        target=ctx.target,
        compilers=dict(job.compilers),
        against=against.identity,
        requirements=[*rendered.build_requires, *job.tree_requires],
        ignore_env=rendered.jobs_env,
    )
    hit = _by_key(ctx, job.project, key)
    if hit is not None:
        ctx.produced[job.project] = hit
        return Outcome(
            job.name,
            job.version,
            "cached",
            hit.name,
            f"the wheelhouse has the wheel of this exact build (key {key.short})",
            time.monotonic() - started,
        )
    bdir = BuildDir(options.cache_dir / "builds", job.project, job.version, key)
    with bdir.locked():
        resumed = bdir.prepare(lambda dest: _fill(ctx, source, rendered, dest))
        venv = build_env(job, against, ctx, bdir)
        compilers = ctx.host.compiler_names()
        cache = find_compiler_cache(
            options.compiler_cache,
            cache_dir=options.cache_dir / "compiler-cache",
            # The cache root holds the build trees and the build environments: paths under
            # it are hashed relative, so machines keeping it in different places share hits.
            base_dir=options.cache_dir,
            compilers=compilers,
        )
        base_env = ctx.host.base_env(bdir.path, against, cache, venv.python)
        distcc = find_distcc(
            options.distcc_hosts,
            cache=cache,
            cache_dir=options.cache_dir / "compiler-cache",
            compilers=compilers,
        )
        jobs = rendered.jobs
        if distcc is not None and rendered.provenance.get("jobs", "").startswith("jobs model"):
            # The hosts compile; this machine preprocesses and links. A job count the user
            # chose (--jobs, a job variable in --env) is kept as given.
            jobs = distcc.hosts.jobs(jobs)
        result = run_build(
            bdir,
            job.recipe.render,
            venv,
            jobs=jobs,
            cache=cache,
            console=ctx.console,
            verbose=options.verbose,
            resumed=resumed,
            distcc=distcc,
            base_env=base_env,
        )
        done = finish(job, source, key, against, result.wheel, ctx)
    ctx.produced[job.project] = done.wheel
    detail = f"built in {result.seconds:.0f} s with {result.jobs} job(s)"
    if result.attempts > 1:
        retries = result.attempts - 1
        detail += f" after {retries} out-of-memory retr{'ies' if retries > 1 else 'y'}"
    if result.cache is not None and result.cache.rate() is not None:
        detail += f"; compiler cache hit rate {result.cache.rate():.0%}"
    return Outcome(
        job.name,
        str(parse_name(done.wheel.name).version),
        "built",
        done.wheel.name,
        detail,
        time.monotonic() - started,
        {
            "key": key.digest,
            "log": str(result.log),
            "jobs": result.jobs,
            "attempts": result.attempts,
            "resumed": result.resumed,
            "build_dir": str(bdir.path),
            "verified": done.verified,
            "compiler_cache": None
            if result.cache is None
            else {"hits": result.cache.hits, "misses": result.cache.misses},
        },
    )


def _fill(ctx: Context, source: sources.Source, rendered: Rendered, dest: Path) -> None:
    sources.materialize(source, dest)
    if rendered.patches:
        ctx.note(f"applying {len(rendered.patches)} patch(es)")
        apply_series(dest, rendered.patches)
    if rendered.before:
        # Once per fresh tree: a resumed build keeps what the steps generated (running
        # them again would touch generated headers and make Ninja rebuild everything).
        ctx.note(f"running {len(rendered.before)} step(s) before the build")
        run_before(
            rendered, dest, {**os.environ, **rendered.env}, dest.parent / "logs" / "before.log"
        )


def build_env(job: Build, against: Resolved, ctx: Context, bdir: BuildDir) -> Venv:
    """The build environment: the one place its requirements are installed.

    The job's requirements (the recipe's and the project's own ``[build-system]`` ones, as
    planned) come from the indexes; torch and this run's wheels from their files. A recipe of
    torchbuild's pins its requirements; any other project's backend is then asked for its
    dynamic ones (PEP 517 ``get_requires_for_build_wheel``), as pip would, and what is missing
    is added.
    """
    venv = _environment(job, against, ctx, ())
    if job.family:
        return venv
    return with_dynamic_requirements(venv, bdir, lambda more: _environment(job, against, ctx, more))


def _environment(job: Build, against: Resolved, ctx: Context, more: Sequence[str]) -> Venv:
    options = ctx.options
    return venvs.cached_venv(
        options.cache_dir / "envs",
        options.python,
        options.installer,
        [*job.requires, *more, *map(str, against.wheels)],
        inherit_site=against.inherit_site,
        key_extra=dict(against.identity),
    )


def _by_key(ctx: Context, project: str, key: BuildKey) -> Path | None:
    marker = f"key={key.digest}"
    for entry in ctx.wheelhouse.find(project):
        if marker in entry.origin.split():
            return ctx.wheelhouse.project_dir(project) / entry.filename
    return None
