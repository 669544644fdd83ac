"""Talking HTTP: one way to open connections, and the four things torchbuild does with them.

Every request goes through :func:`ssl_context` (the system's certificate authorities, or the
bundle pip is configured with: ``cert`` in pip.conf or ``PIP_CERT``, which a company's
TLS-inspecting proxy needs; a caller may name another) and the environment's proxies
(``https_proxy``, ``no_proxy``...):

``request``/``transport``  GET an index page, answering HTTP errors as a :class:`Response`;
``download``               one file (a prebuilt wheel) with its sha256 checked, into a new path;
``post_streaming``         an upload whose body is streamed from the file (``index push``);
``read_range``             a few bytes of a big remote file (a wheel's zip directory).

A downloaded file whose hash differs from the index's is deleted and reported; nothing
unverified is handed on. ``file://`` URLs and plain paths (pip's find-links directories) are
copied.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterable, Mapping

from . import __version__
from .errors import NetworkError, SourceError
from .fs import hash_stream

if TYPE_CHECKING:
    from email.message import Message
    from http.client import HTTPResponse

__all__ = [
    "USER_AGENT",
    "Bounded",
    "RangeUnsupportedError",
    "Response",
    "Transport",
    "connection",
    "default_cert",
    "download",
    "fetch_to",
    "get_bounded",
    "opener",
    "post_streaming",
    "read_range",
    "request",
    "ssl_context",
    "transport",
]

USER_AGENT = f"torchbuild/{__version__}"


@dataclass(frozen=True)
class Response:
    """One HTTP answer, read in full (index pages, upload replies: small by nature)."""

    status: int
    url: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


#: ``transport(url, headers, timeout) -> Response``; raises ``OSError`` when nothing answered.
Transport = Callable[[str, Mapping[str, str], float], Response]


class RangeUnsupportedError(NetworkError):
    """The server sent the whole file where a byte range was asked for."""


def default_cert() -> str | None:
    """The certificate authorities pip is configured with (``cert`` in pip.conf, ``PIP_CERT``),
    for requests whose caller names none: a download of a source tarball trusts what pip
    trusts, without every caller reading pip's configuration itself."""
    from .resolve.pipconfig import read_pip_config

    return read_pip_config().cert


def ssl_context(cert: str | None = None) -> ssl.SSLContext:
    """Certificate checking with the system's authorities, or with ``cert`` (default:
    :func:`default_cert`; a PEM bundle file or a directory of hashed certificates, as pip's
    ``cert`` setting takes); a ``cert`` that does not exist is ignored, as pip ignores it."""
    cert = cert or default_cert()
    if cert and Path(cert).is_dir():
        return ssl.create_default_context(capath=cert)
    return ssl.create_default_context(cafile=cert if cert and Path(cert).is_file() else None)


def opener(
    cert: str | None = None, *handlers: urllib.request.BaseHandler
) -> urllib.request.OpenerDirector:
    """A urllib opener with :func:`ssl_context` and the environment's proxies, plus
    ``handlers`` (a redirect policy, for one)."""
    return urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl_context(cert)), *handlers
    )


def _headers(reply: HTTPResponse | Message | None) -> dict[str, str]:
    if reply is None:
        return {}
    items = reply.getheaders() if isinstance(reply, http.client.HTTPResponse) else reply.items()
    return {k.lower(): v for k, v in items}


def request(
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    *,
    via: urllib.request.OpenerDirector,
) -> Response:
    """GET ``url`` through the opener ``via``; an HTTP error status comes back as a Response,
    a failure to connect raises ``OSError`` (``urllib.error.URLError`` is one)."""
    wanted = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 - http(s) only
    try:
        with via.open(wanted, timeout=timeout) as reply:
            return Response(reply.status, reply.geturl(), _headers(reply), reply.read())
    except urllib.error.HTTPError as exc:
        body = b""
        with contextlib.suppress(OSError, AttributeError):  # no body is fine for an error
            body = exc.read()
        return Response(exc.code, url, _headers(exc.headers), body)


def transport(cert: str | None = None) -> Transport:
    """The real network for index pages: :func:`request` through one :func:`opener`."""
    via = opener(cert)

    def fetch(url: str, headers: Mapping[str, str], timeout: float) -> Response:
        return request(url, headers, timeout, via=via)

    return fetch


# -- whole files ----------------------------------------------------------------------------


def _open(url: str, timeout: float, cert: str | None) -> IO[bytes]:
    if url.startswith(("http://", "https://")):
        wanted = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
        reply: IO[bytes] = opener(cert).open(wanted, timeout=timeout)
        return reply
    if "://" in url:
        return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).open("rb")
    return Path(url).open("rb")


def fetch_to(url: str, dest: Path, *, timeout: float, cert: str | None = None) -> str:
    """Copy ``url`` (http(s), file:// or a path) into the new file ``dest``; return its sha256.

    Network and file errors propagate as urllib/OS errors: callers word them for their case.
    """
    with _open(url, timeout, cert) as src, dest.open("xb") as out:
        return hash_stream(src, out).sha256


def download(
    url: str, dest: Path, *, sha256: str | None, timeout: float = 60.0, cert: str | None = None
) -> str:
    """Fetch ``url`` to ``dest`` (written as ``dest.part`` then renamed); return its sha256."""
    part = dest.with_name(dest.name + ".part")
    if part.exists():
        part.unlink()
    try:
        got = fetch_to(url, part, timeout=timeout, cert=cert)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        if part.exists():
            part.unlink()
        reason = getattr(exc, "reason", exc)
        raise NetworkError(
            f"cannot download {url}: {reason}",
            hint="check the network, or fetch the file yourself and add it with "
            "`torchbuild index add FILE`",
        ) from None
    except BaseException:
        if part.exists():
            part.unlink()
        raise
    if sha256 and got != sha256.lower():
        part.unlink()
        raise SourceError(
            f"{dest.name} from {url} has sha256 {got}, but the index says {sha256}",
            hint="the file or the index is damaged, or something between you and it changed "
            "the file; try again, or use another index",
        )
    shutil.move(str(part), str(dest))
    return got


