"""Sources from a package index: the sdist a package publishes, as pip would fetch it.

A package torchbuild has no recipe for, asked for without ``--source``, is built from its sdist
on the configured indexes (pip's, ``--index-url``/``--extra-index-url``, ``--find-links``): the
pinned version, or the newest release with an sdist whose ``Requires-Python`` admits the build's
interpreter. The index's sha256 is the one the download must match; the archive source kind
then downloads, verifies and unpacks it, and the generic recipe builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename
from packaging.version import Version

from ..errors import InputError
from ..resolve.tags import python_admits
from .archive import is_archive, is_url
from .model import SourceRequest, redact

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..resolve.indexes.client import IndexClient
    from ..resolve.indexes.model import FileLink, Listing
    from ..resolve.indexes.model import Source as IndexSource

__all__ = ["SdistChoice", "choose_sdist", "find_sdists"]


@dataclass(frozen=True)
class SdistChoice:
    """One sdist on one index: what the build of a recipe-less package starts from."""

    project: str
    version: Version
    filename: str
    url: str
    sha256: str | None  #: from the index; ``None`` only for a local file
    index: str  #: where it was listed (an index URL, a find-links directory)

    def request(self) -> SourceRequest:
        return SourceRequest(self.project, self.url, version=str(self.version), sha256=self.sha256)

    def describe(self) -> str:
        """``sdist torch_scatter-2.1.2.tar.gz from https://pypi.org/simple/, sha256 …``."""
        text = f"sdist {self.filename} from {redact(self.index)}"
        return f"{text}, sha256 {self.sha256}" if self.sha256 else text


def _candidates(
    files: Iterable[tuple[IndexSource, FileLink]], project: str
) -> list[tuple[Version, IndexSource, FileLink]]:
    out = []
    for source, link in files:
        if link.yanked or not is_archive(link.filename) or link.filename.endswith(".zip"):
            continue
        try:
            name, version = parse_sdist_filename(link.filename)
        except InvalidSdistFilename:
            continue
        if canonicalize_name(name) == project:
            out.append((version, source, link))
    return out


def choose_sdist(
    listings: Iterable[Listing],
    project: str,
    *,
    pinned: str | None,
    python: str | None,
) -> SdistChoice:
    """The sdist to build ``project`` from: ``pinned`` (``2.1.2``) or the newest final release
    whose ``Requires-Python`` admits ``python`` (``3.11.7``); the first index listing it wins,
    as in pip's order of indexes. Raises InputError naming what was found when none fits."""
    project = canonicalize_name(project)
    answered = [li for li in listings if li.project == project and li.ok]
    found = _candidates(((li.source, f) for li in answered for f in li.files), project)
    wanted = Version(pinned) if pinned else None
    fitting = [
        c
        for c in found
        if (c[0] == wanted if wanted is not None else not c[0].is_prerelease)
        and python_admits(c[2].requires_python, python)
    ]
    if not fitting:
        looked = ", ".join(sorted({redact(li.source.location) for li in answered})) or "nothing"
        versions = sorted({c[0] for c in found})
        what = f"{project} {pinned}" if pinned else project
        have = (
            f"; sdists there: {', '.join(str(v) for v in versions[-6:])}"
            if versions
            else "; none has an sdist of it"
        )
        raise InputError(
            f"{what} has no recipe of its own, no source was given, and no fitting sdist is on "
            f"the configured indexes (looked in: {looked}{have})",
            hint=f"give its source: --source {project}=/path/to/tree-or-sdist, or pin a version "
            "that has an sdist",
        )
    best = max(fitting, key=lambda c: c[0])  # max() keeps the first of equals: index order
    version, source, link = best
    if link.sha256 is None and is_url(link.url):
        raise InputError(
            f"{source.location} lists {link.filename} without a sha256, so its download cannot "
            "be checked",
            hint=f"download it yourself and give it: --source {project}=/path/to/"
            f"{link.filename}#sha256=HEX",
        )
    url = link.url.split("#", 1)[0]
    if url.startswith("file://"):  # a --find-links directory: the archive kind takes a path
        from urllib.parse import unquote, urlsplit

        url = unquote(urlsplit(url).path)
    return SdistChoice(project, version, link.filename, url, link.sha256, source.location)


def find_sdists(
    client: IndexClient,
    sources: Iterable[IndexSource],
    wanted: Iterable[tuple[str, str | None]],
    *,
    python: str | None,
) -> dict[str, SdistChoice]:
    """The sdist of each ``(project, pinned version or None)``, asked of every source at once."""
    wanted = [(canonicalize_name(n), v) for n, v in wanted]
    listings = list(client.listings(list(sources), [n for n, _ in wanted]).values())
    return {n: choose_sdist(listings, n, pinned=v, python=python) for n, v in wanted}
