"""What is asked of an index and what comes back: sources, file links, listings."""

from __future__ import annotations

import contextlib
import logging
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..pipconfig import DEFAULT_INDEX_URL

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


# -- what is asked and what comes back -------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place wheels are looked for."""

    kind: str  # "index" (PEP 503/691), "find-links" (a directory or a page), "wheelhouse"
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
    #: PEP 658/714: the index serves the wheel's METADATA at ``<url>.metadata``.
    core_metadata: bool = False
    #: ...with this sha256, when the index gives one.
    core_metadata_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "url": self.url,
            "requires_python": self.requires_python,
            "yanked": self.yanked,
            "sha256": self.sha256,
            "size": self.size,
            "core_metadata": self.core_metadata,
            "core_metadata_sha256": self.core_metadata_sha256,
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
            core_metadata=bool(data.get("core_metadata")),
            core_metadata_sha256=data.get("core_metadata_sha256"),
        )


@dataclass(frozen=True)
class Listing:
    """One source's answer for one project."""

    source: Source
    project: str
    files: tuple[FileLink, ...] = ()
    status: str = "ok"  # "ok", "not-found" (the index has no such project), "error"
    error: str | None = None
    #: Answered from the on-disk cache (how old, in seconds), or None when fetched/read now.
    cache_age: float | None = None
    #: Something the user should know although the answer is usable (a stale copy was used).
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "error"


@dataclass(frozen=True)
class Response:
    status: int
    url: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


#: ``transport(url, headers, timeout) -> Response``; raises ``OSError`` when nothing answered.
Transport = Callable[[str, Mapping[str, str], float], Response]


def urllib_transport(cert: str | None = None) -> Transport:
    """The real network: urllib, the system's (or pip's ``cert``) CA bundle, env proxies."""
    context = ssl.create_default_context(cafile=cert if cert and Path(cert).is_file() else None)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    def fetch(url: str, headers: Mapping[str, str], timeout: float) -> Response:
        request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 - http(s) only
        try:
            with opener.open(request, timeout=timeout) as reply:
                return Response(
                    reply.status,
                    reply.geturl(),
                    {k.lower(): v for k, v in reply.headers.items()},
                    reply.read(),
                )
        except urllib.error.HTTPError as exc:
            headers = {k.lower(): v for k, v in exc.headers.items()} if exc.headers else {}
            body = b""
            with contextlib.suppress(OSError, AttributeError):  # no body is fine for an error
                body = exc.read()
            return Response(exc.code, url, headers, body)

    return fetch
