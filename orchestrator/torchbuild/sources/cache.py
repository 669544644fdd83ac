"""The source cache's layout, its locks and the temp-then-rename moves everything goes through.

Layout under ``cache_dir/sources/``::

    archives/<sha256>/<file name>      an archive, stored under its content hash
    archives/urls/<sha256 of URL>      the content hash a downloaded URL had (for --offline)
    dsc/<sha256 of .dsc>/              a verified Debian source package: the .dsc and its files
    git/<commit>[-submodules]/         a checkout at one commit
    git/refs/<sha256 of URL and ref>   the commit a tag or branch resolved to
    locks/<key>.lock                   one lock per entry, so two processes never fetch it twice

An entry appears in one ``rename`` once complete, so its existence means it is whole; work in
progress lives under a ``.tmp-<pid>-…`` name beside it and a dead writer's leftovers are swept.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from ..errors import SourceError
from ..fs import remove_dead_temps

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "LOCK_TIMEOUT",
    "TEMP_PREFIX",
    "locked",
    "remove_quiet",
    "sources_root",
    "sweep_dead_temps",
    "temp_sibling",
]

TEMP_PREFIX = ".tmp-"
#: A torch checkout with submodules can take a long time on a slow link; a waiting process
#: gives up only after that much.
LOCK_TIMEOUT = 6 * 3600.0


def sources_root(cache_dir: Path) -> Path:
    """The directory that holds every cached source."""
    return cache_dir / "sources"


def temp_sibling(path: Path) -> Path:
    """A fresh name beside ``path`` (same file system: the rename is atomic), owned by this pid."""
    return path.parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}"


def remove_quiet(path: Path) -> None:
    """Remove a file, link or directory tree if it exists."""
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    elif path.is_dir():
        # Read-only directories (a tarball can make them) would stop rmtree half-way.
        for directory in [path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]:
            with contextlib.suppress(OSError):
                directory.chmod(0o700)
        shutil.rmtree(path, ignore_errors=True)


def sweep_dead_temps(directory: Path) -> None:
    """Remove temporary entries (files or trees) in ``directory`` whose writer has died."""
    remove_dead_temps(directory, TEMP_PREFIX, remove=remove_quiet)


@contextlib.contextmanager
def locked(cache_dir: Path, key: str, what: str) -> Iterator[None]:
    """Hold the cache lock for ``key``: one fetcher of an entry at a time, across processes."""
    locks = sources_root(cache_dir) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    # A new FileLock per call: flock on separate descriptors also excludes threads of one process.
    lock = FileLock(str(locks / f"{key}.lock"))
    try:
        lock.acquire(timeout=LOCK_TIMEOUT)
    except Timeout:
        raise SourceError(
            f"another torchbuild has been fetching {what} for too long",
            hint=f"if no other torchbuild is running, delete {lock.lock_file}",
        ) from None
    try:
        yield
    finally:
        lock.release()
