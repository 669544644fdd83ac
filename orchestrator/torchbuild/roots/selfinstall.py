"""Installing this torchbuild into a root, so that builds can run inside it.

The root gets a virtual environment at ``/opt/torchbuild/venv`` made by the root's own
``python3`` (torch is built for the root's Python, not the host's), and inside it a wheel of the
running torchbuild: rebuilt from the installed files when torchbuild is installed from a wheel,
or built from the source checkout when it runs from one (an editable install). Its
dependencies are downloaded by the host's pip for the root's Python and platform (the host
knows how to reach an index; a fresh root may not) and installed offline; without a pip on the
host, the root's pip fetches them from its default index.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from .. import __version__, run
from ..detect.interpreter import PROBE, Interpreter, from_output
from ..errors import InputError, NetworkError, ToolchainError
from ..wheel import record_digest
from . import marker
from .create import install_packages, trust_host_certificates
from .inside import require_superuser, run_inside
from .mounts import remove_tree
from .runner import run_long

if TYPE_CHECKING:
    from importlib.metadata import Distribution

__all__ = ["VENV", "build_wheel", "install_self", "own_wheel", "repack_installed"]

VENV = "/opt/torchbuild/venv"
DIST = "torchbuild"

# What an interpreter says about itself; the same program runs in the root's python3 and the
# venv's, and the two answers must name the same interpreter.
#: The interpreter probe, failing where ``venv`` cannot work (Debian keeps ensurepip apart).
_PROBE = "import ensurepip\n" + PROBE
_PIP_ENV = {
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_ROOT_USER_ACTION": "ignore",
    "PIP_NO_INPUT": "1",
}
_NETWORK = re.compile(
    r"NewConnectionError|Could not find a version that satisfies|"
    r"Temporary failure in name resolution|No matching distribution found|ConnectionError"
)
# Files an installer writes about one installation, not part of the wheel.
_INSTALL_ONLY = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _installed_distribution() -> Distribution | None:
    """torchbuild's distribution when the running code is its installed (non-editable) files."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        return None
    init = next((f for f in dist.files or () if f.as_posix() == f"{DIST}/__init__.py"), None)
    if init is None:
        return None  # an editable install lists only a .pth file
    import torchbuild

    running = Path(torchbuild.__file__).resolve()
    return dist if Path(str(dist.locate_file(init))).resolve() == running else None


def repack_installed(dist: Distribution, out_dir: Path) -> Path:
    """A wheel made again from an installed distribution's files (RECORD rewritten)."""
    files = [
        f
        for f in dist.files or ()
        if not f.as_posix().startswith("../")
        and "__pycache__" not in f.parts
        and not (f.parts[0].endswith(".dist-info") and f.name in _INSTALL_ONLY)
    ]
    info_dir = next((f.parts[0] for f in files if f.parts[0].endswith(".dist-info")), None)
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = re.findall(r"^Tag:\s*(\S+)", wheel_meta, re.MULTILINE)
    if info_dir is None or not tags:
        raise ToolchainError(
            f"the installed {DIST} has no complete .dist-info; it cannot be copied into a root",
            hint=f"reinstall {DIST} with pip",
        )
    name = f"{info_dir[: -len('.dist-info')]}-{tags[0]}.whl"
    temp = out_dir / f".{name}.tmp-{os.getpid()}"
    record: list[str] = []
    try:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as wheel:
            for f in files:
                data = Path(str(dist.locate_file(f))).read_bytes()
                wheel.writestr(f.as_posix(), data)
                record.append(
                    f"{f.as_posix()},{record_digest(hashlib.sha256(data).hexdigest())},{len(data)}"
                )
            record.append(f"{info_dir}/RECORD,,")
            wheel.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
        temp.replace(out_dir / name)
    finally:
        if temp.exists():
            temp.unlink()
    return out_dir / name


def _checkout() -> Path | None:
    import torchbuild

    # orchestrator/torchbuild/__init__.py -> the repository root holding pyproject.toml.
    top = Path(torchbuild.__file__).resolve().parents[2]
    return top if (top / "pyproject.toml").is_file() else None


