"""Wheel variants (CPU or CUDA, which CUDA, which GPU code) and whether one works on a target.

A wheel whose tags fit can still be useless: a CPU-only torch on a Jetson, a CUDA 13.0 build on a
driver that runs 12.6, kernels for sm_80...sm_120 on an Orin (sm_87). This module reads a wheel's
variant from its local version label (``+cu128``, ``+cpu``, torchbuild's ``+cu126.sm87``), the
index it came from, and the recorded facts about PyPI's builds (``recipes/variants.toml``), and
checks it against what the target needs. Every verdict comes with the words that explain it.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, cast, get_args

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import resources
from ..detect.cuda import driver_cuda_for, jetson_gpu
from ..detect.jetson import driver_cuda_for_l4t, gpu_platform_for_l4t
from ..errors import InputError, RecipeError

if TYPE_CHECKING:
    from ..detect.torch import InstalledTorch
    from ..target import Target
    from .indexes import Source

__all__ = [
    "Facts",
    "Family",
    "Need",
    "Problem",
    "ProblemCode",
    "Variant",
    "VariantKind",
    "check_cuda_option",
    "covers_by_sass",
    "cuda_number",
    "cuda_of_requirements",
    "describe_need",
    "driver_runs",
    "explain",
    "installed_variant",
    "known_cuda_versions",
    "load_facts",
    "need_for",
    "pairing_problem",
    "planned_variant",
    "problems",
    "variant_of_label",
    "wheel_variant",
    "with_metadata_cuda",
]

#: What a build targets; "unknown" where nothing says.
VariantKind = Literal["cpu", "cuda", "rocm", "unknown"]
#: Who built a wheel: PyPI, PyTorch's own indexes, Jetson AI Lab, NVIDIA, torchbuild, or a
#: local build of unknown origin.
Family = Literal["pypi", "pytorch", "jetson", "nvidia", "torchbuild", "local", "unknown"]
#: Why a variant does not fit (see :func:`problems`).
ProblemCode = Literal[
    "cpu-only",
    "rocm",
    "unknown",
    "cuda-exact",
    "driver",
    "platform",
    "gpu-arch",
    "variant-property",  # a wheel variant property that fails or cannot be checked (PEP 825)
]

OFFICIAL = frozenset({"pypi", "pytorch"})


def _v(text: str) -> Version:
    return Version(text)


def cuda_number(cuda: str | None) -> int:
    """A CUDA release as a sortable number (12.6 -> 1206; unknown -> 0)."""
    if not cuda:
        return 0
    major, _, minor = cuda.partition(".")
    try:
        return int(major) * 100 + int(minor.split(".")[0] or 0)
    except ValueError:
        return 0


def cuda_label(cuda: str) -> str:
    """``12.6`` -> ``cu126``."""
    major, minor = cuda.split(".")[:2]
    return f"cu{major}{minor}"


def sm(capability: str) -> str:
    """``8.7`` -> ``sm_87``."""
    return "sm_" + capability.replace(".", "")


# -- facts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchList:
    sass: tuple[str, ...]
    ptx: tuple[str, ...]
    uncertain: bool


@dataclass(frozen=True)
class IndexPattern:
    pattern: re.Pattern[str]
    family: Family
    platform: str | None
    name: str


@dataclass(frozen=True)
class Facts:
    pypi: tuple[tuple[str, SpecifierSet, str], ...]  # (arch, torch range, cuda or "none")
    pypi_exceptions: Mapping[tuple[str, Version], str]
    arch_lists: Mapping[tuple[str, str], ArchList]
    indexes: tuple[IndexPattern, ...]
    jetson_arch_lists: Mapping[str, tuple[str, ...]]

    def pypi_cuda(self, arch: str, torch: Version) -> str | None:
        """PyPI's build for this arch and torch: a CUDA version, "none" (CPU), None (unknown)."""
        for row_arch, spec, cuda in self.pypi:
            if row_arch == arch and spec.contains(torch, prereleases=True):
                return cuda
        return None


