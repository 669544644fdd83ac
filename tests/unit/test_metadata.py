"""Reading a remote wheel's METADATA: PEP 658 files, HTTP range requests, ZIP64, the cache.

Real wheels (``tests/wheelfactory.py``) are served on 127.0.0.1 by a handler that honours
``Range`` and by one that ignores it; the reader must read a small part of each file only.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from torchbuild.resolve.indexes import FileLink, parse_html, parse_json
from torchbuild.resolve.metadata import TAIL, MetadataCache, MetadataReader
from wheelfactory import make_wheel

REQUIRES = ("torch>=2.14.0", "numpy", 'pillow!=8.3.*,>=5.3.0; extra == "images"')


class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; honours a single ``Range`` unless the server says otherwise."""

    ranges = True
    sent: list[int]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        match = re.match(r"^bytes=(\d*)-(\d*)$", self.headers.get("Range") or "")
        if not self.ranges or match is None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:  # the client hangs up early; that is the point
                for at in range(0, len(data), 65536):
                    self.wfile.write(data[at : at + 65536])
                    self.server.sent.append(min(65536, len(data) - at))  # type: ignore[attr-defined]
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        first, last = match.groups()
        if first == "":
            start, end = max(0, len(data) - int(last)), len(data) - 1
        else:
            start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
        part = data[start : end + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        # Counted before it is written: the client may finish reading (and the test assert)
        # before this thread runs again.
        self.server.sent.append(len(part))  # type: ignore[attr-defined]
        self.wfile.write(part)


def _serve(root: Path, ranges: bool) -> Iterator[tuple[str, list[int]]]:
    handler = type(
        "Handler",
        (_Files,),
        {
            "ranges": ranges,
            "__init__": lambda self, *a, **k: _Files.__init__(self, *a, directory=str(root), **k),
        },
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.sent = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.sent  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    # 2,000 members put the central directory (about 150 kB) outside the first 64 kB read;
    # 3 MB of incompressible payload make the whole file large next to what is read.
    make_wheel(
        root,
        "torchvision",
        "0.29.2",
        tag="py3-none-manylinux_2_28_x86_64",
        requires_python=">=3.10,!=3.14.1",
        requires_dist=REQUIRES,
        files={f"torchvision/ops/part_{i:04d}.py": b"# ops\n" for i in range(2000)},
        payload_size=3 * 1024 * 1024,
    )
    return root


@pytest.fixture
def ranged(wheels: Path) -> Iterator[tuple[str, list[int]]]:
    yield from _serve(wheels, ranges=True)


@pytest.fixture
def whole(wheels: Path) -> Iterator[tuple[str, list[int]]]:
    yield from _serve(wheels, ranges=False)


NAME = "torchvision-0.29.2-py3-none-manylinux_2_28_x86_64.whl"


def _link(base: str, root: Path, name: str = NAME, **kw: object) -> FileLink:
    data = (root / name).read_bytes()
    return FileLink(name, f"{base}/{name}", sha256=hashlib.sha256(data).hexdigest(), **kw)  # type: ignore[arg-type]


def test_range_requests_read_a_small_part(
    tmp_path: Path, wheels: Path, ranged: tuple[str, list[int]]
) -> None:
    base, sent = ranged
    size = (wheels / NAME).stat().st_size
    with zipfile.ZipFile(wheels / NAME) as archive:  # the premise: a directory past 64 kB
        assert sum(46 + len(i.filename) for i in archive.infolist()) > TAIL
    cache = MetadataCache(tmp_path / "cache")
    reader = MetadataReader(cache=cache)
    found = reader.read(_link(base, wheels))
    assert found.metadata is not None, found.why
    assert found.metadata.name == "torchvision"
    assert found.metadata.version == "0.29.2"
    assert found.metadata.requires_dist == REQUIRES
    assert found.metadata.requires_python == "!=3.14.1,>=3.10"
    assert found.metadata.how == "range"
    assert reader.requests == 3  # the tail, the rest of the directory, METADATA
    assert reader.bytes_read == sum(sent)
    assert reader.bytes_read < size / 10

    # The same wheel again, by another reader on the same cache: no request at all.
    sent.clear()
    again = MetadataReader(cache=cache).read(_link(base, wheels))
    assert again.cached
    assert again.metadata == found.metadata
    assert sent == []


def test_known_size_asks_for_absolute_ranges(
    tmp_path: Path, wheels: Path, ranged: tuple[str, list[int]]
) -> None:
    base, _ = ranged
    size = (wheels / NAME).stat().st_size
    reader = MetadataReader()
    found = reader.read(_link(base, wheels, size=size))
    assert found.metadata is not None
    assert found.metadata.requires_dist[0] == "torch>=2.14.0"


def test_a_server_that_ignores_ranges_is_not_downloaded_from(
    tmp_path: Path, wheels: Path, whole: tuple[str, list[int]]
) -> None:
    base, _ = whole
    cache = MetadataCache(tmp_path / "cache")
    reader = MetadataReader(cache=cache)
    found = reader.read(_link(base, wheels))
    assert found.metadata is None
    assert found.why is not None
    assert "ignores range requests" in found.why
    # What the client took from the socket (the server's writes may all land in the kernel's
    # loopback buffers before the hang-up, so they prove nothing).
    assert reader.bytes_read <= TAIL
    # A stable answer: the next plan does not ask again.
    second = MetadataReader(cache=cache)
    assert second.read(_link(base, wheels)).cached
    assert second.requests == 0


def test_zip64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # zipfile writes ZIP64 records past its limits; lowered, they appear in a small file: the
    # end record's counts and the METADATA entry's offset live in ZIP64 fields.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 8)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1 << 16)
    root = tmp_path / "files"
    make_wheel(
        root,
        "torchaudio",
        "2.11.1",
        tag="py3-none-manylinux_2_28_aarch64",
        requires_dist=("torch>=2.11",),
        files={f"torchaudio/m{i}.py": b"pass\n" for i in range(20)},
        payload_size=200_000,
    )
    monkeypatch.undo()
    name = "torchaudio-2.11.1-py3-none-manylinux_2_28_aarch64.whl"
    data = (root / name).read_bytes()
    assert b"PK\x06\x06" in data
    assert b"PK\x06\x07" in data
    for base, _ in _serve(root, ranges=True):
        reader = MetadataReader()
        found = reader.read(_link(base, root, name))
        assert found.metadata is not None, found.why
        assert found.metadata.requires_dist == ("torch>=2.11",)
        assert reader.bytes_read < len(data) / 2


def test_pep658_file_checked_against_its_hash(tmp_path: Path) -> None:
    text = (
        b"Metadata-Version: 2.1\nName: torchaudio\nVersion: 2.11.1\nRequires-Dist: torch>=2.11\n\n"
    )
    root = tmp_path / "files"
    root.mkdir()
    (root / "torchaudio-2.11.1-py3-none-any.whl").write_bytes(b"not read")
    (root / "torchaudio-2.11.1-py3-none-any.whl.metadata").write_bytes(text)
    good = hashlib.sha256(text).hexdigest()
    page = (
        '<a href="torchaudio-2.11.1-py3-none-any.whl#sha256=00" '
        f'data-core-metadata="sha256={good}">torchaudio</a>'
    ).encode()
    for base, _ in _serve(root, ranges=True):
        (link,) = parse_html(page, base + "/")
        assert link.has_metadata
        assert link.metadata_sha256 == good
        reader = MetadataReader()
        found = reader.read(link)
        assert found.metadata is not None
        assert found.metadata.how == "pep658"
        assert found.metadata.requires_dist == ("torch>=2.11",)
        assert (reader.requests, reader.bytes_read) == (1, len(text))
        bad = FileLink(link.filename, link.url, has_metadata=True, metadata_sha256="0" * 64)
        refused = MetadataReader().read(bad)
        assert refused.metadata is None
        assert refused.why is not None
        assert "does not match the sha256" in refused.why


def test_pep691_announcements() -> None:
    body = (
        b'{"files": [{"filename": "a-1-py3-none-any.whl", "url": "a-1-py3-none-any.whl",'
        b' "hashes": {}, "core-metadata": {"sha256": "ab"}},'
        b' {"filename": "b-1-py3-none-any.whl", "url": "b.whl", "hashes": {},'
        b' "dist-info-metadata": true}, {"filename": "c-1-py3-none-any.whl", "url": "c.whl",'
        b' "hashes": {}}]}'
    )
    a, b, c = parse_json(body, "https://example.invalid/simple/a/")
    assert (a.has_metadata, a.metadata_sha256) == (True, "ab")
    assert (b.has_metadata, b.metadata_sha256) == (True, None)
    assert (c.has_metadata, c.metadata_sha256) == (False, None)


def test_local_wheels_are_read_on_disk(wheels: Path, tmp_path: Path) -> None:
    reader = MetadataReader()
    found = reader.read(FileLink(NAME, (wheels / NAME).as_uri()))
    assert found.metadata is not None
    assert found.metadata.how == "file"
    assert reader.requests == 0
    empty = tmp_path / "torch-2.14.1-cp310-cp310-linux_aarch64.whl"
    empty.write_bytes(b"")
    broken = reader.read(FileLink(empty.name, empty.as_uri()))
    assert broken.metadata is None
    assert broken.why is not None
    assert "not a readable wheel" in broken.why


def test_a_network_that_is_down_costs_one_try(tmp_path: Path) -> None:
    calls: list[str] = []

    def refused(url: str, headers: object, limit: int, timeout: float) -> object:
        calls.append(url)
        raise ConnectionRefusedError(111, "Connection refused")

    reader = MetadataReader(cache=MetadataCache(tmp_path), fetch=refused)  # type: ignore[arg-type]
    first = reader.read(FileLink("a-1-py3-none-any.whl", "http://127.0.0.1:9/a-1-py3-none-any.whl"))
    second = reader.read(
        FileLink("b-1-py3-none-any.whl", "http://127.0.0.1:9/b-1-py3-none-any.whl")
    )
    assert first.metadata is None
    assert first.why is not None
    assert "Connection refused" in first.why
    assert second.why is not None
    assert second.why.startswith("not asked: ")
    assert len(calls) == 1
    # Nothing about an unreachable server is cached: the next plan tries again.
    assert list(tmp_path.iterdir()) == []
