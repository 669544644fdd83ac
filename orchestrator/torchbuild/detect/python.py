"""The Python interpreter the wheels are for: version, implementation, ABI, free-threading."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..target import Python
from . import interpreter
from .interpreter import abi_tag

if TYPE_CHECKING:
    from .fs import Root
    from .packages import Packages

__all__ = ["current_python", "interpreter_python", "root_python"]


def current_python() -> Python:
    """The interpreter running torchbuild."""
    return interpreter.current().as_python()


def interpreter_python(executable: str, timeout: float) -> Python:
    """Ask another interpreter (``--python PATH``) about itself."""
    return interpreter.probe_interpreter(
        executable, timeout, hint="pass --python with the path of a python3 executable"
    ).as_python()


_PY_NAME = re.compile(r"python(\d)\.(\d+)(t?)$")


def root_python(root: Root, packages: Packages) -> Python | None:
    """The default ``python3`` of a mounted root, from its files and package database."""
    resolved = root.resolve("/usr/bin/python3")
    candidates: list[str] = []
    if resolved:
        candidates.append(resolved)
    # No python3 link (minimal images): the newest versioned interpreter present.
    versioned = [n for n in root.listdir("/usr/bin") if _PY_NAME.match(n)]
    versioned.sort(key=lambda n: tuple(int(x) for x in _PY_NAME.match(n).groups()[:2]))  # type: ignore[union-attr]
    candidates += [f"/usr/bin/{n}" for n in reversed(versioned)]
    for path in candidates:
        m = _PY_NAME.search(path.rsplit("/", 1)[-1])
        if not m or not root.is_file(path):
            continue
        major, minor, t = m.groups()
        short = f"{major}.{minor}"
        full = _packaged_version(packages, short)
        free_threaded = t == "t"
        return Python(
            path,
            full or short,
            "cpython",
            abi_tag("cpython", short, free_threaded, ""),
            free_threaded,
        )
    return None


def _packaged_version(packages: Packages, short: str) -> str | None:
    for name in (
        f"python{short}-minimal",
        f"libpython{short}-minimal",
        f"python{short}",
        f"python3-{short.replace('.', '')}",
    ):
        version = packages.version(name)
        if version and version.startswith(short + "."):
            return version
    # Alpine: package "python3" at version 3.11.9-r0.
    version = packages.version("python3")
    if version and version.startswith(short + "."):
        return version
    return None
