"""git sources against local repositories made here (file:// URLs), with a submodule.

These run the host's git (what the git source kind itself runs), so they are integration tests:
the unit suite needs no tool of the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from torchbuild import run
from torchbuild.errors import NetworkError, SourceError
from torchbuild.sources import SourceRequest, fetch, materialize

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("git") is None, reason="git is not installed (apt-get install git)"
    ),
]

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


class Repos:
    def __init__(self, root: Path) -> None:
        sub = root / "sub-work"
        sub.mkdir(parents=True)
        git("init", "-q", cwd=sub)
        (sub / "kernel.c").write_text("int kernel;\n")
        git("add", ".", cwd=sub)
        git("commit", "-qm", "sub", cwd=sub)
        git("clone", "-q", "--bare", str(sub), str(root / "sub.git"))
        self.work = root / "main-work"
        self.work.mkdir()
        git("init", "-q", cwd=self.work)
        (self.work / "setup.py").write_text("print('v1')\n")
        git("submodule", "add", "-q", f"file://{root}/sub.git", "third_party/sub", cwd=self.work)
        git("add", ".", cwd=self.work)
        git("commit", "-qm", "v1", cwd=self.work)
        git("tag", "-a", "v1.0", "-m", "release 1.0", cwd=self.work)  # annotated: peeled
        self.v1 = git("rev-parse", "HEAD", cwd=self.work)
        self.bare = root / "main.git"
        git("clone", "-q", "--bare", str(self.work), str(self.bare))
        git("remote", "add", "bare", str(self.bare), cwd=self.work)
        self.url = f"file://{self.bare}"

    def commit(self, text: str) -> str:
        (self.work / "setup.py").write_text(text)
        git("commit", "-qam", text, cwd=self.work)
        git("push", "-q", "bare", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture
def repos(tmp_path: Path) -> Repos:
    return Repos(tmp_path / "repos")


@pytest.mark.programs
def test_a_tag_is_pinned_to_its_commit_with_submodules(repos: Repos, tmp_path: Path) -> None:
    later = repos.commit("print('v2')\n")  # the branch moves on; the tag does not
    request = SourceRequest("demo", repos.url, version="1.0", ref="v1.0", submodules=True)
    source = fetch(request, cache_dir=tmp_path / "cache")
    assert source.kind == "git"
    assert source.digest == f"git:{repos.v1}"
    assert later != repos.v1
    assert source.path == tmp_path / "cache" / "sources" / "git" / f"{repos.v1}-submodules"
    assert f"v1.0 (commit {repos.v1[:12]})" in source.description
    record = source.provenance()
    assert (record["commit"], record["ref"], record["submodules"]) == (repos.v1, "v1.0", True)
    tree = tmp_path / "tree"
    materialize(source, tree)
    assert (tree / "setup.py").read_text() == "print('v1')\n"
    assert (tree / "third_party" / "sub" / "kernel.c").read_text() == "int kernel;\n"
    assert not list(tree.rglob(".git"))


@pytest.mark.programs
def test_a_second_fetch_runs_no_git_even_offline(
    repos: Repos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = SourceRequest("demo", repos.url, ref="v1.0", submodules=True)
    first = fetch(request, cache_dir=tmp_path / "cache")

    def no_git(*args: object, **kwargs: object) -> run.Completed:
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(run, "capture", no_git)
    assert fetch(request, cache_dir=tmp_path / "cache") == first
    assert fetch(request, cache_dir=tmp_path / "cache", offline=True) == first
    by_commit = SourceRequest("demo", repos.url, commit=repos.v1, submodules=True)
    assert fetch(by_commit, cache_dir=tmp_path / "cache", offline=True).path == first.path


@pytest.mark.programs
def test_a_commit_wins_over_the_ref_and_submodules_are_optional(
    repos: Repos, tmp_path: Path
) -> None:
    later = repos.commit("print('v2')\n")
    request = SourceRequest("demo", repos.url, ref="v1.0", commit=later)
    source = fetch(request, cache_dir=tmp_path / "cache")
    assert source.digest == f"git:{later}"
    tree = tmp_path / "tree"
    materialize(source, tree)
    assert (tree / "setup.py").read_text() == "print('v2')\n"
    assert not (tree / "third_party" / "sub" / "kernel.c").exists()


@pytest.mark.programs
def test_a_branch_is_asked_again_online_and_remembered_offline(
    repos: Repos, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = fetch(SourceRequest("demo", repos.url, ref="main"), cache_dir=cache)
    assert first.digest == f"git:{repos.v1}"
    later = repos.commit("print('v2')\n")
    assert fetch(SourceRequest("demo", repos.url, ref="main"), cache_dir=cache).digest == (
        f"git:{later}"
    )
    offline = fetch(SourceRequest("demo", repos.url, ref="main"), cache_dir=cache, offline=True)
    assert offline.digest == f"git:{later}"


def test_offline_with_nothing_cached_is_a_network_error(repos: Repos, tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="--offline"):
        fetch(SourceRequest("demo", repos.url, ref="v1.0"), cache_dir=tmp_path / "c", offline=True)
    with pytest.raises(NetworkError, match="--offline"):
        fetch(
            SourceRequest("demo", repos.url, commit=repos.v1),
            cache_dir=tmp_path / "c",
            offline=True,
        )


@pytest.mark.programs
def test_an_unknown_tag_or_commit_is_a_source_error(repos: Repos, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no tag or branch 'v9\.9'"):
        fetch(SourceRequest("demo", repos.url, ref="v9.9"), cache_dir=tmp_path / "cache")
    with pytest.raises(SourceError, match="not a full commit id"):
        fetch(SourceRequest("demo", repos.url, commit="abc123"), cache_dir=tmp_path / "cache")
    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(SourceError, match=f"no commit {missing}"):
        fetch(SourceRequest("demo", repos.url, commit=missing), cache_dir=tmp_path / "cache")
    # Nothing half-made is left behind: no checkout, no temp.
    assert {p.name for p in (tmp_path / "cache" / "sources" / "git").iterdir()} <= {"refs"}


@pytest.mark.programs
def test_an_unreachable_host_is_a_quick_network_error_with_the_way_around(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    with pytest.raises(NetworkError) as err:
        fetch(
            SourceRequest("torchaudio", "https://127.0.0.1:9/x.git", ref="v2.6.0"),
            cache_dir=tmp_path / "cache",
            timeout=10,
        )
    assert time.monotonic() - started < 10
    assert err.value.message.startswith("cannot reach 127.0.0.1")
    assert "--source torchaudio=/path/to/checkout-or-tarball" in err.value.hint
    assert err.value.exit_code == 11
