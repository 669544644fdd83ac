"""Set-level choice and pairing from the wheels' METADATA, on recorded PyPI answers.

The recorded METADATA (``tests/data/pypi/metadata.json.gz``) is served as PEP 658 files, as
pypi.org does; without a reader the compatibility table answers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from data.pypi.replay import PYPI, Replay, client, profile, reader
from torchbuild.errors import ResolveError
from torchbuild.resolve import matrix as matrix_mod
from torchbuild.resolve.indexes import Source
from torchbuild.resolve.matrix import parse_request
from torchbuild.resolve.plan import Decision, Plan, make_plan, plan_json
from torchbuild.target import Target, load_target
from wheelfactory import make_wheel

if TYPE_CHECKING:
    from pathlib import Path

PACKAGES = ("torch", "torchvision", "torchaudio")


@pytest.fixture
def replay() -> Replay:
    return Replay(metadata=True)


def plan(tmp_path: Path, replay: Replay, target: Target, *packages: str, **kw: Any) -> Plan:
    kw.setdefault("metadata", reader(tmp_path, replay))
    kw.setdefault("sources", [PYPI])
    return make_plan(
        target,
        [parse_request(p) for p in packages or PACKAGES],
        client=client(tmp_path, replay),
        **kw,
    )


def rows(result: Plan) -> dict[str, Decision]:
    return {d.name: d for d in result.decisions}


def versions(result: Plan) -> list[tuple[str, str, str]]:
    return [(d.name, str(d.version), d.action) for d in result.decisions]


# -- pairing from METADATA -------------------------------------------------------------------------


def test_open_plan_picks_torchaudio_2_11_1_as_pip_does(tmp_path: Path, replay: Replay) -> None:
    audio = rows(plan(tmp_path, replay, profile()))["torchaudio"]
    assert str(audio.version) == "2.11.1"
    assert audio.wheel is not None
    assert audio.wheel.filename == "torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl"
    assert audio.reason.endswith("it goes with torch 2.15.0: its METADATA requires torch>=2.11")
    vision = rows(plan(tmp_path, replay, profile()))["torchvision"]
    assert vision.reason.endswith("its METADATA requires torch>=2.14.0")


def test_torchaudio_2_11_1_with_an_open_torch_is_not_refused(
    tmp_path: Path, replay: Replay
) -> None:
    result = plan(tmp_path, replay, profile(), "torchaudio==2.11.1", "torch")
    assert versions(result) == [
        ("torch", "2.15.0", "prebuilt"),
        ("torchaudio", "2.11.1", "prebuilt"),
    ]


def test_metadata_wins_over_a_drifted_table(tmp_path: Path, replay: Replay) -> None:
    # A table that says torchvision 0.29.2 is for torch 2.14.0 only (the old "built for exactly
    # one torch" rule): the wheel's own METADATA says torch>=2.14.0, and that is what counts.
    table = matrix_mod.load_matrix()
    requires = {k: dict(v) for k, v in table.requires.items()}
    requires["torchvision"][Version("0.29.2")] = SpecifierSet("==2.14.0")
    requires["torchvision"][Version("0.29.1")] = SpecifierSet("==2.14.0")
    drifted = dataclasses.replace(table, requires=requires)
    result = plan(tmp_path, replay, profile(), "torch", "torchvision", matrix=drifted)
    assert versions(result) == [
        ("torch", "2.15.0", "prebuilt"),
        ("torchvision", "0.29.2", "prebuilt"),
    ]
    # Without METADATA the table answers, and says so.
    offline = plan(
        tmp_path, replay, profile(), "torch", "torchvision", matrix=drifted, metadata=None
    )
    assert versions(offline) == [
        ("torch", "2.14.0", "prebuilt"),
        ("torchvision", "0.29.2", "prebuilt"),
    ]
    assert rows(offline)["torchvision"].reason.endswith(
        "the compatibility table pairs it with torch 2.14.0"
    )


def test_a_second_plan_reads_no_metadata(tmp_path: Path, replay: Replay) -> None:
    plan(tmp_path, replay, profile())
    first = len(replay.metadata_calls)
    assert first >= 2  # torchvision and torchaudio, at least
    again = Replay(metadata=True)
    second = plan(tmp_path, again, profile())
    assert again.metadata_calls == []
    assert str(rows(second)["torchaudio"].version) == "2.11.1"


# -- the set, prebuilt first -------------------------------------------------------------------------


def test_thor_open_plan_takes_the_prebuilt_set(tmp_path: Path, replay: Replay) -> None:
    # JetPack 7: torch 2.15.0 is a CUDA 13.2 build (the driver runs 13.0) that no recipe builds;
    # torchvision 0.29.2 and torchaudio 2.11.1 are CUDA 13.2 builds too. The user's pins
    # (torch==2.14.1 torchvision==0.29.1 torchaudio) find all three prebuilt, and so does the
    # open plan.
    target = load_target("jetson-thor-jp7")
    result = plan(tmp_path, replay, target)
    assert versions(result) == [
        ("torch", "2.14.1", "prebuilt"),
        ("torchvision", "0.29.1", "prebuilt"),
        ("torchaudio", "2.11.0", "prebuilt"),
    ]
    assert result.newer is not None
    line = result.newer.line()
    assert line.startswith("the newer set torch 2.14.1, torchvision 0.29.2, torchaudio 2.11.1")
    assert "needs a build of torchvision with 14 jobs, torchaudio with 14 jobs" in line
    assert "an estimate" in line
    assert "--prefer newest" in line
    assert any("no torch recipe series covers 2.15.0" in n for n in result.choice_notes)
    pinned = plan(tmp_path, replay, target, "torch==2.14.1", "torchvision==0.29.1", "torchaudio")
    assert versions(pinned) == versions(result)


def test_prefer_newest_and_build(tmp_path: Path, replay: Replay) -> None:
    target = load_target("jetson-thor-jp7")
    newest = plan(tmp_path, replay, target, prefer="newest")
    assert versions(newest) == [
        ("torch", "2.14.1", "prebuilt"),
        ("torchvision", "0.29.2", "build"),
        ("torchaudio", "2.11.1", "build"),
    ]
    assert newest.newer is None
    everything = plan(tmp_path, replay, target, "torch", "torchvision", prefer="build")
    assert [d.action for d in everything.decisions] == ["build", "build"]
    assert rows(everything)["torch"].reason.startswith(
        "--prefer build: built from source, although PyPI's torch 2.14.1 for aarch64 fits"
    )


def test_pinned_versions_are_honoured(tmp_path: Path, replay: Replay) -> None:
    # The newest set needs builds, yet the pin stays: no prebuilt torch 2.13.0 is swapped in.
    result = plan(tmp_path, replay, load_target("jetson-orin-jp6"), "torch==2.13.0")
    assert versions(result) == [("torch", "2.13.0", "build")]


def test_build_cost_time_scales_with_the_jobs(tmp_path: Path, replay: Replay) -> None:
    small = dataclasses.replace(
        profile(libc_version="2.17"),
        resources=dataclasses.replace(
            profile().resources, cpus=2, memory_bytes=16 * 1024**3, swap_bytes=0
        ),
    )
    result = plan(tmp_path, replay, small, "torch")
    assert versions(result) == [("torch", "2.6.0", "prebuilt")]
    assert result.newer is not None
    # The recipe's 68.6 min with 2 jobs, on 2 cores here (memory allows more): 68.6 min.
    assert result.newer.jobs == (("torch", 2),)
    assert result.newer.minutes == pytest.approx(68.6)
    assert "about 69 min" in result.newer.line()


# -- never a build that cannot happen -----------------------------------------------------------------


def test_a_release_newer_than_every_recipe_series_is_not_chosen(
    tmp_path: Path, replay: Replay
) -> None:
    result = plan(tmp_path, replay, load_target("rpi-bookworm-armv7l"), "torch")
    assert versions(result) == [("torch", "2.14.1", "build")]
    assert result.choice_notes[0] == (
        "torch 2.15.0 would need a build, and no torch recipe series covers 2.15.0 "
        "(they cover 2.6 to 2.14): not chosen"
    )


def test_a_pinned_release_no_recipe_builds_is_refused(tmp_path: Path, replay: Replay) -> None:
    with pytest.raises(ResolveError, match=r"no torch recipe series covers 2\.15\.0") as info:
        plan(tmp_path, replay, load_target("rpi-bookworm-armv7l"), "torch==2.15.0")
    assert "--recipe-dir" in info.value.hint


@pytest.mark.parametrize(
    ("built_against", "action"),
    [("2.14.1+cu126.sm87", "cached"), ("2.14.1+cu126.sm72", "build")],
)
def test_a_wheel_built_against_another_torch_build_is_not_reused(
    tmp_path: Path, replay: Replay, built_against: str, action: str
) -> None:
    # Two torchbuild builds of torch 2.14.1 differ in their local label; a torchvision built
    # against the sm72 one says so in its METADATA and cannot sit on the sm87 one.
    house = tmp_path / "wheelhouse" / "simple"
    tag = "cp310-cp310-linux_aarch64"
    make_wheel(house / "torch", "torch", "2.14.1+cu126.sm87", tag=tag)
    make_wheel(
        house / "torchvision",
        "torchvision",
        "0.29.2+cu126.sm87",
        tag=tag,
        requires_dist=[f"torch=={built_against}"],
    )
    sources = [PYPI, Source("wheelhouse", str(tmp_path / "wheelhouse"), "test")]
    result = plan(
        tmp_path, replay, load_target("jetson-orin-jp6"), "torch", "torchvision", sources=sources
    )
    got = rows(result)
    assert got["torch"].action == "cached"
    assert got["torchvision"].action == action
    if action == "build":
        assert (
            f"its METADATA requires torch=={built_against}, and this torch is 2.14.1+cu126.sm87"
            in got["torchvision"].reason
        )


def test_plan_json_says_how_the_set_was_chosen(tmp_path: Path, replay: Replay) -> None:
    data = plan_json(plan(tmp_path, replay, load_target("jetson-thor-jp7")))
    assert data["prefer"] == "prebuilt"
    assert data["newer"]["builds"] == ["torchvision", "torchaudio"]
    assert data["newer"]["versions"] == {
        "torch": "2.14.1",
        "torchvision": "0.29.2",
        "torchaudio": "2.11.1",
    }
    assert data["choice_notes"][0].endswith("not chosen")


def test_a_users_recipe_series_makes_the_newest_release_buildable(
    tmp_path: Path, replay: Replay
) -> None:
    layer = tmp_path / "my-recipes"
    layer.mkdir()
    (layer / "torch.toml").write_text(
        '[recipe]\nformat = 1\npackage = "torch"\n\n'
        '[[series]]\nname = "2.15"\nversions = ">=2.15,<2.16"\n'
        'command = ["python", "-m", "build", "--wheel", "--no-isolation"]\n'
    )
    target = load_target("rpi-bookworm-armv7l")
    result = plan(tmp_path, replay, target, "torch", recipe_dirs=[layer])
    assert versions(result) == [("torch", "2.15.0", "build")]
    assert result.choice_notes == (
        "no set of these packages can be had entirely prebuilt for this target",
    )
