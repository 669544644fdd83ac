"""The set's run-time dependencies, downloaded into the wheelhouse so it installs offline."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import run, venvs
from .. import wheel as wheel_mod
from ..errors import BuildError

if TYPE_CHECKING:
    from ..target import Target
    from .context import Context

__all__ = ["collect_dependencies", "foreign_args", "requirement_name", "requires_dist"]

TORCH = "torch"


def requirement_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def requires_dist(wheel: Path, *, extras: bool = True) -> tuple[Requirement, ...]:
    """A wheel's ``Requires-Dist`` entries; ``extras=False`` leaves out the extras-only ones."""
    return wheel_mod.requires_dist(wheel_mod.read_metadata(wheel), extras=extras)


def foreign_args(target: Target) -> list[str]:
    """pip download's flags for another machine's tags (a preset or a profile)."""
    from ..resolve.tags import tag_set

    tagset = tag_set(target)
    args = [f"--platform={p}" for p in tagset.platforms]
    assert target.python is not None  # tag_set raised otherwise
    major_minor = ".".join(target.python.version.split(".")[:2])
    args += [f"--python-version={major_minor}", f"--implementation={tagset.interpreter[:2]}"]
    args += [f"--abi={tagset.abi}", "--abi=abi3", "--abi=none"]
    return args


def collect_dependencies(ctx: Context, *, torch_installed: bool) -> None:
    """Download the set's run-time dependencies into the wheelhouse (offline installs).

    Only what the set's wheels require and the set itself does not provide: a torch that
    lives in the target interpreter (not in the wheelhouse) is left out, or pip would fetch
    some other torch from the index.
    """
    provided = set(ctx.produced)
    if torch_installed:
        provided.add(TORCH)
    wanted: list[str] = []
    for wheel in ctx.produced.values():
        wanted.extend(
            str(req)
            for req in requires_dist(wheel, extras=False)
            if canonicalize_name(req.name) not in provided
        )
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return
    options = ctx.options
    ctx.note(f"collecting the set's run-time dependencies: {', '.join(wanted)}")
    envs = options.cache_dir / "envs"
    tools = venvs.cached_venv(envs, options.python, options.installer, ["pip"])
    tmp = Path(tempfile.mkdtemp(prefix="deps-", dir=ctx.scratch()))
    try:
        args = [str(tools.python), "-m", "pip", "download", "--dest", str(tmp)]
        args += ["--only-binary=:all:", "--disable-pip-version-check", "--no-input"]
        args += list(options.installer.index_args)
        args += [] if ctx.target.origin == "host" else foreign_args(ctx.target)
        env = {**os.environ, "PIP_NO_INPUT": "1"}
        done = run.capture([*args, *wanted], timeout=3600.0, env=env)
        met = [] if done.ok else ctx.host.system_provides(wanted)
        if met:
            # No wheel of some for the target's tags on the indexes (PyPI has no NumPy or
            # Pillow for 32-bit Arm), and the target's own packages provide these, as its
            # sysroot shows: the board installs the set beside them.
            ctx.note(f"left to the target's own packages: {', '.join(met)}")
            rest = [w for w in wanted if w not in met]
            if not rest:
                return
            done = run.capture([*args, *rest], timeout=3600.0, env=env)
        if not done.ok:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise BuildError(
                f"cannot collect the set's dependencies: {' '.join(tail)}",
                hint="the built wheels are in the wheelhouse; run with --no-deps to skip "
                "this step, or fix the index configuration",
            )
        for wheel in sorted(tmp.glob("*.whl")):
            if wheel_mod.parse_name(wheel.name).project not in provided:
                ctx.wheelhouse.add(wheel, origin="dependency of the set")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