# -- bounded reads: a part of a remote file, never more than asked for ---------------------------


@dataclass(frozen=True)
class Bounded:
    """The answer to :func:`get_bounded`: at most ``limit`` bytes of the body."""

    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    #: The server sent more than ``limit`` bytes (it ignored a Range header); reading stopped.
    truncated: bool


def get_bounded(
    url: str,
    headers: Mapping[str, str],
    *,
    limit: int,
    timeout: float,
    cert: str | None = None,
) -> Bounded:
    """GET ``url`` and read at most ``limit`` bytes of the body, then hang up.

    Made for range requests: a server that ignores ``Range`` answers 200 with the whole file,
    and a 500 MB wheel must not be downloaded to learn that. Proxies come from the environment,
    certificates from ``cert`` or the system. Errors without an HTTP answer propagate as
    ``OSError``/``URLError``.
    """
    wanted = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the callers
        url, headers={"User-Agent": USER_AGENT, **headers}
    )
    try:
        with opener(cert).open(wanted, timeout=timeout) as reply:
            body = reply.read(limit + 1)
            return Bounded(
                reply.status,
                {k.lower(): v for k, v in reply.headers.items()},
                body[:limit],
                len(body) > limit,
            )
    except urllib.error.HTTPError as exc:
        found = {k.lower(): v for k, v in exc.headers.items()} if exc.headers else {}
        return Bounded(exc.code, found, b"", truncated=False)


# -- part of a file -------------------------------------------------------------------------

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def read_range(
    url: str,
    start: int,
    length: int,
    *,
    timeout: float = 20.0,
    cert: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The ``length`` bytes of ``url`` from offset ``start`` (fewer where the file ends first).

    Raises :class:`RangeUnsupportedError` when the server answers with the whole file (it ignores
    ``Range``): the body is not read, so a 2 GB wheel is not fetched by accident. Other
    failures raise :class:`~torchbuild.errors.NetworkError`.
    """
    if start < 0 or length <= 0:
        raise ValueError(f"a byte range needs start >= 0 and length > 0, not {start}, {length}")
    wanted = urllib.request.Request(  # noqa: S310 - http(s) only
        url,
        headers={
            "User-Agent": USER_AGENT,
            **(headers or {}),
            "Range": f"bytes={start}-{start + length - 1}",
            # A compressed answer's byte offsets would not be the file's.
            "Accept-Encoding": "identity",
        },
    )
    try:
        with opener(cert).open(wanted, timeout=timeout) as reply:
            if reply.status != 206:
                raise RangeUnsupportedError(
                    f"{url} answered HTTP {reply.status} with the whole file to a range request",
                    hint="the server does not serve byte ranges; download the whole file",
                )
            found = _CONTENT_RANGE.match(reply.headers.get("Content-Range", ""))
            if found is None or int(found.group(1)) != start:
                raise NetworkError(
                    f"{url} answered a range request for bytes {start}- with Content-Range "
                    f"{reply.headers.get('Content-Range')!r}"
                )
            data: bytes = reply.read(length)
            return data
    except urllib.error.HTTPError as exc:
        raise NetworkError(
            f"{url} answered HTTP {exc.code} {exc.reason} to a range request"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(
            f"cannot read {url}: {reason}", hint="check the network and the URL"
        ) from None


# -- uploads --------------------------------------------------------------------------------


def connection(
    url: str, timeout: float, cert: str | None = None
) -> tuple[http.client.HTTPConnection, str]:
    """A connection for ``url`` (through the environment's proxy, if any) and the request path."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and urllib.request.proxy_bypass(parts.netloc):
        proxy = None
    context = ssl_context(cert) if parts.scheme == "https" else None
    if not proxy:
        if context is not None:
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=context), path
        return http.client.HTTPConnection(host, port, timeout=timeout), path
    via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if context is not None:  # https through a proxy: a CONNECT tunnel, TLS end to end
        conn = http.client.HTTPSConnection(
            via.hostname or "", via.port, timeout=timeout, context=context
        )
        conn.set_tunnel(host, port)
        return conn, path
    return http.client.HTTPConnection(via.hostname or "", via.port, timeout=timeout), url


def post_streaming(
    url: str,
    headers: Mapping[str, str],
    body: Iterable[bytes],
    *,
    timeout: float,
    cert: str | None = None,
) -> Response:
    """POST ``body`` chunk by chunk (Content-Length given in ``headers``); follow no redirect.

    Written on http.client rather than urllib so that a server that answers before it has read
    the body (a 401 or 403 for a big wheel) is heard: urllib reports only the broken pipe.
    """
    conn, path = connection(url, timeout, cert)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        failed: OSError | None = None
        try:
            for chunk in body:
                conn.send(chunk)
        except (BrokenPipeError, ConnectionResetError) as exc:
            failed = exc  # the server may have answered already: read that answer below
        try:
            reply = conn.getresponse()
        except (OSError, http.client.HTTPException):
            if failed is not None:
                raise failed from None
            raise
        return Response(reply.status, url, _headers(reply), reply.read())
    finally:
        conn.close()
