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

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
)
from packaging.version import InvalidVersion, Version

from ..target import to_json
from . import choice as choice_mod
from . import matrix as matrix_mod
from . import tags, variants, wheelvariants
from .pairing import Pairing

if TYPE_CHECKING:
    from pathlib import Path

    from packaging.tags import Tag

    from ..detect.torch import InstalledTorch
    from ..sources.index import SdistChoice
    from ..target import Target
    from .indexes import FileLink, IndexClient, Listing, Source
    from .metadata import MetadataReader

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


@functools.lru_cache(maxsize=16384)
def file_version(filename: str) -> tuple[Version, frozenset[Tag] | None] | None:
    """The version and (for wheels) tags a file name carries; None for other files."""
    try:
        if filename.endswith(".whl"):  # a PEP 825 variant label after the platform tag too
            wheel = wheelvariants.parse_variant_wheel(filename)
            return wheel.version, wheel.tags
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[1], None
    except (
        InvalidWheelFilename,
        InvalidSdistFilename,
        InvalidVersion,
        wheelvariants.VariantsError,
    ):
        return None
    return None


def _wheel_arch(wheel_tags: frozenset[Tag], target_arch: str) -> str:
    for t in wheel_tags:
        # macOS and Windows wheels are builds of their own (variants.toml keys them by OS).
        if t.platform.startswith("macosx_"):
            return "macos"
        if t.platform.startswith("win"):
            return "windows"
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
    book: wheelvariants.Book | None = None,
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
        label = wheelvariants.label_of(link.filename)
        if label is not None:  # a variant wheel: its properties, from the index's variants.json
            book = book or wheelvariants.Book({}, lambda _link: b"")
            variant, evidence, found, notes = book.judge(
                source, project, found_version, label, variant, evidence, need
            )
        else:
            found, notes = variants.problems(variant, need) if need is not None else ([], [])
        out.append(
            Candidate(
                source,
                link,
                found_version,
                wheel_tags,
                tagset.best_rank(wheel_tags),
                tags.python_admits(link.requires_python, python),
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


def _fit_key(c: Candidate, need: variants.Need) -> tuple[bool, bool, int, Version, int]:
    """Among wheels that all work: the build made for what the target uses first (a CPU-only
    wheel for a machine without an NVIDIA GPU is a fraction of a CUDA build's size, without its
    gigabytes of nvidia-* wheels); on a GPU, a CUDA the driver runs natively before one that
    needs minor-version compatibility (which cannot JIT newer PTX), the newest CUDA first; then
    pip's order."""
    kind = c.variant.kind == ("cpu" if need.kind == "cpu" else "cuda")
    if need.kind != "cuda":
        return (kind, True, 0, *_pip_key(c)[1:])
    cuda = variants.cuda_number(c.variant.cuda)
    native = not need.driver_cuda or cuda <= variants.cuda_number(need.driver_cuda)
    return (kind, native, cuda, *_pip_key(c)[1:])


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
    if target.os != "linux":
        # A Mac's or a Windows Python's platform tags are whole (no glibc to compare).
        same_arch = set()
        chip = "arm64" if arch == "aarch64" else arch
        arch = f"macOS {chip}" if target.os == "macos" else f"{target.os} ({tagset.best_platform})"
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
    prefer: str = "prebuilt"
    #: prefer=prebuilt: the newer set passed over because it needs builds, with their cost.
    newer: choice_mod.BuildCost | None = None
    #: Sets passed over, and why.
    choice_notes: tuple[str, ...] = ()


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
    book: wheelvariants.Book | None = None,
    pin: matrix_mod.TorchPin | None = None,
    pairing: Pairing | None = None,
    torch_wheel: Version | None = None,
    force_build: bool = False,
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
    )
    if project != "torch" and torch_variant is not None:
        stable = matrix.is_stable_abi(project, version)
        judged = []
        for c in candidates:
            clause = variants.pairing_problem(c.variant, torch_variant, stable_abi=stable)
            judged.append(c if clause is None else _with_pairing(c, clause))
        candidates = judged
        if pairing is not None and torch_wheel is not None:
            candidates = _pair_by_metadata(candidates, pairing, torch_wheel)
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
            f", although {max(fitting, key=_pip_key).evidence} fits" if fitting else ""
        )
    else:
        fitting = [c for c in candidates if c.fits]
        cached = [c for c in fitting if c.source.kind == "wheelhouse"]
        if cached:
            best = max(cached, key=_pip_key)
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
            best = max(fitting, key=lambda c: _fit_key(c, need))
            reason = f"{best.evidence} fits: {_fit_words(best, tagset, need)}{paired}"
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
        reason = _why_not(project, version, candidates, target, tagset, torch_text) + paired
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


def _pair_by_metadata(
    candidates: Sequence[Candidate], pairing: Pairing, torch_wheel: Version
) -> list[Candidate]:
    """Fitting wheels checked against their own METADATA, in the order they would be taken
    (the wheelhouse's, then pip's order), until one passes: the rest are never read."""
    order = sorted(
        (i for i, c in enumerate(candidates) if c.fits),
        key=lambda i: (candidates[i].source.kind == "wheelhouse", _pip_key(candidates[i])),
        reverse=True,
    )
    out = list(candidates)
    for i in order:
        out[i] = _metadata_pairing(candidates[i], pairing, torch_wheel)
        if out[i].fits:
            break
    return out


def _metadata_pairing(c: Candidate, pairing: Pairing, torch_wheel: Version) -> Candidate:
    """A fitting companion wheel whose own METADATA asks for another torch cannot sit on it
    (``torch==2.6.0+cu126`` on PyTorch's index is not PyPI's 2.6.0)."""
    if not c.fits:
        return c
    found = pairing.read(c.link)
    if found is None:
        return c
    spec = found.local or found.spec
    want = torch_wheel if found.local is not None else Version(torch_wheel.public)
    if spec.contains(want, prereleases=True):
        return c
    return _with_pairing(c, f"{found.text}, and this torch is {torch_wheel}")


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
