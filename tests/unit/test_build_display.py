"""The build display: a rich bar on a terminal, short plain lines in a pipe."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from rich.console import Console

from torchbuild.compile.display import BuildDisplay

if TYPE_CHECKING:
    from pathlib import Path

LOG = "build/cmake-ninja.log"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pipe() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200, highlight=False), out


def _lines(data_dir: Path, name: str = LOG) -> list[str]:
    return (data_dir / name).read_text(encoding="utf-8").splitlines()


def test_pipe_prints_a_few_plain_lines(data_dir: Path, tmp_path: Path) -> None:
    console, out = _pipe()
    clock = FakeClock()
    lines = _lines(data_dir)
    with BuildDisplay(
        console, "torch 2.5.1", verbose=False, log_path=tmp_path / "b.log", clock=clock
    ) as display:
        for line in lines:
            clock.now += 1
            display.line(line)
    text = out.getvalue()
    assert "\x1b[" not in text  # no animation, no colour codes in a pipe
    status = [line for line in text.splitlines() if line.startswith("  [")]
    # Eight steps of eight: the first is the start, then one line per tenth crossed.
    assert status[0].startswith("  [2/8] 25% ")
    assert status[-1].startswith("  [8/8] 100% ")
    assert len(status) <= 11
    assert re.match(r"^  \[4/8\] 50% 0:\d\d elapsed  src/u\.c$", status[2])
    assert "building torch 2.5.1" in text
    assert str(tmp_path / "b.log") in text
    assert "Building CXX object" not in text  # the build's own lines only when verbose


def test_pipe_prints_every_30_seconds_when_the_total_is_unknown(
    data_dir: Path, tmp_path: Path
) -> None:
    console, out = _pipe()
    clock = FakeClock()
    with BuildDisplay(
        console, "torchaudio", verbose=False, log_path=tmp_path / "b.log", clock=clock
    ) as display:
        for line in _lines(data_dir, "build/setuptools-build-ext.log"):
            clock.now += 11
            display.line(line)
    status = [line for line in out.getvalue().splitlines() if line.startswith("  [")]
    assert status
    assert all(re.match(r"^  \[\d+\] \d+:\d\d elapsed  ", line) for line in status)
    # 13 lines 11 s apart: about one status line per 30 s, plus where it ended.
    assert 3 <= len(status) <= 6
    assert status[-1].startswith("  [3] ")


def test_pipe_stays_quiet_between_tenths(tmp_path: Path) -> None:
    console, out = _pipe()
    clock = FakeClock()
    with BuildDisplay(
        console, "torch", verbose=False, log_path=tmp_path / "b.log", clock=clock
    ) as display:
        for n in range(1, 1282):
            clock.now += 0.02  # a fast build: under 30 s, so only the tenths are shown
            display.line(f"[{n}/1281] Building CXX object CMakeFiles/t.dir/f{n}.cpp.o")
    status = [line for line in out.getvalue().splitlines() if line.startswith("  [")]
    assert len(status) == 10
    assert "  [641/1281] 50% 0:12 elapsed  f641.cpp" in status
    assert status[-1].startswith("  [1281/1281] 100% ")


def test_pipe_prints_every_30_seconds_in_a_slow_stretch(tmp_path: Path) -> None:
    console, out = _pipe()
    clock = FakeClock()
    with BuildDisplay(
        console, "torch", verbose=False, log_path=tmp_path / "b.log", clock=clock
    ) as display:
        for n in range(1, 101):
            clock.now += 10  # 10 s per step: 1000 s for the first tenth of 1000
            display.line(f"[{n}/1000] Building CXX object CMakeFiles/t.dir/f{n}.cpp.o")
    status = [line for line in out.getvalue().splitlines() if line.startswith("  [")]
    assert status[0] == "  [3/1000] 0% 0:30 elapsed  f3.cpp"
    assert 32 <= len(status) <= 35


def test_verbose_prints_lines_verbatim(tmp_path: Path) -> None:
    console, out = _pipe()
    with BuildDisplay(console, "x", verbose=True, log_path=tmp_path / "b.log") as display:
        display.line("[1/2] Building [red]CXX[/red] object a.cpp.o :smile:")
        display.line("warning: [-Wunused] in a.cpp")
    text = out.getvalue()
    assert "[1/2] Building [red]CXX[/red] object a.cpp.o :smile:" in text
    assert "warning: [-Wunused] in a.cpp" in text


def test_note_is_shown(tmp_path: Path) -> None:
    console, out = _pipe()
    with BuildDisplay(console, "x", verbose=False, log_path=tmp_path / "b.log") as display:
        display.note("compiler killed (out of memory): resuming with 1 job [ok]")
    assert "torchbuild: compiler killed (out of memory): resuming with 1 job [ok]" in out.getvalue()


def test_terminal_shows_a_bar_and_resets_it_for_a_new_run(data_dir: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    lines = _lines(data_dir) + _lines(data_dir, "build/cpp-extension-ninja.log")
    with BuildDisplay(console, "torch", verbose=False, log_path=tmp_path / "b.log") as display:
        for line in lines:
            display.line(line)
        progress = display._progress
        assert progress is not None
        task = progress.tasks[0]
        # The second ninja run (3 steps) has its own bar, not 11 of 8.
        assert (task.completed, task.total) == (3, 3)
        assert task.fields["label"] == ".../tbw/cx/k.cu"
    text = out.getvalue()
    assert "3/3" in text
    assert "Building CXX object" not in text
