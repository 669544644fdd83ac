"""The on-disk cache of index answers: one JSON file per URL, revalidated with ETags."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast, get_args

from ...fs import atomic_write
from .model import DEFAULT_TTL, FileLink, ListingStatus

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

#: 2: file links carry PEP 658 metadata facts; entries remember a failed try.
_CACHE_FORMAT = 2


# -- cache -------------------------------------------------------------------------------------


def _status(value: object) -> ListingStatus:
    if value not in get_args(ListingStatus):
        raise ValueError(f"unknown listing status {value!r}")  # read as a damaged entry
    return cast("ListingStatus", value)


@dataclass(frozen=True)
class CacheEntry:
    fetched_at: float
    status: ListingStatus
    files: tuple[FileLink, ...]
    etag: str | None
    last_modified: str | None
    #: When the last try to reach the server failed (None: the last try answered), and why;
    #: the answer above, if any, is from before that.
    failed_at: float | None = None
    error: str | None = None


class IndexCache:
    """Normalised index answers on disk, one file per URL, written atomically."""

    def __init__(self, root: Path, ttl: float = DEFAULT_TTL) -> None:
        self.root = root
        self.ttl = ttl

    def _path(self, url: str) -> Path:
        return self.root / (hashlib.sha256(url.encode()).hexdigest()[:40] + ".json")

    def get(self, url: str) -> CacheEntry | None:
        try:
            data = json.loads(self._path(url).read_text(encoding="utf-8"))
            if data.get("format") != _CACHE_FORMAT or data.get("url") != url:
                return None
            return CacheEntry(
                fetched_at=float(data["fetched_at"]),
                status=_status(data["status"]),
                files=tuple(FileLink.from_json(f) for f in data["files"]),
                etag=data.get("etag"),
                last_modified=data.get("last_modified"),
                failed_at=None if data.get("failed_at") is None else float(data["failed_at"]),
                error=data.get("error"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, url: str, entry: CacheEntry) -> None:
        data = {
            "format": _CACHE_FORMAT,
            "url": url,
            "fetched_at": entry.fetched_at,
            "status": entry.status,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "failed_at": entry.failed_at,
            "error": entry.error,
            "files": [f.to_json() for f in entry.files],
        }
        path = self._path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            body = json.dumps(data, separators=(",", ":")).encode()
            atomic_write(path, body, tmp_dir=path.parent, durable=False)
        except OSError as exc:  # a read-only cache makes planning slower, not impossible
            log.debug("cannot write index cache %s: %s", path, exc)
