"""The pipeline's pure parts: what a tree needs to build, pip's flags for another machine's tags,
and the dependency list of a set."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from torchbuild.pipeline.dependencies import foreign_args, requires_dist
from torchbuild.resolve.trees import tree_facts
from torchbuild.target import load_target
from wheelfactory import make_wheel

if TYPE_CHECKING:
    from pathlib import Path


def test_tree_facts_reads_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["scikit-build-core>=0.10", "tbfix-cext==1.0.0"]\n'
        '[project]\nname = "x"\nversion = "3.1.4"\n'
    )
    requires, version = tree_facts(tmp_path)
    assert requires == ["scikit-build-core>=0.10", "tbfix-cext==1.0.0"]
    assert version == "3.1.4"


@pytest.mark.parametrize(
    ("setup_py", "needs_torch"),
    [
        ("import torch\nfrom setuptools import setup\n", True),
        ("from torch.utils.cpp_extension import BuildExtension\n", True),
        ("import os\n  import torch  # indented, inside a function\n", True),
        ("import torchvision_helpers\nfrom setuptools import setup\n", False),
        ("# import torch is only a comment here\nfrom setuptools import setup\n", False),
    ],
)
def test_a_setup_py_that_imports_torch_needs_torch(
    tmp_path: Path, setup_py: str, needs_torch: bool
) -> None:
    (tmp_path / "setup.py").write_text(setup_py)
    requires, version = tree_facts(tmp_path)
    # No pyproject.toml: PEP 517's setuptools fallback, plus torch when setup.py imports it.
    assert requires[0].startswith("setuptools")
    assert ("torch" in requires) is needs_torch
    assert version is None


def test_pkg_info_gives_the_version_of_an_sdist_tree(tmp_path: Path) -> None:
    (tmp_path / "PKG-INFO").write_text(
        "Metadata-Version: 2.1\nName: torch-scatter\nVersion: 2.1.2\n"
    )
    (tmp_path / "setup.py").write_text("import torch\n")
    assert tree_facts(tmp_path)[1] == "2.1.2"


def test_foreign_args_use_the_presets_tags() -> None:
    target = load_target("rpi5-bookworm-arm64")
    args = foreign_args(target)
    assert "--python-version=3.11" in args
    assert "--implementation=cp" in args
    assert "--abi=cp311" in args
    platforms = [a.split("=", 1)[1] for a in args if a.startswith("--platform=")]
    assert platforms
    assert all(p.endswith("aarch64") for p in platforms)
    assert "manylinux_2_36_aarch64" in platforms  # bookworm's glibc 2.36


def test_requires_dist_leaves_out_extras_only_requirements(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "demo",
        "1.0",
        requires_dist=[
            "torch",
            "numpy>=1.20",
            "pytest; extra == 'test'",
            "pillow; python_version >= '3'",
        ],
    )
    names = [r.name for r in requires_dist(wheel)]
    assert names == ["torch", "numpy", "pytest", "pillow"]
    without_extras = [str(r) for r in requires_dist(wheel, extras=False)]
    assert without_extras == ["torch", "numpy>=1.20", 'pillow; python_version >= "3"']
