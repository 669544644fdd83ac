"""Replays the recorded PyPI responses through torchbuild's index client (no network).

Imported by the unit tests as ``data.pypi.replay`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import copy
import gzip
import json
import urllib.error
from pathlib import Path
from typing import Any, Mapping

from torchbuild.resolve.indexes import IndexCache, IndexClient, Response, Source
from torchbuild.resolve.pipconfig import DEFAULT_INDEX_URL
from torchbuild.target import Target, from_json

HERE = Path(__file__).parent
PYPI = Source("index", DEFAULT_INDEX_URL, "test")
PROJECTS = ("torch", "torchvision", "torchaudio")


def body(project: str, kind: str = "json") -> bytes:
    return gzip.decompress((HERE / f"{project}.{kind}.gz").read_bytes())


class Replay:
    """A transport answering ``<DEFAULT_INDEX_URL>/<project>/`` from the recordings."""

    def __init__(self, *, down: bool = False, html: bool = False, status: int | None = None):
        self.down = down
        self.html = html
        self.status = status
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> Response:
        self.calls.append((url, dict(headers)))
        self.timeout = timeout
        if self.down:
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        if self.status is not None:
            return Response(self.status, url, {}, b"")
        prefix = DEFAULT_INDEX_URL + "/"
        project = url[len(prefix) :].strip("/") if url.startswith(prefix) else ""
        if project not in PROJECTS or (self.html and project != "torchaudio"):
            return Response(404, url, {}, b"not found")
        if self.html:
            return Response(200, url, {"content-type": "text/html"}, body(project, "html"))
        ctype = "application/vnd.pypi.simple.v1+json"
        return Response(200, url, {"content-type": ctype, "etag": f'"{project}-1"'}, body(project))


def client(tmp_path: Path, transport: Replay | None = None, **kwargs: Any) -> IndexClient:
    return IndexClient(
        cache=IndexCache(tmp_path / "cache"), transport=transport or Replay(), **kwargs
    )


_BASE: dict[str, Any] = {
    "version": 1,
    "os": "linux",
    "arch": "x86_64",
    "libc": {"name": "glibc", "version": "2.35"},
    "python": {
        "executable": "/usr/bin/python3",
        "version": "3.11.9",
        "implementation": "cpython",
        "abi": "cp311",
        "free_threaded": False,
    },
    "cuda": None,
    "jetson": None,
    "origin": "test",
}


def profile(
    *,
    arch: str = "x86_64",
    libc: str = "glibc",
    libc_version: str | None = "2.35",
    python: str = "3.11",
    free_threaded: bool = False,
    cuda: Mapping[str, Any] | None = None,
    jetson: Mapping[str, Any] | None = None,
    implementation: str = "cpython",
) -> Target:
    """A small profile for an unusual target (what `detect --json` would print there)."""
    data = copy.deepcopy(_BASE)
    major, minor = python.split(".")[:2]
    data["arch"] = arch
    data["libc"] = {"name": libc, "version": libc_version}
    data["python"].update(
        version=python,
        abi=f"cp{major}{minor}" + ("t" if free_threaded else ""),
        free_threaded=free_threaded,
        implementation=implementation,
    )
    if cuda is not None:
        data["cuda"] = {
            "toolkit": None,
            "nvcc": None,
            "driver": None,
            "driver_cuda": None,
            "gpus": [],
            "cudnn": None,
            **cuda,
        }
    data["jetson"] = dict(jetson) if jetson is not None else None
    return from_json(json.loads(json.dumps(data)), source="test")


def gpu(cc: str, driver_cuda: str | None, toolkit: str | None = None) -> dict[str, Any]:
    return {
        "driver_cuda": driver_cuda,
        "toolkit": toolkit,
        "gpus": [{"name": f"GPU sm_{cc.replace('.', '')}", "compute_capability": cc}],
    }
