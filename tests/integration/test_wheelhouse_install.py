"""pip and uv install real wheels from the wheelhouse, and another index cannot shadow them.

The wheels are tiny stand-ins named torch, torchvision and torchaudio (``SEED = "ours"`` inside),
so an install proves which file was chosen. "PyPI" is played by a second served wheelhouse with
newer versions and the same version in files pip ranks higher: a ``manylinux`` tag (ranked above
``linux_*`` by pip before 26) and a build number (ranked first by any pip on equal tags). One
test uses the real PyPI (``network``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from torchbuild.__main__ import main
from torchbuild.wheelhouse import Wheelhouse
from torchbuild.wheelhouse.config import PYPI_SIMPLE
from torchbuild.wheelhouse.serve import make_server, running
from wheelfactory import make_wheel

pytestmark = pytest.mark.integration

PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
MACHINE = platform.machine()
OURS = f"{PY}-{PY}-linux_{MACHINE}"
THEIRS = f"{PY}-{PY}-manylinux_2_17_{MACHINE}"
UV = Path(sys.executable).with_name("uv")


def _linux_only() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the stand-in wheels are tagged for Linux")


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    _linux_only()
    root = tmp_path_factory.mktemp("ours")
    wh = Wheelhouse(root / "wh", durable=False)
    src = root / "src"
    for name, version, deps in [
        ("torch", "2.6.0+cpu", []),
        ("torch", "2.5.1", []),  # no local label: needs the pin by URL
        ("torchvision", "0.21.0+cpu", ["torch==2.6.0+cpu"]),
        ("torchaudio", "2.6.0+cpu", ["torch==2.6.0+cpu"]),
    ]:
        wheel = make_wheel(
            src, name, version, tag=OURS, requires_dist=deps, seed="ours", requires_python=">=3.8"
        )
        wh.add(wheel, origin="test")
    return wh


@pytest.fixture(scope="module")
def fake_pypi(tmp_path_factory):
    _linux_only()
    root = tmp_path_factory.mktemp("pypi")
    wh = Wheelhouse(root / "wh", durable=False)
    src = root / "src"
    for name, version, tag, *build in [
        ("torch", "9.0.0", THEIRS),
        ("torch", "2.6.0", THEIRS),
        ("torch", "2.5.1", THEIRS),  # same version as ours: a tag older pip ranks higher
        ("torch", "2.5.1", OURS, "1"),  # ... and ours's tag with a build number, for any pip
        ("torchvision", "9.0.0", "py3-none-any"),
        ("torchaudio", "9.0.0", "py3-none-any"),
        ("fakedep", "1.0", "py3-none-any"),  # only here: proves the extra index still works
    ]:
        wheel = make_wheel(
            src, name, version, tag=tag, build=build[0] if build else None, seed="theirs"
        )
        wh.add(wheel, origin="test")
    return wh


@pytest.fixture(scope="module")
def served(ours, fake_pypi):
    with running(make_server(ours, "127.0.0.1", 0)) as url, running(
        make_server(fake_pypi, "127.0.0.1", 0)
    ) as pypi_url:
        yield url, pypi_url


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No pip or uv configuration of this machine or user may leak into the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    if "PIP_CERT" in os.environ:
        env["PIP_CERT"] = os.environ["PIP_CERT"]
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_CACHE_DIR="1",
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
    )
    env.update(extra)
    return env


def sh(args, env, timeout=300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(map(str, args)), env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


def fresh_venv(path: Path, env) -> Path:
    sh([UV, "venv", "-q", "--python", sys.executable, path], env)
    return path / "bin" / "python"


def installed(python: Path, env, *modules: str) -> dict[str, tuple[str, str]]:
    code = (
        "; ".join(f"import {m}" for m in modules)
        + "; print("
        + ", ".join(f"'{m}', {m}.__version__, {m}.SEED" for m in modules)
        + ")"
    )
    words = sh([python, "-c", code], env).stdout.split()
    return {words[i]: (words[i + 1], words[i + 2]) for i in range(0, len(words), 3)}


def config(wh: Wheelhouse, out: Path, *args: str) -> Path:
    assert main(["index", "config", "--wheelhouse", str(wh.root), "--out", str(out), *args]) == 0
    return out


def pip(python: Path, env, *args) -> subprocess.CompletedProcess[str]:
    return sh([sys.executable, "-m", "pip", "--python", python, "install", *args], env)


WANT = {
    "torch": ("2.6.0+cpu", "ours"),
    "torchvision": ("0.21.0+cpu", "ours"),
    "torchaudio": ("2.6.0+cpu", "ours"),
}


def test_pip_by_name_with_hashes_from_server(ours, served, tmp_path):
    url, _ = served
    env = clean_env(tmp_path)
    cfg = config(ours, tmp_path / "cfg", "--url", url, "--no-pypi")
    python = fresh_venv(tmp_path / "venv", env)
    pip(python, env, "--index-url", url, "--require-hashes", "-r", cfg / "requirements.txt")
    assert installed(python, env, *WANT) == WANT


def test_uv_by_name_with_hashes_from_server(ours, served, tmp_path):
    url, _ = served
    env = clean_env(tmp_path)
    cfg = config(ours, tmp_path / "cfg", "--url", url, "--no-pypi")
    python = fresh_venv(tmp_path / "venv", env)
    sh(
        [
            UV,
            "pip",
            "install",
            "--python",
            python,
            "--index-url",
            url,
            "--require-hashes",
            "-r",
            cfg / "requirements.txt",
        ],
        env,
    )
    assert installed(python, env, *WANT) == WANT


def test_pip_from_file_url_with_bundled_pip(ours, tmp_path):
    """The pip that ships with this Python (ensurepip), reading the directory through file://."""
    env = clean_env(tmp_path)
    sh([sys.executable, "-m", "venv", tmp_path / "venv"], env)
    python = tmp_path / "venv" / "bin" / "python"
    url = ours.simple.as_uri() + "/"
    cfg = config(ours, tmp_path / "cfg", "--url", url, "--no-pypi")
    sh(
        [
            python,
            "-m",
            "pip",
            "install",
            "--index-url",
            url,
            "--require-hashes",
            "-r",
            cfg / "requirements.txt",
        ],
        env,
    )
    assert installed(python, env, *WANT) == WANT


