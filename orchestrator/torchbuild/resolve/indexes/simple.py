"""The simple repository API: PEP 691 JSON and PEP 503 HTML project pages, parsed."""

from __future__ import annotations

import gzip
import html.parser
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .model import FileLink, Response

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


# -- parsing -----------------------------------------------------------------------------------


def _hash_from_fragment(url: str) -> tuple[str, str | None]:
    base, _, fragment = url.partition("#")
    if fragment.startswith("sha256="):
        return base, fragment[len("sha256=") :]
    return base, None


def _announced(value: object) -> tuple[bool, str | None]:
    """PEP 714's ``core-metadata`` (or PEP 658's older name): true, or hashes / ``sha256=...``."""
    if isinstance(value, dict):
        found = value.get("sha256")
        return True, found if isinstance(found, str) else None
    if isinstance(value, str):
        if value.startswith("sha256="):
            return True, value[len("sha256=") :]
        return value.lower() == "true" or "=" in value, None
    return value is True, None


def parse_json(body: bytes, base_url: str) -> tuple[FileLink, ...]:
    """A PEP 691 project page."""
    data = json.loads(body.decode("utf-8"))
    out = []
    for entry in data.get("files", []):
        url = urllib.parse.urljoin(base_url, entry["url"])
        url, fragment_hash = _hash_from_fragment(url)
        hashes = entry.get("hashes") or {}
        size = entry.get("size")
        metadata, metadata_sha256 = _announced(
            entry.get("core-metadata", entry.get("dist-info-metadata"))
        )
        out.append(
            FileLink(
                filename=entry["filename"],
                url=url,
                requires_python=entry.get("requires-python") or None,
                yanked=bool(entry.get("yanked")),
                sha256=hashes.get("sha256") or fragment_hash,
                size=size if isinstance(size, int) else None,
                core_metadata=metadata,
                core_metadata_sha256=metadata_sha256,
            )
        )
    return tuple(out)


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "a":
            self.anchors.append(dict(attrs))


def parse_html(body: bytes, base_url: str) -> tuple[FileLink, ...]:
    """A PEP 503 project page, or any page of links (a find-links page)."""
    parser = _Anchors()
    parser.feed(body.decode("utf-8", errors="replace"))
    base = urllib.parse.urljoin(base_url, parser.base) if parser.base else base_url
    out = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, sha256 = _hash_from_fragment(urllib.parse.urljoin(base, href))
        filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
        if not filename:
            continue
        announced = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        has_attr = "data-core-metadata" in attrs or "data-dist-info-metadata" in attrs
        metadata, metadata_sha256 = _announced(announced) if announced else (has_attr, None)
        out.append(
            FileLink(
                filename=filename,
                url=url,
                requires_python=attrs.get("data-requires-python") or None,
                yanked="data-yanked" in attrs,
                sha256=sha256,
                core_metadata=metadata,
                core_metadata_sha256=metadata_sha256,
            )
        )
    return tuple(out)


def parse_response(response: Response) -> tuple[FileLink, ...]:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    body = response.body
    if response.headers.get("content-encoding", "").lower() == "gzip":
        body = gzip.decompress(body)
    if kind == JSON_TYPE or (kind.endswith("json") or body.lstrip()[:1] == b"{"):
        return parse_json(body, response.url)
    return parse_html(body, response.url)


def _project_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def for_project(files: Iterable[FileLink], project: str) -> tuple[FileLink, ...]:
    want = canonicalize_name(project)
    return tuple(f for f in files if _project_of(f.filename) == want)
