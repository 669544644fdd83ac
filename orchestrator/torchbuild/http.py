"""Downloading one file (a prebuilt wheel) with its sha256 checked, into a temporary path.

A file whose hash differs from the index's is deleted and reported; nothing unverified is
handed on. ``file://`` URLs and plain paths (pip's find-links directories) are copied.
"""

from __future__ import annotations

import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import NetworkError, SourceError
from .fs import hash_stream

__all__ = ["download", "fetch_to"]

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
    with _open(url, timeout, cert) as src, dest.open("xb") as out:  # type: ignore[attr-defined]
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
