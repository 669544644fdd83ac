"""Why a build failed, from its output: the first real error lines and a known failure's hint.

A failed torch build ends in thousands of lines of which a handful matter. ``diagnose`` picks
the compiler, CMake and Python errors out of them and matches them against the table of known
failures in ``recipes/failures.toml``; an out-of-memory kill is flagged on its own because the
caller answers it by resuming with fewer jobs rather than by giving up.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from .. import resources
from ..errors import RecipeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["Diagnosis", "Signature", "diagnose", "load_signatures"]

#: At most this many error lines (context lines included) are kept.
MAX_ERROR_LINES = 10

#: Return codes of a build driver killed by SIGKILL: -9 from Python's subprocess, 128+9 from a
#: shell or make.
KILLED_CODES = frozenset({-9, 137})

#: The signature reported for a SIGKILL return code when the log names no cause.
KILLED_SIGNATURE = "oom-killed"

_ERROR = re.compile(
    r"""
    \b(?:fatal\ )?error\b\s*:              # gcc/clang/ld/setuptools/pip: "error:", "fatal error:"
    | ^nvcc\ (?:fatal|error)\s*:           # nvcc's own errors
    | ^CMake\ Error\b                      # CMake
    | ^\s*(?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception):  # a Python traceback's last line
    | ^FAILED:\ # ninja names the output whose command failed
    """,
    re.IGNORECASE | re.VERBOSE,
)
# gcc's echo of the offending source line ("  12 | #error ...") and its caret line: they repeat
# the error's words without being errors.
_NOT_ERROR = re.compile(r"^\s*\d*\s*\|")
# The line before an error that says where it happened.
_CONTEXT = re.compile(
    r"^In file included from |"
    r": In (?:function|member function|static member function|constructor|destructor|"
    r"instantiation|lambda function|substitution)\b|: At (?:global|top level)|"
    r": in function [`'\u2018]"
)
_NINJA_FAILED = re.compile(r"^FAILED: ")
_INCLUDED_FROM_MORE = re.compile(r"^\s+from \S")
_CMAKE_ERROR = re.compile(r"^CMake Error\b")
# "CMake Error at /path/Caffe2Config.cmake:90 (message):", whose message follows, indented.
_CMAKE_AT = re.compile(r"^CMake Error at (.+?):(\d+)(?: \([^)]*\))?:$")
_FIELDS = ("name", "pattern", "hint", "oom")


@dataclass(frozen=True)
class Signature:
    """A known failure: the log line that shows it and what to do about it."""

    name: str
    pattern: re.Pattern[str]
    hint: str  # one line; may contain {jobs}
    oom: bool  # the kernel killed a process for memory


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong in a failed build, as far as its output tells."""

    error_lines: tuple[str, ...]
    signature: Signature | None
    oom: bool

    @property
    def summary(self) -> str:
        """The failure in one line: the first error itself (not the line saying where it is),
        or a CMake error with its message."""
        # Ninja's "FAILED: out.o" and gcc's "In function" say where; the next line says what.
        lines = [
            ln for ln in self.error_lines if not (_CONTEXT.search(ln) or _NINJA_FAILED.match(ln))
        ] or self.error_lines
        if not lines:
            return "see the log"
        first = lines[0].strip()
        head = _CMAKE_AT.match(first)
        if head is None:
            return first
        message: list[str] = []
        for line in lines[1:]:
            if not line[:1].isspace():
                break
            message.append(line.strip())
        if not message:
            return first
        # The message is what matters; the file's full path is in the log.
        where = f"{PurePath(head.group(1)).name}:{head.group(2)}"
        return f"CMake Error at {where}: {' '.join(message)}"

    def hint(self, jobs: int) -> str | None:
        """The known failure's hint with the job count filled in; None when none matched."""
        if self.signature is None:
            return None
        return self.signature.hint.replace("{jobs}", str(jobs))


def load_signatures() -> tuple[Signature, ...]:
    """The known failures from ``recipes/failures.toml``, validated."""
    return parse_signatures(resources.table("failures"), source="recipes/failures.toml")


