"""The plan made complete: one typed job per package, with every value its stage needs.

A :class:`~torchbuild.resolve.plan.Plan` says per package ``cached``, ``prebuilt`` or
``build`` and why. :func:`make_jobs` turns its decisions (and the projects given only with
``--source``) into jobs the pipeline takes as they are:

* :class:`Cached`: the wheelhouse file.
* :class:`Prebuilt`: the file's URL, its index, its sha256 and its name.
* :class:`Build`: the source request, the rendered recipe, what it builds against (the torch of
  this run, the interpreter's installed torch, or the target's torch for a cross build), the
  version, the local label and the build environment's requirements.

Everything that can stop a build before it compiles is found here, so ``wheel --dry-run``
fails where the real run would: a recipe that does not render (no series covers the version),
a CUDA build without a toolkit, a target without its sysroot or compilers, a torch extension
with no torch to build against.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping, NoReturn, Protocol, Sequence, Union
from urllib.parse import urlsplit
from urllib.request import url2pathname

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import sources
from ..errors import InputError, ToolchainError
from ..recipes import render_package
from . import matrix
from .trees import tree_facts
from .variants import need_for

if TYPE_CHECKING:
    from ..detect.torch import InstalledTorch
    from ..recipes import Rendered
    from ..target import Target
    from .plan import Action, Decision, Plan

__all__ = [
    "Against",
    "Build",
    "Cached",
    "Job",
    "Prebuilt",
    "RecipeInputs",
    "Site",
    "TorchBase",
    "Wanted",
    "assert_never",
    "make_jobs",
]

TORCH = "torch"


def assert_never(value: NoReturn) -> NoReturn:
    """Where mypy proves a match exhaustive; reaching it at run time is a bug."""
    raise AssertionError(f"unhandled job value: {value!r}")


# -- the jobs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cached:
    """A fitting wheel is already in the wheelhouse."""

    name: str
    version: str
    wheel: Path
    reason: str
    action: Literal["cached"] = "cached"


@dataclass(frozen=True)
class Prebuilt:
    """A wheel to download from an index, checked against the sha256 the index gave."""

    name: str
    version: str
    url: str
    index: str
    sha256: str | None
    filename: str
    reason: str
    action: Literal["prebuilt"] = "prebuilt"


@dataclass(frozen=True)
class NoTorch:
    """The build needs no torch (torch itself, or a project that does not import it)."""

    kind: Literal["none"] = "none"


@dataclass(frozen=True)
class RunTorch:
    """The torch wheel of this run: the plan's cached or prebuilt one, or one built first."""

    how: Action
    version: str
    kind: Literal["run"] = "run"


@dataclass(frozen=True)
class InstalledTorchBase:
    """The torch installed in the interpreter the wheels are for."""

    torch: InstalledTorch
    kind: Literal["installed"] = "installed"


@dataclass(frozen=True)
class CrossTorch:
    """A cross build: headers and libraries from the target's torch wheel of this run, and the
    build scripts run on this machine with its own torch (``scripts``)."""

    how: Action
    version: str
    scripts: InstalledTorch
    kind: Literal["target"] = "target"


TorchBase = Union[NoTorch, RunTorch, InstalledTorchBase, CrossTorch]


@dataclass(frozen=True)
class Against:
    """What a build compiles against: a torch, and wheels of this run its build requires."""

    torch: TorchBase = field(default_factory=NoTorch)
    #: Canonical names of projects this run produces before this one, installed for the build.
    companions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecipeInputs:
    """What a recipe renders from: rendering again with fewer jobs (after a compiler was killed
    for memory) must give the same recipe otherwise."""

    package: str
    version: str
    target: Target
    extra_dirs: tuple[Path, ...] = ()
    cli_env: Mapping[str, str] = field(default_factory=dict)
    source_kind: str | None = None

    def render(self, jobs: int | None) -> Rendered:
        return render_package(
            self.package,
            self.version,
            self.target,
            extra_dirs=self.extra_dirs,
            cli_env=self.cli_env,
            jobs=jobs,
            source_kind=self.source_kind,
        )


