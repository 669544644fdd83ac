"""Make small, real, installable wheels for tests.

The wheels are built by hand with :mod:`zipfile` (no build backend, no network, a few
milliseconds each) but follow the wheel spec to the letter: ``{name}-{version}.dist-info`` with
``METADATA``, ``WHEEL`` and a ``RECORD`` that hashes every file, so pip and uv install them.

>>> path = make_wheel(tmp_path, "torch", "2.6.0+cpu", tag="cp311-cp311-linux_x86_64")

Every knob has a plain default: a pure ``py3-none-any`` wheel holding one importable package
named after the project.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["make_wheel", "wheel_filename"]

# Fixed timestamp: the same arguments always give the same bytes (and the same sha256).
_DATE_TIME = (2020, 1, 1, 0, 0, 0)


def _escape(component: str) -> str:
    """The filename form of a name or version (PEP 427 / binary distribution format)."""
    return re.sub(r"[^\w\d.+]+", "_", component, flags=re.UNICODE)


def wheel_filename(
    name: str, version: str, tag: str = "py3-none-any", build: str | None = None
) -> str:
    project = re.sub(r"[-_.]+", "_", name).lower()
    parts = [project, _escape(version)] + ([build] if build else []) + [tag]
    return "-".join(parts) + ".whl"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def make_wheel(
    dest: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    build: str | None = None,
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    metadata: Mapping[str, str] | None = None,
    files: Mapping[str, bytes] | None = None,
    payload_size: int = 0,
    seed: str = "",
    filename: str | None = None,
) -> Path:
    """Write a wheel into ``dest`` and return its path.

    ``metadata`` adds or replaces METADATA headers (``{"Summary": "..."}``); ``files`` adds
    archive members by path; ``payload_size`` adds that many incompressible bytes (to make a
    wheel slow enough to copy); ``seed`` changes the bytes without changing the name, to make
    "a different file under the same filename". ``filename`` overrides the computed name, to make
    deliberately wrong wheels.
    """
    dest.mkdir(parents=True, exist_ok=True)
    package = re.sub(r"[-.]+", "_", name).lower()
    dist_info = f"{re.sub(r'[-_.]+', '_', name).lower()}-{_escape(version)}.dist-info"

    headers: dict[str, str] = {"Metadata-Version": "2.1", "Name": name, "Version": version}
    if requires_python is not None:
        headers["Requires-Python"] = requires_python
    headers["Summary"] = f"test wheel {name} {version}"
    headers.update(metadata or {})
    lines = [f"{key}: {value}" for key, value in headers.items()]
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    metadata_bytes = ("\n".join(lines) + "\n\n").encode("utf-8")

    wheel_bytes = (
        "Wheel-Version: 1.0\nGenerator: torchbuild-tests\n"
        f"Root-Is-Purelib: {'true' if tag.endswith('-none-any') else 'false'}\n"
        + "".join(f"Tag: {t}\n" for t in _expand(tag))
        + (f"Build: {build}\n" if build else "")
    ).encode("ascii")

    members: dict[str, bytes] = {
        f"{package}/__init__.py": f'__version__ = "{version}"\nSEED = "{seed}"\n'.encode(),
    }
    if payload_size:
        # Deterministic but incompressible: a hash chain seeded by name, version and seed.
        block = hashlib.sha256(f"{name}{version}{seed}".encode()).digest()
        chunks = []
        total = 0
        while total < payload_size:
            block = hashlib.sha256(block).digest()
            chunks.append(block)
            total += len(block)
        members[f"{package}/payload.bin"] = b"".join(chunks)[:payload_size]
    members.update(files or {})
    members[f"{dist_info}/METADATA"] = metadata_bytes
    members[f"{dist_info}/WHEEL"] = wheel_bytes

    record_lines = [f"{path},{_record_hash(data)},{len(data)}" for path, data in members.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()

    out = dest / (filename or wheel_filename(name, version, tag, build))
    tmp = out.with_name(out.name + f".{os.getpid()}.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=_DATE_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = (
                zipfile.ZIP_STORED if path.endswith(".bin") else zipfile.ZIP_DEFLATED
            )
            archive.writestr(info, data)
    tmp.replace(out)
    return out


def _expand(tag: str) -> list[str]:
    """``py2.py3-none-any`` -> ``["py2-none-any", "py3-none-any"]`` for the WHEEL file."""
    interpreters, abis, platforms = tag.split("-")
    return [
        f"{i}-{a}-{p}"
        for i in interpreters.split(".")
        for a in abis.split(".")
        for p in platforms.split(".")
    ]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


def page_links(path: Path) -> list[dict[str, str | None]]:
    """The attributes of every link on a PEP 503 page."""
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.links
