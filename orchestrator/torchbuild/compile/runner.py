"""Run a recipe's build command in its build directory: live progress, a full log, and a
retry with half the jobs when the kernel kills a compiler for memory.

The retry resumes: the same tree, the same build system state, only the job variables change
(they are not part of the build key), so the objects compiled before the kill are kept.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from .. import run
from ..errors import BuildError
from .display import BuildDisplay
from .distcc import cmake_launchers
from .failures import Diagnosis, diagnose
from .tools import build_path, tool_links

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from ..recipes import Rendered
    from ..venvs import Venv
    from .compiler_cache import CacheStats, CompilerCache
    from .distcc import Distcc
    from .workdir import BuildDir

__all__ = ["BuildRun", "run_build"]

#: How many lines of the log's end are read to explain a failure.
TAIL_LINES = 4000


@dataclass(frozen=True)
class BuildRun:
    wheel: Path
    log: Path
    attempts: int
    jobs: int  # the job count of the run that succeeded
    seconds: float
    resumed: bool
    cache: CacheStats | None


def build_environment(
    rendered: Rendered,
    venv: Venv,
    bdir: BuildDir,
    cache: CompilerCache | None,
    base: Mapping[str, str],
    distcc: Distcc | None = None,
) -> dict[str, str]:
    """The process environment of the build: the venv, the recipe's variables, the cache,
    distcc."""
    env = venv.env(base)
    # Complete whatever the caller's PATH is (torchbuild run by its absolute path included).
    links = tool_links(bdir.path / "tools", base.get("PATH", os.defpath))
    env["PATH"] = build_path(base, venv.bin, links)
    if cache is not None:
        env.update(cache.env)
        if cache.path_prefix is not None:
            env["PATH"] = os.pathsep.join([str(cache.path_prefix), env["PATH"]])
    if distcc is not None:
        env.update(distcc.env)
        # Only without a cache does distcc have links of its own (ccache calls it otherwise).
        if distcc.path_prefix is not None:
            env["PATH"] = os.pathsep.join([str(distcc.path_prefix), env["PATH"]])
    # scikit-build-core builds in a temporary directory unless told otherwise; a fixed one in
    # the kept tree is what lets an interrupted build resume.
    env.setdefault("SKBUILD_BUILD_DIR", str(bdir.src / "build" / "skbuild"))
    env.update(rendered.env)
    if distcc is not None and distcc.via_cache and cache is not None:
        for name, value in cmake_launchers(env, cache.executable, cache.path_prefix).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
    # Byte-compiling and user site-packages would make the build depend on the caller's state.
    env["PYTHONNOUSERSITE"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def _command(rendered: Rendered, venv: Venv) -> list[str]:
    cmd = list(rendered.command)
    if cmd and cmd[0] in ("python", "python3"):
        cmd[0] = str(venv.python)  # the build environment's interpreter, never the caller's
    return cmd


def _tail(path: Path) -> list[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    return lines[-TAIL_LINES:]


def _wheels(dist: Path) -> list[Path]:
    return sorted(dist.glob("*.whl")) if dist.is_dir() else []


def _failure(diag: Diagnosis, log: Path, what: str, jobs: int) -> BuildError:
    if diag.signature is not None:
        hint = diag.signature.hint.replace("{jobs}", str(jobs))
        hint = f"{hint} (log: {log})"
    else:
        hint = f"read the full log: {log}"
    return BuildError(f"building {what} failed: {diag.summary}", hint=hint)


def run_build(
    bdir: BuildDir,
    render_with: Callable[[int], Rendered],
    venv: Venv,
    *,
    jobs: int,
    cache: CompilerCache | None,
    console: Console,
    verbose: bool,
    resumed: bool,
    base_env: Mapping[str, str] | None = None,
    distcc: Distcc | None = None,
) -> BuildRun:
    """Build until a wheel comes out of ``dist/``, halving the jobs after each OOM kill.

    ``render_with(jobs)`` renders the recipe with that job count.
    """
    started = time.monotonic()
    before = cache.stats() if cache is not None else None
    attempts = 0
    dist = bdir.src / "dist"
    while True:
        attempts += 1
        rendered = render_with(jobs)
        what = f"{rendered.package} {rendered.version}"
        env = build_environment(rendered, venv, bdir, cache, base_env or os.environ, distcc)
        for stale in _wheels(dist):
            stale.unlink()  # a wheel from an earlier run must not pass for this one's
        log = bdir.new_log()
        title = f"{what} ({jobs} job{'s' if jobs != 1 else ''})"
        with log.open("a", encoding="utf-8") as fh, BuildDisplay(
            console, title, verbose=verbose, log_path=log
        ) as display:
            if resumed or attempts > 1:
                display.note(f"resuming the kept build in {bdir.src}")
            code = run.stream(
                _command(rendered, venv), env=env, cwd=bdir.src, log=fh, on_line=display.line
            )
            if code == 0:
                wheels = _wheels(dist)
                if len(wheels) != 1:
                    raise BuildError(
                        f"the build of {what} succeeded but left {len(wheels)} wheels in {dist}",
                        hint="the recipe's command must leave exactly one wheel in dist/",
                    )
                bdir.record(built=wheels[0].name)
                stats = None
                if cache is not None and before is not None:
                    now = cache.stats()
                    stats = now.since(before) if now is not None else None
                return BuildRun(
                    wheels[0], log, attempts, jobs, time.monotonic() - started, resumed, stats
                )
            diag = diagnose(_tail(log), code)
            if diag.oom and jobs > 1:
                jobs = max(1, jobs // 2)
                display.note(
                    f"a compiler was killed for lack of memory; resuming with {jobs} "
                    f"job{'s' if jobs != 1 else ''}"
                )
                continue
            for line in diag.error_lines:
                display.note(line)
            raise _failure(diag, log, what, jobs)
