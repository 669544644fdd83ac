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

from typing import TYPE_CHECKING, Any, Sequence

from packaging.version import Version

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
from .install import install_exactly
from .platforms import no_wheel_finding, platform_findings
from .report import Finding, Outcome, Report
from .rules import cuda_findings, fix, index_findings, installed_findings, python_findings

if TYPE_CHECKING:
    from ..detect.torch import InstalledTorch
    from ..resolve.indexes import FileLink, IndexClient, Listing, Source
    from ..resolve.metadata import MetadataReader
    from ..resolve.pipconfig import PipConfig
    from ..target import Target

__all__ = ["Judge", "diagnose"]


# -- what pip would do -------------------------------------------------------------------------


class Judge:
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
                requires=self.pairing.requires_of,
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

    def newest_fitting(
        self, package: str, torch: Candidate | None
    ) -> tuple[Version, Candidate] | None:
        """The newest release of ``package`` with a wheel that fits (and goes with ``torch``)."""
        for version in self.published(package):
            if (
                package != "torch"
                and torch is not None
                and not self.pairing.pin(package, version).contains(torch.version)
            ):
                continue
            found = self.fitting(package, version, torch)
            if found is not None:
                return version, found
        return None


def _pip_set(judge: Judge, packages: Sequence[str]) -> dict[str, tuple[Version, Candidate]]:
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


#: When several problems apply, the one a fix must address first.
_PRIORITY = ("platform", "cpu-only", "rocm", "unknown", "gpu-arch", "driver", "cuda-exact")


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
    judge = Judge(
        listings, target, tagset, need, matrix, pairs, wheelvariants.book_for(listings, client)
    )
    pkgs = " ".join(packages)
    findings: list[Finding] = []
    findings.extend(python_findings(target, matrix))
    platform = platform_findings(judge, packages, pkgs)
    findings.extend(platform)
    explained = bool(findings) and any(f.severity == "error" for f in findings)
    findings.extend(cuda_findings(target, need))

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
    newest_torch = judge.newest_fitting("torch", None)
    outcomes: list[Outcome] = []
    for package in packages:
        if package == "torch":
            fit = newest_torch
        else:
            fit = judge.newest_fitting(package, newest_torch[1]) if newest_torch else None
        newest_fit = fit[0] if fit else None
        if package not in chosen:
            finding = no_wheel_finding(judge, package, newest_fit, pkgs)
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
                    fix(code, package, pkgs, newest_fit, need, pick.variant),
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

    findings.extend(index_findings(listings, pip))
    findings.extend(installed_findings(installed, runtime, need))
    install = None
    if any(not o.works for o in outcomes) and newest_torch is not None:
        install = install_exactly(judge, packages, newest_torch, sources)
    return Report(target, need, tuple(findings), tuple(outcomes), listings, install)
