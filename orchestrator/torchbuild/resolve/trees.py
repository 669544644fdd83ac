"""What a given project's source tree says before it is built: its static build requirements
and its static version (``pyproject.toml``, an sdist's ``PKG-INFO``, a ``setup.py`` importing
torch). The backend's dynamic requirements are asked at build time (``compile.requirements``)."""

from __future__ import annotations

import email.parser
import re
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "FALLBACK_REQUIRES",
    "build_system",
    "requirement_name",
    "static_requirements",
    "tree_facts",
    "version_from_tree",
]

TORCH = "torch"
#: PEP 518's requirements for a tree without ``[build-system] requires``.
FALLBACK_REQUIRES = ("setuptools>=40.8.0",)

_IMPORTS_TORCH = re.compile(r"^\s*(?:import\s+torch\b|from\s+torch[\s.])", re.MULTILINE)


def requirement_name(text: str) -> str | None:
    """A requirement's canonical project name, or None when the text is not a requirement."""
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def build_system(tree: Path) -> dict[str, object] | None:
    """The ``[build-system]`` table (empty when pyproject.toml has none), None without the file."""
    path = tree / "pyproject.toml"
    if not path.is_file():
        return None
    from ..resources import load_toml

    system = load_toml(path).get("build-system")
    return system if isinstance(system, dict) else {}


def static_requirements(tree: Path) -> list[str]:
    """``[build-system] requires``, plus torch when setup.py imports it and says nothing.

    A setup.py that imports torch needs torch at build time even when its pyproject.toml (if
    any) does not say so; the build then gets the torch of this run or of the target
    interpreter.
    """
    system = build_system(tree)
    reqs: list[str]
    if system is None or "requires" not in system:
        reqs = list(FALLBACK_REQUIRES)
    else:
        declared = system.get("requires")
        reqs = [str(r) for r in declared] if isinstance(declared, list) else []
    setup = tree / "setup.py"
    imports_torch = setup.is_file() and _IMPORTS_TORCH.search(
        setup.read_text(encoding="utf-8", errors="replace")
    )
    if imports_torch and not any(requirement_name(r) == TORCH for r in reqs):
        reqs.append(TORCH)
    return reqs


def version_from_tree(tree: Path) -> str | None:
    """A tree's static version: ``[project] version``, else PKG-INFO's (an sdist's)."""
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


def tree_facts(tree: Path) -> tuple[list[str], str | None]:
    """A tree's static build requirements and static version."""
    return static_requirements(tree), version_from_tree(tree)
