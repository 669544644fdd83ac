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
_CACHE_FORMAT = 1

SourceKind = Literal["index", "find-links", "wheelhouse"]
ListingStatus = Literal["ok", "not-found", "error"]


# -- what is asked and what comes back -------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place wheels are looked for."""

    #: "index" (PEP 503/691), "find-links" (a directory or a page), "wheelhouse"
    kind: SourceKind
    location: str  # URL or path, as configured
    origin: str  # who configured it: "pip file:/etc/pip.conf [global]", "--find-links", ...

    @property
    def is_remote(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    @property
    def is_pypi(self) -> bool:
        return self.location.rstrip("/") == DEFAULT_INDEX_URL

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

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "url": self.url,
            "requires_python": self.requires_python,
            "yanked": self.yanked,
            "sha256": self.sha256,
            "size": self.size,
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
