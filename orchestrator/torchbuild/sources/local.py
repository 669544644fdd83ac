"""A source directory the user already has: hashed in place, copied on materialize."""

from __future__ import annotations

from pathlib import Path

from ..errors import SourceError
from . import cache
from .model import Source, SourceRequest
from .tree import copy_entries, tree_digest, walk

__all__ = ["fetch_dir", "materialize_dir"]


def fetch_dir(request: SourceRequest) -> Source:
    """Hash a local source directory; nothing is copied until :func:`materialize_dir`."""
    root = Path(request.location)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise SourceError(f"{root} {what}", hint="check the path given with --source")
    entries = walk(root)
    digest = tree_digest(root, entries)
    return Source(
        package=request.package,
        kind="dir",
        location=request.location,
        digest=digest,
        description=f"{root} (tree {digest[5:17]}…, {len(entries)} files)",
        path=root,
        version=request.version,
    )


def _same(source: Source, copied: str) -> None:
    if copied != source.digest:
        raise SourceError(
            f"{source.path} changed after it was hashed ({source.digest[:17]}… is now "
            f"{copied[:17]}…)",
            hint="stop editing the tree while torchbuild runs, then run again",
        )


def materialize_dir(source: Source, dest: Path) -> None:
    """Copy the counted files of the directory into ``dest`` and check they still hash the same."""
    if dest.exists() or dest.is_symlink():
        raise SourceError(f"{dest} already exists", hint="remove it or choose another directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.temp_sibling(dest)
    try:
        tmp.mkdir()
        copy_entries(walk(source.path), tmp)
        # The user's tree may have changed since it was fetched; the build key must name the
        # tree the build gets, so the copy is hashed again.
        _same(source, tree_digest(tmp))
        tmp.rename(dest)
    except BaseException:
        cache.remove_quiet(tmp)
        raise