def _family(value: object) -> Family:
    # The variant facts are bundled data: an unknown family is a bug the data tests catch.
    if value not in get_args(Family):
        raise ValueError(f"unknown wheel family {value!r} (known: {', '.join(get_args(Family))})")
    return cast("Family", value)


def _build_facts(data: Mapping[str, Any]) -> Facts:
    pypi = tuple(
        (str(r["arch"]), SpecifierSet(str(r["torch"])), str(r["cuda"])) for r in data["pypi"]
    )
    exceptions = {
        (str(r["project"]), _v(str(r["version"]))): str(r["cuda"])
        for r in data.get("pypi_exceptions", [])
    }
    arch_lists = {
        (str(r["platform"]), str(r["cuda"])): ArchList(
            tuple(r["sass"]), tuple(r.get("ptx", [])), bool(r.get("uncertain", False))
        )
        for r in data["arch_lists"]
    }
    indexes = tuple(
        IndexPattern(
            re.compile(str(r["pattern"])),
            _family(r["family"]),
            r.get("platform"),
            str(r.get("name", "{label}")),
        )
        for r in data.get("indexes", [])
    )
    return Facts(
        pypi=pypi,
        pypi_exceptions=exceptions,
        arch_lists=arch_lists,
        indexes=indexes,
        jetson_arch_lists={k: tuple(v) for k, v in data.get("jetson_arch_lists", {}).items()},
    )


@functools.lru_cache(maxsize=None)
def load_facts() -> Facts:
    try:
        return _build_facts(resources.table("variants"))
    except (KeyError, TypeError, ValueError, re.error, InvalidVersion) as exc:
        raise RecipeError(f"recipes/variants.toml is not valid: {exc}") from None


# -- variants ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """What a wheel (or a planned build, or an installed torch) was built for."""

    kind: VariantKind
    cuda: str | None = None  # "13.0"; None when not CUDA or not known
    sass: tuple[str, ...] | None = None  # compiled GPU architectures; None = not known
    ptx: tuple[str, ...] = ()
    platform: str | None = None  # "x86_64", "sbsa", "tegra"; None = not known
    family: Family = "unknown"  #: who built it
    label: str | None = None  # the local version label, if any
    uncertain: bool = False  # the GPU list is inferred, not read from the builds

    def phrase(self) -> str:
        if self.kind == "cpu":
            return "a CPU-only build"
        if self.kind == "rocm":
            return "a ROCm (AMD GPU) build"
        if self.kind == "cuda":
            return f"a CUDA {self.cuda} build" if self.cuda else "a CUDA build"
        return "a build of unknown variant"

    def short(self) -> str:
        if self.kind == "cuda":
            gpus = f", {'/'.join(sm(a) for a in self.sass)}" if self.sass else ""
            return f"CUDA {self.cuda or '?'}{gpus}"
        return {"cpu": "CPU", "rocm": "ROCm"}.get(self.kind, "unknown variant")


_CU = re.compile(r"^cu(\d+)(\d)$")
_SM = re.compile(r"^sm(\d+)(\d)$")


def variant_of_label(label: str | None) -> Variant | None:
    """The variant a local version label names, or None when the label says nothing about it."""
    if not label:
        return None
    parts = label.lower().split(".")
    head = parts[0]
    if head == "cpu":
        return Variant("cpu", label=label, family="local")
    if head.startswith("rocm"):
        return Variant("rocm", label=label, family="local")
    match = _CU.match(head)
    if match:
        cuda = f"{int(match.group(1))}.{match.group(2)}"
        archs = tuple(
            f"{int(m.group(1))}.{m.group(2)}" for m in (_SM.match(p) for p in parts[1:]) if m
        )
        if archs:  # torchbuild's own label: +cu126.sm87
            return Variant("cuda", cuda, archs, (), None, "torchbuild", label)
        return Variant("cuda", cuda, label=label, family="local")
    if any(re.match(r"^nv\d", p) for p in parts):  # NVIDIA's Jetson builds: 2.5.0a0+872d.nv24.08
        return Variant("cuda", None, None, (), "tegra", "nvidia", label)
    return None


