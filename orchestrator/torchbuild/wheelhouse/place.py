"""Whether a directory can hold a wheelhouse (or a command's output), asked before any work.

A build of torch takes hours; finding only at the end that ``--wheelhouse`` is read-only, lies
under a regular file or sits on a full disk throws all of it away. These checks create nothing:
they look at the directory, or at the nearest ancestor that exists when it is still to be made,
and they are what ``wheel --dry-run`` runs too.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ..errors import WheelhouseError
from ..ui import human_bytes

__all__ = ["check_destination", "check_wheelhouse", "nearest_existing"]

_HINT = "pass --wheelhouse DIR (or set TORCHBUILD_WHEELHOUSE) to a writable directory"


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its closest ancestor that does."""
    path = Path(path).absolute()
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _problem(path: Path, *, write: bool) -> str | None:
    """Why a directory cannot be (or be made) at ``path``; None when it can."""
    existing = nearest_existing(path)
    made = existing != Path(path).absolute()
    if not existing.is_dir():
        if not made:
            return "it is a file, not a directory"
        return f"{existing} is a file, not a directory"
    if not write and not made:
        if not os.access(existing, os.R_OK | os.X_OK):
            return os.strerror(errno.EACCES)
        return None
    if _read_only(existing):
        return f"{existing} is on a read-only file system"
    # access() sees permissions and, for root, the immutable flag (EPERM); a mounted /proc or
    # /sys directory refuses new entries although it reads as writable to root.
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    if made and _pseudo(existing):
        return f"{existing} is a kernel file system where no directory can be made"
    return None


def _pseudo(path: Path) -> bool:
    # /proc, /sys and friends: statvfs reports no blocks at all.
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_blocks == 0 and st.f_bfree == 0


def free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(nearest_existing(path)).free
    except OSError:
        return None


def check_wheelhouse(root: Path, *, write: bool, need_bytes: int = 0) -> None:
    """Raise :class:`WheelhouseError` unless ``root`` is (or can become) a wheelhouse that can
    be read, and with ``write`` written, with ``need_bytes`` free for the expected wheels."""
    problem = _problem(root, write=write)
    if problem is not None:
        raise WheelhouseError(f"the wheelhouse {root} cannot be used: {problem}", hint=_HINT)
    if write and need_bytes > 0:
        free = free_bytes(root)
        if free is not None and free < need_bytes:
            raise WheelhouseError(
                f"the wheelhouse {root} has {human_bytes(free)} free; the wheels expected "
                f"need about {human_bytes(need_bytes)}",
                hint="free some space, or pass --wheelhouse DIR on a larger disk",
            )


def check_destination(path: Path, what: str, hint: str) -> None:
    """Raise :class:`WheelhouseError` unless the directory ``path`` can be made and written."""
    problem = _problem(path, write=True)
    if problem is not None:
        raise WheelhouseError(f"cannot write {what} to {path}: {problem}", hint=hint)
