"""Debian source packages: read a ``.dsc``, verify its files, unpack and apply its patch series.

The ``.dsc`` may be PGP-signed; the armour is stripped and the signature is not checked (the
file's own sha256 is what gets recorded, and every file it lists is verified against its
Checksums-Sha256). Unpacking follows Debian's "3.0 (quilt)" layout: the orig tarball, each
``orig-COMPONENT`` tarball into ``COMPONENT/``, the debian tarball into ``debian/`` (replacing
any upstream ``debian/``), then ``debian/patches/series`` applied in order with ``patch -p1``
(or the series line's ``-pN``) and no fuzz, as Debian's own unpacker does. "3.0 (native)" and
"1.0" without a diff are a single tarball.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import run
from ..errors import SourceError, ToolchainError
from ..fs import sha256_file
from . import cache
from .archive import extract
from .model import Source, SourceRequest

__all__ = [
    "Dsc",
    "DscFile",
    "SeriesEntry",
    "fetch_dsc",
    "materialize_dsc",
    "parse_dsc",
    "parse_fields",
    "parse_series",
    "strip_signature",
]

_PATCH_TIMEOUT = 300.0
_FORMATS = ("3.0 (quilt)", "3.0 (native)", "1.0")
_TARBALL = re.compile(r"\.tar\.(gz|xz|bz2|lzma)$|\.tar$")
_COMPONENT = re.compile(r"\.orig-([A-Za-z0-9][-A-Za-z0-9]*)\.tar(\.\w+)?$")


@dataclass(frozen=True)
class DscFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Dsc:
    """What a .dsc says."""

    source: str
    version: str
    format: str
    files: tuple[DscFile, ...]

    @property
    def upstream_version(self) -> str:
        """The version without epoch and Debian revision."""
        version = self.version.split(":", 1)[-1]
        return version.rsplit("-", 1)[0] if "-" in version else version


@dataclass(frozen=True)
class SeriesEntry:
    name: str
    #: The ``-pN`` level.
    strip: int


def strip_signature(text: str) -> str:
    """The signed text of a clear-signed message (or ``text`` itself if it is not signed)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "-----BEGIN PGP SIGNED MESSAGE-----":
        return text
    i = 1
    while i < len(lines) and lines[i].strip():  # armour headers ("Hash: SHA512") end at a blank
        i += 1
    body: list[str] = []
    for line in lines[i + 1 :]:
        if line.startswith("-----BEGIN PGP SIGNATURE-----"):
            break
        # Dash-escaping: a signed line that began with "-" is written "- -…".
        body.append(line[2:] if line.startswith("- ") else line)
    return "\n".join(body) + "\n"


def parse_fields(text: str) -> dict[str, str]:
    """The first deb822 paragraph's fields; continuation lines are joined with newlines."""
    fields: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line.startswith("#"):
            continue
        if line[0] in " \t":
            if key is None:
                raise ValueError(f"continuation line before any field: {line!r}")
            fields[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"not a field: {line!r}")
        key = name.strip().lower()
        fields[key] = value.strip()
    return fields


def parse_dsc(text: str, origin: str) -> Dsc:
    """Parse a (possibly signed) .dsc; ``origin`` names it in errors."""

    def bad(why: str) -> SourceError:
        return SourceError(
            f"{origin} is not a usable Debian source control file: {why}",
            hint="get the .dsc again with `apt-get source --download-only NAME=VERSION`",
        )

    try:
        fields = parse_fields(strip_signature(text))
    except ValueError as exc:
        raise bad(str(exc)) from None
    for required in ("source", "version", "checksums-sha256"):
        if not fields.get(required):
            raise bad(f"no {required.title()} field")
    files: list[DscFile] = []
    for line in fields["checksums-sha256"].splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            raise bad(f"bad Checksums-Sha256 line {line!r}")
        sha, size, name = parts
        if not size.isdigit() or "/" in name or name in (".", ".."):
            raise bad(f"bad Checksums-Sha256 line {line!r}")
        files.append(DscFile(name, int(size), sha.lower()))
    fmt = fields.get("format", "1.0")
    if fmt not in _FORMATS:
        raise bad(f"format {fmt!r} is not supported (only {', '.join(_FORMATS)})")
    return Dsc(fields["source"], fields["version"], fmt, tuple(files))


def parse_series(text: str, origin: str) -> list[SeriesEntry]:
    """The entries of a quilt series file: one patch a line, ``#`` comments, optional ``-pN``."""
    entries: list[SeriesEntry] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        name, *options = line.split()
        strip = 1
        for option in options:
            m = re.fullmatch(r"-p(\d+)", option)
            if m is None:
                raise SourceError(
                    f"{origin}: option {option!r} on the line for {name} is not supported",
                    hint="only -pN may follow a patch name in a series file",
                )
            strip = int(m.group(1))
        entries.append(SeriesEntry(name, strip))
    return entries


