"""Publishing the wheelhouse elsewhere, with real servers and a real pip.

``index push`` uploads to a real pypiserver on loopback that demands a password (an htpasswd
file; pypiserver needs passlib for that), and pip then installs from that server. ``index
export`` / ``index import`` carry the wheelhouse through a directory and a tar, and pip installs
from the result with no index at all. The wheels are stand-ins with ``SEED = "pushed"`` inside,
so an install proves which file pip took.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from torchbuild.__main__ import main
from torchbuild.wheelhouse import Wheelhouse
from wheelfactory import make_wheel

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
UV = BIN / "uv"
USER, PASSWORD = "fleet", "correct-horse-battery"
TORCH = "torch-2.6.0+cpu-py3-none-any.whl"
VISION = "torchvision-0.21.0+cpu-py3-none-any.whl"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pypiserver(tmp_path):
    """A pypiserver on 127.0.0.1 that lets only USER/PASSWORD upload; (url, packages dir)."""
    if not (BIN / "pypi-server").exists():
        pytest.skip("pypiserver is not installed (it is in the test extras)")
    if importlib.util.find_spec("passlib") is None:
        pytest.skip("pypiserver needs passlib for an htpasswd file: pip install passlib")
    packages = tmp_path / "served"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()  # noqa: S324
    htpasswd.write_text(f"{USER}:{{SHA}}{digest}\n")  # the {SHA} scheme: no bcrypt needed
    port = _free_port()
    log = (tmp_path / "pypiserver.log").open("wb")
    proc = subprocess.Popen(
        [
            str(BIN / "pypi-server"),
            "run",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "--disable-fallback",  # never send a client on to a public index
            "-P",
            str(htpasswd),
            "-a",
            "update",
            str(packages),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            assert proc.poll() is None, (tmp_path / "pypiserver.log").read_text()
            try:
                with urllib.request.urlopen(url + "simple/", timeout=1):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("pypiserver did not come up")
        yield url, packages
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def wh(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("TORCHBUILD_", "TWINE_")) or name == "NETRC":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc of this machine
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setattr("torchbuild.wheelhouse.credentials._from_keyring", lambda *_: None)
    wh = Wheelhouse(tmp_path / "wh", durable=False)
    src = tmp_path / "src"
    wh.add(make_wheel(src, "torch", "2.6.0+cpu", seed="pushed"), origin="test")
    wh.add(
        make_wheel(src, "torchvision", "0.21.0+cpu", requires_dist=["torch"], seed="pushed"),
        origin="test",
    )
    return wh


def clean_env(tmp_path: Path) -> dict[str, str]:
    """No pip or uv configuration of this machine or user may leak into the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(tmp_path / "home"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_CACHE_DIR="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
    )
    return env


