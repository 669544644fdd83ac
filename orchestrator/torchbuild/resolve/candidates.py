"""One published wheel, judged: its tags, its ``Requires-Python``, its variant and its torch.

:func:`evaluate` turns an index's files for one version into :class:`Candidate` values;
:func:`pip_choice` is what pip would take among them on tags and ``Requires-Python`` alone, and
:func:`fit_key` orders the ones that truly fit (``resolve.plan`` picks with it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
)
from packaging.version import InvalidVersion, Version

from . import tags, variants, wheelvariants
from .pairing import marker_environment

if TYPE_CHECKING:
    from packaging.tags import Tag

    from ..target import Target
    from .indexes import FileLink, Listing, Source
    from .pairing import Pairing

__all__ = [
    "Candidate",
    "WheelChoice",
    "available_versions",
    "evaluate",
    "file_version",
    "fit_key",
    "pair_by_metadata",
    "pip_choice",
    "pip_key",
    "project_files",
    "with_pairing",
]


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
    requires: Callable[[FileLink], Sequence[str] | None] | None = None,
) -> list[Candidate]:
    """Every non-yanked wheel of ``project`` ``version`` (local labels included), judged.

    ``requires`` reads a wheel's ``Requires-Dist`` (its METADATA, from the index): for PyPI's
    torch wheels, which carry no label, the CUDA runtime they require outranks the facts table.
    It is asked only for wheels whose tags suit the target.
    """
    env = marker_environment(target)
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
        rank = tagset.best_rank(wheel_tags)
        if (
            requires is not None
            and project == "torch"
            and variant.family == "pypi"
            and label is None
            and found_version.local is None
            and rank is not None
        ):
            needs = requires(link)
            if needs is not None:
                variant, evidence = variants.with_metadata_cuda(
                    variant,
                    evidence,
                    variants.cuda_of_requirements(needs, env),
                    _wheel_arch(wheel_tags, target.arch),
                    facts,
                )
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
                rank,
                tags.python_admits(link.requires_python, python),
                variant,
                evidence,
                tuple(found),
                tuple(notes),
            )
        )
    return out


def pip_key(c: Candidate) -> tuple[int, Version, int]:
    # pip's CandidateEvaluator: not yanked, then the highest version (local labels count), then
    # the most specific tag. Yanked files never get here.
    return (1, c.version, -(c.rank if c.rank is not None else 10**9))


def fit_key(c: Candidate, need: variants.Need) -> tuple[bool, bool, int, Version, int]:
    """Among wheels that all work: the build made for what the target uses first (a CPU-only
    wheel for a machine without an NVIDIA GPU is a fraction of a CUDA build's size, without its
    gigabytes of nvidia-* wheels); on a GPU, a CUDA the driver runs natively before one that
    needs minor-version compatibility (which cannot JIT newer PTX), the newest CUDA first; then
    pip's order."""
    kind = c.variant.kind == ("cpu" if need.kind == "cpu" else "cuda")
    if need.kind != "cuda":
        return (kind, True, 0, *pip_key(c)[1:])
    cuda = variants.cuda_number(c.variant.cuda)
    native = not need.driver_cuda or cuda <= variants.cuda_number(need.driver_cuda)
    return (kind, native, cuda, *pip_key(c)[1:])


def pip_choice(candidates: Iterable[Candidate]) -> Candidate | None:
    """The file pip would take among ``candidates`` on tags and Requires-Python alone."""
    usable = [c for c in candidates if c.rank is not None and c.python_ok]
    return max(usable, key=pip_key) if usable else None


def with_pairing(c: Candidate, clause: str) -> Candidate:
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


def pair_by_metadata(
    candidates: Sequence[Candidate], pairing: Pairing, torch_wheel: Version
) -> list[Candidate]:
    """Fitting wheels checked against their own METADATA, in the order they would be taken
    (the wheelhouse's, then pip's order), until one passes: the rest are never read."""
    order = sorted(
        (i for i, c in enumerate(candidates) if c.fits),
        key=lambda i: (candidates[i].source.kind == "wheelhouse", pip_key(candidates[i])),
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
    return with_pairing(c, f"{found.text}, and this torch is {torch_wheel}")


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
