"""File-system primitives: atomic writes, the temporary sweep and file hashes.

Every file the wheelhouse publishes is first written in full under a temporary name and then
renamed over its final name (``os.replace``, atomic on POSIX within one file system), so a
reader or a process killed at any moment sees either the old file or the new one, never a part.
Temporary names carry the writer's process id, so a later writer can tell a dead writer's
leftovers from a live writer's work in progress.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path
from typing import IO, Callable, NamedTuple, Union

#: A file name as ``open`` takes it.
StrPath = Union[str, "os.PathLike[str]"]

__all__ = [
    "TEMP_PREFIX",
    "FileHash",
    "StrPath",
    "atomic_write",
    "copy_hashing",
    "dead_temps",
    "fsync_dir",
    "hash_stream",
    "pid_alive",
    "remove_dead_temps",
    "sha256_file",
    "temp_path",
    "unlink_quiet",
]

TEMP_PREFIX = ".tmp-"
_CHUNK = 1024 * 1024


def temp_path(directory: Path, suffix: str = "") -> Path:
    """A fresh temporary name in ``directory`` that names this process as its owner."""
    return directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{suffix}"


def _temp_owner(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix):
        return None
    pid, _, _ = name[len(prefix) :].partition("-")
    return int(pid) if pid.isdigit() else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a reused id counts as alive: the safe answer)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_temps(directory: Path, prefix: str = TEMP_PREFIX) -> list[Path]:
    """Entries of ``directory`` named ``prefix`` + a process id (+ ``-`` anything) whose
    process has died: what a killed writer left behind.

    Entries of this process and of live processes are left out: they are work in progress.
    """
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except FileNotFoundError:
        return []
    me = os.getpid()
    out = []
    for name in names:
        owner = _temp_owner(name, prefix)
        if owner is not None and owner != me and not pid_alive(owner):
            out.append(directory / name)
    return out


def remove_dead_temps(
    directory: Path,
    prefix: str = TEMP_PREFIX,
    remove: Callable[[Path], None] | None = None,
) -> list[str]:
    """Delete the :func:`dead_temps` of ``directory`` (with ``remove``, for trees; files by
    default); return their names."""
    removed = []
    for path in dead_temps(directory, prefix):
        (remove or unlink_quiet)(path)
        removed.append(path.name)
    return removed


def unlink_quiet(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def fsync_dir(directory: Path) -> None:
    """Make renames inside ``directory`` durable (a power cut, not only a killed process)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems (and platforms) cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, tmp_dir: Path, durable: bool) -> None:
    """Replace ``path`` with ``data`` in one step; ``tmp_dir`` must be on the same file system."""
    tmp = temp_path(tmp_dir, suffix="-" + path.name)
    try:
        with tmp.open("wb") as sink:
            sink.write(data)
            if durable:
                sink.flush()
                os.fsync(sink.fileno())
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        unlink_quiet(tmp)
        raise


class FileHash(NamedTuple):
    """A file's sha256 (lower-case hex) and size in bytes."""

    sha256: str
    size: int


def hash_stream(source: IO[bytes], sink: IO[bytes] | None = None) -> FileHash:
    """Read ``source`` to its end in chunks, hashing it (and copying it to ``sink``, if given)."""
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return FileHash(digest.hexdigest(), size)


def sha256_file(path: StrPath) -> FileHash:
    """The sha256 and size of a file, read once in chunks (a 2 GB wheel never sits in memory)."""
    with Path(path).open("rb") as source:
        return hash_stream(source)


def copy_hashing(source: Path, dest: Path, *, durable: bool) -> FileHash:
    """Copy ``source`` to a new file ``dest``, hashing the bytes on the way."""
    with source.open("rb") as src, dest.open("xb") as sink:
        result = hash_stream(src, sink)
        if durable:
            sink.flush()
            os.fsync(sink.fileno())
    dest.chmod(0o644)
    return result
