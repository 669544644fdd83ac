"""Output a person can copy from: file names and paths whole on narrow terminals and in pipes,
and nothing left on screen by a finished progress display."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from rich.console import Console

from data.pypi.replay import PYPI, client, profile
from torchbuild import ui
from torchbuild.commands import doctor as doctor_cmd
from torchbuild.commands import plan as plan_cmd
from torchbuild.commands import wheel as wheel_cmd
from torchbuild.compile.display import BuildDisplay
from torchbuild.doctor.diagnose import diagnose
from torchbuild.pipeline import Outcome
from torchbuild.resolve.matrix import parse_request
from torchbuild.resolve.plan import make_plan

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

WIDTH = 60
_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def screen(data: str) -> list[str]:
    """What a terminal shows after ``data``: enough of VT100 for rich's live display (carriage
    return, erase line, cursor up, colours ignored)."""
    lines = [""]
    row = col = 0
    i = 0
    while i < len(data):
        match = _CSI.match(data, i)
        if match:
            args, op = match.groups()
            n = int(args) if args.isdigit() else 1
            if op == "A":
                row = max(0, row - n)
            elif op == "K":
                lines[row] = lines[row][:col] if args in ("", "0") else ""
            i = match.end()
            continue
        ch = data[i]
        i += 1
        if ch == "\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append("")
        elif ch == "\r":
            col = 0
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + ch + line[col + 1 :]
            col += 1
    return [line.rstrip() for line in lines]


def consoles() -> list[tuple[str, Console, io.StringIO]]:
    out = []
    for kind, terminal in (("terminal", True), ("pipe", False)):
        buf = io.StringIO()
        console = Console(file=buf, force_terminal=terminal, width=WIDTH, highlight=False)
        out.append((kind, console, buf))
    return out


def whole_on_a_line(text: str, needle: str) -> bool:
    return any(needle in line for line in screen(text))


def test_build_display_leaves_no_spinner_and_a_whole_log_path(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "torch-2.6.0-build-20261207-031757.log"
    for kind, console, buf in consoles():
        with BuildDisplay(console, "torch 2.6.0", verbose=False, log_path=log) as display:
            for n in range(1, 9):
                display.line(f"[{n}/8] Building CXX object caffe2/CMakeFiles/u{n}.o")
        shown = [line for line in screen(buf.getvalue()) if line]
        assert whole_on_a_line(buf.getvalue(), str(log)), kind
        # Nothing of the live bar survives: no spinner frame, no bar, and the last line says
        # where the build ended.
        assert not any(re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏━]", line) for line in shown), (kind, shown)
        assert "[8/8] 100%" in shown[-1], (kind, shown)


def test_plan_shows_wheel_file_names_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pypi = client(tmp_path)
    result = make_plan(
        profile(),
        [parse_request("torch"), parse_request("torchvision")],
        sources=[PYPI],
        client=pypi,
    )
    names = [d.wheel.filename for d in result.decisions if d.wheel is not None]
    assert names
    assert all(len(n) > WIDTH // 2 for n in names)
    for kind, console, buf in consoles():
        monkeypatch.setattr(ui, "console", console)
        plan_cmd._render(result)
        for name in names:
            assert whole_on_a_line(buf.getvalue(), name), (kind, name)


def test_doctor_shows_wheel_file_names_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = diagnose(profile(), packages=["torch"], sources=[PYPI], client=client(tmp_path))
    names = [o.wheel.link.filename for o in report.outcomes if o.wheel is not None]
    assert names
    for kind, console, buf in consoles():
        monkeypatch.setattr(ui, "console", console)
        doctor_cmd._render(report)
        for name in names:
            assert whole_on_a_line(buf.getvalue(), name), (kind, name)


def test_wheel_summary_shows_file_names_and_urls_whole() -> None:
    wheel = "torchvision-0.21.0+cu126.sm87-cp310-cp310-linux_aarch64.whl"
    url = "https://pypi.org/simple/torch/torch-2.6.0-cp310-cp310-manylinux_2_28_aarch64.whl"
    rows = [
        ("this machine", Outcome("torch", "2.6.0", "prebuilt", wheel.replace("vision", ""), url)),
        ("this machine", Outcome("torchvision", "0.21.0", "built", wheel, "built in 41:02")),
    ]
    for kind, console, buf in consoles():
        wheel_cmd._print_summary(console, rows, many=False)
        for needle in (wheel, url, wheel.replace("vision", "")):
            assert whole_on_a_line(buf.getvalue(), needle), (kind, needle)
