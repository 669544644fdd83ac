"""Making a root: debootstrap a minimal Debian, then install package sets inside it.

A root appears complete or not at all: it is assembled under ``DIR.partial-<pid>`` beside
``DIR`` and renamed when the record of what it holds has been written. A failed or interrupted
creation deletes the partial directory; a partial left by a killed torchbuild is deleted by the
next creation of the same root.

A root for another architecture (``--arch arm64`` on x86_64) is made in two stages: debootstrap
``--foreign`` unpacks the packages, the host's static QEMU user emulator is copied into the
root, and the second stage runs inside it through the kernel's binfmt_misc handler, which must
be registered on the host (the qemu-user-static and binfmt-support packages do that).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .. import __version__, run
from ..errors import InputError, NetworkError, ToolchainError
from ..fs import remove_dead_temps
from . import marker, packagesets
from .aptsources import host_mirror
from .inside import require_superuser, run_inside
from .mounts import remove_tree
from .runner import names_log, run_long

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CREATE_LOG",
    "CreateResult",
    "apt_install",
    "create_root",
    "host_arch",
    "install_packages",
    "qemu_name",
]

_log = logging.getLogger(__name__)

VARIANT = "minbase"
#: Where a finished root keeps the output of its creation.
CREATE_LOG = "var/log/torchbuild-root-create.log"
PARTIAL = ".partial-"
SCRIPTS = Path("/usr/share/debootstrap/scripts")
BINFMT = Path("/proc/sys/fs/binfmt_misc")

# Debian architecture -> QEMU's name for it (qemu-<name>-static, binfmt entry qemu-<name>).
_QEMU = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "i386",
    "ppc64el": "ppc64le",
    "riscv64": "riscv64",
    "s390x": "s390x",
    "mips64el": "mips64el",
    "loong64": "loongarch64",
}
# Architectures a host runs natively besides its own.
_NATIVE = {"amd64": {"i386"}}

_APT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
    "LC_ALL": "C.UTF-8",
}
_NETWORK = re.compile(
    r"Failed getting release file|Couldn't download|Failed to fetch|Temporary failure resolving|"
    r"Could not resolve|Connection refused|Could not connect|Network is unreachable|"
    r"Unable to connect|No route to host",
)
_UNKNOWN_PACKAGE = re.compile(
    r"E: Unable to locate package (\S+)|E: Package '([^']+)' has no installation candidate"
)


@dataclass(frozen=True)
class CreateResult:
    """A finished root: its record and the log of its creation."""

    root: Path
    info: marker.RootInfo
    log: Path


def host_arch() -> str:
    """This machine's Debian architecture name (``dpkg --print-architecture``)."""
    done = run.probe(["dpkg", "--print-architecture"], timeout=30)
    if done is not None and done.ok and done.stdout.strip():
        return done.stdout.strip()
    import platform

    machine = platform.machine()
    by_machine = {v: k for k, v in _QEMU.items() if k != "armel"}
    return by_machine.get(machine, machine)


def qemu_name(arch: str) -> str:
    """QEMU's name for a Debian architecture."""
    try:
        return _QEMU[arch]
    except KeyError:
        raise InputError(
            f"unknown Debian architecture {arch!r}",
            hint=f"one of: {', '.join(sorted(_QEMU))}",
        ) from None


