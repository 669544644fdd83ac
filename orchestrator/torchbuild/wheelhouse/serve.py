"""``index serve``: the wheelhouse over HTTP, read-only, on loopback unless told otherwise.

The server is static: every page is a file the writer keeps up to date, so it needs no state and
sees each ``index add`` at once (pages are replaced atomically). It answers GET and HEAD only,
negotiates PEP 691 JSON or PEP 503 HTML for index pages, sends ETags and honours
``If-None-Match``, and serves nothing outside ``<wheelhouse>/simple``: request paths are decoded
once, then any ``.``/``..`` segment, hidden name, backslash or NUL is refused, and the real path
(symlinks resolved) must still lie inside the served tree.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import logging
import os
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlsplit

from packaging.utils import canonicalize_name

from .pages import HTML_TYPE, JSON_TYPE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .store import Wheelhouse

__all__ = [
    "IndexServer",
    "Resolution",
    "is_loopback",
    "make_server",
    "negotiate",
    "resolve",
    "running",
]

log = logging.getLogger(__name__)

_JSON_TYPES = (JSON_TYPE, "application/vnd.pypi.simple.latest+json")
_HTML_TYPES = (HTML_TYPE, "application/vnd.pypi.simple.latest+html", "text/html")


@dataclass(frozen=True)
class Resolution:
    """Where a request path leads: ``file`` (path), ``index`` (a directory), ``redirect``
    (location), ``not-found`` or ``bad-request``."""

    kind: str
    path: Path | None = None
    location: str | None = None


_NOT_FOUND = Resolution("not-found")


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def resolve(simple_root: Path, target: str) -> Resolution:
    """Map a request target to a file under ``simple_root`` (which must be a real path)."""
    raw = urlsplit(target).path
    if not raw.startswith("/") or "\x00" in raw or "\\" in raw:
        return Resolution("bad-request")
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return Resolution("bad-request")
    if "\x00" in decoded or "\\" in decoded:
        return Resolution("bad-request")
    segments = decoded.split("/")[1:]
    trailing = segments[-1] == ""
    if trailing:
        segments.pop()
    if any(s == "" or s.startswith(".") for s in segments):  # "", ".", "..", hidden names
        return _NOT_FOUND
    if not segments:
        return Resolution("redirect", location="/simple/")
    if segments[0] != "simple":
        return _NOT_FOUND
    candidate = simple_root.joinpath(*segments[1:])
    real = os.path.realpath(candidate)
    if not _inside(real, str(simple_root)):
        return _NOT_FOUND
    if Path(real).is_dir():
        if not trailing:
            return Resolution("redirect", location=quote("/" + "/".join(segments) + "/"))
        return Resolution("index", path=Path(real))
    if Path(real).is_file() and not trailing:
        return Resolution("file", path=Path(real))
    if len(segments) == 2:
        # PEP 503: a project URL in another spelling may redirect to the normalized one.
        canonical = canonicalize_name(segments[1])
        if canonical != segments[1] and (simple_root / canonical).is_dir():
            return Resolution("redirect", location=f"/simple/{quote(canonical)}/")
    return _NOT_FOUND


def negotiate(accept: str | None, fmt: str | None = None) -> tuple[str, str] | None:
    """Pick ``(page file, content type)`` for an index request; None when nothing fits (406).

    PEP 691: clients list what they take with q-values; a missing header means HTML. On a tie the
    JSON form wins, as it is smaller and what current pip and uv prefer.
    """
    offers: list[tuple[str, float]] = [(fmt.lower(), 1.0)] if fmt else []
    if not offers:
        for part in (accept or "text/html").split(","):
            media, *params = (p.strip() for p in part.split(";"))
            quality = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            offers.append((media.lower(), quality))
    best: tuple[float, int, str, str] | None = None
    for media, quality in offers:
        if quality <= 0:
            continue
        if media in _JSON_TYPES:
            choice = (quality, 1, "index.json", JSON_TYPE)
        elif media in _HTML_TYPES:
            ctype = "text/html; charset=utf-8" if media == "text/html" else HTML_TYPE
            choice = (quality, 0, "index.html", ctype)
        elif media in ("*/*", "text/*"):
            choice = (quality, -1, "index.html", "text/html; charset=utf-8")
        else:
            continue
        if best is None or choice[:2] > best[:2]:
            best = choice
    return None if best is None else (best[2], best[3])


def _etag(stat: os.stat_result) -> str:
    return f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'


class _Handler(BaseHTTPRequestHandler):
    server: IndexServer
    server_version = "torchbuild-index/1"
    protocol_version = "HTTP/1.1"
    timeout = 60  # a client that goes quiet must not hold a thread forever
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _refuse_method(self) -> None:
        self._plain(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD"})

    def do_POST(self) -> None:
        self._refuse_method()

    def do_PUT(self) -> None:
        self._refuse_method()

    def do_DELETE(self) -> None:
        self._refuse_method()

    def do_PATCH(self) -> None:
        self._refuse_method()

    def do_OPTIONS(self) -> None:
        self._refuse_method()

    def do_TRACE(self) -> None:
        self._refuse_method()

    def _plain(
        self, status: HTTPStatus, headers: dict[str, str] | None = None, body: bool = True
    ) -> None:
        text = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(text)

    def _serve(self, *, body: bool) -> None:
        where = resolve(self.server.simple_root, self.path)
        if where.kind == "bad-request":
            self._plain(HTTPStatus.BAD_REQUEST, body=body)
            return
        if where.kind == "redirect":
            self._plain(
                HTTPStatus.MOVED_PERMANENTLY, {"Location": where.location or "/"}, body=body
            )
            return
        if where.kind == "not-found" or where.path is None:
            self._plain(HTTPStatus.NOT_FOUND, body=body)
            return
        extra = {"Cache-Control": "public, max-age=31536000, immutable"}
        path, ctype = where.path, "application/octet-stream"
        if where.kind == "index":
            query = parse_qs(urlsplit(self.path).query)
            fmt = query["format"][0] if query.get("format") else None
            choice = negotiate(self.headers.get("Accept"), fmt)
            if choice is None:
                self._plain(HTTPStatus.NOT_ACCEPTABLE, {"Vary": "Accept"}, body=body)
                return
            path, ctype = path / choice[0], choice[1]
            extra = {"Cache-Control": "no-cache", "Vary": "Accept"}
        elif path.name == "index.json":
            ctype, extra = JSON_TYPE, {"Cache-Control": "no-cache"}
        elif path.name == "index.html":
            ctype, extra = "text/html; charset=utf-8", {"Cache-Control": "no-cache"}
        self._send_file(path, ctype, extra, body=body)

    def _send_file(self, path: Path, ctype: str, extra: dict[str, str], *, body: bool) -> None:
        try:
            handle = path.open("rb")
        except OSError:
            self._plain(HTTPStatus.NOT_FOUND, body=body)
            return
        with handle:
            stat = os.fstat(handle.fileno())
            etag = _etag(stat)
            headers = {"ETag": etag, **extra}
            headers["Last-Modified"] = email.utils.formatdate(stat.st_mtime, usegmt=True)
            wanted = self.headers.get("If-None-Match")
            if wanted and (wanted.strip() == "*" or etag in (t.strip() for t in wanted.split(","))):
                self.send_response(HTTPStatus.NOT_MODIFIED)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                return
            self.send_response(HTTPStatus.OK)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(stat.st_size))
            self.end_headers()
            if body:
                self.connection.sendfile(handle)


class IndexServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one wheelhouse's ``simple/`` tree."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simple_root: Path) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.simple_root = Path(os.path.realpath(simple_root))

    @property
    def url(self) -> str:
        host, port = self.server_address[0], self.server_address[1]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/simple/"

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002
        # Called from the handler's except clause. A client hanging up mid-download is
        # routine; anything else is worth a debug line with its traceback.
        log.debug("request from %r failed", client_address, exc_info=True)  # noqa: LOG014


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(wheelhouse: Wheelhouse, host: str = "127.0.0.1", port: int = 8000) -> IndexServer:
    """A server for ``wheelhouse`` (not yet serving: call ``serve_forever``)."""
    wheelhouse.require()
    return IndexServer((host, port), wheelhouse.simple)


@contextlib.contextmanager
def running(server: IndexServer) -> Iterator[str]:
    """Serve from a background thread for the duration of a ``with`` block; yields the URL.

    For callers that install from the wheelhouse themselves (the verify stage, tests).
    """
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="torchbuild-index",
        daemon=True,
    )
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
