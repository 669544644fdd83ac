"""Checks made before any work: the wheelhouse's place and room, `index remove`, what `root
create` says without debootstrap, and settings' types and ranges."""

from __future__ import annotations

import re
import shutil
from typing import TYPE_CHECKING

import pytest

from torchbuild.__main__ import main
from torchbuild.errors import InputError, ToolchainError, WheelhouseError
from torchbuild.settings import load_settings
from torchbuild.wheelhouse.place import check_destination, check_wheelhouse, nearest_existing
from wheelfactory import make_wheel

if TYPE_CHECKING:
    from pathlib import Path


def test_a_wheelhouse_to_be_made_is_judged_by_its_nearest_existing_parent(tmp_path: Path) -> None:
    assert nearest_existing(tmp_path / "a" / "b") == tmp_path
    check_wheelhouse(tmp_path / "a" / "b", write=True)  # can be made: fine
    assert not (tmp_path / "a").exists()  # and nothing was made
    (tmp_path / "f").write_text("x")
    with pytest.raises(WheelhouseError, match="is a file, not a directory"):
        check_wheelhouse(tmp_path / "f" / "wh", write=False)
    with pytest.raises(WheelhouseError, match="it is a file"):
        check_destination(tmp_path / "f", "the configuration", "give another")


def test_room_for_the_expected_wheels(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    check_wheelhouse(tmp_path / "wh", write=True, need_bytes=free // 2)
    with pytest.raises(WheelhouseError, match="free; the wheels expected need about") as info:
        check_wheelhouse(tmp_path / "wh", write=True, need_bytes=free * 4)
    assert "larger disk" in info.value.hint
    check_wheelhouse(tmp_path / "wh", write=False, need_bytes=free * 4)  # readers need no room


def test_index_remove_takes_every_variant_or_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wh = str(tmp_path / "wh")
    for version in ("1.0+cpu", "1.0+cu126", "2.0"):
        assert (
            main(["index", "add", str(make_wheel(tmp_path, "demo", version)), "--wheelhouse", wh])
            == 0
        )
    capsys.readouterr()
    assert main(["index", "remove", "demo==1.0+cu126", "--wheelhouse", wh]) == 0
    assert capsys.readouterr().out.split() == ["removed", "demo-1.0+cu126-py3-none-any.whl"]
    assert main(["index", "remove", "Demo==1.0", "--dry-run", "--wheelhouse", wh]) == 0
    assert "would remove demo-1.0+cpu-py3-none-any.whl" in capsys.readouterr().out
    assert main(["index", "remove", "demo==1.0", "--wheelhouse", wh]) == 0
    capsys.readouterr()
    assert main(["index", "verify", "--wheelhouse", wh]) == 0
    capsys.readouterr()  # verify's own report
    assert main(["index", "list", "--json", "--wheelhouse", wh]) == 0
    # The file names only: the listing's timestamps may hold "1.0" too (":51.07").
    names = re.findall(r"demo-[^\"/]+?\.whl", capsys.readouterr().out)
    assert "demo-2.0-py3-none-any.whl" in names
    assert not [n for n in names if n.startswith("demo-1.0")]
    assert main(["index", "remove", "demo==1.0", "--wheelhouse", wh]) == InputError.exit_code
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: the wheelhouse {wh} has no wheel of demo==1.0",
        "hint: see what it has: torchbuild index list demo",
    ]


def test_root_create_without_debootstrap_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchbuild import run
    from torchbuild.roots.create import create_root

    monkeypatch.setenv("DEBOOTSTRAP_DIR", str(tmp_path / "no-debootstrap"))
    monkeypatch.setattr(run, "which", lambda _name: None)
    with pytest.raises(ToolchainError) as info:
        create_root("trixie", tmp_path / "root")
    assert "debootstrap is not installed" in info.value.message
    assert info.value.hint == "apt-get install debootstrap"
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("probe_timeout", "nan", "at most 86400"),
        ("probe_timeout", "inf", "at most 86400"),
        ("probe_timeout", "1e12", "at most 86400"),
        ("probe_timeout", "0", "more than 0"),
        ("wheelhouse", "   ", "expected a path"),
    ],
)
def test_environment_values_out_of_range(name: str, value: str, words: str) -> None:
    env = {f"TORCHBUILD_{name.upper()}": value}
    with pytest.raises(InputError, match=words) as info:
        load_settings(environ=env)
    assert f"TORCHBUILD_{name.upper()}" in info.value.hint


def test_file_values_of_the_wrong_type(tmp_path: Path) -> None:
    config = tmp_path / "torchbuild.toml"
    for text, words in (
        ("cache-dir = [1, 2]", "expected a string, got list"),
        ("wheelhouse = 42", "expected a string, got int"),
        ("probe-timeout = true", "expected a number of seconds"),
        ("index-url = {a = 1}", "expected a string, got dict"),
    ):
        config.write_text(text + "\n")
        with pytest.raises(InputError, match=words) as info:
            load_settings(environ={"TORCHBUILD_CONFIG": str(config)})
        assert str(config) in info.value.hint
    config.write_text("probe-timeout = 2.5\nwheelhouse = '~/wh'\n")
    settings = load_settings(environ={"TORCHBUILD_CONFIG": str(config)})
    assert settings.probe_timeout == 2.5
    assert settings.wheelhouse is not None
    assert settings.wheelhouse.name == "wh"


def test_dry_run_runs_the_build_checks(tmp_path: Path) -> None:
    """A plan that builds for a board without --root stops in the dry run, as the real run
    would, before anything is fetched."""
    import sys
    from pathlib import Path as _Path

    from data.pypi.replay import PYPI, client
    from torchbuild.errors import TorchbuildError
    from torchbuild.pipeline import WheelOptions, host_for, plan_jobs
    from torchbuild.resolve.matrix import parse_request
    from torchbuild.resolve.plan import make_plan
    from torchbuild.target import load_target

    board = load_target("rpi-bookworm-armv7l")
    plan = make_plan(board, [parse_request("torch")], sources=[PYPI], client=client(tmp_path))
    assert [d.action for d in plan.decisions] == ["build"]
    options = WheelOptions(
        wheelhouse=tmp_path / "wh",
        cache_dir=tmp_path / "build-cache",
        python=_Path(sys.executable),
        installer=None,  # type: ignore[arg-type]  # never reached: the checks come first
    )
    with pytest.raises(TorchbuildError) as caught:
        plan_jobs(
            plan, [], target=board, options=options, host=host_for(board, options), user_sources={}
        )
    assert "needs its sysroot" in caught.value.message
    assert "--root" in caught.value.hint
    assert not (tmp_path / "wh").exists()
    assert not (tmp_path / "build-cache").exists()
