"""The plan: for each package, reuse a wheel that truly fits the target, or build it, and why.

A wheel is reused only when (1) its tags are among the target's supported tags and its
``Requires-Python`` admits the target's Python, (2) its variant works there (CPU vs CUDA, CUDA no
newer than the driver runs, kernels for the target's GPUs; ``resolve.variants``) and (3) for
torchvision/torchaudio, it goes with the torch it will sit on: the torch its own METADATA
requires (``resolve.pairing``; the compatibility table where none can be had) and the same
variant. Versions are chosen as a set, prebuilt first (``resolve.choice``).
``cached`` means such a wheel is already in the local wheelhouse; ``prebuilt`` names the index
file to download; ``build`` says in words why nothing fits and what will be built from where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Mapping, Sequence

from packaging.version import InvalidVersion, Version

from ..target import to_json
from . import choice as choice_mod
from . import matrix as matrix_mod
from . import tags, variants, wheelvariants
from .candidates import (
    WheelChoice,
    available_versions,
    evaluate,
    file_version,
    fit_key,
    pair_by_metadata,
    pip_key,
    project_files,
    with_pairing,
)
from .pairing import Pairing
from .reasons import fit_words, why_not

if TYPE_CHECKING:
    from pathlib import Path

    from ..detect.torch import InstalledTorch
    from ..sources.index import SdistChoice
    from ..target import Target
    from .indexes import FileLink, IndexClient, Listing, Source
    from .metadata import MetadataReader

__all__ = [
    "Action",
    "Decision",
    "Plan",
    "make_plan",
    "plan_json",
    "sdist_decision",
    "source_summaries",
]

JSON_VERSION = 1

#: What the plan does with a package: reuse the wheelhouse's wheel, download one, or build it.
Action = Literal["cached", "prebuilt", "build"]


# -- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    name: str
    version: Version
    action: Action
    reason: str
    wheel: WheelChoice | None = None
    variant: variants.Variant | None = None
    source: str | None = None  # for builds: where the source comes from
    recipe: str | None = None  # for builds: the recipe file
    notes: tuple[str, ...] = ()
    role: str = "requested"  # or "implied": not asked for, needed by the others

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": str(self.version),
            "action": self.action,
            "reason": self.reason,
            "wheel": None if self.wheel is None else self.wheel.to_json(),
            "variant": None if self.variant is None else self.variant.short(),
            "source": self.source,
            "recipe": self.recipe,
            "notes": list(self.notes),
            "role": self.role,
        }


@dataclass(frozen=True)
class Plan:
    target: Target
    need: variants.Need
    decisions: tuple[Decision, ...]
    listings: tuple[Listing, ...]
    resolution: matrix_mod.Resolution
    warnings: tuple[str, ...] = ()
    installed: InstalledTorch | None = None
    cuda_mode: str = "auto"
    sources: tuple[Source, ...] = field(default=())
    prefer: str = "prebuilt"
    #: prefer=prebuilt: the newer set passed over because it needs builds, with their cost.
    newer: choice_mod.BuildCost | None = None
    #: Sets passed over, and why.
    choice_notes: tuple[str, ...] = ()


def _toolchain_notes(target: Target, series: matrix_mod.Series | None) -> list[str]:
    if series is None:
        return []
    notes = []
    for tool, floor, what in (
        (target.toolchain.cxx or target.toolchain.cc, series.gcc, "GCC"),
        (target.toolchain.cmake, series.cmake, "CMake"),
    ):
        if tool is None or not tool.version or not floor:
            continue
        try:
            if Version(tool.version) < Version(floor):
                notes.append(
                    f"the target's {what} {tool.version} is older than the {floor} that torch "
                    f"{series.torch} needs to build"
                )
        except InvalidVersion:
            continue
    return notes


def _torch_phrase(decision: Decision | None, installed: InstalledTorch | None) -> str:
    if decision is None:
        assert installed is not None
        return f"the installed torch {installed.version}"
    if decision.action == "build":
        label = decision.variant.label if decision.variant else None
        return f"the torch {decision.version} built here" + (f" (+{label})" if label else "")
    variant = decision.variant.short() if decision.variant else "unknown variant"
    return f"the {decision.action} torch {decision.version} ({variant})"


def _decide(
    project: str,
    version: Version,
    listings: Sequence[Listing],
    target: Target,
    tagset: tags.TagSet,
    need: variants.Need,
    matrix: matrix_mod.Matrix,
    *,
    torch_variant: variants.Variant | None,
    torch_text: str | None,
    torch_version: Version | None,
    user_source: str | None,
    role: str,
    facts: variants.Facts | None,
    book: wheelvariants.Book | None = None,
    pin: matrix_mod.TorchPin | None = None,
    pairing: Pairing | None = None,
    torch_wheel: Version | None = None,
    force_build: bool = False,
    requires: Callable[[FileLink], Sequence[str] | None] | None = None,
) -> Decision:
    torch_for = None
    if project != "torch":
        pin = pin or matrix.pin(project, version)
        torch_for = pin.lowest or torch_version
    candidates = evaluate(
        project,
        version,
        project_files(listings, project),
        target,
        tagset,
        need,
        torch_for=torch_for,
        facts=facts,
        book=book,
        requires=requires,
    )
    if project != "torch" and torch_variant is not None:
        stable = matrix.is_stable_abi(project, version)
        judged = []
        for c in candidates:
            clause = variants.pairing_problem(c.variant, torch_variant, stable_abi=stable)
            judged.append(c if clause is None else with_pairing(c, clause))
        candidates = judged
        if pairing is not None and torch_wheel is not None:
            candidates = pair_by_metadata(candidates, pairing, torch_wheel)
    paired = ""
    if pin is not None and torch_version is not None:
        paired = f"; it goes with torch {torch_version}: {pin.text}"
    if user_source is not None:
        # A source the user named is what they want built; a wheel of that very build is
        # still found by its build key before anything compiles.
        reason = f"built from the given source ({user_source})"
    elif force_build:
        fitting = [c for c in candidates if c.fits]
        reason = "--prefer build: built from source" + (
            f", although {max(fitting, key=pip_key).evidence} fits" if fitting else ""
        )
    else:
        fitting = [c for c in candidates if c.fits]
        cached = [c for c in fitting if c.source.kind == "wheelhouse"]
        if cached:
            best = max(cached, key=pip_key)
            return Decision(
                project,
                version,
                "cached",
                f"a fitting wheel is already in {best.source.location}{paired}",
                best.choice(),
                best.variant,
                notes=best.notes,
                role=role,
            )
        if fitting:
            best = max(fitting, key=lambda c: fit_key(c, need))
            reason = f"{best.evidence} fits: {fit_words(best, tagset, need)}{paired}"
            return Decision(
                project,
                version,
                "prebuilt",
                reason,
                best.choice(),
                best.variant,
                notes=best.notes,
                role=role,
            )
        reason = why_not(project, version, candidates, target, tagset, torch_text) + paired
    return _build_decision(
        project,
        version,
        reason,
        target,
        need,
        matrix,
        torch_version=torch_version,
        user_source=user_source,
        role=role,
    )


def _build_decision(
    project: str,
    version: Version,
    reason: str,
    target: Target,
    need: variants.Need,
    matrix: matrix_mod.Matrix,
    *,
    torch_version: Version | None,
    user_source: str | None,
    role: str,
) -> Decision:
    series = (
        matrix.series_of(torch_version or version)
        if project != "torch"
        else matrix.series_of(version)
    )
    spec_src = matrix.sources.get(project)
    source = user_source or (spec_src.describe(version) if spec_src else None)
    recipe = spec_src.recipe if spec_src else f"recipes/{project}.toml"
    planned = variants.planned_variant(need)
    notes = _toolchain_notes(target, series) if project == "torch" else []
    if need.kind == "cuda" and planned.cuda is None:
        notes.append("no CUDA toolkit was found on the target; a CUDA build needs one")
    return Decision(
        project, version, "build", reason, None, planned, source, recipe, tuple(notes), role
    )


def sdist_decision(choice: SdistChoice) -> Decision:
    """A package without a recipe of its own, built from its sdist on an index."""
    reason = "torchbuild has no recipe of its own for it: its sdist builds through the generic one"
    recipe = "recipes/generic.toml"
    return Decision(
        choice.project, choice.version, "build", reason, None, None, choice.describe(), recipe
    )


def make_plan(
    target: Target,
    requests: Sequence[matrix_mod.Request],
    *,
    sources: Sequence[Source],
    client: IndexClient,
    cuda: str = "auto",
    ignore_matrix: bool = False,
    installed: InstalledTorch | None = None,
    user_sources: Mapping[str, str] | None = None,
    matrix: matrix_mod.Matrix | None = None,
    facts: variants.Facts | None = None,
    metadata: MetadataReader | None = None,
    prefer: choice_mod.Prefer = "prebuilt",
    recipe_dirs: Sequence[Path] = (),
) -> Plan:
    """Resolve versions and decide ``cached``/``prebuilt``/``build`` for every package.

    ``metadata`` reads companions' METADATA for their torch (without it: the table); ``prefer``
    picks the set (:mod:`.choice`); ``recipe_dirs`` are the user's recipe layers, which decide
    what can be built.
    """
    matrix = matrix or matrix_mod.load_matrix()
    tagset = tags.tag_set(target)
    need = variants.need_for(target, cuda, facts)
    projects = list(dict.fromkeys(["torch", *[r.name for r in requests]]))
    by_key = client.listings(sources, projects)
    listings = tuple(by_key.values())
    book = wheelvariants.book_for(listings, client)
    assert target.python is not None  # tag_set raised otherwise
    pairing = Pairing(matrix, listings, target, tagset, metadata)
    available = available_versions(listings)
    asked = {r.name for r in requests}

    def sets(torch_filter: Callable[[Version], bool] | None) -> Iterator[matrix_mod.Resolution]:
        assert target.python is not None
        return matrix_mod.consistent_sets(
            requests,
            python=tags.python_tuple(target),
            free_threaded=target.python.free_threaded,
            available=available,
            installed_torch=installed.version if installed else None,
            ignore_matrix=ignore_matrix,
            matrix=matrix,
            pin=pairing.pin,
            torch_filter=torch_filter,
        )

    first = next(sets(None))  # ResolveError here: no consistent set at all
    torch_planned = first.torch_role != "installed"
    installed_variant = (
        variants.installed_variant(installed) if installed and not torch_planned else None
    )
    memo: dict[tuple[str, Version, Decision | None], Decision] = {}

    def decide(project: str, version: Version, torch: Decision | None) -> Decision:
        key = (project, version, torch)
        if key not in memo:
            memo[key] = _decide_one(project, version, torch)
        return memo[key]

    def _decide_one(project: str, version: Version, torch: Decision | None) -> Decision:
        companion = project != "torch"
        role = "implied" if not companion and first.torch_role == "implied" else "requested"
        torch_version: Version | None = version
        if companion:
            torch_version = torch.version if torch is not None else None
            if torch is None and installed is not None:
                torch_version = Version(installed.version.base_version)
        return _decide(
            project,
            version,
            listings,
            target,
            tagset,
            need,
            matrix,
            torch_variant=(torch.variant if torch else installed_variant) if companion else None,
            torch_text=_torch_phrase(torch, installed) if companion else None,
            torch_version=torch_version,
            user_source=(user_sources or {}).get(project),
            role=role,
            facts=facts,
            book=book,
            pin=pairing.pin(project, version) if companion else None,
            pairing=pairing if companion else None,
            torch_wheel=_wheel_version(torch, installed) if companion else None,
            force_build=prefer == "build" and project in asked,
            requires=pairing.requires_of,
        )

    chosen = choice_mod.choose(
        sets,
        decide,
        pairing.pin,
        prefer=prefer,
        torch_planned=torch_planned,
        # A tree the user gives builds with the same recipes: the same coverage applies.
        gap=lambda project, version: choice_mod.recipe_gap(project, version, recipe_dirs),
        cost=lambda ds: choice_mod.build_cost(ds, target, recipe_dirs),
    )
    resolution = chosen.resolution
    warnings = [f"--ignore-matrix: {w}" for w in resolution.warnings]
    warnings.extend(li.note for li in listings if li.note)
    order = {p: i for i, p in enumerate(matrix_mod.PACKAGES)}
    decisions = tuple(sorted(chosen.decisions, key=lambda d: order.get(d.name, 99)))
    return Plan(
        target,
        need,
        decisions,
        listings,
        resolution,
        tuple(warnings),
        installed,
        cuda,
        tuple(sources),
        prefer,
        chosen.newer,
        chosen.notes,
    )


def _wheel_version(torch: Decision | None, installed: InstalledTorch | None) -> Version | None:
    """The full version (local label included) of the torch the companions will sit on."""
    if torch is None:
        return installed.version if installed else None
    if torch.wheel is not None:
        parsed = file_version(torch.wheel.filename)
        return parsed[0] if parsed else None
    return None  # a build: its label is torchbuild's, and the companions are built against it


# -- output ------------------------------------------------------------------------------------


def source_summaries(plan: Plan) -> list[dict[str, Any]]:
    """Per source: how it answered over all projects (``answers``: files per project, or
    "not found"/"error")."""
    out: dict[Source, dict[str, Any]] = {}

    def entry(source: Source) -> dict[str, Any]:
        return out.setdefault(
            source,
            {
                "kind": source.kind,
                "location": source.location,
                "origin": source.origin,
                "known": source.known,
                "status": "ok",
                "error": None,
                "cached": False,
                "answers": {},
            },
        )

    for source in plan.sources:
        entry(source)
    for listing in plan.listings:
        row = entry(listing.source)
        if listing.status == "error":
            row["status"] = "error"
            row["error"] = listing.error
        if listing.cache_age is not None:
            row["cached"] = True
        row["answers"][listing.project] = (
            len(listing.files) if listing.status == "ok" else listing.status
        )
    return list(out.values())


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "target": to_json(plan.target),
        "cuda": plan.cuda_mode,
        "need": variants.describe_need(plan.need),
        "packages": [d.to_json() for d in plan.decisions],
        "installed_torch": None
        if plan.installed is None
        else {"version": str(plan.installed.version), "cuda": plan.installed.cuda},
        "sources": source_summaries(plan),
        "warnings": list(plan.warnings),
        "prefer": plan.prefer,
        "newer": None if plan.newer is None else plan.newer.to_json(),
        "choice_notes": list(plan.choice_notes),
    }
