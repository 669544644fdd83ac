"""`torchbuild wheel` for several targets in one run: one plan for all, every target attempted,
a failing target reported without stopping the others, and an exit code that says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.network]

PROJECTS = Path(__file__).parents[1] / "data" / "projects"
PRESETS = Path(__file__).parents[2] / "recipes" / "targets"
TORCHBUILD = Path(sys.executable).with_name("torchbuild")


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        TORCHBUILD_CACHE_DIR=str(tmp_path / "cache"), TORCHBUILD_WHEELHOUSE=str(tmp_path / "wh")
    )
    return subprocess.run(
        [str(TORCHBUILD), *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


def _armv7l_with_a_gpu(tmp_path: Path) -> Path:
    """The Raspberry Pi armv7l preset, with a GPU listed: a CUDA request no armv7l can meet."""
    profile = json.loads((PRESETS / "rpi-bookworm-armv7l.json").read_text())
    profile["cuda"] = {
        "toolkit": None,
        "nvcc": None,
        "driver": None,
        "driver_cuda": None,
        "gpus": [{"name": "NVIDIA Orin (nvgpu)", "compute_capability": "8.7"}],
        "cudnn": None,
    }
    path = tmp_path / "armv7l-cuda.json"
    path.write_text(json.dumps(profile))
    return path


def test_impossible_target_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    impossible = _armv7l_with_a_gpu(tmp_path)
    done = _run(
        [
            "wheel",
            "tbfix-cext",
            "--source",
            f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
            "--env",
            "TBFIX_WEIGHT=2",
            "--target",
            "host",
            "--target",
            str(impossible),
            "--no-deps",
            "--json",
        ],
        tmp_path,
    )
    assert done.returncode == 5, done.stderr  # the failing target's code: a toolchain error
    out = json.loads(done.stdout)
    built = [p for p in out["packages"] if p["target"] == "host"]
    assert [p["action"] for p in built] == ["built"]
    assert [f["target"] for f in out["failed"]] == [str(impossible)]
    assert "32-bit ARM" in out["failed"][0]["error"]
    assert "1 of 2 targets failed" in done.stderr
    assert len(list((tmp_path / "wh" / "simple").glob("*/*.whl"))) == 1


def test_one_plan_for_several_presets(tmp_path: Path) -> None:
    done = _run(
        [
            "wheel",
            "torch",
            "torchvision",
            "torchaudio",
            "--target",
            "jetson-orin-jp6",
            "--target",
            "rpi5-bookworm-arm64",
            "--dry-run",
            "--json",
        ],
        tmp_path,
    )
    # The dry run stops where the real run would, before any work: a package that must be
    # built for the Jetson needs its sysroot here (input error, exit 3). The plans still show.
    assert done.returncode == 3, done.stderr
    out = json.loads(done.stdout)
    assert [t["target"] for t in out["targets"]] == ["jetson-orin-jp6", "rpi5-bookworm-arm64"]
    errors = {t["target"]: t["error"] for t in out["targets"]}
    assert "needs its sysroot" in errors["jetson-orin-jp6"]
    assert errors["rpi5-bookworm-arm64"] is None  # PyPI's aarch64 wheels fit the Pi
    for t in out["targets"]:
        names = [d["name"] for d in t["plan"]["packages"]]
        assert names == ["torch", "torchvision", "torchaudio"]
        assert all(d["action"] in ("prebuilt", "build", "cached") for d in t["plan"]["packages"])
    assert not (tmp_path / "wh").exists()  # a dry run writes nothing
