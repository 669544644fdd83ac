"""One probe of a Python interpreter: what it is, where it installs, what it compiles with.

The same few lines of Python are run in-process for the interpreter running torchbuild, in a
child for ``--python PATH`` (and the build's or a cross build's host Python), and inside a root
file system by ``root self-install``, so every part of torchbuild sees one set of facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping

from .. import run
from ..errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from ..target import Python

__all__ = ["PROBE", "Interpreter", "abi_tag", "current", "from_output", "probe_interpreter"]

# Runs on every Python torchbuild may meet (3.6 on JetPack 4 included): no f-strings, no walrus.
_FACTS = """
import os, sys, sysconfig
_paths = sysconfig.get_paths()
facts = {
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "implementation": sys.implementation.name,
    "soabi": sysconfig.get_config_var("SOABI") or "",
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "purelib": _paths["purelib"],
    "platlib": _paths["platlib"],
    "cc": sysconfig.get_config_var("CC") or "",
    "cxx": sysconfig.get_config_var("CXX") or "",
    "prefix": sys.prefix,
    "base_prefix": os.path.realpath(sys.base_prefix),
}
"""
#: The probe as a program: prints the facts as one JSON line (see :func:`from_output`).
PROBE = "import json\n" + _FACTS + "print(json.dumps(facts))\n"


def abi_tag(implementation: str, version: str, free_threaded: bool, soabi: str) -> str:
    """The wheel ABI tag of an interpreter: ``cp311``, ``cp313t``, ``pypy310_pp73``."""
    major, minor = version.split(".")[:2]
    if implementation == "cpython":
        return f"cp{major}{minor}{'t' if free_threaded else ''}"
    # PyPy and others: packaging derives the ABI tag from SOABI (pypy310-pp73 -> pypy310_pp73).
    return soabi.replace("-", "_").replace(".", "_") if soabi else f"{implementation}{major}{minor}"


@dataclass(frozen=True)
class Interpreter:
    """What an interpreter says about itself."""

    executable: str  #: sys.executable: the real program (a venv's own python, say)
    version: str  #: "3.11.7"
    implementation: str  #: sys.implementation.name: "cpython", "pypy"
    soabi: str  #: "cpython-311-x86_64-linux-gnu" ("" where the build has none)
    free_threaded: bool
    purelib: str
    platlib: str
    cc: str  #: the compiler command the interpreter was built with ("" if unknown)
    cxx: str
    prefix: str
    base_prefix: str  #: resolved: equal for a venv and the interpreter it was made from

    @property
    def short_version(self) -> str:
        """``3.11``."""
        return ".".join(self.version.split(".")[:2])

    @property
    def abi(self) -> str:
        return abi_tag(self.implementation, self.version, self.free_threaded, self.soabi)

    def as_python(self) -> Python:
        """The target's view of this interpreter (what the wheels are for)."""
        from ..target import Python

        return Python(
            self.executable, self.version, self.implementation, self.abi, self.free_threaded
        )


def _from_facts(facts: Mapping[str, Any]) -> Interpreter:
    """KeyError for a missing fact, TypeError for one of the wrong type: not the probe's output."""
    values = {f.name: facts[f.name] for f in fields(Interpreter)}
    for name, value in values.items():
        if not isinstance(value, bool if name == "free_threaded" else str):
            raise TypeError(f"{name} is {value!r}")
    return Interpreter(**values)


def from_output(stdout: str) -> Interpreter | None:
    """The facts :data:`PROBE` printed (its last line), or None for any other output."""
    try:
        facts = json.loads(stdout.strip().splitlines()[-1])
        return _from_facts(facts) if isinstance(facts, dict) else None
    except (ValueError, IndexError, KeyError, TypeError):
        return None


def current() -> Interpreter:
    """The interpreter running torchbuild, read in-process with the probe's own code."""
    scope: dict[str, Any] = {}
    exec(_FACTS, scope)  # noqa: S102 - a constant of this module, the same code the probe runs
    return _from_facts(scope["facts"])


def probe_interpreter(
    python: str | Path,
    timeout: float = 30.0,
    *,
    hint: str = "pass --python with the path of a python3 executable (e.g. /usr/bin/python3.11)",
) -> Interpreter:
    """Run :data:`PROBE` in ``python`` on this machine; raise
    :class:`~torchbuild.errors.InputError` when it is not a Python torchbuild can run."""
    done = run.probe([str(python), "-c", PROBE], timeout=timeout)
    found = from_output(done.stdout) if done is not None and done.ok else None
    if found is None:
        raise InputError(f"{python} is not a Python interpreter that torchbuild can run", hint=hint)
    return found
