"""The recipe model: what a recipe file may say, as frozen dataclasses.

Each field carries its TOML key, its *kind* and one line of documentation in its metadata. The
loader (:mod:`.load`) validates files by walking these fields, and the JSON schema
(:mod:`.schema`) is generated from them, so the documentation, the validation and the schema
cannot drift apart.

Kinds: ``string``, ``strings`` (a string or a list of strings), ``specifier`` (a PEP 440
specifier set such as ``">=2.6,<2.7"``), ``bool``, ``integer``, ``number`` (positive),
``env`` (a table of string values), ``list`` (a list of strings), ``requirements`` (PEP 508
strings), ``commands`` (a list of commands, each a non-empty list of words), ``table`` (one
nested model) and ``array`` (a list of nested models). A ``strings`` field may name its
``choices``: the loader and the schema accept only those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from packaging.specifiers import SpecifierSet

from ..sources.model import KINDS as SOURCE_KINDS

__all__ = [
    "FORMAT",
    "KINDS",
    "TEMPLATE_NAMES",
    "BuildTime",
    "Condition",
    "Header",
    "Memory",
    "Override",
    "PatchRef",
    "RecipeFile",
    "Series",
    "Values",
    "meta",
    "toml_name",
]

#: The recipe format this torchbuild reads (``[recipe] format = 1``).
FORMAT = 1

KINDS = (
    "string",
    "strings",
    "specifier",
    "bool",
    "integer",
    "number",
    "env",
    "list",
    "requirements",
    "commands",
    "table",
    "array",
)

#: Placeholders a value may contain, filled in at render time from the version and the target.
TEMPLATE_NAMES = {
    "version": "the package version being built, e.g. 2.6.0",
    "cuda_arch_list": "the target's GPU compute capabilities, sorted and ';'-joined, e.g. 8.6;8.9",
    "cuda_home": "the CUDA toolkit root, from the target's nvcc path (…/bin/nvcc → …)",
}


def meta(
    kind: str,
    doc: str,
    *,
    required: bool = False,
    model: type | None = None,
    choices: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Field metadata for the loader and the schema generator: kind, documentation, required."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if choices is not None and kind != "strings":
        raise ValueError("only a 'strings' field takes choices")
    return {"kind": kind, "doc": doc, "required": required, "model": model, "choices": choices}


def toml_name(field_name: str) -> str:
    """Fields are snake_case in Python and kebab-case in TOML."""
    return field_name.replace("_", "-")


@dataclass(frozen=True)
class Condition:
    """When an override or patch applies: every key given must match (keys are ANDed).

    A list of strings matches if any item matches. A specifier matches a fact only when the fact
    is known: ``python = ">=3.12"`` never matches a target whose Python is unknown.
    """

    os: tuple[str, ...] = field(
        default=(), metadata=meta("strings", "Operating system, e.g. linux.")
    )
    arch: tuple[str, ...] = field(
        default=(), metadata=meta("strings", "Machine architecture: x86_64, aarch64, armv7l, ...")
    )
    libc: tuple[str, ...] = field(default=(), metadata=meta("strings", "C library: glibc or musl."))
    python: SpecifierSet | None = field(
        default=None, metadata=meta("specifier", "The target's Python version.")
    )
    version: SpecifierSet | None = field(
        default=None, metadata=meta("specifier", "The package version being built.")
    )
    cuda: bool | None = field(
        default=None,
        metadata=meta("bool", "true: the target has a CUDA toolkit; false: it has none."),
    )
    cuda_version: SpecifierSet | None = field(
        default=None, metadata=meta("specifier", "The target's CUDA toolkit version.")
    )
    jetson: bool | None = field(
        default=None, metadata=meta("bool", "true: the target is an NVIDIA Jetson (L4T known).")
    )
    jetpack: SpecifierSet | None = field(
        default=None, metadata=meta("specifier", "The Jetson's JetPack version.")
    )
    soc: tuple[str, ...] = field(
        default=(), metadata=meta("strings", "Jetson SoC, e.g. tegra234 (Orin).")
    )
    board: tuple[str, ...] = field(
        default=(),
        metadata=meta("strings", "Board model glob, case-insensitive, e.g. 'Raspberry Pi 5*'."),
    )
    compute_capability: SpecifierSet | None = field(
        default=None,
        metadata=meta(
            "specifier",
            "Matches when any of the target's GPUs has a compute capability in this set.",
        ),
    )
    cpu_has: tuple[str, ...] = field(
        default=(),
        metadata=meta(
            "strings", "CPU feature flags (/proc/cpuinfo names) that must all be listed."
        ),
    )
    cpu_lacks: tuple[str, ...] = field(
        default=(),
        metadata=meta(
            "strings",
            "CPU feature flags that must not be listed (an unknown CPU lacks every flag).",
        ),
    )
    source: tuple[str, ...] = field(
        default=(),
        metadata=meta(
            "strings",
            "The kind of source the build starts from: dir (a local directory), archive, dsc (a "
            "Debian source package, its patch series applied) or git. Never matches where the "
            "source is not known (recipes show without one).",
            choices=SOURCE_KINDS,
        ),
    )


@dataclass(frozen=True)
class Memory:
    """The per-job memory estimate behind the jobs model (see :mod:`.jobs`)."""

    per_job_gib: float | None = field(
        default=None,
        metadata=meta(
            "number", "Peak memory of one compile job (GiB) for this package and variant."
        ),
    )
    reserve_gib: float | None = field(
        default=None,
        metadata=meta(
            "number", "Memory kept free for the OS, the linker and the build driver (GiB)."
        ),
    )
    source: str | None = field(
        default=None,
        metadata=meta("string", "Where the estimate comes from (measurement or reference)."),
    )


@dataclass(frozen=True)
class BuildTime:
    """A measured build time: what the plan's estimate of a build's cost starts from."""

    minutes: float | None = field(
        default=None,
        metadata=meta("number", "Wall-clock minutes the build took, from source to wheel."),
    )
    jobs: int | None = field(
        default=None, metadata=meta("integer", "Parallel compile jobs it ran with.")
    )
    arch: str | None = field(
        default=None, metadata=meta("string", "The CPU architecture it was measured on.")
    )
    source: str | None = field(
        default=None, metadata=meta("string", "Where the figure comes from (the measurement).")
    )


@dataclass(frozen=True)
class Values:
    """What a layer sets: the defaults, a series or an override."""

    env: Mapping[str, str] | None = field(
        default=None,
        metadata=meta(
            "env", "Environment variables for the build; values may use {version} and friends."
        ),
    )
    env_unset: tuple[str, ...] = field(
        default=(),
        metadata=meta("list", "Environment variables an earlier layer set that must not be set."),
    )
    build_requires: tuple[str, ...] = field(
        default=(),
        metadata=meta(
            "requirements",
            "PEP 508 requirements installed into the build environment; a later layer replaces an "
            "earlier requirement of the same project.",
        ),
    )
    command: tuple[str, ...] = field(
        default=(),
        metadata=meta(
            "list", "The build command, run in the source tree; it must leave a wheel in dist/."
        ),
    )
    smoke: str | None = field(
        default=None,
        metadata=meta("string", "Python code run in a fresh environment with the wheel installed."),
    )
    memory: Memory | None = field(
        default=None, metadata=meta("table", "Per-job memory estimate.", model=Memory)
    )
    time: BuildTime | None = field(
        default=None,
        metadata=meta("table", "A measured build time, for plan-time estimates.", model=BuildTime),
    )
    #: None: this layer says nothing; an empty tuple: no steps (it clears an earlier layer's).
    before: tuple[tuple[str, ...], ...] | None = field(
        default=None,
        metadata=meta(
            "commands",
            "Steps run once in the prepared source tree, after the patches and before the build "
            "command, each a list of words that may use {version} and friends; a later layer's "
            "list replaces an earlier one ([] removes it).",
        ),
    )


@dataclass(frozen=True)
class Series(Values):
    """A range of package versions that build the same way."""

    name: str = field(
        default="",
        metadata=meta(
            "string", "Short name, e.g. 2.6; patches live in patches/<pkg>/<name>/.", required=True
        ),
    )
    versions: SpecifierSet = field(
        default=SpecifierSet(),
        metadata=meta("specifier", "The package versions in this series.", required=True),
    )
    requires_python: SpecifierSet | None = field(
        default=None,
        metadata=meta("specifier", "Python versions the tree builds with (setup.py's floor)."),
    )
    requires_cuda: SpecifierSet | None = field(
        default=None,
        metadata=meta("specifier", "CUDA toolkit versions a CUDA build of this series accepts."),
    )
    notes: tuple[str, ...] = field(
        default=(),
        metadata=meta(
            "list", "Facts about this series worth showing (toolchain floors, known problems)."
        ),
    )


@dataclass(frozen=True)
class Override(Values):
    """Values that apply only where ``when`` matches; later overrides win."""

    reason: str = field(
        default="",
        metadata=meta("string", "Why: one line, with the source of the fact.", required=True),
    )
    when: Condition = field(
        default=Condition(),
        metadata=meta(
            "table", "Conditions on the target and version.", required=True, model=Condition
        ),
    )


@dataclass(frozen=True)
class PatchRef:
    """A patch applied to the source tree before the build."""

    file: str = field(
        default="",
        metadata=meta(
            "string",
            "Path below the layer's patches/ directory: <pkg>/<series>/NNNN-subject.patch.",
            required=True,
        ),
    )
    sha256: str = field(
        default="", metadata=meta("string", "sha256 of the patch file.", required=True)
    )
    reason: str = field(
        default="", metadata=meta("string", "Why the build needs it, in one line.", required=True)
    )
    upstream: str = field(
        default="",
        metadata=meta(
            "string", "The upstream change it backports or replaces, or 'local'.", required=True
        ),
    )
    versions: SpecifierSet = field(
        default=SpecifierSet(),
        metadata=meta("specifier", "Package versions the patch applies to.", required=True),
    )
    when: Condition = field(
        default=Condition(),
        metadata=meta("table", "Further conditions on the target.", model=Condition),
    )


@dataclass(frozen=True)
class Header:
    """The ``[recipe]`` table: what the file is about."""

    format: int = field(
        default=FORMAT,
        metadata=meta("integer", "Recipe format version; this torchbuild reads 1.", required=True),
    )
    package: str = field(
        default="",
        metadata=meta(
            "string", "The distribution name, or '*' for the generic recipe.", required=True
        ),
    )
    summary: str = field(
        default="", metadata=meta("string", "One line: what this recipe builds and how.")
    )
    cuda_switch: str | None = field(
        default=None,
        metadata=meta(
            "string",
            "The variable whose true value makes the build a CUDA build (USE_CUDA, FORCE_CUDA).",
        ),
    )
    jobs_env: tuple[str, ...] = field(
        default=(),
        metadata=meta(
            "list", "Environment variables that receive the job count from the jobs model."
        ),
    )
    tool_env: Mapping[str, str] | None = field(
        default=None,
        metadata=meta(
            "env",
            "Variables read by a build tool rather than by the source tree, each with the tool "
            "that reads it (the real-tree check accepts these).",
        ),
    )


@dataclass(frozen=True)
class RecipeFile:
    """One parsed recipe file, as one layer of the render."""

    recipe: Header = field(
        default=Header(),
        metadata=meta("table", "What the file is about.", required=True, model=Header),
    )
    defaults: Values = field(
        default=Values(), metadata=meta("table", "Values for every series.", model=Values)
    )
    series: tuple[Series, ...] = field(
        default=(),
        metadata=meta(
            "array",
            "Version series, each with its own build requirements and command.",
            model=Series,
        ),
    )
    overrides: tuple[Override, ...] = field(
        default=(),
        metadata=meta(
            "array", "Conditional values, applied in order after the series.", model=Override
        ),
    )
    patches: tuple[PatchRef, ...] = field(
        default=(),
        metadata=meta(
            "array", "Patches, each with its sha256, reason and conditions.", model=PatchRef
        ),
    )
    #: Where the file was read from (not part of the file).
    path: Path = field(default=Path(), compare=False, metadata={"internal": True})
    #: How provenance names this file: ``recipes/torch.toml`` or the user's full path.
    label: str = field(default="", compare=False, metadata={"internal": True})
    #: The directory its patch paths are relative to.
    patches_root: Path = field(default=Path(), compare=False, metadata={"internal": True})

    def series_for(self, version: Any) -> Series | None:
        """The series containing ``version`` (a :class:`packaging.version.Version`), if any."""
        for s in self.series:
            if s.versions.contains(version, prereleases=True):
                return s
        return None
