"""The recipes against real upstream trees: patches apply, every variable set is read, versions match.

The trees are Debian's source packages of torch 2.6.0 (dfsg: without bundled third_party),
torchvision 0.21.0 and torchaudio 2.6.0, fetched with the machine's own apt configuration
(``apt-get source --download-only``, which needs a ``deb-src`` entry) into a cache directory
(``$TORCHBUILD_TEST_CACHE`` or ``~/.cache/torchbuild-tests``) and unpacked once, by
tests/debsrc.py.

"Read by the tree" means, for each variable a recipe can set for that version (defaults, the
series and every override whose version condition holds, whatever the target and the source):

* a Python build file names it as a string (``os.getenv("X")``, ``check_env_flag("X")``, the
  pass-through list in torch's tools/setup_helpers/cmake.py), or
* a CMake file reads it as ``$ENV{X}``, or
* for torch only: it starts with BUILD_, USE_ or CMAKE_, which setup.py passes to CMake as -D
  (the test first proves that rule is in the tree), and a CMake file uses that name, or
* the recipe lists it under ``[recipe] tool-env`` as read by a tool, not the tree.

torchvision and torchaudio build through the installed torch's ``torch.utils.cpp_extension``;
its copy from the torch tree counts as one of their build files.

``before`` steps must name paths the tree has; torch 2.6's flatc step (for Debian's source
package) is run with the real flatc on the tree's own schema when flatc is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from debsrc import upstream_tree
from torchbuild.recipes import conditions
from torchbuild.recipes.layers import layers_for, recipe_dirs
from torchbuild.recipes.render import render
from torchbuild.sources import patches
from torchbuild.target import Libc, Python, Resources, Target

if TYPE_CHECKING:
    from pathlib import Path

    from torchbuild.recipes.model import RecipeFile

pytestmark = [pytest.mark.network, pytest.mark.integration]


@dataclass(frozen=True)
class Source:
    package: str  # the recipe
    debian: str  # the Debian source package
    debian_version: str
    stamp_var: str  # the variable the recipe sets to the version


SOURCES = {
    "torch": Source("torch", "pytorch", "2.6.0+dfsg-7", "PYTORCH_BUILD_VERSION"),
    "torchvision": Source("torchvision", "pytorch-vision", "0.21.0-3", "BUILD_VERSION"),
    "torchaudio": Source("torchaudio", "pytorch-audio", "2.6.0-1", "BUILD_VERSION"),
}


@pytest.fixture(scope="module")
def trees() -> dict[str, Path]:
    return {name: upstream_tree(src.debian, src.debian_version) for name, src in SOURCES.items()}


def _tree_version(tree: Path) -> Version:
    return Version((tree / "version.txt").read_text().strip())


def _recipe(package: str) -> list[RecipeFile]:
    return layers_for(package, recipe_dirs([], {}))


def _settable(files: list[RecipeFile], version: Version) -> dict[str, str]:
    """Every variable some target could get for ``version``, with the place that sets it."""
    out: dict[str, str] = {}
    for f in files:
        for name in f.defaults.env or {}:
            out.setdefault(name, f"{f.label} [defaults]")
        s = f.series_for(version)
        if s is not None:
            for name in s.env or {}:
                out.setdefault(name, f"{f.label} [series {s.name}]")
        for i, ov in enumerate(f.overrides, start=1):
            if ov.when.version is None or ov.when.version.contains(version, prereleases=True):
                for name in ov.env or {}:
                    out.setdefault(name, f"{f.label} override #{i}")
        for name in f.recipe.jobs_env:
            out.setdefault(name, f"{f.label} [recipe] jobs-env")
    return out


def _files(tree: Path, patterns: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        found.extend(p for p in tree.glob(pattern) if p.is_file() and "third_party" not in p.parts)
    return sorted(set(found))


def _show(path: Path) -> str:
    """The path from the tree's top directory, e.g. ``pytorch-v2.6.0/setup.py``."""
    for parent in path.parents:
        if (parent / "version.txt").is_file():
            return str(path.relative_to(parent.parent))
    return str(path)


def _first(paths: list[Path], regex: re.Pattern[str]) -> str | None:
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        m = regex.search(text)
        if m:
            return f"{_show(path)}:{text.count(chr(10), 0, m.start()) + 1}"
    return None


