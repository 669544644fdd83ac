"""``when = { source = [...] }`` and ``before`` steps: matching, layering, placeholders,
provenance, the JSON form, and running the steps in a real tree with real programs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchbuild.compile.before import run_before
from torchbuild.errors import BuildError, RecipeError, ToolchainError
from torchbuild.recipes import conditions, render_package
from torchbuild.recipes.layers import layers_for, recipe_dirs
from torchbuild.recipes.load import check_file
from torchbuild.recipes.model import Condition
from torchbuild.recipes.render import render, to_json
from torchbuild.recipes.schema import generate
from torchbuild.sources.model import KINDS
from torchbuild.target import Cuda, Gpu, Libc, Python, Resources, Target

if TYPE_CHECKING:
    from pathlib import Path

    from torchbuild.recipes import Rendered

GIB = 1024**3
FLATC_STEP = (
    "flatc",
    "--cpp",
    "--gen-mutable",
    "--scoped-enums",
    "-o",
    "torch/csrc/jit/serialization",
    "torch/csrc/jit/serialization/mobile_bytecode.fbs",
)
DSC_ENV = {
    "USE_SYSTEM_LIBS": "ON",
    "BUILD_TEST": "0",
    "USE_CUDA": "0",
    "USE_DISTRIBUTED": "0",
    "USE_MKLDNN": "0",
    "USE_FBGEMM": "0",
    "USE_KINETO": "0",
    "USE_XNNPACK": "0",
    "USE_NNPACK": "0",
    "USE_PYTORCH_QNNPACK": "0",
    "USE_VULKAN": "0",
    "USE_ITT": "0",
    "BLAS": "OpenBLAS",
    "ONNX_NAMESPACE": "onnx",
}


def x86(cuda: Cuda | None = None) -> Target:
    return Target(
        os="linux",
        arch="x86_64",
        libc=Libc("glibc", "2.36"),
        python=Python(None, "3.11.2", "cpython", "cp311", free_threaded=False),
        cuda=cuda,
        resources=Resources(cpus=16, memory_bytes=64 * GIB, swap_bytes=0),
    )


def user_dir(tmp_path: Path, name: str, text: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "torch.toml").write_text('[recipe]\nformat = 1\npackage = "torch"\n' + text)
    return d


# -- the source condition -------------------------------------------------------------------


def test_source_condition_needs_a_known_matching_kind() -> None:
    v = Version("2.6.0")
    dsc = Condition(source=("dsc",))
    assert conditions.matches(dsc, x86(), v, source_kind="dsc")
    assert conditions.matches(dsc, x86(), v, source_kind="DSC")
    assert not conditions.matches(dsc, x86(), v, source_kind="archive")
    assert not conditions.matches(dsc, x86(), v)  # unknown source: no match
    either = Condition(source=("archive", "git"), arch=("x86_64",))
    assert conditions.matches(either, x86(), v, source_kind="git")
    assert not conditions.matches(either, x86(), v, source_kind="dir")
    # A condition without a source key does not care, known or not.
    assert conditions.matches(Condition(arch=("x86_64",)), x86(), v, source_kind="dsc")
    assert conditions.matches(Condition(arch=("x86_64",)), x86(), v)
    assert conditions.describe(dsc) == "source == dsc"


def test_source_kinds_are_checked_by_loader_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "torch.toml"
    path.write_text(
        '[recipe]\nformat = 1\npackage = "torch"\n[[overrides]]\nreason = "a reason"\n'
        'when = { source = ["dsc", "tarball"] }\nenv = { A = "1" }\n'
    )
    problems = [str(p) for p in check_file(path, label="t.toml")]
    assert problems == [
        "t.toml: overrides[1].when.source: unknown 'tarball'; known: " + ", ".join(KINDS)
    ]
    schema = generate()["$defs"]["Condition"]["properties"]["source"]
    assert schema["oneOf"][0]["enum"] == list(KINDS)
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(generate())
    bad = {
        "recipe": {"format": 1, "package": "torch"},
        "overrides": [{"reason": "r", "when": {"source": "tarball"}, "before": [["x"], []]}],
    }
    errors = {e.json_path for e in validator.iter_errors(bad)}
    assert "$.overrides[0].when.source" in errors
    assert "$.overrides[0].before[1]" in errors
    good = {**bad, "overrides": [{"reason": "r", "when": {"source": ["dsc"]}, "before": [["x"]]}]}
    assert not list(validator.iter_errors(good))


def test_existing_callers_render_without_the_source_kind() -> None:
    # No source_kind: the dsc override stays out, and the render is what it always was.
    plain = render_package("torch", "2.6.0", x86(), environ={})
    assert plain.before == ()
    assert plain.source_kind is None
    assert "USE_SYSTEM_LIBS" not in plain.env


# -- before: loading, layering, placeholders, provenance -------------------------------------


def test_before_must_be_a_list_of_word_lists(tmp_path: Path) -> None:
    path = tmp_path / "torch.toml"
    for bad, what in (
        ('["flatc", "-h"]', "must be a list of commands"),
        ("[[]]", "must be a list of commands"),
        ('[["gen", "{verison}"]]', "unknown placeholder {verison}; did you mean {version}?"),
    ):
        path.write_text(f'[recipe]\nformat = 1\npackage = "torch"\n[defaults]\nbefore = {bad}\n')
        problems = [str(p) for p in check_file(path, label="t.toml")]
        assert len(problems) == 1, problems
        assert problems[0].startswith("t.toml: defaults.before"), problems
        assert what in problems[0]


def test_overrides_with_the_same_conditions_may_not_disagree_on_before(tmp_path: Path) -> None:
    path = tmp_path / "torch.toml"
    path.write_text(
        '[recipe]\nformat = 1\npackage = "torch"\n'
        '[[overrides]]\nreason = "first reason"\nwhen = { source = "dsc" }\nbefore = [["a"]]\n'
        '[[overrides]]\nreason = "second reason"\nwhen = { source = "dsc" }\nbefore = [["b"]]\n'
    )
    problems = [str(p) for p in check_file(path, label="t.toml")]
    assert problems == [
        "t.toml: overrides[1] and overrides[2]: same conditions, different values for before"
    ]


LAYER = """
[[overrides]]
reason = "site step for every git build"
when = { source = "git" }
before = [["sh", "-c", "echo {version} > stamp"], ["touch", "torch-{version}.done"]]
"""


def test_before_layers_replace_and_fill_placeholders(tmp_path: Path) -> None:
    first = user_dir(tmp_path, "first", LAYER)
    r = render_package("torch", "2.6.0", x86(), extra_dirs=[first], environ={}, source_kind="git")
    assert r.before == (("sh", "-c", "echo 2.6.0 > stamp"), ("touch", "torch-2.6.0.done"))
    assert r.provenance["before"].startswith(f"{first / 'torch.toml'} override #1 (source == git)")
    # The bundled dsc steps, then a user layer that replaces them as a whole.
    second = user_dir(
        tmp_path,
        "second",
        '[[overrides]]\nreason = "my own generator"\nwhen = { source = "dsc" }\n'
        'before = [["./regen.sh", "{version}"]]\n',
    )
    r = render_package("torch", "2.6.0", x86(), extra_dirs=[second], environ={}, source_kind="dsc")
    assert r.before == (("./regen.sh", "2.6.0"),)
    assert "my own generator" in r.provenance["before"]
    assert r.env["USE_SYSTEM_LIBS"] == "ON"  # the bundled override still applies
    # [] removes the steps an earlier layer set, and their provenance with them.
    third = user_dir(
        tmp_path,
        "third",
        '[[overrides]]\nreason = "no steps here"\nwhen = { arch = "x86_64" }\nbefore = []\n',
    )
    r = render_package("torch", "2.6.0", x86(), extra_dirs=[third], environ={}, source_kind="dsc")
    assert r.before == ()
    assert "before" not in r.provenance


def test_a_placeholder_without_a_value_is_a_recipe_error(tmp_path: Path) -> None:
    d = user_dir(
        tmp_path,
        "u",
        '[defaults]\nbefore = [["gen", "--cuda={cuda_home}"]]\n',
    )
    no_nvcc = Cuda("12.6", None, "560.35", "12.6", (Gpu("GPU", "8.6"),))
    # --env fills the variable, but a step's placeholders come from the target's facts only.
    with pytest.raises(RecipeError, match=r"before step 1 needs \{cuda_home\}"):
        render_package(
            "torch",
            "2.6.0",
            x86(no_nvcc),
            extra_dirs=[d],
            environ={},
            cli_env={"CUDA_HOME": "/usr/local/cuda"},
        )
    with_nvcc = Cuda("12.6", "/opt/cuda/bin/nvcc", "560.35", "12.6", (Gpu("GPU", "8.6"),))
    r = render_package("torch", "2.6.0", x86(with_nvcc), extra_dirs=[d], environ={})
    assert r.before == (("gen", "--cuda=/opt/cuda"),)


def test_the_json_form_changes_with_before(tmp_path: Path) -> None:
    files = layers_for("torch", recipe_dirs([], {}))
    dsc = to_json(render(files, "torch", "2.6.0", x86(), source_kind="dsc"))
    archive = to_json(render(files, "torch", "2.6.0", x86(), source_kind="archive"))
    assert dsc["before"] == [list(FLATC_STEP)]
    assert dsc["source_kind"] == "dsc"
    assert archive["before"] == []
    assert "before" in dsc["provenance"]
    assert "before" not in archive["provenance"]
    d = user_dir(
        tmp_path,
        "u",
        '[[overrides]]\nreason = "other output dir"\nwhen = { source = "dsc" }\n'
        'before = [["flatc", "--cpp", "-o", "gen", "torch/csrc/jit/serialization/x.fbs"]]\n',
    )
    other = to_json(
        render_package("torch", "2.6.0", x86(), extra_dirs=[d], environ={}, source_kind="dsc")
    )
    assert other["before"] != dsc["before"]
    assert {
        k: v for k, v in other.items() if k not in ("before", "provenance", "overrides", "layers")
    } == {k: v for k, v in dsc.items() if k not in ("before", "provenance", "overrides", "layers")}


# -- the bundled torch 2.6 dsc override -----------------------------------------------------


def test_torch_26_from_a_dsc_gets_system_libs_and_the_flatc_step() -> None:
    cuda = Cuda("12.6", "/usr/local/cuda-12.6/bin/nvcc", "560.35", "12.6", (Gpu("GPU", "8.6"),))
    for target in (x86(), x86(cuda)):
        r = render_package("torch", "2.6.0", target, environ={}, source_kind="dsc")
        assert {k: r.env[k] for k in DSC_ENV} == DSC_ENV
        assert r.before == (FLATC_STEP,)
        assert r.variant == "cpu"  # the override is a CPU build, also on a CUDA machine
        src = r.provenance["before"]
        assert src.startswith("recipes/torch.toml override #")
        assert "source == dsc" in src
        assert r.provenance["USE_SYSTEM_LIBS"] == src
    for kind in ("archive", "git", "dir", None):
        r = render_package("torch", "2.6.0", x86(), environ={}, source_kind=kind)
        assert r.before == ()
        assert "USE_SYSTEM_LIBS" not in r.env
        assert "ONNX_NAMESPACE" not in r.env
    # Only the 2.6 series: the patch series and the shipped header are those of 2.6.
    later = render_package("torch", "2.7.0", x86(), environ={}, source_kind="dsc")
    assert later.before == ()
    assert "USE_SYSTEM_LIBS" not in later.env


# -- run_before with real programs ----------------------------------------------------------


def rendered_with(tmp_path: Path, steps: str) -> Rendered:
    d = user_dir(tmp_path, "steps", f"[defaults]\nbefore = {steps}\n")
    return render_package("torch", "2.6.0", x86(), extra_dirs=[d], environ={})


@pytest.mark.programs
def test_run_before_runs_each_step_in_the_tree_and_logs_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "tools").mkdir(parents=True)
    script = tree / "tools" / "gen.sh"
    script.write_text('#!/bin/sh\necho "generated $1" > gen.out\necho "gen.sh wrote gen.out"\n')
    script.chmod(0o755)
    r = rendered_with(
        tmp_path,
        '[["sh", "-c", "echo $STEP_VAR > first.txt; echo one on stdout; echo two >&2"], '
        '["./tools/gen.sh", "{version}"]]',
    )
    log = tmp_path / "logs" / "before.log"
    run_before(r, tree, {"PATH": os.environ["PATH"], "STEP_VAR": "from-env"}, log)
    assert (tree / "first.txt").read_text() == "from-env\n"
    assert (tree / "gen.out").read_text() == "generated 2.6.0\n"
    text = log.read_text()
    assert text.splitlines() == [
        "+ sh -c 'echo $STEP_VAR > first.txt; echo one on stdout; echo two >&2'",
        "one on stdout",
        "two",
        "+ ./tools/gen.sh 2.6.0",
        "gen.sh wrote gen.out",
    ]
    # Appends: a second run adds to the log.
    run_before(r, tree, {"PATH": os.environ["PATH"], "STEP_VAR": "x"}, log)
    again = log.read_text()
    assert again.startswith(text)
    assert again[len(text) :].splitlines()[0].startswith("+ sh -c")


@pytest.mark.programs
def test_a_failing_step_stops_with_its_last_line(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    r = rendered_with(
        tmp_path,
        '[["sh", "-c", "echo working; echo \'error: bad schema\' >&2; exit 3"], '
        '["touch", "never"]]',
    )
    log = tmp_path / "before.log"
    with pytest.raises(BuildError) as err:
        run_before(r, tree, {"PATH": os.environ["PATH"]}, log)
    assert err.value.message == (
        "before step 1 (sh) of torch 2.6.0 failed (exit status 3): error: bad schema"
    )
    assert "\n" not in err.value.message
    assert str(log) in err.value.hint
    assert not (tree / "never").exists()
    assert log.read_text().splitlines()[1:] == ["working", "error: bad schema", "exit status 3"]


def test_a_missing_program_is_a_toolchain_error_before_any_step(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    r = rendered_with(tmp_path, '[["touch", "ran"], ["torchbuild-no-such-tool", "x"]]')
    with pytest.raises(ToolchainError) as err:
        run_before(r, tree, {"PATH": os.environ["PATH"]}, tmp_path / "before.log")
    assert "torchbuild-no-such-tool is not installed" in err.value.message
    assert "before step 2" in err.value.message
    assert not (tree / "ran").exists()
    # flatc is looked for on the step's PATH, with the package to install in the hint.
    dsc = render_package("torch", "2.6.0", x86(), environ={}, source_kind="dsc")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(ToolchainError, match="flatc is not installed") as err:
        run_before(dsc, tree, {"PATH": str(empty)}, tmp_path / "before.log")
    assert "flatbuffers-compiler" in err.value.hint
    # A path is taken relative to the tree.
    (tmp_path / "rel").mkdir()
    rel = rendered_with(tmp_path / "rel", '[["./tools/missing.sh"]]')
    with pytest.raises(BuildError, match="not an executable file"):
        run_before(rel, tree, {"PATH": os.environ["PATH"]}, tmp_path / "before.log")


@pytest.mark.programs
def test_a_hanging_step_is_stopped(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    r = rendered_with(tmp_path, '[["sleep", "10"]]')
    with pytest.raises(BuildError, match=r"before step 1 \(sleep\) of torch 2.6.0 did not finish"):
        run_before(r, tree, {"PATH": os.environ["PATH"]}, tmp_path / "before.log", timeout=0.3)


def test_no_steps_touch_nothing(tmp_path: Path) -> None:
    r = render_package("torch", "2.6.0", x86(), environ={}, source_kind="archive")
    log = tmp_path / "logs" / "before.log"
    run_before(r, tmp_path, {}, log)
    assert not log.parent.exists()


MINI_SCHEMA = """
namespace torch.jit.mobile.serialization;
table Module { bytecode_version:uint; }
root_type Module;
"""


@pytest.mark.skipif(shutil.which("flatc") is None, reason="flatc is not installed")
@pytest.mark.programs
def test_the_flatc_step_regenerates_the_header_for_the_installed_flatc(tmp_path: Path) -> None:
    # The recipe's own step, run by run_before with the real flatc on a tree holding a schema
    # at the path the 2.6 tree has it: the header lands where the build includes it, pinned to
    # this flatc's version (the mismatch the step exists to remove).
    version = subprocess.run(["flatc", "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", version.stdout)
    assert found is not None, version.stdout
    major, minor, rev = found.groups()
    tree = tmp_path / "tree"
    ser = tree / "torch" / "csrc" / "jit" / "serialization"
    ser.mkdir(parents=True)
    (ser / "mobile_bytecode.fbs").write_text(MINI_SCHEMA)
    (ser / "mobile_bytecode_generated.h").write_text(
        "static_assert(FLATBUFFERS_VERSION_MAJOR == 23);\n"
    )
    r = render_package("torch", "2.6.0", x86(), environ={}, source_kind="dsc")
    run_before(r, tree, {"PATH": os.environ["PATH"]}, tmp_path / "before.log")
    header = (ser / "mobile_bytecode_generated.h").read_text()
    assert f"FLATBUFFERS_VERSION_MAJOR == {major}" in header
    assert f"FLATBUFFERS_VERSION_MINOR == {minor}" in header
    assert f"FLATBUFFERS_VERSION_REVISION == {rev}" in header
    assert "struct Module" in header
    assert (tmp_path / "before.log").read_text().startswith("+ flatc --cpp --gen-mutable")
