"""The jobs model: how many compile jobs fit in the target's memory.

Compiling torch is limited by memory, not cores: one heavy translation unit (generated operator
files, CUTLASS/flash-attention kernels) takes gigabytes, and a board running one job per core
dies with ``Killed signal terminated program cc1plus``. So::

    jobs = max(1, min(cores, floor((memory + swap - reserve) / per_job)))

``per_job`` is the recipe's estimate for the package and variant (CPU, CUDA); each recipe says
where its number comes from. Swap counts in full: slow, but a swapping job finishes and an
OOM-killed one does not. ``memory_bytes``/``swap_bytes``/``cpus`` come from the Target, so a
cgroup-limited container reports its limit, not the host's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..target import Resources

__all__ = ["GIB", "JobsEstimate", "estimate_jobs"]

GIB = 1024**3


@dataclass(frozen=True)
class JobsEstimate:
    """The number of parallel compile jobs and how it was reached."""

    jobs: int
    per_job_bytes: int
    reserve_bytes: int
    memory_bytes: int | None
    swap_bytes: int | None
    cpus: int | None
    #: One line: the arithmetic, or why there was none.
    explanation: str


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def estimate_jobs(resources: Resources, per_job_gib: float, reserve_gib: float) -> JobsEstimate:
    """Apply the jobs model to a Target's resources."""
    if per_job_gib <= 0 or reserve_gib < 0:
        raise ValueError("per_job_gib must be positive and reserve_gib not negative")
    per_job = int(per_job_gib * GIB)
    reserve = int(reserve_gib * GIB)
    memory, swap, cpus = resources.memory_bytes, resources.swap_bytes, resources.cpus
    if memory is None:
        # Without a memory figure the only safe answer is one job; detection on the device
        # (or a profile from it) gives the real number.
        return JobsEstimate(
            1, per_job, reserve, None, swap, cpus, "memory unknown: 1 job (detect on the device)"
        )
    budget = memory + (swap or 0) - reserve
    by_memory = max(0, budget // per_job)
    jobs = max(1, min(cpus, by_memory) if cpus else by_memory)
    cap = f", capped by {cpus} cores" if cpus and by_memory > cpus else ""
    floor = " (raised to the minimum of 1)" if by_memory < 1 else ""
    explanation = (
        f"({_gib(memory)} memory + {_gib(swap or 0)} swap - {_gib(reserve)} reserve)"
        f" / {_gib(per_job)} per job = {by_memory}{cap}{floor} -> {jobs}"
    )
    return JobsEstimate(jobs, per_job, reserve, memory, swap, cpus, explanation)
