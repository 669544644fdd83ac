"""A project's build requirements, as complete as pip's: static and dynamic.

Static: ``[build-system] requires`` of pyproject.toml (PEP 518), or PEP 517's fallback for a
tree without one; a setup.py that imports torch needs torch too, whatever it declares.

Dynamic: what the backend's ``get_requires_for_build_wheel`` hook answers (PEP 517), asked in
the build environment with the static requirements installed, through ``pyproject_hooks`` as
``build`` and pip do. scikit-build-core answers ``cmake>=X`` when no CMake on ``PATH`` is new
enough, setuptools-based projects may name more. Build isolation stays off: the hook and the
build see the environment's torch, not a fresh copy from an index.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from .. import run
from ..errors import BuildError
from ..resolve.trees import build_system, requirement_name

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from ..venvs import Venv
    from .workdir import BuildDir

__all__ = [
    "FALLBACK_BACKEND",
    "backend_of",
    "dynamic_requirements",
    "missing_from",
    "with_dynamic_requirements",
]

#: PEP 517: a tree without ``build-backend`` is built by setuptools' legacy backend.
FALLBACK_BACKEND = "setuptools.build_meta:__legacy__"
HOOK_TIMEOUT = 600.0


def backend_of(tree: Path) -> tuple[str, list[str] | None]:
    """The backend's import path and ``backend-path`` (in-tree backends), PEP 517's way."""
    system = build_system(tree) or {}
    backend = system.get("build-backend")
    paths = system.get("backend-path")
    return (
        str(backend) if isinstance(backend, str) and backend else FALLBACK_BACKEND,
        [str(p) for p in paths] if isinstance(paths, list) else None,
    )


def dynamic_requirements(tree: Path, venv: Venv, env: Mapping[str, str]) -> list[str]:
    """What the backend's ``get_requires_for_build_wheel`` asks for, run by ``venv``'s Python
    with ``env`` (the build's environment: its ``PATH`` decides what CMake the backend sees)."""
    from pyproject_hooks import BuildBackendHookCaller, HookMissing

    def runner(
        cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
    ) -> None:
        try:
            done = subprocess.run(
                list(cmd),
                cwd=cwd,
                env={**env, **(extra_environ or {})},
                capture_output=True,
                text=True,
                timeout=HOOK_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BuildError(
                f"the build backend of {tree} did not name its build requirements within "
                f"{HOOK_TIMEOUT:.0f} s",
                hint="build it with `pip wheel --no-build-isolation` to see where it hangs",
            ) from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-4:]
            raise BuildError(
                f"the build backend of {tree} failed to name its build requirements: "
                + (" | ".join(line.strip() for line in tail) or f"exit {done.returncode}"),
                hint="the project's [build-system] requirements must install and import; "
                "`pip wheel --no-build-isolation .` in its tree shows the same error",
            )

    backend, backend_path = backend_of(tree)
    caller = BuildBackendHookCaller(
        str(tree),
        backend,
        backend_path=backend_path,
        runner=runner,
        python_executable=str(venv.python),
    )
    try:
        reqs = caller.get_requires_for_build_wheel({})
    except HookMissing:
        return []
    return [str(r) for r in reqs]


def _installed(venv: Venv) -> dict[str, str]:
    """Distribution name -> version of what is importable in ``venv`` (inherited sites too)."""
    code = (
        "import json, importlib.metadata as m; print(json.dumps({d.metadata['Name']: d.version "
        "for d in m.distributions() if d.metadata['Name']}))"
    )
    done = run.probe([str(venv.python), "-c", code], timeout=60.0)
    if done is None or not done.ok:
        return {}
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    return {canonicalize_name(str(k)): str(v) for k, v in found.items()}


def missing_from(venv: Venv, requirements: Sequence[str]) -> list[str]:
    """The requirements that ``venv`` does not meet yet (an unreadable one counts as missing,
    so the installer reports it)."""
    have = _installed(venv)
    out: list[str] = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            out.append(text)
            continue
        # A marker is left to the installer, which evaluates it for the environment's Python.
        version = have.get(canonicalize_name(req.name))
        try:
            if version is None or not req.specifier.contains(version, prereleases=True):
                out.append(text)
        except InvalidVersion:
            out.append(text)
    return out


def hook_environment(venv: Venv, bdir: BuildDir, base: Mapping[str, str]) -> dict[str, str]:
    """The environment the backend's hook runs in: the build's ``PATH`` and isolation from the
    caller's user site and ``PYTHONPATH``, as for the build itself."""
    import os

    from .tools import build_path, tool_links

    env = venv.env(base)
    links = tool_links(bdir.path / "tools", base.get("PATH", os.defpath))
    env["PATH"] = build_path(base, venv.bin, links)
    env["PYTHONNOUSERSITE"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def with_dynamic_requirements(
    venv: Venv, bdir: BuildDir, extend: Callable[[Sequence[str]], Venv]
) -> Venv:
    """``venv``, or the environment ``extend`` makes with the backend's dynamic requirements
    added when ``venv`` lacks some of them. torch is never installed this way: the build uses
    the torch it was planned against."""
    import os

    dynamic = dynamic_requirements(bdir.src, venv, hook_environment(venv, bdir, os.environ))
    wanted = [r for r in dynamic if requirement_name(r) != "torch"]
    missing = missing_from(venv, wanted)
    return extend(missing) if missing else venv
