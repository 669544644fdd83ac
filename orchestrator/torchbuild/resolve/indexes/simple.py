"""The simple repository API: PEP 691 JSON and PEP 503 HTML project pages, parsed."""

from __future__ import annotations

import gzip
import html.parser
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
)

from ..wheelvariants import VARIANTS_SUFFIX, VariantsError, parse_variant_wheel
from .model import JSON_TYPE, FileLink, Response

# -- parsing -----------------------------------------------------------------------------------


def _hash_from_fragment(url: str) -> tuple[str, str | None]:
    base, _, fragment = url.partition("#")
    if fragment.startswith("sha256="):
        return base, fragment[len("sha256=") :]
    return base, None


def _metadata_from_html(attrs: dict[str, str | None]) -> tuple[bool, str | None]:
    """PEP 658/714: ``data-core-metadata`` (or the older ``data-dist-info-metadata``) is
    ``true`` or ``<hash name>=<hex>``; absent means the index does not serve the file's METADATA."""
    for key in ("data-core-metadata", "data-dist-info-metadata"):
        if key in attrs:
            value = (attrs[key] or "").strip()
            if value.lower() == "false":
                return False, None
            name, sep, digest = value.partition("=")
            return True, digest.lower() if sep and name.lower() == "sha256" and digest else None
    return False, None


def _metadata_from_json(entry: dict[str, Any]) -> tuple[bool, str | None]:
    """PEP 691/714: ``core-metadata`` (or ``dist-info-metadata``) is a bool or a hashes dict."""
    for key in ("core-metadata", "dist-info-metadata"):
        if key in entry:
            value = entry[key]
            if isinstance(value, dict):
                digest = value.get("sha256")
                return True, str(digest).lower() if digest else None
            return bool(value), None
    return False, None


def parse_json(body: bytes, base_url: str) -> tuple[FileLink, ...]:
    """A PEP 691 project page."""
    data = json.loads(body.decode("utf-8"))
    out = []
    for entry in data.get("files", []):
        url = urllib.parse.urljoin(base_url, entry["url"])
        url, fragment_hash = _hash_from_fragment(url)
        hashes = entry.get("hashes") or {}
        size = entry.get("size")
        has_metadata, metadata_sha256 = _metadata_from_json(entry)
        out.append(
            FileLink(
                filename=entry["filename"],
                url=url,
                requires_python=entry.get("requires-python") or None,
                yanked=bool(entry.get("yanked")),
                sha256=hashes.get("sha256") or fragment_hash,
                size=size if isinstance(size, int) else None,
                has_metadata=has_metadata,
                metadata_sha256=metadata_sha256,
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
        has_metadata, metadata_sha256 = _metadata_from_html(attrs)
        out.append(
            FileLink(
                filename=filename,
                url=url,
                requires_python=attrs.get("data-requires-python") or None,
                yanked="data-yanked" in attrs,
                sha256=sha256,
                has_metadata=has_metadata,
                metadata_sha256=metadata_sha256,
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
        if filename.endswith(".whl"):  # PEP 825 variant-labelled wheels included
            return str(parse_variant_wheel(filename).name)
        if filename.endswith(VARIANTS_SUFFIX):  # {name}-{version}-variants.json, for the plan
            return canonicalize_name(filename[: -len(VARIANTS_SUFFIX)].rpartition("-")[0])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename, VariantsError):
        return None
    return None


def for_project(files: Iterable[FileLink], project: str) -> tuple[FileLink, ...]:
    want = canonicalize_name(project)
    return tuple(f for f in files if _project_of(f.filename) == want)
