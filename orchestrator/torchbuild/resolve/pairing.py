"""Which torch a torchvision/torchaudio release goes with: its own wheel's METADATA first.

The wheel pip would install on the target (tags and Requires-Python) is read cheaply
(:mod:`.metadata`); its ``Requires-Dist: torch...`` is the pairing, as written by the people who
built it. Where no such wheel exists, or its METADATA cannot be had or names no torch (torchaudio
2.11.0 declares none), the compatibility table (``recipes/matrix.toml``) answers instead. Every
answer says where it came from.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Iterable, Mapping

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .matrix import Matrix, TorchPin
from .tags import python_admits

if TYPE_CHECKING:
    from packaging.tags import Tag

    from ..target import Target
    from .indexes import FileLink, Listing
    from .metadata import MetadataReader
    from .tags import TagSet

__all__ = ["Pairing", "marker_environment", "torch_requirement"]


@functools.lru_cache(maxsize=16384)
def _wheel(filename: str) -> tuple[str, Version, frozenset[Tag]] | None:
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return str(name), version, tags


def marker_environment(target: Target) -> dict[str, str]:
    """What environment markers see on ``target`` (Linux, its arch and Python)."""
    python = target.python.version if target.python else "3"
    implementation = target.python.implementation if target.python else "cpython"
    return {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "platform_machine": target.arch,
        "platform_system": "Linux" if target.os == "linux" else target.os,
        "sys_platform": target.os,
        "os_name": "posix",
        "implementation_name": implementation,
        "platform_python_implementation": {"cpython": "CPython", "pypy": "PyPy"}.get(
            implementation, implementation
        ),
        "extra": "",
    }


def torch_requirement(requires_dist: Iterable[str], env: Mapping[str, str]) -> SpecifierSet | None:
    """The specifier on torch among ``requires_dist`` that applies in ``env``; None if none."""
    specs: list[str] = []
    for text in requires_dist:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != "torch":
            continue
        try:
            if req.marker is not None and not req.marker.evaluate(dict(env)):
                continue
        except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
            continue
        specs.append(str(req.specifier))
    if not specs:
        return None
    try:
        return SpecifierSet(",".join(s for s in specs if s))
    except InvalidSpecifier:
        return None


def _public(spec: SpecifierSet) -> SpecifierSet:
    """``==2.6.0+cu126`` -> ``==2.6.0``: versions are chosen on public versions."""
    return SpecifierSet(
        ",".join(
            str(Specifier(f"{s.operator}{s.version.split('+', 1)[0]}"))
            if "+" in s.version
            else str(s)
            for s in spec
        )
    )


class Pairing:
    """Answers "which torch goes with this release" for one plan, memoised."""

    def __init__(
        self,
        matrix: Matrix,
        listings: Iterable[Listing],
        target: Target,
        tagset: TagSet,
        reader: MetadataReader | None,
    ) -> None:
        self.matrix = matrix
        self.reader = reader
        self.tagset = tagset
        self.env = marker_environment(target)
        self.python = target.python.version if target.python else "0"
        self._files: dict[str, list[FileLink]] = {}
        for listing in listings:
            if listing.ok:
                self._files.setdefault(canonicalize_name(listing.project), []).extend(listing.files)
        self._memo: dict[tuple[str, Version], TorchPin] = {}

    def wheel_for(self, package: str, version: Version) -> FileLink | None:
        """The file pip would pick for ``package`` ``version`` on the target, by tags alone."""
        best: tuple[tuple[Version, int], FileLink] | None = None
        for link in self._files.get(canonicalize_name(package), ()):
            parsed = None if link.yanked else _wheel(link.filename)
            if parsed is None or Version(parsed[1].public) != version:
                continue
            rank = self.tagset.best_rank(parsed[2])
            if rank is None or not python_admits(link.requires_python, self.python):
                continue
            key = (parsed[1], -rank)
            if best is None or key > best[0]:
                best = (key, link)
        return None if best is None else best[1]

    def pin(self, package: str, version: Version) -> TorchPin:
        key = (package, version)
        if key not in self._memo:
            self._memo[key] = self._pin(package, version)
        return self._memo[key]

    def _pin(self, package: str, version: Version) -> TorchPin:
        link = self.wheel_for(package, version) if self.reader is not None else None
        found = self.read(link) if link is not None else None
        if found is None:
            return self.matrix.pin(package, version)
        return found

    def requires_of(self, link: FileLink) -> tuple[str, ...] | None:
        """One wheel's ``Requires-Dist``; None when its METADATA cannot be had."""
        if self.reader is None:
            return None
        found = self.reader.read(link).metadata
        return None if found is None else found.requires_dist

    def read(self, link: FileLink) -> TorchPin | None:
        """The pin one wheel's METADATA gives; None when it cannot be had or names no torch."""
        if self.reader is None:
            return None
        lookup = self.reader.read(link)
        if lookup.metadata is None:
            return None
        spec = torch_requirement(lookup.metadata.requires_dist, self.env)
        if spec is None:
            return None
        local = spec if any("+" in s.version for s in spec) else None
        return TorchPin(
            _public(spec),
            "metadata",
            f"its METADATA requires torch{spec}",
            local,
            link.filename,
        )
