"""The set's run-time dependencies, downloaded into the wheelhouse so it installs offline."""

from __future__ import annotations

import email.parser
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import run, venvs
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


def requires_dist(wheel: Path) -> list[Requirement]:
    """A wheel's ``Requires-Dist`` entries (unreadable ones left out)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(zf.read(meta).decode("utf-8", "replace"))
    texts = msg.get_all("Requires-Dist") or []
    return [Requirement(text) for text in texts if requirement_name(text) is not None]


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
        for req in requires_dist(wheel):
            if canonicalize_name(req.name) in provided:
                continue
            if req.marker is not None and "extra" in str(req.marker):
                continue
            wanted.append(str(req))
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
        args += wanted
        done = run.capture(args, timeout=3600.0, env={**os.environ, "PIP_NO_INPUT": "1"})
        if not done.ok:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise BuildError(
                f"cannot collect the set's dependencies: {' '.join(tail)}",
                hint="the built wheels are in the wheelhouse; run with --no-deps to skip "
                "this step, or fix the index configuration",
            )
        for wheel in sorted(tmp.glob("*.whl")):
            if canonicalize_name(wheel.name.split("-", 1)[0]) not in provided:
                ctx.wheelhouse.add(wheel, origin="dependency of the set")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
