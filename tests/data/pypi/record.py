"""Re-record the PyPI simple-API responses the unit tests replay.

    python tests/data/pypi/record.py            # torch, torchvision, torchaudio (PEP 691 JSON)

Each response body is stored byte for byte, gzip-compressed, as ``<project>.json.gz``;
``torchaudio.html.gz`` is the PEP 503 HTML page of the same project, for the HTML parser.
``meta.json`` records when and from where. Tests that depend on a specific newest release
(2.15.0 at the last recording) must be updated when a newer recording changes it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/simple"
HERE = Path(__file__).parent
JSON = "application/vnd.pypi.simple.v1+json"
HTML = "application/vnd.pypi.simple.v1+html"


def fetch(project: str, accept: str) -> tuple[bytes, dict[str, str]]:
    url = f"{INDEX}/{project}/"
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 - https only
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
        return reply.read(), {k.lower(): v for k, v in reply.headers.items()}


def main() -> None:
    meta: dict[str, object] = {
        "recorded": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "index": INDEX,
        "files": {},
    }
    jobs = [(p, JSON, "json") for p in ("torch", "torchvision", "torchaudio")]
    jobs.append(("torchaudio", HTML, "html"))
    for project, accept, ext in jobs:
        body, headers = fetch(project, accept)
        name = f"{project}.{ext}.gz"
        (HERE / name).write_bytes(gzip.compress(body, mtime=0))
        meta["files"][name] = {  # type: ignore[index]
            "url": f"{INDEX}/{project}/",
            "content_type": headers.get("content-type"),
            "etag": headers.get("etag"),
            "bytes": len(body),
        }
        print(f"{name}: {len(body)} bytes")  # noqa: T201
    (HERE / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