def _tail(text: str) -> str:
    """The line that says why a Debian tool failed: its last error, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "W: Failure", "ERROR"))]
    return (errors or lines or ["no output"])[-1]


def _debootstrap() -> str:
    found = run.which("debootstrap")
    if found is None:
        raise ToolchainError(
            "debootstrap is not installed; it is needed to create a root",
            hint="apt-get install debootstrap",
        )
    return str(found)


def _check_dist(dist: str) -> None:
    scripts = Path(os.environ.get("DEBOOTSTRAP_DIR", "/usr/share/debootstrap")) / "scripts"
    if not scripts.is_dir():
        # No debootstrap here at all: say what to install, not that the name is unknown.
        _debootstrap()
        raise ToolchainError(
            f"debootstrap's scripts are missing ({scripts})",
            hint="reinstall it: apt-get install --reinstall debootstrap",
        )
    if not re.match(r"^[a-z][a-z0-9-]*$", dist) or not (scripts / dist).exists():
        known = sorted(p.name for p in scripts.iterdir()) if scripts.is_dir() else []
        raise InputError(
            f"debootstrap does not know the distribution {dist!r}",
            hint="a newer debootstrap may know it; known here: " + ", ".join(known[-12:]),
        )


def _check_emulation(arch: str) -> Path:
    """The host's static emulator for ``arch``, after checking the kernel will use it."""
    name = qemu_name(arch)
    static = run.which(f"qemu-{name}-static")
    if static is None:
        raise ToolchainError(
            f"qemu-{name}-static is not installed; it is needed to make an {arch} root",
            hint="apt-get install qemu-user-static binfmt-support",
        )
    if not (BINFMT / f"qemu-{name}").exists():
        raise ToolchainError(
            f"the kernel has no binfmt_misc handler for {arch} programs ({BINFMT}/qemu-{name})",
            hint=f"register it on the host: update-binfmts --enable qemu-{name} (in a container, "
            "on the container's host)",
        )
    return static


def _remove_stale_partials(target: Path) -> None:
    remove_dead_temps(target.parent, f"{target.name}{PARTIAL}", remove=remove_tree)


def apt_install(root: Path, packages: Sequence[str], log: IO[str]) -> None:
    """apt-get update and install ``packages`` inside ``root``, without recommended packages."""
    steps = [
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        # The downloaded .deb files are a third of a root's size and never used again.
        ["apt-get", "clean"],
    ]
    for step in steps:
        done = run_inside(root, step, env=_APT_ENV, log=log)
        if done.ok:
            continue
        output = done.stdout + done.stderr
        unknown = _UNKNOWN_PACKAGE.search(output)
        if unknown:
            raise InputError(
                f"no package {unknown.group(1) or unknown.group(2)} in the apt sources of {root}",
                hint="check the name (apt-cache search inside the root), or add a component "
                "to the root's /etc/apt/sources.list",
            )
        if _NETWORK.search(output):
            raise NetworkError(
                f"{step[0]} {step[1]} could not reach the archive: {_tail(output)}",
                hint=f"check the network and the root's /etc/apt/sources.list; log: {log.name}",
            )
        raise ToolchainError(
            f"{' '.join(step[:2])} failed inside {root}: {_tail(output)}",
            hint=f"read the log {log.name}",
        )


def install_packages(root: Path, items: Sequence[str], log: IO[str]) -> marker.RootInfo | None:
    """Install package sets and packages into an existing root; update its record if it has one."""
    selection = packagesets.select(items)
    if not selection.packages:
        raise InputError("no packages given", hint="name a package set or a Debian package")
    apt_install(root, selection.packages, log)
    if not (root / marker.MARKER).exists():
        return None
    info = marker.add_packages(marker.read_marker(root), selection.sets, selection.packages)
    marker.write_marker(root, info)
    return info


#: Where Debian and Ubuntu keep certificate authorities added locally (a company's proxy CA).
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


def trust_host_certificates(root: Path, log: IO[str], local: Path = LOCAL_CAS) -> int:
    """Make the root trust the certificate authorities this machine added locally.

    Behind a TLS-inspecting proxy the host reaches PyPI only because it trusts the proxy's CA;
    a fresh root does not, and every pip download inside it fails with "self-signed
    certificate in certificate chain". The host's added CAs are copied into the root's own
    directory for them and its bundle is made again. Returns how many were copied.
    """
    if not local.is_dir():
        return 0
    found = sorted(p for p in local.rglob("*.crt") if p.is_file())
    if not found:
        return 0
    dest = root / "usr" / "local" / "share" / "ca-certificates"
    for cert in found:
        target = dest / cert.relative_to(local)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cert, target)
    if (root / "usr" / "sbin" / "update-ca-certificates").exists():
        done = run_inside(root, ["update-ca-certificates"], log=log)
        if not done.ok:
            raise ToolchainError(
                f"update-ca-certificates failed in {root}: {_tail(done.stdout + done.stderr)}",
                hint="install the ca-certificates package in the root",
            )
    return len(found)


