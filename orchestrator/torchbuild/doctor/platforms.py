"""Findings on platform and tags: no wheel for this OS, architecture, libc or Python, and the
way out on macOS and Windows, where torchbuild builds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..resolve import tags
from ..resolve.reasons import friendly_platform, tag_reason
from .report import Finding, Severity

if TYPE_CHECKING:
    from packaging.version import Version

    from ..target import Target
    from .diagnose import Judge

__all__ = [
    "LINUX_ONLY",
    "foreign_findings",
    "foreign_way_out",
    "no_wheel_finding",
    "platform_findings",
    "where_words",
]


#: What torchbuild says wherever it would offer to build for a macOS or Windows target.
LINUX_ONLY = "torchbuild builds on Linux only"


def where_words(target: Target) -> str:
    """A macOS or Windows target as a person names it: "macOS x86_64 (Intel)", "Windows with
    a 32-bit Python"."""
    if target.os == "macos":
        chip = {"x86_64": "x86_64 (Intel)", "aarch64": "arm64 (Apple silicon)"}
        return f"macOS {chip.get(target.arch, target.arch)}"
    bits = {"x86_64": "a 64-bit Python", "i686": "a 32-bit Python", "aarch64": "an arm64 Python"}
    return f"Windows with {bits.get(target.arch, target.arch + ' Python')}"


def foreign_way_out(target: Target, pins: Sequence[str]) -> str:
    """The way out on macOS or Windows, where torchbuild cannot build: an older release that
    has wheels there (``pins``), another interpreter, or Linux."""
    pinned = f"pin {', '.join(pins)} (the newest with wheels there)" if pins else ""
    if target.os == "windows":
        steps = [pinned] if pins else []
        if target.arch != "x86_64":
            steps.append('install a 64-bit Python (python.org\'s "Windows installer (64-bit)")')
        steps.append("or use WSL2 (Linux), where PyPI's wheels and torchbuild both work")
    else:
        steps = [pinned] if pins else []
        if target.arch == "x86_64":
            steps.append("use an Apple silicon Mac")
        steps.append("or use Linux (a VM, a container or another machine) for newer releases")
    return "; ".join(s for s in steps if s) + f" ({LINUX_ONLY})"


def foreign_findings(judge: Judge, packages: Sequence[str]) -> list[Finding]:
    """macOS and Windows: which releases the indexes have wheels for there (read from the file
    names' platform tags), and the way out. torchbuild builds nothing for them."""
    target = judge.target
    where = where_words(target)
    missing: list[str] = []
    behind: list[tuple[str, Version, Version]] = []
    newest_platforms: set[str] = set()
    for package in packages:
        versions = judge.published(package)
        if not versions:
            continue
        newest_platforms.update(
            friendly_platform(t.platform)
            for c in judge.candidates(package, versions[0])
            for t in c.tags
        )
        fit = _newest_tag_fit(judge, package)
        if fit is None:
            missing.append(package)
        elif fit != versions[0]:
            behind.append((package, versions[0], fit))
    names = ", ".join
    pins = [f"{p}=={fit}" for p, _, fit in behind]
    out = []
    if missing:
        out.append(
            Finding(
                "no-wheels-for-platform",
                "error",
                f"no release of {names(missing)} has wheels for {where}",
                f"the newest releases have wheels only for: {names(sorted(newest_platforms))}",
                foreign_way_out(target, pins),
            )
        )
    if behind:
        out.append(
            Finding(
                "platform-dropped",
                "warning",
                f"{where} gets no release newer than {names(f'{p} {fit}' for p, _, fit in behind)}",
                names(f"{p} {newest}" for p, newest, _ in behind)
                + f" have wheels only for: {names(sorted(newest_platforms))}; pip falls back to "
                + names(f"{p} {fit}" for p, _, fit in behind),
                foreign_way_out(target, pins),
                names(f"{p} {fit}" for p, _, fit in behind),
            )
        )
    return out