@dataclass(frozen=True)
class Build:
    """A package to build from source, with everything decided."""

    name: str
    #: The version built: the plan's, the ``==`` pin, or what the source tree says.
    version: str
    request: sources.SourceRequest
    rendered: Rendered
    recipe: RecipeInputs
    against: Against
    #: The local version label (``cpu``, ``cu126.sm87``); None for a plain extension.
    label: str | None
    #: A torch-family package (its version is the plan's; the matrix pairs it).
    family: bool
    #: The project's own ``[build-system]`` requirements (torch added when setup.py imports it).
    tree_requires: tuple[str, ...]
    #: What the build environment installs from the indexes (torch and this run's wheels are
    #: installed from files instead).
    requires: tuple[str, ...]
    #: The compilers (and for a cross build the sysroot), for the build key and provenance.
    compilers: Mapping[str, str | None]
    reason: str
    notes: tuple[str, ...] = ()
    action: Literal["build"] = "build"

    @property
    def project(self) -> str:
        return canonicalize_name(self.name)

    @property
    def what(self) -> str:
        return f"{self.name} {self.version}"


Job = Union[Cached, Prebuilt, Build]


@dataclass(frozen=True)
class Wanted:
    """A package without a recipe of its own, to build from a source the user gave."""

    name: str
    version: str | None  # pinned with NAME==V, else read from the source
    source: sources.SourceRequest
    origin: str | None = None  # how the source was found, for the plan ("sdist F from INDEX")


class Site(Protocol):
    """Where builds run and what they emit: this machine for itself, or for a sysroot."""

    @property
    def cross(self) -> bool: ...

    def check(self, what: str, variant: str) -> None:
        """Raise when nothing can be built here for the target (no compiler, no sysroot)."""

    def render_target(self, variant: str) -> Target:
        """The Target a recipe renders for (a cross build sizes its jobs by this machine)."""

    def compilers(self, variant: str) -> Mapping[str, str | None]:
        """The compilers a build uses, with versions: part of its build key."""

    def scripts_torch(self) -> InstalledTorch | None:
        """The torch that runs a cross build's scripts on this machine (None: none there)."""


# -- making them ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    target: Target
    site: Site
    variant: str
    recipe_dirs: tuple[Path, ...]
    cli_env: Mapping[str, str]
    jobs: int | None
    cache_dir: Path
    offline: bool
    timeout: float
    installed: InstalledTorch | None


def make_jobs(
    plan: Plan | None,
    wanted: Sequence[Wanted],
    *,
    target: Target,
    site: Site,
    cuda: str = "auto",
    user_sources: Mapping[str, sources.SourceRequest] | None = None,
    cache_dir: Path,
    recipe_dirs: Sequence[Path] = (),
    cli_env: Mapping[str, str] | None = None,
    jobs: int | None = None,
    offline: bool = False,
    timeout: float = 60.0,
) -> tuple[Job, ...]:
    """One job per planned package (dependency order, torch first), then the given projects.

    Raises before any work for a build that cannot start (see the module's description).
    """
    installed = plan.installed if plan is not None else None
    # A CPU build renders without the target's CUDA toolkit, so a machine that has nvcc but
    # no GPU (or --cuda none) builds CPU wheels.
    variant = plan.need.kind if plan is not None else need_for(target, cuda).kind
    ctx = _Context(
        target,
        site,
        variant,
        tuple(recipe_dirs),
        dict(cli_env or {}),
        jobs,
        cache_dir,
        offline,
        timeout,
        installed,
    )
    out: list[Job] = []
    torch_job: Job | None = None
    for decision in plan.decisions if plan is not None else ():
        job = _from_decision(decision, ctx, user_sources or {}, out, torch_job)
        if canonicalize_name(decision.name) == TORCH:
            torch_job = job
        out.append(job)
    for item in wanted:
        out.append(_generic(item, ctx, out, torch_job))
    return tuple(out)


def _from_decision(
    d: Decision,
    ctx: _Context,
    user_sources: Mapping[str, sources.SourceRequest],
    before: Sequence[Job],
    torch_job: Job | None,
) -> Job:
    name = canonicalize_name(d.name)
    version = str(d.version)
    if d.action == "cached":
        assert d.wheel is not None
        return Cached(d.name, version, _local_file(d.wheel.url), d.reason)
    if d.action == "prebuilt":
        assert d.wheel is not None
        w = d.wheel
        return Prebuilt(d.name, version, w.url, w.index, w.sha256, w.filename, d.reason)
    if d.action != "build":
        assert_never(d.action)
    request = user_sources.get(name) or _upstream(d.name, version)
    ctx.site.check(f"{d.name} {version}", ctx.variant)
    torch = _torch_base(d.name, needs=name != TORCH, ctx=ctx, torch_job=torch_job)
    return _build(
        d.name, version, request, ctx, Against(torch), (), before, family=True, reason=d.reason
    )


