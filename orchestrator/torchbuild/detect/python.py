"""The Python interpreter the wheels are for: version, implementation, ABI, free-threading."""

from __future__ import annotations

import json
import re
import sys
import sysconfig
from typing import TYPE_CHECKING

from .. import run
from ..errors import InputError
from ..target import Python

if TYPE_CHECKING:
    from .fs import Root
    from .packages import Packages

__all__ = ["current_python", "interpreter_python", "root_python"]

# Printed by the target interpreter itself; must run on every Python torchbuild may target
# (3.6 on JetPack 4 included), so it stays free of f-strings and modern syntax.
_PROBE = """
import json, sys, sysconfig
impl = sys.implementation.name
ft = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
                  "implementation": impl, "free_threaded": ft,
                  "soabi": sysconfig.get_config_var("SOABI") or ""}))
"""


def _abi(implementation: str, version: str, free_threaded: bool, soabi: str) -> str:
    major, minor = version.split(".")[:2]
    if implementation == "cpython":
        return f"cp{major}{minor}{'t' if free_threaded else ''}"
    # PyPy and others: packaging derives the ABI tag from SOABI (pypy310-pp73 -> pypy310_pp73).
    return soabi.replace("-", "_").replace(".", "_") if soabi else f"{implementation}{major}{minor}"


def current_python() -> Python:
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    version = "{}.{}.{}".format(*sys.version_info[:3])
    impl = sys.implementation.name
    soabi = sysconfig.get_config_var("SOABI") or ""
    return Python(
        sys.executable, version, impl, _abi(impl, version, free_threaded, soabi), free_threaded
    )


def interpreter_python(executable: str, timeout: float) -> Python:
    """Ask another interpreter (``--python PATH``) about itself."""
    result = run.probe([executable, "-c", _PROBE], timeout=timeout)
    if result is None or not result.ok:
        raise InputError(
            f"{executable} is not a Python interpreter that torchbuild can run",
            hint="pass --python with the path of a python3 executable",
        )
    try:
        facts = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise InputError(f"{executable} did not answer like a Python interpreter") from None
    impl = str(facts["implementation"])
    version = str(facts["version"])
    ft = bool(facts["free_threaded"])
    return Python(
        str(facts["executable"]), version, impl, _abi(impl, version, ft, facts["soabi"]), ft
    )


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
            path, full or short, "cpython", _abi("cpython", short, free_threaded, ""), free_threaded
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
