"""The way out when pip install picks wrong: the newest set that fits, each file pinned."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..resolve.pipconfig import DEFAULT_INDEX_URL
from ..resolve.plan import Decision

if TYPE_CHECKING:
    from packaging.version import Version

    from ..resolve.candidates import Candidate
    from ..resolve.indexes import Source
    from ..wheelhouse.config import InstallConfig
    from .diagnose import Judge

__all__ = ["install_exactly"]


def install_exactly(
    judge: Judge,
    packages: Sequence[str],
    torch: tuple[Version, Candidate],
    sources: Sequence[Source],
) -> InstallConfig | None:
    """pip and uv settings for the newest set that fits, every package pinned to its file.

    A version alone is not enough: with a Jetson index added next to PyPI, ``pip install
    torch==2.8.0`` takes PyPI's server-Arm file of that version (pip ranks its manylinux tag
    higher), which is exactly what the doctor just found not to work.
    """
    from ..wheelhouse.config import install_config

    chosen: list[tuple[str, Version, Candidate]] = []
    for package in packages:
        fit = torch if package == "torch" else judge.newest_fitting(package, torch[1])
        if fit is None:
            return None  # part of the set has no fitting wheel: building is the way out
        chosen.append((package, fit[0], fit[1]))
    decisions = [
        Decision(
            name,
            version,
            "cached" if c.source.kind == "wheelhouse" else "prebuilt",
            "fits",
            c.choice(),
            c.variant,
        )
        for name, version, c in chosen
    ]
    # A "cached" file comes from the wheelhouse source; with none configured (only callers
    # that pass their own sources), nothing is routed to the placeholder.
    wheelhouse = next((s.location for s in sources if s.kind == "wheelhouse"), None)
    wheelhouse_url = (
        Path(wheelhouse).expanduser().resolve().joinpath("simple").as_uri() + "/"
        if wheelhouse
        else "file:///nonexistent/"
    )
    routed = {c.source.location for _, _, c in chosen}
    dependency = [
        s.location.rstrip("/") + "/" if s.location.rstrip("/") == DEFAULT_INDEX_URL else s.location
        for s in sources
        # The run's dependencies (numpy, nvidia-*) come from where pip looks, not from the
        # known torch indexes that hold no chosen file.
        if s.kind == "index" and s.location not in routed and s.known is None
    ]
    return install_config(
        decisions,
        wheelhouse_url=wheelhouse_url,
        dependency_indexes=list(dict.fromkeys(dependency)),
        constraint_path="constraints.txt",
        source=f"torchbuild doctor on {judge.target.origin}",
    )
