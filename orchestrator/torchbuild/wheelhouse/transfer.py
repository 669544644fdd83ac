"""``index export`` and ``index import``: carry a wheelhouse to a machine without the network.

An export is itself a wheelhouse (``index verify`` and ``index serve`` work on it) with one
more page::

    <dest>/index.html                             every wheel, linked relative with #sha256=
    <dest>/simple/...                             the index, pages rendered from the manifests
    <dest>/.torchbuild/projects/<project>.json    the manifests
    <dest>/.torchbuild/export.json                what was exported, when, by which torchbuild

so ``pip install --no-index --find-links <dest>`` (pip reads the ``.html`` files of a find-links
directory as pages of links) and ``pip install --index-url file://<dest>/simple/`` both work. A
``.tar`` (or ``.tar.gz``/``.tgz``) export holds the same tree under one top directory named after
the file. Either is written under a temporary name beside the destination and renamed into place
once complete; every file is rehashed on the way, so a damaged wheel is never exported.

Import reads an export, a tar of one, or any wheelhouse directory. Everything is checked before
the local wheelhouse is touched: the tar's members (only plain files and directories, no path
leaving the archive, no name twice), every wheel's sha256 and size against its manifest (or, for
a tree without manifests, its project page), the manifests against the pages, and every filename
against the local wheelhouse (the same file is skipped; the same name with other bytes refuses the
whole import). Wheels then go in one by one through :meth:`Wheelhouse.add`, which locks,
validates and publishes each atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import os
import posixpath
import secrets
import shutil
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator, Literal, Optional, Protocol, Sequence, Union
from urllib.parse import quote

from packaging.utils import canonicalize_name

from .. import __version__
from ..errors import InputError, WheelhouseError
from ..fs import copy_hashing, fsync_dir, hash_stream, remove_dead_temps, unlink_quiet
from ..resolve.indexes import parse_html, parse_json
from . import pages
from .manifest import Entry, dump_manifest, load_manifest
from .sameness import Conflict, conflict_error, sameness

if TYPE_CHECKING:
    from .store import Wheelhouse

    #: A member of an export: bytes to write, or a wheelhouse file with its sha256 and size.
    _Content = Union[bytes, tuple[Path, str, Optional[int]]]

__all__ = [
    "EXPORT_FORMAT",
    "ExportResult",
    "ImportItem",
    "ImportResult",
    "ImportStatus",
    "export",
    "import_",
    "plan_import",
]

EXPORT_FORMAT = "torchbuild-wheelhouse-export"
_MARKER = ".torchbuild/export.json"
_TAR_SUFFIXES = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz"}
_CHUNK = 1024 * 1024
_IMPORT_PREFIX = "import-"

#: What an import does with one wheel of the source: add it, or find it there already (the
#: same bytes, or a conflict that refuses the import).
ImportStatus = Literal["add", "present", "conflict"]


def _tar_mode(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, mode in _TAR_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return mode
    return None


def _tar_stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(_TAR_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# -- export --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote."""

    destination: Path
    kind: Literal["dir", "tar"]
    entries: tuple[Entry, ...]
    bytes: int


def _find_links_page(entries: Sequence[Entry]) -> bytes:
    title = "torchbuild wheelhouse export"
    lines = [f"<!DOCTYPE html>\n<html>\n<head>\n<title>{title}</title>\n</head>\n"]
    lines.append(f"<body>\n<h1>{title}</h1>\n")
    for entry in sorted(entries, key=lambda e: e.filename):
        href = f"simple/{quote(entry.project)}/{quote(entry.filename, safe='')}"
        attrs = f'href="{href}#sha256={entry.sha256}"'
        if entry.requires_python:
            attrs += f' data-requires-python="{html.escape(entry.requires_python, quote=True)}"'
        lines.append(f"<a {attrs}>{html.escape(entry.filename)}</a><br>\n")
    lines.append("</body>\n</html>\n")
    return "".join(lines).encode("utf-8")


