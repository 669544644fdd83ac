"""Why ``pip install torch`` fails (or installs something that does not work) here, and what to do.

The doctor asks the same indexes pip would, works out what pip would pick for this target (the
newest release with a wheel whose tags and Requires-Python fit, as ``pip install`` does), and then
checks the usual causes one by one: a Python too old or too new for any release, an OS/arch/libc
with no wheels at all, a glibc older than the wheels need, CUDA toolkit vs driver vs the published
CUDA variants, GPU architectures the wheels lack, indexes that cannot be reached, and an installed
torch whose CUDA build does not work here. Every finding says what is wrong, the evidence, the way
out, and the newest release that does have a fitting wheel when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Sequence

from packaging.version import InvalidVersion, Version

from .. import resources
from ..resolve import matrix as matrix_mod
from ..resolve import tags, variants, wheelvariants
from ..resolve.candidates import (
    Candidate,
    available_versions,
    evaluate,
    file_version,
    pip_choice,
    project_files,
)
from ..resolve.pairing import Pairing
from ..resolve.pipconfig import DEFAULT_INDEX_URL
from ..resolve.plan import Decision
from ..resolve.reasons import friendly_platform, tag_reason
from ..target import to_json

if TYPE_CHECKING:
    from ..detect.torch import InstalledTorch
    from ..resolve.indexes import FileLink, IndexClient, Listing, Source
    from ..resolve.metadata import MetadataReader
    from ..resolve.pipconfig import PipConfig
    from ..target import Target
    from ..wheelhouse.config import InstallConfig

__all__ = ["Finding", "Outcome", "Report", "diagnose", "report_json"]

JSON_VERSION = 1

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    code: str
    #: "error": pip install fails or gives a set that does not work.
    severity: Severity
    what: str
    evidence: str
    fix: str
    newest_fitting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "what": self.what,
            "evidence": self.evidence,
            "fix": self.fix,
            "newest_fitting": self.newest_fitting,
        }


@dataclass(frozen=True)
class Outcome:
    """What ``pip install <package>`` would do on the target, and whether the result works."""

    name: str
    version: Version | None  # None: pip finds no installable version
    wheel: Candidate | None
    works: bool
    why: str = ""
    newest_fitting: Version | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": None if self.version is None else str(self.version),
            "wheel": None if self.wheel is None else self.wheel.choice().to_json(),
            "variant": None if self.wheel is None else self.wheel.variant.short(),
            "works": self.works,
            "why": self.why,
            "newest_fitting": None if self.newest_fitting is None else str(self.newest_fitting),
        }


@dataclass(frozen=True)
class Report:
    target: Target
    need: variants.Need | None
    findings: tuple[Finding, ...]
    outcomes: tuple[Outcome, ...]
    listings: tuple[Listing, ...] = field(default=())
    #: How to install the newest set that fits, file by file (pinned by hash, routed per
    #: package): None when pip install already works or nothing fits.
    install: InstallConfig | None = None

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def report_json(report: Report) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "target": to_json(report.target),
        "ok": report.ok,
        "need": None if report.need is None else variants.describe_need(report.need),
        "pip_would_install": [o.to_json() for o in report.outcomes],
        "findings": [f.to_json() for f in report.findings],
        "install": None if report.install is None else _install_json(report.install),
    }


def _install_json(config: InstallConfig) -> dict[str, Any]:
    return {
        "routes": [r.to_json() for r in config.routes],
        "commands": dict(config.commands),
        "files": dict(config.files),
        "notes": list(config.notes),
    }


# -- what pip would do -------------------------------------------------------------------------


class _Judge:
    """Evaluates (package, version) once, on tags, Requires-Python and variant."""

    def __init__(
        self,
        listings: Sequence[Listing],
        target: Target,
        tagset: tags.TagSet,
        need: variants.Need,
        matrix: matrix_mod.Matrix,
        pairing: Pairing,
        book: wheelvariants.Book | None = None,
    ) -> None:
        self.listings = listings
        self.book = book
        self.target = target
        self.tagset = tagset
        self.need = need
        self.matrix = matrix
        # Which torch a companion goes with: its wheel's METADATA, else the table.
        self.pairing = pairing
        self.versions = available_versions(listings)
        self._memo: dict[tuple[str, Version], list[Candidate]] = {}
        # Files grouped by public version, parsed once (a project has ~1000 files).
        self._groups: dict[str, dict[Version, list[tuple[Source, FileLink]]]] = {}

    def published(self, package: str) -> list[Version]:
        return sorted(
            (v for v in self.versions.get(package, ()) if not v.is_prerelease), reverse=True
        )

    def candidates(self, package: str, version: Version) -> list[Candidate]:
        key = (package, version)
        if key not in self._memo:
            torch_for = None
            if package != "torch":
                torch_for = self.pairing.pin(package, version).lowest
            self._memo[key] = evaluate(
                package,
                version,
                self._group(package).get(version, []),
                self.target,
                self.tagset,
                self.need,
                torch_for=torch_for,
                book=self.book,
            )
        return self._memo[key]

    def _group(self, package: str) -> dict[Version, list[tuple[Source, FileLink]]]:
        if package not in self._groups:
            groups: dict[Version, list[tuple[Source, FileLink]]] = {}
            for source, link in project_files(self.listings, package):
                parsed = file_version(link.filename)
                if parsed is not None:
                    groups.setdefault(Version(parsed[0].public), []).append((source, link))
            self._groups[package] = groups
        return self._groups[package]

    def pip_pick(self, package: str, version: Version) -> Candidate | None:
        # pip looks only where it is configured; the known sources are torchbuild's own.
        return pip_choice([c for c in self.candidates(package, version) if c.source.known is None])

    def fitting(self, package: str, version: Version, torch: Candidate | None) -> Candidate | None:
        usable = []
        for c in self.candidates(package, version):
            if c.rank is None or not c.python_ok or c.problems:
                continue
            if torch is not None and package != "torch":
                stable = self.matrix.is_stable_abi(package, version)
                if variants.pairing_problem(c.variant, torch.variant, stable_abi=stable):
                    continue
            usable.append(c)
        return pip_choice(usable)


def _pip_set(judge: _Judge, packages: Sequence[str]) -> dict[str, tuple[Version, Candidate]]:
    """pip's answer for ``pip install <packages>``: the newest torch with an installable wheel
    for which every companion has an installable release built for it."""
    companions = [p for p in packages if p != "torch"]
    for torch in judge.published("torch"):
        pick = judge.pip_pick("torch", torch)
        if pick is None:
            continue
        chosen = {"torch": (torch, pick)}
        for package in companions:
            for version in judge.published(package):
                if not judge.pairing.pin(package, version).contains(torch):
                    continue
                found = judge.pip_pick(package, version)
                if found is not None:
                    chosen[package] = (version, found)
                    break
            else:
                break
        else:
            return chosen
    return {}


def _newest_fitting(
    judge: _Judge, package: str, torch: Candidate | None
) -> tuple[Version, Candidate] | None:
    for version in judge.published(package):
        if (
            package != "torch"
            and torch is not None
            and not judge.pairing.pin(package, version).contains(torch.version)
        ):
            continue
        found = judge.fitting(package, version, torch)
        if found is not None:
            return version, found
    return None


# -- the checks --------------------------------------------------------------------------------


def _python_findings(target: Target, matrix: matrix_mod.Matrix) -> list[Finding]:
    assert target.python is not None
    py = tags.python_tuple(target)
    ft = target.python.free_threaded
    label = f"{py[0]}.{py[1]}" + ("t" if ft else "")
    oldest, newest = matrix.oldest, matrix.newest
    if py < oldest.python_min:
        fix = (
            f"use Python {newest.python_text()} for current torch (any Python >= "
            f"{matrix_mod.py_text(oldest.python_min)} gets torch {oldest.torch} or newer), e.g. a "
            "newer distribution Python or `uv python install 3.12`, then run `torchbuild doctor` "
            "with it"
        )
        if target.jetson and target.jetson.l4t.startswith("32."):
            fix += "; on JetPack 4 NVIDIA's last wheels are torch 1.10 for Python 3.6"
        return [
            Finding(
                "python-too-old",
                "error",
                f"Python {label} is older than any torch release supports",
                f"the oldest release in the matrix, torch {oldest.torch}, needs Python "
                f"{matrix_mod.py_text(oldest.python_min)} or newer",
                fix,
            )
        ]
    if py > newest.python_max:
        return [
            Finding(
                "python-too-new",
                "error",
                f"Python {label} is newer than any torch release supports",
                f"the newest release, torch {newest.torch}, supports Python up to "
                f"{matrix_mod.py_text(newest.python_max)}",
                f"use Python {matrix_mod.py_text(newest.python_max)} or older, or try a source "
                "build with `torchbuild wheel torch --ignore-matrix` (unsupported)",
            )
        ]
    if ft and matrix.newest_for_python(py, free_threaded=True) is None:
        return [
            Finding(
                "python-free-threaded",
                "error",
                f"no torch release supports free-threaded Python {label}",
                "free-threaded builds exist for: "
                + ", ".join(
                    sorted(
                        {
                            matrix_mod.py_text(p) + "t"
                            for s in matrix.series
                            for p in s.free_threaded
                        }
                    )
                ),
                f"use the regular (GIL) Python {py[0]}.{py[1]}",
            )
        ]
    return []


def _index_findings(listings: Iterable[Listing], pip: PipConfig | None) -> list[Finding]:
    out: list[Finding] = []
    seen: set[Source] = set()
    answered = False
    known: list[Finding] = []
    for listing in listings:
        if listing.ok:
            answered = answered or listing.source.kind != "wheelhouse"
            continue
        if listing.source in seen:
            continue
        seen.add(listing.source)
        src = listing.source
        if src.known:  # asked by torchbuild, not by pip: nothing for the user to fix
            known.append(
                Finding(
                    "known-source-unreachable",
                    "info",
                    f"cannot read the known wheel source {src.location}",
                    f"{listing.error} ({src.origin})",
                    f"pip does not use it; give a reachable copy with TORCHBUILD_MIRRORS="
                    f'"{src.known}=URL", or leave the known sources out with --no-known-indexes',
                )
            )
            continue
        out.append(
            Finding(
                "index-unreachable",
                "warning",
                f"cannot read the {'index' if src.kind == 'index' else src.kind} {src.location}",
                f"{listing.error} (configured by {src.origin})",
                "fix or remove it where it is configured; pip skips it too, but anything only it "
                "serves is not found",
            )
        )
    if out and not answered:
        out = [
            Finding(o.code, "error", o.what, o.evidence, o.fix + "; no index answered at all")
            for o in out
        ]
    out.extend(known)
    for problem in pip.problems if pip is not None else ():
        out.append(
            Finding(
                "pip-config",
                "error",
                "a pip configuration file cannot be read; pip itself refuses to run",
                problem,
                "fix the file (INI syntax: [global] then key = value) or remove it",
            )
        )
    return out


def _cuda_findings(target: Target, need: variants.Need) -> list[Finding]:
    out: list[Finding] = []
    toolkit = target.cuda.toolkit if target.cuda else None
    if toolkit and need.driver_cuda:
        try:
            too_new = Version(toolkit) > Version(need.driver_cuda)
        except InvalidVersion:
            too_new = False
        if too_new:
            out.append(
                Finding(
                    "cuda-toolkit-driver",
                    "warning",
                    f"the CUDA toolkit {toolkit} is newer than the driver runs",
                    f"nvcc is {toolkit}; the driver supports CUDA {need.driver_cuda}",
                    f"update the driver for CUDA {toolkit}, or build with a toolkit <= "
                    f"{need.driver_cuda}: code built with {toolkit} will not run on this driver",
                )
            )
    if need.kind == "cuda" and need.capabilities and need.driver_cuda is None:
        out.append(
            Finding(
                "cuda-driver-unknown",
                "info",
                "the driver's CUDA version is not known",
                "the profile has no cuda.driver_cuda and no driver version",
                "run `torchbuild detect` on the machine itself (it reads nvidia-smi)",
            )
        )
    return out


#: When several problems apply, the one a fix must address first.
_PRIORITY = ("platform", "cpu-only", "rocm", "unknown", "gpu-arch", "driver", "cuda-exact")


def _fix(
    code: str,
    package: str,
    pkgs: str,
    newest: Version | None,
    need: variants.Need,
    variant: variants.Variant,
) -> str:
    label = variants.planned_variant(need).label
    build = f"build with `torchbuild wheel {pkgs}`" + (
        f" (+{label} for this target)" if label else ""
    )
    older = (
        f"install {package} {newest}, the newest release that fits, by its file (`install "
        "exactly` below: a bare version pin may get another index's file again), or "
        if newest
        else ""
    )
    if code == "cpu-only":
        return f"{build}, or accept a CPU-only torch with `--cuda none`"
    if code == "platform":
        return f"{older}{build}"
    if code == "gpu-arch":
        return f"{older}{build}"
    if code == "driver":
        if need.jetson:
            return f"{older}{build}; or move to a JetPack whose CUDA is {variant.cuda} or newer"
        minimum = _driver_for(variant.cuda)
        return f"{older}{build}; or update the NVIDIA driver to one for CUDA {variant.cuda}" + (
            f" (>= {minimum})" if minimum else ""
        )
    if code == "cuda-exact":
        return f"build for that CUDA with `torchbuild wheel {pkgs} --cuda {need.exact_cuda}`"
    return f"{older}{build}"


def _driver_for(cuda: str | None) -> str | None:
    """The minimum Linux driver for ``cuda``, as NVIDIA writes it (``580.65.06``)."""
    table = resources.table("cuda")["driver_minimum"]
    return str(table[cuda]) if cuda in table else None


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


def _foreign_findings(judge: _Judge, packages: Sequence[str]) -> list[Finding]:
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


def _platform_findings(judge: _Judge, packages: Sequence[str], pkgs: str) -> list[Finding]:
    """OS/arch/libc with no wheels at all, and a glibc older than the newest wheels need."""
    target = judge.target
    if target.os != "linux":
        return _foreign_findings(judge, packages)
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


def _no_wheel_finding(
    judge: _Judge, package: str, newest_fit: Version | None, pkgs: str
) -> Finding:
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


def _newest_tag_fit(judge: _Judge, package: str) -> Version | None:
    for version in judge.published(package):
        if judge.pip_pick(package, version) is not None:
            return version
    return None


def diagnose(
    target: Target,
    *,
    packages: Sequence[str] = matrix_mod.PACKAGES,
    sources: Sequence[Source],
    client: IndexClient,
    pip: PipConfig | None = None,
    cuda: str = "auto",
    installed: InstalledTorch | None = None,
    runtime: dict[str, Any] | None = None,
    matrix: matrix_mod.Matrix | None = None,
    metadata: MetadataReader | None = None,
) -> Report:
    """Run every check for ``packages`` on ``target``."""
    matrix = matrix or matrix_mod.load_matrix()
    packages = [p for p in matrix_mod.PACKAGES if p in packages] or list(matrix_mod.PACKAGES)
    if target.python is None:
        finding = Finding(
            "no-python",
            "error",
            "the target has no Python interpreter",
            f"the profile ({target.origin}) has python: null",
            "install Python 3, or detect the profile again with the interpreter to use",
        )
        return Report(target, None, (finding,), ())
    tagset = tags.tag_set(target)
    need = variants.need_for(target, cuda)
    projects = list(dict.fromkeys(["torch", *packages]))
    listings = tuple(client.listings(sources, projects).values())
    pairs = Pairing(matrix, listings, target, tagset, metadata)
    judge = _Judge(
        listings, target, tagset, need, matrix, pairs, wheelvariants.book_for(listings, client)
    )
    pkgs = " ".join(packages)
    findings: list[Finding] = []
    findings.extend(_python_findings(target, matrix))
    platform = _platform_findings(judge, packages, pkgs)
    findings.extend(platform)
    explained = bool(findings) and any(f.severity == "error" for f in findings)
    findings.extend(_cuda_findings(target, need))

    chosen = _pip_set(judge, packages)
    if not chosen:
        # pip fails for the whole set; say what it would do for each package on its own.
        alone = _pip_set(judge, ["torch"])
        for package in packages:
            if package == "torch":
                chosen.update(alone)
                continue
            torch_version = alone["torch"][0] if alone else None
            for version in judge.published(package):
                pin = judge.pairing.pin(package, version)
                if torch_version is not None and not pin.contains(torch_version):
                    continue
                pick = judge.pip_pick(package, version)
                if pick is not None:
                    chosen[package] = (version, pick)
                    break
    newest_torch = _newest_fitting(judge, "torch", None)
    outcomes: list[Outcome] = []
    for package in packages:
        if package == "torch":
            fit = newest_torch
        else:
            fit = _newest_fitting(judge, package, newest_torch[1]) if newest_torch else None
        newest_fit = fit[0] if fit else None
        if package not in chosen:
            finding = _no_wheel_finding(judge, package, newest_fit, pkgs)
            if not explained:
                findings.append(finding)
            outcomes.append(
                Outcome(
                    package,
                    None,
                    None,
                    works=False,
                    why=finding.evidence,
                    newest_fitting=newest_fit,
                )
            )
            continue
        version, pick = chosen[package]
        problems = sorted(
            pick.problems,
            key=lambda p: _PRIORITY.index(p.code) if p.code in _PRIORITY else len(_PRIORITY),
        )
        pairing = None
        if package != "torch" and "torch" in chosen:
            stable = matrix.is_stable_abi(package, version)
            pairing = variants.pairing_problem(
                pick.variant, chosen["torch"][1].variant, stable_abi=stable
            )
        works = not problems and pairing is None
        why = ""
        if problems:
            why = variants.explain(pick.evidence, pick.variant, list(pick.problems))
            code = problems[0].code
            findings.append(
                Finding(
                    code,
                    "error",
                    f"`pip install {package}` would install {package} {version}, which does not "
                    "work here",
                    why,
                    _fix(code, package, pkgs, newest_fit, need, pick.variant),
                    None if newest_fit is None else str(newest_fit),
                )
            )
        elif pairing is not None:
            why = f"{pick.evidence} does not fit the torch pip would install: {pairing}"
            findings.append(
                Finding(
                    "companion",
                    "error",
                    f"{package} {version} does not match the torch pip would install",
                    why,
                    f"build it against that torch with `torchbuild wheel {package}`",
                )
            )
        outcomes.append(Outcome(package, version, pick, works, why, newest_fit))

    findings.extend(_index_findings(listings, pip))
    findings.extend(_installed_findings(installed, runtime, need))
    install = None
    if any(not o.works for o in outcomes) and newest_torch is not None:
        install = _install_exactly(judge, packages, newest_torch, sources)
    return Report(target, need, tuple(findings), tuple(outcomes), listings, install)


def _install_exactly(
    judge: _Judge,
    packages: Sequence[str],
    torch: tuple[Version, Candidate],
    sources: Sequence[Source],
) -> InstallConfig | None:
    """pip and uv settings for the newest set that fits, every package pinned to its file.

    A version alone is not enough: with a Jetson index added next to PyPI, ``pip install
    torch==2.8.0`` takes PyPI's server-Arm file of that version (pip ranks its manylinux tag
    higher), which is exactly what the doctor just found not to work.
    """
    from ..wheelhouse.config import install_config

    chosen: list[tuple[str, Version, Candidate]] = []
    for package in packages:
        fit = torch if package == "torch" else _newest_fitting(judge, package, torch[1])
        if fit is None:
            return None  # part of the set has no fitting wheel: building is the way out
        chosen.append((package, fit[0], fit[1]))
    decisions = [
        Decision(
            name,
            version,
            "cached" if c.source.kind == "wheelhouse" else "prebuilt",
            "fits",
            c.choice(),
            c.variant,
        )
        for name, version, c in chosen
    ]
    # A "cached" file comes from the wheelhouse source; with none configured (only callers
    # that pass their own sources), nothing is routed to the placeholder.
    wheelhouse = next((s.location for s in sources if s.kind == "wheelhouse"), None)
    wheelhouse_url = (
        Path(wheelhouse).expanduser().resolve().joinpath("simple").as_uri() + "/"
        if wheelhouse
        else "file:///nonexistent/"
    )
    routed = {c.source.location for _, _, c in chosen}
    dependency = [
        s.location.rstrip("/") + "/" if s.location.rstrip("/") == DEFAULT_INDEX_URL else s.location
        for s in sources
        # The run's dependencies (numpy, nvidia-*) come from where pip looks, not from the
        # known torch indexes that hold no chosen file.
        if s.kind == "index" and s.location not in routed and s.known is None
    ]
    return install_config(
        decisions,
        wheelhouse_url=wheelhouse_url,
        dependency_indexes=list(dict.fromkeys(dependency)),
        constraint_path="constraints.txt",
        source=f"torchbuild doctor on {judge.target.origin}",
    )


# -- the torch already installed -------------------------------------------------------------------


def _installed_findings(
    installed: InstalledTorch | None, runtime: dict[str, Any] | None, need: variants.Need
) -> list[Finding]:
    if installed is None:
        return []
    out: list[Finding] = []
    label = f"the installed torch {installed.version}"
    if installed.cuda and need.driver_cuda:
        try:
            too_new = Version(installed.cuda) > Version(need.driver_cuda)
        except InvalidVersion:
            too_new = False
        if too_new:
            out.append(
                Finding(
                    "installed-torch",
                    "error",
                    f"{label} is a CUDA {installed.cuda} build, newer than the driver runs",
                    f"torch/version.py says cuda = {installed.cuda}; the driver supports CUDA "
                    f"{need.driver_cuda} ({installed.location})",
                    "replace it: `torchbuild plan torch` shows a build that fits this driver",
                )
            )
    if need.kind == "cuda" and installed.cuda is None:
        out.append(
            Finding(
                "installed-torch",
                "warning",
                f"{label} is a CPU-only build on a machine with an NVIDIA GPU",
                f"torch/version.py says cuda = None ({installed.location})",
                "replace it with a CUDA build: `torchbuild plan torch` shows which",
            )
        )
    if runtime and need.kind == "cuda" and installed.cuda:
        if runtime.get("error"):
            out.append(
                Finding(
                    "installed-torch",
                    "error",
                    f"{label} does not import",
                    str(runtime["error"]),
                    "reinstall it, or replace it with the build `torchbuild plan torch` shows",
                )
            )
        elif runtime.get("available") is False:
            said = "; ".join(runtime.get("warnings") or []) or "torch.cuda.is_available() is False"
            out.append(
                Finding(
                    "installed-torch",
                    "error",
                    f"{label} imports, but cannot use the GPU",
                    said,
                    "replace it with a build for this GPU and driver: `torchbuild plan torch`",
                )
            )
    return out
