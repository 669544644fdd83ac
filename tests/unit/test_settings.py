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


def test_build_settings_jobs_and_installer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert (s.jobs, s.installer) == (None, "auto")
    (tmp_path / "torchbuild.toml").write_text('jobs = 4\ninstaller = "pip"\n')
    s = load_settings(environ={})
    assert (s.jobs, s.installer) == (4, "pip")
    s = load_settings(environ={"TORCHBUILD_JOBS": "2", "TORCHBUILD_INSTALLER": "UV"})
    assert (s.jobs, s.installer) == (2, "uv")
    assert s.sources["jobs"] == "env:TORCHBUILD_JOBS"
    s = load_settings({"jobs": 8, "installer": "auto"}, environ={"TORCHBUILD_JOBS": "2"})
    assert (s.jobs, s.installer, s.sources["jobs"]) == (8, "auto", "flag")
    for bad in ("0", "two", "1.5"):
        with pytest.raises(InputError, match="bad value for jobs from TORCHBUILD_JOBS"):
            load_settings(environ={"TORCHBUILD_JOBS": bad})
    with pytest.raises(InputError, match="expected one of auto, uv, pip"):
        load_settings(environ={"TORCHBUILD_INSTALLER": "conda"})


def test_wheel_reads_its_build_flags_through_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from torchbuild.__main__ import main

    monkeypatch.chdir(tmp_path)
    # Values from the environment are checked before anything is detected or planned.
    monkeypatch.setenv("TORCHBUILD_INSTALLER", "conda")
    assert main(["wheel", "torch", "--offline", "--dry-run"]) == InputError.exit_code
    assert "bad value for installer from TORCHBUILD_INSTALLER" in capsys.readouterr().err
    monkeypatch.setenv("TORCHBUILD_INSTALLER", "pip")
    monkeypatch.setenv("TORCHBUILD_JOBS", "0")
    assert main(["wheel", "torch", "--offline", "--dry-run"]) == InputError.exit_code
    assert "bad value for jobs from TORCHBUILD_JOBS" in capsys.readouterr().err
