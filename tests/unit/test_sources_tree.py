"""Local source directories: the content hash, what it leaves out, and the copy made for a build."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from torchbuild.errors import SourceError
from torchbuild.sources import SourceRequest, fetch, materialize
from torchbuild.sources.tree import tree_digest

if TYPE_CHECKING:
    from pathlib import Path


def _tree(root: Path) -> Path:
    (root / "src" / "tools" / "build").mkdir(parents=True)
    (root / "setup.py").write_text("print('setup')\n")
    (root / "src" / "a.c").write_text("int a;\n")
    (root / "src" / "tools" / "build" / "gen.py").write_text("# real source in a nested build/\n")
    run = root / "run.sh"
    run.write_text("#!/bin/sh\necho hi\n")
    run.chmod(0o755)
    return root


def _fetch(root: Path, cache: Path) -> str:
    return fetch(SourceRequest("demo", str(root)), cache_dir=cache).digest


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_the_digest_is_stable_and_independent_of_where_the_tree_is(tmp_path: Path) -> None:
    a = _tree(tmp_path / "a")
    first = _fetch(a, tmp_path / "cache")
    assert first.startswith("tree:")
    assert len(first) == len("tree:") + 64
    assert _fetch(a, tmp_path / "cache") == first
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b, symlinks=True)
    assert _fetch(b, tmp_path / "cache") == first


def test_build_outputs_and_vcs_data_change_neither_the_digest_nor_the_copy(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path / "t")
    before = _fetch(root, tmp_path / "cache")
    for junk in (
        ".git/objects/ab/cdef",
        ".hg/store/data",
        "build/lib/torch/_C.so",
        "dist/demo-1.0-cp311-linux_x86_64.whl",
        "demo.egg-info/PKG-INFO",
        "src/deep/demo.egg-info/SOURCES.txt",
        "__pycache__/setup.cpython-311.pyc",
        "src/tools/__pycache__/x.pyc",
        "src/sub/.git",  # a submodule's .git is a file
    ):
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text("generated\n")
    source = fetch(SourceRequest("demo", str(root)), cache_dir=tmp_path / "cache")
    assert source.digest == before
    dest = tmp_path / "copy"
    materialize(source, dest)
    assert _files(dest) == {
        "setup.py",
        "run.sh",
        "src/a.c",
        "src/tools/build/gen.py",
    }
    # Only the top-level build/ and dist/ are outputs: a nested build/ is source and counts.
    (root / "src" / "tools" / "build" / "gen.py").write_text("# changed\n")
    assert _fetch(root, tmp_path / "cache") != before


@pytest.mark.parametrize("change", ["content", "exec-bit", "rename", "new-file"])
def test_every_real_change_changes_the_digest(tmp_path: Path, change: str) -> None:
    root = _tree(tmp_path / "t")
    before = _fetch(root, tmp_path / "cache")
    if change == "content":
        (root / "src" / "a.c").write_text("int b;\n")
    elif change == "exec-bit":
        (root / "run.sh").chmod(0o644)
    elif change == "rename":
        (root / "src" / "a.c").rename(root / "src" / "b.c")
    else:
        (root / "empty.txt").write_text("")
    assert _fetch(root, tmp_path / "cache") != before


def test_links_inside_stay_links_and_links_outside_become_files(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("from outside\n")
    root = _tree(tmp_path / "t")
    (root / "inner").symlink_to("src/a.c")
    (root / "outer").symlink_to(outside)
    (root / "dirlink").symlink_to("src")
    source = fetch(SourceRequest("demo", str(root)), cache_dir=tmp_path / "cache")
    dest = tmp_path / "copy"
    materialize(source, dest)
    assert os.readlink(dest / "inner") == "src/a.c"
    assert os.readlink(dest / "dirlink") == "src"
    assert not (dest / "outer").is_symlink()
    assert (dest / "outer").read_text() == "from outside\n"
    assert os.access(dest / "run.sh", os.X_OK)
    assert not os.access(dest / "setup.py", os.X_OK)
    # The copy hashes as the original: the key names exactly what the build gets.
    assert tree_digest(dest) == source.digest
    # A link's target is part of the content.
    (root / "inner").unlink()
    (root / "inner").symlink_to("setup.py")
    assert _fetch(root, tmp_path / "cache") != source.digest


def test_a_tree_changed_after_fetch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    source = fetch(SourceRequest("demo", str(root)), cache_dir=tmp_path / "cache")
    (root / "src" / "a.c").write_text("int edited;\n")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SourceError, match="changed after it was hashed"):
        materialize(source, out / "tree")
    assert list(out.iterdir()) == []


def test_materialize_refuses_an_existing_destination(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    source = fetch(SourceRequest("demo", str(root)), cache_dir=tmp_path / "cache")
    (tmp_path / "dest").mkdir()
    with pytest.raises(SourceError, match="already exists"):
        materialize(source, tmp_path / "dest")
