"""Asking package indexes which files they have: PEP 691 JSON, PEP 503 HTML, directories.

Where to look is pip's own configuration (:mod:`torchbuild.pipconfig`) with torchbuild's
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

import contextlib
import gzip
import hashlib
import html.parser
import json
import logging
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from . import __version__
from .pipconfig import DEFAULT_INDEX_URL, PipConfig

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "ACCEPT",
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


# -- parsing -----------------------------------------------------------------------------------


def _hash_from_fragment(url: str) -> tuple[str, str | None]:
    base, _, fragment = url.partition("#")
    if fragment.startswith("sha256="):
        return base, fragment[len("sha256=") :]
    return base, None


def parse_json(body: bytes, base_url: str) -> tuple[FileLink, ...]:
    """A PEP 691 project page."""
    data = json.loads(body.decode("utf-8"))
    out = []
    for entry in data.get("files", []):
        url = urllib.parse.urljoin(base_url, entry["url"])
        url, fragment_hash = _hash_from_fragment(url)
        hashes = entry.get("hashes") or {}
        size = entry.get("size")
        out.append(
            FileLink(
                filename=entry["filename"],
                url=url,
                requires_python=entry.get("requires-python") or None,
                yanked=bool(entry.get("yanked")),
                sha256=hashes.get("sha256") or fragment_hash,
                size=size if isinstance(size, int) else None,
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
        out.append(
            FileLink(
                filename=filename,
                url=url,
                requires_python=attrs.get("data-requires-python") or None,
                yanked="data-yanked" in attrs,
                sha256=sha256,
            )
        )
    return tuple(out)


def _parse(response: Response) -> tuple[FileLink, ...]:
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


def _for_project(files: Iterable[FileLink], project: str) -> tuple[FileLink, ...]:
    want = canonicalize_name(project)
    return tuple(f for f in files if _project_of(f.filename) == want)


# -- cache -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    fetched_at: float
    status: str
    files: tuple[FileLink, ...]
    etag: str | None
    last_modified: str | None


class IndexCache:
    """Normalised index answers on disk, one file per URL, written atomically."""

    def __init__(self, root: Path, ttl: float = DEFAULT_TTL) -> None:
        self.root = root
        self.ttl = ttl

    def _path(self, url: str) -> Path:
        return self.root / (hashlib.sha256(url.encode()).hexdigest()[:40] + ".json")

    def get(self, url: str) -> _Entry | None:
        try:
            data = json.loads(self._path(url).read_text(encoding="utf-8"))
            if data.get("format") != _CACHE_FORMAT or data.get("url") != url:
                return None
            return _Entry(
                fetched_at=float(data["fetched_at"]),
                status=str(data["status"]),
                files=tuple(FileLink.from_json(f) for f in data["files"]),
                etag=data.get("etag"),
                last_modified=data.get("last_modified"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, url: str, entry: _Entry) -> None:
        data = {
            "format": _CACHE_FORMAT,
            "url": url,
            "fetched_at": entry.fetched_at,
            "status": entry.status,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "files": [f.to_json() for f in entry.files],
        }
        path = self._path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
            Path(tmp).replace(path)
        except OSError as exc:  # a read-only cache makes planning slower, not impossible
            log.debug("cannot write index cache %s: %s", path, exc)


# -- the client --------------------------------------------------------------------------------


def _local_path(location: str) -> Path | None:
    """The directory or file a ``file://`` URL or a plain path names; None for http(s)."""
    if location.startswith(("http://", "https://")):
        return None
    if location.startswith("file:"):
        parsed = urllib.parse.urlparse(location)
        return Path(urllib.request.url2pathname(parsed.path))
    return Path(location).expanduser()


