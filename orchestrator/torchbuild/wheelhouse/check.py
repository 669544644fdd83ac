"""``index verify``: rehash everything and compare the directory with what the manifests say.

Findings, each a verdict on one path:

``missing``     a listed wheel or its ``.metadata`` is not there
``mismatch``    a file's size or sha256 differs from the manifest, or ``.metadata`` differs
                from the METADATA inside the wheel
``stale-page``  an index page differs from the one the manifest renders to
``orphan``      a file in the served tree that no manifest lists (or a symlink)
``damaged``     a manifest or an interrupted operation that cannot be read
``pending``     an interrupted operation that could not be finished (read-only wheelhouse)

Verification takes the writer lock, so it first finishes whatever a killed writer left behind
and then sees a quiet wheelhouse.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from hashlib import sha256
from typing import TYPE_CHECKING

from ..errors import InputError, WheelhouseError
from ..fs import sha256_file
from ..wheel import read_metadata
from . import pages
from .store import PAGE_NAMES, Wheelhouse

if TYPE_CHECKING:
    from pathlib import Path

    from .manifest import Entry

__all__ = ["Finding", "VerifyReport", "find_orphans", "verify"]


@dataclass(frozen=True)
class Finding:
    kind: str
    path: str
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    files: int = 0
    bytes: int = 0
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings


class _Collector:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(self, kind: str, path: Path, detail: str) -> None:
        self.findings.append(Finding(kind, str(path), detail))


def _check_entry(wh: Wheelhouse, entry: Entry, out: _Collector) -> int:
    """Check one wheel and its metadata file; return the bytes read."""
    wheel = wh.path_of(entry)
    meta = wheel.with_name(wheel.name + ".metadata")
    if not wheel.is_file() or wheel.is_symlink():
        out.add("missing", wheel, "listed in the manifest but not a file")
        return 0
    digest, size = sha256_file(wheel)
    if size != entry.size or digest != entry.sha256:
        out.add(
            "mismatch",
            wheel,
            f"sha256 {digest[:16]}... size {size}, manifest says "
            f"{entry.sha256[:16]}... size {entry.size}",
        )
        return size
    try:
        meta_bytes = meta.read_bytes()
    except FileNotFoundError:
        out.add("missing", meta, "the PEP 658 metadata file is missing")
        return size
    if sha256(meta_bytes).hexdigest() != entry.metadata_sha256:
        out.add("mismatch", meta, "sha256 differs from the manifest")
        return size
    try:
        same = read_metadata(wheel) == meta_bytes
    except (zipfile.BadZipFile, OSError) as exc:
        out.add("mismatch", wheel, f"cannot be read as a zip: {exc}")
        return size
    except InputError as exc:  # no METADATA of its own, or the name does not parse
        out.add("mismatch", wheel, exc.message)
        return size
    if not same:
        out.add("mismatch", meta, "differs from the METADATA inside the wheel")
    return size


def _check_page(path: Path, expected: bytes, out: _Collector) -> None:
    try:
        actual = path.read_bytes()
    except FileNotFoundError:
        out.add("stale-page", path, "missing")
        return
    if actual != expected:
        out.add("stale-page", path, "differs from the page the manifest renders to")


def find_orphans(wh: Wheelhouse, listed: dict[str, set[str]]) -> list[Path]:
    """Paths under ``simple/`` that no manifest accounts for; ``listed`` maps project -> files."""
    orphans: list[Path] = []
    try:
        top = sorted(os.scandir(wh.simple), key=lambda d: d.name)
    except FileNotFoundError:
        return orphans
    for item in top:
        path = wh.simple / item.name
        if item.name in PAGE_NAMES and item.is_file(follow_symlinks=False):
            continue
        if not item.is_dir(follow_symlinks=False) or item.name not in listed:
            orphans.append(path)
            continue
        wanted = set(PAGE_NAMES)
        for filename in listed[item.name]:
            wanted.update((filename, f"{filename}.metadata"))
        orphans.extend(
            path / child.name
            for child in sorted(os.scandir(path), key=lambda d: d.name)
            if child.name not in wanted or child.is_symlink() or not child.is_file()
        )
    return orphans


def verify(wh: Wheelhouse) -> VerifyReport:
    """Rehash every wheel and check every page; see the module docstring for the findings."""
    wh.require()
    if os.access(wh.state, os.W_OK):
        with wh.locked() as notes:
            return _verify(wh, tuple(notes))
    # A read-only copy (a mounted image, a mirror): check it as it is, without the lock.
    out = _Collector()
    pending = sorted(wh.pending_dir.glob("*.json")) if wh.pending_dir.is_dir() else []
    for path in pending:
        out.add(
            "pending", path, "an interrupted operation; run verify where the wheelhouse is writable"
        )
    report = _verify(wh, ("read-only: checked without the lock",))
    return VerifyReport(
        report.files, report.bytes, tuple(out.findings) + report.findings, report.notes
    )


def _verify(wh: Wheelhouse, notes: tuple[str, ...]) -> VerifyReport:
    out = _Collector()
    listed: dict[str, set[str]] = {}
    files = total = 0
    projects = wh.projects()
    for project in projects:
        try:
            entries = wh.read_entries(project)
        except WheelhouseError as exc:
            out.add("damaged", wh.manifest_path(project), exc.message)
            listed[project] = set()
            continue
        listed[project] = set(entries)
        for entry in sorted(entries.values(), key=lambda e: e.filename):
            if entry.project != project:
                out.add("damaged", wh.manifest_path(project), f"lists {entry.filename}")
                continue
            total += _check_entry(wh, entry, out)
            files += 1
        project_dir = wh.project_dir(project)
        _check_page(project_dir / "index.html", pages.project_html(project, entries.values()), out)
        _check_page(project_dir / "index.json", pages.project_json(project, entries.values()), out)
    _check_page(wh.simple / "index.html", pages.root_html(projects), out)
    _check_page(wh.simple / "index.json", pages.root_json(projects), out)
    for path in find_orphans(wh, listed):
        out.add("orphan", path, "not listed in any manifest")
    return VerifyReport(files, total, tuple(out.findings), notes)
