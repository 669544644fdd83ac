"""Archives: sha256 verification, the cache keyed by content, safe unpacking, concurrency."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import tarfile
import threading
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from torchbuild.errors import NetworkError, SourceError
from torchbuild.sources import SourceRequest, fetch, materialize
from torchbuild.sources import archive as archive_mod

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torchbuild.fs import FileHash


def _release(tmp_path: Path, name: str = "demo-1.0") -> Path:
    """A release tarball made by real tar: one top-level directory with an executable script."""
    src = tmp_path / "src" / name
    (src / "pkg").mkdir(parents=True)
    (src / "setup.py").write_text("print('setup')\n")
    (src / "pkg" / "__init__.py").write_text("VERSION = '1.0'\n")
    (src / "build.sh").write_text("#!/bin/sh\n")
    (src / "build.sh").chmod(0o755)
    out = tmp_path / f"{name}.tar.gz"
    subprocess.run(["tar", "-czf", str(out), "-C", str(src.parent), name], check=True)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.rglob(".tmp-*"))


def test_fetch_verifies_caches_and_materialize_strips_the_top_directory(tmp_path: Path) -> None:
    tarball = _release(tmp_path)
    cache = tmp_path / "cache"
    source = fetch(SourceRequest("demo", str(tarball), sha256=_sha(tarball)), cache_dir=cache)
    assert source.kind == "archive"
    assert source.digest == f"sha256:{_sha(tarball)}"
    assert source.path == cache / "sources" / "archives" / _sha(tarball) / tarball.name
    assert source.path.read_bytes() == tarball.read_bytes()
    assert source.description.startswith(f"demo-1.0.tar.gz (sha256 {_sha(tarball)[:12]}")
    dest = tmp_path / "tree"
    materialize(source, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["build.sh", "pkg", "setup.py"]
    assert os.access(dest / "build.sh", os.X_OK)
    assert (dest / "pkg" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert _leftovers(tmp_path) == []


def test_a_second_fetch_does_no_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = _release(tmp_path)
    cache = tmp_path / "cache"
    sha = _sha(tarball)
    first = fetch(SourceRequest("demo", str(tarball)), cache_dir=cache)

    def no_copy(*_: object, **__: object) -> FileHash:
        raise AssertionError("copied again")

    monkeypatch.setattr(archive_mod, "copy_hashing", no_copy)
    assert fetch(SourceRequest("demo", str(tarball)), cache_dir=cache) == first
    # With the digest given, the user's file is not even read: it may be gone.
    tarball.unlink()
    again = fetch(SourceRequest("demo", str(tarball), sha256=sha), cache_dir=cache)
    assert again.path == first.path


def test_a_wrong_sha256_is_refused_naming_both_digests_and_nothing_is_cached(
    tmp_path: Path,
) -> None:
    tarball = _release(tmp_path)
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(SourceError) as err:
        fetch(SourceRequest("demo", str(tarball), sha256=wrong), cache_dir=cache)
    assert str(tarball) in err.value.message
    assert wrong in err.value.message
    assert _sha(tarball) in err.value.message
    assert err.value.exit_code == 7
    archives = cache / "sources" / "archives"
    assert [p.name for p in archives.iterdir()] == []


def test_a_missing_archive_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nothing\.tar\.gz does not exist"):
        fetch(SourceRequest("demo", str(tmp_path / "nothing.tar.gz")), cache_dir=tmp_path / "c")


def test_an_archive_without_a_single_top_directory_is_unpacked_as_is(tmp_path: Path) -> None:
    src = tmp_path / "flat"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    (src / "b.txt").write_text("b\n")
    tarball = tmp_path / "flat.tar.xz"
    subprocess.run(["tar", "-cJf", str(tarball), "-C", str(src), "a.txt", "b.txt"], check=True)
    source = fetch(SourceRequest("demo", str(tarball)), cache_dir=tmp_path / "cache")
    materialize(source, tmp_path / "tree")
    assert sorted(p.name for p in (tmp_path / "tree").iterdir()) == ["a.txt", "b.txt"]


def test_modes_and_owners_are_tamed_either_way(tmp_path: Path, extraction: str) -> None:
    with tarfile.open(tmp_path / "odd.tar", "w") as tf:
        for name, mode in (("top/setuid", 0o4755), ("top/world-writable", 0o666)):
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.uname = mode, 4242, 4242, "nobody-here"
            tf.addfile(info, io.BytesIO(b""))
    source = fetch(SourceRequest("demo", str(tmp_path / "odd.tar")), cache_dir=tmp_path / "c")
    materialize(source, tmp_path / "tree")
    setuid = (tmp_path / "tree" / "setuid").stat()
    assert setuid.st_mode & 0o7777 == 0o755
    assert (tmp_path / "tree" / "world-writable").stat().st_mode & 0o777 == 0o644
    assert setuid.st_uid == os.getuid()


def test_a_zip_keeps_executable_bits_and_links(tmp_path: Path) -> None:
    archive = tmp_path / "demo-1.0.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        script = zipfile.ZipInfo("demo-1.0/run.sh")
        script.external_attr = (0o100755) << 16
        zf.writestr(script, "#!/bin/sh\n")
        zf.writestr("demo-1.0/data.txt", "data\n")
        link = zipfile.ZipInfo("demo-1.0/alias.txt")
        link.external_attr = (0o120777) << 16
        zf.writestr(link, "data.txt")
    source = fetch(SourceRequest("demo", str(archive)), cache_dir=tmp_path / "cache")
    dest = tmp_path / "tree"
    materialize(source, dest)
    assert os.access(dest / "run.sh", os.X_OK)
    assert not os.access(dest / "data.txt", os.X_OK)
    assert os.readlink(dest / "alias.txt") == "data.txt"


# ---------------------------------------------------------------------------- hostile members


def _tar_with(path: Path, *members: tuple[str, str, str]) -> Path:
    """A tarball of (type, name, content-or-link-target) members, written by tarfile itself."""
    with tarfile.open(path, "w:gz") as tf:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = value.encode()
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = value
                tf.addfile(info)
            elif kind == "hard":
                info.type = tarfile.LNKTYPE
                info.linkname = value
                tf.addfile(info)
            elif kind == "dev":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
                tf.addfile(info)
    return path


# case: (members, the member that must be refused)
HOSTILE = {
    "absolute": ([("file", "/tmp/torchbuild-escape-abs", "x")], "/tmp/torchbuild-escape-abs"),
    "dotdot": ([("file", "top/../../escape.txt", "x")], "top/../../escape.txt"),
    "symlink-absolute": ([("sym", "top/link", "/etc")], "top/link"),
    "symlink-up": ([("sym", "top/link", "../../outside")], "top/link"),
    # Read as text, "d/.." is top/ itself; on disk d leads to the root first, so it climbs out.
    "link-through-link": (
        [("sym", "top/d", ".."), ("sym", "top/l", "d/.."), ("file", "top/l/escape.txt", "x")],
        "top/l",
    ),
    "hardlink-outside": ([("hard", "top/passwd", "/etc/passwd")], "top/passwd"),
    "device": ([("dev", "top/null", "")], "top/null"),
}


@pytest.fixture(params=["data-filter", "own-checks-only"])
def extraction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of unpacking: with tarfile's data filter, and as on a Python without one."""
    if request.param == "own-checks-only":
        monkeypatch.setattr(archive_mod, "_HAS_FILTER", False)
    return str(request.param)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_members_escaping_the_destination_are_refused(
    tmp_path: Path, case: str, extraction: str
) -> None:
    members, refused = HOSTILE[case]
    evil = _tar_with(tmp_path / "evil.tar.gz", ("file", "top/ok.txt", "ok"), *members)
    source = fetch(SourceRequest("demo", str(evil)), cache_dir=tmp_path / "cache")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SourceError, match="refusing to unpack") as err:
        materialize(source, out / "tree")
    assert repr(refused) in err.value.message
    assert list(out.iterdir()) == []  # no tree, no temp left
    assert not (tmp_path / "escape.txt").exists()
    assert not Path("/tmp/torchbuild-escape-abs").exists()


