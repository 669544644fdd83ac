"""A wheel's METADATA without downloading the wheel.

torchvision and torchaudio say in their METADATA which torch they need (``Requires-Dist:
torch==2.6.0`` or ``torch>=2.14.0``), and that is what pip goes by. Reading it must stay cheap, as
a torch wheel is 500 MB and more:

1. PEP 658/714: where the index announces it (``data-core-metadata`` in HTML, ``core-metadata``
   in JSON), ``<wheel URL>.metadata`` is the file itself, checked against the announced sha256.
2. Otherwise HTTP range requests on the wheel's zip (what uv does): the end of central directory
   (and the ZIP64 locator and record where present), the central directory, then the local header
   and data of ``*.dist-info/METADATA``, inflated. A server that ignores ``Range`` and starts
   sending the whole file is hung up on after a bounded number of bytes: unavailable.
3. ``file://`` URLs and paths: the zip is read on disk.

Parsed answers are cached on disk per (URL, sha256) next to the index cache, so a second plan
asks nothing. Stable failures (no range support, no METADATA in the zip) are cached for a day;
network errors are not cached at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
import time
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from packaging.metadata import Metadata, parse_email
from packaging.utils import canonicalize_name

from .. import http
from ..fs import atomic_write
from .indexes.model import DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from ..settings import Settings
    from .indexes import FileLink

__all__ = [
    "Fetch",
    "Lookup",
    "MetadataCache",
    "MetadataReader",
    "WheelMetadata",
    "parse_metadata",
    "reader_for",
]

log = logging.getLogger(__name__)

#: ``fetch(url, headers, limit, timeout)``: at most ``limit`` body bytes (see ``http.get_bounded``).
Fetch = Callable[[str, Mapping[str, str], int, float], http.Bounded]

#: The end of a zip: the 22-byte end record plus a comment of up to 65535 bytes.
TAIL = 64 * 1024
#: Reading more than this for one wheel means something is off; give up instead.
MAX_BYTES = 32 * 1024 * 1024
#: A METADATA file larger than this is not a wheel's METADATA.
MAX_METADATA = 4 * 1024 * 1024
#: Seconds a cached "unavailable" answer holds (a server may learn range requests).
FAILURE_TTL = 24 * 3600.0
_CACHE_FORMAT = 1
_METADATA_NAME = re.compile(r"^([^/]+)\.dist-info/METADATA$")

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")


@dataclass(frozen=True)
class WheelMetadata:
    """What a wheel's METADATA says that planning needs."""

    name: str
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str | None
    #: How it was read: "pep658", "range" or "file".
    how: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "requires_dist": list(self.requires_dist),
            "requires_python": self.requires_python,
            "how": self.how,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WheelMetadata:
        requires = data.get("requires_dist") or []
        if not isinstance(requires, list):
            raise TypeError("requires_dist is not a list")
        python = data.get("requires_python")
        return cls(
            str(data["name"]),
            str(data["version"]),
            tuple(str(r) for r in requires),
            None if python is None else str(python),
            str(data.get("how", "range")),
        )


@dataclass(frozen=True)
class Lookup:
    """One wheel's METADATA, or why it could not be had."""

    metadata: WheelMetadata | None
    why: str | None = None
    cached: bool = False


class _UnavailableError(Exception):
    """This wheel's METADATA cannot be had this way; ``stable`` failures are worth caching."""

    def __init__(self, why: str, *, stable: bool) -> None:
        super().__init__(why)
        self.why = why
        self.stable = stable


def parse_metadata(data: bytes, how: str) -> WheelMetadata:
    """``Requires-Dist`` and ``Requires-Python`` of a METADATA file (core metadata 1.0-2.4)."""
    try:
        meta = Metadata.from_email(data, validate=False)
        requires = tuple(str(r) for r in (meta.requires_dist or []))
        python = None if meta.requires_python is None else str(meta.requires_python)
    except Exception:  # noqa: BLE001 - packaging raises InvalidMetadata or an ExceptionGroup
        # A field packaging cannot parse (an old wheel's odd Requires-Dist) still has its text.
        raw, _ = parse_email(data)
        return WheelMetadata(
            str(raw.get("name", "")),
            str(raw.get("version", "")),
            tuple(raw.get("requires_dist", [])),
            raw.get("requires_python"),
            how,
        )
    return WheelMetadata(str(meta.name), str(meta.version), requires, python, how)


# -- the cache ---------------------------------------------------------------------------------