def _generic(item: Wanted, ctx: _Context, before: Sequence[Job], torch_job: Job | None) -> Build:
    what = f"{item.name} {item.version}" if item.version else item.name
    ctx.site.check(what, ctx.variant)
    requires, found = _peek(item.source, ctx)
    version = item.version or found or "0"
    needs = any(_req_name(r) == TORCH for r in requires)
    torch = _torch_base(item.name, needs=needs, ctx=ctx, torch_job=torch_job)
    earlier = {_project(j) for j in before}
    companions = tuple(
        dict.fromkeys(
            dep
            for dep in (_req_name(r) for r in requires)
            if dep and dep != TORCH and dep in earlier
        )
    )
    return _build(
        item.name,
        version,
        item.source,
        ctx,
        Against(torch, companions),
        tuple(requires),
        before,
        family=False,
        reason=item.origin or f"from {item.source.location}",
    )


def _build(
    name: str,
    version: str,
    request: sources.SourceRequest,
    ctx: _Context,
    against: Against,
    tree_requires: tuple[str, ...],
    before: Sequence[Job],
    *,
    family: bool,
    reason: str,
) -> Build:
    recipe = RecipeInputs(
        canonicalize_name(name),
        version,
        ctx.site.render_target(ctx.variant),
        ctx.recipe_dirs,
        ctx.cli_env,
        sources.kind_of(request.location),
    )
    rendered = recipe.render(ctx.jobs)
    notes: list[str] = []
    torch = against.torch
    if isinstance(torch, CrossTorch) and (
        Version(torch.version).release[:2] != torch.scripts.version.release[:2]
    ):
        notes.append(
            f"the host's torch {torch.scripts.version} runs {name}'s build scripts; the "
            f"target's is {torch.version} (headers and libraries come from the target's)"
        )
    in_run = {_project(j) for j in before}
    return Build(
        name=name,
        version=version,
        request=request,
        rendered=rendered,
        recipe=recipe,
        against=against,
        label=_local_label(ctx.target, rendered, against, family),
        family=family,
        tree_requires=tree_requires,
        requires=_env_requires(ctx.target, rendered, tree_requires, in_run),
        compilers=ctx.site.compilers(rendered.variant),
        reason=reason,
        notes=tuple(notes),
    )