def sh(args, env) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(map(str, args)), env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def pip_install(tmp_path: Path, name: str, *args: str) -> dict[str, str]:
    """Install into a fresh venv; return {module: SEED} for torch and torchvision."""
    env = clean_env(tmp_path)
    venv = tmp_path / name
    sh([UV, "venv", "-q", "--python", sys.executable, venv], env)
    python = venv / "bin" / "python"
    sh([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", *args], env)
    code = "import torch, torchvision; print(torch.SEED, torchvision.SEED)"
    seeds = sh([python, "-c", code], env).stdout.split()
    return dict(zip(("torch", "torchvision"), seeds))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_push_to_pypiserver_then_pip_installs_from_it(
    pypiserver, wh, tmp_path, capsys, monkeypatch
):
    url, served = pypiserver
    monkeypatch.setenv("TORCHBUILD_INDEX_USERNAME", USER)
    monkeypatch.setenv("TORCHBUILD_INDEX_PASSWORD", PASSWORD)
    push = ["index", "push", "--wheelhouse", str(wh.root), "--to", url]

    code, out, err = run(capsys, *push, "--dry-run")
    assert code == 0, err
    assert out.count("would upload") == 3  # two rows and the summary
    assert list(served.iterdir()) == []

    code, out, err = run(capsys, *push, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["version"], data["uploaded"], data["present"]) == (1, 2, 0)
    assert PASSWORD not in out + err
    for entry in wh.entries():
        assert (served / entry.filename).read_bytes() == wh.path_of(entry).read_bytes()

    seeds = pip_install(tmp_path, "venv", "--index-url", f"{url}simple/", "torch", "torchvision")
    assert seeds == {"torch": "pushed", "torchvision": "pushed"}

    stamps = {p.name: p.stat().st_mtime_ns for p in served.iterdir()}
    code, out, err = run(capsys, *push, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["uploaded"], data["present"]) == (0, 2)
    assert {f["status"] for f in data["files"]} == {"present"}
    assert {p.name: p.stat().st_mtime_ns for p in served.iterdir()} == stamps


def test_conflicting_file_is_refused_and_nothing_uploaded(
    pypiserver, wh, tmp_path, capsys, monkeypatch
):
    url, served = pypiserver
    other = make_wheel(tmp_path / "other", "torch", "2.6.0+cpu", seed="someone else")
    shutil.copy(other, served / TORCH)  # the index already has a different file of that name
    monkeypatch.setenv("TWINE_USERNAME", USER)
    monkeypatch.setenv("TWINE_PASSWORD", PASSWORD)
    code, out, err = run(capsys, "index", "push", "--wheelhouse", str(wh.root), "--to", url)
    assert code == 10
    assert TORCH in err
    assert hashlib.sha256(other.read_bytes()).hexdigest() in err  # the remote's sha256
    assert wh.find("torch")[0].sha256 in err  # and ours
    assert "refused" in out
    assert sorted(p.name for p in served.iterdir()) == [TORCH]  # torchvision was held back too
    assert (served / TORCH).read_bytes() == other.read_bytes()


def test_wrong_or_missing_password_is_a_clear_error(pypiserver, wh, tmp_path, capsys, monkeypatch):
    url, served = pypiserver
    push = ["index", "push", "--wheelhouse", str(wh.root), "--to", url]
    code, _, err = run(capsys, *push)
    assert code == 11
    assert "HTTP 401" in err
    assert "without credentials" in err

    netrc = tmp_path / "home" / ".netrc"
    netrc.parent.mkdir(parents=True, exist_ok=True)
    netrc.write_text(f"machine 127.0.0.1 login {USER} password not-the-password\n")
    netrc.chmod(0o600)
    code, out, err = run(capsys, *push)
    assert code == 11
    assert f"credentials from {netrc} (user {USER})" in err
    for place in ("TORCHBUILD_INDEX_USERNAME", "TWINE_USERNAME", "~/.netrc", "keyring"):
        assert place in err
    assert "not-the-password" not in out + err
    assert list(served.iterdir()) == []

    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    code, _, err = run(capsys, *push, "--project", "torch")
    assert code == 0, err
    assert [p.name for p in served.iterdir()] == [TORCH]


def test_export_delete_import_then_pip_installs_offline(wh, tmp_path, capsys):
    root = str(wh.root)
    assert run(capsys, "index", "export", "--wheelhouse", root, "--to", "carried")[0] == 0
    assert run(capsys, "index", "export", "--wheelhouse", root, "--to", "carried.tar")[0] == 0
    shutil.rmtree(wh.root)

    code, out, err = run(capsys, "index", "import", "carried.tar", "--wheelhouse", root)
    assert code == 0, err
    assert "2 added" in out
    code, out, err = run(capsys, "index", "verify", "--wheelhouse", root)
    assert code == 0, out + err

    pushed = {"torch": "pushed", "torchvision": "pushed"}
    exported = tmp_path / "carried"
    assert (
        pip_install(
            tmp_path, "flat", "--no-index", "--find-links", str(exported), "torch", "torchvision"
        )
        == pushed
    )
    simple = (wh.root / "simple").as_uri() + "/"
    assert pip_install(tmp_path, "index", "--index-url", simple, "torch", "torchvision") == pushed


def test_tar_member_escaping_the_target_is_refused(wh, tmp_path, capsys):
    assert run(capsys, "index", "export", "--wheelhouse", str(wh.root), "--to", "good.tar")[0] == 0
    with tarfile.open("good.tar") as good, tarfile.open("evil.tar", "w") as evil:
        for member in good:
            evil.addfile(member, good.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("good/../../planted.txt")
        info.size = 4
        evil.addfile(info, io.BytesIO(b"boom"))
    new = str(tmp_path / "new")
    code, _, err = run(capsys, "index", "import", "evil.tar", "--wheelhouse", new)
    assert code == 3
    assert "leaves the target directory" in err
    assert not (tmp_path.parent / "planted.txt").exists()
    assert not Wheelhouse(tmp_path / "new").exists()