def platform_findings(judge: Judge, packages: Sequence[str], pkgs: str) -> list[Finding]:
    """OS/arch/libc with no wheels at all, and a glibc older than the newest wheels need."""
    target = judge.target
    if target.os != "linux":
        return foreign_findings(judge, packages)
    arch = target.arch
    no_arch: list[str] = []
    no_musl: list[str] = []
    glibc: dict[tuple[int, int], list[tuple[str, Version]]] = {}
    published_for: set[str] = set()
    for package in packages:
        versions = judge.published(package)
        if not versions:
            continue
        wheels = [c for v in versions for c in judge.candidates(package, v)]
        published_for.update(
            friendly_platform(t.platform)
            for c in judge.candidates(package, versions[0])
            for t in c.tags
        )
        same_arch = [
            t.platform
            for c in wheels
            for t in c.tags
            if t.platform.endswith("_" + arch) and not t.platform.startswith("macosx")
        ]
        if not same_arch:
            no_arch.append(package)
            continue
        if target.libc.name == "musl":
            if not any(p.startswith("musllinux") for p in same_arch):
                no_musl.append(package)
            continue
        newest_needs = [
            g
            for c in judge.candidates(package, versions[0])
            for t in c.tags
            if t.platform.endswith("_" + arch)
            for g in [tags.glibc_of_platform(t.platform)]
            if g is not None
        ]
        have = tags.glibc_of_platform(
            "manylinux_" + (target.libc.version or tags.ASSUMED_GLIBC).replace(".", "_") + "_x"
        )
        if newest_needs and have and min(newest_needs) > have:
            glibc.setdefault(min(newest_needs), []).append((package, versions[0]))
    out = []
    names = ", ".join
    if no_arch:
        fix = f"build with `torchbuild wheel {pkgs}`"
        if arch in ("armv7l", "armv6l"):
            fix = (
                "on a Raspberry Pi, install the 64-bit OS (aarch64), where PyPI's wheels work; "
                f"or {fix} (torch 2.x on 32-bit Arm is unsupported territory: expect patches and "
                "a very long build)"
            )
        out.append(
            Finding(
                "no-wheels-for-platform",
                "error",
                f"no release of {names(no_arch)} has wheels for {target.os}/{arch}",
                f"the configured indexes have {names(no_arch)} wheels only for: "
                f"{names(sorted(published_for))}",
                fix,
            )
        )
    if no_musl:
        out.append(
            Finding(
                "musl",
                "error",
                f"no release of {names(no_musl)} has wheels for musl libc",
                f"the {arch} wheels are all manylinux (glibc) builds; this target uses musl "
                f"{target.libc.version or ''}".rstrip(),
                f"use a glibc-based system or image (Debian, Ubuntu), or build with "
                f"`torchbuild wheel {pkgs}`",
            )
        )
    for need_glibc, items in sorted(glibc.items()):
        pkgs_here = [p for p, _ in items]
        newest_ok = [
            f"{p} {fit}"
            for p in pkgs_here
            for fit in [_newest_tag_fit(judge, p)]
            if fit is not None
        ]
        severity: Severity = "warning" if len(newest_ok) == len(pkgs_here) else "error"
        evidence = (
            f"the newest {arch} wheels ("
            + names(f"{p} {v}" for p, v in items)
            + f") need glibc {need_glibc[0]}.{need_glibc[1]}; this target has "
            f"{target.libc.version or 'an unknown version'}"
        )
        if newest_ok:
            evidence += "; pip falls back to " + names(newest_ok)
        out.append(
            Finding(
                "glibc-too-old",
                severity,
                f"glibc {target.libc.version} is older than the newest wheels need",
                evidence,
                f"move to an OS with glibc >= {need_glibc[0]}.{need_glibc[1]}, or build the newest "
                f"with `torchbuild wheel {pkgs}`",
                names(newest_ok) or None,
            )
        )
    return out


def no_wheel_finding(judge: Judge, package: str, newest_fit: Version | None, pkgs: str) -> Finding:
    """pip finds no installable version of ``package`` (and no platform-wide cause explains it)."""
    published = judge.published(package)
    if not published:
        return Finding(
            "no-files",
            "error",
            f"no configured index has any {package} release",
            "looked in: " + ", ".join(sorted({li.source.describe() for li in judge.listings})),
            f"check where pip looks (`pip config list`), or build with `torchbuild wheel {pkgs}`",
        )
    newest = published[0]
    reason = tag_reason(
        package, newest, judge.candidates(package, newest), judge.target, judge.tagset
    )
    if judge.target.os != "linux":
        fix = foreign_way_out(judge.target, [f"{package}=={newest_fit}"] if newest_fit else [])
    elif newest_fit is not None:
        fix = (
            f"install {package} {newest_fit}, the newest release with a wheel that fits, by its "
            f"file (`install exactly` below), or build the newest with `torchbuild wheel {pkgs}`"
        )
    else:
        fix = f"build it with `torchbuild wheel {pkgs}`"
    return Finding(
        "no-wheel",
        "error",
        f"pip finds no {package} wheel for {judge.tagset.interpreter} on "
        f"{judge.tagset.best_platform}",
        reason,
        fix,
        None if newest_fit is None else str(newest_fit),
    )


def _newest_tag_fit(judge: Judge, package: str) -> Version | None:
    for version in judge.published(package):
        if judge.pip_pick(package, version) is not None:
            return version
    return None
