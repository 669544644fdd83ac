"""A package without a recipe and without --source is built from its sdist on the configured
indexes: torch-scatter 2.1.2 from PyPI (its sha256 from the index checked), through the generic
recipe, against the CPU torch 2.13.0 of --python; then installed from the wheelhouse into a fresh
environment and its scatter sum and mean checked against sums done by hand.

Measured on 2 cores shared with other builds: the whole test 8 minutes, most of it the build
(torch-scatter's setup.py turns Ninja off, so its translation units, each including torch's
headers, compile one after the other).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.network, pytest.mark.slow]

TORCHBUILD = Path(sys.executable).with_name("torchbuild")

CHECK = """
import torch, torch_scatter
src = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
index = torch.tensor([0, 1, 0, 1, 2, 2])
print(torch_scatter.scatter(src, index, dim=0, reduce="sum").tolist())
print(torch_scatter.scatter(src, index, dim=0, reduce="mean").tolist())
"""


def test_torch_scatter_from_its_pypi_sdist(torch_python: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        TORCHBUILD_CACHE_DIR=str(tmp_path / "cache"), TORCHBUILD_WHEELHOUSE=str(tmp_path / "wh")
    )
    args = [str(TORCHBUILD), "wheel", "torch-scatter==2.1.2", "--python", str(torch_python)]
    planned = subprocess.run(
        [*args, "--dry-run", "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert planned.returncode == 0, planned.stderr[-3000:]
    (other,) = json.loads(planned.stdout)["others"]
    assert other["origin"].startswith("sdist torch_scatter-2.1.2.tar.gz from ")
    assert ", sha256 " in other["origin"]

    done = subprocess.run(
        [*args, "--json"], env=env, capture_output=True, text=True, timeout=3000, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(done.stdout)["packages"]
    assert (row["project"], row["action"]) == ("torch-scatter", "built")
    assert row["version"].startswith("2.1.2")
    (wheel,) = (tmp_path / "wh" / "simple" / "torch-scatter").glob("*.whl")

    fresh = tmp_path / "fresh"
    subprocess.run([str(torch_python), "-m", "venv", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)],
        check=True,
    )
    out = subprocess.run(
        [str(python), "-c", CHECK], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    total, mean = out.stdout.split("\n")[:2]
    # Index 0 holds 1 and 3, index 1 holds 2 and 4, index 2 holds 5 and 6.
    assert json.loads(total) == [1 + 3, 2 + 4, 5 + 6]
    assert json.loads(mean) == [(1 + 3) / 2, (2 + 4) / 2, (5 + 6) / 2]
