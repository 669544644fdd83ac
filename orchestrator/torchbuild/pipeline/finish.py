"""Repair, verify, publish: only a wheel that passed all three reaches the wheelhouse."""

from __future__ import annotations

import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..recipes import to_json as recipe_json
from ..repair import RepairRequest, clean_version, repair
from ..wheel import parse_name

if TYPE_CHECKING:
    from .. import sources
    from ..compile.key import BuildKey
    from ..resolve.jobs import Build
    from .against import Resolved
    from .context import Context

__all__ = ["Finished", "finish"]


@dataclass(frozen=True)
class Finished:
    wheel: Path  # in the wheelhouse
    verified: str  # how it was verified, in words


def _provenance(
    job: Build, source: sources.Source, key: BuildKey, against: Resolved, ctx: Context
) -> dict[str, Any]:
    rendered = job.rendered
    cuda = ctx.target.cuda
    return {
        "torchbuild": __version__,
        "build_key": key.digest,
        "key_inputs": dict(key.inputs),
        "source": source.provenance(),
        "recipe": recipe_json(rendered),
        "compilers": dict(job.compilers),
        "against": dict(against.identity),
        "cuda": {
            "toolkit": cuda.toolkit if cuda else None,
            "arch_list": rendered.env.get("TORCH_CUDA_ARCH_LIST"),
        }
        if rendered.variant == "cuda"
        else None,
        "built_by": f"torchbuild {__version__} on {platform.machine()}",
    }


def finish(
    job: Build,
    source: sources.Source,
    key: BuildKey,
    against: Resolved,
    built: Path,
    ctx: Context,
) -> Finished:
    """Repair ``built`` (tags, local label, provenance), verify it, add it to the wheelhouse."""
    scratch = Path(tempfile.mkdtemp(prefix="repair-", dir=ctx.scratch()))
    try:
        raw_version = str(parse_name(built.name).version)
        clean = job.version if job.family else clean_version(raw_version)
        ctx.note(f"repairing {built.name}")
        repaired = repair(
            built,
            scratch,
            RepairRequest(
                version=clean,
                local=job.label,
                arch=ctx.target.arch,
                provided=against.provided,
                provenance=_provenance(job, source, key, against, ctx),
            ),
        )
        verified = ctx.host.verify(
            repaired.path, job.rendered, against, ctx.produced, ctx.scratch(), ctx.note
        )
        origin = f"built key={key.digest} from {source.description}"
        return Finished(ctx.wheelhouse.add(repaired.path, origin=origin).path, verified)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
