"""Replays the recorded PyPI responses through torchbuild's index client (no network).

Imported by the unit tests as ``data.pypi.replay`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import json
import urllib.error
from pathlib import Path
from typing import Any, Mapping

from torchbuild.http import Bounded
from torchbuild.resolve.indexes import IndexCache, IndexClient, Response, Source
from torchbuild.resolve.metadata import MetadataCache, MetadataReader
from torchbuild.resolve.pipconfig import DEFAULT_INDEX_URL
from torchbuild.target import Target, from_json

HERE = Path(__file__).parent
PYPI = Source("index", DEFAULT_INDEX_URL, "test")
PROJECTS = ("torch", "torchvision", "torchaudio")


def body(project: str, kind: str = "json") -> bytes:
    return gzip.decompress((HERE / f"{project}.{kind}.gz").read_bytes())


@functools.lru_cache(maxsize=None)
def recorded_metadata() -> dict[str, bytes]:
    """File name -> its recorded METADATA (``record_metadata.py``; a few torch wheels' in
    ``torch-metadata.json``, headers only, read from PyPI's wheels in December 2026)."""
    data = json.loads(gzip.decompress((HERE / "metadata.json.gz").read_bytes()))
    out = {name: data["texts"][key].encode() for name, key in data["files"].items()}
    torch = json.loads((HERE / "torch-metadata.json").read_text(encoding="utf-8"))
    out.update({name: text.encode() for name, text in torch.items()})
    return out


def _announce(project: str) -> bytes:
    """The recorded page with PEP 714 ``core-metadata`` on the files whose METADATA was recorded,
    as pypi.org announces it."""
    page = json.loads(body(project))
    texts = recorded_metadata()
    for entry in page["files"]:
        text = texts.get(entry["filename"])
        if text is not None:
            entry["core-metadata"] = {"sha256": hashlib.sha256(text).hexdigest()}
    return json.dumps(page).encode()


class Replay:
    """A transport answering ``<DEFAULT_INDEX_URL>/<project>/`` from the recordings.

    With ``metadata=True`` the pages announce the recorded METADATA files and :meth:`fetch`
    serves them at ``<wheel URL>.metadata`` (PEP 658), as pypi.org does; without, the pages are
    the recordings byte for byte (this machine's index serves no METADATA files).
    """

    def __init__(
        self,
        *,
        down: bool = False,
        html: bool = False,
        status: int | None = None,
        metadata: bool = False,
    ):
        self.down = down
        self.html = html
        self.status = status
        self.metadata = metadata
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.metadata_calls: list[str] = []

    def fetch(self, url: str, _headers: Mapping[str, str], limit: int, _timeout: float) -> Bounded:
        """The METADATA reader's side: recorded ``.metadata`` files; 404 for anything else."""
        self.metadata_calls.append(url)
        if self.down:
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        name = url.rsplit("/", 1)[-1]
        text = recorded_metadata().get(name[: -len(".metadata")]) if self.metadata else None
        if text is None or not name.endswith(".metadata"):
            return Bounded(404, {}, b"", truncated=False)
        return Bounded(200, {"content-type": "binary/octet-stream"}, text[:limit], truncated=False)

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
        page = _announce(project) if self.metadata else body(project)
        return Response(200, url, {"content-type": ctype, "etag": f'"{project}-1"'}, page)


def client(tmp_path: Path, transport: Replay | None = None, **kwargs: Any) -> IndexClient:
    return IndexClient(
        cache=IndexCache(tmp_path / "cache"), transport=transport or Replay(), **kwargs
    )


def reader(tmp_path: Path, transport: Replay, **kwargs: Any) -> MetadataReader:
    """A METADATA reader that asks ``transport``, cached under ``tmp_path``."""
    return MetadataReader(
        cache=MetadataCache(tmp_path / "metadata"), fetch=transport.fetch, **kwargs
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