def _roles(dsc: Dsc, origin: str) -> dict[str, Any]:
    """Which listed file is the orig, component, debian or native tarball."""
    orig: str | None = None
    debian: str | None = None
    components: dict[str, str] = {}
    plain: list[str] = []
    for f in dsc.files:
        if f.name.endswith(".asc"):
            continue  # an upstream signature: verified as a file, not unpacked
        component = _COMPONENT.search(f.name)
        if component:
            components[component.group(1)] = f.name
        elif ".orig.tar" in f.name:
            orig = f.name
        elif ".debian.tar" in f.name:
            debian = f.name
        elif _TARBALL.search(f.name):
            plain.append(f.name)
        else:
            raise SourceError(
                f"{origin} lists {f.name}, which torchbuild cannot unpack (format {dsc.format})",
                hint="pass an unpacked tree instead with --source PKG=DIR",
            )
    if orig is not None and debian is not None and not plain:
        return {"orig": orig, "debian": debian, "components": components}
    if len(plain) == 1 and orig is None and debian is None and not components:
        return {"orig": plain[0], "debian": None, "components": {}}
    raise SourceError(
        f"{origin} does not list the tarballs a {dsc.format} package needs",
        hint="pass an unpacked tree instead with --source PKG=DIR",
    )


def _read_member(tf: tarfile.TarFile, name: str) -> bytes | None:
    for candidate in (name, "./" + name):
        try:
            member = tf.getmember(candidate)
        except KeyError:
            continue
        data = tf.extractfile(member)
        return data.read() if data is not None else None
    return None


def _distro_patches(debian_tar: Path, origin: str) -> list[tuple[str, str]]:
    """(name, sha256) of the debian tarball's patch series, in order."""
    with tarfile.open(debian_tar, "r:*") as tf:
        series = _read_member(tf, "debian/patches/series")
        if series is None:
            return []
        out: list[tuple[str, str]] = []
        for entry in parse_series(series.decode("utf-8", "replace"), f"{origin} series"):
            data = _read_member(tf, f"debian/patches/{entry.name}")
            if data is None:
                raise SourceError(
                    f"{debian_tar.name}: the series names {entry.name}, which is not there",
                    hint="the debian tarball is damaged: fetch the source package again",
                )
            out.append((entry.name, hashlib.sha256(data).hexdigest()))
    return out


def _verify(directory: Path, dsc: Dsc, origin: str) -> None:
    fetch = f"apt-get source --download-only {dsc.source}={dsc.version}"
    for f in dsc.files:
        path = directory / f.name
        if not path.is_file():
            raise SourceError(
                f"{f.name}, listed in {origin}, is missing from {directory}",
                hint=f"fetch the whole source package with `{fetch}` in {directory}",
            )
        size = path.stat().st_size
        if size != f.size:
            raise SourceError(
                f"{path} is {size} bytes, {origin} says {f.size}",
                hint=f"fetch it again with `{fetch}`",
            )
        actual = sha256_file(path).sha256
        if actual != f.sha256:
            raise SourceError(
                f"{path}: sha256 is {actual}, expected {f.sha256} (from {origin})",
                hint=f"fetch it again with `{fetch}`",
            )


def _source(request: SourceRequest, entry: Path, sha: str, meta: dict[str, Any]) -> Source:
    patches = tuple((str(n), str(s)) for n, s in meta["patches"])
    count = f", {len(patches)} distribution patches" if patches else ""
    return Source(
        package=request.package,
        kind="dsc",
        location=request.location,
        digest=f"sha256:{sha}",
        description=f"{meta['dsc']} (sha256 {sha[:12]}…{count})",
        path=entry,
        distro_patches=patches,
        version=request.version or meta["upstream_version"],
    )


def fetch_dsc(request: SourceRequest, *, cache_dir: Path) -> Source:
    """Verify a .dsc and the files it lists, and store them in the source cache."""
    dsc_path = Path(request.location)
    if not dsc_path.is_file():
        raise SourceError(f"{dsc_path} does not exist", hint="check the path given with --source")
    raw = dsc_path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    root = cache.sources_root(cache_dir) / "dsc"
    entry = root / sha
    if (entry / "meta.json").is_file():
        return _source(request, entry, sha, json.loads((entry / "meta.json").read_text()))
    dsc = parse_dsc(raw.decode("utf-8", "replace"), dsc_path.name)
    roles = _roles(dsc, dsc_path.name)
    _verify(dsc_path.parent, dsc, dsc_path.name)
    root.mkdir(parents=True, exist_ok=True)
    cache.sweep_dead_temps(root)
    with cache.locked(cache_dir, f"dsc-{sha}", dsc_path.name):
        if not (entry / "meta.json").is_file():
            tmp = cache.temp_sibling(entry)
            try:
                tmp.mkdir()
                (tmp / dsc_path.name).write_bytes(raw)
                for f in dsc.files:
                    shutil.copyfile(dsc_path.parent / f.name, tmp / f.name)
                # Verify the copies: what is cached is what was checked.
                _verify(tmp, dsc, dsc_path.name)
                patches = (
                    _distro_patches(tmp / roles["debian"], dsc_path.name) if roles["debian"] else []
                )
                meta = {
                    "dsc": dsc_path.name,
                    "source": dsc.source,
                    "version": dsc.version,
                    "upstream_version": dsc.upstream_version,
                    "format": dsc.format,
                    "roles": roles,
                    "patches": patches,
                }
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
                tmp.rename(entry)
            except BaseException:
                cache.remove_quiet(tmp)
                raise
    return _source(request, entry, sha, json.loads((entry / "meta.json").read_text()))