def _platform_of(arch: str) -> str | None:
    return {"x86_64": "x86_64", "aarch64": "sbsa"}.get(arch)


def _with_official_archs(variant: Variant, arch: str, facts: Facts) -> Variant:
    if variant.kind != "cuda" or variant.cuda is None or variant.sass is not None:
        return variant
    platform = variant.platform or _platform_of(arch)
    found = facts.arch_lists.get((platform or "", variant.cuda))
    if found is None:
        return replace(variant, platform=platform)
    return replace(
        variant, sass=found.sass, ptx=found.ptx, platform=platform, uncertain=found.uncertain
    )


def index_pattern(source: Source, facts: Facts) -> tuple[IndexPattern, dict[str, str]] | None:
    for pattern in facts.indexes:
        # A mirror of a known index is read by the path of the index it copies.
        match = pattern.pattern.search(urllib.parse.urlsplit(source.canonical).path)
        if match:
            return pattern, {k: v for k, v in match.groupdict().items() if v is not None}
    return None


def wheel_variant(
    project: str,
    version: Version,
    arch: str,
    source: Source,
    *,
    torch_for: Version | None = None,
    facts: Facts | None = None,
) -> tuple[Variant, str]:
    """A wheel's variant and the evidence, e.g. ``PyPI's torch 2.13.0 for aarch64``.

    ``torch_for`` is the torch a torchvision/torchaudio release is built for (PyPI's companion
    builds share their torch's CUDA variant).
    """
    facts = facts or load_facts()
    public = version.public
    where = source.describe()
    by_label = variant_of_label(version.local)
    pattern = index_pattern(source, facts)
    family: Family
    if source.is_pypi:
        family = "pypi"
        evidence = f"PyPI's {project} {public} for {arch}"
    elif pattern is not None:
        family = pattern[0].family
        evidence = f"{pattern[0].name.format(**pattern[1])}'s {project} {public} for {arch}"
    else:
        family = "local"
        evidence = f"the {project} {version} wheel from {where}"
    if by_label is not None:
        variant = replace(
            by_label, family=family if by_label.family == "local" else by_label.family
        )
    elif pattern is not None and "label" in pattern[1]:
        variant = variant_of_label(pattern[1]["label"]) or Variant("unknown")
        variant = replace(variant, family=family, label=None)
    elif family == "pypi":
        key_torch = torch_for if project != "torch" else version
        cuda = facts.pypi_exceptions.get((project, Version(public)))
        if cuda is None and key_torch is not None:
            cuda = facts.pypi_cuda(arch, key_torch)
        if cuda is None:
            variant = Variant("unknown", family=family)
        elif cuda == "none":
            variant = Variant("cpu", family=family)
        else:
            variant = Variant("cuda", cuda, family=family)
    else:
        variant = Variant("unknown", family=family)
    if pattern is not None and pattern[0].platform:
        variant = replace(variant, platform=pattern[0].platform)
    if variant.kind == "cuda" and variant.family == "jetson" and variant.sass is None:
        key = (
            "sbsa"
            if variant.platform == "sbsa"
            else pattern[1].get("jetpack", "")
            if pattern
            else ""
        )
        archs = facts.jetson_arch_lists.get(key)
        if archs:
            variant = replace(variant, sass=archs, uncertain=True)
    if variant.family in OFFICIAL:
        variant = _with_official_archs(variant, arch, facts)
    return variant, evidence


#: Requirements that pin the CUDA runtime a wheel was built with: PyTorch's wheels name
#: ``nvidia-cuda-runtime-cu12==12.8.90`` up to 2.10 and ``cuda-toolkit[...]==13.2.2`` after.
_CUDA_RUNTIMES = ("cuda-toolkit", "nvidia-cuda-runtime")


