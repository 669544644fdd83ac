"""Archives: verify, store under their sha256, and unpack without letting a member escape.

Every member is checked right before it is written, against the destination as it stands at
that moment (so a link made by an earlier member cannot smuggle a later one out): absolute
names, ``..`` components, links leading outside and special files are refused. Where Python's
tarfile has extraction filters (3.8.17+, 3.9.17+, 3.10.12+, 3.11.4+, 3.12) the ``data`` filter
runs as well; elsewhere the same limits on modes and owners are applied by hand.
"""

# The walk and the member checks run once per file of a 20k-file tree: plain str paths and
# os.path keep them cheap, so the pathlib rules are off here.
# ruff: noqa: PTH101, PTH103, PTH117, PTH118, PTH120, PTH123, PTH211

from __future__ import annotations

import copy
import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import NetworkError, SourceError
from ..fs import copy_hashing, sha256_file
from ..http import fetch_to
from . import cache
from .model import Source, SourceRequest, redact

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["SUFFIXES", "extract", "fetch_archive", "is_archive", "is_url"]

SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.lzma", ".tar", ".zip")
_HAS_FILTER = hasattr(tarfile, "data_filter")
_CHUNK = 1024 * 1024
_BROKEN = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


def is_archive(name: str) -> bool:
    """Whether ``name`` ends like an archive torchbuild can unpack."""
    return name.lower().endswith(SUFFIXES)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


# ------------------------------------------------------------------------------ unpacking


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _refuse(archive: Path, name: str, why: str) -> SourceError:
    return SourceError(
        f"{archive.name}: member {name!r} {why}; refusing to unpack it",
        hint="the archive is damaged or hostile: get it again from a source you trust",
    )


def _check_name(archive: Path, name: str, real_root: str) -> str:
    if name.startswith("/") or os.path.isabs(name):
        raise _refuse(archive, name, "has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise _refuse(archive, name, "climbs out with '..'")
    target = os.path.realpath(os.path.join(real_root, name))
    if not _inside(target, real_root):
        raise _refuse(archive, name, "would be written outside the destination through a link")
    return target


def _check_link(archive: Path, name: str, linkname: str, base: str, real_root: str) -> None:
    if os.path.isabs(linkname):
        raise _refuse(archive, name, f"links to the absolute path {linkname!r}")
    if not _inside(os.path.realpath(os.path.join(base, linkname)), real_root):
        raise _refuse(archive, name, f"links outside the destination ({linkname!r})")


def _tar_members(
    tf: tarfile.TarFile, archive: Path, root: str, *, sanitise: bool
) -> Iterator[tarfile.TarInfo]:
    real_root = os.path.realpath(root)
    for member in tf:
        _check_name(archive, member.name, real_root)
        if member.issym():
            base = os.path.join(real_root, os.path.dirname(member.name))
            _check_link(archive, member.name, member.linkname, base, real_root)
        elif member.islnk():
            _check_link(archive, member.name, member.linkname, real_root, real_root)
        elif not (member.isreg() or member.isdir()):
            raise _refuse(archive, member.name, "is a device, fifo or other special file")
        if sanitise:  # what the data filter would do, for Pythons without one
            member = copy.copy(member)  # noqa: PLW2901 - a sanitised copy replaces it
            mode = member.mode & 0o755
            if member.isreg() and not mode & stat.S_IXUSR:
                mode &= ~0o111
            member.mode = mode | (0o700 if member.isdir() else 0o600)
            member.uid, member.gid = os.getuid(), os.getgid()
            member.uname = member.gname = ""
        yield member


def _unpack_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive, "r:*") as tf:
        if _HAS_FILTER:
            members = _tar_members(tf, archive, str(into), sanitise=False)
            tf.extractall(into, members=members, filter="data")
        else:
            # Every member was checked and sanitised above.
            members = _tar_members(tf, archive, str(into), sanitise=True)
            if hasattr(tarfile, "fully_trusted_filter"):  # only when tests take this path
                tf.extractall(into, members=members, filter="fully_trusted")  # noqa: S202
            else:
                tf.extractall(into, members=members)  # noqa: S202


def _unpack_zip(archive: Path, into: Path) -> None:
    real_root = os.path.realpath(into)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = _check_name(archive, info.filename, real_root)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode("utf-8")
                _check_link(archive, info.filename, link, os.path.dirname(target), real_root)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(link, target)
            elif info.is_dir():
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                # zipfile drops permissions; the executable bit matters for build scripts.
                os.chmod(target, 0o755 if mode & stat.S_IXUSR else 0o644)


