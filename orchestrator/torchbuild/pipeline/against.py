"""What a build compiles against, made concrete: the job says which torch and which of this
run's wheels; here they become files, their hashes (part of the build key) and the shared
libraries they bring (which repair must not graft into the new wheel)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..resolve.jobs import CrossTorch, InstalledTorchBase, NoTorch, RunTorch, assert_never
from ..wheel import shipped_sonames

if TYPE_CHECKING:
    from ..resolve.jobs import Build
    from .context import Context

__all__ = ["Resolved", "resolve_against", "sonames_in_wheel"]

TORCH = "torch"


@dataclass(frozen=True)
class Resolved:
    """Wheel files to install into the build environment, or the interpreter's own torch."""

    wheels: tuple[Path, ...] = ()
    inherit_site: bool = False
    identity: Mapping[str, str] = field(default_factory=dict)
    provided: tuple[str, ...] = ()  # sonames those packages bring at run time
    #: cross builds: the target's torch wheel, linked against but never installed here
    target_torch: Path | None = None
    target_sha256: str | None = None


#: A torch wheel's zip directory is read once per run, not once per package built against it.
sonames_in_wheel = functools.lru_cache(maxsize=32)(shipped_sonames)


def _sonames_in_dir(root: Path) -> tuple[str, ...]:
    return tuple(sorted({p.name for p in root.rglob("*.so*") if p.is_file()}))


def _produced(ctx: Context, project: str) -> Path:
    # The job was made only because this run provides the project before it (resolve.jobs).
    wheel = ctx.produced.get(project)
    assert wheel is not None, f"{project} was planned before this build and is missing"
    return wheel


def resolve_against(job: Build, ctx: Context) -> Resolved:
    """The files and identity of what ``job`` builds against, from this run's wheels."""
    wheels: list[Path] = []
    identity: dict[str, str] = {}
    provided: list[str] = []
    inherit_site = False
    target_torch: Path | None = None
    target_sha256: str | None = None
    base = job.against.torch
    if isinstance(base, NoTorch):
        pass
    elif isinstance(base, RunTorch):
        torch_wheel = _produced(ctx, TORCH)
        wheels.append(torch_wheel)
        identity[TORCH] = f"{torch_wheel.name} sha256:{ctx.wheel_sha256(torch_wheel)}"
        provided.extend(sonames_in_wheel(torch_wheel))
    elif isinstance(base, InstalledTorchBase):
        installed = base.torch
        inherit_site = True
        identity[TORCH] = f"installed {installed.version} at {installed.location}"
        if installed.location:
            provided.extend(_sonames_in_dir(Path(installed.location) / "lib"))
    elif isinstance(base, CrossTorch):
        # torchvision's and torchaudio's build scripts import torch on this machine for their
        # helpers (flags, paths, the CUDA check); what they compile and link is the target's,
        # from its wheel, unpacked (cross.torch).
        torch_wheel = _produced(ctx, TORCH)
        inherit_site = True
        target_sha256 = ctx.wheel_sha256(torch_wheel)
        identity[TORCH] = f"{torch_wheel.name} sha256:{target_sha256}"
        identity["host-torch"] = str(base.scripts.version)
        provided.extend(sonames_in_wheel(torch_wheel))
        target_torch = torch_wheel
    else:
        assert_never(base)
    # A cross build installs nothing of the target's here (only the host's torch runs).
    companions = () if target_torch is not None else job.against.companions
    for dep in companions:
        wheel = _produced(ctx, dep)
        wheels.append(wheel)
        identity[dep] = f"{wheel.name} sha256:{ctx.wheel_sha256(wheel)}"
    return Resolved(
        tuple(wheels), inherit_site, identity, tuple(provided), target_torch, target_sha256
    )