def cuda_of_requirements(requires_dist: Sequence[str], env: Mapping[str, str]) -> str | None:
    """What a wheel's ``Requires-Dist`` says of its CUDA on the machine ``env`` describes.

    "X.Y" when a CUDA runtime requirement applies there; "none" when it names NVIDIA libraries
    for other machines only (PyPI's aarch64 torch 2.10 names them for x86_64: a CPU build on
    aarch64); None when it names none, which says nothing (old wheels bundled their CUDA).
    """
    named = False
    for text in requires_dist:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        if not name.startswith(("nvidia-", "cuda-")):
            continue
        named = True
        try:
            if req.marker is not None and not req.marker.evaluate(dict(env)):
                continue
        except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
            continue
        runtime = name == _CUDA_RUNTIMES[0] or re.fullmatch(r"nvidia-cuda-runtime(-cu\d+)?", name)
        if not runtime:
            continue
        for spec in req.specifier:
            if spec.operator in ("==", "===", "~=", ">="):
                parts = spec.version.split(".")
                if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
                    return f"{int(parts[0])}.{int(parts[1])}"
    return "none" if named else None


def with_metadata_cuda(
    variant: Variant, evidence: str, cuda: str | None, arch: str, facts: Facts | None = None
) -> tuple[Variant, str]:
    """A PyPI wheel's variant corrected by what its METADATA says (``cuda_of_requirements``):
    the wheel's own requirements outrank the facts table, which is kept by hand. The evidence
    says so when they differ."""
    if cuda is None:
        return variant, evidence
    if cuda == "none":
        if variant.kind == "cpu":
            return variant, evidence
        found = Variant("cpu", family=variant.family)
        return found, f"{evidence} (its METADATA names CUDA libraries for other machines only)"
    if variant.kind == "cuda" and variant.cuda and _mm(variant.cuda) == cuda:
        return variant, evidence
    found = Variant("cuda", cuda, family=variant.family, platform=variant.platform)
    if found.family in OFFICIAL:
        found = _with_official_archs(found, arch, facts or load_facts())
    return found, f"{evidence} (its METADATA requires CUDA {cuda})"


# -- what the target needs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """The variant a target can use."""

    kind: Literal["cpu", "cuda"]
    #: The newest CUDA the target's driver runs; None = unknown (not checked).
    driver_cuda: str | None = None
    #: The driver's own version (desktop and server drivers; None on Jetson or unknown).
    driver: str | None = None
    #: ``--cuda X.Y``: only this CUDA.
    exact_cuda: str | None = None
    #: The CUDA toolkit installed on the target (what a local build would use).
    toolkit: str | None = None
    capabilities: tuple[str, ...] = ()
    platform: str | None = None  # "tegra", "sbsa", "x86_64"
    jetson: bool = False
    gpu_names: tuple[str, ...] = ()
    #: How the need was chosen: "--cuda none", "--cuda 12.6", "no NVIDIA GPU", ...
    why: str = ""

    @property
    def who(self) -> str:
        return "this Jetson" if self.jetson else "this machine"


