"""Patch checks on small real trees: applies, already applied, rejected hunk named, undo."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from torchbuild import run
from torchbuild.errors import SourceError
from torchbuild.sources import patches

if TYPE_CHECKING:
    from pathlib import Path

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 31))

PATCH_1 = """From: someone
Subject: [PATCH] change two places

Leading text is ignored.
---
--- a/src/file.txt
+++ b/src/file.txt
@@ -2,3 +2,3 @@
 line 2
-line 3
+line three
 line 4
@@ -20,3 +20,3 @@
 line 20
-line 21
+line twenty-one
 line 22
"""

# Applies after PATCH_1 only if line 25 is untouched, but its second hunk expects text no tree has.
PATCH_BAD = """--- a/src/file.txt
+++ b/src/file.txt
@@ -9,3 +9,3 @@
 line 9
-line 10
+line ten
 line 11
@@ -25,3 +25,3 @@
 line 25
-line 26 but different
+line 26!
 line 27
"""


@dataclass(frozen=True)
class Ref:
    file: str
    path: Path
    sha256: str


def ref(tmp_path: Path, name: str, text: str) -> Ref:
    path = tmp_path / "patches" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return Ref(name, path, hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "src").mkdir(parents=True)
    (root / "src" / "file.txt").write_text(ORIGINAL)
    return root


@pytest.fixture(params=["git", "patch"])
def tool(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    if name == "patch":
        real = run.which
        monkeypatch.setattr(
            run, "which", lambda n, path=None: None if n == "git" else real(n, path)
        )
    return name


def test_parse_hunks() -> None:
    hunks = patches.parse_hunks(PATCH_1)
    assert [(h.file, h.index, h.old_start) for h in hunks] == [
        ("src/file.txt", 1, 2),
        ("src/file.txt", 2, 20),
    ]
    assert hunks[1].header == "@@ -20,3 +20,3 @@"
    assert hunks[1].text.splitlines()[2] == "-line 21"


@pytest.mark.programs
def test_applies_then_already_applied(tool: str, tree: Path, tmp_path: Path) -> None:
    p = ref(tmp_path, "0001.patch", PATCH_1)
    assert patches.check(tree, p.path).state == patches.APPLIES
    results = patches.apply_series(tree, [p])
    assert [r.state for r in results] == [patches.APPLIES]
    assert "line twenty-one" in (tree / "src" / "file.txt").read_text()
    # A second run finds it in place and leaves the tree alone.
    assert patches.check(tree, p.path).state == patches.APPLIED
    assert [r.state for r in patches.apply_series(tree, [p])] == [patches.APPLIED]


@pytest.mark.programs
def test_rejected_hunk_is_named_and_earlier_patches_are_undone(
    tool: str, tree: Path, tmp_path: Path
) -> None:
    good = ref(tmp_path, "0001-good.patch", PATCH_1)
    bad = ref(tmp_path, "0002-bad.patch", PATCH_BAD)
    result = patches.check(tree, bad.path)
    assert result.state == patches.FAILS
    assert result.hunk is not None
    assert (result.hunk.file, result.hunk.index) == ("src/file.txt", 2)
    assert result.describe() == (
        "0002-bad.patch does not apply at src/file.txt hunk #2 (@@ -25,3 +25,3 @@)"
    )
    with pytest.raises(SourceError) as info:
        patches.apply_series(tree, [good, bad])
    assert "0002-bad.patch does not apply at src/file.txt hunk #2" in info.value.message
    assert "-line 26 but different" in info.value.message
    assert "nothing was built" in info.value.message
    assert info.value.exit_code == 7
    # The good patch applied first was taken back out: the tree is as it was.
    assert (tree / "src" / "file.txt").read_text() == ORIGINAL


@pytest.mark.programs
def test_missing_file_is_reported(tool: str, tree: Path, tmp_path: Path) -> None:
    p = ref(tmp_path, "0003.patch", PATCH_1.replace("src/file.txt", "src/other.txt"))
    result = patches.check(tree, p.path)
    assert result.state == patches.FAILS
    assert result.describe().startswith("0003.patch does not apply")


def test_sha256_mismatch_stops_before_anything(tree: Path, tmp_path: Path) -> None:
    p = ref(tmp_path, "0001.patch", PATCH_1)
    stale = Ref(p.file, p.path, "0" * 64)
    with pytest.raises(SourceError, match=r"has sha256 .* but the recipe says 0000"):
        patches.apply_series(tree, [stale])
    assert (tree / "src" / "file.txt").read_text() == ORIGINAL


@pytest.mark.programs
def test_enclosing_git_repository_is_not_used(tree: Path, tmp_path: Path) -> None:
    # A source tree inside someone's git checkout: paths must stay relative to the tree.
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    run.capture(["git", "init", "-q", str(tmp_path)], timeout=30)
    p = ref(tmp_path, "0001.patch", PATCH_1)
    assert [r.state for r in patches.apply_series(tree, [p])] == [patches.APPLIES]
    assert "line three" in (tree / "src" / "file.txt").read_text()
