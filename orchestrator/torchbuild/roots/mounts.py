"""What is mounted where, so that removing a root never walks into a mounted host directory.

Roots are only ever mounted inside private mount namespaces, which the host never sees; a mount
found here was made by someone else (a debootstrap killed midway, a user's manual bind), and
deleting through it would delete the host's files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import InputError

__all__ = ["mounts_under", "remove_tree"]

MOUNTINFO = Path("/proc/self/mountinfo")


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts_under(path: Path, mountinfo: Path | None = None) -> list[Path]:
    """Mount points at or below ``path`` in this process's mount namespace."""
    base = os.path.realpath(path)
    try:
        lines = (mountinfo or MOUNTINFO).read_text().splitlines()
    except OSError:
        return []
    found: list[Path] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if point == base or point.startswith(base.rstrip("/") + "/"):
            found.append(Path(point))
    return found


def remove_tree(path: Path) -> None:
    """Delete a root (or a half-made one), refusing while anything is mounted inside it."""
    if not path.exists() and not path.is_symlink():
        return
    mounted = mounts_under(path)
    if mounted:
        raise InputError(
            f"{path} has {len(mounted)} file system(s) mounted inside it, e.g. {mounted[0]}",
            hint=f"unmount them first (umount -R {mounted[0]}), then run the command again",
        )
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    shutil.rmtree(path)
