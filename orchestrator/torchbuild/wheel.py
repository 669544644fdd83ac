"""What a wheel file says about itself: its name, METADATA, RECORD hashes and libraries.

Wheel names parse through ``packaging.utils`` and METADATA through ``packaging.metadata``; no
caller splits a file name on ``-`` or reads headers by hand.

A wheel is accepted when its filename parses (PEP 427 as implemented by ``packaging``), it is a
readable zip whose members stay inside the archive, it holds exactly one matching
``.dist-info`` with ``METADATA``, ``WHEEL`` and ``RECORD``, and ``METADATA`` names the same
project and version as the filename. The ``METADATA`` bytes are kept verbatim: PEP 658 requires
the served ``.metadata`` file to be exactly the file inside the wheel.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import functools
import posixpath
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .errors import InputError
from .fs import sha256_file

if TYPE_CHECKING:
    from email.message import Message
    from pathlib import Path

__all__ = [
    "WheelInfo",
    "WheelName",
    "inspect_wheel",
    "parse_name",
    "read_metadata",
    "record_digest",
    "record_hash",
    "requires_dist",
    "shipped_sonames",
]


@dataclass(frozen=True)
class WheelName:
    """The facts a wheel's filename carries."""

    filename: str
    project: str  #: canonical (PEP 503 normalized) name
    version: Version
    build: tuple[int, str] | tuple[()]
    tag: str  #: the compressed tag set as written, e.g. ``cp311-cp311-manylinux_2_28_aarch64``

    @property
    def local(self) -> str | None:
        """The local version label (``cpu``, ``cu126.sm87``) naming the variant, if any."""
        return self.version.local

    @property
    def python_tag(self) -> str:
        return self.tag.split("-")[0]

    @property
    def abi_tag(self) -> str:
        return self.tag.split("-")[1]

    @property
    def platform_tag(self) -> str:
        return self.tag.split("-")[2]


@functools.lru_cache(maxsize=65536)
def parse_name(filename: str) -> WheelName:
    """Parse a wheel filename or raise :class:`InputError` saying what is wrong with it.

    Cached: a filename's facts never change, and big pages parse every filename on each add.
    """
    if "/" in filename or "\\" in filename or filename.startswith("."):
        raise InputError(f"{filename!r} is not a wheel filename")
    try:
        name, version, build, _tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise InputError(
            f"{filename!r} is not a valid wheel filename: {exc}",
            hint="a wheel is named NAME-VERSION[-BUILD]-PYTHON-ABI-PLATFORM.whl",
        ) from None
    tag = "-".join(filename[: -len(".whl")].split("-")[-3:])
    return WheelName(filename, canonicalize_name(name), version, build, tag)


@dataclass(frozen=True)
class WheelInfo:
    """A wheel that passed validation, with the metadata the index publishes for it."""

    name: WheelName
    metadata_name: str  #: the project name as METADATA spells it (display form)
    requires_python: str | None
    metadata: bytes  #: the exact bytes of ``*.dist-info/METADATA``

    @property
    def filename(self) -> str:
        return self.name.filename

    @property
    def project(self) -> str:
        return self.name.project


def _bad(path: str, what: str, hint: str | None = None) -> InputError:
    return InputError(
        f"{path} is not a valid wheel: {what}",
        hint=hint or "rebuild the wheel, or check that the download is complete",
    )


def _unsafe_member(member: str) -> bool:
    if member.startswith(("/", "\\")) or "\\" in member or ":" in member.split("/", 1)[0]:
        return True
    return ".." in posixpath.normpath(member).split("/")


def _dist_info(path: str, names: list[str], wheel: WheelName) -> str:
    """The one ``.dist-info`` directory of this wheel (PEP 427: ``{name}-{version}.dist-info``)."""
    candidates = sorted(
        {m.split("/", 1)[0] for m in names if m.count("/") == 1 and m.endswith("/METADATA")}
    )
    candidates = [c for c in candidates if c.endswith(".dist-info")]
    matching = []
    for candidate in candidates:
        stem = candidate[: -len(".dist-info")]
        dist, _, version = stem.rpartition("-")
        try:
            same_version = Version(version) == wheel.version
        except InvalidVersion:
            same_version = False
        if canonicalize_name(dist) == wheel.project and same_version:
            matching.append(candidate)
    if len(matching) == 1:
        return matching[0]
    if not candidates:
        raise _bad(path, "it has no *.dist-info/METADATA")
    raise _bad(
        path,
        f"expected one {wheel.project}-{wheel.version}.dist-info with METADATA, found "
        + (", ".join(candidates)),
    )


def _parse_headers(data: bytes) -> Message:
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    return parser.parsebytes(data, headersonly=True)


