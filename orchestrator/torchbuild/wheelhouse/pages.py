"""The index pages, rendered from manifests: PEP 503 HTML and PEP 691 JSON, API version 1.1.

Each project page links every file with ``#sha256=``, ``data-requires-python`` (PEP 503),
``data-dist-info-metadata`` and ``data-core-metadata`` (PEP 658, renamed by PEP 714; both are
written so old and new clients find the ``.metadata`` file). The JSON pages add ``size``,
``upload-time`` and ``versions`` (PEP 700). Rendering is deterministic, so ``verify`` can compare
what is on disk with what the manifest says should be there, byte for byte.
"""

from __future__ import annotations

import functools
import html
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Iterable

    from packaging.version import Version

    from .manifest import Entry

__all__ = [
    "API_VERSION",
    "HTML_TYPE",
    "JSON_TYPE",
    "project_html",
    "project_json",
    "root_html",
    "root_json",
]

API_VERSION = "1.1"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"

_HEAD = (
    "<!DOCTYPE html>\n<html>\n<head>\n"
    f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
    "<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
)
_TAIL = "</body>\n</html>\n"


@functools.lru_cache(maxsize=65536)
def _href(filename: str) -> str:
    # "+" in a local version must be escaped: some clients read a raw "+" in a URL as a space.
    return quote(filename, safe="")


def _ordered(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: e.filename)


# Each file's link and JSON object are rendered once per process and then reused: a page is
# rewritten whole on every add, and a project may hold a thousand files.
@functools.lru_cache(maxsize=65536)
def _html_link(entry: Entry) -> str:
    attrs = [f'href="{_href(entry.filename)}#sha256={entry.sha256}"']
    if entry.requires_python:
        attrs.append(f'data-requires-python="{html.escape(entry.requires_python, quote=True)}"')
    meta = f"sha256={entry.metadata_sha256}"
    attrs.append(f'data-dist-info-metadata="{meta}" data-core-metadata="{meta}"')
    return f"<a {' '.join(attrs)}>{html.escape(entry.filename)}</a><br>\n"


@functools.lru_cache(maxsize=65536)
def _json_file(entry: Entry) -> str:
    item: dict[str, Any] = {
        "filename": entry.filename,
        "url": _href(entry.filename),
        "hashes": {"sha256": entry.sha256},
    }
    if entry.requires_python:
        item["requires-python"] = entry.requires_python
    item["core-metadata"] = {"sha256": entry.metadata_sha256}
    item["dist-info-metadata"] = {"sha256": entry.metadata_sha256}
    item["size"] = entry.size
    if entry.added:
        item["upload-time"] = entry.added
    return json.dumps(item)


def project_html(project: str, entries: Iterable[Entry]) -> bytes:
    title = html.escape(f"Links for {project}")
    links = "".join(_html_link(entry) for entry in _ordered(entries))
    return f"{_HEAD.format(title=title)}{links}{_TAIL}".encode()


def project_json(project: str, entries: Iterable[Entry]) -> bytes:
    ordered = _ordered(entries)
    versions: set[Version] = {entry.name.version for entry in ordered}
    head = json.dumps({"meta": {"api-version": API_VERSION}, "name": project})[:-1]
    files = ", ".join(_json_file(entry) for entry in ordered)
    listed = json.dumps([str(v) for v in sorted(versions)])
    return f'{head}, "files": [{files}], "versions": {listed}}}\n'.encode()


def root_html(projects: Iterable[str]) -> bytes:
    lines = [_HEAD.format(title="Simple index")]
    for project in sorted(projects):
        name = html.escape(project)
        lines.append(f'<a href="{quote(project)}/">{name}</a><br>\n')
    lines.append(_TAIL)
    return "".join(lines).encode("utf-8")


def root_json(projects: Iterable[str]) -> bytes:
    data = {
        "meta": {"api-version": API_VERSION},
        "projects": [{"name": project} for project in sorted(projects)],
    }
    return (json.dumps(data) + "\n").encode("utf-8")
