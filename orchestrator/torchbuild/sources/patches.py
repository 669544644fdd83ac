"""Applying a recipe's patches to a source tree, safely.

For each patch, in order: check its sha256 against the recipe, then ask ``git apply --check``
(or ``patch --dry-run`` where git is missing) whether it applies. A patch that does not apply
forward but does apply in reverse is already in the tree and is skipped. A patch that does
neither stops everything *before the build*: the error names the patch, the file and the
rejected hunk, and the patches this call applied are taken back out so the tree is left as it
was found.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol, Sequence

from .. import run
from ..errors import SourceError
from ..fs import sha256_file

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "APPLIED",
    "APPLIES",
    "FAILS",
    "CheckResult",
    "Hunk",
    "PatchLike",
    "PatchState",
    "apply_series",
    "check",
    "parse_hunks",
]

log = logging.getLogger(__name__)

#: What checking a patch against a tree found.
PatchState = Literal["applies", "already-applied", "fails"]
APPLIES: Final = "applies"
APPLIED: Final = "already-applied"
FAILS: Final = "fails"
_TIMEOUT = 120.0

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_FAILED = re.compile(r"patch failed: (.+):(\d+)\s*$", re.MULTILINE)
_GIT_MISSING = re.compile(r"error: (.+): (No such file or directory|does not exist in index)")
_PATCH_FILE = re.compile(r"^(?:checking|patching) file (.+?)\s*$")
_PATCH_HUNK = re.compile(r"^Hunk #(\d+) FAILED at (\d+)")


class PatchLike(Protocol):
    """What :func:`apply_series` needs from a rendered patch entry."""

    @property
    def file(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class Hunk:
    """One hunk of a unified diff."""

    file: str
    #: 1-based position among the hunks of its file.
    index: int
    header: str
    old_start: int
    text: str


@dataclass(frozen=True)
class CheckResult:
    patch: Path
    state: PatchState
    #: The hunk that was rejected, when the tool said which.
    hunk: Hunk | None = None
    #: The tool's own words (the last lines of its output).
    detail: str = ""

    def describe(self) -> str:
        if self.state != FAILS:
            return f"{self.patch.name}: {self.state}"
        where = (
            f" at {self.hunk.file} hunk #{self.hunk.index} ({self.hunk.header})"
            if self.hunk
            else ""
        )
        return f"{self.patch.name} does not apply{where}"


def _strip(path: str) -> str:
    # -p1: drop the a/ or b/ prefix.
    path = path.split("\t", 1)[0].strip()
    return path.split("/", 1)[1] if "/" in path else path


def parse_hunks(text: str) -> list[Hunk]:
    """The hunks of a unified diff, each with its file (as ``-p1`` sees it) and header."""
    hunks: list[Hunk] = []
    current_file: str | None = None
    per_file = 0
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("+++ "):
            name = line[4:]
            if _strip(name) != "dev/null":
                current_file = _strip(name)
            per_file = 0
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old = _strip(line[4:])
            current_file = old if old != "dev/null" else current_file
        elif (m := _HUNK.match(line)) and current_file is not None:
            per_file += 1
            body = [line]
            old_left = int(m.group(2) or 1)
            new_left = int(m.group(4) or 1)
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                body_line = lines[i]
                if body_line.startswith("\\"):
                    body.append(body_line)
                    i += 1
                    continue
                tag = body_line[:1]
                if tag in (" ", ""):
                    old_left -= 1
                    new_left -= 1
                elif tag == "-":
                    old_left -= 1
                elif tag == "+":
                    new_left -= 1
                else:
                    break
                body.append(body_line)
                i += 1
            hunks.append(Hunk(current_file, per_file, line, int(m.group(1)), "\n".join(body)))
            continue
        i += 1
    return hunks


def _git_env(tree: Path) -> dict[str, str]:
    # Keep git from treating an enclosing repository (say, the user's home in git) as the one to
    # patch: paths in the patch are relative to the source tree.
    env = dict(os.environ)
    env["GIT_CEILING_DIRECTORIES"] = str(tree.resolve().parent)
    return env


def _tool() -> str:
    if run.which("git") is not None:
        return "git"
    if run.which("patch") is not None:
        return "patch"
    raise SourceError(
        "neither git nor patch is installed, so patches cannot be applied",
        hint="install git (apt-get install git)",
    )


def _args(tool: str, patch: Path, *, reverse: bool, dry_run: bool) -> list[str]:
    if tool == "git":
        args = ["git", "apply", "-p1", "-v"]
        if dry_run:
            args.append("--check")
        if reverse:
            args.append("--reverse")
        return [*args, str(patch)]
    args = [
        "patch",
        "-p1",
        "--batch",
        "--forward" if not reverse else "--reverse",
        "-i",
        str(patch),
    ]
    if dry_run:
        args.append("--dry-run")
    return args


def _run(tool: str, tree: Path, args: list[str]) -> run.Completed:
    try:
        return run.capture(args, timeout=_TIMEOUT, cwd=tree, env=_git_env(tree))
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceError(f"{tool} could not run in {tree}: {exc}") from None


def _rejected(tool: str, output: str, hunks: Sequence[Hunk]) -> Hunk | None:
    """The hunk the tool's output names as rejected."""
    return _rejected_by_git(output, hunks) if tool == "git" else _rejected_by_patch(output, hunks)


