"""Choosing the set: the newest torch/torchvision/torchaudio that can be had prebuilt, first.

Versions are chosen for the set, not one package at a time. With ``--prefer prebuilt`` (the
default) the plan takes the newest set whose every member is a fitting wheel (``cached`` or
``prebuilt``); when a newer set would need builds, it says so in one line, with what they would
cost here: the memory model's jobs and a time estimate scaled from the recipes' measured figures.
``--prefer newest`` takes the newest set and builds what has no wheel; ``--prefer build`` builds
everything asked. Pinned versions stay as asked.

A set is never planned with a build no recipe series covers (``torchbuild wheel`` would fetch the
source and stop): such a set is not chosen, and the plan says why.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Literal, Optional, Sequence

from packaging.specifiers import SpecifierSet

from ..errors import InputError, RecipeError, ResolveError
from ..recipes.layers import layers_for, recipe_dirs

if TYPE_CHECKING:
    from pathlib import Path

    from packaging.version import Version

    from ..target import Target
    from .matrix import Resolution, TorchPin
    from .plan import Decision

__all__ = [
    "PREFER",
    "BuildCost",
    "Choice",
    "Prefer",
    "build_cost",
    "choose",
    "parse_prefer",
    "recipe_gap",
]

Prefer = Literal["prebuilt", "newest", "build"]
PREFER: tuple[Prefer, ...] = ("prebuilt", "newest", "build")


def parse_prefer(text: str) -> Prefer:
    for choice in PREFER:
        if text == choice:
            return choice
    raise InputError(
        f"--prefer must be one of {', '.join(PREFER)}, not {text!r}",
        hint="--prefer prebuilt (the default), newest or build",
    )


# -- can it be built at all ----------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _series(package: str, extra: tuple[Path, ...]) -> tuple[tuple[str, str], ...]:
    """(series name, version specifier) of every layer's series for ``package``."""
    try:
        layers = layers_for(package, recipe_dirs(extra))
    except RecipeError:
        return ()
    return tuple((s.name, str(s.versions)) for layer in layers for s in layer.series)


def recipe_gap(package: str, version: Version, extra: Sequence[Path] = ()) -> str | None:
    """Why ``package`` ``version`` cannot be built (no series covers it); None when one does."""
    series = _series(package, tuple(extra))
    if any(SpecifierSet(spec).contains(version, prereleases=True) for _, spec in series):
        return None
    if not series:
        return f"there is no {package} recipe"
    names = [name for name, _ in series]
    span = (
        names[0] if len(names) == 1 else f"{names[0].split('-')[0]} to {names[-1].split('-')[-1]}"
    )
    return f"no {package} recipe series covers {version} (they cover {span})"


# -- what a build would cost -----------------------------------------------------------------------


@dataclass(frozen=True)
class BuildCost:
    """A set that needs builds, and what they would take on the target."""

    versions: tuple[tuple[str, Version], ...]
    #: Per package built: the jobs the memory model gives (None: the recipe does not render).
    jobs: tuple[tuple[str, int | None], ...]
    #: The estimate in minutes (None: no measured figure), and what it was scaled from.
    minutes: float | None
    basis: str
    cuda: bool

    @property
    def builds(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.jobs)

    def line(self) -> str:
        names = ", ".join(f"{n} {v}" for n, v in self.versions)
        jobs = ", ".join(
            f"{n} with {j} job{'' if j == 1 else 's'}" if j else n for n, j in self.jobs
        )
        text = f"the newer set {names} needs a build of {jobs} (memory model)"
        if self.minutes is not None:
            text += f": about {_duration(self.minutes)} ({self.basis})"
        return text + "; --prefer newest builds it"

    def to_json(self) -> dict[str, object]:
        return {
            "versions": {n: str(v) for n, v in self.versions},
            "builds": list(self.builds),
            "jobs": dict(self.jobs),
            "minutes": None if self.minutes is None else round(self.minutes, 1),
            "basis": self.basis,
            "line": self.line(),
        }


def _duration(minutes: float) -> str:
    if minutes < 90:
        return f"{max(1, round(minutes))} min"
    return f"{minutes / 60:.1f} h"


def _measured(package: str, version: Version, extra: Sequence[Path]) -> tuple[float, int, str]:
    """The recipe's measured (minutes, jobs, arch) for ``package``; the series' over defaults."""
    found: tuple[float, int, str] | None = None
    for layer in layers_for(package, recipe_dirs(extra)):
        for values in (layer.defaults, layer.series_for(version)):
            t = values.time if values is not None else None
            if t is not None and t.minutes and t.jobs:
                found = (t.minutes, t.jobs, t.arch or "?")
    if found is None:
        raise LookupError(package)
    return found


