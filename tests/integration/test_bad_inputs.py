"""A battery of bad inputs through the real command line: each gets one `error:` line, one
`hint:` line and its documented exit code, never 70 (the code for a bug in torchbuild).

Read-only places are real: a directory made immutable with ``chattr +i`` (root bypasses plain
permissions, not that flag) and paths under /proc, where nothing can be created.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Iterator

import pytest

from torchbuild.__main__ import main
from torchbuild.errors import InputError, SourceError, WheelhouseError
from torchbuild.resources import targets_dir
from wheelfactory import make_wheel

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


INPUT = InputError.exit_code
WHEELHOUSE = WheelhouseError.exit_code
PRESET = "rpi5-bookworm-arm64"


def run(args: Sequence[str], capsys: pytest.CaptureFixture[str], expect: int) -> list[str]:
    code = main(list(args))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == expect, (args, code, err)
    assert len(err) == 2, (args, err)
    assert err[0].startswith("error: "), err
    assert err[1].startswith("hint: "), err
    assert "internal error" not in err[0]
    return err


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHBUILD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHBUILD_WHEELHOUSE", raising=False)
    monkeypatch.delenv("TORCHBUILD_CONFIG", raising=False)
    monkeypatch.delenv("TORCHBUILD_PROBE_TIMEOUT", raising=False)
    return tmp_path


@pytest.fixture
def wheels(place: Path) -> tuple[Path, Path]:
    return make_wheel(place, "demo", "1.0"), make_wheel(place, "demo", "2.0")


@pytest.fixture
def frozen(place: Path) -> Iterator[list[Path]]:
    """Directories made immutable (read-only even to root) for the test, thawed afterwards."""
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs root and chattr for a directory that refuses writes")
    made: list[Path] = []
    yield made
    for path in made:
        subprocess.run(["chattr", "-R", "-i", str(path)], check=False)


def freeze(made: list[Path], path: Path) -> None:
    done = subprocess.run(["chattr", "-R", "+i", str(path)], check=False, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {done.stderr.decode().strip()}")
    made.append(path)


def test_wheelhouse_under_a_regular_file(
    place: Path, wheels: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "file").write_text("x")
    for args in (["index", "list"], ["index", "add", str(wheels[0])], ["index", "config"]):
        err = run([*args, "--wheelhouse", "file/wh"], capsys, WHEELHOUSE)
        assert "is a file, not a directory" in err[0]
    assert (place / "file").read_text() == "x"


def test_wheelhouse_where_nothing_can_be_made(
    place: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TORCHBUILD_WHEELHOUSE", "/proc/torchbuild-wh")
    err = run(["index", "list"], capsys, WHEELHOUSE)
    assert "/proc" in err[0]


def test_wheel_dry_run_checks_the_wheelhouse_before_anything(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "file").write_text("x")
    args = ["wheel", "torch", "--target", PRESET, "--offline", "--dry-run"]
    run([*args, "--wheelhouse", "file/wh"], capsys, WHEELHOUSE)


def test_read_only_wheelhouse_and_destinations(
    place: Path,
    wheels: tuple[Path, Path],
    frozen: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["index", "add", str(wheels[0]), "--wheelhouse", "wh"]) == 0
    assert main(["index", "export", "--to", "export.tar", "--wheelhouse", "wh"]) == 0
    (place / "dest").mkdir()
    capsys.readouterr()
    before = sorted(p.relative_to(place) for p in (place / "wh").rglob("*"))
    freeze(frozen, place / "wh")
    freeze(frozen, place / "dest")
    wh = ["--wheelhouse", "wh"]
    for args in (
        ["index", "add", str(wheels[1])],
        ["index", "prune", "--keep", "1", "--orphans"],
        ["index", "import", "export.tar"],
        ["index", "config"],
        ["index", "config", "--out", "dest/config"],
        ["index", "export", "--to", "dest/x.tar"],
        ["index", "remove", "demo==1.0"],
        ["wheel", "torch", "--target", PRESET, "--offline", "--dry-run"],
    ):
        run([*args, *wh], capsys, WHEELHOUSE)
    assert sorted(p.relative_to(place) for p in (place / "wh").rglob("*")) == before
    assert list((place / "dest").iterdir()) == []


def test_files_that_are_not_text(
    place: Path, wheels: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    profile = place / "board.json"
    profile.write_bytes(b'{"version": 1, "os": "\xff\xfe linux"}')
    run(["plan", "torch", "--target", str(profile), "--offline"], capsys, INPUT)
    assert main(["index", "add", str(wheels[0]), "--wheelhouse", "wh"]) == 0
    capsys.readouterr()
    manifest = place / "wh" / ".torchbuild" / "projects" / "demo.json"
    manifest.write_bytes(manifest.read_bytes() + b"\xff\xfe")
    err = run(["index", "list", "--wheelhouse", "wh"], capsys, WHEELHOUSE)
    assert "demo.json" in err[0]


def test_lock_path_replaced_by_a_directory(
    place: Path, wheels: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "add", str(wheels[0]), "--wheelhouse", "wh"]) == 0
    capsys.readouterr()
    lock = place / "wh" / ".torchbuild" / "lock"
    lock.unlink()
    lock.mkdir()
    err = run(["index", "add", str(wheels[1]), "--wheelhouse", "wh"], capsys, WHEELHOUSE)
    assert "lock" in err[0]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e12", "0", "-3", "soon"])
def test_probe_timeout_out_of_range(
    place: Path, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TORCHBUILD_PROBE_TIMEOUT", value)
    err = run(["detect"], capsys, INPUT)
    assert "TORCHBUILD_PROBE_TIMEOUT" in err[0] + err[1]


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("cache-dir = [1, 2]", "cache-dir"),
        ("wheelhouse = 42", "wheelhouse"),
        ('wheelhouse = ""', None),  # empty: the default, not an error
        ("probe-timeout = true", "probe-timeout"),
        ("offline = 3", "offline"),
        ("extra-index-url = [1]", "extra-index-url"),
    ],
)
def test_settings_of_the_wrong_type(
    place: Path,
    line: str,
    key: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TORCHBUILD_CACHE_DIR")  # the file's value must be the one in force
    monkeypatch.setenv("XDG_CACHE_HOME", str(place / "xdg-cache"))
    (place / "torchbuild.toml").write_text(line + "\n")
    if key is None:
        assert main(["index", "list", "--json"]) == 0
        return
    err = run(["index", "list"], capsys, INPUT)
    assert key in err[0]
    assert "torchbuild.toml" in err[1]
    assert not (place / "42").exists()
    assert not (place / "[1, 2]").exists()


@pytest.mark.parametrize(
    ("cuda", "hint"), [("99.9", "known CUDA versions"), ("12", "12.6"), ("cu126", "12.6")]
)
def test_cuda_must_be_a_known_release(
    place: Path, cuda: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(["plan", "torch", "--target", PRESET, "--offline", "--cuda", cuda], capsys, INPUT)
    assert hint in err[1]


def test_profile_facts_null_or_well_formed(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((targets_dir() / "jetson-orin-jp6.json").read_text())
    data["cuda"]["gpus"][0]["compute_capability"] = "abc"
    (place / "bad.json").write_text(json.dumps(data))
    err = run(["plan", "torch", "--target", "bad.json", "--offline"], capsys, INPUT)
    assert "compute_capability 'abc'" in err[0]
    data["cuda"]["gpus"][0]["compute_capability"] = "8.7"
    data["libc"] = None
    (place / "null.json").write_text(json.dumps(data))
    assert main(["detect", "--root", "/nonexistent"]) != 70
    capsys.readouterr()
    from torchbuild.target import load_target

    assert load_target(str(place / "null.json")).libc.version is None


def test_typos_and_stray_sources(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run(["recipes", "show", "torchvison"], capsys, INPUT)
    assert "did you mean 'torchvision'" in err[1]
    err = run(["wheel", "torchvison", "--dry-run", "--offline"], capsys, INPUT)
    assert "did you mean 'torchvision'" in err[1]
    (place / "src").mkdir()
    args = ["wheel", "torch", "--target", PRESET, "--offline", "--dry-run"]
    err = run([*args, "--source", "torchaudio=src"], capsys, INPUT)
    assert "asked: torch" in err[0]
    err = run(["plan", "torch", "--offline", "--source", "other=src"], capsys, INPUT)
    assert "other" in err[0]


def test_a_source_that_is_not_an_archive_is_named_as_given(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = place / "demo-1.0.tar.gz"
    fake.write_text("not an archive\n")
    args = ["wheel", "demo", "--source", f"demo={fake}", "--wheelhouse", "wh", "--offline"]
    err = run(args, capsys, SourceError.exit_code)
    assert err[0].startswith(f"error: {fake} is not a readable archive")
    assert str(place / "cache") not in err[0]
