"""Failure diagnosis against real failing builds recorded in tests/data/build/failures/."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from torchbuild import resources
from torchbuild.compile.failures import (
    MAX_ERROR_LINES,
    Diagnosis,
    diagnose,
    load_signatures,
    parse_signatures,
)
from torchbuild.errors import RecipeError

if TYPE_CHECKING:
    from pathlib import Path

FAILURES = "build/failures"

# (recorded log, the signature that must explain it, oom)
RECORDED = [
    ("oom-cc1plus.log", "oom-compiler", True),
    ("oom-cc1.log", "oom-compiler", True),
    ("oom-as.log", "oom-compiler", True),
    ("oom-lto1.log", "oom-compiler", True),
    ("oom-ld.log", "oom-linker", True),
    ("oom-cc1plus-ninja.log", "oom-compiler", True),
    ("oom-nvcc-cuda13.log", "oom-killed", True),
    ("nvcc-arch-compute.log", "nvcc-unsupported-arch", False),
    ("nvcc-arch-sm.log", "nvcc-unsupported-arch", False),
    ("nvcc-gnu-version.log", "nvcc-host-compiler-too-new", False),
    ("cudnn-h.log", "cudnn-missing", False),
    ("cudnn-version-h.log", "cudnn-missing", False),
    ("python-h.log", "python-h-missing", False),
    ("numpy-abi.log", "numpy-abi", False),
    ("pkg-resources.log", "pkg-resources-missing", False),
    ("no-torch.log", "torch-missing-in-build", False),
    ("torch-cmake-needs-cuda.log", "torch-cmake-needs-cuda", False),
    ("cmake-too-old.log", "cmake-too-old", False),
    ("cmake-too-new.log", "cmake-too-new", False),
    ("cmake-no-cxx.log", "no-compiler", False),
    ("setuptools-no-gxx.log", "no-compiler", False),
    ("flatbuffers.log", "flatbuffers-version", False),
    ("protobuf-old.log", "protobuf-mismatch", False),
    ("protobuf-new.log", "protobuf-mismatch", False),
    ("no-space.log", "no-space", False),
    ("undefined-reference.log", "undefined-reference", False),
]

# Lines this machine cannot produce, each copied from where it was reported.
CITED = [
    # nvcc <= 12 reports a killed sub-tool itself (microsoft/onnxruntime#18579, CUDA 12.2).
    ("nvcc error   : 'cicc' died due to signal 9 (Kill signal)", "oom-nvcc"),
    # madgraph5/madgraph4gpu#639 (CUDA 12.0).
    ("nvcc error   : 'cudafe++' died due to signal 9 (Kill signal)", "oom-nvcc"),
    # gcc <= 9 words the kill as an internal error (ycm-core/ycmd#224, gcc 4.8).
    ("c++: internal compiler error: Killed (program cc1plus)", "oom-compiler"),
    # protobuf's Python runtime (python/google/protobuf/runtime_version.py, 5.26+).
    (
        (
            "google.protobuf.runtime_version.VersionError: Detected incompatible Protobuf "
            "Gencode/Runtime versions when loading caffe2.proto: gencode 5.28.3 runtime 5.27.2."
        ),
        "protobuf-mismatch",
    ),
    # protobuf >= 4 refusing _pb2.py modules made by protoc < 3.19.
    ("TypeError: Descriptors cannot be created directly.", "protobuf-mismatch"),
]


def _read(data_dir: Path, name: str) -> list[str]:
    return (data_dir / FAILURES / name).read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("log", "expected", "oom"), RECORDED)
def test_recorded_failure_is_recognised(data_dir: Path, log: str, expected: str, oom: bool) -> None:
    diag = diagnose(_read(data_dir, log), 1)
    assert diag.signature is not None, diag.error_lines
    assert diag.signature.name == expected
    assert diag.oom is oom
    assert diag.error_lines, "a recognised failure must show the lines that prove it"


@pytest.mark.parametrize(("line", "expected"), CITED)
def test_cited_lines_are_recognised(line: str, expected: str) -> None:
    diag = diagnose([line], 1)
    assert diag.signature is not None
    assert diag.signature.name == expected
    assert diag.error_lines == (line,)


def test_every_signature_is_proved_by_a_line() -> None:
    proved = {name for _, name, _ in RECORDED} | {name for _, name in CITED}
    assert {s.name for s in load_signatures()} <= proved


def test_hints_name_their_job_count_when_oom() -> None:
    for sig in load_signatures():
        assert ("{jobs}" in sig.hint) is sig.oom, sig.name


def test_compiler_errors_come_with_the_line_naming_their_place(data_dir: Path) -> None:
    lines = _read(data_dir, "compile-error.log")
    diag = diagnose(lines, 1)
    assert diag.signature is None
    assert not diag.oom
    # "In file included from", its error, "In function", its error; no source echo or carets.
    assert diag.error_lines == (lines[0], lines[1], lines[5], lines[6])
    assert lines[1].startswith("broken.h:1:16: error: expected")
    assert lines[5].startswith("broken.cpp: In function")


def test_linker_error_keeps_the_function_context(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "undefined-reference.log"), 1)
    assert diag.error_lines[0] == "/usr/bin/ld: /tmp/ccCeGhA5.o: in function `main':"
    assert "undefined reference to `g()'" in diag.error_lines[1]


def test_cmake_error_keeps_the_message_line(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "cmake-too-new.log"), 1)
    assert diag.error_lines == (
        "CMake Error at CMakeLists.txt:1 (cmake_minimum_required):",
        "  Compatibility with CMake < 3.5 has been removed from CMake.",
    )


def test_cmake_error_summary_says_the_message_not_the_path(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "torch-cmake-needs-cuda.log"), 1)
    # The whole first paragraph of CMake's message, and nothing of the call stack after it.
    assert diag.error_lines[1:3] == (
        "  Your installed Caffe2 version uses CUDA but I cannot find the CUDA",
        "  libraries.  Please set the proper CUDA prefixes and / or install CUDA.",
    )
    assert not any("Call Stack" in line for line in diag.error_lines)
    assert diag.summary == (
        "CMake Error at Caffe2Config.cmake:90: Your installed Caffe2 version uses CUDA but I "
        "cannot find the CUDA libraries.  Please set the proper CUDA prefixes and / or install "
        "CUDA."
    )
    too_new = diagnose(_read(data_dir, "cmake-too-new.log"), 1)
    assert too_new.summary == (
        "CMake Error at CMakeLists.txt:1: Compatibility with CMake < 3.5 has been removed from "
        "CMake."
    )


def test_summary_of_other_errors_is_the_error_not_its_context(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "protobuf-old.log"), 1)
    assert diag.error_lines[0] == "In file included from pb.cpp:1:"
    assert diag.summary == next(ln.strip() for ln in diag.error_lines if "error" in ln)
    ninja = diagnose(_read(data_dir, "oom-cc1plus-ninja.log"), 137)
    assert ninja.error_lines[0].startswith("FAILED: ")
    assert ninja.summary == "c++: fatal error: Killed signal terminated program cc1plus"
    linker = diagnose(_read(data_dir, "undefined-reference.log"), 1)
    assert "undefined reference to `g()'" in linker.summary
    assert diagnose(["all fine"], 0).summary == "see the log"
    bare = diagnose(["CMake Error: The source directory /x does not exist."], 1)
    assert bare.summary == "CMake Error: The source directory /x does not exist."


def test_source_echo_lines_are_not_errors(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "protobuf-old.log"), 1)
    assert not any(re.match(r"^\s*\d*\s*\|", line) for line in diag.error_lines)
    assert diag.error_lines[0] == "In file included from pb.cpp:1:"


def test_ninja_names_the_failed_output(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "oom-cc1plus-ninja.log"), 1)
    assert diag.error_lines[0] == "FAILED: CMakeFiles/big.dir/src/heavy.cpp.o "
    # The echoed command line is not an error even though it names the file.
    assert not any(line.startswith("/usr/bin/c++") for line in diag.error_lines)


def test_include_chain_gives_its_first_line(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "nvcc-gnu-version.log"), 1)
    assert diag.error_lines[0].startswith("In file included from ")
    assert "unsupported GNU version" in diag.error_lines[1]


def test_oom_wins_over_the_errors_it_causes(data_dir: Path) -> None:
    # A later, unrelated-looking error first, then the kill: the kill explains the build.
    lines = [*_read(data_dir, "undefined-reference.log"), *_read(data_dir, "oom-cc1plus.log")]
    diag = diagnose(lines, 1)
    assert diag.oom
    assert diag.signature is not None
    assert diag.signature.name == "oom-compiler"


def test_first_matching_line_decides_among_plain_failures(data_dir: Path) -> None:
    lines = [*_read(data_dir, "python-h.log"), *_read(data_dir, "undefined-reference.log")]
    diag = diagnose(lines, 1)
    assert diag.signature is not None
    assert diag.signature.name == "python-h-missing"


@pytest.mark.parametrize("code", [-9, 137])
def test_killed_driver_without_errors_is_oom(code: int) -> None:
    lines = ["[12/40] Building CXX object CMakeFiles/x.dir/a.cpp.o"]
    diag = diagnose(lines, code)
    assert diag.oom
    assert diag.signature is not None
    assert diag.signature.name == "oom-killed"
    assert diag.error_lines == ()


def test_killed_code_with_a_real_error_is_that_error(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "python-h.log"), 137)
    assert not diag.oom
    assert diag.signature is not None
    assert diag.signature.name == "python-h-missing"


def test_plain_failure_without_errors_says_nothing() -> None:
    diag = diagnose(["[1/2] Building CXX object a.o", "ninja: build stopped."], 1)
    assert diag == Diagnosis((), None, oom=False)


def test_error_lines_are_capped() -> None:
    lines = [f"x{i}.cpp:1:1: error: thing {i}" for i in range(40)]
    diag = diagnose(lines, 1)
    assert len(diag.error_lines) == MAX_ERROR_LINES
    assert diag.error_lines[0] == "x0.cpp:1:1: error: thing 0"


def test_hint_fills_in_the_job_count(data_dir: Path) -> None:
    diag = diagnose(_read(data_dir, "oom-ld.log"), 1)
    hint = diag.hint(2)
    assert hint is not None
    assert "--jobs 2" in hint
    assert "{" not in hint


# -- the table ----------------------------------------------------------------------------------

GOOD = {"name": "x", "pattern": "boom", "hint": "do y", "oom": False}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**GOOD, "pattern": "(unclosed"}, "signature 'x': bad regular expression"),
        ({k: v for k, v in GOOD.items() if k != "hint"}, "signature 'x' lacks hint"),
        ({k: v for k, v in GOOD.items() if k != "name"}, "#1 lacks name"),
        ({**GOOD, "oom": "yes"}, "oom must be true or false"),
        ({**GOOD, "hint": "use {cores} jobs"}, "unknown fields"),
        ({**GOOD, "hint": "two\nlines"}, "one non-empty line"),
        ({**GOOD, "colour": "red"}, "unknown keys: colour"),
    ],
)
def test_bad_entries_are_refused_by_name(entry: dict[str, object], message: str) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        parse_signatures({"signature": [entry]}, source="failures.toml")


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(RecipeError, match="defined twice"):
        parse_signatures({"signature": [GOOD, GOOD]}, source="failures.toml")


def test_load_reads_the_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "failures.toml").write_text(
        "[[signature]]\nname = 'broken'\npattern = '[a-'\nhint = 'h'\noom = false\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TORCHBUILD_DATA_DIR", str(tmp_path))
    resources.table.cache_clear()
    try:
        with pytest.raises(RecipeError, match="signature 'broken': bad regular expression"):
            load_signatures()
    finally:
        monkeypatch.delenv("TORCHBUILD_DATA_DIR")
        resources.table.cache_clear()


def test_bundled_table_loads() -> None:
    sigs = load_signatures()
    assert len(sigs) >= 18
    assert sigs[-1].name == "undefined-reference"  # the generic one stays last