def _rejected_by_git(output: str, hunks: Sequence[Hunk]) -> Hunk | None:
    # git says "error: patch failed: FILE:LINE", LINE being where the hunk should have started.
    for m in _GIT_FAILED.finditer(output):
        file, start = m.group(1), int(m.group(2))
        in_file = [h for h in hunks if h.file == file]
        exact = [h for h in in_file if h.old_start == start]
        if exact or in_file:
            return (exact or in_file)[0]
    missing = _GIT_MISSING.search(output)
    if missing:
        return next((h for h in hunks if h.file == missing.group(1)), None)
    return None


def _rejected_by_patch(output: str, hunks: Sequence[Hunk]) -> Hunk | None:
    # GNU patch says "checking file FILE" and then "Hunk #N FAILED at LINE."
    current: str | None = None
    for line in output.splitlines():
        fm = _PATCH_FILE.match(line)
        if fm:
            current = fm.group(1)
            continue
        hm = _PATCH_HUNK.match(line)
        if hm and current is not None:
            n = int(hm.group(1))
            return next((h for h in hunks if h.file == current and h.index == n), None)
    return None


def _tail(out: run.Completed, n: int = 8) -> str:
    lines = (out.stdout + "\n" + out.stderr).strip().splitlines()
    return "\n".join(lines[-n:])


def check(tree: Path, patch: Path) -> CheckResult:
    """Would ``patch`` apply to ``tree``, is it already there, or does it fail (and where)?"""
    tool = _tool()
    forward = _run(tool, tree, _args(tool, patch, reverse=False, dry_run=True))
    if forward.ok:
        return CheckResult(patch, APPLIES)
    backward = _run(tool, tree, _args(tool, patch, reverse=True, dry_run=True))
    if backward.ok:
        return CheckResult(patch, APPLIED)
    text = patch.read_text(encoding="utf-8", errors="replace")
    output = forward.stdout + "\n" + forward.stderr
    return CheckResult(patch, FAILS, _rejected(tool, output, parse_hunks(text)), _tail(forward))


def _verify_sha256(p: PatchLike) -> None:
    try:
        digest = sha256_file(p.path).sha256
    except OSError as exc:
        raise SourceError(f"cannot read patch {p.file}: {exc.strerror or exc}") from None
    if digest != p.sha256:
        raise SourceError(
            f"patch {p.file} has sha256 {digest}, but the recipe says {p.sha256}",
            hint="the patch file changed without its recipe entry; restore it or update the sha256",
        )


def apply_series(tree: Path, patches: Sequence[PatchLike]) -> list[CheckResult]:
    """Apply ``patches`` to ``tree`` in order; stop and undo on the first one that fails.

    Returns one result per patch (``applies`` ones are now applied; ``already-applied`` ones were
    left alone). Raises :class:`SourceError` naming the patch and rejected hunk on failure.
    """
    tool = _tool() if patches else "git"
    results: list[CheckResult] = []
    done: list[PatchLike] = []
    for p in patches:
        _verify_sha256(p)
        result = check(tree, p.path)
        if result.state == FAILS:
            _undo(tool, tree, done)
            hunk = f"\n{result.hunk.text}" if result.hunk else ""
            raise SourceError(
                f"{result.describe()}; nothing was built{hunk}\n{result.detail}",
                hint=f"the source tree in {tree} is not the one this patch was written for; "
                "check the version, or give the source with --source PKG=PATH",
            )
        if result.state == APPLIES:
            out = _run(tool, tree, _args(tool, p.path, reverse=False, dry_run=False))
            if not out.ok:  # pragma: no cover - checked a moment ago
                _undo(tool, tree, done)
                raise SourceError(f"{p.file} passed its check but failed to apply:\n{_tail(out)}")
            done.append(p)
            log.info("applied %s", p.file)
        else:
            log.info("%s is already applied; skipped", p.file)
        results.append(result)
    return results


def _undo(tool: str, tree: Path, done: Sequence[PatchLike]) -> None:
    for p in reversed(done):
        out = _run(tool, tree, _args(tool, p.path, reverse=True, dry_run=False))
        if not out.ok:
            log.warning("could not take %s back out of %s: %s", p.file, tree, _tail(out))
