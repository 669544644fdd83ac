"""The wheelhouse: a directory that is itself a package index, and the only code that writes it.

Layout::

    <root>/simple/index.html, index.json               root pages (PEP 503 / PEP 691)
    <root>/simple/<project>/index.html, index.json     project pages
    <root>/simple/<project>/<wheel>                    the wheel
    <root>/simple/<project>/<wheel>.metadata           its METADATA (PEP 658)
    <root>/.torchbuild/projects/<project>.json         manifests: the source of truth
    <root>/.torchbuild/pending/*.json                  the operation in flight (an "intent")
    <root>/.torchbuild/tmp/                            temporary files, named after their writer
    <root>/.torchbuild/lock                            serialises writers
    <root>/config/                                     `index config` output (not served)

Crash safety. A writer holds the lock, records an intent, puts the files in place (each by an
atomic rename), commits the manifest, rewrites the pages and only then drops the intent. Whoever
takes the lock next finishes or rolls back any intent it finds before doing anything else
(:meth:`Wheelhouse.recover`): an add whose wheel is in place is completed, one whose wheel is not
is undone; a removal is always completed. Pages only ever list files that exist: files appear
before the manifest lists them and disappear after it stops listing them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout
from packaging.utils import canonicalize_name

from ..errors import InputError, WheelhouseError
from ..fs import (
    atomic_write,
    copy_hashing,
    fsync_dir,
    remove_dead_temps,
    sha256_file,
    temp_path,
    unlink_quiet,
)
from ..wheel import WheelInfo, inspect_wheel, parse_name
from . import pages
from .manifest import Entry, dump_manifest, load_manifest

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["PAGE_NAMES", "AddResult", "Wheelhouse"]

log = logging.getLogger(__name__)

#: The files in every project directory that are not wheels or their metadata.
PAGE_NAMES = ("index.html", "index.json")


@dataclass(frozen=True)
class AddResult:
    """What :meth:`Wheelhouse.add` did: ``added`` is False when the same file was already there."""

    entry: Entry
    added: bool
    path: Path


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Wheelhouse:
    """A wheelhouse at ``root``; nothing is created until the first write.

    ``durable`` fsyncs files and directories so a power cut, not only a killed process, leaves a
    consistent index. ``lock_timeout`` is how long a writer waits for another one.
    """

    def __init__(self, root: Path, *, durable: bool = True, lock_timeout: float = 600.0) -> None:
        self.root = Path(root)
        self.simple = self.root / "simple"
        self.state = self.root / ".torchbuild"
        self.projects_dir = self.state / "projects"
        self.pending_dir = self.state / "pending"
        self.tmp_dir = self.state / "tmp"
        self.lock_path = self.state / "lock"
        self.durable = durable
        self.lock_timeout = lock_timeout
        # One lock object per Wheelhouse: re-entrant within a thread, exclusive across threads
        # (thread-local) and processes (flock, released by the kernel if the holder dies).
        self._lock = FileLock(str(self.lock_path))

    def __repr__(self) -> str:
        return f"Wheelhouse({str(self.root)!r})"

    # ----------------------------------------------------------------------------- reading

    def exists(self) -> bool:
        return self.projects_dir.is_dir()

    def require(self) -> None:
        """Raise unless a wheelhouse exists at ``root``."""
        if not self.exists():
            raise WheelhouseError(
                f"no wheelhouse at {self.root}",
                hint="add a wheel with `torchbuild index add WHEEL`, or pass --wheelhouse DIR",
            )

    def project_dir(self, project: str) -> Path:
        return self.simple / project

    def manifest_path(self, project: str) -> Path:
        return self.projects_dir / f"{project}.json"

    def projects(self) -> list[str]:
        """Canonical names of the projects that have at least one wheel."""
        try:
            names = [entry.name for entry in self.projects_dir.iterdir()]
        except FileNotFoundError:
            return []
        except OSError as exc:  # under a regular file, unreadable
            raise WheelhouseError(
                f"cannot read the wheelhouse {self.root}: {exc.strerror or exc}",
                hint="pass --wheelhouse DIR (or set TORCHBUILD_WHEELHOUSE) to a wheelhouse",
            ) from None
        return sorted(n[: -len(".json")] for n in names if n.endswith(".json"))

    def read_entries(self, project: str) -> dict[str, Entry]:
        """A project's entries by filename (empty when unknown); raise on a damaged manifest."""
        path = self.manifest_path(project)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise WheelhouseError(
                f"cannot read the manifest {path}: {exc.strerror or exc}",
                hint="fix its permissions, then run `torchbuild index verify`",
            ) from None
        except UnicodeDecodeError as exc:
            raise WheelhouseError(
                f"the manifest {path} is damaged: byte {exc.start} is not UTF-8",
                hint="restore it from a backup, or move the project away and add its wheels again",
            ) from None
        try:
            return load_manifest(text, project)
        except ValueError as exc:
            raise WheelhouseError(
                f"the manifest {path} is damaged: {exc}",
                hint="restore it from a backup, or move the project away and add its wheels again",
            ) from None

    def find(self, project: str) -> list[Entry]:
        """The wheels of ``project`` (any spelling of the name), newest version first."""
        entries = self.read_entries(canonicalize_name(project)).values()
        return sorted(entries, key=lambda e: (e.name.version, e.filename), reverse=True)

    def entries(self) -> list[Entry]:
        """Every wheel, by project, newest version first."""
        return [entry for project in self.projects() for entry in self.find(project)]

    def path_of(self, entry: Entry) -> Path:
        return self.project_dir(entry.project) / entry.filename

    # ----------------------------------------------------------------------------- locking

    @contextlib.contextmanager
    def locked(self) -> Iterator[list[str]]:
        """Hold the writer lock; yields the notes of the recovery run on first entry."""
        if self._lock.is_locked:  # re-entered by this thread: recovery already ran
            with self._lock:
                yield []
            return
        self._ensure_layout()
        try:
            self._lock.acquire(timeout=self.lock_timeout, poll_interval=0.005)
        except Timeout:
            raise WheelhouseError(
                f"the wheelhouse {self.root} stayed locked for {self.lock_timeout:.0f} s",
                hint="another torchbuild is writing to it; wait for it to finish",
            ) from None
        except OSError as exc:  # the lock path is a directory, read-only, not ours
            raise WheelhouseError(
                f"cannot take the wheelhouse lock {self.lock_path}: {exc.strerror or exc}",
                hint="it must be a plain file torchbuild can write; remove whatever is in its "
                "place when no torchbuild is running",
            ) from None
        try:
            notes = self._recover_locked()
            for note in notes:
                log.info("%s: %s", self.root, note)
            if not (self.simple / "index.html").is_file():
                self.write_root()  # an empty wheelhouse is an empty, valid index
            yield notes
        finally:
            self._lock.release()

    def _ensure_layout(self) -> None:
        try:
            for directory in (self.simple, self.projects_dir, self.pending_dir, self.tmp_dir):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WheelhouseError(
                f"cannot create the wheelhouse at {self.root}: {exc.strerror or exc}",
                hint="pass --wheelhouse DIR (or set TORCHBUILD_WHEELHOUSE) to a writable directory",
            ) from None

    def recover(self) -> list[str]:
        """Finish or undo whatever a killed writer left behind; return what was done."""
        with self.locked() as notes:
            return notes

    # ----------------------------------------------------------------------------- adding

    def add(self, wheel: Path, *, origin: str, check_crc: bool = True) -> AddResult:
        """Validate ``wheel`` and publish it; the same file twice is a no-op.

        A different file under a filename that is already listed is refused: wheels are
        immutable, and a board that cached the old one would never notice the change.
        """
        wheel = Path(wheel)
        if not wheel.is_file():
            raise InputError(f"{wheel} is not a file", hint="give the path of a .whl file")
        parse_name(wheel.name)  # a bad name fails before anything is copied
        self._ensure_layout()
        tmp = temp_path(self.tmp_dir, ".whl")
        try:
            # Copy and check outside the lock: a 400 MB wheel must not hold up other writers.
            # The copy is what gets validated and published, so a source that changes under us
            # cannot slip past the checks.
            try:
                digest, size = copy_hashing(wheel, tmp, durable=self.durable)
            except OSError as exc:
                if exc.filename == str(wheel):
                    raise InputError(f"cannot read {wheel}: {exc.strerror or exc}") from None
                raise
            info = inspect_wheel(tmp, filename=wheel.name, check_crc=check_crc, shown=str(wheel))
            with self.locked():
                return self._add_locked(info, tmp, digest, size, origin)
        except OSError as exc:  # a full disk, a read-only mount, permissions
            raise WheelhouseError(
                f"cannot write to the wheelhouse {self.root}: {exc.strerror or exc}",
                hint="free some space or fix the permissions, then add the wheel again",
            ) from None
        finally:
            # The clean-up must not replace the error being reported (a read-only wheelhouse
            # refuses the unlink as it refused the copy).
            with contextlib.suppress(OSError):
                unlink_quiet(tmp)

    def _add_locked(
        self, info: WheelInfo, tmp: Path, digest: str, size: int, origin: str
    ) -> AddResult:
        project, filename = info.project, info.filename
        entries = self.read_entries(project)
        final = self.project_dir(project) / filename
        existing = entries.get(filename)
        if existing is not None:
            if existing.sha256 == digest:
                return AddResult(existing, added=False, path=final)
            raise WheelhouseError(
                f"{filename} is already in the wheelhouse with different contents "
                f"(sha256 {existing.sha256[:16]}..., this file {digest[:16]}...)",
                hint="wheels are immutable: give the new one another version or build tag, "
                "or remove the old one first (`torchbuild index remove PROJECT==VERSION`)",
            )
        adopt = False
        if final.exists() or final.is_symlink():
            # Not listed, yet there: a file someone copied in by hand. Take it only if identical.
            if final.is_symlink() or not final.is_file() or sha256_file(final) != (digest, size):
                raise WheelhouseError(
                    f"{final} exists but is not listed in the wheelhouse",
                    hint="move it away, or delete unlisted files with `index prune --orphans`",
                )
            adopt = True
        entry = Entry(
            filename=filename,
            sha256=digest,
            size=size,
            requires_python=info.requires_python,
            metadata_sha256=sha256(info.metadata).hexdigest(),
            origin=origin,
            added=_now(),
        )
        intent = self._write_intent({"op": "add", "project": project, "entry": entry.to_json()})
        try:
            project_dir = self.project_dir(project)
            project_dir.mkdir(exist_ok=True)
            self._write(project_dir / f"{filename}.metadata", info.metadata)
            if not adopt:
                tmp.replace(final)  # the wheel appears last, and complete
            if self.durable:
                fsync_dir(project_dir)
            entries[filename] = entry
            self._commit(project, entries, root_changed=len(entries) == 1)
            intent.unlink()
        except Exception:
            # A live failure (a full disk, say) is undone, so the wheelhouse is exactly as it
            # was: the wheel is removed first, which also frees the space the rest needs. If
            # even that fails, the intent stays and the next writer's recovery settles it.
            try:
                if not adopt:
                    unlink_quiet(final)
                unlink_quiet(self.project_dir(project) / f"{filename}.metadata")
                entries.pop(filename, None)
                self._commit(project, entries, root_changed=True)
                if not entries:  # the project's directory was made for this add
                    with contextlib.suppress(OSError):
                        self.project_dir(project).rmdir()
                intent.unlink()
            except Exception:  # noqa: BLE001 - the original error is the one to report
                with contextlib.suppress(Exception):
                    self._recover_locked()
            raise
        return AddResult(entry, added=True, path=final)

    # ----------------------------------------------------------------------------- removing

    def remove(self, entries: Iterable[Entry]) -> list[Entry]:
        """Remove these wheels (by filename); return those that were listed."""
        removed: list[Entry] = []
        by_project: dict[str, list[str]] = {}
        for entry in entries:
            by_project.setdefault(entry.project, []).append(entry.filename)
        with self.locked():
            for project, filenames in sorted(by_project.items()):
                listed = self.read_entries(project)
                removed += [listed[f] for f in filenames if f in listed]
                intent = self._write_intent(
                    {"op": "remove", "project": project, "filenames": sorted(filenames)}
                )
                self._finish_remove(project, filenames)
                intent.unlink()
        return removed

    def _finish_remove(self, project: str, filenames: Iterable[str]) -> None:
        # Manifest and pages first, files last: a page never links a deleted file.
        names = set(filenames)
        entries = self.read_entries(project)
        kept = {f: e for f, e in entries.items() if f not in names}
        self._commit(project, kept, root_changed=True)
        project_dir = self.project_dir(project)
        for name in sorted(names):
            unlink_quiet(project_dir / name)
            unlink_quiet(project_dir / f"{name}.metadata")
        if not kept:
            with contextlib.suppress(OSError):
                project_dir.rmdir()

    # ----------------------------------------------------------------------------- recovery

    def _write_intent(self, intent: dict[str, Any]) -> Path:
        path = self.pending_dir / f"{time.time_ns()}-{os.getpid()}.json"
        self._write(path, json.dumps(intent, sort_keys=True).encode("utf-8"))
        return path

    def _recover_locked(self) -> list[str]:
        notes = [
            f"removed a dead writer's temporary file {n}" for n in remove_dead_temps(self.tmp_dir)
        ]
        try:
            pending = sorted(p for p in self.pending_dir.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return notes
        for path in pending:
            try:
                intent = json.loads(path.read_text(encoding="utf-8"))
                op, project = intent["op"], intent["project"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise WheelhouseError(
                    f"cannot read the interrupted operation {path}: {exc}",
                    hint="inspect and delete it, then run `torchbuild index verify`",
                ) from None
            if op == "add":
                notes.append(self._finish_add(project, Entry.from_json(intent["entry"])))
            elif op == "remove":
                self._finish_remove(project, intent["filenames"])
                notes.append(f"completed an interrupted removal from {project}")
            else:
                raise WheelhouseError(f"unknown operation {op!r} in {path}")
            path.unlink()
        return notes

    def _finish_add(self, project: str, entry: Entry) -> str:
        entries = self.read_entries(project)
        project_dir = self.project_dir(project)
        final = project_dir / entry.filename
        if entry.filename not in entries:
            complete = final.is_file() and sha256_file(final) == (entry.sha256, entry.size)
            if complete:
                entries[entry.filename] = entry
            else:
                # The wheel never arrived (or arrived damaged): undo the rest.
                unlink_quiet(final)
                unlink_quiet(project_dir / f"{entry.filename}.metadata")
                self._commit(project, entries, root_changed=True)
                with contextlib.suppress(OSError):
                    project_dir.rmdir()
                return f"rolled back an interrupted add of {entry.filename}"
        self._commit(project, entries, root_changed=True)
        return f"completed an interrupted add of {entry.filename}"

    # ----------------------------------------------------------------------------- writing

    def _write(self, path: Path, data: bytes) -> None:
        atomic_write(path, data, tmp_dir=self.tmp_dir, durable=self.durable)

    def _commit(self, project: str, entries: dict[str, Entry], *, root_changed: bool) -> None:
        """Write the manifest (the commit point), then the pages rendered from it."""
        manifest = self.manifest_path(project)
        if entries:
            self._write(manifest, dump_manifest(project, entries))
        else:
            unlink_quiet(manifest)
        if self.durable:
            fsync_dir(self.projects_dir)
        self.write_pages(project, entries)
        if root_changed:
            self.write_root()

    def write_pages(self, project: str, entries: dict[str, Entry]) -> None:
        project_dir = self.project_dir(project)
        if not entries:
            for name in PAGE_NAMES:
                unlink_quiet(project_dir / name)
            return
        project_dir.mkdir(parents=True, exist_ok=True)
        values = entries.values()
        self._write(project_dir / "index.json", pages.project_json(project, values))
        self._write(project_dir / "index.html", pages.project_html(project, values))

    def write_root(self) -> None:
        projects = self.projects()
        self._write(self.simple / "index.json", pages.root_json(projects))
        self._write(self.simple / "index.html", pages.root_html(projects))