def _members(
    wh: Wheelhouse, projects: Sequence[str]
) -> tuple[list[tuple[str, _Content]], list[Entry]]:
    """Every file of the export by relative path, in the order they are written."""
    names = sorted({canonicalize_name(p) for p in projects}) or wh.projects()
    known = set(wh.projects())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(
            f"the wheelhouse {wh.root} has no wheels of {', '.join(unknown)}",
            hint="run `torchbuild index list` to see what it holds",
        )
    members: list[tuple[str, _Content]] = []
    everything: list[Entry] = []
    for project in names:
        entries = wh.read_entries(project)
        for entry in sorted(entries.values(), key=lambda e: e.filename):
            path = wh.path_of(entry)
            members.append((f"simple/{project}/{entry.filename}", (path, entry.sha256, entry.size)))
            meta = path.with_name(path.name + ".metadata")
            members.append((f"simple/{project}/{meta.name}", (meta, entry.metadata_sha256, None)))
        values = list(entries.values())
        members.append((f"simple/{project}/index.html", pages.project_html(project, values)))
        members.append((f"simple/{project}/index.json", pages.project_json(project, values)))
        members.append((f".torchbuild/projects/{project}.json", dump_manifest(project, entries)))
        everything += values
    members.append(("simple/index.html", pages.root_html(names)))
    members.append(("simple/index.json", pages.root_json(names)))
    members.append(("index.html", _find_links_page(everything)))
    marker = {
        "version": 1,
        "format": EXPORT_FORMAT,
        "torchbuild": __version__,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "projects": names,
        "files": len(everything),
        "bytes": sum(e.size for e in everything),
    }
    members.append((_MARKER, (json.dumps(marker, indent=2) + "\n").encode("utf-8")))
    return members, everything


def _mismatch(path: Path, digest: str, size: int, want: str, want_size: int | None) -> None:
    if digest != want or (want_size is not None and size != want_size):
        raise WheelhouseError(
            f"{path} does not match the manifest (sha256 {digest}, manifest says {want}); "
            "nothing was exported",
            hint="run `torchbuild index verify` and repair the wheelhouse first",
        )


def _write_dir(members: list[tuple[str, _Content]], tmp: Path, *, durable: bool) -> None:
    for rel, content in members:
        path = tmp.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            with path.open("xb") as sink:
                sink.write(content)
                if durable:
                    sink.flush()
                    os.fsync(sink.fileno())
            continue
        source, want, want_size = content
        try:
            digest, size = copy_hashing(source, path, durable=durable)
        except FileNotFoundError:
            raise WheelhouseError(
                f"{source} is listed but missing; nothing was exported",
                hint="run `torchbuild index verify` and repair the wheelhouse first",
            ) from None
        _mismatch(source, digest, size, want, want_size)
    if durable:
        for directory in sorted({p for p in tmp.rglob("*") if p.is_dir()} | {tmp}):
            fsync_dir(directory)


