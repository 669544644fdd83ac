"""The one parser of --source and of --env that every command uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
import pytest

from torchbuild.__main__ import main
from torchbuild.commands._common import parse_env, parse_sources
from torchbuild.errors import EXIT_USAGE, InputError

if TYPE_CHECKING:
    from pathlib import Path


def test_sources_are_keyed_by_canonical_name(tmp_path: Path) -> None:
    for name in ("vision", "a", "b"):
        (tmp_path / name).mkdir()
    given = parse_sources(
        [f"TorchVision={tmp_path}/vision", f"torch={tmp_path}/a", f"TORCH={tmp_path}/b"]
    )
    assert sorted(given) == ["torch", "torchvision"]
    assert given["torch"].location == str(tmp_path / "b")  # the later one wins
    assert given["torchvision"].location == str(tmp_path / "vision")


@pytest.mark.parametrize("bad", ["torch", "=/src", "torch=", "not a name=/src"])
def test_bad_sources_are_input_errors(bad: str) -> None:
    with pytest.raises(InputError, match="--source"):
        parse_sources([bad])


def test_env_pairs() -> None:
    assert parse_env(["A=1", "B=x=y", "EMPTY=", "A=2"]) == {"A": "2", "B": "x=y", "EMPTY": ""}


@pytest.mark.parametrize("bad", ["NOVALUE", "=1", "1X=2", "A B=1"])
def test_bad_env_is_a_usage_error(bad: str) -> None:
    with pytest.raises(click.BadParameter, match="is not KEY=VALUE"):
        parse_env([bad])


def test_plan_and_wheel_read_source_the_same_way(capsys: pytest.CaptureFixture[str]) -> None:
    # Both refuse a malformed --source before any detection or index query starts.
    for command in ("plan", "wheel"):
        assert main([command, "torch", "--offline", "--source", "torch"]) == InputError.exit_code
        assert "--source 'torch' is not PKG=LOCATION" in capsys.readouterr().err
    assert main(["wheel", "torch", "--offline", "--env", "NOPE"]) == EXIT_USAGE
    assert "is not KEY=VALUE" in capsys.readouterr().err
