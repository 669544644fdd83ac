"""What a given project's source tree says before it is built: its build requirements and its
static version (``pyproject.toml``, an sdist's ``PKG-INFO``, a ``setup.py`` importing torch)."""

from __future__ import annotations

import email.parser
import re
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["tree_facts"]

TORCH = "torch"


def _req_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def _pyproject_build_requires(tree: Path) -> list[str]:
    path = tree / "pyproject.toml"
    if not path.is_file():
        return ["setuptools>=40.8.0"]  # PEP 517's fallback for a tree without pyproject.toml
    from ..resources import load_toml

    data = load_toml(path)
    system = data.get("build-system") or {}
    reqs = system.get("requires")
    return [str(r) for r in reqs] if isinstance(reqs, list) else []


_IMPORTS_TORCH = re.compile(r"^\s*(?:import\s+torch\b|from\s+torch[\s.])", re.MULTILINE)


def tree_facts(tree: Path) -> tuple[list[str], str | None]:
    """A tree's build requirements and static version.

    A setup.py that imports torch needs torch at build time even when its pyproject.toml (if
    any) does not say so; torch is then added, so the build gets the torch of this run or of
    the target interpreter.
    """
    requires = _pyproject_build_requires(tree)
    setup = tree / "setup.py"
    imports_torch = setup.is_file() and _IMPORTS_TORCH.search(
        setup.read_text(encoding="utf-8", errors="replace")
    )
    if imports_torch and not any(_req_name(r) == TORCH for r in requires):
        requires.append(TORCH)
    return requires, _version_from_tree(tree)


def _version_from_tree(tree: Path) -> str | None:
    path = tree / "pyproject.toml"
    if path.is_file():
        from ..resources import load_toml

        project = load_toml(path).get("project") or {}
        if isinstance(project.get("version"), str):
            return str(project["version"])
    pkg_info = tree / "PKG-INFO"
    if pkg_info.is_file():
        msg = email.parser.Parser().parsestr(pkg_info.read_text(encoding="utf-8", errors="replace"))
        return msg.get("Version")
    return None