class MetadataCache:
    """Parsed METADATA per (URL, sha256), one small JSON file each, written atomically."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock

    def _path(self, url: str, sha256: str | None) -> Path:
        key = f"{url}\n{sha256 or ''}".encode()
        return self.root / (hashlib.sha256(key).hexdigest()[:40] + ".json")

    def get(self, url: str, sha256: str | None) -> Lookup | None:
        try:
            data = json.loads(self._path(url, sha256).read_text(encoding="utf-8"))
            if data.get("format") != _CACHE_FORMAT or data.get("url") != url:
                return None
            if data.get("metadata") is not None:
                found = Lookup(WheelMetadata.from_json(data["metadata"]), cached=True)
            elif self.clock() - float(data["at"]) < FAILURE_TTL:
                found = Lookup(None, str(data.get("why")), cached=True)
            else:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return found

    def put(self, url: str, sha256: str | None, found: Lookup) -> None:
        data = {
            "format": _CACHE_FORMAT,
            "url": url,
            "sha256": sha256,
            "at": self.clock(),
            "metadata": None if found.metadata is None else found.metadata.to_json(),
            "why": found.why,
        }
        path = self._path(url, sha256)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            body = json.dumps(data, separators=(",", ":")).encode()
            atomic_write(path, body, tmp_dir=path.parent, durable=False)
        except OSError as exc:  # a read-only cache makes planning slower, not impossible
            log.debug("cannot write metadata cache %s: %s", path, exc)


# -- the reader --------------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    if url.startswith(("http://", "https://")):
        return None
    if url.startswith("file:"):
        return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    return Path(url)


def _pick_member(names: list[str], filename: str) -> str | None:
    """The wheel's own ``<name>-<version>.dist-info/METADATA`` among the zip's members."""
    found = [n for n in names if _METADATA_NAME.match(n)]
    project = canonicalize_name(filename.split("-", 1)[0])
    for name in found:
        match = _METADATA_NAME.match(name)
        if match and canonicalize_name(match.group(1).rsplit("-", 1)[0]) == project:
            return name
    return found[0] if len(found) == 1 else None


class MetadataReader:
    """Reads (and caches) wheels' METADATA; counts what it read, for tests and benchmarks."""

    def __init__(
        self,
        *,
        cache: MetadataCache | None = None,
        offline: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        fetch: Fetch | None = None,
        cert: str | None = None,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.cache = cache
        self.offline = offline
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._cert = cert
        self._fetch = fetch
        self.requests = 0
        self.bytes_read = 0
        self._memo: dict[tuple[str, str | None], Lookup] = {}
        #: The first failure to reach a server at all: later reads do not wait for it again.
        self._unreachable: str | None = None

    def read(self, link: FileLink) -> Lookup:
        """``link``'s METADATA; never raises for a wheel that cannot be read."""
        key = (link.url, link.sha256)
        if key not in self._memo:
            self._memo[key] = self._read(link)
        return self._memo[key]

    def _read(self, link: FileLink) -> Lookup:
        if _local_path(link.url) is not None:
            try:
                return Lookup(parse_metadata(*self._raw(link)))
            except _UnavailableError as exc:
                return Lookup(None, exc.why)
        cached = self.cache.get(link.url, link.sha256) if self.cache else None
        if cached is not None:
            return cached
        if self.offline:
            return Lookup(None, "offline, and its METADATA is not in the cache")
        if self._unreachable is not None:
            return Lookup(None, f"not asked: {self._unreachable}")
        try:
            found = Lookup(parse_metadata(*self._raw(link)))
        except _UnavailableError as exc:
            found = Lookup(None, exc.why)
            if not exc.stable:
                return found
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused, TLS
            # One plan asks for several wheels' METADATA; a network that is down must cost one
            # timeout, not one per wheel (the table answers instead).
            self._unreachable = f"{link.url}: {exc}"
            return Lookup(None, self._unreachable)
        if self.cache is not None:
            self.cache.put(link.url, link.sha256, found)
        return found

    def raw(self, link: FileLink) -> bytes:
        """The METADATA file's bytes, uncached (for recording test data); ``ValueError`` when
        they cannot be had."""
        try:
            return self._raw(link)[0]
        except _UnavailableError as exc:
            raise ValueError(exc.why) from None

    # the ways in -----------------------------------------------------------------------------

    def _raw(self, link: FileLink) -> tuple[bytes, str]:
        path = _local_path(link.url)
        if path is not None:
            return self._from_zip(path, link.filename), "file"
        if link.has_metadata:
            return self._pep658(link), "pep658"
        return self._ranges(link), "range"

    def _from_zip(self, path: Path, filename: str) -> bytes:
        try:
            with zipfile.ZipFile(path) as archive:
                member = _pick_member(archive.namelist(), filename)
                if member is None:
                    raise _UnavailableError(f"{filename} has no .dist-info/METADATA", stable=True)
                return archive.read(member)
        except (OSError, zipfile.BadZipFile) as exc:
            raise _UnavailableError(f"{path} is not a readable wheel: {exc}", stable=True) from None

    def _get(self, url: str, headers: Mapping[str, str], limit: int) -> http.Bounded:
        if self.bytes_read + limit > self.max_bytes:
            raise _UnavailableError(
                f"reading its METADATA would take more than {self.max_bytes} bytes", stable=True
            )
        fetch = self._fetch
        if fetch is None:
            cert = self._cert

            def fetch(u: str, h: Mapping[str, str], n: int, t: float) -> http.Bounded:
                return http.get_bounded(u, h, limit=n, timeout=t, cert=cert)

            self._fetch = fetch
        reply = fetch(url, headers, limit, self.timeout)
        self.requests += 1
        self.bytes_read += len(reply.body)
        return reply

    def _pep658(self, link: FileLink) -> bytes:
        reply = self._get(link.url + ".metadata", {}, MAX_METADATA)
        if reply.status != 200 or reply.truncated:
            raise _UnavailableError(f"{link.url}.metadata: HTTP {reply.status}", stable=False)
        want = link.metadata_sha256
        if want and hashlib.sha256(reply.body).hexdigest() != want.lower():
            raise _UnavailableError(
                f"{link.url}.metadata does not match the sha256 the index gives", stable=False
            )
        return reply.body

    def _range(self, url: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of the file at ``url``."""
        want = end - start + 1
        reply = self._get(url, {"Range": f"bytes={start}-{end}"}, want)
        if reply.status == 206 and len(reply.body) == want:
            return reply.body
        raise self._no_range(url, reply)

    def _no_range(self, url: str, reply: http.Bounded) -> _UnavailableError:
        if reply.status == 200:
            return _UnavailableError(
                f"{url}: the server ignores range requests (it began sending the whole file)",
                stable=True,
            )
        if reply.status == 206:
            return _UnavailableError(f"{url}: a short range answer", stable=False)
        return _UnavailableError(f"{url}: HTTP {reply.status}", stable=reply.status in (404, 410))

    def _ranges(self, link: FileLink) -> bytes:
        url = link.url
        if link.size:
            start = max(0, link.size - TAIL)
            reply = self._get(url, {"Range": f"bytes={start}-{link.size - 1}"}, TAIL)
        else:
            reply = self._get(url, {"Range": f"bytes=-{TAIL}"}, TAIL)
        if reply.status == 200 and not reply.truncated:
            # A small file sent whole: as good as a local one.
            return self._from_bytes(reply.body, 0, len(reply.body), url, link.filename)
        if reply.status != 206:
            raise self._no_range(url, reply)
        total = _total_size(reply.headers.get("content-range", ""))
        if total is None:
            raise _UnavailableError(f"{url}: a range answer without its total size", stable=False)
        return self._from_bytes(reply.body, total - len(reply.body), total, url, link.filename)

    def _from_bytes(
        self, tail: bytes, tail_start: int, total: int, url: str, filename: str
    ) -> bytes:
        def part(start: int, length: int) -> bytes:
            """``length`` bytes at ``start``: from the tail when it has them, else asked for."""
            if start >= tail_start and start + length <= tail_start + len(tail):
                return tail[start - tail_start : start - tail_start + length]
            if start < 0 or start + length > total:
                raise _UnavailableError(f"{url}: a damaged zip directory", stable=True)
            return self._range(url, start, start + length - 1)

        cd_offset, cd_size = _directory(tail, tail_start, part, url)
        if cd_size > self.max_bytes:
            raise _UnavailableError(f"{url}: its zip directory is {cd_size} bytes", stable=True)
        entries = _central_entries(part(cd_offset, cd_size), url)
        member = _pick_member(list(entries), filename)
        if member is None:
            raise _UnavailableError(f"{filename} has no .dist-info/METADATA", stable=True)
        method, crc, csize, size, offset, extra_len = entries[member]
        if size > MAX_METADATA or csize > MAX_METADATA:
            raise _UnavailableError(f"{url}: its METADATA is {size} bytes", stable=True)
        # The local header's extra field may differ from the central one: allow some slack and
        # ask again only when it is longer still.
        guess = _LOCAL.size + len(member.encode()) + extra_len + 256
        head = part(offset, min(guess + csize, total - offset))
        if head[:4] != b"PK\x03\x04":
            raise _UnavailableError(f"{url}: no local header where the directory says", stable=True)
        fields = _LOCAL.unpack_from(head)
        data_at = _LOCAL.size + fields[10] + fields[11]
        data = head[data_at : data_at + csize]
        if len(data) < csize:
            data = part(offset + data_at, csize)
        return _inflate(data, method, crc, size, url)


def _total_size(content_range: str) -> int | None:
    match = re.match(r"^\s*bytes\s+\d+-\d+/(\d+)\s*$", content_range)
    return int(match.group(1)) if match else None


def _directory(
    tail: bytes, tail_start: int, part: Callable[[int, int], bytes], url: str
) -> tuple[int, int]:
    """Offset and size of the central directory, from the end record (ZIP64 where needed)."""
    at = len(tail)
    while True:
        at = tail.rfind(b"PK\x05\x06", 0, at)
        if at < 0 or at + _EOCD.size > len(tail):
            raise _UnavailableError(f"{url}: no zip end record (not a wheel?)", stable=True)
        fields = _EOCD.unpack_from(tail, at)
        if at + _EOCD.size + fields[7] == len(tail):  # the comment runs to the end exactly
            break
    entries, cd_size, cd_offset = fields[4], fields[5], fields[6]
    if entries != 0xFFFF and 0xFFFFFFFF not in (cd_size, cd_offset):
        return cd_offset, cd_size
    # ZIP64: the locator sits right before the end record and points at the ZIP64 end record.
    locator_at = tail_start + at - _ZIP64_LOCATOR.size
    locator = part(locator_at, _ZIP64_LOCATOR.size)
    if locator[:4] != b"PK\x06\x07":
        raise _UnavailableError(f"{url}: ZIP64 sizes without a ZIP64 locator", stable=True)
    record_at = _ZIP64_LOCATOR.unpack(locator)[2]
    record = part(record_at, _ZIP64_EOCD.size)
    if record[:4] != b"PK\x06\x06":
        raise _UnavailableError(f"{url}: no ZIP64 end record where the locator says", stable=True)
    values = _ZIP64_EOCD.unpack(record)
    return values[9], values[8]


def _central_entries(directory: bytes, url: str) -> dict[str, tuple[int, int, int, int, int, int]]:
    """name -> (method, crc, compressed size, size, local header offset, extra length)."""
    out: dict[str, tuple[int, int, int, int, int, int]] = {}
    at = 0
    while at + _CENTRAL.size <= len(directory):
        fields = _CENTRAL.unpack_from(directory, at)
        if fields[0] != b"PK\x01\x02":
            raise _UnavailableError(f"{url}: a damaged zip directory", stable=True)
        name_len, extra_len, comment_len = fields[12], fields[13], fields[14]
        name_at = at + _CENTRAL.size
        name = directory[name_at : name_at + name_len].decode("utf-8", errors="replace")
        extra = directory[name_at + name_len : name_at + name_len + extra_len]
        csize, size, offset = fields[10], fields[11], fields[18]
        if 0xFFFFFFFF in (csize, size, offset):
            size, csize, offset = _zip64_extra(extra, size, csize, offset)
        out[name] = (fields[6], fields[9], csize, size, offset, extra_len)
        at = name_at + name_len + extra_len + comment_len
    return out


def _zip64_extra(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
    """The 64-bit values a ZIP64 extra field holds, in the order the spec gives them."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    return size, csize, offset


def _inflate(data: bytes, method: int, crc: int, size: int, url: str) -> bytes:
    if method == zipfile.ZIP_STORED:
        out = data
    elif method == zipfile.ZIP_DEFLATED:
        try:
            out = zlib.decompressobj(-15).decompress(data, MAX_METADATA + 1)
        except zlib.error as exc:
            raise _UnavailableError(
                f"{url}: its METADATA does not inflate: {exc}", stable=True
            ) from None
    else:
        raise _UnavailableError(f"{url}: its METADATA uses zip method {method}", stable=True)
    if len(out) != size or zlib.crc32(out) != crc:
        raise _UnavailableError(f"{url}: its METADATA fails the zip's CRC check", stable=False)
    return out


def reader_for(settings: Settings, cert: str | None = None) -> MetadataReader:
    """The reader a command uses: its cache next to the index cache."""
    return MetadataReader(
        cache=MetadataCache(settings.cache_path / "metadata"), offline=settings.offline, cert=cert
    )
