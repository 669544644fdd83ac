"""The loop over a run's jobs: each job goes to its step, in the order the jobs were made.

Jobs come from :func:`torchbuild.resolve.jobs.make_jobs` in dependency order (torch first,
then torchvision and torchaudio, then projects given with ``--source``), so when a build
starts, every wheel it builds against is already in the wheelhouse. Finally the run-time
dependencies of the whole set are downloaded too, so the wheelhouse installs it alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from ..resolve.jobs import (
    Build,
    Cached,
    InstalledTorchBase,
    Prebuilt,
    Wanted,
    assert_never,
    make_jobs,
)
from ..wheelhouse import Wheelhouse
from .build_step import build
from .context import Context
from .dependencies import collect_dependencies
from .prebuilt import take_cached, take_prebuilt

if TYPE_CHECKING:
    from rich.console import Console

    from .. import sources
    from ..resolve.jobs import Job
    from ..resolve.plan import Plan
    from ..target import Target
    from .options import Outcome, WheelOptions
    from .sites import BuildHost

__all__ = ["Pipeline", "plan_jobs"]


def plan_jobs(
    plan: Plan | None,
    wanted: Sequence[Wanted],
    *,
    target: Target,
    options: WheelOptions,
    host: BuildHost,
    user_sources: Mapping[str, sources.SourceRequest],
) -> tuple[Job, ...]:
    """The jobs of one target's run, with everything that can stop a build checked first."""
    return make_jobs(
        plan,
        wanted,
        target=target,
        site=host,
        cuda=options.cuda,
        user_sources=user_sources,
        cache_dir=options.cache_dir,
        recipe_dirs=options.recipe_dirs,
        cli_env=options.cli_env,
        jobs=options.jobs,
        offline=options.offline,
        timeout=options.timeout,
    )


class Pipeline:
    """One target's run: its context and the outcomes so far (kept when a step fails)."""

    def __init__(
        self,
        target: Target,
        options: WheelOptions,
        console: Console,
        host: BuildHost,
        *,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.ctx = Context(
            target,
            options,
            console,
            Wheelhouse(options.wheelhouse),
            host,
            note or (lambda _text: None),
        )
        self.outcomes: list[Outcome] = []

    def run(self, jobs: Sequence[Job], *, torch_installed: bool = False) -> list[Outcome]:
        """Do every job in order; raise on the first failure.

        ``torch_installed``: the set's torch is the interpreter's (not a wheel of this run);
        it is left out of the dependencies, as it is when a build was made against it.
        """
        torch_installed = torch_installed or any(
            isinstance(job, Build) and isinstance(job.against.torch, InstalledTorchBase)
            for job in jobs
        )
        for job in jobs:
            self.outcomes.append(self._step(job))
        # When every wheel was already there, so were their dependencies (an earlier run
        # collected them): an all-cached run stays a quick no-op.
        fresh = any(o.action in ("prebuilt", "built") for o in self.outcomes)
        if self.ctx.options.with_deps and self.ctx.produced and fresh:
            collect_dependencies(self.ctx, torch_installed=torch_installed)
        return self.outcomes

    def _step(self, job: Job) -> Outcome:
        if isinstance(job, Cached):
            outcome = take_cached(job, self.ctx)
        elif isinstance(job, Prebuilt):
            outcome = take_prebuilt(job, self.ctx)
        elif isinstance(job, Build):
            outcome = build(job, self.ctx)
        else:
            assert_never(job)
        return outcome