def inspect_wheel(
    path: Path,
    *,
    filename: str | None = None,
    check_crc: bool = True,
    shown: str | None = None,
) -> WheelInfo:
    """Validate the wheel at ``path`` (named ``filename``, default its own name).

    ``shown`` is the name to use in error messages (the user's file, when ``path`` is a copy).

    ``check_crc`` decompresses every member to check its CRC: a truncated or corrupted download
    fails here instead of on every board that installs it. A wheel the build stage has just
    installed and tested may skip it.
    """
    wheel = parse_name(filename or path.name)
    where = shown or str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise _bad(where, f"not a zip archive ({exc})") from None
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc.strerror or exc}") from None
    with archive:
        names = archive.namelist()
        unsafe = [m for m in names if _unsafe_member(m)]
        if unsafe:
            raise _bad(where, f"member {unsafe[0]!r} points outside the archive")
        dist_info = _dist_info(where, names, wheel)
        for required in ("WHEEL", "RECORD"):
            if f"{dist_info}/{required}" not in names:
                raise _bad(where, f"{dist_info}/{required} is missing")
        try:
            metadata = archive.read(f"{dist_info}/METADATA")
            wheel_file = archive.read(f"{dist_info}/WHEEL")
            bad_member = archive.testzip() if check_crc else None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise _bad(where, f"the archive is damaged ({exc})") from None
        if bad_member is not None:
            raise _bad(where, f"member {bad_member!r} fails its CRC check")

    wheel_version = _parse_headers(wheel_file).get("Wheel-Version", "")
    if not wheel_version.split(".")[0].strip() == "1":
        raise _bad(where, f"{dist_info}/WHEEL has Wheel-Version {wheel_version!r}, expected 1.x")

    headers = _parse_headers(metadata)
    meta_name = (headers.get("Name") or "").strip()
    meta_version = (headers.get("Version") or "").strip()
    if not headers.get("Metadata-Version") or not meta_name or not meta_version:
        raise _bad(where, "METADATA lacks Metadata-Version, Name or Version")
    if canonicalize_name(meta_name) != wheel.project:
        raise _bad(where, f"METADATA names project {meta_name!r}, the filename {wheel.project!r}")
    try:
        same = Version(meta_version) == wheel.version
    except InvalidVersion:
        same = False
    if not same:
        raise _bad(where, f"METADATA says version {meta_version!r}, the filename {wheel.version}")
    requires_python = headers.get("Requires-Python")
    if requires_python is not None:
        requires_python = " ".join(str(requires_python).split())
        try:
            SpecifierSet(requires_python)
        except InvalidSpecifier:
            raise _bad(
                where, f"Requires-Python {requires_python!r} is not a valid specifier"
            ) from None
    return WheelInfo(wheel, meta_name, requires_python or None, metadata)


# -- reading a wheel that is already known to be good ----------------------------------------


def read_metadata(path: Path) -> bytes:
    """The bytes of the wheel's own ``*.dist-info/METADATA`` (the one its filename names)."""
    wheel = parse_name(path.name)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        return archive.read(f"{_dist_info(str(path), names, wheel)}/METADATA")


def requires_dist(metadata: bytes, *, extras: bool = True) -> tuple[Requirement, ...]:
    """The ``Requires-Dist`` entries of a METADATA file, parsed; unparsable entries are skipped.

    With ``extras=False`` the entries whose marker mentions an extra are left out: an installer
    only takes those when the extra is asked for.
    """
    raw, _ = parse_email(metadata)
    out = []
    for text in raw.get("requires_dist", []):
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if not extras and requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        out.append(requirement)
    return tuple(out)


def shipped_sonames(path: Path) -> tuple[str, ...]:
    """The shared libraries a wheel ships, by file name, read from its zip directory alone.

    Wheels store each library under its soname (auditwheel keeps the two equal for the
    libraries it grafts), so the names serve as sonames; unpacking a 200 MB torch wheel to read
    every ELF header would cost seconds on each run.
    """
    with zipfile.ZipFile(path) as archive:
        names = {n.rsplit("/", 1)[-1] for n in archive.namelist()}
    return tuple(sorted(n for n in names if n.endswith(".so") or ".so." in n))


def record_digest(sha256_hex: str) -> str:
    """A sha256 as RECORD writes it: ``sha256=`` and the urlsafe base64 digest, unpadded."""
    text = base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).rstrip(b"=").decode("ascii")
    return f"sha256={text}"


def record_hash(path: Path) -> tuple[str, int]:
    """The RECORD hash (``sha256=...``) and size of a file."""
    digest, size = sha256_file(path)
    return record_digest(digest), size