def build_wheel(source: Path, out_dir: Path) -> Path:
    """Build torchbuild's wheel from a source checkout into ``out_dir``."""
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        attempts = []
        if importlib.util.find_spec("build") is not None:
            # The backend already installed here: no download, works offline.
            attempts.append(
                [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp]
            )
        attempts.append([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", tmp])
        output = ""
        for args in attempts:
            done = run.capture([*args, str(source)], timeout=900)
            built = sorted(Path(tmp).glob(f"{DIST}-*.whl"))
            if done.ok and built:
                target = out_dir / built[0].name
                built[0].replace(target)
                return target
            output = done.stdout + done.stderr
    last = [line for line in output.splitlines() if line.strip()]
    raise ToolchainError(
        f"could not build {DIST}'s wheel from {source}: {last[-1] if last else 'no output'}",
        hint="install the build tools (pip install build hatchling) and try again",
    )


def own_wheel(out_dir: Path) -> Path:
    """A wheel of the torchbuild that is running now, written into ``out_dir``."""
    dist = _installed_distribution()
    if dist is not None:
        return repack_installed(dist, out_dir)
    source = _checkout()
    if source is None:
        raise ToolchainError(
            f"cannot find the files of the running {DIST} (neither installed nor a checkout)",
            hint=f"install {DIST} with pip, then run the command again",
        )
    return build_wheel(source, out_dir)


def _probe(root: Path, python: str, log: IO[str]) -> Interpreter | None:
    done = run_inside(root, [python, "-c", _PROBE], log=log)
    return from_output(done.stdout) if done.ok else None


def _check(done: run.Completed, what: str, log: IO[str]) -> None:
    if done.ok:
        return
    output = done.stdout + done.stderr
    last = [line for line in output.splitlines() if line.strip()]
    reason = last[-1] if last else f"exit status {done.returncode}"
    if _NETWORK.search(output):
        raise NetworkError(
            f"{what} could not download torchbuild's dependencies: {reason}",
            hint=f"check the network inside the root (its /etc/resolv.conf); log: {log.name}",
        )
    raise ToolchainError(f"{what} failed inside the root: {reason}", hint=f"read {log.name}")


def download_dependencies(root: Path, wheel: Path, dest: Path, log: IO[str]) -> bool:
    """Fetch ``wheel``'s dependencies for the root's Python and platform with the host's pip.

    The host's pip knows how this machine reaches a package index (its configuration, proxy,
    certificates), which a fresh root does not; the root then installs from ``dest`` offline.
    False when the host has no pip to do it with.
    """
    host_pip = run.probe([sys.executable, "-m", "pip", "--version"], timeout=60)
    if host_pip is None or not host_pip.ok:
        return False
    from ..detect import detect_root
    from ..resolve.tags import interpreter_label, platform_tags, python_tuple

    target = detect_root(root)
    major, minor = python_tuple(target)
    assert target.python is not None
    label = interpreter_label(target)
    args = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
    args += ["--dest", str(dest), "--python-version", f"{major}.{minor}"]
    args += ["--implementation", label[:2], "--abi", target.python.abi or label]
    for platform in platform_tags(target):
        args += ["--platform", platform]
    done = run_long([*args, str(wheel)], log=log, timeout=1800)
    _check(done, "pip download (on this machine)", log)
    return True


def _make_venv(root: Path, wheel: str, system: Interpreter, log: IO[str], *, offline: bool) -> None:
    """Create the venv with the root's python3, install ``wheel`` into it, and check both."""
    _check(run_inside(root, ["python3", "-m", "venv", VENV], log=log), "python3 -m venv", log)
    pip = [f"{VENV}/bin/python", "-m", "pip", "install", "--quiet", wheel]
    if offline:
        pip += ["--no-index", "--find-links", str(PurePosixPath(wheel).parent)]
    _check(run_inside(root, pip, env=_PIP_ENV, log=log), "pip install", log)
    made = _probe(root, f"{VENV}/bin/python", log)
    mine = (system.version, system.base_prefix)
    if made is None or (made.version, made.base_prefix) != mine:
        raise ToolchainError(
            f"the venv's Python ({made}) is not the root's python3 ({system})",
            hint="a python3 on the root's PATH shadows /usr/bin/python3; remove it",
        )
    done = run_inside(root, [f"{VENV}/bin/torchbuild", "--version"], log=log)
    _check(done, "torchbuild --version", log)
    if __version__ not in done.stdout:
        raise ToolchainError(
            f"the installed torchbuild says {done.stdout.strip()!r}, not {__version__}",
            hint=f"read {log.name}",
        )


def install_self(root: Path, log: IO[str]) -> marker.SelfInstall:
    """Install this torchbuild into ``root``'s ``/opt/torchbuild/venv``; return what was made."""
    require_superuser("installing torchbuild into a root")
    root = root.absolute()
    if not (root / "usr").is_dir() or not (root / "tmp").is_dir():
        raise InputError(
            f"{root} does not look like a root file system (no usr/ and tmp/ inside)",
            hint="create one with `torchbuild root create DIST DIR`",
        )
    # pip inside the root must reach the index through the same proxy as this machine.
    trust_host_certificates(root, log)
    system = _probe(root, "python3", log)
    if system is None:
        # No python3, or Debian's python3 without ensurepip (it lives in python3-venv).
        install_packages(root, ["python3-venv"], log)
        system = _probe(root, "python3", log)
        if system is None:
            raise ToolchainError(
                f"the root's python3 cannot make virtual environments, even with python3-venv "
                f"installed: {root}",
                hint=f"read {log.name}",
            )
    venv = root / VENV.lstrip("/")
    staging = Path(tempfile.mkdtemp(prefix="torchbuild-self-", dir=root / "tmp"))
    try:
        wheel = own_wheel(staging)
        inside_wheel = "/" + str(wheel.relative_to(root))
        offline = download_dependencies(root, wheel, staging, log)
        remove_tree(venv)
        try:
            _make_venv(root, inside_wheel, system, log, offline=offline)
        except BaseException:
            remove_tree(venv)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = marker.SelfInstall(VENV, __version__, system.version, marker.now())
    if (root / marker.MARKER).exists():
        info = marker.read_marker(root)
        marker.write_marker(root, replace(info, self_install=result, updated=marker.now()))
    return result
