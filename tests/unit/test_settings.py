"""Settings precedence: flag > TORCHBUILD_* environment > torchbuild.toml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchbuild.errors import InputError
from torchbuild.settings import load_settings


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "torchbuild.toml"
    path.write_text('wheelhouse = "/srv/file-wheels"\nprobe-timeout = 3\n')
    return path


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.wheelhouse is None
    assert s.wheelhouse_dir.name == "wheelhouse"
    assert s.probe_timeout == 10.0
    assert s.sources["wheelhouse"] == "default"


def test_file_then_env_then_flag(config: Path) -> None:
    s = load_settings(environ={})
    assert s.wheelhouse == Path("/srv/file-wheels")
    assert s.probe_timeout == 3.0
    assert s.sources["wheelhouse"] == f"file:{Path('torchbuild.toml')}"

    env = {"TORCHBUILD_WHEELHOUSE": "/srv/env-wheels"}
    s = load_settings(environ=env)
    assert s.wheelhouse == Path("/srv/env-wheels")
    assert s.sources["wheelhouse"] == "env:TORCHBUILD_WHEELHOUSE"
    assert s.probe_timeout == 3.0  # untouched settings still come from the file

    s = load_settings({"wheelhouse": "/srv/flag-wheels"}, environ=env)
    assert s.wheelhouse == Path("/srv/flag-wheels")
    assert s.sources["wheelhouse"] == "flag"


def test_explicit_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "fleet.toml"
    other.write_text('extra-index-url = ["https://a.example/simple", "https://b.example/simple"]\n')
    s = load_settings(environ={"TORCHBUILD_CONFIG": str(other)})
    assert s.extra_index_url == ("https://a.example/simple", "https://b.example/simple")
    with pytest.raises(InputError, match="not a file"):
        load_settings(environ={"TORCHBUILD_CONFIG": str(tmp_path / "nope.toml")})


def test_unknown_key_suggests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "torchbuild.toml").write_text('wheel-house = "/x"\n')
    with pytest.raises(InputError) as info:
        load_settings(environ={})
    assert "unknown setting 'wheel-house'" in info.value.message
    assert "did you mean 'wheelhouse'?" in info.value.hint


def test_bad_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="bad value for offline from TORCHBUILD_OFFLINE"):
        load_settings(environ={"TORCHBUILD_OFFLINE": "maybe"})
    with pytest.raises(InputError, match="bad value for probe-timeout on the command line"):
        load_settings({"probe_timeout": -1}, environ={})
    (tmp_path / "torchbuild.toml").write_text("wheelhouse = [\n")
    with pytest.raises(InputError, match="is not valid TOML"):
        load_settings(environ={})
