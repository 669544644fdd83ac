"""`index export` / `index import`: a self-contained copy that pip reads and import takes back."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from torchbuild.__main__ import main
from torchbuild.errors import InputError, WheelhouseError
from torchbuild.resolve.indexes import parse_html
from torchbuild.wheelhouse import Wheelhouse, verify
from torchbuild.wheelhouse.transfer import export, import_, plan_import
from wheelfactory import make_wheel

TORCH = "torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl"
VISION = "torchvision-0.21.0+cpu-py3-none-any.whl"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    for name in list(os.environ):
        if name.startswith("TORCHBUILD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def wh(tmp_path):
    wh = Wheelhouse(tmp_path / "wh", durable=False)
    src = tmp_path / "src"
    wh.add(
        make_wheel(src, "torch", "2.6.0+cpu", tag="cp311-cp311-linux_aarch64"),
        origin="built torch 2.6.0 key=ab12",
    )
    wh.add(make_wheel(src, "torchvision", "0.21.0+cpu", requires_python=">=3.9"), origin="test")
    return wh


def _fingerprint(wh: Wheelhouse) -> dict[str, tuple[str, int, str]]:
    return {e.filename: (e.sha256, e.size, e.origin) for e in wh.entries()}


def test_export_dir_is_a_verified_wheelhouse_with_a_find_links_page(wh, tmp_path):
    result = export(wh, tmp_path / "out")
    out = tmp_path / "out"
    assert result.kind == "dir"
    assert {e.filename for e in result.entries} == {TORCH, VISION}
    copy = Wheelhouse(out, durable=False)
    assert _fingerprint(copy) == _fingerprint(wh)
    assert verify(copy).ok
    for name in (TORCH, VISION):
        project = name.split("-")[0]
        assert (out / "simple" / project / f"{name}.metadata").is_file()
    # The top page links every wheel relative to itself, with its sha256: what pip's
    # --find-links reads from a directory.
    links = parse_html((out / "index.html").read_bytes(), out.as_uri() + "/")
    assert {link.filename for link in links} == {TORCH, VISION}
    for link in links:
        path = Path(link.url[len("file://") :].replace("%2B", "+"))
        assert path.is_file()
        assert link.sha256 == next(e.sha256 for e in wh.entries() if e.filename == link.filename)
    marker = json.loads((out / ".torchbuild" / "export.json").read_text())
    assert (marker["version"], marker["files"]) == (1, 2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


@pytest.mark.parametrize("name", ["out.tar", "out.tar.gz"])
def test_export_tar_and_import_into_an_empty_wheelhouse(wh, tmp_path, name):
    result = export(wh, tmp_path / name)
    assert result.kind == "tar"
    with tarfile.open(tmp_path / name) as archive:
        names = archive.getnames()
    assert all(n == "out" or n.startswith("out/") for n in names)
    assert "out/index.html" in names

    target = Wheelhouse(tmp_path / "new", durable=False)
    done = import_(target, tmp_path / name)
    assert {e.filename for e in done.added} == {TORCH, VISION}
    assert _fingerprint(target) == _fingerprint(wh)  # origins (build keys) survive the trip
    assert verify(target).ok
    assert [p.name for p in target.state.iterdir() if p.name.startswith("import-")] == []

    again = import_(target, tmp_path / name)
    assert again.added == ()
    assert {i.status for i in again.items} == {"present"}


def test_export_refuses_an_occupied_destination_and_a_damaged_wheel(wh, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        export(wh, tmp_path / "full")
    (tmp_path / "file.tar").write_text("x")
    with pytest.raises(InputError, match="already exists"):
        export(wh, tmp_path / "file.tar")

    with pytest.raises(InputError, match="inside the wheelhouse"):
        export(wh, wh.root / "simple" / "copy.tar")
    (tmp_path / "empty").mkdir()
    assert export(wh, tmp_path / "empty").kind == "dir"  # an empty directory is fine

    path = wh.path_of(wh.find("torch")[0])
    path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    for dest in ("bad", "bad.tar"):
        with pytest.raises(WheelhouseError, match="does not match the manifest"):
            export(wh, tmp_path / dest)
        assert not (tmp_path / dest).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def test_export_and_import_one_project(wh, tmp_path):
    export(wh, tmp_path / "vision", ["TorchVision"])
    assert not (tmp_path / "vision" / "simple" / "torch").exists()
    assert verify(Wheelhouse(tmp_path / "vision", durable=False)).ok

    export(wh, tmp_path / "all")
    target = Wheelhouse(tmp_path / "new", durable=False)
    done = import_(target, tmp_path / "all", ["torch"])
    assert [e.filename for e in done.added] == [TORCH]
    with pytest.raises(InputError, match="no wheels of torchaudio"):
        import_(target, tmp_path / "all", ["torchaudio"])


def test_import_refuses_a_conflict_before_adding_anything(wh, tmp_path):
    export(wh, tmp_path / "out")
    target = Wheelhouse(tmp_path / "new", durable=False)
    other = make_wheel(
        tmp_path / "other", "torch", "2.6.0+cpu", tag="cp311-cp311-linux_aarch64", seed="x"
    )
    target.add(other, origin="test")
    plan = plan_import(target, tmp_path / "out")
    assert {i.filename: i.status for i in plan.items} == {TORCH: "conflict", VISION: "add"}
    with pytest.raises(WheelhouseError) as caught:
        import_(target, tmp_path / "out")
    assert TORCH in caught.value.message
    assert target.find("torch")[0].sha256 in caught.value.message
    assert wh.find("torch")[0].sha256 in caught.value.message
    assert target.find("torchvision") == []  # nothing was added


def test_import_checks_every_file_first(wh, tmp_path):
    export(wh, tmp_path / "out")
    wheel = tmp_path / "out" / "simple" / "torchvision" / VISION
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    target = Wheelhouse(tmp_path / "new", durable=False)
    with pytest.raises(WheelhouseError, match=r"torchvision.*has sha256"):
        import_(target, tmp_path / "out")
    assert target.entries() == []

    export(wh, tmp_path / "out2")
    page = tmp_path / "out2" / "simple" / "torch" / "index.json"
    page.write_text(page.read_text().replace(wh.find("torch")[0].sha256, "0" * 64))
    with pytest.raises(WheelhouseError, match="does not list"):
        import_(target, tmp_path / "out2")
    assert target.entries() == []


def test_import_a_tree_without_manifests_checks_page_hashes(wh, tmp_path):
    export(wh, tmp_path / "out")
    shutil.rmtree(tmp_path / "out" / ".torchbuild")
    target = Wheelhouse(tmp_path / "new", durable=False)
    done = import_(target, tmp_path / "out")
    assert {e.filename for e in done.added} == {TORCH, VISION}
    assert {e.origin for e in target.entries()} == {f"imported from {tmp_path / 'out'}"}


def _tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data else None)
    return path


@pytest.mark.parametrize(
    ("evil", "why"),
    [
        ("../escape.txt", "leaves the target"),
        ("out/../../escape.txt", "leaves the target"),
        ("/tmp/escape.txt", "absolute"),
        ("link", "link"),
    ],
)
def test_import_refuses_a_tar_member_escaping_the_target(wh, tmp_path, evil, why):
    export(wh, tmp_path / "out.tar")
    with tarfile.open(tmp_path / "out.tar") as archive:
        members = [(m, archive.extractfile(m).read() if m.isfile() else b"") for m in archive]
    info = tarfile.TarInfo(evil if evil != "link" else "out/simple/torch/evil")
    if evil == "link":
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
    bad = _tar_with(tmp_path / "bad.tar", [*members, (info, b"" if evil == "link" else b"boom")])
    target = Wheelhouse(tmp_path / "new", durable=False)
    with pytest.raises(InputError, match=why) as caught:
        import_(target, bad)
    assert "nothing was imported" in caught.value.message
    assert target.entries() == []
    assert not (tmp_path / "escape.txt").exists()


def test_import_refuses_what_is_not_an_export(tmp_path):
    (tmp_path / "plain").mkdir()
    target = Wheelhouse(tmp_path / "new", durable=False)
    with pytest.raises(InputError, match="no simple/"):
        import_(target, tmp_path / "plain")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(InputError, match="tar archive"):
        import_(target, tmp_path / "junk.tar")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_import_verify(capsys, wh, tmp_path):
    code, out, err = run(
        capsys, "index", "export", "--wheelhouse", str(wh.root), "--to", "x.tar", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert (data["version"], data["kind"], len(data["files"])) == (1, "tar", 2)

    new = str(tmp_path / "new")
    code, out, err = run(capsys, "index", "import", "x.tar", "--wheelhouse", new, "--dry-run")
    assert code == 0, err
    assert "would add" in out
    assert not Wheelhouse(tmp_path / "new").exists()

    code, out, err = run(capsys, "index", "import", "x.tar", "--wheelhouse", new)
    assert code == 0, err
    assert "2 added" in out
    code, out, _ = run(capsys, "index", "import", "x.tar", "--wheelhouse", new, "--json")
    data = json.loads(out)
    assert (data["version"], data["added"], data["present"]) == (1, 0, 2)
    assert run(capsys, "index", "verify", "--wheelhouse", new)[0] == 0

    code, _, err = run(capsys, "index", "export", "--wheelhouse", new, "--to", "x.tar")
    assert code == 3
    assert "already exists" in err
