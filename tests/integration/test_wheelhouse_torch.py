"""The real thing: a 190 MB torch CPU wheel through add, verify, serve and a hashed pip install."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchbuild.__main__ import main
from torchbuild.wheelhouse import Wheelhouse
from torchbuild.wheelhouse.serve import make_server, running

TORCH = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(not TORCH.is_file(), reason=f"needs {TORCH}"),
    pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the wheel is for CPython 3.11"),
]


def test_real_torch_wheel(tmp_path):
    wh = Wheelhouse(tmp_path / "wh")
    start = time.perf_counter()
    assert main(["index", "add", "--wheelhouse", str(wh.root), str(TORCH)]) == 0
    added_in = time.perf_counter() - start
    (entry,) = wh.find("torch")
    assert entry.requires_python  # torch declares one; it must reach data-requires-python
    assert (
        f'data-requires-python="{entry.requires_python.replace(">", "&gt;").replace("<", "&lt;")}"'
        in (wh.simple / "torch" / "index.html").read_text()
    )
    assert main(["index", "verify", "--wheelhouse", str(wh.root)]) == 0
    print(f"\nadd (copy, hash, CRC check of every member) took {added_in:.1f} s")  # noqa: T201

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        HOME=str(tmp_path),
    )
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [uv, "venv", "-q", "--python", sys.executable, tmp_path / "venv"], check=True, env=env
    )
    python = tmp_path / "venv" / "bin" / "python"
    with running(make_server(wh, "127.0.0.1", 0)) as url:
        assert (
            main(
                [
                    "index",
                    "config",
                    "--wheelhouse",
                    str(wh.root),
                    "--url",
                    url,
                    "--no-pypi",
                    "--out",
                    str(tmp_path / "cfg"),
                ]
            )
            == 0
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                python,
                "install",
                "--no-deps",
                "--index-url",
                url,
                "--require-hashes",
                "-r",
                tmp_path / "cfg" / "requirements.txt",
            ],
            check=True,
            env=env,
            capture_output=True,
        )
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert version == "2.13.0+cpu"
