"""Making a sysroot from a distribution's packages for another machine, without running any
of its code.

apt itself resolves and downloads the packages, in a private configuration (its own sources,
lists, cache and an empty package database, with the target's architecture as the native one),
so the machine's apt state is never touched and no root privileges are needed. Each ``.deb``
is then unpacked with ``dpkg-deb -x``; no maintainer script runs, which is why neither QEMU nor
binfmt_misc is needed. Absolute links are made relative so they stay inside the sysroot.

A sysroot appears complete or not at all: it is assembled in ``DIR.partial-<pid>`` and renamed
once its record (``.torchbuild-sysroot.json``) is written. Asking again for the same sysroot
(same distribution, architecture and packages) returns the existing one, so a CI cache can
restore it and the next run goes on at once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import run
from ..errors import InputError, NetworkError, ToolchainError
from ..fs import remove_dead_temps
from ..roots.aptsources import host_mirror, read_apt_sources
from ..roots.marker import now
from ..roots.runner import run_long
from .alternatives import Alternative, apply_alternatives, parse_alternatives, postinst_of
from .arches import cross_arch
from .sysroot import Sysroot, fix_absolute_links, inspect_sysroot, link_merged_usr

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DEFAULT_PACKAGES",
    "MARKER",
    "SysrootRecord",
    "prepare_sysroot",
    "read_record",
]

MARKER = ".torchbuild-sysroot.json"
FORMAT = 1
PARTIAL = ".partial-"
#: The C library with its development files, the C++ runtime, and the distribution's default
#: Python with its headers (``python3-dev`` depends on ``python3.X-dev`` and the interpreter,
#: so one name fits every release; the interpreter is what tests run under QEMU).
DEFAULT_PACKAGES = ("libc6-dev", "libstdc++6", "python3-dev")
#: Debian's own archive key, used when the machine's apt entry names none.
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")

_NETWORK = re.compile(
    r"Failed to fetch|Temporary failure resolving|Could not resolve|Connection refused|"
    r"Could not connect|Network is unreachable|Unable to connect|No route to host"
)
_UNKNOWN = re.compile(
    r"E: Unable to locate package (\S+)|E: Package '([^']+)' has no installation candidate"
)
_SIGNATURE = re.compile(r"NO_PUBKEY|is not signed|signatures couldn't be verified")


@dataclass(frozen=True)
class SysrootRecord:
    """How a sysroot was made: written last, read to reuse it."""

    dist: str
    arch: str  #: Debian architecture
    mirror: str
    packages: tuple[str, ...]  #: as asked for
    debs: tuple[str, ...]  #: the .deb files unpacked (name_version_arch), sorted
    created: str
    seconds: float


def read_record(path: Path) -> SysrootRecord | None:
    """The record of a sysroot made by torchbuild; ``None`` when there is none."""
    try:
        raw: Any = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("version") != FORMAT:
        return None
    return SysrootRecord(
        dist=str(raw["dist"]),
        arch=str(raw["arch"]),
        mirror=str(raw["mirror"]),
        packages=tuple(raw["packages"]),
        debs=tuple(raw["debs"]),
        created=str(raw["created"]),
        seconds=float(raw["seconds"]),
    )


def _write_record(path: Path, record: SysrootRecord) -> None:
    data = {
        "version": FORMAT,
        "dist": record.dist,
        "arch": record.arch,
        "mirror": record.mirror,
        "packages": list(record.packages),
        "debs": list(record.debs),
        "created": record.created,
        "seconds": round(record.seconds, 1),
    }
    tmp = path / f"{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path / MARKER)


def _keyring(mirror: str) -> Path | None:
    """The keyring the machine's apt trusts for ``mirror``, else Debian's if installed."""
    for source in read_apt_sources():
        signed_by = source.option("signed-by")
        if source.uri.rstrip("/") == mirror.rstrip("/") and signed_by and "\n" not in signed_by:
            return Path(signed_by)
    return DEBIAN_KEYRING if DEBIAN_KEYRING.is_file() else None


def _apt_config(state: Path, debian_arch: str) -> Path:
    """A private apt configuration under ``state``: nothing of the machine's apt is used."""
    for sub in (
        "etc/apt/sources.list.d",
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg",
    ):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "var/lib/dpkg/status").touch()
    lines = [
        f'Dir "{state}/";',
        f'Dir::State::status "{state}/var/lib/dpkg/status";',
        # The target's architecture is the native one of this private database, so plain
        # package names mean the target's packages.
        f'APT::Architecture "{debian_arch}";',
        f'APT::Architectures {{ "{debian_arch}"; }};',
        'APT::Install-Recommends "false";',
        'Acquire::Languages "none";',
        # As root, apt downloads as the _apt user, who cannot write into a private directory.
        'APT::Sandbox::User "root";',
        'Dir::Etc::TrustedParts "/etc/apt/trusted.gpg.d";',
    ]
    config = state / "apt.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


