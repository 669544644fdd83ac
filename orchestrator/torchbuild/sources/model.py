"""What the sources stage is asked for and what it hands back.

A :class:`SourceRequest` names material (a directory, an archive, a Debian source package or a
git repository); :func:`torchbuild.sources.fetch` turns it into a :class:`Source`: the same
material verified, cached and pinned to a digest that the build key can use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["KINDS", "Source", "SourceRequest", "redact"]

#: The kinds of material a source can be.
KINDS = ("dir", "archive", "dsc", "git")


@dataclass(frozen=True)
class SourceRequest:
    """Where to get a package's source, and what it must match."""

    #: Canonical project name.
    package: str
    #: A local directory, an archive, a Debian ``.dsc``, or a git URL.
    location: str
    version: str | None = None
    #: The expected sha256 (hex) of an archive.
    sha256: str | None = None
    #: git: a tag or branch; only a label, pinned to the commit it resolves to.
    ref: str | None = None
    #: git: an exact commit; wins over ``ref``.
    commit: str | None = None
    submodules: bool = False


@dataclass(frozen=True)
class Source:
    """Source material that was fetched and verified."""

    package: str
    #: ``"dir"``, ``"archive"``, ``"dsc"`` or ``"git"``.
    kind: str
    #: As given: an absolute path or a URL.
    location: str
    #: ``sha256:<hex>`` (archive, .dsc), ``git:<commit>``, ``tree:<hex>`` (directory).
    digest: str
    #: One line for logs.
    description: str
    #: The cached material (archive file, .dsc directory, git checkout) or the user's directory.
    path: Path
    #: (name, sha256) of a .dsc's patch series, in the order it is applied.
    distro_patches: tuple[tuple[str, str], ...] = ()
    version: str | None = None
    #: git: the tag or branch the commit was resolved from.
    ref: str | None = None
    submodules: bool = False

    def provenance(self) -> dict[str, Any]:
        """A JSON-able record of where the tree came from, for the wheel's provenance file."""
        record: dict[str, Any] = {
            "package": self.package,
            "kind": self.kind,
            "location": redact(self.location),
            "digest": self.digest,
        }
        if self.version is not None:
            record["version"] = self.version
        if self.kind == "git":
            record["commit"] = self.digest.split(":", 1)[1]
            record["ref"] = self.ref
            record["submodules"] = self.submodules
        if self.kind == "dsc":
            record["distro_patches"] = [
                {"name": name, "sha256": sha} for name, sha in self.distro_patches
            ]
        return record


def redact(location: str) -> str:
    """``location`` without the user and token an http(s) URL may carry (they must not leak)."""
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return location
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
