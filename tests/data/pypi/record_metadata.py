"""Re-record the METADATA of the recent Linux torchvision/torchaudio wheels the unit tests read.

    python tests/data/pypi/record_metadata.py

Reads each wheel's METADATA from PyPI with torchbuild's own reader (HTTP range requests on the
wheel, a few kB each) for the files in the recorded project pages (``<project>.json.gz``), and
stores the header part (the long description dropped) in ``metadata.json.gz``: each distinct text
once, and per file name which text it has. ``replay.Replay(metadata=True)`` serves these as PEP
658 ``.metadata`` files, as pypi.org does.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import sys
from pathlib import Path

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from torchbuild.resolve.indexes import parse_json
from torchbuild.resolve.metadata import MetadataReader

HERE = Path(__file__).parent
#: The oldest release of each project recorded: the ones plans of today's targets look at.
SINCE = {"torchvision": Version("0.24"), "torchaudio": Version("2.9")}


def headers_only(data: bytes) -> bytes:
    head, _, _ = data.replace(b"\r\n", b"\n").partition(b"\n\n")
    return head + b"\n\n"


def main() -> None:
    cert = sys.argv[1] if len(sys.argv) > 1 else None
    reader = MetadataReader(cert=cert)
    texts: dict[str, str] = {}
    files: dict[str, str] = {}
    for project, since in SINCE.items():
        body = gzip.decompress((HERE / f"{project}.json.gz").read_bytes())
        for link in parse_json(body, f"https://pypi.org/simple/{project}/"):
            if not link.filename.endswith(".whl") or "linux" not in link.filename:
                continue
            if parse_wheel_filename(link.filename)[1] < since:
                continue
            text = headers_only(reader.raw(link)).decode("utf-8")
            key = hashlib.sha256(text.encode()).hexdigest()[:16]
            texts[key] = text
            files[link.filename] = key
            print(f"{link.filename}: {key}")  # noqa: T201
    data = {
        "recorded": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "requests": reader.requests,
        "bytes_read": reader.bytes_read,
        "texts": texts,
        "files": files,
    }
    payload = json.dumps(data, indent=1, sort_keys=True).encode()
    (HERE / "metadata.json.gz").write_bytes(gzip.compress(payload, mtime=0))
    print(f"{len(files)} files, {reader.requests} requests, {reader.bytes_read} bytes")  # noqa: T201


if __name__ == "__main__":
    main()