# ------------------------------------------------------------------------------ unpacking

_FILE_LINE = re.compile(r"^(?:patching|checking) file (.+?)\s*$")
_TRIED_FILE = re.compile(r"^\|(?:\+\+\+|---) (?:[^/\s]+/)?(\S+)")


def _first_rejected(output: str) -> str:
    """The first file ``patch`` could not change, in its own words."""
    current: str | None = None
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _FILE_LINE.match(line)
        if m:
            current = m.group(1).strip("'")
            continue
        if "FAILED" in line or "Reversed (or previously applied)" in line:
            if current:
                return f"{current} ({line.strip()})"
            return line.strip()
        if line.startswith("can't find file to patch"):
            for later in lines[i + 1 :]:
                t = _TRIED_FILE.match(later)
                if t:
                    return f"{t.group(1)} (no such file)"
            return "a file that does not exist"
    tail = [x for x in lines if x.strip()]
    return tail[-1] if tail else "no output"


def apply_series(tree: Path, expected: tuple[tuple[str, str], ...], origin: str) -> None:
    """Apply ``tree/debian/patches/series`` in order; stop at the first patch that fails."""
    patches_dir = tree / "debian" / "patches"
    series_file = patches_dir / "series"
    if not series_file.is_file():
        entries: list[SeriesEntry] = []
    else:
        entries = parse_series(series_file.read_text(errors="replace"), f"{origin} series")
    if [e.name for e in entries] != [name for name, _ in expected]:
        raise SourceError(
            f"the patch series unpacked from {origin} differs from the one fetched",
            hint="the source cache is damaged: delete it and fetch again",
        )
    if entries and run.which("patch") is None:
        raise ToolchainError(
            "`patch` is not installed; it is needed to apply the distribution's patches",
            hint="install it (apt-get install patch)",
        )
    env = {**os.environ, "LC_ALL": "C"}
    for entry, (_, sha) in zip(entries, expected):
        patch = patches_dir / entry.name
        if sha256_file(patch).sha256 != sha:
            raise SourceError(
                f"{entry.name} from {origin} is not the patch that was fetched",
                hint="the source cache is damaged: delete it and fetch again",
            )
        # As Debian's unpacker: no fuzz, never reverse, no backup or reject files left behind.
        args = [
            "patch", f"-p{entry.strip}", "--forward", "--batch", "--fuzz=0",
            "--no-backup-if-mismatch", "--remove-empty-files", "--reject-file=-",
            "-i", str(patch),
        ]  # fmt: skip
        result = run.capture(args, timeout=_PATCH_TIMEOUT, env=env, cwd=tree)
        if not result.ok:
            rejected = _first_rejected(result.stdout + result.stderr)
            raise SourceError(
                f"distribution patch {entry.name} from {origin} does not apply: {rejected}",
                hint="the package's files do not fit together: fetch it again, or pass an "
                "unpacked tree with --source PKG=DIR",
            )


def _has_debian_dir(unpacked: Path, tarball: str) -> None:
    if not (unpacked / "debian").is_dir():
        raise SourceError(
            f"{tarball} has no debian/ directory",
            hint="the debian tarball is damaged: fetch the source package again",
        )


def materialize_dsc(source: Source, dest: Path) -> None:
    """Unpack a cached source package into ``dest`` (which must not exist), patches applied."""
    meta = json.loads((source.path / "meta.json").read_text())
    roles = meta["roles"]
    if dest.exists() or dest.is_symlink():
        raise SourceError(f"{dest} already exists", hint="remove it or choose another directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = cache.temp_sibling(dest)
    try:
        work.mkdir()
        tree = work / "tree"
        extract(source.path / roles["orig"], tree, strip=True)
        for component, name in sorted(roles["components"].items()):
            cache.remove_quiet(tree / component)
            extract(source.path / name, tree / component, strip=True)
        if roles["debian"]:
            unpacked = work / "debian"
            extract(source.path / roles["debian"], unpacked, strip=False)
            _has_debian_dir(unpacked, roles["debian"])
            cache.remove_quiet(tree / "debian")
            (unpacked / "debian").rename(tree / "debian")
            rules = tree / "debian" / "rules"
            if rules.is_file() and not rules.is_symlink():
                rules.chmod(0o755)  # as Debian's unpacker does: debian/rules is run directly
            apply_series(tree, source.distro_patches, meta["dsc"])
        tree.rename(dest)
    except BaseException:
        cache.remove_quiet(work)
        raise
    cache.remove_quiet(work)