def test_uv_from_file_url(ours, tmp_path):
    env = clean_env(tmp_path)
    python = fresh_venv(tmp_path / "venv", env)
    sh([UV, "pip", "install", "--python", python, "--index-url", ours.simple.as_uri(), *WANT], env)
    assert installed(python, env, *WANT) == WANT


def test_pip_config_is_not_shadowed_by_another_index(ours, served, tmp_path):
    url, pypi_url = served
    env = clean_env(tmp_path)
    # Control: the same two indexes without torchbuild's constraints install "PyPI"'s 9.0.0.
    python = fresh_venv(tmp_path / "control", env)
    pip(python, env, "--index-url", url, "--extra-index-url", pypi_url, "torch", "torchvision")
    assert installed(python, env, "torch")["torch"] == ("9.0.0", "theirs")

    cfg = config(ours, tmp_path / "cfg", "--url", url, "--extra-index-url", pypi_url)
    python = fresh_venv(tmp_path / "venv", env)
    pip(python, clean_env(tmp_path, PIP_CONFIG_FILE=str(cfg / "pip.conf")), *WANT, "fakedep")
    assert installed(python, env, *WANT, "fakedep") == {**WANT, "fakedep": ("1.0", "theirs")}


def test_pip_pin_by_url_beats_equal_version_with_better_tag(ours, served, tmp_path):
    url, pypi_url = served
    env = clean_env(tmp_path)
    python = fresh_venv(tmp_path / "control", env)
    pip(python, env, "--index-url", url, "--extra-index-url", pypi_url, "torch==2.5.1")
    assert installed(python, env, "torch")["torch"] == ("2.5.1", "theirs")  # shadowed

    cfg = config(
        ours,
        tmp_path / "cfg",
        "--url",
        url,
        "--extra-index-url",
        pypi_url,
        "--project",
        "torch==2.5.1",
    )
    assert "torch @ " in (cfg / "constraints.txt").read_text()
    python = fresh_venv(tmp_path / "venv", env)
    pip(python, clean_env(tmp_path, PIP_CONFIG_FILE=str(cfg / "pip.conf")), "torch")
    assert installed(python, env, "torch")["torch"] == ("2.5.1", "ours")