def _apt(config: Path, args: Sequence[str], what: str) -> run.Completed:
    apt_get = run.which("apt-get")
    if apt_get is None:
        raise ToolchainError(
            "apt-get is not installed; it is needed to fetch the sysroot's packages",
            hint="prepare the sysroot on a Debian or Ubuntu machine",
        )
    env = dict(os.environ, APT_CONFIG=str(config), LC_ALL="C.UTF-8")
    done = run_long([str(apt_get), *args], env=env, timeout=3600)
    if done.ok:
        return done
    output = done.stdout + done.stderr
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = ([line for line in lines if line.startswith("E:")] or lines or ["no output"])[-1]
    unknown = _UNKNOWN.search(output)
    if unknown:
        raise InputError(
            f"no package {unknown.group(1) or unknown.group(2)} for {what}",
            hint="check the package name for this distribution (apt-cache search on a machine "
            "of that release)",
        )
    if _SIGNATURE.search(output):
        raise ToolchainError(
            f"apt cannot check the signature of the archive for {what}: {last}",
            hint="give the keyring of that archive (--keyring FILE), e.g. Ubuntu's for an "
            "Ubuntu mirror",
        )
    if _NETWORK.search(output):
        raise NetworkError(f"apt could not fetch the packages for {what}: {last}")
    raise ToolchainError(f"apt-get {args[0]} failed for {what}: {last}")


def _downloaded(state: Path, what: str) -> list[Path]:
    debs = sorted((state / "var/cache/apt/archives").glob("*.deb"))
    if not debs:
        raise ToolchainError(f"apt downloaded no packages for {what}")
    return debs


def _extract(debs: Sequence[Path], into: Path) -> list[Alternative]:
    """Unpack ``debs`` into ``into``; the alternatives their ``postinst`` scripts register."""
    dpkg_deb = run.which("dpkg-deb")
    if dpkg_deb is None:
        raise ToolchainError("dpkg-deb is not installed", hint="apt-get install dpkg")
    alternatives = []
    for deb in debs:
        done = run.capture([str(dpkg_deb), "-x", str(deb), str(into)], timeout=600)
        if not done.ok:
            raise ToolchainError(
                f"dpkg-deb could not unpack {deb.name}: {done.stderr.strip()[-300:]}",
                hint="the download may be damaged; run the command again",
            )
        alternatives += parse_alternatives(postinst_of(deb, str(dpkg_deb)))
    return alternatives


def _remove_stale(dest: Path) -> None:
    remove_dead_temps(
        dest.parent, f"{dest.name}{PARTIAL}", remove=partial(shutil.rmtree, ignore_errors=True)
    )


def _check_reusable(dest: Path, dist: str, debian_arch: str, packages: tuple[str, ...]) -> None:
    record = read_record(dest)
    if record is None:
        raise InputError(
            f"{dest} already exists and is not a sysroot made by torchbuild",
            hint="choose another directory, or delete this one first",
        )
    if (record.dist, record.arch, record.packages) != (dist, debian_arch, packages):
        raise InputError(
            f"{dest} is a sysroot of {record.dist} {record.arch} with "
            f"{', '.join(record.packages)}, not the one asked for",
            hint="choose another directory, or delete this one to make it again",
        )


def prepare_sysroot(
    dest: Path,
    *,
    dist: str,
    arch: str,
    packages: Sequence[str] = DEFAULT_PACKAGES,
    mirror: str | None = None,
    keyring: Path | None = None,
    python_version: str | None = None,
) -> Sysroot:
    """Make (or reuse) a sysroot of ``dist`` for ``arch`` at ``dest`` from ``packages``.

    ``mirror`` defaults to the Debian archive of this machine's apt configuration and
    ``keyring`` to the key apt trusts for it. ``python_version`` picks the headers when the
    packages bring several.
    """
    names = cross_arch(arch)
    dest = dest.absolute()
    wanted = tuple(packages)
    if not wanted:
        raise InputError("no packages given for the sysroot", hint="name at least libc6-dev")
    if not re.match(r"^[a-z][a-z0-9.-]*$", dist):
        raise InputError(f"{dist!r} is not a distribution code name", hint="e.g. bookworm")
    if dest.exists():
        _check_reusable(dest, dist, names.debian, wanted)
        link_merged_usr(dest)  # a sysroot made before torchbuild did this
        return inspect_sysroot(dest, names.arch, python_version=python_version)
    mirror = mirror or host_mirror()
    keyring = keyring or _keyring(mirror)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(dest)
    partial = dest.with_name(f"{dest.name}{PARTIAL}{os.getpid()}")
    state = Path(tempfile.mkdtemp(prefix=f".{dest.name}-apt-", dir=dest.parent))
    started = time.monotonic()
    try:
        config = _apt_config(state, names.debian)
        options = f"arch={names.debian}" + (f" signed-by={keyring}" if keyring else "")
        (state / "etc/apt/sources.list").write_text(f"deb [{options}] {mirror} {dist} main\n")
        what = f"{dist} {names.debian}"
        _apt(config, ["update", "-q"], what)
        _apt(config, ["install", "-y", "-q", "--download-only", *wanted], what)
        debs = _downloaded(state, what)
        partial.mkdir()
        alternatives = _extract(debs, partial)
        fix_absolute_links(partial)
        link_merged_usr(partial)
        # Once every package is in and every link points inside: a link may lead into
        # another package's files.
        apply_alternatives(partial, alternatives)
        inspect_sysroot(partial, names.arch, python_version=python_version)
        record = SysrootRecord(
            dist=dist,
            arch=names.debian,
            mirror=mirror,
            packages=wanted,
            debs=tuple(deb.name for deb in debs),
            created=now(),
            seconds=time.monotonic() - started,
        )
        _write_record(partial, record)
        try:
            partial.rename(dest)
        except OSError as exc:
            raise InputError(
                f"{dest} appeared while the sysroot was being made ({exc.strerror})",
                hint="two preparations of one sysroot ran at once; use the one that finished",
            ) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return inspect_sysroot(dest, names.arch, python_version=python_version)
