"""Downloading one file (a prebuilt wheel) with its sha256 checked, into a temporary path.

A file whose hash differs from the index's is deleted and reported; nothing unverified is
handed on. ``file://`` URLs and plain paths (pip's find-links directories) are copied.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .errors import NetworkError, SourceError

__all__ = ["Bounded", "download", "fetch_to", "get_bounded"]

CHUNK = 1 << 20


def _open(url: str, timeout: float, cert: str | None) -> object:
    if url.startswith(("http://", "https://")):
        context = ssl.create_default_context(cafile=cert if cert and Path(cert).is_file() else None)
        request = urllib.request.Request(url, headers={"User-Agent": "torchbuild"})  # noqa: S310
        return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
    if "://" in url:
        return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).open("rb")
    return Path(url).open("rb")


def fetch_to(url: str, dest: Path, *, timeout: float, cert: str | None = None) -> str:
    """Copy ``url`` (http(s), file:// or a path) into the new file ``dest``; return its sha256.

    Network and file errors propagate as urllib/OS errors: callers word them for their case.
    """
    digest = hashlib.sha256()
    with _open(url, timeout, cert) as src, dest.open("xb") as out:  # type: ignore[attr-defined]
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


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
    context = ssl.create_default_context(cafile=cert if cert and Path(cert).is_file() else None)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by the callers
        url, headers={"User-Agent": "torchbuild", **headers}
    )
    try:
        with opener.open(request, timeout=timeout) as reply:
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