@pytest.mark.parametrize(
    ("name", "attr", "content"),
    [
        ("../escape.txt", 0o100644, "x"),
        ("/abs.txt", 0o100644, "x"),
        ("top/link", 0o120777, "../../etc"),
    ],
)
def test_zip_members_escaping_the_destination_are_refused(
    tmp_path: Path, name: str, attr: int, content: str
) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top/ok.txt", "ok")
        info = zipfile.ZipInfo(name)
        info.external_attr = attr << 16
        zf.writestr(info, content)
    source = fetch(SourceRequest("demo", str(archive)), cache_dir=tmp_path / "cache")
    with pytest.raises(SourceError, match="refusing to unpack"):
        materialize(source, tmp_path / "out" / "tree")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_truncated_archive_is_a_source_error(tmp_path: Path) -> None:
    good = _release(tmp_path).read_bytes()
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(good[: len(good) // 2])
    source = fetch(SourceRequest("demo", str(broken)), cache_dir=tmp_path / "cache")
    with pytest.raises(SourceError, match="not a readable archive"):
        materialize(source, tmp_path / "out" / "tree")
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------------------- concurrency


def test_two_threads_fetching_one_archive_copy_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "src" / "big-1.0"
    big.mkdir(parents=True)
    (big / "blob.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    tarball = tmp_path / "big-1.0.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(big.parent), "big-1.0"], check=True)
    copies: list[int] = []
    real_copy = archive_mod.copy_hashing

    def counting_copy(source: Path, dest: Path, *, durable: bool) -> FileHash:
        copies.append(1)
        time.sleep(0.2)  # hold the lock long enough for the other thread to arrive
        return real_copy(source, dest, durable=durable)

    monkeypatch.setattr(archive_mod, "copy_hashing", counting_copy)
    cache = tmp_path / "cache"
    barrier = threading.Barrier(2)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(fetch(SourceRequest("big", str(tarball)), cache_dir=cache))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2
    assert all(not isinstance(r, Exception) for r in results), results
    assert results[0] == results[1]
    assert len(copies) == 1
    entries = [p.name for p in (cache / "sources" / "archives").iterdir()]
    assert entries == [_sha(tarball)]
    assert _leftovers(cache) == []


# ---------------------------------------------------------------------------- http(s) URLs


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_url_is_downloaded_once_then_served_from_the_cache_offline(
    tmp_path: Path, server: tuple[str, Path]
) -> None:
    base, root = server
    tarball = _release(tmp_path)
    (root / tarball.name).write_bytes(tarball.read_bytes())
    url = f"{base}/{tarball.name}"
    cache = tmp_path / "cache"
    with pytest.raises(NetworkError, match="--offline"):
        fetch(SourceRequest("demo", url), cache_dir=cache, offline=True)
    first = fetch(SourceRequest("demo", url, sha256=_sha(tarball)), cache_dir=cache)
    assert first.digest == f"sha256:{_sha(tarball)}"
    (root / tarball.name).unlink()  # the server no longer has it; the cache does
    assert fetch(SourceRequest("demo", url), cache_dir=cache, offline=True) == first
    materialize(first, tmp_path / "tree")
    assert (tmp_path / "tree" / "setup.py").is_file()


def test_url_failures_say_what_went_wrong(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, root = server
    cache = tmp_path / "cache"
    with pytest.raises(SourceError, match="HTTP 404"):
        fetch(SourceRequest("demo", f"{base}/missing.tar.gz"), cache_dir=cache)
    (root / "x.tar.gz").write_bytes(b"not what was promised")
    with pytest.raises(SourceError, match="expected " + "1" * 64):
        fetch(SourceRequest("demo", f"{base}/x.tar.gz", sha256="1" * 64), cache_dir=cache)
    with pytest.raises(NetworkError, match=r"cannot reach 127\.0\.0\.1"):
        fetch(SourceRequest("demo", "http://127.0.0.1:9/x.tar.gz"), cache_dir=cache, timeout=5)
    assert [p.name for p in (cache / "sources" / "archives").iterdir()] == []


def test_a_failed_copy_leaves_nothing_and_a_dead_writers_temp_is_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tarball = _release(tmp_path)
    cache = tmp_path / "cache"
    archives = cache / "sources" / "archives"
    archives.mkdir(parents=True)
    # What a torchbuild killed mid-copy leaves: a temp named after a process that is gone.
    stale = archives / ".tmp-999999999-0000-demo-1.0.tar.gz"
    stale.write_bytes(b"half")
    real_copy = archive_mod.copy_hashing

    def dying_copy(source: Path, dest: Path, *, durable: bool) -> FileHash:
        real_copy(source, dest, durable=durable)
        raise OSError("disk full")

    monkeypatch.setattr(archive_mod, "copy_hashing", dying_copy)
    with pytest.raises(OSError, match="disk full"):
        fetch(SourceRequest("demo", str(tarball)), cache_dir=cache)
    assert list(archives.iterdir()) == []  # the stale temp swept, the new one removed
    monkeypatch.setattr(archive_mod, "copy_hashing", real_copy)
    source = fetch(SourceRequest("demo", str(tarball)), cache_dir=cache)
    assert source.path.read_bytes() == tarball.read_bytes()