def parse_signatures(data: dict[str, Any], *, source: str) -> tuple[Signature, ...]:
    """Validate a failures table (``[[signature]]`` entries) into ``Signature`` values."""
    entries = data.get("signature")
    if not isinstance(entries, list) or not entries:
        raise RecipeError(f"{source} has no [[signature]] entries")
    seen: set[str] = set()
    out: list[Signature] = []
    for i, entry in enumerate(entries):
        label = f"{source} [[signature]] #{i + 1}"
        if not isinstance(entry, dict):
            raise RecipeError(f"{label} is not a table")
        name = entry.get("name")
        if isinstance(name, str) and name:
            label = f"{source} signature {name!r}"
        missing = [k for k in _FIELDS if k not in entry]
        if missing:
            raise RecipeError(
                f"{label} lacks {', '.join(missing)}",
                hint="each [[signature]] needs name, pattern, hint and oom",
            )
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise RecipeError(f"{label} has unknown keys: {', '.join(unknown)}")
        pattern, hint, oom = entry["pattern"], entry["hint"], entry["oom"]
        if not isinstance(name, str) or not name or not isinstance(pattern, str):
            raise RecipeError(f"{label}: name and pattern must be non-empty strings")
        if not isinstance(hint, str) or not hint.strip() or "\n" in hint:
            raise RecipeError(f"{label}: hint must be one non-empty line")
        if not isinstance(oom, bool):
            raise RecipeError(f"{label}: oom must be true or false")
        if name in seen:
            raise RecipeError(f"{label} is defined twice")
        seen.add(name)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise RecipeError(
                f"{label}: bad regular expression: {exc}",
                hint="patterns are Python regular expressions; use '...' literals in TOML",
            ) from exc
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(hint) if f is not None}
        except ValueError as exc:
            raise RecipeError(
                f"{label}: bad hint: {exc}", hint="write {jobs} or nothing in braces"
            ) from exc
        if fields - {"jobs"}:
            raise RecipeError(
                f"{label}: hint names unknown fields {sorted(fields - {'jobs'})}",
                hint="the only placeholder a hint may use is {jobs}",
            )
        out.append(Signature(name, compiled, hint, oom))
    return tuple(out)


def diagnose(
    lines: Iterable[str], returncode: int, signatures: Sequence[Signature] | None = None
) -> Diagnosis:
    """Find the first real error lines and the known failure that explains them."""
    sigs = tuple(load_signatures() if signatures is None else signatures)
    errors: list[str] = []
    first_match: Signature | None = None
    oom_match: Signature | None = None
    previous: list[str] = []  # the lines since the last error, for context
    in_cmake_message = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if _NOT_ERROR.match(line):
            continue  # gcc's echo of the offending source line repeats the error's words
        matched = _match(line, sigs)
        if matched is not None:
            if first_match is None:
                first_match = matched
            if matched.oom and oom_match is None:
                oom_match = matched
        if in_cmake_message and line[:1].isspace() and line.strip():
            # CMake says what is wrong on the indented lines after "CMake Error at ...", up
            # to the first blank line.
            if len(errors) < MAX_ERROR_LINES:
                errors.append(line)
            continue
        in_cmake_message = False
        if (matched is not None or _is_error(line)) and len(errors) < MAX_ERROR_LINES:
            context = _context(previous)
            if context is not None and context not in errors:
                errors.append(context)
            if len(errors) < MAX_ERROR_LINES and line not in errors:
                errors.append(line)
                in_cmake_message = bool(_CMAKE_ERROR.match(line))
            previous = []
            continue
        previous.append(line)
        if len(previous) > 8:
            del previous[0]
    signature = oom_match or first_match
    oom = oom_match is not None
    if signature is None and returncode in KILLED_CODES and not errors:
        # The driver itself was killed and nothing else failed: the OOM killer's usual victim
        # is the biggest process, and during a build that is a compiler's parent or the build.
        oom = True
        signature = next((s for s in sigs if s.name == KILLED_SIGNATURE), None)
    return Diagnosis(tuple(errors), signature, oom)


def _match(line: str, signatures: Sequence[Signature]) -> Signature | None:
    for sig in signatures:
        if sig.pattern.search(line):
            return sig
    return None


def _is_error(line: str) -> bool:
    return bool(_ERROR.search(line))


def _context(previous: list[str]) -> str | None:
    """The line before an error that names where it is, if there is one."""
    if not previous:
        return None
    i = len(previous) - 1
    # gcc's include chain: "In file included from a.h:1," then "                 from b.cpp:2:".
    while i > 0 and _INCLUDED_FROM_MORE.match(previous[i]):
        i -= 1
    line = previous[i]
    return line if _CONTEXT.search(line) else None
