"""Progress parsing against real build output recorded in tests/data/build/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchbuild.compile.progress import ProgressTracker, Step

if TYPE_CHECKING:
    from pathlib import Path


def _steps(lines: list[str]) -> list[Step]:
    tracker = ProgressTracker()
    return [s for s in (tracker.feed(line) for line in lines) if s is not None]


def _log(data_dir: Path, name: str) -> list[str]:
    return (data_dir / "build" / name).read_text(encoding="utf-8").splitlines()


def _monotonic_within_phases(steps: list[Step]) -> None:
    last: dict[int, int] = {}
    for s in steps:
        assert s.done is not None
        assert s.done >= last.get(s.phase, 0), s
        last[s.phase] = s.done


def test_cmake_ninja_build(data_dir: Path) -> None:
    steps = _steps(_log(data_dir, "cmake-ninja.log"))  # configure lines say nothing
    assert [(s.done, s.total) for s in steps] == [(n, 8) for n in range(1, 9)]
    assert steps[0].label == "src/a.cpp"
    assert steps[3].label == "src/u.c"
    assert steps[-1].label == "linking demo"
    assert {s.phase for s in steps} == {1}


def test_cmake_makefile_percentages(data_dir: Path) -> None:
    steps = _steps(_log(data_dir, "cmake-make.log"))
    assert all(s.total == 100 for s in steps)
    assert [s.done for s in steps][:3] == [12, 25, 37]
    assert steps[-1].done == 100
    assert "built target core" in [s.label for s in steps]
    assert {s.phase for s in steps} == {1}


def test_setuptools_lines_are_counted(data_dir: Path) -> None:
    steps = _steps(_log(data_dir, "setuptools-build-ext.log"))
    assert all(s.total is None for s in steps)
    labels = [s.label for s in steps]
    assert labels[0] == "building 'demo._core'"
    assert ("src/core.cpp", 1) in [(s.label, s.done) for s in steps]
    assert ("src/fast.c", 3) in [(s.label, s.done) for s in steps]
    assert "linking _core.cpython-311-x86_64-linux-gnu.so" in labels
    assert "building 'demo._cfast'" in labels
    assert (
        max(s.done or 0 for s in steps) == 3
    )  # three compiles; links and creating dirs not counted


def test_cpp_extension_ninja_commands(data_dir: Path) -> None:
    steps = _steps(_log(data_dir, "cpp-extension-ninja.log"))
    assert [(s.done, s.total) for s in steps] == [(1, 3), (2, 3), (3, 3)]
    assert steps[0].label == ".../tbw/cx/a.cpp"
    assert steps[2].label == ".../tbw/cx/k.cu"  # the nvcc line


def test_nested_ninja_run_is_its_own_phase(data_dir: Path) -> None:
    steps = _steps(_log(data_dir, "ninja-external-project.log"))
    outer = [s for s in steps if s.total == 11]
    inner = [s for s in steps if s.total == 8]
    assert [s.done for s in inner] == list(range(1, 9))
    assert {s.phase for s in inner} == {2}
    assert {s.phase for s in outer} == {1}  # the outer run resumes as itself
    assert [s.done for s in outer] == list(range(1, 12))
    _monotonic_within_phases(steps)


def test_consecutive_runs_start_new_phases(data_dir: Path) -> None:
    torch_like = _log(data_dir, "cmake-ninja.log") + _log(data_dir, "cpp-extension-ninja.log")
    steps = _steps(torch_like + _log(data_dir, "cmake-ninja.log"))
    assert [s.phase for s in steps] == [1] * 8 + [2] * 3 + [3] * 8
    _monotonic_within_phases(steps)


def test_setuptools_then_ninja_then_link(data_dir: Path) -> None:
    # torchvision: "building '...' extension", cpp_extension's ninja, then setuptools links.
    setup = _log(data_dir, "setuptools-build-ext.log")
    lines = [setup[1], *_log(data_dir, "cpp-extension-ninja.log"), setup[9]]
    steps = _steps(lines)
    assert steps[0].label == "building 'demo._core'"
    assert [(s.done, s.total) for s in steps[1:4]] == [(1, 3), (2, 3), (3, 3)]
    assert steps[4].label.startswith("linking _core")
    assert len({s.phase for s in steps}) == 3


def test_failed_command_echo_inside_ninja_is_not_a_step(data_dir: Path) -> None:
    lines = _log(data_dir, "failures/oom-cc1plus-ninja.log")
    tracker = ProgressTracker()
    results = [(line, tracker.feed(line)) for line in lines]
    echoed = [step for line, step in results if line.startswith("/usr/bin/c++")]
    assert echoed == [None]
    assert [s.done for _, s in results if s is not None] == [1, 2]


def test_parallel_make_stepping_back_stays_in_the_run() -> None:
    steps = _steps(
        [
            "[ 45%] Building CXX object caffe2/CMakeFiles/torch_cpu.dir/__/aten/src/ATen/a.cpp.o",
            "[ 44%] Building CXX object caffe2/CMakeFiles/torch_cpu.dir/__/aten/src/ATen/b.cpp.o",
            "[ 46%] Building CXX object caffe2/CMakeFiles/torch_cpu.dir/__/aten/src/ATen/c.cpp.o",
        ]
    )
    assert [s.done for s in steps] == [45, 45, 46]
    assert {s.phase for s in steps} == {1}


def test_make_run_after_a_finished_one_is_a_new_phase(data_dir: Path) -> None:
    make = _log(data_dir, "cmake-make.log")
    steps = _steps(make + make)
    assert steps[-1].phase == 2
    assert steps[len(steps) // 2].done == 12


def test_torch_object_labels() -> None:
    # CMake writes a source outside the target's directory as "__/" per "../" (torch's
    # caffe2/CMakeFiles/torch_cpu.dir/__/torch/csrc/... objects).
    line = (
        "[1234/6789] Building CXX object "
        "caffe2/CMakeFiles/torch_cpu.dir/__/torch/csrc/autograd/engine.cpp.o"
    )
    step = ProgressTracker().feed(line)
    assert step == Step(1234, 6789, "torch/csrc/autograd/engine.cpp", 1)
    cuda = "[7/9] Building CUDA object caffe2/CMakeFiles/torch_cuda.dir/__/aten/src/ATen/native/cuda/Sort.cu.o"
    step = ProgressTracker().feed(cuda)
    assert step is not None
    assert step.label == "aten/src/ATen/native/cuda/Sort.cu"


def test_indented_lines_from_pip_verbose() -> None:
    # pip -v indents the backend's output.
    step = ProgressTracker().feed("  [3/10] Linking CXX shared library lib/libtorch_cpu.so")
    assert step == Step(3, 10, "linking lib/libtorch_cpu.so", 1)


def test_other_lines_say_nothing(data_dir: Path) -> None:
    tracker = ProgressTracker()
    for line in [
        "",
        "-- Configuring done",
        "running build_ext",
        "creating build/temp.linux-x86_64-cpython-311",
        "src/a.cpp:1:1: warning: unused [-Wunused]",
        "copying torch/__init__.py -> build/lib/torch",
    ]:
        assert tracker.feed(line) is None, line
