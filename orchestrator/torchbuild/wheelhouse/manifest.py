"""The wheelhouse's own record of what it holds: one small JSON manifest per project.

The manifest is the source of truth; the index pages are rendered from it. Keeping one file per
project is what makes adding a wheel cheap: only that project's manifest and pages change.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from ..wheel import WheelName, parse_name

__all__ = ["MANIFEST_VERSION", "Entry", "dump_manifest", "load_manifest"]

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Entry:
    """One wheel in the wheelhouse."""

    filename: str
    sha256: str
    size: int
    requires_python: str | None
    metadata_sha256: str  #: sha256 of the ``.metadata`` file (PEP 658)
    origin: str  #: where it came from: "built ...", "prebuilt URL", "external PATH"
    added: str  #: UTC time it was added, ISO 8601 with a trailing "Z"

    @property
    def name(self) -> WheelName:
        return parse_name(self.filename)

    @property
    def project(self) -> str:
        return self.name.project

    def to_json(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies and is the slowest part of a big manifest.
        return {
            "filename": self.filename,
            "sha256": self.sha256,
            "size": self.size,
            "requires_python": self.requires_python,
            "metadata_sha256": self.metadata_sha256,
            "origin": self.origin,
            "added": self.added,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            filename=str(data["filename"]),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            requires_python=None
            if data.get("requires_python") is None
            else str(data["requires_python"]),
            metadata_sha256=str(data["metadata_sha256"]),
            origin=str(data.get("origin", "")),
            added=str(data.get("added", "")),
        )


def load_manifest(text: str, project: str) -> dict[str, Entry]:
    """Entries by filename; raise ``ValueError`` when the text is not a manifest of ``project``."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        raise ValueError("not a version 1 manifest")
    if data.get("project") != project:
        raise ValueError(f"manifest is for {data.get('project')!r}, not {project!r}")
    try:
        entries = [Entry.from_json(item) for item in data["files"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed entry: {exc}") from None
    return {entry.filename: entry for entry in entries}


@functools.lru_cache(maxsize=65536)
def _line(entry: Entry) -> str:
    return json.dumps(entry.to_json(), sort_keys=True)


def dump_manifest(project: str, entries: dict[str, Entry]) -> bytes:
    # One line per file, each rendered once per process, no indent (json's C encoder only runs
    # without it): the manifest is rewritten whole on every add, and may list 1,000 files.
    lines = ",\n".join(_line(entries[name]) for name in sorted(entries))
    head = json.dumps({"version": MANIFEST_VERSION, "project": project})[:-1]
    return f'{head}, "files": [\n{lines}\n]}}\n'.encode()
