"""The project's own wheel: recipes, patches and presets must ship inside it, and it must
install and run on every Python torchbuild supports (3.8, a JetPack 5 board's, upward)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("torchbuild-*.whl")
    return built


@pytest.mark.integration
def test_wheel_ships_recipes_and_patches(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"torchbuild/_data/{p.relative_to(ROOT)}"
        for top in ("recipes", "patches")
        for p in (ROOT / top).rglob("*")
        if p.is_file()
    }
    assert expected, "recipes/ and patches/ are empty"
    assert expected <= names, sorted(expected - names)[:10]
    assert "torchbuild/_data/recipes/targets/jetson-orin-jp6.json" in names
    assert "torchbuild/py.typed" in names
    entry = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
        .decode()
    )
    assert "torchbuild = torchbuild.__main__:console" in entry


def _interpreters() -> list[str]:
    found = []
    for version in ("3.8", "3.10", "3.12", "3.13"):
        path = shutil.which(f"python{version}")
        candidates = [path] if path else []
        candidates += sorted(
            str(p) for p in Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}")
        )
        for candidate in candidates:
            if (
                subprocess.run(
                    [candidate, "-c", "pass"], capture_output=True, check=False
                ).returncode
                == 0
            ):
                found.append(candidate)
                break
    return found


@pytest.mark.integration
@pytest.mark.network
@pytest.mark.parametrize("python", _interpreters() or ["none"])
def test_installs_and_detects_on_supported_pythons(
    wheel: Path, python: str, tmp_path: Path
) -> None:
    if python == "none":
        pytest.skip("no other Python interpreters on this machine")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(venv / "bin/torchbuild"), "detect", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    profile = json.loads(out.stdout)
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert profile["python"]["version"].startswith(version + ".")
    # The bundled data (presets, tables) loads from the installed wheel, not from a checkout.
    check = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            (
                "from torchbuild.target import load_target; t = load_target('jetson-orin-jp6');"
                "print(t.arch, t.cuda.gpus[0].compute_capability)"
            ),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert check.stdout.split() == ["aarch64", "8.7"]
