"""Asking package indexes which files they have: PEP 691 JSON, PEP 503 HTML, directories.

Where to look is pip's own configuration (:mod:`torchbuild.resolve.pipconfig`) with torchbuild's
``--index-url`` (replaces), ``--extra-index-url`` and ``--find-links`` (add) on top, plus the
local wheelhouse. HTTP indexes are asked for JSON first (``Accept`` header) and HTML is parsed
when that is what comes back. ``file://`` indexes, find-links directories and the wheelhouse are
read from disk.

Answers from HTTP are kept in a small on-disk cache (normalised file lists, one JSON file per
URL): fresh for ``ttl`` seconds, then revalidated with ``If-None-Match``; offline mode uses them
at any age and never opens a socket. A failing index is an answer too (``status="error"``), never
an exception: the caller decides whether that matters.
"""

from __future__ import annotations

from .cache import IndexCache
from .client import IndexClient, cache_for, client_for, configured_sources
from .model import (
    ACCEPT,
    DEFAULT_FAILURE_TTL,
    DEFAULT_KNOWN_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_TTL,
    FileLink,
    Listing,
    Response,
    Source,
    Transport,
    urllib_transport,
)
from .simple import parse_html, parse_json

__all__ = [
    "ACCEPT",
    "DEFAULT_FAILURE_TTL",
    "DEFAULT_KNOWN_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL",
    "FileLink",
    "IndexCache",
    "IndexClient",
    "Listing",
    "Response",
    "Source",
    "Transport",
    "cache_for",
    "client_for",
    "configured_sources",
    "parse_html",
    "parse_json",
    "urllib_transport",
]