def _debootstrap_ok(done: run.Completed, mirror: str, log: Path) -> None:
    if done.ok:
        return
    output = done.stdout + done.stderr
    if _NETWORK.search(output):
        raise NetworkError(
            f"debootstrap could not fetch from {mirror}: {_tail(output)}",
            hint=f"check the network or pass another --mirror URL; full log: {log}",
        )
    raise ToolchainError(f"debootstrap failed: {_tail(output)}", hint=f"read the log {log}")


def _publish(partial: Path, target: Path) -> None:
    try:
        partial.rename(target)
    except OSError as exc:
        # Another creation of the same root finished first: its root stands, this one goes.
        raise InputError(
            f"{target} appeared while this root was being made ({exc.strerror})",
            hint="two creations of one root ran at once; use the one that finished",
        ) from None


def create_root(
    dist: str,
    target: Path,
    *,
    arch: str | None = None,
    mirror: str | None = None,
    packages: Sequence[str] = (),
    log_dir: Path | None = None,
) -> CreateResult:
    """Create a ``minbase`` root of ``dist`` at ``target`` with ``packages`` (sets or names).

    The output of the tools goes to a log in ``log_dir`` (default: the system's temporary
    directory); it moves into the root when the root is complete, and stays in ``log_dir``,
    named in the error, when creation fails.
    """
    target = target.absolute()
    if target.exists() or target.is_symlink():
        raise InputError(
            f"{target} already exists",
            hint="choose another directory, or delete this root first",
        )
    _check_dist(dist)
    selection = packagesets.select(packages)
    require_superuser("creating a root")
    debootstrap = _debootstrap()
    unshare = run.which("unshare")
    if unshare is None:
        raise ToolchainError("`unshare` is not installed", hint="apt-get install util-linux")
    host = host_arch()
    arch = arch or host
    foreign = arch != host and arch not in _NATIVE.get(host, set())
    static = _check_emulation(arch) if foreign else None
    mirror = mirror or host_mirror()

    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target)
    partial = target.with_name(f"{target.name}{PARTIAL}{os.getpid()}")
    fd, log_name = tempfile.mkstemp(
        prefix=f"torchbuild-root-{target.name}-", suffix=".log", dir=log_dir
    )
    log_path = Path(log_name)
    timings: list[tuple[str, float]] = []
    try:
        with os.fdopen(fd, "w") as out:
            args = [debootstrap, f"--variant={VARIANT}", f"--arch={arch}"]
            if foreign:
                args.append("--foreign")
            # debootstrap mounts /proc and /sys in the new root while it works; in a private
            # namespace those mounts cannot outlive it, even when it is killed.
            args = [str(unshare), "--mount", "--propagation", "private", *args]
            args += [dist, str(partial), mirror]
            started = time.monotonic()
            _debootstrap_ok(run_long(args, log=out), mirror, log_path)
            timings.append(("debootstrap", time.monotonic() - started))
            if static is not None:
                started = time.monotonic()
                shutil.copy2(static, partial / "usr" / "bin" / static.name)
                second = ["/debootstrap/debootstrap", "--second-stage"]
                _debootstrap_ok(run_inside(partial, second, log=out), mirror, log_path)
                timings.append(("second-stage", time.monotonic() - started))
            if selection.packages:
                started = time.monotonic()
                apt_install(partial, selection.packages, out)
                timings.append(("packages", time.monotonic() - started))
            trust_host_certificates(partial, out)
        info = marker.RootInfo(
            dist=dist,
            arch=arch,
            host_arch=host,
            mirror=mirror,
            variant=VARIANT,
            package_sets=selection.sets,
            packages=selection.packages,
            created=marker.now(),
            created_by=f"torchbuild {__version__}",
            timings=tuple(timings),
        )
        marker.write_marker(partial, info)
        shutil.move(str(log_path), str(partial / CREATE_LOG))
        _publish(partial, target)
    except BaseException as failure:
        if not names_log(failure, log_path):
            # Only a log the error points the user to is worth keeping.
            log_path.unlink(missing_ok=True)
        try:
            remove_tree(partial)
        except InputError as exc:
            # Something is mounted inside: keeping the partial root is the safe choice, and the
            # error that stopped the creation is the one the user needs to see.
            _log.warning("%s; kept %s", exc.message, partial)
        raise
    return CreateResult(target, info, target / CREATE_LOG)
