"""The unit suite's guard: no program starts unless the test is marked ``programs``."""

from __future__ import annotations

import sys

import pytest

from torchbuild import run


def test_a_probe_fails_the_test_with_the_command_line() -> None:
    # probe() turns OSError and SubprocessError into "unknown": the guard must get through.
    with pytest.raises(pytest.fail.Exception, match=r"started a program: .*-c 'print\(1\)'"):
        run.probe([sys.executable, "-c", "print(1)"], timeout=10.0)


def test_a_streamed_build_is_refused_too() -> None:
    with pytest.raises(pytest.fail.Exception, match="started a program"):
        run.stream([sys.executable, "-c", "pass"])


@pytest.mark.programs
def test_a_marked_test_runs_the_program() -> None:
    done = run.probe([sys.executable, "-c", "print(6 * 7)"], timeout=30.0)
    assert done is not None
    assert done.stdout.strip() == "42"