def _readers(package: str, trees: dict[str, Path]) -> tuple[list[Path], list[Path]]:
    """(Python build files, CMake files) whose reads count for ``package``."""
    tree = trees[package]
    cpp_extension = trees["torch"] / "torch" / "utils" / "cpp_extension.py"
    if package == "torch":
        py = _files(tree, ("setup.py", "tools/**/*.py"))
        cmake = _files(tree, ("CMakeLists.txt", "**/CMakeLists.txt", "cmake/**/*.cmake"))
        return py, cmake
    if package == "torchvision":
        return [*_files(tree, ("setup.py",)), cpp_extension], []
    py = _files(tree, ("setup.py", "tools/setup_helpers/*.py"))
    cmake = _files(tree, ("CMakeLists.txt", "**/CMakeLists.txt", "cmake/**/*.cmake"))
    return [*py, cpp_extension], cmake


def _evidence(
    name: str, package: str, trees: dict[str, Path], tool_env: dict[str, str]
) -> str | None:
    py, cmake = _readers(package, trees)
    quoted = re.compile(r"""["']""" + re.escape(name) + r"""["']""")
    hit = _first(py, quoted)
    if hit:
        return f"python {hit}"
    hit = _first(cmake, re.compile(r"\$ENV\{" + re.escape(name) + r"\}"))
    if hit:
        return f"cmake $ENV {hit}"
    if package == "torch" and name.startswith(("BUILD_", "USE_", "CMAKE_")):
        hit = _first(cmake, re.compile(r"\b" + re.escape(name) + r"\b"))
        if hit:
            return f"forwarded to CMake as -D, used at {hit}"
    if name in tool_env:
        return f"tool: {tool_env[name]}"
    return None


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_every_patch_applies_to_the_real_tree(
    package: str, trees: dict[str, Path], tmp_path: Path
) -> None:
    tree = trees[package]
    version = Version(_tree_version(tree).base_version)
    refs = [
        (f, p)
        for f in _recipe(package)
        for p in f.patches
        if p.versions.contains(version, prereleases=True)
    ]
    assert refs, f"{package} {version} should have a patch"
    for f, p in refs:
        assert patches.check(tree, f.patches_root / p.file).state == patches.APPLIES, p.file
    # Apply each target's series to a copy, then check it is recognised as already applied.
    for target in (_x86_cpu(), _armv7l()):
        copy = tmp_path / target.arch / tree.name
        shutil.copytree(tree, copy, symlinks=True)
        rendered = render(_recipe(package), package, str(version), target)
        results = patches.apply_series(copy, rendered.patches)
        assert [r.state for r in results] == [patches.APPLIES] * len(rendered.patches)
        again = patches.apply_series(copy, rendered.patches)
        assert [r.state for r in again] == [patches.APPLIED] * len(rendered.patches)


def test_torch_forwards_prefixed_variables_to_cmake(trees: dict[str, Path]) -> None:
    # The rule the env check leans on: tools/setup_helpers/cmake.py passes every BUILD_*, USE_*
    # and CMAKE_* variable to CMake.
    text = (trees["torch"] / "tools" / "setup_helpers" / "cmake.py").read_text()
    assert 'startswith(("BUILD_", "USE_", "CMAKE_"))' in text


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_every_variable_a_recipe_sets_is_read_by_the_tree(
    package: str, trees: dict[str, Path], record_property: pytest.RecordProperty
) -> None:
    files = _recipe(package)
    version = Version(_tree_version(trees[package]).base_version)
    tool_env: dict[str, str] = {}
    for f in files:
        tool_env.update(f.recipe.tool_env or {})
    unread: list[str] = []
    proof: dict[str, str] = {}
    for name, where in sorted(_settable(files, version).items()):
        evidence = _evidence(name, package, trees, tool_env)
        if evidence is None:
            unread.append(f"{name} (set by {where})")
        else:
            proof[name] = evidence
    record_property("env_evidence", proof)
    print(f"\n{package} {version}:")  # noqa: T201 - the proof table, shown with -s
    for name, evidence in proof.items():
        print(f"  {name:30} {evidence}")  # noqa: T201
    assert not unread, f"{package} {version} sets variables its tree never reads: {unread}"


def _x86_cpu() -> Target:
    return Target(
        os="linux",
        arch="x86_64",
        libc=Libc("glibc", "2.36"),
        python=Python(None, "3.11.2", "cpython", "cp311", free_threaded=False),
        resources=Resources(cpus=2, memory_bytes=8 * 1024**3, swap_bytes=0),
    )


