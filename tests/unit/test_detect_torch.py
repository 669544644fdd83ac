"""torch/version.py read as data, for an interpreter's torch and a target's wheel alike."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchbuild.detect.torch import probe_torch_in, version_py_facts

if TYPE_CHECKING:
    from pathlib import Path

# The 2.x layout: annotated assignments (CUDA build), then the 1.x layout: plain ones (CPU).
CUDA_2X = """from typing import Optional

__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']
__version__ = '2.5.1+cu124'
debug = False
cuda: Optional[str] = '12.4'
git_version = 'a8d6afb511a69687bbb2b7e88a3cf67917e1697e'
hip: Optional[str] = None
"""
CPU_1X = """__version__ = '1.8.0'
debug = False
cuda = None
git_version = '37c1f4a7fef115d719104e871d0cf39434aa9d56'
hip = None
"""


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        (CUDA_2X, ("2.5.1+cu124", "12.4")),
        (CPU_1X, ("1.8.0", None)),
        ("__version__ = (\n", ("", None)),  # cut short: not a version at all
        ("", ("", None)),
    ],
)
def test_version_py_facts(text: str, facts: tuple[str, str | None]) -> None:
    assert version_py_facts(text) == facts


@pytest.mark.programs
def test_probe_reads_the_interpreters_torch(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text("raise ImportError('never imported')\n")
    (site / "torch" / "version.py").write_text(CUDA_2X)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    found = probe_torch_in(str(python))
    assert found is not None
    assert (found.version, found.cuda, found.location) == (
        Version("2.5.1+cu124"),
        "12.4",
        str(site / "torch"),
    )
    (site / "torch" / "version.py").write_text("# no version here\n")
    assert probe_torch_in(str(python)) is None
