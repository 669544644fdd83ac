"""Virtual environments for the target interpreter: the build environment and the verify one.

uv makes and fills them when it can run (seconds, with its shared cache); pip is the fallback.
Either way the index configuration is the one torchbuild resolved (pip's own plus flags), so a
build requirement comes from where the user's pip would take it, and the wheelhouse's files are
always offered first via ``--find-links``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Sequence

from filelock import FileLock

from . import run
from .detect.interpreter import probe_interpreter
from .errors import BuildError, InputError, NetworkError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "Installer",
    "Venv",
    "cached_venv",
    "current_python",
    "find_installer",
    "install",
    "make_venv",
]

#: Written last into a finished environment: a directory without it is half-made.
MARKER = ".torchbuild-venv.json"
INSTALL_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Installer:
    """How packages get into an environment: ``uv pip`` or the environment's own pip."""

    tool: Literal["uv", "pip"]
    uv: Path | None
    index_args: tuple[str, ...]  # --index-url/--extra-index-url/--find-links/--no-index
    offline: bool = False

    def describe(self) -> str:
        return f"uv ({self.uv})" if self.uv else "pip"


@dataclass(frozen=True)
class Venv:
    path: Path
    python: Path
    inherit_site: bool

    @property
    def bin(self) -> Path:
        return self.python.parent

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` with this environment active: its bin first on PATH, VIRTUAL_ENV set."""
        out = dict(base)
        out["PATH"] = os.pathsep.join([str(self.bin), base.get("PATH", os.defpath)])
        out["VIRTUAL_ENV"] = str(self.path)
        out.pop("PYTHONHOME", None)
        return out


def _find_uv() -> Path | None:
    try:
        from uv import find_uv_bin  # the uv wheel on PyPI ships the binary

        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return run.which("uv")


def find_installer(
    *,
    index_url: str | None,
    extra_index_urls: Sequence[str],
    find_links: Sequence[str],
    offline: bool,
    prefer: str = "auto",
) -> Installer:
    """The installer to use and the index arguments both uv and pip understand."""
    args: list[str] = []
    if offline:
        args.append("--no-index")
    elif index_url:
        args += ["--index-url", index_url]
    if not offline:
        for url in extra_index_urls:
            args += ["--extra-index-url", url]
    for link in find_links:
        args += ["--find-links", link]
    uv = _find_uv() if prefer in ("auto", "uv") else None
    if prefer == "uv" and uv is None:
        raise InputError("--installer uv was asked for, but uv is not installed")
    return Installer("uv" if uv else "pip", uv, tuple(args), offline)


def _check(done: run.Completed, what: str, hint: str) -> None:
    if done.ok:
        return
    tail = (done.stderr or done.stdout).strip().splitlines()[-6:]
    text = " | ".join(line.strip() for line in tail if line.strip())
    unreachable = ("Failed to fetch", "Could not fetch", "NewConnectionError", "dns error")
    if any(u in text for u in unreachable):
        raise NetworkError(
            f"{what}: an index could not be reached: {text}",
            hint="check the network, the proxy and its certificate authority (installed in "
            "the system's store), or work from a wheelhouse with --offline",
        )
    raise BuildError(f"{what}: {text or f'exit {done.returncode}'}", hint=hint)


def make_venv(
    dest: Path,
    python: Path,
    installer: Installer,
    *,
    inherit_site: bool = False,
) -> Venv:
    """A new environment at ``dest`` (which must not exist) for ``python``.

    ``inherit_site``: the environment also sees what is installed in ``python`` itself (its
    torch, say), after its own packages. venv's --system-site-packages cannot do this when
    ``python`` is itself in a virtual environment (it would expose the base interpreter's
    packages instead), so a .pth file lists ``python``'s own site directories.
    """
    args: list[str]
    if installer.uv is not None:
        args = [str(installer.uv), "venv", "--quiet", "--python", str(python), "--seed"]
        args.append(str(dest))
    else:
        args = [str(python), "-m", "venv", str(dest)]
    done = run.capture(args, timeout=600.0, env=_quiet_env())
    _check(
        done,
        f"cannot make an environment for {python}",
        "install the interpreter's venv module (Debian: apt-get install python3-venv)",
    )
    venv = Venv(dest, dest / "bin" / "python", inherit_site)
    if inherit_site:
        base = probe_interpreter(python)
        mine = probe_interpreter(venv.python)
        dirs = list(dict.fromkeys([base.purelib, base.platlib]))
        pth = Path(mine.purelib) / "_torchbuild_inherit.pth"
        pth.write_text("".join(d + "\n" for d in dirs), encoding="utf-8")
    return venv


def _quiet_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)  # uv would otherwise act on the caller's environment
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    # uv trusts its own bundled authorities unless told otherwise; pip uses the system's. A
    # machine behind a TLS-inspecting proxy trusts the proxy's CA in the system store only.
    # (UV_SYSTEM_CERTS is the current name, UV_NATIVE_TLS the one older uv releases read.)
    env.setdefault("UV_SYSTEM_CERTS", "1")
    env.setdefault("UV_NATIVE_TLS", "1")
    return env


def install(
    venv: Venv,
    installer: Installer,
    requirements: Sequence[str],
    *,
    no_deps: bool = False,
    log: Callable[[str], None] | None = None,
) -> None:
    """Install requirements (PEP 508 strings or wheel paths) into ``venv``."""
    if not requirements:
        return
    if installer.uv is not None:
        args = [str(installer.uv), "pip", "install", "--python", str(venv.python)]
        if installer.offline:
            args.append("--offline")
    else:
        args = [str(venv.python), "-m", "pip", "install", "--no-input"]
    args += list(installer.index_args)
    if no_deps:
        args.append("--no-deps")
    args += list(requirements)
    if log is not None:
        log(f"installing into {venv.path}: {' '.join(requirements)}")
    done = run.capture(args, timeout=INSTALL_TIMEOUT, env=_quiet_env())
    if log is not None:
        for line in (done.stdout + done.stderr).splitlines():
            log(line)
    _check(
        done,
        f"cannot install {', '.join(requirements)}",
        "check the index configuration (`torchbuild index config`, pip.conf), or run without "
        "--offline",
    )


def cached_venv(
    root: Path,
    python: Path,
    installer: Installer,
    requirements: Sequence[str],
    *,
    inherit_site: bool = False,
    key_extra: Mapping[str, str] | None = None,
    log: Callable[[str], None] | None = None,
) -> Venv:
    """An environment with ``requirements``, made once per (interpreter, requirements) and reused.

    Made in place (venv scripts carry absolute paths, so a finished environment cannot be
    moved) under a lock; the marker file is written last and is the commit point: a directory
    without it is what a crash left, and is made again. ``key_extra`` adds facts to the key (the
    sha256 of a torch wheel installed from a file, say).
    """
    facts = probe_interpreter(python)
    key_data = {
        "python": facts.executable,
        "version": facts.version,
        "requirements": sorted(requirements),
        "inherit_site": inherit_site,
        "index": list(installer.index_args),
        **dict(key_extra or {}),
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"py{facts.version}-{key}"
    with FileLock(str(root / f".{dest.name}.lock")):
        if (dest / MARKER).is_file():
            return Venv(dest, dest / "bin" / "python", inherit_site)
        shutil.rmtree(dest, ignore_errors=True)
        try:
            made = make_venv(dest, Path(facts.executable), installer, inherit_site=inherit_site)
            install(made, installer, requirements, log=log)
            (dest / MARKER).write_text(json.dumps(key_data, indent=1) + "\n", encoding="utf-8")
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return made


def current_python() -> Path:
    return Path(sys.executable)
