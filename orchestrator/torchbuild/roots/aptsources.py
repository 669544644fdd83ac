"""The machine's apt sources, read to find the Debian mirror a new root is fetched from.

torchbuild never names a mirror itself: the archive a root comes from is whatever this machine
already uses (a local mirror, a caching proxy, a snapshot), unless the user passes ``--mirror``.
Both formats apt reads are understood: deb822 ``*.sources`` stanzas and one-line ``*.list``
entries (``deb [options] URI SUITE COMPONENT...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "AptSource",
    "debian_mirror",
    "host_mirror",
    "is_debian_archive",
    "parse_deb822",
    "parse_one_line",
    "read_apt_sources",
]

APT_DIR = Path("/etc/apt")

# Schemes debootstrap can fetch from; cdrom:, mirror+file: and tor+http: are apt-only.
_FETCHABLE = ("http", "https", "ftp", "file")
_TYPES = ("deb", "deb-src")


@dataclass(frozen=True)
class AptSource:
    """One (type, URI, suite) entry of the apt configuration."""

    kind: str
    uri: str
    suite: str
    components: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    origin: str

    def option(self, name: str) -> str | None:
        """An option's value (``signed-by``, ``arch``...), names compared without case."""
        for key, value in self.options:
            if key == name.lower():
                return value
        return None


def _stanzas(text: str) -> Iterable[tuple[int, dict[str, str]]]:
    """deb822 paragraphs as (first line number, fields with lower-case names)."""
    fields: dict[str, str] = {}
    start = 0
    last: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if line.startswith("#"):
            # A comment may sit between the fields of one stanza; it does not end it.
            continue
        if not line.strip():
            if fields:
                yield start, fields
            fields, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if not fields:
            start = number
        last = name.strip().lower()
        fields[last] = value.strip()
    if fields:
        yield start, fields


def parse_deb822(text: str, origin: str = "<text>") -> list[AptSource]:
    """The entries of a deb822 ``.sources`` file, one per type x URI x suite, in file order."""
    out: list[AptSource] = []
    for line, fields in _stanzas(text):
        if fields.get("enabled", "yes").lower() == "no":
            continue
        known = {"types", "uris", "suites", "components", "enabled"}
        options = tuple(
            (key, " ".join(value.split())) for key, value in fields.items() if key not in known
        )
        components = tuple(fields.get("components", "").split())
        for kind in fields.get("types", "").split():
            if kind not in _TYPES:
                continue
            for uri in fields.get("uris", "").split():
                out.extend(
                    AptSource(kind, uri, suite, components, options, f"{origin}:{line}")
                    for suite in fields.get("suites", "").split()
                )
    return out


_OPTIONS = re.compile(r"^\[([^\]]*)\]\s*")


def parse_one_line(text: str, origin: str = "<text>") -> list[AptSource]:
    """The entries of a one-line ``sources.list`` file, in file order."""
    out: list[AptSource] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        kind, _, rest = line.partition(" ")
        if kind not in _TYPES:
            continue
        rest = rest.strip()
        options: list[tuple[str, str]] = []
        bracket = _OPTIONS.match(rest)
        if bracket:
            for item in bracket.group(1).split():
                key, _, value = item.partition("=")
                options.append((key.rstrip("+-").lower(), value))
            rest = rest[bracket.end() :]
        words = rest.split()
        if len(words) < 2:
            continue
        out.append(
            AptSource(
                kind, words[0], words[1], tuple(words[2:]), tuple(options), f"{origin}:{number}"
            )
        )
    return out


def read_apt_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    """All entries in apt's own reading order: ``sources.list``, then ``sources.list.d/``."""
    out: list[AptSource] = []
    main = apt_dir / "sources.list"
    if main.is_file():
        out.extend(parse_one_line(main.read_text(errors="replace"), str(main)))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list" and path.is_file():
                out.extend(parse_one_line(path.read_text(errors="replace"), str(path)))
            elif path.suffix == ".sources" and path.is_file():
                out.extend(parse_deb822(path.read_text(errors="replace"), str(path)))
    return out


def is_debian_archive(source: AptSource) -> bool:
    """Whether an entry is a binary Debian archive that debootstrap can fetch a root from.

    Debian mirrors, caching proxies and snapshots all serve the archive under a path segment
    named ``debian`` (``/debian/``, ``/archive/debian/<time>/``); the security archive
    (``debian-security``) and third-party repositories do not, and carry no base system.
    """
    if source.kind != "deb":
        return False
    parts = urlsplit(source.uri)
    if parts.scheme not in _FETCHABLE:
        return False
    return "debian" in [segment for segment in parts.path.split("/") if segment]


def debian_mirror(sources: Sequence[AptSource], where: str = str(APT_DIR)) -> str:
    """The URI of the first Debian archive among ``sources``."""
    for source in sources:
        if is_debian_archive(source):
            return source.uri
    raise InputError(
        f"no Debian archive among the {len(sources)} apt source entries in {where}",
        hint="give the mirror to fetch the root from with --mirror URL",
    )


def host_mirror(apt_dir: Path = APT_DIR) -> str:
    """The Debian mirror this machine's apt configuration uses."""
    return debian_mirror(read_apt_sources(apt_dir), str(apt_dir))