def _armv7l() -> Target:
    """32-bit Raspberry Pi OS trixie, whose series has one more patch for torch 2.6."""
    return replace(
        _x86_cpu(),
        arch="armv7l",
        libc=Libc("glibc", "2.41"),
        python=Python(None, "3.13.5", "cpython", "cp313", free_threaded=False),
    )


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_the_version_stamp_matches_version_txt(package: str, trees: dict[str, Path]) -> None:
    tree_version = _tree_version(trees[package])
    version = Version(tree_version.base_version)
    rendered = render(_recipe(package), package, str(version), _x86_cpu())
    stamp = rendered.env[SOURCES[package].stamp_var]
    # version.txt says 2.6.0a0 on a release branch; the wheel must be the release itself.
    assert Version(stamp) == version
    assert Version(stamp).release == tree_version.release
    assert conditions.parse_version(stamp) is not None


def _steps(files: list[RecipeFile], version: Version) -> list[tuple[str, tuple[str, ...]]]:
    """Every ``before`` step some target or source could get for ``version``, with its place."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for f in files:
        out.extend((f"{f.label} [defaults]", step) for step in f.defaults.before or ())
        s = f.series_for(version)
        if s is not None:
            out.extend((f"{f.label} [series {s.name}]", step) for step in s.before or ())
        for i, ov in enumerate(f.overrides, start=1):
            if ov.when.version is None or ov.when.version.contains(version, prereleases=True):
                out.extend((f"{f.label} override #{i}", step) for step in ov.before or ())
    return out


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_every_path_a_before_step_names_is_in_the_tree(
    package: str, trees: dict[str, Path]
) -> None:
    tree = trees[package]
    version = Version(_tree_version(tree).base_version)
    steps = _steps(_recipe(package), version)
    if package == "torch":
        assert steps, "torch 2.6 has the flatc step for Debian's source package"
    missing = [
        f"{word} (in {where})"
        for where, step in steps
        for word in step[1:]
        if "/" in word and not word.startswith("-") and not (tree / word).exists()
    ]
    assert not missing, f"{package} {version}: before steps name paths the tree lacks: {missing}"


_PIN = re.compile(
    r"FLATBUFFERS_VERSION_MAJOR == (\d+) &&\s*FLATBUFFERS_VERSION_MINOR == (\d+) &&"
    r"\s*FLATBUFFERS_VERSION_REVISION == (\d+)"
)
_TABLES = re.compile(r"^struct (\w+) FLATBUFFERS_FINAL_CLASS", re.MULTILINE)
SERIALIZATION = "torch/csrc/jit/serialization"


def test_the_shipped_flatbuffers_header_pins_the_flatc_that_made_it(
    trees: dict[str, Path],
) -> None:
    # The reason for the step: the tree's header only compiles against flatbuffers 23.3.3.
    header = (trees["torch"] / SERIALIZATION / "mobile_bytecode_generated.h").read_text()
    m = _PIN.search(header)
    assert m is not None
    assert m.groups() == ("23", "3", "3")


@pytest.mark.skipif(shutil.which("flatc") is None, reason="flatc is not installed")
def test_the_flatc_step_regenerates_the_real_header(trees: dict[str, Path], tmp_path: Path) -> None:
    from torchbuild.compile.before import run_before

    version = subprocess.run(["flatc", "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", version.stdout)
    assert found is not None, version.stdout
    shipped = (trees["torch"] / SERIALIZATION / "mobile_bytecode_generated.h").read_text()
    tree = tmp_path / "tree"
    shutil.copytree(trees["torch"] / SERIALIZATION, tree / SERIALIZATION)
    rendered = render(_recipe("torch"), "torch", "2.6.0", _x86_cpu(), source_kind="dsc")
    assert rendered.before
    run_before(rendered, tree, {"PATH": os.environ["PATH"]}, tmp_path / "before.log")
    header = (tree / SERIALIZATION / "mobile_bytecode_generated.h").read_text()
    m = _PIN.search(header)
    assert m is not None
    assert m.groups() == found.groups()
    # The same tables as the shipped header: only the flatc version behind them differs.
    assert set(_TABLES.findall(header)) == set(_TABLES.findall(shipped))
    assert len(_TABLES.findall(header)) > 10
