"""torchbuild's wheel choice against pip's own answer, on live PyPI, for a table of targets.

For each target and release, pip is asked what it would install for that target::

    pip install --dry-run --ignore-installed --no-deps --only-binary=:all: \\
        --python-version X.Y --implementation cp --abi cpXY[t] --platform <every tag> ... \\
        --target DIR --report FILE torch==V

(``--use-feature=fast-deps`` reads the wheel's metadata with range requests instead of
downloading half a gigabyte). torchbuild must agree on whether a tag-compatible wheel exists and
on which file it is; and where the variant fits (these targets have no GPU), ``plan`` must pick
the same file as ``prebuilt``, or say ``build`` where pip finds nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from data.pypi.replay import profile
from torchbuild.errors import ResolveError
from torchbuild.resolve import tags
from torchbuild.resolve.candidates import evaluate, pip_choice
from torchbuild.resolve.choice import recipe_gap
from torchbuild.resolve.indexes import IndexClient, Source
from torchbuild.resolve.matrix import parse_request
from torchbuild.resolve.pipconfig import DEFAULT_INDEX_URL
from torchbuild.resolve.plan import Plan, make_plan
from torchbuild.target import Target, load_target

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.network, pytest.mark.integration]

PYPI = Source("index", DEFAULT_INDEX_URL, "test")

TARGETS: dict[str, Target] = {
    "x86_64-glibc2.35-cp311": profile(python="3.11", libc_version="2.35"),
    "x86_64-glibc2.17-cp310": profile(python="3.10", libc_version="2.17"),
    "x86_64-glibc2.28-cp38": profile(python="3.8", libc_version="2.28"),
    "x86_64-glibc2.39-cp314t": profile(python="3.14", free_threaded=True, libc_version="2.39"),
    "x86_64-glibc2.39-cp315": profile(python="3.15", libc_version="2.39"),
    "aarch64-glibc2.27-cp311": profile(arch="aarch64", python="3.11", libc_version="2.27"),
    "aarch64-glibc2.31-cp39": profile(arch="aarch64", python="3.9", libc_version="2.31"),
    "rpi5-bookworm-arm64": load_target("rpi5-bookworm-arm64"),
    "rpi-bookworm-armv7l": load_target("rpi-bookworm-armv7l"),
    "x86_64-musl1.2-cp312": profile(python="3.12", libc="musl", libc_version="1.2.4"),
    "i686-glibc2.31-cp311": profile(arch="i686", python="3.11", libc_version="2.31"),
}

CASES = [
    ("x86_64-glibc2.35-cp311", "torch", "2.15.0"),
    ("x86_64-glibc2.35-cp311", "torch", "2.5.1"),
    ("x86_64-glibc2.35-cp311", "torchvision", "0.29.2"),
    ("x86_64-glibc2.17-cp310", "torch", "2.13.0"),
    ("x86_64-glibc2.17-cp310", "torch", "2.6.0"),
    ("x86_64-glibc2.28-cp38", "torch", "2.4.1"),
    ("x86_64-glibc2.28-cp38", "torch", "2.5.1"),
    ("x86_64-glibc2.39-cp314t", "torch", "2.15.0"),
    ("x86_64-glibc2.39-cp314t", "torchaudio", "2.11.0"),
    ("x86_64-glibc2.39-cp315", "torch", "2.15.0"),
    ("x86_64-glibc2.39-cp315", "torch", "2.14.1"),
    ("x86_64-glibc2.39-cp315", "torchaudio", "2.11.0"),
    ("aarch64-glibc2.27-cp311", "torch", "2.13.0"),
    ("aarch64-glibc2.27-cp311", "torch", "2.5.1"),
    ("aarch64-glibc2.27-cp311", "torchvision", "0.20.1"),
    ("aarch64-glibc2.31-cp39", "torch", "2.8.0"),
    ("rpi5-bookworm-arm64", "torch", "2.15.0"),
    ("rpi-bookworm-armv7l", "torch", "2.13.0"),
    ("x86_64-musl1.2-cp312", "torch", "2.13.0"),
    ("i686-glibc2.31-cp311", "torch", "2.13.0"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> IndexClient:
    return IndexClient()  # no cache: a fresh answer from PyPI


def pip_answer(target: Target, requirement: str, workdir: Path) -> str | None:
    """The file pip would install for ``target``, or None when it finds none."""
    assert target.python is not None
    ts = tags.tag_set(target)
    major, minor = tags.python_tuple(target)
    report = workdir / "report.json"
    args = [
        sys.executable, "-m", "pip", "install", "--isolated", "--disable-pip-version-check",
        "--dry-run", "--ignore-installed", "--no-deps", "--only-binary=:all:",
        "--use-feature=fast-deps", "--index-url", DEFAULT_INDEX_URL,
        "--python-version", f"{major}.{minor}", "--implementation", "cp", "--abi", ts.abi,
        "--target", str(workdir / "t"), "--report", str(report), "--quiet",
    ]  # fmt: skip
    for platform in ts.platforms:
        args += ["--platform", platform]
    args.append(requirement)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
    if done.returncode != 0:
        said = done.stderr + done.stdout
        assert "No matching distribution found" in said or "Could not find a version" in said, said
        return None
    installs = json.loads(report.read_text())["install"]
    assert len(installs) == 1
    url: str = installs[0]["download_info"]["url"]
    return url.rsplit("/", 1)[-1]


@pytest.mark.parametrize(("target_name", "project", "version"), CASES)
def test_same_file_as_pip(
    live: IndexClient, tmp_path: Path, target_name: str, project: str, version: str
) -> None:
    from packaging.version import Version

    target = TARGETS[target_name]
    ts = tags.tag_set(target)
    listing = live.listing(PYPI, project)
    assert listing.status == "ok", listing.error
    candidates = evaluate(
        project, Version(version), [(PYPI, f) for f in listing.files], target, ts, None
    )
    ours = pip_choice(candidates)
    pips = pip_answer(target, f"{project}=={version}", tmp_path)
    assert (ours.link.filename if ours else None) == pips

    if project != "torch":
        return

    # The plan agrees too: these targets have no GPU, so a tag-compatible wheel also fits.
    # (--ignore-matrix: torch 2.5.1 on Python 3.8 is outside the matrix, and the file question
    # is the one asked here.)
    def plan() -> Plan:
        return make_plan(
            target,
            [parse_request(f"torch=={version}")],
            sources=[PYPI],
            client=live,
            ignore_matrix=True,
        )

    if pips is None and recipe_gap("torch", Version(version)) is not None:
        # A build no recipe series covers is refused at plan time, never planned.
        with pytest.raises(ResolveError, match="no torch recipe series covers"):
            plan()
        return
    (decision,) = plan().decisions
    if pips is None:
        assert decision.action == "build"
    else:
        assert decision.action == "prebuilt"
        assert decision.wheel is not None
        assert decision.wheel.filename == pips
