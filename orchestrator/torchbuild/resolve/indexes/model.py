"""What is asked of an index and what comes back: sources, file links, listings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from ... import http
from ...http import Response, Transport
from ..pipconfig import DEFAULT_INDEX_URL

# Response and Transport live in torchbuild.http; the index modules take them from here.
__all__ = [
    "ACCEPT",
    "DEFAULT_FAILURE_TTL",
    "DEFAULT_KNOWN_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL",
    "JSON_TYPE",
    "FileLink",
    "Listing",
    "Response",
    "Source",
    "Transport",
    "urllib_transport",
]

log = logging.getLogger(__name__)

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.2, text/html; q=0.01"
)
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
#: Seconds one request may wait for the server before the index counts as unreachable.
DEFAULT_TIMEOUT = 20.0
#: Seconds a cached index page is used without asking the server again.
DEFAULT_TTL = 600.0
#: Seconds a known wheel source (asked by default, not configured by the user) may take to
#: answer; such a source that cannot be reached must cost little.
DEFAULT_KNOWN_TIMEOUT = 4.0
#: Seconds a known source that failed to answer is not asked again (the failure is cached).
DEFAULT_FAILURE_TTL = 600.0

SourceKind = Literal["index", "find-links", "wheelhouse"]
ListingStatus = Literal["ok", "not-found", "error"]


# -- what is asked and what comes back -------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place wheels are looked for."""

    #: "index" (PEP 503/691), "find-links" (a directory or a page), "wheelhouse"
    kind: SourceKind
    location: str  # URL or path, as configured (a mirror's URL when a mirror serves it)
    origin: str  # who configured it: "pip file:/etc/pip.conf [global]", "--find-links", ...
    #: The known wheel source (recipes/sources.toml) this index belongs to: "pytorch",
    #: "jetson-ai-lab", "pypi"; None for places only pip's or torchbuild's configuration names.
    known: str | None = None
    #: The index's own URL at its publisher when ``location`` is a mirror of it (so the variant
    #: an index serves is still read from its path); None when ``location`` is that URL.
    upstream: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    @property
    def canonical(self) -> str:
        """The URL the index has at its publisher: ``upstream`` for a mirror, else ``location``."""
        return self.upstream or self.location

    @property
    def is_pypi(self) -> bool:
        return self.canonical.rstrip("/") == DEFAULT_INDEX_URL

    def describe(self) -> str:
        if self.kind == "wheelhouse":
            return f"the wheelhouse {self.location}"
        if self.is_pypi:
            return "PyPI"
        return self.location


@dataclass(frozen=True)
class FileLink:
    filename: str
    url: str
    requires_python: str | None = None
    yanked: bool = False
    sha256: str | None = None
    size: int | None = None
    #: The index serves the file's METADATA on its own at ``url + ".metadata"`` (PEP 658/714:
    #: ``data-core-metadata``/``data-dist-info-metadata`` in HTML, ``core-metadata`` in JSON).
    has_metadata: bool = False
    #: That METADATA file's sha256, when the index gave one (``sha256=<hex>``).
    metadata_sha256: str | None = None

    @property
    def metadata_url(self) -> str | None:
        """Where PEP 658 metadata is fetched from, or None when the index does not serve it."""
        return self.url + ".metadata" if self.has_metadata else None

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "url": self.url,
            "requires_python": self.requires_python,
            "yanked": self.yanked,
            "sha256": self.sha256,
            "size": self.size,
            "has_metadata": self.has_metadata,
            "metadata_sha256": self.metadata_sha256,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileLink:
        return cls(
            filename=str(data["filename"]),
            url=str(data["url"]),
            requires_python=data.get("requires_python"),
            yanked=bool(data.get("yanked")),
            sha256=data.get("sha256"),
            size=data.get("size"),
            has_metadata=bool(data.get("has_metadata")),
            metadata_sha256=data.get("metadata_sha256"),
        )


@dataclass(frozen=True)
class Listing:
    """One source's answer for one project."""

    source: Source
    project: str
    files: tuple[FileLink, ...] = ()
    #: "not-found": the index has no such project.
    status: ListingStatus = "ok"
    error: str | None = None
    #: Answered from the on-disk cache (how old, in seconds), or None when fetched/read now.
    cache_age: float | None = None
    #: Something the user should know although the answer is usable (a stale copy was used).
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "error"


def urllib_transport(cert: str | None = None) -> Transport:
    """The real network: urllib, the system's (or pip's ``cert``) CA bundle, env proxies."""
    return http.transport(cert)
