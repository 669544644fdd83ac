"""Choosing a recipe-less package's sdist from index listings (file names and hashes as PyPI
lists torch-scatter's; the hashes here are placeholders of the right shape)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchbuild.errors import InputError
from torchbuild.resolve.indexes.model import FileLink, Listing, Source
from torchbuild.resolve.plan import sdist_decision
from torchbuild.sources.index import choose_sdist

if TYPE_CHECKING:
    from pathlib import Path

PYPI = Source("index", "https://pypi.org/simple", "default")
MIRROR = Source("index", "https://mirror.example.org/simple", "--extra-index-url")
FILES = "https://files.example.org/packages"


def _link(filename: str, *, requires: str | None = None, yanked: bool = False) -> FileLink:
    sha = f"{abs(hash(filename)):064x}"[-64:]
    return FileLink(filename, f"{FILES}/{filename}#sha256={sha}", requires, yanked, sha)


LISTING = Listing(
    PYPI,
    "torch-scatter",
    (
        _link("torch_scatter-2.0.9.tar.gz"),
        _link("torch_scatter-2.1.1.tar.gz"),
        _link("torch_scatter-2.1.2.tar.gz", requires=">=3.8"),
        _link("torch_scatter-2.1.3rc1.tar.gz"),
        _link("torch_scatter-2.2.0.tar.gz", yanked=True),
        _link("torch_scatter-2.1.2-cp311-cp311-linux_x86_64.whl"),
        _link("torch_scatter-3.0.0.tar.gz", requires=">=3.12"),
    ),
)


def test_the_newest_final_sdist_for_the_python_wins() -> None:
    choice = choose_sdist([LISTING], "torch_scatter", pinned=None, python="3.11.7")
    assert choice.version == Version("2.1.2")
    assert choice.filename == "torch_scatter-2.1.2.tar.gz"
    assert choice.url == f"{FILES}/torch_scatter-2.1.2.tar.gz"  # the fragment is dropped
    assert choice.sha256 is not None
    assert choice.request().sha256 == choice.sha256
    assert choice.request().version == "2.1.2"
    assert choice.describe() == (
        f"sdist torch_scatter-2.1.2.tar.gz from https://pypi.org/simple, sha256 {choice.sha256}"
    )
    # A newer Python admits the newer release.
    newer = choose_sdist([LISTING], "torch-scatter", pinned=None, python="3.12.1")
    assert newer.version == Version("3.0.0")


def test_a_pinned_version_is_taken_even_before_a_newer_one() -> None:
    assert choose_sdist([LISTING], "torch-scatter", pinned="2.0.9", python=None).version == (
        Version("2.0.9")
    )
    # A pre-release only when asked for by name.
    rc = choose_sdist([LISTING], "torch-scatter", pinned="2.1.3rc1", python="3.11.7")
    assert rc.filename == "torch_scatter-2.1.3rc1.tar.gz"


def test_the_first_index_listing_a_version_wins() -> None:
    mirror = Listing(MIRROR, "torch-scatter", (_link("torch_scatter-2.1.2.tar.gz"),))
    choice = choose_sdist([mirror, LISTING], "torch-scatter", pinned="2.1.2", python="3.11.7")
    assert choice.index == MIRROR.location


def test_nothing_fitting_names_what_was_there() -> None:
    with pytest.raises(InputError, match=r"sdists there: 2\.0\.9, 2\.1\.1, 2\.1\.2") as info:
        choose_sdist([LISTING], "torch-scatter", pinned="9.9", python="3.11.7")
    assert "looked in: https://pypi.org/simple" in info.value.message
    assert "--source torch-scatter=" in info.value.hint
    wheels_only = Listing(PYPI, "x", (_link("x-1.0-py3-none-any.whl"),))
    with pytest.raises(InputError, match="none has an sdist of it"):
        choose_sdist([wheels_only], "x", pinned=None, python=None)


def test_a_remote_sdist_without_a_hash_is_refused() -> None:
    bare = Listing(PYPI, "x", (FileLink("x-1.0.tar.gz", f"{FILES}/x-1.0.tar.gz"),))
    with pytest.raises(InputError, match="without a sha256"):
        choose_sdist([bare], "x", pinned=None, python=None)


def test_a_find_links_file_becomes_a_local_path() -> None:
    local = Source("find-links", "/srv/dists", "--find-links")
    listing = Listing(local, "x", (FileLink("x-1.0.tar.gz", "file:///srv/dists/x-1.0.tar.gz"),))
    choice = choose_sdist([listing], "x", pinned=None, python=None)
    assert choice.url == "/srv/dists/x-1.0.tar.gz"
    assert choice.describe() == "sdist x-1.0.tar.gz from /srv/dists"


def test_the_plan_shows_the_sdist_as_the_source_of_a_build() -> None:
    choice = choose_sdist([LISTING], "torch-scatter", pinned="2.1.2", python="3.11.7")
    decision = sdist_decision(choice)
    assert (decision.name, str(decision.version), decision.action) == (
        "torch-scatter",
        "2.1.2",
        "build",
    )
    assert decision.source == choice.describe()
    assert decision.recipe == "recipes/generic.toml"
    assert decision.to_json()["source"].startswith("sdist torch_scatter-2.1.2.tar.gz from ")


def test_plan_command_shows_the_sdist_of_a_recipeless_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from click.testing import CliRunner

    from torchbuild.__main__ import cli

    # A PEP 503 index on disk, as `pip download` mirrors lay them out.
    files = tmp_path / "files"
    files.mkdir()
    sdist = files / "torch_scatter-2.1.2.tar.gz"
    sdist.write_bytes(b"not really an archive")
    sha = hashlib.sha256(sdist.read_bytes()).hexdigest()
    page = tmp_path / "simple" / "torch-scatter"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        f'<a href="../../files/{sdist.name}#sha256={sha}">{sdist.name}</a>\n'
    )
    for key in list(os.environ):
        if key.startswith(("PIP_", "TORCHBUILD_")):
            monkeypatch.delenv(key)
    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / ".config"),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        "PIP_CONFIG_FILE": os.devnull,
        "TORCHBUILD_CACHE_DIR": str(tmp_path / "cache"),
        "TORCHBUILD_WHEELHOUSE": str(tmp_path / "wheelhouse"),
    }
    index = (tmp_path / "simple").as_uri()
    args = ["plan", "torch-scatter", "--target", "rpi5-bookworm-arm64", "--index-url", index]
    done = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert done.exit_code == 0, done.output
    (row,) = json.loads(done.stdout)["packages"]
    assert (row["name"], row["version"], row["action"]) == ("torch-scatter", "2.1.2", "build")
    assert row["source"] == f"sdist {sdist.name} from {index}, sha256 {sha}"
    assert row["recipe"] == "recipes/generic.toml"
    from torchbuild.__main__ import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["plan", "torch-scatter==9.9", *args[2:]]) == 3  # bad input, before any work
    err = capsys.readouterr().err
    assert "sdists there: 2.1.2" in err
    assert "hint: give its source: --source torch-scatter=" in err