def test_uv_config_is_not_shadowed_by_another_index(ours, served, tmp_path):
    url, pypi_url = served
    env = clean_env(tmp_path)
    python = fresh_venv(tmp_path / "control", env)
    sh(
        [
            UV,
            "pip",
            "install",
            "--python",
            python,
            "--index",
            url,
            "--default-index",
            pypi_url,
            "--index-strategy",
            "unsafe-best-match",
            "torch",
        ],
        env,
    )
    assert installed(python, env, "torch")["torch"] == ("9.0.0", "theirs")

    cfg = config(ours, tmp_path / "cfg", "--url", url, "--extra-index-url", pypi_url)
    python = fresh_venv(tmp_path / "venv", env)
    uv_env = {k: v for k, v in env.items() if k != "UV_NO_CONFIG"}
    uv_env["UV_CONFIG_FILE"] = str(cfg / "uv.toml")
    sh([UV, "pip", "install", "--python", python, *WANT, "fakedep"], uv_env)
    assert installed(python, env, *WANT, "fakedep") == {**WANT, "fakedep": ("1.0", "theirs")}


@pytest.mark.network
def test_real_pypi_as_extra_index_cannot_shadow(ours, served, tmp_path):
    """PyPI has torch releases newer than 2.6.0; the generated settings still pick ours."""
    url, _ = served
    env = clean_env(tmp_path)
    # Control: with PyPI as the extra index and no constraints, pip would take PyPI's torch.
    report = tmp_path / "report.json"
    python = fresh_venv(tmp_path / "control", env)
    pip(
        python,
        env,
        "--dry-run",
        "--no-deps",
        "--report",
        report,
        "--index-url",
        url,
        "--extra-index-url",
        PYPI_SIMPLE,
        "torch",
    )
    chosen = json.loads(report.read_text())["install"][0]
    assert not chosen["download_info"]["url"].startswith(url)
    assert Version(chosen["metadata"]["version"]) > Version("2.6.0+cpu")

    cfg = config(ours, tmp_path / "cfg", "--url", url)  # PyPI is the default extra index
    python = fresh_venv(tmp_path / "pip", env)
    pip(python, clean_env(tmp_path, PIP_CONFIG_FILE=str(cfg / "pip.conf")), *WANT)
    assert installed(python, env, *WANT) == WANT

    python = fresh_venv(tmp_path / "uv", env)
    uv_env = {k: v for k, v in env.items() if k != "UV_NO_CONFIG"}
    uv_env["UV_CONFIG_FILE"] = str(cfg / "uv.toml")
    sh([UV, "pip", "install", "--python", python, *WANT], uv_env)
    assert installed(python, env, *WANT) == WANT


def test_uv_project_explicit_index_and_sources(ours, served, tmp_path):
    """The pyproject snippet: a uv project whose default index has a newer torch still locks ours."""
    url, pypi_url = served
    cfg = config(ours, tmp_path / "cfg", "--url", url)
    snippet = (cfg / "pyproject-uv.toml").read_text()
    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[project]\n"
        'name = "app"\nversion = "0.1"\n'
        f'requires-python = "=={sys.version_info[0]}.{sys.version_info[1]}.*"\n'
        'dependencies = ["torch", "torchvision", "fakedep"]\n\n'
        "[tool.uv]\n"
        f"environments = [\"sys_platform == 'linux' and platform_machine == '{MACHINE}'\"]\n\n"
        f'[[tool.uv.index]]\nname = "stand-in-pypi"\nurl = "{pypi_url}"\ndefault = true\n\n'
        + snippet
    )
    env = clean_env(tmp_path)
    del env["UV_NO_CONFIG"]  # it would hide the project's own [tool.uv] table
    sh([UV, "sync", "--directory", project, "--python", sys.executable], env)
    python = project / ".venv" / "bin" / "python"
    assert installed(python, env, "torch", "torchvision", "fakedep") == {
        "torch": WANT["torch"],
        "torchvision": WANT["torchvision"],
        "fakedep": ("1.0", "theirs"),
    }
