"""The stage's two verbs: :func:`fetch` a request into a verified Source, :func:`materialize` it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SourceError
from .archive import extract, fetch_archive
from .dsc import fetch_dsc, materialize_dsc
from .git import fetch_git, materialize_git
from .local import fetch_dir, materialize_dir
from .request import kind_of

if TYPE_CHECKING:
    from pathlib import Path

    from .model import Source, SourceRequest

__all__ = ["fetch", "materialize"]


def fetch(
    request: SourceRequest, *, cache_dir: Path, offline: bool = False, timeout: float = 60.0
) -> Source:
    """Obtain and verify the requested source, using and filling the cache under ``cache_dir``.

    ``timeout`` bounds each network wait (connecting, a stalled transfer), not a whole download.
    """
    kind = kind_of(request.location)
    if kind == "git":
        return fetch_git(request, cache_dir=cache_dir, offline=offline, timeout=timeout)
    if kind == "archive":
        return fetch_archive(request, cache_dir=cache_dir, offline=offline, timeout=timeout)
    if kind == "dsc":
        return fetch_dsc(request, cache_dir=cache_dir)
    return fetch_dir(request)


def materialize(source: Source, dest: Path) -> None:
    """Write the pristine tree into ``dest`` (which must not exist), all or nothing."""
    if source.kind == "archive":
        extract(source.path, dest, strip=True, shown=source.location)
    elif source.kind == "dsc":
        materialize_dsc(source, dest)
    elif source.kind == "git":
        materialize_git(source, dest)
    elif source.kind == "dir":
        materialize_dir(source, dest)
    else:
        raise SourceError(f"unknown source kind {source.kind!r}", hint="this is a torchbuild bug")
