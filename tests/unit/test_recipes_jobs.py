"""The jobs model: jobs = max(1, min(cores, floor((memory + swap - reserve) / per_job)))."""

from __future__ import annotations

import pytest

from torchbuild.recipes.jobs import estimate_jobs
from torchbuild.target import Resources

GIB = 1024**3


def jobs(cpus: int | None, mem_gib: float | None, swap_gib: float, per_job: float) -> int:
    mem = None if mem_gib is None else int(mem_gib * GIB)
    return estimate_jobs(Resources(cpus, mem, int(swap_gib * GIB)), per_job, 1.0).jobs


def test_jetson_nano_4gb_gets_one_job() -> None:
    # 4 GiB + 2 GiB zram - 1 GiB reserve = 5 GiB: one CUDA job (6 GiB) does not even fit.
    assert jobs(4, 4, 2, 6.0) == 1
    assert jobs(4, 4, 2, 3.0) == 1


def test_orin_64gb_gets_many() -> None:
    assert jobs(12, 64, 0, 6.0) == 10
    assert jobs(12, 64, 0, 3.0) == 12  # capped by cores


def test_swap_counts() -> None:
    assert jobs(8, 8, 16, 3.0) == 7


def test_unknown_memory_is_one_job() -> None:
    est = estimate_jobs(Resources(8, None, None), 3.0, 1.0)
    assert est.jobs == 1
    assert "memory unknown" in est.explanation


def test_unknown_cores_uses_memory_only() -> None:
    assert jobs(None, 32, 0, 3.0) == 10


def test_explanation_shows_the_arithmetic() -> None:
    est = estimate_jobs(Resources(4, 8 * GIB, 4 * GIB), 6.0, 1.0)
    assert est.explanation == (
        "(8.0 GiB memory + 4.0 GiB swap - 1.0 GiB reserve) / 6.0 GiB per job = 1 -> 1"
    )
    tiny = estimate_jobs(Resources(4, 2 * GIB, 0), 3.0, 1.0)
    assert tiny.jobs == 1
    assert "raised to the minimum of 1" in tiny.explanation


def test_bad_estimates_are_rejected() -> None:
    with pytest.raises(ValueError, match="per_job_gib"):
        estimate_jobs(Resources(1, GIB, 0), 0, 1.0)
