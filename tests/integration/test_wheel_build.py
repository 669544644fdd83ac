"""`torchbuild wheel` on real projects: build, repair, verify, publish, cache, resume, fail cleanly.

The projects are in tests/data/projects (see its README): a scikit-build-core + CMake + Ninja
C++ extension, a second one that builds against the first, and a CUDA one. Everything runs the
real tools (cmake, ninja, gcc, nvcc, uv/pip) through the installed `torchbuild` command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.network]

PROJECTS = Path(__file__).parents[1] / "data" / "projects"
TORCHBUILD = Path(sys.executable).with_name("torchbuild")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One cache for the module: build environments are made once and shared, as for a user.
    return tmp_path_factory.mktemp("cache")


def _env(cache_dir: Path, wheelhouse: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TORCHBUILD_CACHE_DIR=str(cache_dir), TORCHBUILD_WHEELHOUSE=str(wheelhouse))
    env.update(extra)
    return env


def tb(
    args: list[str], cache_dir: Path, wheelhouse: Path, timeout: float = 900, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TORCHBUILD), *args],
        env=_env(cache_dir, wheelhouse, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _wheels(wheelhouse: Path) -> list[Path]:
    return sorted((wheelhouse / "simple").glob("*/*.whl"))


def _provenance(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/torchbuild.json"))
        return json.loads(zf.read(name))


def _cext(weight: int = 5) -> list[str]:
    return [
        "wheel",
        "tbfix-cext",
        "--source",
        f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
        "--env",
        f"TBFIX_WEIGHT={weight}",
        "--no-deps",
        "--json",
    ]


def test_extension_is_built_repaired_verified_and_published(
    tmp_path: Path, cache_dir: Path
) -> None:
    wheelhouse = tmp_path / "wh"
    out = _json(tb(_cext(), cache_dir, wheelhouse))
    (row,) = out["packages"]
    assert row["action"] == "built", row
    (wheel,) = _wheels(wheelhouse)
    assert wheel.name == row["wheel"]
    assert wheel.name.startswith("tbfix_cext-1.0.0-cp3")
    # A platform tag proven from the ELF, not the build's linux_x86_64.
    assert "manylinux" in wheel.name, wheel.name
    prov = _provenance(wheel)
    assert prov["build_key"] == row["build"]["key"]
    assert prov["source"]["kind"] == "dir"
    assert Path(row["build"]["log"]).is_file()

    # Same command again: same build key, nothing built.
    again = _json(tb(_cext(), cache_dir, wheelhouse))
    assert again["packages"][0]["action"] == "cached"
    assert _wheels(wheelhouse) == [wheel]

    # pip installs it from the wheelhouse alone, and it works.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(wheel.parent),
            "tbfix-cext",
        ],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tbfix_cext; print(tbfix_cext.add(2, 3))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "5"


def test_chain_builds_against_the_wheel_just_built(tmp_path: Path, cache_dir: Path) -> None:
    wheelhouse = tmp_path / "wh"
    args = [
        "wheel",
        "tbfix-cext",
        "tbfix-chain",
        "--source",
        f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
        "--source",
        f"tbfix-chain={PROJECTS / 'tbfix-chain'}",
        "--env",
        "TBFIX_WEIGHT=5",
        "--no-deps",
        "--json",
    ]
    out = _json(tb(args, cache_dir, wheelhouse))
    by_name = {r["project"]: r for r in out["packages"]}
    assert by_name["tbfix-cext"]["action"] in ("built", "cached")
    assert by_name["tbfix-chain"]["action"] == "built"
    cext = next(w for w in _wheels(wheelhouse) if w.name.startswith("tbfix_cext"))
    chain = next(w for w in _wheels(wheelhouse) if w.name.startswith("tbfix_chain"))
    against = _provenance(chain)["against"]
    assert against["tbfix-cext"].startswith(cext.name)  # the exact wheel, by name and sha256


def _first_ninja_total(log: Path) -> int | None:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("[") and "/" in line.split("]")[0]:
            return int(line[1:].split("]")[0].split("/")[1])
    return None


def test_interrupted_build_resumes_where_it_stopped(tmp_path: Path, cache_dir: Path) -> None:
    wheelhouse = tmp_path / "wh"
    # Heavy enough that the build is still compiling when it is killed; -v streams the log.
    args = _cext(weight=120)[:-1]  # without --json
    proc = subprocess.Popen(
        [str(TORCHBUILD), "-v", *args],
        env=_env(cache_dir, wheelhouse),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[3/"):  # two objects done, the third compiling
            break
        assert time.monotonic() < deadline, "".join(seen[-20:])
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen[-20:])
    assert not _wheels(wheelhouse)

    done = tb([*args, "--json"], cache_dir, wheelhouse)
    out = _json(done)
    (row,) = out["packages"]
    assert row["action"] == "built"
    assert row["build"]["resumed"] is True
    total = _first_ninja_total(Path(row["build"]["log"]))
    first_total = int(next(s for s in seen if s.startswith("[")).split("/")[1].split("]")[0])
    assert total is not None
    assert total < first_total, (total, first_total)


def test_missing_source_path_is_a_clear_error(tmp_path: Path, cache_dir: Path) -> None:
    wheelhouse = tmp_path / "wh"
    done = tb(
        ["wheel", "tbfix-cext", "--source", f"tbfix-cext={tmp_path / 'nope'}"],
        cache_dir,
        wheelhouse,
    )
    assert done.returncode == 7, done.stderr
    assert done.stderr.startswith("error: ")
    assert "nope" in done.stderr
    assert not wheelhouse.exists() or not _wheels(wheelhouse)


def test_not_a_python_interpreter(tmp_path: Path, cache_dir: Path) -> None:
    done = tb([*_cext(), "--python", "/bin/true"], cache_dir, tmp_path / "wh")
    assert done.returncode == 3, done.stderr
    assert "not a Python interpreter" in done.stderr
