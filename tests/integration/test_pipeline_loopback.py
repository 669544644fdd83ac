"""The whole pipeline in under a minute, with no network: plan, jobs, steps, wheelhouse.

A loopback index (127.0.0.1, torchbuild's own index server) serves a fixture torch wheel made by
``tests/wheelfactory.py`` in place of a prebuilt torch, and the build tools a fixture project
needs, repacked from the distributions installed in this test's interpreter (a wheel is a zip
of the installed files plus its metadata, so the repacked ones install like the originals).
``torchbuild wheel torch tbfix-cext`` then plans torch as ``prebuilt`` and tbfix-cext as a
``build`` through the generic recipe, downloads the one, compiles, repairs, verifies and
publishes the other; a second run finds both in the wheelhouse.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.tags import parse_tag, sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from torchbuild.wheelhouse import Wheelhouse
from torchbuild.wheelhouse.serve import make_server, running
from wheelfactory import make_wheel

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

PROJECTS = Path(__file__).parents[1] / "data" / "projects"
TORCHBUILD = Path(sys.executable).with_name("torchbuild")
TORCH_VERSION = "2.13.0"

#: What the generic recipe (build, setuptools, wheel) and tbfix-cext's [build-system]
#: (scikit-build-core, cmake, ninja) need, with their own requirements on this Python.
BUILD_TOOLS = (
    "build",
    "setuptools",
    "wheel",
    "scikit-build-core",
    "cmake",
    "ninja",
    "packaging",
    "pathspec",
    "pyproject-hooks",
)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack(dist_name: str, dest: Path) -> Path:
    """A wheel of the installed distribution ``dist_name``: its files under site-packages as
    RECORD lists them, and its dist-info (scripts are left out: installers make them again
    from entry_points.txt)."""
    dist = importlib.metadata.distribution(dist_name)
    files = [f for f in dist.files or () if not str(f).startswith("..")]
    info = next(f for f in files if str(f).endswith(".dist-info/WHEEL"))
    info_dir = str(info).rsplit("/", 1)[0]
    wheel_text = dist.read_text("WHEEL") or ""
    tags = [
        parse_tag(line.split(":", 1)[1].strip())
        for line in wheel_text.splitlines()
        if line.startswith("Tag:")
    ]
    interpreters = ".".join(dict.fromkeys(t.interpreter for tt in tags for t in tt))
    abis = ".".join(dict.fromkeys(t.abi for tt in tags for t in tt))
    platforms = ".".join(dict.fromkeys(t.platform for tt in tags for t in tt))
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    path = dest / f"{name}-{dist.version}-{interpreters}-{abis}-{platforms}.whl"
    parse_wheel_filename(path.name)  # a name pip accepts
    record: list[str] = []
    # Stored, not deflated: cmake's files are large and the wheel lives a few seconds.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in files:
            text = str(f)
            if "__pycache__" in text or text.endswith(("RECORD", "INSTALLER", "REQUESTED")):
                continue
            if text.startswith(info_dir + "/direct_url.json"):
                continue
            source = Path(str(f.locate()))
            zf.write(source, text)  # with its mode: cmake/data/bin/cmake stays executable
            record.append(_record_line(text, source.read_bytes()))
        record.append(f"{info_dir}/RECORD,,")
        zf.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return path


def _host_tag() -> str:
    """The most specific CPython manylinux tag this interpreter installs."""
    for tag in sys_tags():
        if tag.interpreter.startswith("cp") and tag.platform.startswith("manylinux"):
            return str(tag)
    pytest.skip("this interpreter installs no CPython manylinux wheels")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The loopback index's URL and the fixture torch wheel it serves."""
    root = tmp_path_factory.mktemp("index")
    made = root / "made"
    made.mkdir()
    torch = make_wheel(
        made, "torch", f"{TORCH_VERSION}+cpu", tag=_host_tag(), requires_python=">=3.8"
    )
    wheels = [torch] + [repack(name, made) for name in BUILD_TOOLS]
    house = Wheelhouse(root / "served")
    for wheel in wheels:
        house.add(wheel, origin="test fixture")
    with running(make_server(house, "127.0.0.1", 0)) as url:
        yield url, torch