def _single_top(directory: Path) -> Path | None:
    entries = list(directory.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return None


def extract(archive: Path, dest: Path, *, strip: bool = True, shown: str | None = None) -> None:
    """Unpack ``archive`` into ``dest`` (which must not exist), all or nothing.

    With ``strip``, an archive whose members all sit in one top-level directory has that
    directory's content put at ``dest``. ``shown`` is how errors name the archive (the user's
    path or URL, not torchbuild's cache copy).
    """
    if dest.exists() or dest.is_symlink():
        raise SourceError(f"{dest} already exists", hint="remove it or choose another directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.temp_sibling(dest)
    try:
        tmp.mkdir()
        try:
            if archive.name.lower().endswith(".zip"):
                _unpack_zip(archive, tmp)
            else:
                _unpack_tar(archive, tmp)
        except _BROKEN as exc:
            # tarfile lists every method it tried, one per line; the error is one line.
            reason = str(exc).strip().splitlines()[-1].lstrip("- ") if str(exc).strip() else ""
            raise SourceError(
                f"{shown or archive} is not a readable archive"
                + (f" ({reason})" if reason else ""),
                hint="give a .tar.gz, .tar.xz, .tar.bz2, .tar or .zip that is complete, or a "
                "directory",
            ) from None
        top = _single_top(tmp) if strip else None
        if top is not None:
            top.rename(dest)
            tmp.rmdir()
        else:
            tmp.rename(dest)
    except BaseException:
        cache.remove_quiet(tmp)
        raise


# ------------------------------------------------------------------------------ fetching


def _entry(root: Path, sha: str) -> Path | None:
    """The cached archive with content ``sha``, if there is one."""
    directory = root / sha
    try:
        files = [p for p in directory.iterdir() if p.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return None
    return files[0] if len(files) == 1 else None


def _publish(root: Path, sha: str, staged: Path, name: str) -> Path:
    """Move ``staged`` (a verified temp file under ``root``) into the cache as ``sha``."""
    done = _entry(root, sha)
    if done is not None:
        staged.unlink()
        return done
    tmp = cache.temp_sibling(root / sha)
    tmp.mkdir()
    try:
        staged.rename(tmp / name)
        tmp.rename(root / sha)
    except BaseException:
        cache.remove_quiet(tmp)
        raise
    return root / sha / name


def _check_sha(what: str, expected: str | None, actual: str) -> None:
    if expected is not None and actual != expected:
        raise SourceError(
            f"{what}: sha256 is {actual}, expected {expected}",
            hint="check the #sha256= value given, or get the file again: it may be damaged",
        )


def _unchanged(source: Path, hashed: str, copied: str) -> None:
    if copied != hashed:
        raise SourceError(
            f"{source} changed while it was being read",
            hint="wait until whatever writes it has finished, then run again",
        )


def _download(url: str, dest: Path, timeout: float) -> str:
    host = urlsplit(url).hostname or url
    try:
        return fetch_to(url, dest, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise SourceError(
            f"downloading {redact(url)} failed: HTTP {exc.code} {exc.reason}",
            hint="check the URL, or download the file yourself and pass --source PKG=/path/to/it",
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(
            f"cannot reach {host} to download {redact(url)}: {reason}",
            hint="check the network, or download the file elsewhere and pass "
            "--source PKG=/path/to/it",
        ) from None


def _source(request: SourceRequest, path: Path, sha: str, name: str) -> Source:
    return Source(
        package=request.package,
        kind="archive",
        location=request.location,
        digest=f"sha256:{sha}",
        description=f"{name} (sha256 {sha[:12]}…)",
        path=path,
        version=request.version,
    )


def fetch_archive(
    request: SourceRequest, *, cache_dir: Path, offline: bool, timeout: float
) -> Source:
    """Verify an archive (a local file or an http(s) URL) and store it in the source cache."""
    root = cache.sources_root(cache_dir) / "archives"
    root.mkdir(parents=True, exist_ok=True)
    cache.sweep_dead_temps(root)
    url = is_url(request.location)
    name = Path(urlsplit(request.location).path if url else request.location).name
    expected = request.sha256.lower() if request.sha256 else None
    memo = root / "urls" / hashlib.sha256(request.location.encode()).hexdigest()
    if expected is None and url and memo.is_file():
        expected = memo.read_text().strip()
    if expected is not None:
        found = _entry(root, expected)
        if found is not None:
            return _source(request, found, expected, name)
    if url:
        if offline:
            raise NetworkError(
                f"{redact(request.location)} is not in the source cache and --offline is set",
                hint="run once without --offline, or pass --source PKG=/path/to/a/local/copy",
            )
        staged = cache.temp_sibling(root / name)
        try:
            actual = _download(request.location, staged, timeout)
            _check_sha(redact(request.location), expected, actual)
            with cache.locked(cache_dir, f"archive-{actual}", name):
                path = _publish(root, actual, staged, name)
        except BaseException:
            cache.remove_quiet(staged)
            raise
        memo.parent.mkdir(exist_ok=True)
        tmp_memo = cache.temp_sibling(memo)
        tmp_memo.write_text(actual + "\n")
        tmp_memo.replace(memo)
        return _source(request, path, actual, name)

    source = Path(request.location)
    if not source.is_file():
        raise SourceError(
            f"{source} does not exist", hint="check the path given with --source PKG=PATH"
        )
    # Hash first (a read): a file already cached costs nothing more. Copying then hashes again,
    # so what lands in the cache is exactly what was verified even if the file changes meanwhile.
    actual = sha256_file(source).sha256
    _check_sha(str(source), expected, actual)
    with cache.locked(cache_dir, f"archive-{actual}", name):
        found = _entry(root, actual)
        if found is not None:
            return _source(request, found, actual, name)
        staged = cache.temp_sibling(root / name)
        try:
            _unchanged(source, actual, copy_hashing(source, staged, durable=False).sha256)
            path = _publish(root, actual, staged, name)
        except BaseException:
            cache.remove_quiet(staged)
            raise
    return _source(request, path, actual, name)