class _HashingReader:
    """A file wrapper that hashes what tarfile reads through it."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _tar_info(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = int(datetime.now(timezone.utc).timestamp())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar(
    members: list[tuple[str, _Content]], tmp: Path, mode: str, top: str, *, durable: bool
) -> None:
    dirs_done: set[str] = set()
    with tmp.open("xb") as sink:
        with tarfile.open(fileobj=sink, mode=mode) as archive:  # type: ignore[call-overload]
            archive.addfile(_tar_info(top, 0, directory=True))
            for rel, content in members:
                parent = posixpath.dirname(rel)
                parts = parent.split("/") if parent else []
                for i in range(1, len(parts) + 1):
                    directory = "/".join(parts[:i])
                    if directory not in dirs_done:
                        dirs_done.add(directory)
                        archive.addfile(_tar_info(f"{top}/{directory}", 0, directory=True))
                if isinstance(content, bytes):
                    archive.addfile(_tar_info(f"{top}/{rel}", len(content)), io.BytesIO(content))
                    continue
                source, want, want_size = content
                try:
                    size = source.stat().st_size
                    handle = source.open("rb")
                except FileNotFoundError:
                    raise WheelhouseError(
                        f"{source} is listed but missing; nothing was exported",
                        hint="run `torchbuild index verify` and repair the wheelhouse first",
                    ) from None
                with handle:
                    reader = _HashingReader(handle)
                    archive.addfile(_tar_info(f"{top}/{rel}", size), reader)
                _mismatch(source, reader.digest.hexdigest(), reader.size, want, want_size)
        if durable:
            sink.flush()
            os.fsync(sink.fileno())


def _check_destination(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise InputError(
            f"{dest} already exists", hint="remove it, or export to another path with --to"
        )
    if dest.is_dir() and any(dest.iterdir()):
        raise InputError(
            f"{dest} already exists and is not empty",
            hint="remove it, or export to another path with --to",
        )
    if not dest.parent.is_dir():
        raise InputError(
            f"{dest.parent} does not exist", hint="create it first, or pick another --to"
        )


def export(wh: Wheelhouse, dest: Path, projects: Sequence[str] = ()) -> ExportResult:
    """Write a self-contained copy of the wheelhouse (or these projects) to a directory or tar."""
    wh.require()
    dest = Path(dest).absolute()
    root = wh.root.resolve()
    if dest.parent.resolve() == root or root in dest.parent.resolve().parents:
        raise InputError(
            f"{dest} is inside the wheelhouse {wh.root}",
            hint="export to a directory or .tar outside it",
        )
    mode = _tar_mode(dest)
    _check_destination(dest)
    tmp = dest.parent / f".tmp-{os.getpid()}-{secrets.token_hex(6)}-{dest.name}"
    # The lock keeps writers out while the files are copied (a prune must not delete a wheel
    # half-way); a read-only wheelhouse cannot change under us and is read without it.
    lock = wh.locked() if os.access(wh.state, os.W_OK) else contextlib.nullcontext()
    try:
        with lock:
            members, entries = _members(wh, projects)
            if mode is None:
                tmp.mkdir()
                _write_dir(members, tmp, durable=wh.durable)
            else:
                _write_tar(members, tmp, mode, _tar_stem(dest), durable=wh.durable)
        if mode is None and dest.is_dir():
            dest.rmdir()  # checked empty above; rename cannot replace a directory otherwise
        tmp.rename(dest)
        if wh.durable:
            fsync_dir(dest.parent)
    except OSError as exc:
        raise WheelhouseError(
            f"cannot write {dest}: {exc.strerror or exc}; nothing was exported",
            hint="free some space or fix the permissions, then export again",
        ) from None
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            unlink_quiet(tmp)
    return ExportResult(
        dest, "dir" if mode is None else "tar", tuple(entries), sum(e.size for e in entries)
    )


# -- reading an export ---------------------------------------------------------------------------


class _Tree(Protocol):
    """A wheelhouse-shaped tree to import from: a directory, or the members of a tar."""

    description: str

    def names(self, directory: str) -> list[str]: ...

    def read(self, rel: str) -> bytes | None: ...

    def open(self, rel: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...

    def local_path(self, rel: str) -> Path | None:
        """The file itself, where the tree is a directory (no extraction needed)."""

    def close(self) -> None: ...


class _DirTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def _path(self, rel: str) -> Path:
        return self.root.joinpath(*rel.split("/"))

    def names(self, directory: str) -> list[str]:
        path = self._path(directory) if directory else self.root
        try:
            return sorted(p.name for p in path.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read(self, rel: str) -> bytes | None:
        path = self._path(rel)
        return path.read_bytes() if path.is_file() else None

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[IO[bytes]]:
        with self._path(rel).open("rb") as handle:
            yield handle

    def local_path(self, rel: str) -> Path | None:
        path = self._path(rel)
        return path if path.is_file() else None

    def close(self) -> None:
        return None


def _unsafe(name: str) -> str | None:
    """Why a tar member's name is refused, or None."""
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../") or "/../" in f"/{normal}/":
        return "leaves the target directory"
    return None


class _TarTree:
    def __init__(self, path: Path) -> None:
        self.description = str(path)
        try:
            self.archive = tarfile.open(path)  # noqa: SIM115 - closed by close()
        except (tarfile.TarError, OSError) as exc:
            raise InputError(f"cannot read {path} as a tar archive: {exc}") from None
        try:
            self.members = self._check(path)
        except BaseException:
            self.archive.close()
            raise
        self.prefix = self._prefix(path)

    def local_path(self, rel: str) -> Path | None:  # noqa: ARG002 - members are not files yet
        return None

    def _check(self, path: Path) -> dict[str, tarfile.TarInfo]:
        members: dict[str, tarfile.TarInfo] = {}
        for member in self.archive.getmembers():
            why = _unsafe(member.name)
            if why is None and not (member.isfile() or member.isdir()):
                why = "is a link or a special file"
            normal = posixpath.normpath(member.name)
            if why is None and normal in members and not member.isdir():
                why = "appears twice"
            if why is not None:
                raise InputError(
                    f"{path}: the member {member.name!r} {why}; nothing was imported",
                    hint="an export holds only plain files inside one directory: check where "
                    "this archive came from",
                )
            members[normal] = member
        return members

    def _prefix(self, path: Path) -> str:
        names = [n for n in self.members if n != "."]
        if any(n.split("/", 1)[0] in ("simple", ".torchbuild") for n in names):
            return ""
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) == 1:
            return f"{tops.pop()}/"
        raise InputError(
            f"{path} does not hold a wheelhouse",
            hint="give a file written by `torchbuild index export`",
        )

    def names(self, directory: str) -> list[str]:
        base = self.prefix + directory
        base = base.rstrip("/") + "/" if base else ""
        found = {
            name[len(base) :].split("/", 1)[0]
            for name in self.members
            if name.startswith(base) and len(name) > len(base)
        }
        return sorted(found)

    def _member(self, rel: str) -> tarfile.TarInfo | None:
        member = self.members.get(posixpath.normpath(self.prefix + rel))
        return member if member is not None and member.isfile() else None

    def read(self, rel: str) -> bytes | None:
        member = self._member(rel)
        if member is None:
            return None
        handle = self.archive.extractfile(member)
        return None if handle is None else handle.read()

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[IO[bytes]]:
        member = self._member(rel)
        handle = None if member is None else self.archive.extractfile(member)
        if handle is None:
            raise FileNotFoundError(rel)
        with handle:
            yield handle

    def close(self) -> None:
        self.archive.close()


