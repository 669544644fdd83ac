"""Progress of a running build, read from its output one line at a time.

Builds print progress in three shapes: Ninja's ``[n/m] what`` status lines (CMake's Ninja
generator and torch.utils.cpp_extension), CMake's Makefile ``[ 45%] Building ...`` lines, and
the bare compiler command lines of a setuptools ``build_ext`` (no total: they are counted).

One build runs several of these in a row or nested (an ExternalProject's own ninja inside the
outer one, torchvision's extensions one after another). Each run is a *phase*: the tracker
follows which phase a status line belongs to, so a new, smaller run never drags the count of
the one before it backwards, and the outer run resumes where it was when the inner one ends.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import Literal

__all__ = ["ProgressTracker", "Step"]


@dataclass(frozen=True)
class Step:
    """What one output line said about the build's progress."""

    done: int | None  # steps finished (ninja's n; make's percentage), None when unknown
    total: int | None  # ninja's m, 100 for make's percentage, None when unknown (counted builds)
    label: str  # what is being built now, short
    phase: int = 1  # which run of the build this belongs to; a new number starts a new bar


_NINJA = re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)$")
_MAKE = re.compile(r"^\[\s*(\d{1,3})%\]\s*(.*)$")
_EXTENSION = re.compile(r"^building '([^']+)' extension$")
_OBJECT = re.compile(r"^Building (?:[A-Za-z+]+ )?object (\S+)")
_LINKING = re.compile(r"^Linking (?:[A-Za-z+]+ )?(?:[\w ]*?)(?:library|executable|module) (\S+)")
_BUILT_TARGET = re.compile(r"^Built target (\S+)")
# The first word of a compiler command: gcc, g++, cc, c++, clang, clang++, nvcc, with a target
# triplet prefix (x86_64-linux-gnu-gcc, aarch64-linux-gnu-g++) or a version suffix (g++-12).
_COMPILER = re.compile(r"^(?:[\w.]+-)*(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|nvcc)(?:-[\d.]+)?$")
_LAUNCHERS = frozenset({"ccache", "sccache", "distcc", "env"})
# How many percentage points a Makefile build may step back inside one run: parallel make
# prints the percentage of whichever target's rule finished, slightly out of order.
_MAKE_SLACK = 10
_LABEL_MAX = 80


#: What counts a phase's steps: ninja's [n/m], make's [ n%], or compiler lines counted.
PhaseKind = Literal["ninja", "make", "count"]


@dataclass
class _Phase:
    number: int
    kind: PhaseKind
    done: int
    total: int | None

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


class ProgressTracker:
    """Turns a build's output lines into ``Step`` values, one phase at a time."""

    def __init__(self) -> None:
        self._current: _Phase | None = None
        self._suspended: list[_Phase] = []  # unfinished outer runs, innermost last
        self._phases = 0
        self._count: _Phase | None = None

    def feed(self, line: str) -> Step | None:
        """Read one output line (no newline); a ``Step`` when it says something about progress."""
        text = line.strip()
        if not text:
            return None
        m = _NINJA.match(text)
        if m:
            return self._status("ninja", int(m.group(1)), int(m.group(2)), m.group(3))
        m = _MAKE.match(text)
        if m:
            return self._status("make", min(int(m.group(1)), 100), 100, m.group(2))
        m = _EXTENSION.match(text)
        if m:
            phase = self._counting()
            return Step(phase.done, None, f"building '{m.group(1)}'", phase.number)
        cur = self._current
        if cur is not None and cur.kind != "count" and not cur.finished:
            # Inside a ninja/make run a bare command line is that run's echo of a failed or
            # verbose command, not a step of its own.
            return None
        command = _compiler_command(text)
        if command is None:
            return None
        source, output = command
        phase = self._counting()
        if source is not None:
            phase.done += 1
            return Step(phase.done, None, _shorten(source), phase.number)
        if output is not None:
            return Step(phase.done, None, f"linking {posixpath.basename(output)}", phase.number)
        return None

    # -- phases -------------------------------------------------------------------------------

    def _new_phase(self, kind: PhaseKind, done: int, total: int | None) -> _Phase:
        self._phases += 1
        return _Phase(self._phases, kind, done, total)

    def _counting(self) -> _Phase:
        """The phase that counts compiler lines, started anew after any ninja/make run."""
        if self._current is None or self._current.kind != "count":
            if self._current is not None and not self._current.finished:
                self._suspended.append(self._current)
            self._current = self._new_phase("count", 0, None)
        return self._current

    def _status(self, kind: PhaseKind, n: int, m: int, description: str) -> Step:
        phase = self._place(kind, n, m)
        return Step(phase.done, phase.total, _describe(description), phase.number)

    def _place(self, kind: PhaseKind, n: int, m: int) -> _Phase:
        cur = self._current
        slack = _MAKE_SLACK if kind == "make" else 0
        # Same run going on: n never decreases within a ninja run (m may: restat prunes edges,
        # dyndep adds them).
        if cur is not None and cur.kind == kind and not cur.finished and n >= cur.done - slack:
            cur.done = max(cur.done, n)
            cur.total = m
            return cur
        if (
            cur is not None
            and cur.kind == kind
            and cur.finished
            and n >= cur.done
            and m == cur.total
        ):
            return cur  # more lines at 100 % (make's "Built target" after the last object)
        # An outer run resuming after a nested one finished.
        for i in range(len(self._suspended) - 1, -1, -1):
            old = self._suspended[i]
            if old.kind == kind and old.total == m and old.done - slack <= n <= m:
                del self._suspended[i:]
                old.done = max(old.done, n)
                self._current = old
                return old
        if cur is not None and not cur.finished and cur.kind != "count":
            self._suspended.append(cur)
        self._current = self._new_phase(kind, n, m)
        return self._current


