"""The shared file hash: streamed in chunks, the same digest hashlib gives for the whole file."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from typing import TYPE_CHECKING

from torchbuild.fs import copy_hashing, dead_temps, hash_stream, remove_dead_temps, sha256_file

if TYPE_CHECKING:
    from pathlib import Path


def test_sha256_file_spans_several_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # three full chunks and a partial one
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    got = sha256_file(path)
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.size == len(data)
    assert got == (hashlib.sha256(data).hexdigest(), len(data))  # still a plain pair
    assert sha256_file(str(path)) == got


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256_file(path) == (hashlib.sha256(b"").hexdigest(), 0)


def test_copy_and_stream_agree_with_the_file_hash(tmp_path: Path) -> None:
    source = tmp_path / "a"
    source.write_bytes(os.urandom(1024 * 1024 + 1))
    copied = copy_hashing(source, tmp_path / "b", durable=False)
    assert copied == sha256_file(source)
    assert (tmp_path / "b").read_bytes() == source.read_bytes()
    sink = io.BytesIO()
    assert hash_stream(io.BytesIO(source.read_bytes()), sink) == copied
    assert sink.getvalue() == source.read_bytes()


def test_dead_temps_are_those_of_dead_writers(tmp_path: Path) -> None:
    dead = 999_999_999  # above any pid_max Linux allows
    me = os.getpid()
    for name in (
        f".tmp-{dead}-abc-torch.whl",
        f".tmp-{me}-abc-torch.whl",  # this process: work in progress
        f".tmp-{os.getppid()}-abc",  # a live process
        ".tmp-notapid-abc",
        "torch-2.6.0-cp311-cp311-linux_aarch64.whl",
    ):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / f"root.partial-{dead}").mkdir()
    (tmp_path / f"root.partial-{dead}" / "etc").mkdir()
    assert dead_temps(tmp_path) == [tmp_path / f".tmp-{dead}-abc-torch.whl"]
    assert dead_temps(tmp_path, "root.partial-") == [tmp_path / f"root.partial-{dead}"]
    assert dead_temps(tmp_path / "missing") == []
    assert remove_dead_temps(tmp_path) == [f".tmp-{dead}-abc-torch.whl"]
    removed = remove_dead_temps(tmp_path, "root.partial-", remove=shutil.rmtree)
    assert removed == [f"root.partial-{dead}"]
    assert {p.name for p in tmp_path.iterdir()} == {
        f".tmp-{os.getppid()}-abc",
        f".tmp-{me}-abc-torch.whl",
        ".tmp-notapid-abc",
        "torch-2.6.0-cp311-cp311-linux_aarch64.whl",
    }