def _open_tree(source: Path) -> _Tree:
    if source.is_dir():
        if not (source / "simple").is_dir():
            raise InputError(
                f"{source} is not a wheelhouse or an export (it has no simple/ directory)",
                hint="give a directory or .tar written by `torchbuild index export`",
            )
        return _DirTree(source)
    if source.is_file():
        return _TarTree(source)
    raise InputError(f"{source} does not exist")


# -- import --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportItem:
    """One wheel of the source and what happens to it."""

    project: str
    filename: str
    sha256: str
    size: int | None
    origin: str
    status: ImportStatus
    local_sha256: str | None = None


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_` did (nothing on a dry run)."""

    source: str
    items: tuple[ImportItem, ...]
    added: tuple[Entry, ...]
    dry_run: bool

    def with_status(self, status: ImportStatus) -> tuple[ImportItem, ...]:
        return tuple(item for item in self.items if item.status == status)


def _damaged(tree: _Tree, what: str) -> WheelhouseError:
    return WheelhouseError(
        f"{tree.description}: {what}; nothing was imported",
        hint="export it again from the source wheelhouse, or run `torchbuild index verify` there",
    )


def _page_hashes(tree: _Tree, project: str) -> dict[str, str | None] | None:
    """filename -> sha256 as the project's page lists it, or None when it has no page."""
    for name, parse in (("index.json", parse_json), ("index.html", parse_html)):
        body = tree.read(f"simple/{project}/{name}")
        if body is None:
            continue
        try:
            links = parse(body, f"file:///simple/{project}/")
        except (ValueError, KeyError, TypeError) as exc:
            raise _damaged(
                tree, f"the page simple/{project}/{name} cannot be read: {exc}"
            ) from None
        return {link.filename: link.sha256 for link in links if link.filename.endswith(".whl")}
    return None


def _expected(tree: _Tree) -> list[tuple[Entry | None, ImportItem]]:
    """Every wheel the tree lists, from its manifests (or, without them, from its pages)."""
    out: list[tuple[Entry | None, ImportItem]] = []
    manifests = [n for n in tree.names(".torchbuild/projects") if n.endswith(".json")]
    projects = sorted(n[: -len(".json")] for n in manifests)
    for project in projects:
        if project != canonicalize_name(project):
            raise _damaged(tree, f"the manifest of {project!r} is not named canonically")
        text = tree.read(f".torchbuild/projects/{project}.json") or b""
        try:
            entries = load_manifest(text.decode("utf-8"), project)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _damaged(tree, f"the manifest of {project} is damaged: {exc}") from None
        listed = _page_hashes(tree, project)
        for entry in sorted(entries.values(), key=lambda e: e.filename):
            if entry.project != project:
                raise _damaged(tree, f"the manifest of {project} lists {entry.filename}")
            if listed is not None and listed.get(entry.filename, "") != entry.sha256:
                raise _damaged(
                    tree,
                    f"the page of {project} does not list {entry.filename} with the manifest's "
                    "sha256",
                )
            item = ImportItem(
                project, entry.filename, entry.sha256, entry.size, entry.origin, "add"
            )
            out.append((entry, item))
    if projects:
        return out
    # No manifests: a plain PEP 503 tree. Its pages' hashes are all there is to check against.
    for project in tree.names("simple"):
        listed = _page_hashes(tree, project)
        for filename, sha in sorted((listed or {}).items()):
            if not sha:
                raise _damaged(tree, f"the page of {project} lists {filename} without a sha256")
            out.append((None, ImportItem(project, filename, sha.lower(), None, "", "add")))
    return out


def _verify_tree(tree: _Tree, expected: list[tuple[Entry | None, ImportItem]]) -> None:
    for entry, item in expected:
        rel = f"simple/{item.project}/{item.filename}"
        try:
            with tree.open(rel) as handle:
                digest, size = hash_stream(handle)
        except FileNotFoundError:
            raise _damaged(tree, f"{rel} is listed but missing") from None
        if digest != item.sha256 or (item.size is not None and size != item.size):
            raise _damaged(tree, f"{rel} has sha256 {digest}, but its listing says {item.sha256}")
        if entry is not None:
            meta = tree.read(rel + ".metadata")
            if meta is not None and hashlib.sha256(meta).hexdigest() != entry.metadata_sha256:
                raise _damaged(tree, f"{rel}.metadata differs from its manifest")


def plan_import(wh: Wheelhouse, source: Path, projects: Sequence[str] = ()) -> ImportResult:
    """Check ``source`` completely and compare it with the wheelhouse; change nothing."""
    tree = _open_tree(Path(source))
    try:
        return _plan(wh, tree, projects)
    finally:
        tree.close()


def _plan(wh: Wheelhouse, tree: _Tree, projects: Sequence[str]) -> ImportResult:
    expected = _expected(tree)
    wanted = {canonicalize_name(p) for p in projects}
    if wanted:
        missing = wanted - {item.project for _, item in expected}
        if missing:
            raise InputError(
                f"{tree.description} has no wheels of {', '.join(sorted(missing))}",
                hint="leave out --project to import everything it holds",
            )
        expected = [(e, item) for e, item in expected if item.project in wanted]
    _verify_tree(tree, expected)
    items = []
    for _, item in expected:
        local = wh.read_entries(item.project).get(item.filename)
        if local is None:
            items.append(item)
            continue
        same = sameness(local.sha256, item.sha256)
        status: ImportStatus = "add" if same == "missing" else same
        items.append(
            ImportItem(
                item.project,
                item.filename,
                item.sha256,
                item.size,
                item.origin,
                status,
                local.sha256,
            )
        )
    return ImportResult(tree.description, tuple(items), (), dry_run=True)


def _clean_dead_imports(wh: Wheelhouse) -> None:
    """Remove extraction directories whose importing process has died."""
    remove_dead_temps(wh.state, _IMPORT_PREFIX, remove=partial(shutil.rmtree, ignore_errors=True))


def import_(
    wh: Wheelhouse,
    source: Path,
    projects: Sequence[str] = (),
    *,
    dry_run: bool = False,
    plan: ImportResult | None = None,
) -> ImportResult:
    """Verify ``source`` completely (unless ``plan`` is its check), then add what is missing."""
    tree = _open_tree(Path(source))
    try:
        if plan is None:
            plan = _plan(wh, tree, projects)
        conflicts = plan.with_status("conflict")
        if conflicts:
            raise conflict_error(
                [
                    Conflict(c.filename, ("local", c.local_sha256 or "?"), ("imported", c.sha256))
                    for c in conflicts
                ],
                where="already in the wheelhouse",
                nothing_done="nothing was imported",
                hint="wheels are immutable: remove the local file first, or import with "
                "--project to leave that project out",
            )
        if dry_run:
            return plan
        added = _add_all(wh, tree, plan)
    finally:
        tree.close()
    return ImportResult(plan.source, plan.items, tuple(added), dry_run=False)


def _add_all(wh: Wheelhouse, tree: _Tree, plan: ImportResult) -> list[Entry]:
    todo = plan.with_status("add")
    added: list[Entry] = []
    if not todo:
        return added
    wh.state.mkdir(parents=True, exist_ok=True)
    _clean_dead_imports(wh)
    # Extracted wheels keep their own filenames (Wheelhouse.add reads the name from the path),
    # so they go into a private directory; its name carries our pid for the cleanup above.
    scratch = wh.state / f"{_IMPORT_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    try:
        for item in todo:
            rel = f"simple/{item.project}/{item.filename}"
            origin = item.origin or f"imported from {tree.description}"
            path = tree.local_path(rel)
            extracted = path is None
            if path is None:
                scratch.mkdir(exist_ok=True)
                path = scratch / item.filename
                with tree.open(rel) as handle, path.open("xb") as sink:
                    digest, _ = hash_stream(handle, sink)
                if digest != item.sha256:
                    raise _damaged(tree, f"{rel} changed while it was imported")
            result = wh.add(path, origin=origin)
            if extracted:
                unlink_quiet(path)
            if result.entry.sha256 != item.sha256:
                raise WheelhouseError(
                    f"{rel} changed while it was imported (sha256 now {result.entry.sha256})",
                    hint="import again from a source nobody is writing to",
                )
            if result.added:
                added.append(result.entry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return added
