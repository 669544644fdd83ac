"""A project's static and dynamic build requirements (PEP 518 and PEP 517's hook), and the
build's PATH: run with this interpreter only, no build tool of the host."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from torchbuild.compile.requirements import (
    FALLBACK_BACKEND,
    backend_of,
    dynamic_requirements,
    missing_from,
)
from torchbuild.compile.tools import PypiTool, build_path, tool_links
from torchbuild.errors import BuildError
from torchbuild.resolve.trees import static_requirements
from torchbuild.venvs import Venv

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torchbuild.compile.workdir import BuildDir

HERE = Venv(Path(sys.prefix), Path(sys.executable), inherit_site=False)

# An in-tree backend (backend-path) whose hook names requirements the way scikit-build-core
# does when the CMake on PATH is too old: it reads PATH itself.
BACKEND = """
import os, shutil

def get_requires_for_build_wheel(config_settings=None):
    found = shutil.which("cmake")
    return ["ninja>=1.11"] + ([] if found and "{marker}" in found else ["cmake>=3.26"])

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise NotImplementedError
"""


def _tree(tmp_path: Path, backend: str = BACKEND) -> Path:
    tree = tmp_path / "tree"
    (tree / "_backend").mkdir(parents=True)
    (tree / "_backend" / "fake_backend.py").write_text(backend.replace("{marker}", "goodcmake"))
    (tree / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "fake_backend"\n'
        'backend-path = ["_backend"]\n'
    )
    return tree


def test_static_requirements_fall_back_to_setuptools(tmp_path: Path) -> None:
    assert static_requirements(tmp_path) == ["setuptools>=40.8.0"]
    assert backend_of(tmp_path) == (FALLBACK_BACKEND, None)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert static_requirements(tmp_path) == ["setuptools>=40.8.0"]
    (tmp_path / "pyproject.toml").write_text("[build-system]\nrequires = []\n")
    assert static_requirements(tmp_path) == []


def test_dynamic_requirements_come_from_the_backends_hook_with_the_builds_path(
    tmp_path: Path,
) -> None:
    tree = _tree(tmp_path)
    assert backend_of(tree) == ("fake_backend", ["_backend"])
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    assert dynamic_requirements(tree, HERE, env) == ["ninja>=1.11", "cmake>=3.26"]
    good = tmp_path / "goodcmake"
    good.mkdir()
    cmake = good / "cmake"
    cmake.write_text("#!/bin/sh\n")
    cmake.chmod(0o755)
    env = {**os.environ, "PATH": str(good)}
    assert dynamic_requirements(tree, HERE, env) == ["ninja>=1.11"]


def test_a_failing_hook_is_a_build_error_naming_the_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "def get_requires_for_build_wheel(config_settings=None):\n    1/0\n")
    with pytest.raises(BuildError, match="failed to name its build requirements") as info:
        dynamic_requirements(tree, HERE, dict(os.environ))
    assert "ZeroDivisionError" in info.value.message


def test_a_backend_without_the_hook_asks_for_nothing(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "def build_wheel(w, c=None, m=None):\n    raise NotImplementedError\n")
    assert dynamic_requirements(tree, HERE, dict(os.environ)) == []


@pytest.mark.programs
def test_missing_from_compares_versions_installed_in_the_environment() -> None:
    import packaging

    have = packaging.__version__
    assert missing_from(HERE, [f"packaging=={have}", "packaging>=0"]) == []
    assert missing_from(HERE, [f"packaging!={have}"]) == [f"packaging!={have}"]
    assert missing_from(HERE, ["no-such-distribution-here"]) == ["no-such-distribution-here"]
    assert missing_from(HERE, ["not a requirement ("]) == ["not a requirement ("]


def _fake_tool(directory: Path, name: str, output: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(0o755)
    return path


@pytest.mark.programs
def test_pypi_cmake_is_linked_only_where_the_systems_is_older_or_missing(tmp_path: Path) -> None:
    pypi = _fake_tool(tmp_path / "pypi", "cmake", "cmake version 4.4.5")
    ctest = _fake_tool(tmp_path / "pypi", "ctest", "ctest version 4.4.5")
    ninja = _fake_tool(tmp_path / "pypi-ninja", "ninja", "1.13.2")
    tools = [PypiTool("cmake", pypi, "4.4.5", (ctest,)), PypiTool("ninja", ninja, "1.13.2")]
    old = tmp_path / "old"
    _fake_tool(old, "cmake", "cmake version 3.25.1")
    _fake_tool(old, "ninja", "1.13.2")
    links = tool_links(tmp_path / "links", str(old), tools)
    assert links == tmp_path / "links"
    assert sorted(p.name for p in links.iterdir()) == ["cmake", "ctest"]
    assert (links / "cmake").resolve() == pypi.resolve()
    # Asked again (a resumed build), the links are kept as they are.
    assert tool_links(tmp_path / "links", str(old), tools) == links
    # Nothing on PATH: both come from PyPI.
    none = tool_links(tmp_path / "links2", str(tmp_path / "nowhere"), tools)
    assert none is not None
    assert sorted(p.name for p in none.iterdir()) == ["cmake", "ctest", "ninja"]
    new = tmp_path / "new"
    _fake_tool(new, "cmake", "cmake version 4.5.0")
    _fake_tool(new, "ninja", "1.13.2")
    assert tool_links(tmp_path / "links3", str(new), tools) is None


def test_build_path_order(tmp_path: Path) -> None:
    env = {"PATH": os.pathsep.join(["/usr/local/bin", "/usr/bin", "/venv/bin"])}
    path = build_path(env, Path("/venv/bin"), tmp_path / "links", Path("/tb/bin"))
    assert path.split(os.pathsep) == [
        "/venv/bin",
        str(tmp_path / "links"),
        "/usr/local/bin",
        "/usr/bin",
        "/tb/bin",
    ]
    assert build_path({"PATH": "/usr/bin:/tb/bin"}, Path("/v"), None, Path("/tb/bin")).split(
        os.pathsep
    ) == ["/v", "/usr/bin", "/tb/bin"]


@pytest.mark.programs
def test_only_missing_dynamic_requirements_make_a_new_environment(tmp_path: Path) -> None:
    from types import SimpleNamespace
    from typing import cast

    import packaging

    from torchbuild.compile.requirements import with_dynamic_requirements

    def bdir(tree: Path, name: str) -> BuildDir:
        return cast("BuildDir", SimpleNamespace(src=tree, path=tmp_path / name))

    def backend(answer: str) -> str:
        return f"def get_requires_for_build_wheel(config_settings=None):\n    return {answer}\n"

    made: list[list[str]] = []

    def extend(more: Sequence[str]) -> Venv:
        made.append(list(more))
        return Venv(tmp_path / "new", Path(sys.executable), inherit_site=False)

    have = f"packaging=={packaging.__version__}"
    tree = _tree(tmp_path / "1", backend(f'["{have}", "torch", "tbfix-not-installed>=1"]'))
    got = with_dynamic_requirements(HERE, bdir(tree, "b1"), extend)
    # torch is the planned one, never installed this way; packaging is there already.
    assert made == [["tbfix-not-installed>=1"]]
    assert got.path == tmp_path / "new"
    tree = _tree(tmp_path / "2", backend(f'["{have}"]'))
    assert with_dynamic_requirements(HERE, bdir(tree, "b2"), extend) is HERE
    assert len(made) == 1
