"""Taking a wheel apart and writing it back, byte for byte reproducibly.

A written wheel has its members sorted (the ``.dist-info`` files last, ``RECORD`` at the very
end, as the wheel format asks), one fixed timestamp (``SOURCE_DATE_EPOCH`` when set, else the
start of 1980, the oldest a zip can hold), the file modes it came with, and a ``RECORD`` made
afresh from the bytes written (sha256, urlsafe base64 without padding, and sizes). So the same
input always gives the same bytes. It is written under a temporary name and renamed.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import time
import zipfile
from typing import TYPE_CHECKING

from ..errors import InputError
from ..fs import temp_path, unlink_quiet
from ..wheel import record_hash

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

__all__ = [
    "set_metadata_version",
    "set_wheel_tags",
    "unpack",
    "write_wheel",
]

_EPOCH_1980 = 315532800
_CHUNK = 1024 * 1024
_SIGNATURES = ("RECORD", "RECORD.jws", "RECORD.p7s")


def _unsafe(member: str) -> bool:
    if member.startswith("/") or "\\" in member:
        return True
    return ".." in posixpath.normpath(member).split("/")


def unpack(wheel: Path, dest: Path) -> dict[str, int]:
    """Extract a wheel into ``dest``; return each file's archive path and permission bits."""
    try:
        return _unpack(wheel, dest)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise InputError(
            f"{wheel.name} is damaged: {exc}",
            hint="rebuild the wheel, or check that the copy is complete",
        ) from None


def _unpack(wheel: Path, dest: Path) -> dict[str, int]:
    modes: dict[str, int] = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            if _unsafe(member.filename):
                raise InputError(f"{wheel.name}: member {member.filename!r} leaves the archive")
            target = dest / member.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
            mode = stat.S_IMODE(member.external_attr >> 16)
            modes[member.filename] = mode or 0o644
    return modes


def _date_time() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    seconds = int(epoch) if epoch.isdigit() else _EPOCH_1980
    return time.gmtime(max(seconds, _EPOCH_1980))[:6]


def _order(path: str, dist_info: str) -> tuple[int, str]:
    if path == f"{dist_info}/RECORD":
        return (2, path)
    return (1 if path.startswith(f"{dist_info}/") else 0, path)


def write_wheel(root: Path, modes: Mapping[str, int], dist_info: str, out: Path) -> None:
    """Write the files under ``root`` (by archive path, with modes) as the wheel ``out``."""
    # The old RECORD and its signatures no longer match the files: RECORD is made afresh.
    dropped = {f"{dist_info}/{name}" for name in _SIGNATURES}
    paths = sorted((p for p in modes if p not in dropped), key=lambda p: _order(p, dist_info))
    record = f"{dist_info}/RECORD"
    lines = []
    sizes: dict[str, int] = {}
    for path in paths:
        digest, sizes[path] = record_hash(root / path)
        lines.append(_csv_row(path, digest, str(sizes[path])))
    lines.append(_csv_row(record, "", ""))
    (root / record).write_text("".join(lines), encoding="utf-8")
    date_time = _date_time()
    tmp = temp_path(out.parent, ".whl")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in [*paths, record]:
                info = zipfile.ZipInfo(path, date_time=date_time)
                info.create_system = 3  # Unix, so the modes below are read back
                info.external_attr = (stat.S_IFREG | modes.get(path, 0o644)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                # Known in advance, the size decides ZIP64 the same way on every run.
                info.file_size = sizes.get(path, (root / path).stat().st_size)
                with (root / path).open("rb") as source, archive.open(info, "w") as target:
                    shutil.copyfileobj(source, target, _CHUNK)
        tmp.replace(out)
    except BaseException:
        unlink_quiet(tmp)
        raise


def _csv_row(*fields: str) -> str:
    # RECORD is CSV; quote the rare path with a comma or quote in it, as the csv module would.
    out = [f'"{f.replace(chr(34), chr(34) * 2)}"' if re.search(r'[,"\n]', f) else f for f in fields]
    return ",".join(out) + "\n"


def set_metadata_version(metadata: bytes, version: str) -> bytes:
    """METADATA with its ``Version:`` header replaced; every other byte stays as it was."""
    head, sep, body = metadata.partition(b"\n\n")
    lines = head.split(b"\n")
    for index, line in enumerate(lines):
        if line.lower().startswith(b"version:"):
            ending = b"\r" if line.endswith(b"\r") else b""
            lines[index] = b"Version: " + version.encode("ascii") + ending
            break
    else:
        raise InputError("the wheel's METADATA has no Version header")
    return b"\n".join(lines) + sep + body


def set_wheel_tags(wheel_file: bytes, tags: Iterable[str], purelib: bool) -> bytes:
    """The WHEEL file with these ``Tag:`` lines and ``Root-Is-Purelib``; other lines kept."""
    kept: list[str] = []
    for line in wheel_file.decode("utf-8").splitlines():
        key = line.partition(":")[0].strip().lower()
        if key in {"tag", "root-is-purelib"} or not line.strip():
            continue
        kept.append(line)
    at = 1 if kept and kept[0].lower().startswith("wheel-version") else 0
    kept[at:at] = [f"Root-Is-Purelib: {'true' if purelib else 'false'}"]
    kept += [f"Tag: {tag}" for tag in tags]
    return ("\n".join(kept) + "\n").encode("utf-8")
