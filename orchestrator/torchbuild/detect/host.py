"""The platform itself: OS, machine architecture, C library, distribution and CPU."""

from __future__ import annotations

import os
import platform
import re
import struct
import sys
from typing import TYPE_CHECKING

from .. import resources
from ..target import Cpu, Distro, Libc

if TYPE_CHECKING:
    from .fs import Root
    from .packages import Packages

__all__ = [
    "host_arch",
    "host_libc",
    "normalize_arch",
    "parse_cpuinfo",
    "parse_ldd_version",
    "parse_os_release",
    "root_arch",
    "root_libc",
]

_ARCH_ALIASES = {
    "amd64": "x86_64",
    "x64": "x86_64",
    "arm64": "aarch64",
    "armv8": "aarch64",
    "armv8l": "armv7l",  # a 32-bit userland on an ARMv8 kernel
    "armhf": "armv7l",
    "armv7": "armv7l",
    "armel": "armv6l",
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "x86": "i686",
    "ppc64el": "ppc64le",
}


def normalize_arch(machine: str) -> str:
    name = machine.strip().lower()
    return _ARCH_ALIASES.get(name, name)


def host_arch() -> str:
    """The architecture of *this interpreter's* userland, which is what wheels must match.

    ``uname -m`` names the kernel: a 32-bit Raspberry Pi OS on a 64-bit kernel says aarch64,
    yet needs armv7l wheels, so a 32-bit interpreter on a 64-bit kernel is folded down.
    """
    arch = normalize_arch(platform.machine())
    if struct.calcsize("P") == 4:
        arch = {"aarch64": "armv7l", "x86_64": "i686"}.get(arch, arch)
    return arch


_LDD = re.compile(
    r"(?:GLIBC|GNU libc)[^)\n]*\)\s+(\d+\.\d+)|^ldd \(.*\)\s+(\d+\.\d+)", re.MULTILINE
)
_MUSL = re.compile(r"musl libc.*?\n\s*Version\s+(\d+\.\d+\.\d+)", re.DOTALL)


def parse_ldd_version(text: str) -> Libc | None:
    """Read ``ldd --version`` (glibc prints to stdout, musl to stderr: pass both)."""
    m = _MUSL.search(text)
    if m:
        return Libc("musl", m.group(1))
    m = _LDD.search(text)
    if m:
        return Libc("glibc", m.group(1) or m.group(2))
    return None


def host_libc(root: Root) -> Libc:
    # confstr is glibc's own answer, with no subprocess; musl has no such name.
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        value = None
    if value and value.startswith("glibc "):
        return Libc("glibc", value.split()[1])
    musl = _musl_from_files(root, None)
    if musl is not None:
        return musl
    name, version = platform.libc_ver()
    return Libc("glibc" if name in ("glibc", "") else name, version or None)


def _musl_from_files(root: Root, packages: Packages | None) -> Libc | None:
    loaders = [n for d in ("/lib", "/usr/lib") for n in root.listdir(d) if n.startswith("ld-musl-")]
    if not loaders:
        return None
    version = packages.version("musl") if packages else None
    if version is None:
        # The loader is libc itself; its text holds the version after the soname in musl >= 1.1.
        data = root.read_bytes(f"/lib/{loaders[0]}") or b""
        m = re.search(rb"\x00(1\.\d+\.\d+)\x00", data)
        version = m.group(1).decode() if m else None
    return Libc("musl", version)


_GLIBC_TEXT = re.compile(rb"GNU C Library [^\n]*?release version (\d+\.\d+)")


def root_libc(root: Root, packages: Packages, multiarch: str | None) -> Libc | None:
    musl = _musl_from_files(root, packages)
    if musl is not None:
        return musl
    version = packages.version("libc6") or packages.version("glibc")
    if version:
        return Libc("glibc", version)
    for libdir in _lib_dirs(multiarch):
        for name in root.listdir(libdir):
            m = re.fullmatch(r"libc-(\d+\.\d+)\.so", name)  # glibc < 2.34 names its file so
            if m:
                return Libc("glibc", m.group(1))
        data = root.read_bytes(f"{libdir}/libc.so.6")
        if data:
            m2 = _GLIBC_TEXT.search(data)
            if m2:
                return Libc("glibc", m2.group(1).decode())
    return None


def _lib_dirs(multiarch: str | None) -> list[str]:
    dirs = [f"/lib/{multiarch}", f"/usr/lib/{multiarch}"] if multiarch else []
    return [*dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


# ELF e_machine -> architecture (64-bit, 32-bit).
_ELF_MACHINES = {
    62: ("x86_64", "x86_64"),
    183: ("aarch64", "aarch64"),
    40: ("armv7l", "armv7l"),
    243: ("riscv64", "riscv32"),
    21: ("ppc64le", "ppc"),
    22: ("s390x", "s390"),
    3: ("i686", "i686"),
}


def root_arch(root: Root, board_arch32: str | None, python: str | None = None) -> str | None:
    """The architecture of a root's userland, from the ELF header of its Python or shell."""
    candidates = [python] if python else []
    for candidate in [*candidates, "/usr/bin/python3", "/bin/sh", "/usr/bin/env", "/bin/ls"]:
        head = root.read_bytes(candidate, 64)
        if not head or head[:4] != b"\x7fELF" or len(head) < 20:
            continue
        is64 = head[4] == 2
        little = head[5] == 1
        (machine,) = struct.unpack("<H" if little else ">H", head[18:20])
        names = _ELF_MACHINES.get(machine)
        if names is None:
            return None
        arch = names[0] if is64 else names[1]
        if machine == 40:
            # 32-bit Arm: the board decides between armv6l (Pi Zero/1) and armv7l.
            arch = board_arch32 or "armv7l"
        if machine == 21 and is64 and not little:
            arch = "ppc64"
        return arch
    return None


def parse_os_release(text: str) -> Distro | None:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    if "ID" not in fields:
        return None
    return Distro(fields["ID"], fields.get("VERSION_ID"), fields.get("PRETTY_NAME"))


def parse_cpuinfo(text: str) -> Cpu | None:
    """CPU model and feature flags from ``/proc/cpuinfo`` (x86 ``flags``, Arm ``Features``)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key not in fields:
            fields[key] = value.strip()
    features = tuple((fields.get("features") or fields.get("flags") or "").split())
    model = None
    implementer, part = fields.get("cpu implementer"), fields.get("cpu part")
    if implementer and part:
        parts: dict[str, str] = resources.table("boards").get("arm_cpu_part", {})
        model = parts.get(f"{implementer.lower()}:{part.lower()}")
    if model is None:
        model = fields.get("model name") or None
    if model is None and not features:
        return None
    return Cpu(model, features)


def is_linux() -> bool:
    return sys.platform.startswith("linux")
