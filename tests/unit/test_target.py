"""Target profiles: round trips, presets, and one clear line for every bad profile."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from torchbuild.__main__ import main
from torchbuild.errors import InputError
from torchbuild.target import from_json, load_target, preset_names, to_json

if TYPE_CHECKING:
    from pathlib import Path

PRESETS = [
    "jetson-nano-jp4",
    "jetson-xavier-jp5",
    "jetson-orin-jp5",
    "jetson-orin-jp6",
    "jetson-thor-jp7",
    "rpi4-bookworm-arm64",
    "rpi5-bookworm-arm64",
    "rpi-bookworm-armv7l",
]


def test_required_presets_ship() -> None:
    assert set(PRESETS) <= set(preset_names())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trip(name: str) -> None:
    target = load_target(name)
    assert target.origin == f"preset:{name}"
    again = from_json(json.loads(json.dumps(to_json(target))), source=target.origin)
    assert again == target


@pytest.mark.parametrize(
    ("name", "arch", "python", "glibc", "cuda", "cc", "jetpack"),
    [
        ("jetson-nano-jp4", "aarch64", "cp36", "2.27", "10.2", "5.3", "4.6.4"),
        ("jetson-xavier-jp5", "aarch64", "cp38", "2.31", "11.4", "7.2", "5.1.2"),
        ("jetson-orin-jp5", "aarch64", "cp38", "2.31", "11.4", "8.7", "5.1.4"),
        ("jetson-orin-jp6", "aarch64", "cp310", "2.35", "12.6", "8.7", "6.2"),
        ("jetson-thor-jp7", "aarch64", "cp312", "2.39", "13.0", "11.0", "7.0"),
        ("rpi4-bookworm-arm64", "aarch64", "cp311", "2.36", None, None, None),
        ("rpi5-bookworm-arm64", "aarch64", "cp311", "2.36", None, None, None),
        ("rpi-bookworm-armv7l", "armv7l", "cp311", "2.36", None, None, None),
    ],
)
def test_preset_facts(
    name: str,
    arch: str,
    python: str,
    glibc: str,
    cuda: str | None,
    cc: str | None,
    jetpack: str | None,
) -> None:
    t = load_target(name)
    assert (t.arch, t.libc.version) == (arch, glibc)
    assert t.python is not None
    assert t.python.abi == python
    assert (t.cuda.toolkit if t.cuda else None) == cuda
    assert (t.cuda.gpus[0].compute_capability if t.cuda else None) == cc
    assert (t.jetson.jetpack if t.jetson else None) == jetpack
    assert t.resources.memory_bytes
    assert t.resources.cpus


@pytest.mark.programs
def test_profile_file_from_detect_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["detect", "--json"]) == 0
    path = tmp_path / "me.json"
    path.write_text(capsys.readouterr().out)
    target = load_target(str(path))
    assert target.origin == f"file:{path}"
    assert target.python is not None


def profile(**changes: object) -> dict[str, object]:
    data = to_json(load_target("jetson-orin-jp6"))
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (profile(arch="arm64v8"), "arch 'arm64v8' is not one of"),
        (profile(arch="aarch46"), "did you mean 'aarch64'"),
        (profile(version=2), "version is 2"),
        ({k: v for k, v in profile().items() if k != "libc"}, "libc is missing"),
        (profile(python={"version": 3.10}), "python.version must be a string"),
        (profile(resources={"cpus": -1}), "resources.cpus must not be negative"),
        (profile(resources={"cpus": True}), "resources.cpus must be an integer, not a boolean"),
        (profile(cuda={"gpus": ["Orin"]}), "cuda.gpus[0] must be an object"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_profiles(data: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        from_json(data, source="file:x.json")
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(InputError) as info:
        from_json(profile(arch="sparc", os=None, resources={"cpus": "four"}), source="x")
    text = info.value.message
    assert "arch 'sparc'" in text
    assert "os must not be null" in text
    assert "resources.cpus must be an integer" in text


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_unknown_preset_suggests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as info:
        load_target("jetson-orin-jp7")
    assert info.value.message == "unknown target 'jetson-orin-jp7': not a file and not a preset"
    assert "did you mean 'jetson-orin-jp6'?" in info.value.hint


def test_malformed_profile_file(tmp_path: Path) -> None:
    bad = tmp_path / "board.json"
    bad.write_text('{"version": 1, "os": "linux",')
    with pytest.raises(InputError, match=r"is not valid JSON: .* line 1"):
        load_target(str(bad))
    with pytest.raises(InputError, match="does not exist"):
        load_target(str(tmp_path / "missing.json"))
