"""The wheelhouse store: adding, immutability, recovery after a crash, verify, prune."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from torchbuild.errors import InputError, WheelhouseError
from torchbuild.fs import sha256_file, temp_path
from torchbuild.wheelhouse import Entry, Wheelhouse, verify
from torchbuild.wheelhouse.maintenance import prune
from wheelfactory import make_wheel, page_links


@pytest.fixture
def wh(tmp_path):
    return Wheelhouse(tmp_path / "wh", durable=False)


@pytest.fixture
def src(tmp_path):
    return tmp_path / "src"


def assert_consistent(wh: Wheelhouse) -> None:
    """Every link on every page names a file that exists and has the linked hash."""
    for project in wh.projects():
        for link in page_links(wh.project_dir(project) / "index.html"):
            href = link["href"] or ""
            name, _, fragment = href.partition("#sha256=")
            target = wh.project_dir(project) / unquote(name)
            assert sha256_file(target)[0] == fragment
    report = verify(wh)
    assert report.ok, report.findings


def test_add_publishes_pages_and_metadata(wh, src):
    wheel = make_wheel(
        src, "torch", "2.6.0+cpu", tag="cp311-cp311-linux_x86_64", requires_python=">=3.9"
    )
    result = wh.add(wheel, origin="external test")
    assert result.added
    entry = result.entry
    assert entry.sha256 == sha256_file(wheel)[0]
    assert entry.size == wheel.stat().st_size
    assert entry.requires_python == ">=3.9"
    assert result.path.read_bytes() == wheel.read_bytes()
    meta = result.path.with_name(result.path.name + ".metadata")
    assert entry.metadata_sha256 == sha256_file(meta)[0]

    (link,) = page_links(wh.simple / "torch" / "index.html")
    assert link["href"] == f"torch-2.6.0%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256={entry.sha256}"
    assert link["data-requires-python"] == ">=3.9"
    assert link["data-core-metadata"] == f"sha256={entry.metadata_sha256}"
    assert link["data-dist-info-metadata"] == f"sha256={entry.metadata_sha256}"
    page = json.loads((wh.simple / "torch" / "index.json").read_text())
    assert page["meta"]["api-version"] == "1.1"
    assert page["name"] == "torch"
    assert page["versions"] == ["2.6.0+cpu"]
    (file,) = page["files"]
    assert file["hashes"] == {"sha256": entry.sha256}
    assert file["core-metadata"] == {"sha256": entry.metadata_sha256}
    assert file["size"] == entry.size
    root = json.loads((wh.simple / "index.json").read_text())
    assert root["projects"] == [{"name": "torch"}]
    assert [link["href"] for link in page_links(wh.simple / "index.html")] == ["torch/"]
    assert_consistent(wh)


def test_find_any_spelling_newest_first(wh, src):
    for version in ("1.0", "2.0", "1.5"):
        wh.add(make_wheel(src, "My_Pkg", version), origin="t")
    assert [str(e.name.version) for e in wh.find("my.pkg")] == ["2.0", "1.5", "1.0"]
    assert wh.projects() == ["my-pkg"]


def test_same_file_twice_is_a_noop(wh, src):
    wheel = make_wheel(src, "demo", "1.0")
    first = wh.add(wheel, origin="a")
    again = wh.add(wheel, origin="b")
    assert not again.added
    assert again.entry == first.entry  # the first origin stays


def test_different_file_same_name_refused(wh, src, tmp_path):
    wh.add(make_wheel(src, "demo", "1.0"), origin="a")
    other = make_wheel(tmp_path / "other", "demo", "1.0", seed="rebuilt")
    with pytest.raises(WheelhouseError, match="different contents") as info:
        wh.add(other, origin="b")
    assert info.value.exit_code == 10
    assert_consistent(wh)


def test_bad_wheel_is_input_error_and_leaves_nothing(wh, tmp_path):
    bad = tmp_path / "demo-1.0-py3-none-any.whl"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError) as info:
        wh.add(bad, origin="x")
    assert info.value.exit_code == 3
    assert str(bad) in info.value.message
    assert list(wh.tmp_dir.iterdir()) == []
    assert wh.projects() == []
    with pytest.raises(InputError):
        wh.add(tmp_path / "missing-1.0-py3-none-any.whl", origin="x")


def test_unlisted_identical_file_is_adopted_different_refused(wh, src, tmp_path):
    wh.add(make_wheel(src, "demo", "1.0"), origin="a")
    wheel = make_wheel(src, "demo", "2.0")
    (wh.simple / "demo" / wheel.name).write_bytes(wheel.read_bytes())
    assert wh.add(wheel, origin="b").added
    stray = make_wheel(tmp_path / "x", "demo", "3.0", seed="one")
    (wh.simple / "demo" / stray.name).write_bytes(b"something else")
    with pytest.raises(WheelhouseError, match="not listed"):
        wh.add(stray, origin="c")


def test_only_touched_project_is_rewritten(wh, src):
    wh.add(make_wheel(src, "alpha", "1.0"), origin="t")
    wh.add(make_wheel(src, "beta", "1.0"), origin="t")
    watched = [
        wh.simple / "alpha" / "index.html",
        wh.simple / "alpha" / "index.json",
        wh.simple / "index.html",
        wh.simple / "index.json",
        wh.manifest_path("alpha"),
    ]
    before = {p: p.stat().st_ino for p in watched}
    wh.add(make_wheel(src, "beta", "2.0"), origin="t")
    assert {p: p.stat().st_ino for p in watched} == before  # replaced files get new inodes
    wh.add(make_wheel(src, "gamma", "1.0"), origin="t")  # a new project changes the root only
    assert (wh.simple / "index.html").stat().st_ino != before[wh.simple / "index.html"]
    assert (wh.simple / "alpha" / "index.html").stat().st_ino == before[
        wh.simple / "alpha" / "index.html"
    ]


def test_empty_wheelhouse_is_a_valid_index(wh):
    assert wh.recover() == []
    assert page_links(wh.simple / "index.html") == []
    assert json.loads((wh.simple / "index.json").read_text())["projects"] == []
    assert verify(wh).ok


def test_verify_without_wheelhouse_is_an_error(tmp_path):
    with pytest.raises(WheelhouseError, match="no wheelhouse"):
        verify(Wheelhouse(tmp_path / "nowhere"))


# ------------------------------------------------------------------------- crash recovery


def _entry(wh: Wheelhouse, wheel: Path) -> Entry:
    from hashlib import sha256

    from torchbuild.wheelhouse import inspect_wheel

    info = inspect_wheel(wheel)
    digest, size = sha256_file(wheel)
    return Entry(wheel.name, digest, size, None, sha256(info.metadata).hexdigest(), "t", "")


def _intent(wh: Wheelhouse, data: dict) -> None:
    (wh.pending_dir / f"1-{os.getpid()}.json").write_text(json.dumps(data))


def test_recover_completes_add_whose_wheel_arrived(wh, src):
    # Killed after the wheel's rename, before the manifest: the wheel is there, unlisted.
    wheel = make_wheel(src, "demo", "2.0")
    entry = _entry(wh, wheel)
    wh.recover()  # create the layout
    project = wh.simple / "demo"
    project.mkdir()
    from torchbuild.wheelhouse import inspect_wheel

    (project / f"{wheel.name}.metadata").write_bytes(inspect_wheel(wheel).metadata)
    (project / wheel.name).write_bytes(wheel.read_bytes())
    _intent(wh, {"op": "add", "project": "demo", "entry": entry.to_json()})
    notes = wh.recover()
    assert notes == [f"completed an interrupted add of {wheel.name}"]
    assert wh.find("demo") == [entry]
    assert_consistent(wh)


def test_recover_rolls_back_add_whose_wheel_never_arrived(wh, src):
    wh.add(make_wheel(src, "other", "1.0"), origin="t")
    wheel = make_wheel(src, "demo", "1.0")
    entry = _entry(wh, wheel)
    (wh.simple / "demo").mkdir()
    (wh.simple / "demo" / f"{wheel.name}.metadata").write_bytes(b"meta")
    _intent(wh, {"op": "add", "project": "demo", "entry": entry.to_json()})
    assert wh.recover() == [f"rolled back an interrupted add of {wheel.name}"]
    assert not (wh.simple / "demo").exists()
    assert wh.projects() == ["other"]
    assert_consistent(wh)
    assert wh.add(wheel, origin="again").added


def test_recover_rolls_back_damaged_wheel(wh, src):
    wheel = make_wheel(src, "demo", "1.0")
    entry = _entry(wh, wheel)
    wh.recover()
    (wh.simple / "demo").mkdir()
    (wh.simple / "demo" / wheel.name).write_bytes(b"half a wheel")
    _intent(wh, {"op": "add", "project": "demo", "entry": entry.to_json()})
    assert "rolled back" in wh.recover()[0]
    assert_consistent(wh)


def test_recover_completes_removal(wh, src):
    a = wh.add(make_wheel(src, "demo", "1.0"), origin="t").entry
    wh.add(make_wheel(src, "demo", "2.0"), origin="t")
    _intent(wh, {"op": "remove", "project": "demo", "filenames": [a.filename]})
    assert wh.recover() == ["completed an interrupted removal from demo"]
    assert [e.name.version.public for e in wh.find("demo")] == ["2.0"]
    assert not (wh.simple / "demo" / a.filename).exists()
    assert_consistent(wh)


def test_dead_writers_temps_are_removed_live_ones_kept(wh):
    wh.recover()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_tmp = wh.tmp_dir / f".tmp-{dead.stdout.strip()}-abc.whl"
    dead_tmp.write_bytes(b"x")
    live_tmp = temp_path(wh.tmp_dir, ".whl")  # this process: alive
    live_tmp.write_bytes(b"y")
    notes = wh.recover()
    assert notes == [f"removed a dead writer's temporary file {dead_tmp.name}"]
    assert live_tmp.exists()
    assert not dead_tmp.exists()


def test_unreadable_intent_is_reported(wh):
    wh.recover()
    (wh.pending_dir / "1-1.json").write_text("{not json")
    with pytest.raises(WheelhouseError, match="interrupted operation"):
        wh.recover()


# ------------------------------------------------------------------------- verify


def test_verify_finds_every_kind_of_problem(wh, src, tmp_path):
    a = wh.add(make_wheel(src, "alpha", "1.0"), origin="t")
    b = wh.add(make_wheel(src, "beta", "1.0"), origin="t")
    c = wh.add(make_wheel(src, "gamma", "1.0"), origin="t")
    wh.add(make_wheel(src, "delta", "1.0"), origin="t")
    # mismatch: same size, one byte flipped
    data = bytearray(a.path.read_bytes())
    data[-30] ^= 1
    a.path.write_bytes(bytes(data))
    # missing wheel
    b.path.unlink()
    # metadata altered
    c.path.with_name(c.path.name + ".metadata").write_bytes(b"Name: gamma\n")
    # stale page
    (wh.simple / "delta" / "index.json").write_text("{}")
    # orphans: an unlisted file, an unknown directory, a symlink out of the tree
    (wh.simple / "alpha" / "unlisted-1.0-py3-none-any.whl").write_bytes(b"x")
    (wh.simple / "stranger").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    (wh.simple / "alpha" / "link.whl").symlink_to(secret)

    report = verify(wh)
    got = {(f.kind, Path(f.path).name) for f in report.findings}
    assert got == {
        ("mismatch", a.entry.filename),
        ("missing", b.entry.filename),
        ("mismatch", c.entry.filename + ".metadata"),
        ("stale-page", "index.json"),
        ("orphan", "unlisted-1.0-py3-none-any.whl"),
        ("orphan", "stranger"),
        ("orphan", "link.whl"),
    }
    assert not report.ok
    assert report.files == 4


def test_verify_reports_damaged_manifest(wh, src):
    wh.add(make_wheel(src, "demo", "1.0"), origin="t")
    wh.manifest_path("demo").write_text("[]")
    kinds = {f.kind for f in verify(wh).findings}
    assert "damaged" in kinds


def test_verify_read_only_copy(wh, src, monkeypatch):
    wh.add(make_wheel(src, "demo", "1.0"), origin="t")
    _intent(wh, {"op": "remove", "project": "demo", "filenames": []})
    # A mounted image or a mirror: not writable, so no lock and no recovery.
    monkeypatch.setattr("torchbuild.wheelhouse.check.os.access", lambda *_: False)
    report = verify(wh)
    assert report.notes == ("read-only: checked without the lock",)
    assert [f.kind for f in report.findings] == ["pending"]


# ------------------------------------------------------------------------- prune


def test_prune_keeps_newest_per_variant(wh, src):
    for version in ("2.4.0", "2.5.0", "2.6.0"):
        for label in ("cpu", "cu126"):
            for platform in ("manylinux_2_28_aarch64", "linux_x86_64"):
                wh.add(
                    make_wheel(src, "torch", f"{version}+{label}", tag=f"cp311-cp311-{platform}"),
                    origin="t",
                )
    wh.add(make_wheel(src, "numpy", "1.0"), origin="t")
    dry = prune(wh, keep=2, dry_run=True)
    assert len(dry.removed) == 4
    assert {e.name.version.public for e in dry.removed} == {"2.4.0"}
    assert len(wh.find("torch")) == 12
    done = prune(wh, keep=2)
    assert sorted(e.filename for e in done.removed) == sorted(e.filename for e in dry.removed)
    assert done.freed == sum(e.size for e in done.removed)
    assert len(wh.find("torch")) == 8
    assert len(wh.find("numpy")) == 1
    for entry in done.removed:
        assert not wh.path_of(entry).exists()
    assert_consistent(wh)


def test_prune_last_version_drops_project(wh, src):
    entry = wh.add(make_wheel(src, "demo", "1.0"), origin="t").entry
    wh.add(make_wheel(src, "keep", "1.0"), origin="t")
    wh.remove([entry])
    assert wh.projects() == ["keep"]
    assert not (wh.simple / "demo").exists()
    assert_consistent(wh)


def test_prune_orphans(wh, src):
    wh.add(make_wheel(src, "demo", "1.0"), origin="t")
    stray = wh.simple / "demo" / "stray-1.0-py3-none-any.whl"
    stray.write_bytes(b"12345")
    (wh.simple / "junk").mkdir()
    (wh.simple / "junk" / "index.html").write_text("x")
    result = prune(wh, keep=None, orphans=True)
    assert sorted(p.name for p in result.orphans) == ["junk", "stray-1.0-py3-none-any.whl"]
    assert not stray.exists()
    assert not (wh.simple / "junk").exists()
    assert_consistent(wh)


def test_prune_orphans_refuses_with_damaged_manifest(wh, src):
    wh.add(make_wheel(src, "demo", "1.0"), origin="t")
    wh.manifest_path("demo").write_text("{}")
    with pytest.raises(WheelhouseError, match="damaged"):
        prune(wh, keep=None, orphans=True)
    assert (wh.simple / "demo").exists()


def test_threads_sharing_one_wheelhouse(wh, src):
    from concurrent.futures import ThreadPoolExecutor

    wheels = [make_wheel(src, f"p{i % 3}", f"1.{i}") for i in range(12)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda w: wh.add(w, origin="thread"), wheels))
    assert all(r.added for r in results)
    assert len(wh.entries()) == 12
    assert_consistent(wh)


def test_durable_mode_works(tmp_path, src):
    durable = Wheelhouse(tmp_path / "durable")
    durable.add(make_wheel(src, "demo", "1.0"), origin="t")
    assert verify(durable).ok


def test_disk_full_mid_add_leaves_a_consistent_wheelhouse(wh, src, monkeypatch):
    wh.add(make_wheel(src, "demo", "1.0"), origin="t")
    real_commit = Wheelhouse._commit
    calls = []

    def failing_commit(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(Wheelhouse, "_commit", failing_commit)
    with pytest.raises(WheelhouseError, match="No space left on device") as info:
        wh.add(make_wheel(src, "demo", "2.0"), origin="t")
    assert info.value.exit_code == 10
    monkeypatch.undo()
    # The wheel was in place when the manifest write failed: the failed add was undone, so
    # the wheelhouse is exactly as it was before it.
    assert [e.name.version.public for e in wh.find("demo")] == ["1.0"]
    assert not (wh.project_dir("demo") / "demo-2.0-py3-none-any.whl").exists()
    assert not any(wh.pending_dir.iterdir())
    assert_consistent(wh)


def test_wheelhouse_path_that_is_a_file(tmp_path, src):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WheelhouseError, match="cannot create the wheelhouse"):
        Wheelhouse(tmp_path / "file" / "wh").add(make_wheel(src, "demo", "1.0"), origin="t")


def test_verify_compares_metadata_with_the_wheels_own(wh, src):
    entry = wh.add(make_wheel(src, "demo", "1.0"), origin="t").entry
    meta = wh.path_of(entry).with_name(entry.filename + ".metadata")
    # The .metadata file and its manifest hash agree with each other, not with the wheel.
    other = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: changed\n"
    meta.write_bytes(other)
    manifest = wh.manifest_path("demo")
    text = manifest.read_text().replace(entry.metadata_sha256, sha256_file(meta).sha256)
    manifest.write_text(text)
    findings = {(f.kind, Path(f.path).name, f.detail) for f in verify(wh).findings}
    assert ("mismatch", meta.name, "differs from the METADATA inside the wheel") in findings
