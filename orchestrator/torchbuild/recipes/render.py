"""Rendering: (recipe layers, package, version, target) → one recipe, with provenance.

A pure function: it reads no files and runs nothing. Layers apply in order (bundled recipe, then
each user recipe directory, then ``--env``); inside a layer the order is ``[defaults]``, the
series containing the version, then every matching ``[[overrides]]`` entry in file order. Every
value remembers which layer and which override set it, and why. Overrides may depend on the
source's kind (``when = { source = ["dsc"] }``); the caller passes it when it knows it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from packaging.version import InvalidVersion, Version

from ..errors import RecipeError
from . import conditions
from .jobs import JobsEstimate, estimate_jobs
from .load import requirement_key
from .model import Memory, Override, RecipeFile, Series, Values, toml_name

if TYPE_CHECKING:
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    from ..target import Target

__all__ = ["CLI_ENV", "JSON_VERSION", "Rendered", "RenderedPatch", "render", "to_json"]

JSON_VERSION = 1
#: Provenance of values given with ``--env KEY=VALUE``.
CLI_ENV = "--env"
_TRUE = ("1", "ON", "YES", "TRUE", "Y")
#: Why a placeholder has no value, and an example of what to give instead.
_MISSING = {
    "version": "no version",
    "cuda_arch_list": "the target has a CUDA toolkit but no GPU with a known compute capability",
    "cuda_home": "the target's nvcc location is not known",
}
_EXAMPLES = {"cuda_arch_list": "8.6", "cuda_home": "/usr/local/cuda"}
#: Placeholders only a CUDA build reads.
_CUDA_FACTS = frozenset({"cuda_arch_list", "cuda_home"})


@dataclass(frozen=True)
class RenderedPatch:
    file: str
    path: Path
    sha256: str
    reason: str
    upstream: str
    source: str


@dataclass(frozen=True)
class Rendered:
    """Everything the build stage needs, and where each piece came from."""

    package: str
    version: str
    series: str
    variant: str
    env: Mapping[str, str]
    build_requires: tuple[str, ...]
    command: tuple[str, ...]
    smoke: str | None
    patches: tuple[RenderedPatch, ...]
    jobs: int
    jobs_estimate: JobsEstimate | None
    memory_source: str | None
    #: ``ENV_NAME`` / ``build-requires:<project>`` / ``command`` / ``before`` / ``smoke`` /
    #: ``jobs`` / ``memory.per-job-gib`` / ``memory.reserve-gib`` → the layer (and override)
    #: that set it.
    provenance: Mapping[str, str]
    #: The overrides that matched, as provenance strings, in the order they applied.
    matched: tuple[str, ...]
    notes: tuple[str, ...]
    layers: tuple[str, ...]
    tool_env: Mapping[str, str] = field(default_factory=dict)
    #: The variables that carry the job count (they change how fast, not what is built).
    jobs_env: tuple[str, ...] = ()
    #: Steps run once in the freshly prepared tree (patches applied), before ``command``.
    before: tuple[tuple[str, ...], ...] = ()
    #: The source kind the render was asked about (None: not known).
    source_kind: str | None = None


class _State:
    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.requires: dict[str, str] = {}
        self.command: tuple[str, ...] = ()
        self.before: tuple[tuple[str, ...], ...] = ()
        self.smoke: str | None = None
        self.memory: dict[str, Any] = {}
        self.provenance: dict[str, str] = {}
        self.matched: list[str] = []
        self.notes: list[str] = []

    def apply(self, values: Values, source: str) -> None:
        for name, value in (values.env or {}).items():
            self.env[name] = value
            self.provenance[name] = source
        for name in values.env_unset:
            self.env.pop(name, None)
            self.provenance.pop(name, None)
        for text in values.build_requires:
            key = requirement_key(text)
            self.requires[key] = text
            self.provenance[f"build-requires:{key}"] = source
        if values.command:
            self.command = values.command
            self.provenance["command"] = source
        if values.before is not None:
            # Replaced as a whole, like the command: steps from two layers need not fit together.
            self.before = values.before
            if values.before:
                self.provenance["before"] = source
            else:
                self.provenance.pop("before", None)
        if values.smoke is not None:
            self.smoke = values.smoke
            self.provenance["smoke"] = source
        if values.memory is not None:
            for f in fields(Memory):
                value = getattr(values.memory, f.name)
                if value is not None:
                    self.memory[f.name] = value
                    self.provenance[f"memory.{toml_name(f.name)}"] = source


def _override_source(recipe: RecipeFile, index: int, ov: Override) -> str:
    return f"{recipe.label} override #{index} ({conditions.describe(ov.when)}): {ov.reason}"


def _series_source(recipe: RecipeFile, s: Series) -> str:
    return f"{recipe.label} [series {s.name}]"


def _parse_version(version: str | Version) -> Version:
    if isinstance(version, Version):
        return version
    try:
        return Version(version)
    except InvalidVersion:
        raise RecipeError(
            f"{version!r} is not a valid version", hint="give a version such as 2.6.0"
        ) from None


def _covered(recipes: Sequence[RecipeFile]) -> str:
    names = [f"{s.name} ({s.versions})" for r in recipes for s in r.series]
    return ", ".join(names) or "none"


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().upper() in _TRUE


def _cuda_arch_list(target: Target) -> str | None:
    caps = {
        v
        for g in (target.cuda.gpus if target.cuda else ())
        if (v := conditions.parse_version(g.compute_capability)) is not None
    }
    return ";".join(f"{v.major}.{v.minor}" for v in sorted(caps)) or None


def _cuda_home(target: Target) -> str | None:
    nvcc = target.cuda.nvcc if target.cuda else None
    if not nvcc or "/" not in nvcc:
        return None
    parts = nvcc.rstrip("/").split("/")
    if len(parts) < 3 or parts[-2] != "bin":
        return None
    return "/".join(parts[:-2]) or None  # …/bin/nvcc → …


def _needs_cuda_facts(text: str) -> bool:
    return any(name in _CUDA_FACTS for _, name, _, _ in string.Formatter().parse(text))


def _expand(text: str, facts: Mapping[str, str | None], what: str) -> str:
    out: list[str] = []
    for literal, name, spec, conv in string.Formatter().parse(text):
        out.append(literal)
        if name is None:
            continue
        if spec or conv:
            raise RecipeError(f"{what}: placeholder {{{name}}} takes no format spec or conversion")
        value = facts.get(name)
        if value is None:
            example = _EXAMPLES.get(name, "...")
            hint = (
                f"pass the value yourself: --env {what[4:]}={example}"
                if what.startswith("env ")
                else "describe the target more fully (run `torchbuild detect` on the device)"
            )
            raise RecipeError(f"{what} needs {{{name}}}: {_MISSING[name]}", hint=hint)
        out.append(value)
    return "".join(out)


def render(
    recipes: Sequence[RecipeFile],
    package: str,
    version: str | Version,
    target: Target,
    *,
    cli_env: Mapping[str, str] | None = None,
    jobs: int | None = None,
    source_kind: str | None = None,
) -> Rendered:
    """Render ``package`` at ``version`` for ``target`` from ``recipes`` (lowest layer first)."""
    if not recipes:
        raise RecipeError(f"no recipe for {package}")
    v = _parse_version(version)
    state = _State()
    series_name: str | None = None
    requires_python: tuple[SpecifierSet, str] | None = None
    requires_cuda: tuple[SpecifierSet, str] | None = None
    patches: list[RenderedPatch] = []
    jobs_env: tuple[str, ...] = ()
    cuda_switch: str | None = None
    tool_env: dict[str, str] = {}

    for recipe in recipes:
        if recipe.recipe.jobs_env:
            jobs_env = recipe.recipe.jobs_env
        tool_env.update(recipe.recipe.tool_env or {})
        state.apply(recipe.defaults, f"{recipe.label} [defaults]")
        s = recipe.series_for(v)
        if s is not None:
            src = _series_source(recipe, s)
            state.apply(s, src)
            series_name = s.name
            state.notes.extend(s.notes)
            if s.requires_python is not None:
                requires_python = (s.requires_python, src)
            if s.requires_cuda is not None:
                requires_cuda = (s.requires_cuda, src)
        for i, ov in enumerate(recipe.overrides, start=1):
            if conditions.matches(ov.when, target, v, source_kind=source_kind):
                src = _override_source(recipe, i, ov)
                state.apply(ov, src)
                state.matched.append(src)
        patches.extend(
            RenderedPatch(
                p.file, recipe.patches_root / p.file, p.sha256, p.reason, p.upstream, recipe.label
            )
            for p in recipe.patches
            if p.versions.contains(v, prereleases=True)
            and conditions.matches(p.when, target, v, source_kind=source_kind)
        )

    if series_name is None:
        raise RecipeError(
            f"no recipe series covers {package} {v}",
            hint=f"covered: {_covered(recipes)}; add a series in a recipe directory (--recipe-dir)",
        )

    for name, value in (cli_env or {}).items():
        state.env[name] = value
        state.provenance[name] = CLI_ENV

    # Placeholders are filled from the version and the target; values given on the command line
    # are taken literally.
    facts: dict[str, str | None] = {
        "version": str(v),
        "cuda_arch_list": _cuda_arch_list(target),
        "cuda_home": _cuda_home(target),
    }
    # cuda-switch names the variable that turns the CUDA build on (USE_CUDA, FORCE_CUDA).
    for recipe in recipes:
        cuda_switch = recipe.recipe.cuda_switch or cuda_switch
    switch = state.env.get(cuda_switch) if cuda_switch else None
    if cuda_switch and switch is not None and state.provenance.get(cuda_switch) != CLI_ENV:
        switch = _expand(switch, facts, f"env {cuda_switch}")
    variant = "cuda" if _is_true(switch) else "cpu"
    if variant == "cpu":
        # A later layer turned CUDA off (a CPU-only variant on a host that has a toolkit):
        # the variables only a CUDA build reads must not stop the render for want of a GPU.
        for k in [k for k, val in state.env.items() if _needs_cuda_facts(val)]:
            if state.provenance.get(k) != CLI_ENV:
                del state.env[k]
                state.provenance.pop(k, None)
    env = {
        k: val if state.provenance.get(k) == CLI_ENV else _expand(val, facts, f"env {k}")
        for k, val in state.env.items()
    }
    command = tuple(_expand(a, facts, "command") for a in state.command)
    before = tuple(
        tuple(_expand(w, facts, f"before step {i}") for w in step)
        for i, step in enumerate(state.before, start=1)
    )
    if not command:
        raise RecipeError(f"the recipe for {package} {v} sets no build command")

    _check_requirements(package, v, target, variant, requires_python, requires_cuda)

    estimate: JobsEstimate | None = None
    user_jobs = next((env[n] for n in jobs_env if state.provenance.get(n) == CLI_ENV), None)
    if jobs is not None:
        n_jobs, jobs_source = jobs, "--jobs"
    elif user_jobs is not None and user_jobs.isdigit() and int(user_jobs) > 0:
        n_jobs, jobs_source = int(user_jobs), CLI_ENV
    else:
        per_job = state.memory.get("per_job_gib")
        reserve = state.memory.get("reserve_gib", 1.0)
        if per_job is None:
            raise RecipeError(f"the recipe for {package} sets no memory.per-job-gib")
        estimate = estimate_jobs(target.resources, per_job, reserve)
        n_jobs, jobs_source = estimate.jobs, f"jobs model: {estimate.explanation}"
    state.provenance["jobs"] = jobs_source
    for name in jobs_env:
        if state.provenance.get(name) != CLI_ENV:
            env[name] = str(n_jobs)
            state.provenance[name] = jobs_source

    return Rendered(
        package=package,
        version=str(v),
        series=series_name,
        variant=variant,
        env=dict(sorted(env.items())),
        build_requires=tuple(state.requires.values()),
        command=command,
        smoke=state.smoke,
        patches=tuple(patches),
        jobs=n_jobs,
        jobs_estimate=estimate,
        memory_source=state.memory.get("source"),
        provenance=dict(state.provenance),
        matched=tuple(state.matched),
        notes=tuple(state.notes),
        layers=tuple(r.label for r in recipes),
        tool_env=tool_env,
        jobs_env=jobs_env,
        before=before,
        source_kind=source_kind,
    )


def _check_requirements(
    package: str,
    v: Version,
    target: Target,
    variant: str,
    requires_python: tuple[SpecifierSet, str] | None,
    requires_cuda: tuple[SpecifierSet, str] | None,
) -> None:
    py = conditions.parse_version(target.python.version if target.python else None)
    if requires_python is not None and py is not None:
        spec, src = requires_python
        if not spec.contains(py, prereleases=True):
            raise RecipeError(
                f"{package} {v} needs Python {spec}; the target has {py} ({src})",
                hint="build with a newer Python on the target (--python), or pick an older release",
            )
    toolkit = conditions.cuda_toolkit(target)
    if requires_cuda is not None and variant == "cuda" and toolkit is not None:
        spec, src = requires_cuda
        if not spec.contains(toolkit, prereleases=True):
            raise RecipeError(
                f"a CUDA build of {package} {v} needs CUDA {spec}; "
                f"the target has {toolkit} ({src})",
                hint="build for CPU with --cuda none, or pick a release that supports this CUDA",
            )


def to_json(r: Rendered) -> dict[str, Any]:
    """The ``recipes show --json`` object."""
    est = r.jobs_estimate
    return {
        "version": JSON_VERSION,
        "package": r.package,
        "package_version": r.version,
        "series": r.series,
        "variant": r.variant,
        "env": dict(r.env),
        "build_requires": list(r.build_requires),
        "command": list(r.command),
        "before": [list(step) for step in r.before],
        "source_kind": r.source_kind,
        "smoke": r.smoke,
        "jobs": r.jobs,
        "memory": {
            "per_job_bytes": est.per_job_bytes if est else None,
            "reserve_bytes": est.reserve_bytes if est else None,
            "explanation": est.explanation if est else None,
            "source": r.memory_source,
        },
        "patches": [
            {"file": p.file, "sha256": p.sha256, "reason": p.reason, "upstream": p.upstream}
            for p in r.patches
        ],
        "provenance": dict(r.provenance),
        "overrides": list(r.matched),
        "notes": list(r.notes),
        "layers": list(r.layers),
    }