def _local_file(url: str) -> Path:
    """The wheelhouse file a ``file:`` URL of the plan names."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise AssertionError(f"a cached wheel is a local file, not {url}")
    return Path(url2pathname(parts.path))


def _upstream(name: str, version: str) -> sources.SourceRequest:
    spec = matrix.load_matrix().sources.get(canonicalize_name(name))
    if spec is None:
        raise InputError(
            f"no upstream source is known for {name}",
            hint=f"give one: --source {name}=/path/to/tree-or-tarball",
        )
    tag = spec.tag.format(version=version)
    return sources.upstream_request(name, version, spec.git, tag, spec.submodules)


def _project(job: Job) -> str:
    return canonicalize_name(job.name)


def _torch_base(name: str, *, needs: bool, ctx: _Context, torch_job: Job | None) -> TorchBase:
    """What ``name`` builds against: this run's torch, or the interpreter's own."""
    if not needs:
        return NoTorch()
    if ctx.site.cross:
        if torch_job is None:
            raise InputError(
                f"{name} for {ctx.target.origin} builds against the target's torch, and this "
                "run has no torch wheel for it",
                hint=f"add torch to the command (`torchbuild wheel torch {name} ...`) so the "
                "target's torch wheel is fetched or built first",
            )
        scripts = ctx.site.scripts_torch()
        if scripts is None:
            raise InputError(
                f"cross-building {name} runs its build scripts on this machine, and they import "
                "torch, which the build's interpreter does not have",
                hint="install this machine's CPU torch into the --python interpreter (the same "
                "release as the target's, e.g. from https://download.pytorch.org/whl/cpu)",
            )
        return CrossTorch(torch_job.action, _public(torch_job.version), scripts)
    if torch_job is not None:
        return RunTorch(torch_job.action, torch_job.version)
    installed = ctx.installed
    if installed is None:
        from ..detect.torch import probe_installed_torch

        installed = probe_installed_torch(ctx.target, timeout=60.0)
    if installed is None:
        python = ctx.target.python.executable if ctx.target.python else None
        raise InputError(
            f"{name} builds against torch, and there is none to build against",
            hint=f"add torch to the command (`torchbuild wheel torch {name} ...`) or "
            f"install torch into {python or 'the target interpreter'}",
        )
    return InstalledTorchBase(installed)


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def _local_label(target: Target, rendered: Rendered, against: Against, family: bool) -> str | None:
    if not family and isinstance(against.torch, NoTorch):
        return None  # a plain extension is not a torch variant
    from .variants import cuda_label, sm

    cuda = target.cuda
    if rendered.variant == "cuda" and cuda and cuda.toolkit:
        caps = sorted(
            {
                a.upper().replace("+PTX", "")
                for a in _arch_items(rendered.env.get("TORCH_CUDA_ARCH_LIST"))
            },
            key=_cap_order,
        )
        return cuda_label(cuda.toolkit) + "".join("." + sm(c).replace("_", "") for c in caps)
    return "cpu"


def _env_requires(
    target: Target, rendered: Rendered, tree_requires: Sequence[str], in_run: set[str]
) -> tuple[str, ...]:
    reqs: list[str] = []
    for text in rendered.build_requires:
        name = _req_name(text)
        # A recipe's cmake/ninja pin is met by the system's tools when they satisfy it (the
        # build finds them on PATH); PyPI's are installed only when they do not.
        if name in ("cmake", "ninja") and _system_tool_satisfies(target, name, text):
            continue
        reqs.append(text)
    # The project's own [build-system] requirements are installed as declared: `build
    # --no-isolation` checks them as installed distributions.
    reqs.extend(tree_requires)
    reqs = [r for r in reqs if _req_name(r) != TORCH and _req_name(r) not in in_run]
    return tuple(dict.fromkeys(reqs))


def _system_tool_satisfies(target: Target, name: str, text: str) -> bool:
    tool = getattr(target.toolchain, name, None)
    if tool is None or not tool.version:
        return False
    try:
        return Requirement(text).specifier.contains(tool.version, prereleases=True)
    except (InvalidRequirement, InvalidSpecifier, InvalidVersion):
        return False


def _arch_items(text: str | None) -> list[str]:
    return [a for a in (text or "").replace(",", ";").replace(" ", ";").split(";") if a]


def _cap_order(cap: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in cap.split("."))


def _req_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


# -- a given project's tree, read before building ------------------------------------------------


def _peek(source: sources.SourceRequest, ctx: _Context) -> tuple[list[str], str | None]:
    """A generic project's build requirements and static version, read before building.

    A directory is read where it is; other material is fetched (into the source cache the
    build then finds it in) and unpacked into a scratch directory.
    """
    if sources.kind_of(source.location) == "dir":
        return tree_facts(Path(source.location))
    fetched = sources.fetch(
        source, cache_dir=ctx.cache_dir, offline=ctx.offline, timeout=ctx.timeout
    )
    scratch = ctx.cache_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="peek-", dir=scratch))
    try:
        sources.materialize(fetched, tmp / "tree")
        return tree_facts(tmp / "tree")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cuda_check(target: Target, what: str, variant: str) -> None:
    """A CUDA build needs the target's CUDA toolkit (both kinds of site check this first)."""
    if variant == "cuda" and not (target.cuda and target.cuda.toolkit):
        raise ToolchainError(
            f"a CUDA build of {what} needs a CUDA toolkit on {target.origin}, and it has none"
            + (" (NVIDIA ships no CUDA for 32-bit ARM)" if target.arch.startswith("armv") else ""),
            hint="build for the CPU with --cuda none, or install the CUDA toolkit there",
        )


def cpu_target(target: Target, variant: str) -> Target:
    """A CPU build renders without the target's CUDA (a machine with nvcc but no GPU)."""
    if variant != "cuda" and target.cuda is not None:
        return dataclasses.replace(target, cuda=None)
    return target
