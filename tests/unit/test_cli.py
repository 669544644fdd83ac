"""The error funnel: one `error:` line, one `hint:` line, a documented exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest

from torchbuild import __version__
from torchbuild.__main__ import main
from torchbuild.errors import EXIT_INTERNAL, EXIT_USAGE


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["detcet"], capsys)
    assert code == EXIT_USAGE
    assert out == ""
    assert err[0].startswith("error: No such command 'detcet'")
    assert err[1].startswith("hint: ")
    assert len(err) == 2


def test_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["detect", "--jsn"], capsys)
    assert code == EXIT_USAGE
    # click words the message differently across releases; the shape is ours.
    assert err[0].startswith("error: No such option")
    assert "--json" in err[0]
    assert err[1:] == ["hint: see `torchbuild detect --help`"]


def test_unknown_target_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch
) -> None:
    from torchbuild.commands._common import target_from
    from torchbuild.settings import load_settings

    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception) as info:
        target_from("no-such-board", load_settings(environ={}))
    assert getattr(info.value, "exit_code", None) == 3


def test_internal_error_is_reported_as_a_bug(
    capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    import torchbuild.detect

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(torchbuild.detect, "detect_host", boom)
    code, _, err = run(["detect"], capsys)
    assert code == EXIT_INTERNAL
    assert err == [
        "error: internal error: RuntimeError: probe exploded",
        "hint: this is a bug in torchbuild; rerun with --debug and report the traceback",
    ]
    code = main(["--debug", "detect"])
    assert code == EXIT_INTERNAL
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_version_and_module_entry() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "torchbuild", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"torchbuild, version {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "detect" in capsys.readouterr().out
