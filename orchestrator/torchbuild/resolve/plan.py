"""The plan: for each package, reuse a wheel that truly fits the target, or build it, and why.

A wheel is reused only when (1) its tags are among the target's supported tags and its
``Requires-Python`` admits the target's Python, (2) its variant works there (CPU vs CUDA, CUDA no
newer than the driver runs, kernels for the target's GPUs; ``resolve.variants``) and (3) for
torchvision/torchaudio, it is built for the exact torch (version and variant) it will sit on.
``cached`` means such a wheel is already in the local wheelhouse; ``prebuilt`` names the index
file to download; ``build`` says in words why nothing fits and what will be built from where.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ..target import to_json
from . import matrix as matrix_mod
from . import tags, variants

if TYPE_CHECKING:
    from packaging.tags import Tag

    from ..detect.torch import InstalledTorch
    from ..sources.index import SdistChoice
    from ..target import Target
    from .indexes import FileLink, IndexClient, Listing, Source

__all__ = [
    "Candidate",
    "Decision",
    "Plan",
    "WheelChoice",
    "available_versions",
    "evaluate",
    "file_version",
    "friendly_platform",
    "make_plan",
    "pip_choice",
    "plan_json",
    "project_files",
    "sdist_decision",
    "source_summaries",
    "tag_reason",
]

JSON_VERSION = 1


# -- one file, judged --------------------------------------------------------------------------


@dataclass(frozen=True)
class WheelChoice:
    filename: str
    url: str
    index: str
    kind: str  # the source kind: "index", "find-links", "wheelhouse"
    sha256: str | None = None
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "url": self.url,
            "index": self.index,
            "sha256": self.sha256,
            "size": self.size,
        }


@dataclass(frozen=True)
class Candidate:
    """One published wheel of the wanted version, with what torchbuild thinks of it."""

    source: Source
    link: FileLink
    version: Version
    tags: frozenset[Tag]
    rank: int | None  # position of its best tag in the target's list; None = tags do not fit
    python_ok: bool
    variant: variants.Variant
    evidence: str
    problems: tuple[variants.Problem, ...] = ()
    notes: tuple[str, ...] = ()
    pairing: str | None = None  # why it cannot sit on the planned torch

    @property
    def fits(self) -> bool:
        return (
            self.rank is not None and self.python_ok and not self.problems and self.pairing is None
        )

    def choice(self) -> WheelChoice:
        return WheelChoice(
            self.link.filename,
            self.link.url,
            self.source.location,
            self.source.kind,
            self.link.sha256,
            self.link.size,
        )


def _python_ok(requires: str | None, python: str) -> bool:
    if not requires:
        return True
    try:
        return SpecifierSet(requires).contains(python, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True  # pip ignores an unreadable Requires-Python as well


@functools.lru_cache(maxsize=16384)
def file_version(filename: str) -> tuple[Version, frozenset[Tag] | None] | None:
    """The version and (for wheels) tags a file name carries; None for other files."""
    try:
        if filename.endswith(".whl"):
            _, version, _, wheel_tags = parse_wheel_filename(filename)
            return version, wheel_tags
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[1], None
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def _wheel_arch(wheel_tags: frozenset[Tag], target_arch: str) -> str:
    for t in wheel_tags:
        if t.platform.endswith("_" + target_arch) or t.platform == f"linux_{target_arch}":
            return target_arch
    for t in wheel_tags:
        for arch in ("x86_64", "aarch64"):
            if t.platform.endswith(arch):
                return arch
    return target_arch


def evaluate(
    project: str,
    version: Version,
    files: Iterable[tuple[Source, FileLink]],
    target: Target,
    tagset: tags.TagSet,
    need: variants.Need | None,
    *,
    torch_for: Version | None = None,
    facts: variants.Facts | None = None,
) -> list[Candidate]:
    """Every non-yanked wheel of ``project`` ``version`` (local labels included), judged."""
    want = SpecifierSet(f"=={version}")
    python = target.python.version if target.python else "0"
    out = []
    for source, link in files:
        parsed = file_version(link.filename)
        if parsed is None or link.yanked:
            continue
        found_version, wheel_tags = parsed
        if wheel_tags is None:  # an sdist
            continue
        if not want.contains(found_version, prereleases=True):
            continue
        variant, evidence = variants.wheel_variant(
            project,
            found_version,
            _wheel_arch(wheel_tags, target.arch),
            source,
            torch_for=torch_for,
            facts=facts,
        )
        found, notes = variants.problems(variant, need) if need is not None else ([], [])
        out.append(
            Candidate(
                source,
                link,
                found_version,
                wheel_tags,
                tagset.best_rank(wheel_tags),
                _python_ok(link.requires_python, python),
                variant,
                evidence,
                tuple(found),
                tuple(notes),
            )
        )
    return out


def _pip_key(c: Candidate) -> tuple[int, Version, int]:
    # pip's CandidateEvaluator: not yanked, then the highest version (local labels count), then
    # the most specific tag. Yanked files never get here.
    return (1, c.version, -(c.rank if c.rank is not None else 10**9))


def pip_choice(candidates: Iterable[Candidate]) -> Candidate | None:
    """The file pip would take among ``candidates`` on tags and Requires-Python alone."""
    usable = [c for c in candidates if c.rank is not None and c.python_ok]
    return max(usable, key=_pip_key) if usable else None


# -- why nothing fits, in words ----------------------------------------------------------------


def friendly_platform(platform: str) -> str:
    if platform == "any":
        return "any platform"
    if platform.startswith(("manylinux", "musllinux", "linux_")):
        arch = re.sub(r"^(manylinux_\d+_\d+|musllinux_\d+_\d+|manylinux\d*|linux)_", "", platform)
        libc = " (musl)" if platform.startswith("musllinux") else ""
        return f"Linux {arch}{libc}"
    if platform.startswith("macosx"):
        return "macOS " + platform.rsplit("_", 1)[-1]
    if platform.startswith("win"):
        return {
            "win_amd64": "Windows x86-64",
            "win32": "Windows x86",
            "win_arm64": "Windows arm64",
        }.get(platform, platform)
    return platform


def _interp_label(t: Tag) -> str:
    return t.abi if t.abi not in ("none", "abi3") else t.interpreter


def _sorted_interps(labels: Iterable[str]) -> list[str]:
    def key(label: str) -> tuple[int, int, str]:
        m = re.match(r"^[a-z]+(\d)(\d+)(.*)$", label)
        return (int(m.group(1)), int(m.group(2)), m.group(3)) if m else (0, 0, label)

    return sorted(set(labels), key=key)


def tag_reason(
    project: str, version: Version, wheels: Sequence[Candidate], target: Target, tagset: tags.TagSet
) -> str:
    """Why none of ``wheels`` (all of one version) has tags this target accepts."""
    head = f"no wheel for {tagset.interpreter} on {tagset.best_platform}"
    what = f"the published {project} {version.public} wheels"
    if not wheels:
        return f"{head}: no {project} {version.public} wheel is published on the configured indexes"
    interp_ok = [c for c in wheels if any(tagset.accepts_interpreter(t) for t in c.tags)]
    parts: list[str] = []
    if not interp_ok:
        labels = _sorted_interps(_interp_label(t) for c in wheels for t in c.tags)
        parts.append(f"{what} are for {', '.join(labels)}")
    pool = interp_ok or list(wheels)
    arch = target.arch
    same_arch = {
        t.platform
        for c in pool
        for t in c.tags
        if t.platform.endswith("_" + arch) and not t.platform.startswith("macosx")
    }
    if any(c.rank is None and any(t.platform == "any" for t in c.tags) for c in pool):
        pass  # pure wheels only fail on the interpreter
    elif not same_arch:
        platforms = sorted({friendly_platform(t.platform) for c in wheels for t in c.tags})
        parts.append(f"none is built for {arch} (published for: {', '.join(platforms)})")
    else:
        glibc_needed = sorted(
            g for g in (tags.glibc_of_platform(p) for p in same_arch) if g is not None
        )
        if (
            target.libc.name == "musl"
            and glibc_needed
            and not any(p.startswith("musllinux") for p in same_arch)
        ):
            parts.append(f"{what} for {arch} need glibc (manylinux); this target uses musl libc")
        elif glibc_needed and not any(tagset.accepts_platform(p) for p in same_arch):
            need = glibc_needed[0]
            have = target.libc.version or f"an unknown version (assumed {tags.ASSUMED_GLIBC})"
            parts.append(
                f"{what} need glibc {need[0]}.{need[1]}; this target has {have}"
                if interp_ok
                else f"they also need glibc {need[0]}.{need[1]}; this target has {have}"
            )
    if not parts:
        parts.append(f"{what} carry tags this target does not accept")
    return f"{head}: " + "; ".join(parts)


# -- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    name: str
    version: Version
    action: str  # "cached", "prebuilt", "build"
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


def available_versions(listings: Iterable[Listing]) -> dict[str, set[Version]]:
    """Public versions each project has non-yanked files for, over every answering source."""
    out: dict[str, set[Version]] = {}
    for listing in listings:
        for link in listing.files:
            parsed = None if link.yanked else file_version(link.filename)
            if parsed is not None:
                out.setdefault(listing.project, set()).add(Version(parsed[0].public))
    return out


def project_files(listings: Iterable[Listing], project: str) -> list[tuple[Source, FileLink]]:
    return [(li.source, f) for li in listings if li.project == project and li.ok for f in li.files]


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
) -> Decision:
    torch_for = None
    if project != "torch":
        spec = matrix.torch_requirement(project, version)
        lows = [Version(s.version) for s in spec if s.operator in ("==", ">=", "~=")]
        torch_for = lows[0] if lows else torch_version
    candidates = evaluate(
        project,
        version,
        project_files(listings, project),
        target,
        tagset,
        need,
        torch_for=torch_for,
        facts=facts,
    )
    if project != "torch" and torch_variant is not None:
        stable = matrix.is_stable_abi(project, version)
        judged = []
        for c in candidates:
            clause = variants.pairing_problem(c.variant, torch_variant, stable_abi=stable)
            judged.append(c if clause is None else _with_pairing(c, clause))
        candidates = judged
    if user_source is not None:
        # A source the user named is what they want built; a wheel of that very build is
        # still found by its build key before anything compiles.
        reason = f"built from the given source ({user_source})"
    else:
        fitting = [c for c in candidates if c.fits]
        cached = [c for c in fitting if c.source.kind == "wheelhouse"]
        if cached:
            best = max(cached, key=_pip_key)
            return Decision(
                project,
                version,
                "cached",
                f"a fitting wheel is already in {best.source.location}",
                best.choice(),
                best.variant,
                notes=best.notes,
                role=role,
            )
        if fitting:
            best = max(fitting, key=_pip_key)
            reason = f"{best.evidence} fits: {_fit_words(best, tagset, need)}"
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
        reason = _why_not(project, version, candidates, target, tagset, torch_text)
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


def _with_pairing(c: Candidate, clause: str) -> Candidate:
    return Candidate(
        c.source,
        c.link,
        c.version,
        c.tags,
        c.rank,
        c.python_ok,
        c.variant,
        c.evidence,
        c.problems,
        c.notes,
        clause,
    )


def _rank_or_last(tagset: tags.TagSet, tag: Tag) -> int:
    rank = tagset.rank(tag)
    return 10**9 if rank is None else rank


def _fit_words(c: Candidate, tagset: tags.TagSet, need: variants.Need) -> str:
    best = min(c.tags, key=lambda t: _rank_or_last(tagset, t))
    words = f"{best} is a tag this target accepts; "
    if need.kind == "cuda":
        gpus = ", ".join(variants.sm(cc) for cc in need.capabilities)
        words += f"{c.variant.phrase()} with kernels for {gpus}"
        if need.driver_cuda:
            words += f", and the driver runs CUDA {need.driver_cuda}"
    elif c.variant.kind == "cuda":
        words += f"{c.variant.phrase()}, which runs on the CPU too ({need.why})"
    else:
        words += f"{c.variant.phrase()} ({need.why})"
    return words


def _why_not(
    project: str,
    version: Version,
    candidates: Sequence[Candidate],
    target: Target,
    tagset: tags.TagSet,
    torch_text: str | None,
) -> str:
    if not candidates:
        return (
            f"no {project} {version} wheel is published on the configured indexes; "
            "it will be built from source"
        )
    tag_ok = [c for c in candidates if c.rank is not None]
    if not tag_ok:
        return tag_reason(project, version, candidates, target, tagset)
    py_ok = [c for c in tag_ok if c.python_ok]
    if not py_ok:
        needs = sorted({c.link.requires_python or "" for c in tag_ok})
        have = target.python.version if target.python else "?"
        return (
            f"the {project} {version} wheels that fit the tags require Python "
            f"{' or '.join(needs)}; this target has {have}"
        )
    reasons: list[str] = []
    for c in sorted(py_ok, key=lambda c: c.rank if c.rank is not None else 0):
        if c.problems:
            text = variants.explain(c.evidence, c.variant, list(c.problems))
        elif c.pairing is not None:
            text = f"{c.evidence} cannot sit on {torch_text or 'this torch'}: {c.pairing}"
        else:
            continue
        if text not in reasons:
            reasons.append(text)
    return "; ".join(reasons[:3]) or f"no {project} {version} wheel fits this target"


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
) -> Plan:
    """Resolve versions and decide ``cached``/``prebuilt``/``build`` for every package."""
    matrix = matrix or matrix_mod.load_matrix()
    tagset = tags.tag_set(target)
    need = variants.need_for(target, cuda, facts)
    projects = list(dict.fromkeys(["torch", *[r.name for r in requests]]))
    by_key = client.listings(sources, projects)
    listings = tuple(by_key.values())
    assert target.python is not None  # tag_set raised otherwise
    resolution = matrix_mod.resolve(
        requests,
        python=tags.python_tuple(target),
        free_threaded=target.python.free_threaded,
        available=available_versions(listings),
        installed_torch=installed.version if installed else None,
        ignore_matrix=ignore_matrix,
        matrix=matrix,
    )
    warnings = [f"--ignore-matrix: {w}" for w in resolution.warnings]
    warnings.extend(li.note for li in listings if li.note)
    decisions: list[Decision] = []
    torch_decision: Decision | None = None
    torch_variant: variants.Variant | None = None
    if resolution.torch_role == "installed":
        assert installed is not None
        torch_variant = variants.installed_variant(installed)
    order = [p for p in matrix_mod.PACKAGES if p in resolution.versions]
    for project in order:
        if project == "torch" and resolution.torch_role == "installed":
            continue
        role = (
            "implied" if project == "torch" and resolution.torch_role == "implied" else "requested"
        )
        decision = _decide(
            project,
            resolution.versions[project],
            listings,
            target,
            tagset,
            need,
            matrix,
            torch_variant=torch_variant,
            torch_text=_torch_phrase(torch_decision, installed) if project != "torch" else None,
            torch_version=resolution.versions.get("torch"),
            user_source=(user_sources or {}).get(project),
            role=role,
            facts=facts,
        )
        if project == "torch":
            torch_decision = decision
            torch_variant = decision.variant
        decisions.append(decision)
    return Plan(
        target,
        need,
        tuple(decisions),
        listings,
        resolution,
        tuple(warnings),
        installed,
        cuda,
        tuple(sources),
    )


# -- output ------------------------------------------------------------------------------------


def source_summaries(plan: Plan) -> list[dict[str, Any]]:
    """Per source: how it answered over all projects."""
    out: dict[Source, dict[str, Any]] = {}
    for source in plan.sources:
        out[source] = {
            "kind": source.kind,
            "location": source.location,
            "origin": source.origin,
            "status": "ok",
            "error": None,
            "cached": False,
        }
    for listing in plan.listings:
        entry = out.setdefault(
            listing.source,
            {
                "kind": listing.source.kind,
                "location": listing.source.location,
                "origin": listing.source.origin,
                "status": "ok",
                "error": None,
                "cached": False,
            },
        )
        if listing.status == "error":
            entry["status"] = "error"
            entry["error"] = listing.error
        if listing.cache_age is not None:
            entry["cached"] = True
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
    }