def _tb(args: list[str], home: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        TORCHBUILD_CACHE_DIR=str(home / "cache"),
        TORCHBUILD_WHEELHOUSE=str(home / "wh"),
        # Only the loopback index: no pip configuration of this machine joins in.
        PIP_CONFIG_FILE=os.devnull,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        NO_PROXY="127.0.0.1",
    )
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX_URL"):
        env.pop(var, None)
    return subprocess.run(
        [str(TORCHBUILD), *args, "--index-url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_plan_jobs_pipeline_wheelhouse_on_a_loopback_index(
    index: tuple[str, Path], tmp_path: Path
) -> None:
    url, torch = index
    args = [
        "wheel",
        f"torch=={TORCH_VERSION}",
        "tbfix-cext",
        "--source",
        f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
        "--env",
        "TBFIX_WEIGHT=0",
        "--cuda",
        "none",
        "--compiler-cache",
        "none",
        "--no-deps",
        "--json",
    ]
    # The dry run shows the jobs and writes nothing.
    dry = _tb([*args, "--dry-run"], tmp_path, url)
    assert dry.returncode == 0, dry.stderr[-3000:]
    (planned,) = json.loads(dry.stdout)["targets"]
    assert [(d["name"], d["action"]) for d in planned["plan"]["packages"]] == [
        ("torch", "prebuilt")
    ]
    assert planned["plan"]["packages"][0]["wheel"]["filename"] == torch.name
    assert not (tmp_path / "wh").exists()

    done = _tb(args, tmp_path, url)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    rows = {p["project"]: p for p in out["packages"]}
    assert [p["project"] for p in out["packages"]] == ["torch", "tbfix-cext"]
    assert rows["torch"]["action"] == "prebuilt"
    assert rows["torch"]["wheel"] == torch.name
    assert rows["torch"]["detail"].startswith(url)  # downloaded from the loopback index
    assert rows["tbfix-cext"]["action"] == "built"
    assert rows["tbfix-cext"]["build"]["verified"] == "installed and run in a fresh environment"

    # In the wheelhouse: the very torch file the index served, and the repaired build whose
    # manifest records its build key.
    simple = tmp_path / "wh" / "simple"
    published = sorted(p.relative_to(simple).as_posix() for p in simple.glob("*/*.whl"))
    cext = rows["tbfix-cext"]["wheel"]
    assert published == [f"tbfix-cext/{cext}", f"torch/{torch.name}"]
    assert _sha256(simple / "torch" / torch.name) == _sha256(torch)
    house = Wheelhouse(tmp_path / "wh")
    (entry,) = house.find("tbfix-cext")
    assert entry.sha256 == _sha256(simple / "tbfix-cext" / cext)
    assert f"key={rows['tbfix-cext']['build']['key']}" in entry.origin.split()
    assert cext.startswith("tbfix_cext-1.0.0-cp3")
    assert "manylinux" in cext  # repaired: the tag proven from its ELF files
    with zipfile.ZipFile(simple / "tbfix-cext" / cext) as zf:
        prov_name = next(n for n in zf.namelist() if n.endswith("/torchbuild.json"))
        prov = json.loads(zf.read(prov_name))
    assert prov["build_key"] == rows["tbfix-cext"]["build"]["key"]
    assert prov["against"] == {}  # tbfix-cext does not import torch

    # Again: torch is planned as cached, the build found by its key; nothing new is written.
    again = _tb(args, tmp_path, url)
    assert again.returncode == 0, again.stderr[-3000:]
    rows2 = {p["project"]: p for p in json.loads(again.stdout)["packages"]}
    assert rows2["torch"]["action"] == "cached"
    assert rows2["tbfix-cext"]["action"] == "cached"
    assert rows2["tbfix-cext"]["wheel"] == cext
    assert sorted(p.relative_to(simple).as_posix() for p in simple.glob("*/*.whl")) == published
