"""`torchbuild index ...` through the real entry point: output, JSON and exit codes."""

from __future__ import annotations

import json
import os

import pytest

from torchbuild.__main__ import main
from wheelfactory import make_wheel


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    for name in list(os.environ):
        if name.startswith("TORCHBUILD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def wheels(tmp_path):
    src = tmp_path / "src"
    return [
        make_wheel(
            src, "torch", "2.6.0+cpu", tag="cp311-cp311-linux_aarch64", requires_python=">=3.9"
        ),
        make_wheel(src, "torchvision", "0.21.0+cpu", tag="cp311-cp311-linux_aarch64"),
    ]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_verify(capsys, tmp_path, wheels):
    wh = str(tmp_path / "wh")
    code, out, _ = run(capsys, "index", "add", "--wheelhouse", wh, *map(str, wheels))
    assert code == 0
    assert "added torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl" in out

    code, out, _ = run(capsys, "index", "add", "--wheelhouse", wh, str(wheels[0]))
    assert "already present" in out

    code, out, _ = run(capsys, "index", "list", "--wheelhouse", wh, "--json")
    data = json.loads(out)
    assert data["version"] == 1
    rows = {(f["project"], f["version"], f["variant"]) for f in data["files"]}
    assert rows == {("torch", "2.6.0+cpu", "cpu"), ("torchvision", "0.21.0+cpu", "cpu")}
    assert all(f["origin"].startswith("external /") for f in data["files"])

    code, out, _ = run(capsys, "index", "list", "--wheelhouse", wh)
    assert "cp311-cp311-linux_aarch64" in out
    assert "2 wheels" in out

    code, out, _ = run(capsys, "index", "verify", "--wheelhouse", wh)
    assert code == 0
    assert out.startswith("OK: 2 wheels")


def test_wheelhouse_from_environment(capsys, tmp_path, wheels, monkeypatch):
    monkeypatch.setenv("TORCHBUILD_WHEELHOUSE", str(tmp_path / "from-env"))
    assert run(capsys, "index", "add", str(wheels[0]))[0] == 0
    assert (tmp_path / "from-env" / "simple" / "torch").is_dir()
    # flag beats environment
    assert (
        run(capsys, "index", "add", "--wheelhouse", str(tmp_path / "flag"), str(wheels[0]))[0] == 0
    )
    assert (tmp_path / "flag" / "simple" / "torch").is_dir()


def test_default_wheelhouse_is_under_user_data(capsys, tmp_path, wheels):
    code, out, _ = run(capsys, "index", "add", "--json", str(wheels[0]))
    assert code == 0
    path = json.loads(out)["wheelhouse"]
    assert path.startswith(str(tmp_path / "data-home"))


def test_verify_findings_exit_1(capsys, tmp_path, wheels):
    wh = tmp_path / "wh"
    run(capsys, "index", "add", "--wheelhouse", str(wh), str(wheels[0]))
    (wh / "simple" / "torch" / "stray.whl").write_bytes(b"x")
    code, out, err = run(capsys, "index", "verify", "--wheelhouse", str(wh), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["version"] == 1
    assert data["ok"] is False
    assert [f["kind"] for f in data["findings"]] == ["orphan"]
    assert err.startswith("error: the wheelhouse")
    assert "\nhint: " in err


def test_refused_overwrite_exit_10(capsys, tmp_path, wheels):
    wh = str(tmp_path / "wh")
    run(capsys, "index", "add", "--wheelhouse", wh, str(wheels[0]))
    rebuilt = make_wheel(
        tmp_path / "rebuilt", "torch", "2.6.0+cpu", tag="cp311-cp311-linux_aarch64", seed="other"
    )
    code, _, err = run(capsys, "index", "add", "--wheelhouse", wh, str(rebuilt))
    assert code == 10
    assert "different contents" in err
    assert len(err.strip().splitlines()) == 2  # one error line, one hint line


def test_bad_wheel_exit_3(capsys, tmp_path):
    bad = tmp_path / "demo-1.0-py3-none-any.whl"
    bad.write_bytes(b"no zip")
    code, _, err = run(capsys, "index", "add", "--wheelhouse", str(tmp_path / "wh"), str(bad))
    assert code == 3
    assert f"error: {bad} is not a valid wheel" in err


def test_verify_missing_wheelhouse_exit_10(capsys, tmp_path):
    code, _, err = run(capsys, "index", "verify", "--wheelhouse", str(tmp_path / "none"))
    assert code == 10
    assert "no wheelhouse at" in err


def test_list_empty(capsys, tmp_path):
    code, out, _ = run(capsys, "index", "list", "--wheelhouse", str(tmp_path / "none"))
    assert code == 0
    assert "No wheels" in out


def test_prune(capsys, tmp_path):
    wh = str(tmp_path / "wh")
    for version in ("1.0", "2.0", "3.0"):
        run(
            capsys,
            "index",
            "add",
            "--wheelhouse",
            wh,
            str(make_wheel(tmp_path / "src", "demo", version)),
        )
    code, _, err = run(capsys, "index", "prune", "--wheelhouse", wh)
    assert code == 3
    assert "--keep N" in err
    code, out, _ = run(
        capsys, "index", "prune", "--wheelhouse", wh, "--keep", "1", "--dry-run", "--json"
    )
    assert [r["version"] for r in json.loads(out)["removed"]] == ["1.0", "2.0"]
    code, out, _ = run(capsys, "index", "prune", "--wheelhouse", wh, "--keep", "1")
    assert "removed 2 wheels" in out
    code, out, _ = run(capsys, "index", "list", "--wheelhouse", wh, "--json")
    assert [f["version"] for f in json.loads(out)["files"]] == ["3.0"]
    assert run(capsys, "index", "prune", "--wheelhouse", wh, "--keep", "0")[0] == 2


def test_config_writes_and_prints(capsys, tmp_path, wheels):
    wh = tmp_path / "wh"
    run(capsys, "index", "add", "--wheelhouse", str(wh), *map(str, wheels))
    code, out, err = run(capsys, "index", "config", "--wheelhouse", str(wh))
    assert code == 0
    assert err == ""
    assert f"index-url = {(wh / 'simple').resolve().as_uri()}/" in out
    for name in ("pip.conf", "constraints.txt", "requirements.txt", "uv.toml", "pyproject-uv.toml"):
        assert (wh / "config" / name).is_file()
        assert f"# ==> {wh.resolve() / 'config' / name} <==" in out
    assert "[global]" in out  # printed raw, not eaten as markup

    out_dir = tmp_path / "fleet"
    code, out, _ = run(
        capsys,
        "index",
        "config",
        "--wheelhouse",
        str(wh),
        "--url",
        "http://10.0.0.5:8000/simple/",
        "--no-pypi",
        "--out",
        str(out_dir),
        "--constraint-path",
        "/etc/pip-constraints.txt",
        "--project",
        "torch",
        "--json",
    )
    data = json.loads(out)
    assert data["version"] == 1
    assert [p["requirement"] for p in data["pins"]] == ["torch==2.6.0+cpu"]
    pip_conf = (out_dir / "pip.conf").read_text()
    assert "constraint = /etc/pip-constraints.txt" in pip_conf
    assert "trusted-host = 10.0.0.5:8000" in pip_conf
    assert "extra-index-url" not in pip_conf

    code, _, err = run(
        capsys, "index", "config", "--wheelhouse", str(wh), "--no-pypi", "--extra-index-url", "x"
    )
    assert code == 3