def _describe_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return str(reason.strerror if isinstance(reason, OSError) and reason.strerror else reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class IndexClient:
    """Asks sources for projects' files, concurrently, through the cache."""

    def __init__(
        self,
        *,
        cache: IndexCache | None = None,
        offline: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        transport: Transport | None = None,
        cert: str | None = None,
        max_workers: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.offline = offline
        self.timeout = timeout
        self._transport = transport
        self._cert = cert
        self.max_workers = max_workers
        self.clock = clock

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = urllib_transport(self._cert)
        return self._transport

    def listings(
        self, sources: Iterable[Source], projects: Iterable[str]
    ) -> dict[tuple[Source, str], Listing]:
        """Every (source, project) answer; remote ones fetched in parallel."""
        jobs = [(s, p) for s in dict.fromkeys(sources) for p in dict.fromkeys(projects)]
        remote = [j for j in jobs if j[0].is_remote]
        out: dict[tuple[Source, str], Listing] = {}
        if remote:
            workers = max(1, min(self.max_workers, len(remote)))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                out.update(zip(remote, pool.map(lambda j: self.listing(*j), remote)))
        for job in jobs:
            if job not in out:
                out[job] = self.listing(*job)
        return {job: out[job] for job in jobs}

    def listing(self, source: Source, project: str) -> Listing:
        try:
            if source.kind == "wheelhouse":
                return self._wheelhouse(source, project)
            if source.kind == "find-links":
                return self._find_links(source, project)
            return self._index(source, project)
        except Exception as exc:  # one broken source must not sink the plan
            log.debug("listing %s for %s failed", source.location, project, exc_info=True)
            return Listing(
                source, project, status="error", error=_describe_error(exc, self.timeout)
            )

    # local sources ---------------------------------------------------------------------------

    def _wheelhouse(self, source: Source, project: str) -> Listing:
        root = Path(source.location).expanduser()
        if not root.is_dir():
            return Listing(source, project, status="not-found")
        files = [FileLink(p.name, p.resolve().as_uri()) for p in sorted(root.rglob("*.whl"))]
        return Listing(source, project, _for_project(files, project))

    def _find_links(self, source: Source, project: str) -> Listing:
        path = _local_path(source.location)
        if path is None:
            listing = self._remote(source, project, source.location)
            if listing.status == "not-found":  # a page of links that is gone is an error
                return Listing(
                    source, project, status="error", error=f"{source.location}: HTTP 404"
                )
            return Listing(
                source,
                project,
                _for_project(listing.files, project),
                listing.status,
                listing.error,
                listing.cache_age,
                listing.note,
            )
        files: Iterable[FileLink]
        if path.is_dir():
            files = [
                FileLink(p.name, p.resolve().as_uri())
                for p in sorted(path.iterdir())
                if p.is_file()
            ]
        elif path.is_file():
            files = parse_html(path.read_bytes(), path.resolve().as_uri())
        else:
            return Listing(source, project, status="error", error=f"{path} does not exist")
        return Listing(source, project, _for_project(files, project))

    def _index(self, source: Source, project: str) -> Listing:
        name = canonicalize_name(project)
        path = _local_path(source.location)
        if path is None:
            return self._remote(source, project, source.location.rstrip("/") + f"/{name}/")
        if not path.is_dir():
            return Listing(
                source, project, status="error", error=f"index directory {path} does not exist"
            )
        page_dir = path / name
        for page, parse in (
            (page_dir / "index.json", parse_json),
            (page_dir / "index.html", parse_html),
        ):
            if page.is_file():
                return Listing(source, project, parse(page.read_bytes(), page.resolve().as_uri()))
        return Listing(source, project, status="not-found")

    # the network -----------------------------------------------------------------------------

    def _remote(self, source: Source, project: str, url: str) -> Listing:
        cached = self.cache.get(url) if self.cache else None
        now = self.clock()
        age = None if cached is None else max(0.0, now - cached.fetched_at)
        if cached is not None and age is not None and (self.offline or age < self._ttl()):
            return Listing(source, project, cached.files, cached.status, cache_age=age)
        if self.offline:
            return Listing(
                source,
                project,
                status="error",
                error="offline, and this index page is not in the cache",
            )
        headers = {
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip",
            "User-Agent": f"torchbuild/{__version__}",
        }
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        try:
            response = self.transport(url, headers, self.timeout)
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused, TLS
            error = _describe_error(exc, self.timeout)
            if cached is not None:
                note = f"{url} did not answer ({error}); used a copy cached {age or 0:.0f} s ago"
                return Listing(
                    source, project, cached.files, cached.status, cache_age=age, note=note
                )
            return Listing(source, project, status="error", error=f"{url}: {error}")
        if response.status == 304 and cached is not None:
            entry = _Entry(now, cached.status, cached.files, cached.etag, cached.last_modified)
            self._store(url, entry)
            return Listing(source, project, cached.files, cached.status)
        if response.status == 404:
            self._store(url, _Entry(now, "not-found", (), None, None))
            return Listing(source, project, status="not-found")
        if response.status != 200:
            return Listing(source, project, status="error", error=f"{url}: HTTP {response.status}")
        files = _parse(response)
        entry = _Entry(
            now, "ok", files, response.headers.get("etag"), response.headers.get("last-modified")
        )
        self._store(url, entry)
        return Listing(source, project, files)

    def _ttl(self) -> float:
        return self.cache.ttl if self.cache else 0.0

    def _store(self, url: str, entry: _Entry) -> None:
        if self.cache is not None:
            self.cache.put(url, entry)


# -- where to look -----------------------------------------------------------------------------


def _settings_origin(settings: Settings, name: str, flag: str) -> str:
    origin = settings.sources.get(name, "default")
    if origin == "flag":
        return flag
    if origin.startswith("env:"):
        return origin[4:]
    if origin.startswith("file:"):
        return f"torchbuild config {origin[5:]}"
    return origin


def configured_sources(settings: Settings, pip: PipConfig) -> list[Source]:
    """Every place to look, in pip's order: main index, extra indexes, find-links, wheelhouse.

    ``--index-url`` replaces pip's index; ``--extra-index-url`` and ``--find-links`` add to
    pip's. With pip's ``no-index`` set and no ``--index-url``, no index is used at all.
    """
    out: list[Source] = []
    if settings.index_url:
        origin = _settings_origin(settings, "index_url", "--index-url")
        out.append(Source("index", settings.index_url, origin))
    elif not pip.no_index:
        out.append(Source("index", pip.index_url, f"pip {pip.origins.get('index-url', 'default')}"))
    if not pip.no_index:
        origin = f"pip {pip.origins.get('extra-index-url')}"
        out.extend(Source("index", url, origin) for url in pip.extra_index_urls)
    origin = _settings_origin(settings, "extra_index_url", "--extra-index-url")
    out.extend(Source("index", url, origin) for url in settings.extra_index_url)
    origin = f"pip {pip.origins.get('find-links')}"
    out.extend(Source("find-links", loc, origin) for loc in pip.find_links)
    origin = _settings_origin(settings, "find_links", "--find-links")
    out.extend(Source("find-links", loc, origin) for loc in settings.find_links)
    out.append(Source("wheelhouse", str(settings.wheelhouse_dir), "torchbuild wheelhouse"))
    # The same place configured twice is asked once, under its first (strongest) origin.
    seen: set[tuple[str, str]] = set()
    unique = []
    for source in out:
        key = (source.kind, source.location.rstrip("/"))
        if key not in seen:
            seen.add(key)
            unique.append(source)
    return unique


def cache_for(settings: Settings) -> IndexCache:
    return IndexCache(settings.cache_path / "index")


def client_for(
    settings: Settings, pip: PipConfig, transport: Transport | None = None
) -> IndexClient:
    return IndexClient(
        cache=cache_for(settings), offline=settings.offline, transport=transport, cert=pip.cert
    )