def build_cost(
    decisions: Sequence[Decision], target: Target, extra: Sequence[Path] = ()
) -> BuildCost:
    """The cost of the builds among ``decisions`` on ``target``.

    The time is the recipes' measured minutes times their jobs, divided by the jobs here:
    perfect scaling, so a lower bound for the work measured. It says so, and that the figures
    are CPU builds (a CUDA build compiles far more) measured on the architecture they name.
    """
    from ..recipes import render_package

    jobs: list[tuple[str, int | None]] = []
    total = 0.0
    known = True
    archs: set[str] = set()
    cuda = False
    for d in decisions:
        if d.action != "build":
            continue
        try:
            rendered = render_package(d.name, d.version, target, extra_dirs=extra)
            n: int | None = rendered.jobs
            cuda = cuda or rendered.variant == "cuda"
        except RecipeError:
            n = None
        jobs.append((d.name, n))
        try:
            minutes, measured_jobs, arch = _measured(d.name, d.version, extra)
        except (LookupError, RecipeError):
            known = False
            continue
        archs.add(arch)
        total += minutes * measured_jobs / (n or 1)
    basis = (
        "an estimate: the recipes' CPU-build times measured on "
        + "/".join(sorted(archs))
        + " scaled to these jobs; "
        + ("a CUDA build and " if cuda else "")
        + "slower cores take longer"
    )
    return BuildCost(
        tuple((d.name, d.version) for d in decisions),
        tuple(jobs),
        total if known and jobs else None,
        basis,
        cuda,
    )


# -- the choice ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    resolution: Resolution
    decisions: tuple[Decision, ...]
    #: prefer=prebuilt: the newest set, which needs builds, and their cost.
    newer: BuildCost | None = None
    #: Sets passed over and why (a build no recipe covers, nothing entirely prebuilt).
    notes: tuple[str, ...] = ()


#: decide(package, version, the torch decision or None for the installed torch)
Decide = Callable[[str, "Version", "Decision | None"], "Decision"]
Sets = Callable[[Optional[Callable[["Version"], bool]]], Iterator["Resolution"]]


def _prebuilt(d: Decision) -> bool:
    return d.action in ("cached", "prebuilt")


def choose(
    sets: Sets,
    decide: Decide,
    pin: Callable[[str, Version], TorchPin],
    *,
    prefer: Prefer,
    torch_planned: bool,
    gap: Callable[[str, Version], str | None],
    cost: Callable[[Sequence[Decision]], BuildCost],
    max_sets: int = 64,
) -> Choice:
    """The set to plan, by ``prefer``; ``ResolveError`` when every set needs an impossible build."""

    def decide_set(res: Resolution) -> list[Decision]:
        torch = decide("torch", res.versions["torch"], None) if torch_planned else None
        out = [torch] if torch is not None else []
        out.extend(decide(p, v, torch) for p, v in res.versions.items() if p != "torch")
        return out

    notes: list[str] = []
    newest: tuple[Resolution, list[Decision]] | None = None
    for i, res in enumerate(sets(None)):
        decisions = decide_set(res)
        gaps = [g for g in (gap(d.name, d.version) for d in decisions if d.action == "build") if g]
        if not gaps:
            newest = (res, decisions)
            break
        names = ", ".join(f"{d.name} {d.version}" for d in decisions)
        notes.append(f"{names} would need a build, and {'; '.join(gaps)}: not chosen")
        if i + 1 >= max_sets:
            break
    if newest is None:
        raise ResolveError(
            notes[0].replace(": not chosen", "") if notes else "no set of versions can be planned",
            hint="ask for an older release, or add a recipe series for it in a recipe directory "
            "(TORCHBUILD_RECIPE_PATH, or wheel --recipe-dir)",
        )
    res, decisions = newest
    if prefer != "prebuilt" or all(_prebuilt(d) for d in decisions):
        return Choice(res, tuple(decisions), None, tuple(notes))

    # The newest set needs a build: look for the newest set that needs none.
    def torch_prebuilt(version: Version) -> bool:
        return not torch_planned or _prebuilt(decide("torch", version, None))

    try:
        for i, candidate in enumerate(sets(torch_prebuilt)):
            found = _all_prebuilt(candidate, decide, pin, torch_planned)
            if found is not None:
                versions = {d.name: d.version for d in found}
                if not torch_planned:
                    versions["torch"] = candidate.versions["torch"]
                chosen = dataclasses.replace(candidate, versions=versions)
                return Choice(chosen, tuple(found), cost(decisions), tuple(notes))
            if i + 1 >= max_sets:
                break
    except ResolveError:
        pass  # no torch release here has a fitting wheel
    notes.append("no set of these packages can be had entirely prebuilt for this target")
    return Choice(res, tuple(decisions), None, tuple(notes))


def _all_prebuilt(
    res: Resolution,
    decide: Decide,
    pin: Callable[[str, Version], TorchPin],
    torch_planned: bool,
) -> list[Decision] | None:
    """Per companion, the newest release that pairs with this torch and has a fitting wheel."""
    torch_version = res.versions["torch"]
    torch = decide("torch", torch_version, None) if torch_planned else None
    out = [torch] if torch is not None else []
    for package in res.versions:
        if package == "torch":
            continue
        found = None
        for version in res.pools.get(package) or (res.versions[package],):
            if not pin(package, version).contains(torch_version):
                continue
            d = decide(package, version, torch)
            if _prebuilt(d):
                found = d
                break
        if found is None:
            return None
        out.append(found)
    return out
