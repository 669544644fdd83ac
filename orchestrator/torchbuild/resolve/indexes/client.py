"""The client that asks every source in parallel, and where to look by configuration."""

from __future__ import annotations

import dataclasses
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from packaging.utils import (
    canonicalize_name,
)

from ... import __version__
from ..pipconfig import DEFAULT_INDEX_URL
from .cache import CacheEntry, IndexCache
from .model import (
    ACCEPT,
    DEFAULT_FAILURE_TTL,
    DEFAULT_KNOWN_TIMEOUT,
    DEFAULT_TIMEOUT,
    FileLink,
    Listing,
    Response,
    Source,
    Transport,
    urllib_transport,
)
from .simple import for_project, parse_html, parse_json, parse_response

if TYPE_CHECKING:
    from ...settings import Settings
    from ...target import Target
    from ..pipconfig import PipConfig


log = logging.getLogger(__name__)


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
        known_timeout: float = DEFAULT_KNOWN_TIMEOUT,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
    ) -> None:
        self.cache = cache
        self.offline = offline
        self.timeout = timeout
        #: Seconds a known source (asked by default, not configured) may take to answer.
        self.known_timeout = known_timeout
        #: Seconds a known source that failed is not asked again (its failure is cached).
        self.failure_ttl = failure_ttl
        #: Hosts of known sources that failed to answer in this client's life, and why.
        self._down_hosts: dict[str, tuple[float, str]] = {}
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
        return Listing(source, project, for_project(files, project))

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
                for_project(listing.files, project),
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
        return Listing(source, project, for_project(files, project))

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
        if cached is not None and cached.failed_at is not None and source.known:
            # A known source is asked without the user asking for it: once it has failed to
            # answer, it is not waited for again until the failure is old.
            since = max(0.0, now - cached.failed_at)
            if self.offline or since < self.failure_ttl:
                return self._remembered(source, project, url, cached, since)
        fresh = age is not None and (self.offline or age < self._ttl())
        if cached is not None and cached.status != "error" and fresh:
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
        usable = cached if cached is not None and cached.status != "error" else None
        if usable is not None and usable.etag:
            headers["If-None-Match"] = usable.etag
        if usable is not None and usable.last_modified:
            headers["If-Modified-Since"] = usable.last_modified
        timeout = self.known_timeout if source.known else self.timeout
        host = urllib.parse.urlsplit(url).netloc
        try:
            response = self._send(source, url, headers, timeout, now)
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused, TLS
            error = _describe_error(exc, timeout)
            if source.known:
                self._down_hosts[host] = (now, error)
                self._remember_failure(url, usable, now, error)
            if usable is not None:
                note = f"{url} did not answer ({error}); used a copy cached {age or 0:.0f} s ago"
                return Listing(
                    source, project, usable.files, usable.status, cache_age=age, note=note
                )
            return Listing(source, project, status="error", error=f"{url}: {error}")
        if response.status == 304 and usable is not None:
            entry = CacheEntry(now, usable.status, usable.files, usable.etag, usable.last_modified)
            self._store(url, entry)
            return Listing(source, project, usable.files, usable.status)
        if response.status == 404:
            self._store(url, CacheEntry(now, "not-found", (), None, None))
            return Listing(source, project, status="not-found")
        if response.status != 200:
            if source.known and response.status >= 500:
                self._remember_failure(url, usable, now, f"HTTP {response.status}")
            return Listing(source, project, status="error", error=f"{url}: HTTP {response.status}")
        files = parse_response(response)
        entry = CacheEntry(
            now, "ok", files, response.headers.get("etag"), response.headers.get("last-modified")
        )
        self._store(url, entry)
        return Listing(source, project, files)

    def _send(
        self, source: Source, url: str, headers: Mapping[str, str], timeout: float, now: float
    ) -> Response:
        down = self._down_hosts.get(urllib.parse.urlsplit(url).netloc) if source.known else None
        if down is not None and now - down[0] < self.failure_ttl:
            # The host failed moments ago: its other pages are not waited for.
            raise OSError(down[1])
        return self.transport(url, headers, timeout)

    def _remember_failure(
        self, url: str, usable: CacheEntry | None, now: float, error: str
    ) -> None:
        if usable is None:
            self._store(url, CacheEntry(now, "error", (), None, None, failed_at=now, error=error))
        else:  # keep the last good answer; note the failure beside it
            self._store(url, dataclasses.replace(usable, failed_at=now, error=error))

    def _remembered(
        self, source: Source, project: str, url: str, cached: CacheEntry, since: float
    ) -> Listing:
        """The answer for a known source that failed ``since`` seconds ago: the copy from
        before the failure, or the failure itself; no request is made."""
        what = f"{url} did not answer {since:.0f} s ago ({cached.error or 'no reason kept'})"
        if cached.status != "error":
            age = max(0.0, self.clock() - cached.fetched_at)
            return Listing(
                source,
                project,
                cached.files,
                cached.status,
                cache_age=age,
                note=f"{what}; used a copy cached {age:.0f} s ago",
            )
        wait = max(0.0, self.failure_ttl - since)
        later = "offline" if self.offline else f"not asked again for {max(1, round(wait / 60))} min"
        return Listing(
            source,
            project,
            status="error",
            error=f"{what}; {later}",
            cache_age=since,
        )

    def _ttl(self) -> float:
        return self.cache.ttl if self.cache else 0.0

    def _store(self, url: str, entry: CacheEntry) -> None:
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


def configured_sources(
    settings: Settings, pip: PipConfig, target: Target | None = None, cuda: str = "auto"
) -> list[Source]:
    """Every place to look, in pip's order: main index, extra indexes, find-links; then the
    known wheel sources that fit ``target`` (unless turned off), then the wheelhouse.

    ``--index-url`` replaces pip's index; ``--extra-index-url`` and ``--find-links`` add to
    pip's. With pip's ``no-index`` set and no ``--index-url``, no index is used at all, the
    known sources included. A ``pypi`` mirror replaces PyPI where it is pip's default index.
    """
    from ..sources import known_sources, pypi_location

    out: list[Source] = []
    if settings.index_url:
        origin = _settings_origin(settings, "index_url", "--index-url")
        out.append(Source("index", settings.index_url, origin))
    elif not pip.no_index:
        origin = f"pip {pip.origins.get('index-url', 'default')}"
        location, upstream = pypi_location(settings.mirrors)
        if pip.index_url.rstrip("/") == DEFAULT_INDEX_URL and upstream is not None:
            out.append(Source("index", location, origin + " via mirror", upstream=upstream))
        else:
            out.append(Source("index", pip.index_url, origin))
    if not pip.no_index:
        origin = f"pip {pip.origins.get('extra-index-url')}"
        out.extend(Source("index", url, origin) for url in pip.extra_index_urls)
    origin = _settings_origin(settings, "extra_index_url", "--extra-index-url")
    out.extend(Source("index", url, origin) for url in settings.extra_index_url)
    origin = f"pip {pip.origins.get('find-links')}"
    out.extend(Source("find-links", loc, origin) for loc in pip.find_links)
    origin = _settings_origin(settings, "find_links", "--find-links")
    out.extend(Source("find-links", loc, origin) for loc in settings.find_links)
    if target is not None and settings.known_indexes and (settings.index_url or not pip.no_index):
        out.extend(known_sources(target, cuda, settings.mirrors))
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
        cache=cache_for(settings),
        offline=settings.offline,
        transport=transport,
        cert=pip.cert,
        known_timeout=settings.known_index_timeout,
    )