def _describe(description: str) -> str:
    """The short label for a ninja/make status line's description."""
    m = _OBJECT.match(description)
    if m:
        return _object_source(m.group(1))
    m = _LINKING.match(description)
    if m:
        return f"linking {m.group(1)}"
    m = _BUILT_TARGET.match(description)
    if m:
        return f"built target {m.group(1)}"
    command = _compiler_command(description)
    if command is not None:
        source, output = command
        if source is not None:
            return _shorten(source)
        if output is not None:
            return f"linking {posixpath.basename(output)}"
    return _clip(description)


def _object_source(obj: str) -> str:
    """``caffe2/CMakeFiles/torch_cpu.dir/__/torch/csrc/x.cpp.o`` -> ``torch/csrc/x.cpp``."""
    path = obj
    marker = path.rfind(".dir/")
    if marker >= 0:
        path = path[marker + len(".dir/") :]
    # CMake spells sources outside the target's directory with "__/" for each "../".
    while path.startswith("__/"):
        path = path[3:]
    for suffix in (".o", ".obj"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return _clip(path)


def _compiler_command(text: str) -> tuple[str | None, str | None] | None:
    """``(source, output)`` of a compiler command line; ``None`` when the line is not one."""
    first = text.split(None, 1)[0]
    if not _looks_like_compiler(first) and posixpath.basename(first) not in _LAUNCHERS:
        return None
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote in a wrapped or cut line
        words = text.split()
    i = 0
    while i < len(words) and (posixpath.basename(words[i]) in _LAUNCHERS or "=" in words[i]):
        i += 1
    if i >= len(words) or not _looks_like_compiler(words[i]):
        return None
    args = words[i + 1 :]
    source = output = None
    for j, word in enumerate(args[:-1]):
        if word == "-c" and source is None and not args[j + 1].startswith("-"):
            source = args[j + 1]
        elif word == "-o" and output is None:
            output = args[j + 1]
    if source is None and "-c" in args:
        # nvcc and setuptools may put "-c" apart from the file: take the last source-like word.
        for word in reversed(args):
            if re.search(r"\.(c|cc|cpp|cxx|cu|m|mm|S|s)$", word):
                source = word
                break
    return source, output


def _looks_like_compiler(word: str) -> bool:
    return bool(_COMPILER.match(posixpath.basename(word)))


def _shorten(path: str) -> str:
    """A source path short enough for a status line: absolute paths keep their last parts."""
    if path.startswith("/"):
        parts = [p for p in path.split("/") if p]
        if len(parts) > 3:
            path = ".../" + "/".join(parts[-3:])
    return _clip(path)


def _clip(text: str) -> str:
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 3] + "..."