def _parse(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def driver_runs(cuda: str, *, driver: str | None, driver_cuda: str | None) -> bool:
    """Whether a desktop or server driver runs a build made with CUDA ``cuda``.

    CUDA minor-version compatibility: from CUDA 11.1 on, a build of major M runs on any driver
    at or above M's minimum (recipes/cuda.toml ``minor_version_driver``), even when the driver
    reports an older minor. Without the driver's version, the CUDA it reports decides: any build
    of the same or an older major runs. Nothing known about the driver: it runs (not checked).
    Jetson drivers come with L4T and are not judged by this rule.
    """
    table: Mapping[str, Any] = resources.table("cuda")
    major = cuda.split(".", maxsplit=1)[0]
    have = _parse(driver)
    if have is not None:
        floor = table["minor_version_driver"].get(major) or table["driver_minimum"].get(_mm(cuda))
        wanted = _parse(floor)
        return wanted is None or have >= wanted
    reported = _parse(_mm(driver_cuda)) if driver_cuda else None
    if reported is None:
        return True
    if _v(_mm(cuda)) <= reported:
        return True
    # A newer minor runs when every driver that reports this CUDA meets the major's floor.
    floor = _parse(table["minor_version_driver"].get(major))
    oldest = _parse(table["driver_minimum"].get(_mm(driver_cuda or "")))
    if floor is None or oldest is None:
        return False
    return reported.major == int(major) and oldest >= floor


def known_cuda_versions() -> tuple[str, ...]:
    """The CUDA releases torchbuild knows (recipes/cuda.toml), oldest first."""
    table: Mapping[str, Any] = resources.table("cuda")["driver_minimum"]
    return tuple(sorted(table, key=lambda v: tuple(int(p) for p in v.split("."))))


def check_cuda_option(cuda: str | None) -> str:
    """``--cuda`` normalised ("auto", "none" or a known "X.Y"), or InputError saying what fits.

    Checked against the releases in recipes/cuda.toml: ``--cuda 99.9`` would otherwise plan a
    ``+cu999`` build that no toolkit can produce.
    """
    mode = (cuda or "auto").strip().lower()
    if mode == "cpu":
        mode = "none"
    if mode in ("auto", "none"):
        return mode
    known = known_cuda_versions()
    if mode in known:
        return mode
    if re.fullmatch(r"\d+", mode):
        series = [v for v in known if v.split(".")[0] == mode]
        hint = (
            f"give the minor version too: {', '.join(series)}"
            if series
            else f"known CUDA versions: {', '.join(known)}"
        )
        raise InputError(f"--cuda {cuda} names a CUDA major version only", hint=hint)
    raise InputError(
        f"--cuda must be auto, none or a known CUDA version X.Y, not {cuda!r}",
        hint=f"known CUDA versions: {', '.join(known)} (recipes/cuda.toml)",
    )


def need_for(target: Target, cuda: str = "auto", facts: Facts | None = None) -> Need:
    """What ``--cuda auto|none|X.Y`` means on ``target``."""
    facts = facts or load_facts()
    mode = check_cuda_option(cuda)
    l4t = target.jetson.l4t if target.jetson else None
    toolkit = target.cuda.toolkit if target.cuda else None
    capabilities: list[str] = []
    names: list[str] = []
    if target.cuda is not None:
        for gpu in target.cuda.gpus:
            names.append(gpu.name)
            if gpu.compute_capability:
                capabilities.append(gpu.compute_capability)
    soc = target.jetson.soc if target.jetson else None
    soc_gpu = jetson_gpu(soc, toolkit)
    if not capabilities and soc_gpu is not None and soc_gpu.compute_capability:
        capabilities.append(soc_gpu.compute_capability)
        names.append(soc or soc_gpu.name)
    driver_cuda = target.cuda.driver_cuda if target.cuda else None
    if driver_cuda is None and l4t is not None:
        # A Jetson's driver is part of L4T; its numbers do not follow the desktop table.
        driver_cuda = driver_cuda_for_l4t(l4t)
    if driver_cuda is None and target.cuda is not None and target.cuda.driver:
        driver_cuda = driver_cuda_for(target.cuda.driver)
    platform = (gpu_platform_for_l4t(l4t) if l4t else None) or _platform_of(target.arch)
    base = Need(
        kind="cpu",
        driver_cuda=driver_cuda,
        driver=None if l4t is not None or target.cuda is None else target.cuda.driver,
        toolkit=toolkit,
        capabilities=tuple(dict.fromkeys(capabilities)),
        platform=platform,
        jetson=target.jetson is not None,
        gpu_names=tuple(dict.fromkeys(names)),
    )
    if mode in ("none", "cpu"):
        return replace(base, why="--cuda none")
    if mode != "auto":
        return replace(base, kind="cuda", exact_cuda=mode, why=f"--cuda {mode}")
    if base.capabilities:
        gpus = ", ".join(sm(c) for c in base.capabilities)
        return replace(base, kind="cuda", why=f"NVIDIA GPU {gpus}")
    return replace(base, why="no NVIDIA GPU")


def describe_need(need: Need) -> str:
    if need.kind == "cpu":
        return f"CPU ({need.why})"
    parts = [f"CUDA ({need.why})"]
    if need.driver_cuda:
        parts.append(f"driver runs CUDA <= {need.driver_cuda}")
    if need.exact_cuda:
        parts.append(f"CUDA {need.exact_cuda} only")
    return ", ".join(parts)


# -- fit ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    text: str


def _arch_parts(arch: str) -> tuple[int, int, str]:
    match = re.match(r"^(\d+)\.(\d+)([a-z]?)$", arch.strip())
    if not match:
        return (0, 0, "?")
    return int(match.group(1)), int(match.group(2)), match.group(3)


def covers(variant: Variant, capability: str, *, tegra: bool) -> bool | None:
    """Whether the build has code that runs on ``capability``; None when its list is unknown."""
    if variant.sass is None:
        return None
    want = _arch_parts(capability)
    for arch in variant.sass:
        have = _arch_parts(arch)
        if have[:2] == want[:2]:
            return True
        # Compiled kernels run on later minors of the same major on discrete GPUs; not on
        # Tegra (sm_70 code does not run on Xavier's sm_72), and never for "a"/"f" variants.
        if not tegra and not have[2] and have[0] == want[0] and have[1] <= want[1]:
            return True
    return any(_arch_parts(p)[:2] <= want[:2] for p in variant.ptx)


def covers_by_sass(variant: Variant, capability: str) -> bool | None:
    """Whether the build has machine code (not only PTX) for ``capability`` on a discrete GPU."""
    if variant.sass is None:
        return None
    return covers(replace(variant, ptx=()), capability, tegra=False)


def problems(variant: Variant, need: Need) -> tuple[list[Problem], list[str]]:
    """Why ``variant`` does not work for ``need`` (empty when it does), plus notes."""
    found: list[Problem] = []
    notes: list[str] = []
    if need.kind == "cpu":
        if variant.kind == "rocm":
            found.append(Problem("rocm", "torchbuild plans CPU and NVIDIA CUDA builds only"))
        elif variant.kind == "unknown":
            notes.append("its variant is not known to torchbuild")
        return found, notes
    gpus = ", ".join(sm(c) for c in need.capabilities) or "a GPU"
    if variant.kind == "cpu":
        found.append(
            Problem(
                "cpu-only", f"{need.who} has {gpus}; pass --cuda none to accept CPU-only wheels"
            )
        )
        return found, notes
    if variant.kind == "rocm":
        found.append(Problem("rocm", f"{need.who} has an NVIDIA GPU ({gpus})"))
        return found, notes
    if variant.kind == "unknown":
        found.append(Problem("unknown", f"{need.who} needs a CUDA build for {gpus}"))
        return found, notes
    if need.exact_cuda and variant.cuda and _mm(variant.cuda) != _mm(need.exact_cuda):
        found.append(Problem("cuda-exact", f"--cuda asks for CUDA {need.exact_cuda}"))
    tegra = need.platform == "tegra" or need.jetson
    if need.driver_cuda and variant.cuda and _v(_mm(variant.cuda)) > _v(_mm(need.driver_cuda)):
        if tegra or not driver_runs(variant.cuda, driver=need.driver, driver_cuda=need.driver_cuda):
            found.append(Problem("driver", f"{need.who}'s driver supports CUDA {need.driver_cuda}"))
        else:
            jit = [c for c in need.capabilities if covers_by_sass(variant, c) is False]
            if jit:
                # PTX made by a newer toolkit cannot be compiled by an older driver's JIT.
                found.append(
                    Problem(
                        "driver",
                        f"its code for {', '.join(sm(c) for c in jit)} is PTX from CUDA "
                        f"{_mm(variant.cuda)}, which {need.who}'s driver (CUDA "
                        f"{need.driver_cuda}) cannot compile",
                    )
                )
            else:
                notes.append(
                    f"its CUDA {_mm(variant.cuda)} runs on {need.who}'s driver (CUDA "
                    f"{need.driver_cuda}) through CUDA minor-version compatibility"
                )
    if need.platform == "tegra" and variant.platform in ("sbsa", "x86_64"):
        found.append(
            Problem(
                "platform",
                "it is built for server-Arm (SBSA) CUDA, which cannot drive a Jetson's Tegra GPU",
            )
        )
    elif need.platform == "sbsa" and variant.platform == "tegra":
        found.append(Problem("platform", "it is a Tegra build and this target uses SBSA CUDA"))
    missing = [c for c in need.capabilities if covers(variant, c, tegra=tegra) is False]
    if missing:
        found.append(
            Problem("gpu-arch", "without " + ", ".join(sm(c) for c in missing) + " kernels")
        )
    if variant.sass is None:
        notes.append("its GPU architecture list is not known to torchbuild")
    elif variant.uncertain and not missing:
        notes.append("its GPU architecture list is inferred, not read from the build")
    return found, notes


def _mm(cuda: str) -> str:
    return ".".join(cuda.split(".")[:2])


def explain(evidence: str, variant: Variant, found: list[Problem]) -> str:
    """One sentence: ``PyPI's torch 2.13.0 for aarch64 is a CUDA 13.0 build without sm_87
    kernels, and this Jetson's driver supports CUDA 12.6``."""
    head = variant.phrase()
    arch = [p.text for p in found if p.code == "gpu-arch"]
    if arch:
        head += " " + arch[0]
    tails = [p.text for p in found if p.code not in ("gpu-arch", "platform")]
    text = f"{evidence} is {head}" + "".join(f", and {t}" for t in tails)
    platform = [p.text for p in found if p.code == "platform"]
    if platform:
        text += f"; {platform[0]}"
    return text


def planned_variant(need: Need) -> Variant:
    """The variant torchbuild would build for ``need``."""
    if need.kind == "cpu":
        return Variant("cpu", family="torchbuild", label="cpu")
    cuda = need.exact_cuda or (_mm(need.toolkit) if need.toolkit else None)
    label = None
    if cuda:
        label = cuda_label(cuda) + "".join("." + sm(c).replace("_", "") for c in need.capabilities)
    return Variant("cuda", cuda, need.capabilities or None, (), need.platform, "torchbuild", label)


def pairing_problem(companion: Variant, torch: Variant, *, stable_abi: bool) -> str | None:
    """Why a torchvision/torchaudio build cannot sit on this torch build (None when it can)."""
    if companion.kind != torch.kind:
        return f"it is {companion.phrase()} and the torch is {torch.phrase()}"
    if companion.kind == "cuda" and companion.cuda and torch.cuda:
        same = (
            companion.cuda.split(".")[0] == torch.cuda.split(".")[0]
            if stable_abi
            else _mm(companion.cuda) == _mm(torch.cuda)
        )
        if not same:
            return f"it is {companion.phrase()} and the torch is {torch.phrase()}"
    if stable_abi:
        return None
    if companion.family in OFFICIAL and torch.family in OFFICIAL:
        return None
    same_family = companion.family == torch.family and companion.family != "local"
    if same_family and (companion.family != "torchbuild" or companion.label == torch.label):
        return None
    return (
        f"it is linked against {_family_text(companion)} torch, and this torch is "
        f"{_family_text(torch)}"
    )


def _family_text(variant: Variant) -> str:
    return {
        "pypi": "the official",
        "pytorch": "the official",
        "jetson": "the Jetson index's",
        "nvidia": "NVIDIA's Jetson",
        "torchbuild": f"a torchbuild ({variant.label or variant.short()})",
    }.get(variant.family, "another")


def installed_variant(installed: InstalledTorch) -> Variant:
    """The variant of a torch found installed, from its ``version.py`` facts."""
    by_label = variant_of_label(installed.version.local)
    if installed.cuda is None:
        return Variant("cpu", family=_installed_family(by_label))
    base = by_label or Variant("cuda", installed.cuda)
    return Variant(
        "cuda",
        installed.cuda,
        base.sass,
        base.ptx,
        base.platform,
        _installed_family(by_label),
        installed.version.local,
    )


def _installed_family(by_label: Variant | None) -> Family:
    if by_label is None:
        return "pypi"  # PyPI's x86/aarch64 wheels before 2.6 carry no label in torch.__version__
    return "pytorch" if by_label.family == "local" else by_label.family
