"""Installed-package databases on the target (dpkg, apk): versions without running anything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fs import Root

__all__ = [
    "Packages",
    "parse_apk_installed",
    "parse_dpkg_status",
    "read_packages",
    "upstream_version",
]

_UPSTREAM = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)*)")


def upstream_version(version: str) -> str | None:
    """The upstream release in a distribution version: ``1:2.36-9+rpt2+deb12u4`` -> ``2.36``."""
    m = _UPSTREAM.match(version.strip())
    return m.group(1) if m else None


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Installed packages (``Status: install ok installed``) and their versions."""
    installed: dict[str, str] = {}
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        name = fields.get("Package")
        if not name or "Version" not in fields:
            continue
        if not fields.get("Status", "install ok installed").endswith(" installed"):
            continue
        installed.setdefault(name, fields["Version"])
    return installed


def parse_apk_installed(text: str) -> dict[str, str]:
    """Alpine's ``lib/apk/db/installed``: ``P:name`` and ``V:version`` lines per package."""
    installed: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if line.startswith("P:"):
            name = line[2:].strip()
        elif line.startswith("V:") and name:
            installed[name] = line[2:].strip()
            name = None
    return installed


@dataclass(frozen=True)
class Packages:
    versions: dict[str, str]

    def version(self, name: str) -> str | None:
        """Upstream version of an installed package, or None."""
        raw = self.versions.get(name)
        return upstream_version(raw) if raw else None

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(name, upstream version) of installed packages whose name matches ``pattern``."""
        rx = re.compile(pattern)
        out = []
        for name, raw in sorted(self.versions.items()):
            version = upstream_version(raw)
            if rx.fullmatch(name) and version:
                out.append((name, version))
        return out


def read_packages(root: Root) -> Packages:
    dpkg = root.read_text("/var/lib/dpkg/status")
    if dpkg:
        return Packages(parse_dpkg_status(dpkg))
    apk = root.read_text("/lib/apk/db/installed")
    return Packages(parse_apk_installed(apk) if apk else {})
