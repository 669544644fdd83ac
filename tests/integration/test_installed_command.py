"""torchbuild installed the way the README says (`uv tool install`, as pipx would: its own
environment, whose bin/ is not on PATH) builds a real project when run by its absolute path with
a clean PATH.

The project is the fixture tbfix-cpy with ``cmake_minimum_required(VERSION 3.26...4.4)`` and
only scikit-build-core as a build requirement: Debian 12's CMake (3.25) is too old for it, so
the build must get CMake from PyPI (the one torchbuild depends on, or the backend's dynamic
build requirement), never from the caller's PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.network, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CLEAN_PATH = "/usr/bin:/bin"


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The torchbuild command of a fresh `uv tool install` of the project's wheel."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("torchbuild-*.whl")
    tools = tmp_path_factory.mktemp("uv-tools")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(UV_TOOL_DIR=str(tools / "envs"), UV_TOOL_BIN_DIR=str(tools / "bin"))
    done = subprocess.run(
        [_uv(), "tool", "install", "--python", sys.executable, str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    command = tools / "bin" / "torchbuild"
    assert command.exists()
    return command


def _system_cmake() -> str | None:
    found = shutil.which("cmake", path=CLEAN_PATH)
    if found is None:
        return None
    out = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    m = re.search(r"version (\d+\.\d+)", out.stdout)
    return m.group(1) if m else None


def test_installed_command_builds_with_a_clean_path(installed: Path, tmp_path: Path) -> None:
    project = tmp_path / "tbfix-cpy"
    shutil.copytree(ROOT / "tests" / "data" / "projects" / "tbfix-cpy", project)
    cmakelists = project / "CMakeLists.txt"
    text = cmakelists.read_text()
    cmakelists.write_text(
        text.replace(
            "cmake_minimum_required(VERSION 3.15)", "cmake_minimum_required(VERSION 3.26...4.4)"
        )
    )
    print(f"system cmake on {CLEAN_PATH}: {_system_cmake()}")  # noqa: T201 - 3.25 on Debian 12
    env = {
        "PATH": CLEAN_PATH,
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "TORCHBUILD_CACHE_DIR": str(tmp_path / "cache"),
        "TORCHBUILD_WHEELHOUSE": str(tmp_path / "wh"),
    }
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE", "SSL_CERT_FILE"):
        if name in os.environ:
            env[name] = os.environ[name]
    done = subprocess.run(
        [str(installed), "wheel", "tbfix-cpy", "--source", f"tbfix-cpy={project}", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(done.stdout)["packages"]
    assert row["action"] == "built"
    (wheel,) = (tmp_path / "wh" / "simple" / "tbfix-cpy").glob("*.whl")
    log = Path(row["build"]["log"]).read_text(encoding="utf-8", errors="replace")
    used = re.search(r"using CMake (\d+\.\d+)", log)
    assert used is not None, log[-2000:]
    assert tuple(map(int, used.group(1).split("."))) >= (3, 26)

    # The wheel works: installed into a fresh environment, its C code runs.
    venv = tmp_path / "check"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", str(wheel)],
        check=True,
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tbfix_cpy; print(tbfix_cpy.triangle(10))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "55"
