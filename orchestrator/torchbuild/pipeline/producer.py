"""`torchbuild wheel`'s work after the plan: fetch what fits, build the rest, publish all.

For each planned package, in dependency order (torch first):

* ``cached``: the wheelhouse already has a fitting wheel; nothing to do.
* ``prebuilt``: the index's file is downloaded, its sha256 checked, and added.
* ``build``: source fetched and verified, recipe rendered, build key computed. A wheel with the
  same key in the wheelhouse ends it there. Otherwise the kept build directory is prepared
  (or resumed), the build environment made, the recipe's command run under the compiler cache
  with the jobs model (halved after an OOM kill), and the wheel repaired, verified in a fresh
  environment and only then published.

Packages without a recipe of their own (torch extensions, any PEP 517 project given with
``--source``) go through the generic recipe after the torch family, in the order given; a
later one builds against the wheels of earlier ones when its build requirements name them.
Finally the run-time dependencies of the whole set are downloaded into the wheelhouse too, so
it can install the set with no other index.
"""

from __future__ import annotations

import dataclasses
import email.parser
import functools
import os
import platform
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import __version__, elf, run, sources, venvs, verify
from ..compile.before import run_before
from ..compile.compiler_cache import find_compiler_cache
from ..compile.distcc import find_distcc
from ..compile.key import BuildKey, build_key
from ..compile.requirements import static_requirements, version_from_tree, with_dynamic_requirements
from ..compile.runner import run_build
from ..compile.workdir import BuildDir
from ..errors import BuildError, InputError, ToolchainError
from ..http import download
from ..recipes import render_package
from ..recipes import to_json as recipe_json
from ..repair import RepairRequest, clean_version, repair
from ..resolve import matrix
from ..sources.patches import apply_series
from ..wheelhouse import Wheelhouse

if TYPE_CHECKING:
    from rich.console import Console

    from ..cross import Sysroot
    from ..recipes import Rendered
    from ..resolve.plan import Decision, Plan
    from ..target import Target
    from ..venvs import Installer, Venv

__all__ = ["Outcome", "Producer", "Wanted", "WheelOptions"]

TORCH = "torch"


@dataclass(frozen=True)
class WheelOptions:
    wheelhouse: Path
    cache_dir: Path
    python: Path
    installer: Installer
    jobs: int | None = None
    verbose: bool = False
    cli_env: Mapping[str, str] = field(default_factory=dict)
    recipe_dirs: tuple[Path, ...] = ()
    compiler_cache: str = "auto"
    #: distcc hosts (DISTCC_HOSTS syntax) to spread compiles over; None: compile locally.
    distcc_hosts: str | None = None
    offline: bool = False
    #: What the plan wants: "cpu" builds render without the target's CUDA toolkit, so a
    #: machine that has nvcc but no GPU (or --cuda none) builds CPU wheels.
    variant: str = "cpu"
    with_deps: bool = True
    timeout: float = 60.0
    cert: str | None = None
    #: The target's sysroot (``--root``): builds for another machine are cross-compiled
    #: against it, and their wheels checked against it and run under QEMU.
    sysroot: Path | None = None


@dataclass(frozen=True)
class Wanted:
    """A package without a recipe of its own, to build from a source the user gave."""

    name: str
    version: str | None  # pinned with NAME==V, else read from the source
    source: sources.SourceRequest
    origin: str | None = None  # how the source was found, for the plan ("sdist F from INDEX")


@dataclass(frozen=True)
class Outcome:
    project: str
    version: str
    action: str  # cached | prebuilt | built | installed
    wheel: str | None
    detail: str
    seconds: float = 0.0
    build: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.version,
            "action": self.action,
            "wheel": self.wheel,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "build": dict(self.build) if self.build else None,
        }


@dataclass(frozen=True)
class _Against:
    """What a build compiles against: wheel files to install, or the interpreter's own torch."""

    wheels: tuple[Path, ...] = ()
    inherit_site: bool = False
    identity: Mapping[str, str] = field(default_factory=dict)
    provided: tuple[str, ...] = ()  # sonames those packages bring at run time
    #: cross builds: the target's torch wheel, linked against but never installed here
    target_torch: Path | None = None


@functools.lru_cache(maxsize=32)
def _sonames_in_wheel(wheel: Path) -> tuple[str, ...]:
    """The shared libraries a wheel ships, by file name, read from its zip directory alone.

    Wheels store each library under its soname (auditwheel keeps the two equal for the
    libraries it grafts), so the names serve as sonames; unpacking a 200 MB torch wheel to read
    every ELF header would cost seconds on each run.
    """
    with zipfile.ZipFile(wheel) as zf:
        names = {n.rsplit("/", 1)[-1] for n in zf.namelist()}
    return tuple(sorted(n for n in names if n.endswith(".so") or ".so." in n))


def _sonames_in_dir(root: Path) -> tuple[str, ...]:
    return tuple(sorted({p.name for p in root.rglob("*.so*") if p.is_file()}))


def _requires_dist(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(zf.read(meta).decode("utf-8", "replace"))
    out = []
    for text in msg.get_all("Requires-Dist") or []:
        name = _req_name(text)
        if name is not None:
            out.append(Requirement(text))
    return out


def _tree_facts(tree: Path) -> tuple[list[str], str | None]:
    return static_requirements(tree), version_from_tree(tree)


class Producer:
    """Carries one target's run: the wheels produced so far, the wheelhouse, the caches."""

    def __init__(
        self,
        target: Target,
        options: WheelOptions,
        console: Console,
        *,
        user_sources: Mapping[str, sources.SourceRequest] | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self.options = options
        self.console = console
        self.user_sources = dict(user_sources or {})
        self.wheelhouse = Wheelhouse(options.wheelhouse)
        self.produced: dict[str, Path] = {}  # canonical project -> wheel in the wheelhouse
        self.outcomes: list[Outcome] = []
        self._note = note or (lambda _text: None)
        self._installed_torch: Any = None
        self._host_torch: Any = None
        self._sysroot: Sysroot | None = None
        self._verified = ""  # how the last published wheel was verified

    # -- the run ---------------------------------------------------------------------------

    def run(self, plan: Plan | None, wanted: Sequence[Wanted] = ()) -> list[Outcome]:
        """Produce every planned package, then the others; raise on the first failure."""
        if plan is not None:
            if plan.resolution.torch_role == "installed":
                self._installed_torch = plan.installed
            for decision in plan.decisions:
                self.outcomes.append(self._decision(decision))
        for item in wanted:
            self.outcomes.append(self._generic(item))
        # When every wheel was already there, so were their dependencies (an earlier run
        # collected them): an all-cached run stays a quick no-op.
        fresh = any(o.action in ("prebuilt", "built") for o in self.outcomes)
        if self.options.with_deps and self.produced and fresh:
            self._dependencies()
        return self.outcomes

    def _decision(self, d: Decision) -> Outcome:
        started = time.monotonic()
        name = canonicalize_name(d.name)
        if d.action == "cached":
            assert d.wheel is not None
            self.produced[name] = self.wheelhouse.project_dir(name) / d.wheel.filename
            return Outcome(d.name, str(d.version), "cached", d.wheel.filename, d.reason)
        if d.action == "prebuilt":
            assert d.wheel is not None
            path = self._fetch_prebuilt(d.wheel.url, d.wheel.filename, d.wheel.sha256)
            self.produced[name] = path
            seconds = time.monotonic() - started
            return Outcome(d.name, str(d.version), "prebuilt", path.name, d.wheel.url, seconds)
        request = self.user_sources.get(name) or self._upstream(d)
        return self._build(d.name, str(d.version), request, family=True)

    def _generic(self, item: Wanted) -> Outcome:
        return self._build(item.name, item.version, item.source, family=False)

    # -- prebuilt --------------------------------------------------------------------------

    def _fetch_prebuilt(self, url: str, filename: str, sha256: str | None) -> Path:
        project = canonicalize_name(filename.split("-", 1)[0])
        for entry in self.wheelhouse.find(project):
            if entry.filename == filename and (sha256 is None or entry.sha256 == sha256):
                return self.wheelhouse.project_dir(project) / filename  # another target's
        self._note(f"downloading {filename}")
        tmp = Path(tempfile.mkdtemp(prefix="download-", dir=self._scratch()))
        try:
            dest = tmp / filename
            download(url, dest, sha256=sha256, timeout=self.options.timeout, cert=self.options.cert)
            return self.wheelhouse.add(dest, origin=f"prebuilt {url}").path
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _platform_args(self) -> list[str]:
        return [] if self.target.origin == "host" else _foreign_args(self.target)

    def _scratch(self) -> Path:
        path = self.options.cache_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- building --------------------------------------------------------------------------

    def _upstream(self, d: Decision) -> sources.SourceRequest:
        spec = matrix.load_matrix().sources.get(canonicalize_name(d.name))
        if spec is None:
            raise InputError(
                f"no upstream source is known for {d.name}",
                hint=f"give one: --source {d.name}=/path/to/tree-or-tarball",
            )
        tag = spec.tag.format(version=d.version)
        return sources.upstream_request(d.name, str(d.version), spec.git, tag, spec.submodules)

    @property
    def cross(self) -> bool:
        """Builds run here and emit the target's code (``--root`` gave its sysroot)."""
        return self.options.sysroot is not None

    def sysroot(self) -> Sysroot:
        """The target's sysroot, inspected once (a clear error when it does not fit)."""
        from ..cross import inspect_sysroot

        assert self.options.sysroot is not None
        if self._sysroot is None:
            wanted = self.target.python.version if self.target.python else None
            self._sysroot = inspect_sysroot(
                self.options.sysroot, self.target.arch, python_version=wanted
            )
        return self._sysroot

    def _against_cross(self, name: str) -> _Against:
        """A cross build links the target's torch wheel and imports the host's own torch.

        torchvision's and torchaudio's build scripts import torch on this machine for their
        helpers (flags, paths, the CUDA check); what they compile and link must be the
        target's, from its wheel, unpacked (:mod:`.cross.torch`).
        """
        torch_wheel = self.produced.get(TORCH)
        if torch_wheel is None:
            raise InputError(
                f"{name} for {self.target.origin} builds against the target's torch, and this "
                "run has no torch wheel for it",
                hint=f"add torch to the command (`torchbuild wheel torch {name} ...`) so the "
                "target's torch wheel is fetched or built first",
            )
        host = self._probe_host_torch()
        if host is None:
            raise InputError(
                f"cross-building {name} runs its build scripts on this machine, and they import "
                f"torch, which {self.options.python} does not have",
                hint=f"install this machine's CPU torch into {self.options.python} (the same "
                "release as the target's, e.g. from https://download.pytorch.org/whl/cpu)",
            )
        target_version = torch_wheel.name.split("-")[1].split("+")[0]
        if Version(target_version).release[:2] != host.version.release[:2]:
            self._note(
                f"the host's torch {host.version} runs {name}'s build scripts; the target's is "
                f"{target_version} (headers and libraries come from the target's)"
            )
        sha = self._wheel_sha256(torch_wheel)
        return _Against(
            (),
            inherit_site=True,
            identity={TORCH: f"{torch_wheel.name} sha256:{sha}", "host-torch": str(host.version)},
            provided=_sonames_in_wheel(torch_wheel),
            target_torch=torch_wheel,
        )

    def _probe_host_torch(self) -> Any:
        from ..detect.torch import probe_torch_in

        if self._host_torch is None:
            self._host_torch = probe_torch_in(str(self.options.python), timeout=60.0)
        return self._host_torch

    def _against(self, name: str, tree_requires: Sequence[str] = ()) -> _Against:
        """What ``name`` compiles against: this run's torch, or the interpreter's own."""
        needs_torch = name != TORCH and (
            name in matrix.PACKAGES or any(_req_name(r) == TORCH for r in tree_requires)
        )
        if needs_torch and self.cross:
            return self._against_cross(name)
        wheels: list[Path] = []
        identity: dict[str, str] = {}
        provided: list[str] = []
        inherit_site = False
        if needs_torch:
            torch_wheel = self.produced.get(TORCH)
            if torch_wheel is not None:
                wheels.append(torch_wheel)
                identity[TORCH] = f"{torch_wheel.name} sha256:{self._wheel_sha256(torch_wheel)}"
                provided.extend(_sonames_in_wheel(torch_wheel))
            elif self._installed_torch is not None or self._probe_torch() is not None:
                installed = self._installed_torch or self._probe_torch()
                inherit_site = True
                identity[TORCH] = f"installed {installed.version} at {installed.location}"
                if installed.location:
                    provided.extend(_sonames_in_dir(Path(installed.location) / "lib"))
            else:
                raise InputError(
                    f"{name} builds against torch, and there is none to build against",
                    hint=f"add torch to the command (`torchbuild wheel torch {name} ...`) or "
                    f"install torch into {self.options.python}",
                )
        for req in tree_requires:
            dep = _req_name(req)
            if dep and dep != TORCH and dep in self.produced:
                wheels.append(self.produced[dep])
                identity[dep] = (
                    f"{self.produced[dep].name} sha256:{self._wheel_sha256(self.produced[dep])}"
                )
        return _Against(tuple(wheels), inherit_site, identity, tuple(provided))

    def _wheel_sha256(self, wheel: Path) -> str:
        """A wheelhouse wheel's sha256 from its manifest (hashing a 200 MB torch wheel again
        for every package that builds against it would cost seconds)."""
        project = canonicalize_name(wheel.name.split("-", 1)[0])
        if wheel.parent == self.wheelhouse.project_dir(project):
            for entry in self.wheelhouse.find(project):
                if entry.filename == wheel.name:
                    return entry.sha256
        return _sha256(wheel)

    def _probe_torch(self) -> Any:
        from ..detect.torch import probe_installed_torch

        if self._installed_torch is None:
            self._installed_torch = probe_installed_torch(self.target, timeout=60.0)
        return self._installed_torch

    def _render(
        self, name: str, version: str, jobs: int | None, source_kind: str | None = None
    ) -> Rendered:
        target = self.target
        if self.options.variant != "cuda" and target.cuda is not None:
            target = dataclasses.replace(target, cuda=None)
        if self.cross:
            # The compilers run here: the jobs model sizes them by this machine's memory and
            # cores, not the board's.
            target = dataclasses.replace(target, resources=self._host_resources())
        return render_package(
            name,
            version,
            target,
            extra_dirs=self.options.recipe_dirs,
            cli_env=self.options.cli_env,
            jobs=jobs,
            source_kind=source_kind,
        )

    @functools.lru_cache(maxsize=1)  # noqa: B019 - one Producer per target and run
    def _host_resources(self) -> Any:
        from ..detect.fs import Root
        from ..detect.resources import probe_resources

        return probe_resources(Root("/"), self.options.cache_dir)

    def _compilers(self, rendered: Rendered) -> dict[str, str | None]:
        if self.cross:
            return self._cross_compilers()
        tc = self.target.toolchain
        out: dict[str, str | None] = {
            "cc": f"{tc.cc.path} {tc.cc.version}" if tc.cc else None,
            "cxx": f"{tc.cxx.path} {tc.cxx.version}" if tc.cxx else None,
        }
        if rendered.variant == "cuda":
            cuda = self.target.cuda
            out["nvcc"] = f"{cuda.nvcc} {cuda.toolkit}" if cuda else None
        return out

    @functools.lru_cache(maxsize=1)  # noqa: B019 - one Producer per target and run
    def _cross_compilers(self) -> dict[str, str | None]:
        from ..cross import cross_arch, find_compilers
        from ..cross.toolchain import host_python_version

        sysroot = self.sysroot()  # a sysroot of another machine is the first thing to say
        host_version = host_python_version(self.options.python)
        if host_version != sysroot.python_version:
            raise ToolchainError(
                f"the build's Python {self.options.python} is {host_version}, the target's is "
                f"{sysroot.python_version}: the wheel's tags and extension names come from it",
                hint=f"build with a Python {sysroot.python_version} on this machine "
                "(--python PATH)",
            )
        compilers = find_compilers(cross_arch(self.target.arch))
        out: dict[str, str | None] = {}
        for name, tool in (("cc", compilers.cc), ("cxx", compilers.cxx)):
            done = run.probe([str(tool), "-dumpfullversion"], timeout=30.0)
            out[name] = f"{tool} {done.stdout.strip() if done and done.ok else '?'}"
        out["sysroot"] = f"{sysroot.path} ({sysroot.multiarch}, Python {sysroot.python_version})"
        return out

    def _check_buildable(self, what: str) -> None:
        if self.options.variant == "cuda" and not (self.target.cuda and self.target.cuda.toolkit):
            raise ToolchainError(
                f"a CUDA build of {what} needs a CUDA toolkit on {self.target.origin}, and it "
                "has none"
                + (
                    " (NVIDIA ships no CUDA for 32-bit ARM)"
                    if self.target.arch.startswith("armv")
                    else ""
                ),
                hint="build for the CPU with --cuda none, or install the CUDA toolkit there",
            )
        if self.cross:
            self._cross_compilers()  # the cross compilers and the sysroot, before any download
            return
        if self.target.origin != "host":
            raise InputError(
                f"building {what} for {self.target.origin} on this machine needs its sysroot "
                "to cross-compile against",
                hint="give it with --root DIR (make one with `torchbuild root sysroot DIST DIR "
                "--arch arm64`), or run `torchbuild wheel` on the device itself",
            )
        tc = self.target.toolchain
        if tc.cxx is None and tc.cc is None:
            raise ToolchainError(
                f"no C/C++ compiler was found to build {what}",
                hint="install one (Debian: apt-get install g++), or point CC/CXX at it",
            )

    def _build(
        self, name: str, version: str | None, request: sources.SourceRequest, *, family: bool
    ) -> Outcome:
        started = time.monotonic()
        canonical = canonicalize_name(name)
        what = f"{name} {version}" if version else name
        self._check_buildable(what)
        self._note(f"getting the source of {what}")
        source = sources.fetch(
            request,
            cache_dir=self.options.cache_dir,
            offline=self.options.offline,
            timeout=self.options.timeout,
        )
        tree_requires: list[str] = []
        if not family:
            tree_requires, found = self._peek(source)
            version = version or found or "0"
        assert version is not None
        the_version: str = version
        rendered = self._render(canonical, the_version, self.options.jobs, source.kind)
        against = self._against(canonical, tree_requires)
        key = build_key(
            rendered,
            source={"digest": source.digest, "distro_patches": list(source.distro_patches)},
            target=self.target,
            compilers=self._compilers(rendered),
            against=against.identity,
            requirements=[*rendered.build_requires, *tree_requires],
            ignore_env=rendered.jobs_env,
        )
        hit = self._by_key(canonical, key)
        if hit is not None:
            self.produced[canonical] = hit
            return Outcome(
                name,
                version,
                "cached",
                hit.name,
                f"the wheelhouse has the wheel of this exact build (key {key.short})",
                time.monotonic() - started,
            )
        bdir = BuildDir(self.options.cache_dir / "builds", canonical, version, key)
        with bdir.locked():
            resumed = bdir.prepare(lambda dest: self._fill(source, rendered, dest))
            venv = self._build_env(rendered, tree_requires, against)
            if not family:
                # A recipe of torchbuild's pins its requirements; any other project's backend
                # is asked for its dynamic ones (PEP 517), as pip would.
                venv = with_dynamic_requirements(
                    venv,
                    bdir,
                    lambda more: self._build_env(rendered, [*tree_requires, *more], against),
                )
            compilers = self._compiler_names()
            cache = find_compiler_cache(
                self.options.compiler_cache,
                cache_dir=self.options.cache_dir / "compiler-cache",
                # The cache root holds the build trees and the build environments: paths under
                # it are hashed relative, so machines keeping it in different places share hits.
                base_dir=self.options.cache_dir,
                compilers=compilers,
            )
            base_env = self._cross_env(bdir, against, cache) if self.cross else None
            distcc = find_distcc(
                self.options.distcc_hosts,
                cache=cache,
                cache_dir=self.options.cache_dir / "compiler-cache",
                compilers=compilers,
            )
            jobs = rendered.jobs
            if distcc is not None and rendered.provenance.get("jobs", "").startswith("jobs model"):
                # The hosts compile; this machine preprocesses and links. A job count the user
                # chose (--jobs, a job variable in --env) is kept as given.
                jobs = distcc.hosts.jobs(jobs)
            result = run_build(
                bdir,
                lambda jobs: self._render(canonical, the_version, jobs, source.kind),
                venv,
                jobs=jobs,
                cache=cache,
                console=self.console,
                verbose=self.options.verbose,
                resumed=resumed,
                distcc=distcc,
                base_env=base_env,
            )
            published = self._finish(
                the_version, rendered, source, key, against, result.wheel, family=family
            )
        self.produced[canonical] = published
        version = published.name.split("-")[1]
        detail = f"built in {result.seconds:.0f} s with {result.jobs} job(s)"
        if result.attempts > 1:
            retries = result.attempts - 1
            detail += f" after {retries} out-of-memory retr{'ies' if retries > 1 else 'y'}"
        if result.cache is not None and result.cache.rate() is not None:
            detail += f"; compiler cache hit rate {result.cache.rate():.0%}"
        return Outcome(
            name,
            version,
            "built",
            published.name,
            detail,
            time.monotonic() - started,
            {
                "key": key.digest,
                "log": str(result.log),
                "jobs": result.jobs,
                "attempts": result.attempts,
                "resumed": result.resumed,
                "build_dir": str(bdir.path),
                "verified": self._verified,
                "compiler_cache": None
                if result.cache is None
                else {"hits": result.cache.hits, "misses": result.cache.misses},
            },
        )

    def _peek(self, source: sources.Source) -> tuple[list[str], str | None]:
        """A generic project's build requirements and static version, read before building.

        A setup.py that imports torch needs torch at build time even when its pyproject.toml
        (if any) does not say so; torch is then added to the requirements, so the build gets
        the torch of this run or of the target interpreter.
        """
        if source.kind == "dir":
            return _tree_facts(source.path)
        tmp = Path(tempfile.mkdtemp(prefix="peek-", dir=self._scratch()))
        try:
            sources.materialize(source, tmp / "tree")
            return _tree_facts(tmp / "tree")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _cross_env(self, bdir: BuildDir, against: _Against, cache: Any) -> dict[str, str]:
        """This process's environment with the cross settings: toolchain file, compilers,
        the target's Python headers and extension suffix, and the target's torch."""
        from ..cross import cross_setup
        from ..cross.torch import unpack_target_torch

        torch = None
        if against.target_torch is not None:
            sha = self._wheel_sha256(against.target_torch)
            torch = unpack_target_torch(against.target_torch, self.options.cache_dir, sha)
        setup = cross_setup(
            self.target,
            self.sysroot(),
            workdir=bdir.path,
            host_python=self.options.python,
            torch=torch,
        )
        env = {**os.environ, **setup.env}
        if cache is not None and cache.path_prefix is not None:
            # By name, so the compiler cache's masquerade links (first on PATH) catch
            # setuptools' compiles too; CMake gets the cache as its launcher.
            env["CC"] = setup.compilers.cc.name
            env["CXX"] = setup.compilers.cxx.name
        return env

    def _compiler_names(self) -> list[str]:
        tc = self.target.toolchain
        names = ["cc", "c++", "gcc", "g++"]
        if self.cross:
            from ..cross import cross_arch

            prefix = cross_arch(self.target.arch).gnu_prefix
            names += [f"{prefix}gcc", f"{prefix}g++"]
        names += [Path(tool.path).name for tool in (tc.cc, tc.cxx) if tool is not None]
        # setuptools runs the compiler the interpreter was built with, by that name (Debian's
        # x86_64-linux-gnu-gcc): it must go through the cache too.
        facts = venvs.interpreter_facts(self.options.python)
        for var in ("cc", "cxx"):
            words = facts.get(var, "").split()
            if words:
                names.append(Path(words[0]).name)
        return list(dict.fromkeys(names))

    def _fill(self, source: sources.Source, rendered: Rendered, dest: Path) -> None:
        sources.materialize(source, dest)
        if rendered.patches:
            self._note(f"applying {len(rendered.patches)} patch(es)")
            apply_series(dest, rendered.patches)
        if rendered.before:
            # Once per fresh tree: a resumed build keeps what the steps generated (running
            # them again would touch generated headers and make Ninja rebuild everything).
            self._note(f"running {len(rendered.before)} step(s) before the build")
            run_before(
                rendered, dest, {**os.environ, **rendered.env}, dest.parent / "logs" / "before.log"
            )

    def _build_env(
        self, rendered: Rendered, tree_requires: Sequence[str], against: _Against
    ) -> Venv:
        reqs: list[str] = []
        for text in rendered.build_requires:
            name = _req_name(text)
            # A recipe's cmake/ninja pin is met by the system's tools when they satisfy it
            # (the build finds them on PATH); PyPI's are installed only when they do not.
            if name in ("cmake", "ninja") and self._system_tool_satisfies(name, text):
                continue
            reqs.append(text)
        # The project's own [build-system] requirements are installed as declared: `build
        # --no-isolation` checks them as installed distributions.
        reqs.extend(tree_requires)
        reqs = [r for r in reqs if _req_name(r) != TORCH and _req_name(r) not in self.produced]
        reqs = list(dict.fromkeys(reqs))
        key_extra = dict(against.identity)
        return venvs.cached_venv(
            self.options.cache_dir / "envs",
            self.options.python,
            self.options.installer,
            [*reqs, *map(str, against.wheels)],
            inherit_site=against.inherit_site,
            key_extra=key_extra,
        )

    def _system_tool_satisfies(self, name: str, text: str) -> bool:
        tool = getattr(self.target.toolchain, name, None)
        if tool is None or not tool.version:
            return False
        try:
            return Requirement(text).specifier.contains(tool.version, prereleases=True)
        except (InvalidRequirement, InvalidVersion):
            return False

    def _by_key(self, project: str, key: BuildKey) -> Path | None:
        marker = f"key={key.digest}"
        for entry in self.wheelhouse.find(project):
            if marker in entry.origin.split():
                return self.wheelhouse.project_dir(project) / entry.filename
        return None

    def _finish(
        self,
        version: str,
        rendered: Rendered,
        source: sources.Source,
        key: BuildKey,
        against: _Against,
        built: Path,
        *,
        family: bool,
    ) -> Path:
        """Repair, verify, publish: only a wheel that passed all three reaches the index."""
        scratch = Path(tempfile.mkdtemp(prefix="repair-", dir=self._scratch()))
        try:
            raw_version = built.name.split("-")[1]
            clean = str(version) if family else clean_version(raw_version)
            local = self._local_label(rendered, against, family)
            provenance = {
                "torchbuild": __version__,
                "build_key": key.digest,
                "key_inputs": dict(key.inputs),
                "source": source.provenance(),
                "recipe": recipe_json(rendered),
                "compilers": self._compilers(rendered),
                "against": dict(against.identity),
                "cuda": {
                    "toolkit": self.target.cuda.toolkit if self.target.cuda else None,
                    "arch_list": rendered.env.get("TORCH_CUDA_ARCH_LIST"),
                }
                if rendered.variant == "cuda"
                else None,
                "built_by": f"torchbuild {__version__} on {platform.machine()}",
            }
            self._note(f"repairing {built.name}")
            repaired = repair(
                built,
                scratch,
                RepairRequest(
                    version=clean,
                    local=local,
                    arch=self.target.arch,
                    provided=against.provided,
                    provenance=provenance,
                ),
            )
            if self.cross:
                self._verified = self._verify_foreign(repaired.path, rendered, against)
                origin = f"built key={key.digest} from {source.description}"
                return self.wheelhouse.add(repaired.path, origin=origin).path
            self._note(f"verifying {repaired.path.name} in a fresh environment")
            companions = list(against.wheels)
            for req in _requires_dist(repaired.path):
                dep = canonicalize_name(req.name)
                if dep in self.produced and self.produced[dep] not in companions:
                    companions.append(self.produced[dep])
            cuda = self.target.cuda
            verify.verify_wheel(
                repaired.path,
                python=self.options.python,
                installer=self.options.installer,
                companions=companions,
                inherit_site=against.inherit_site,
                smoke=rendered.smoke,
                cuda_arch_list=rendered.env.get("TORCH_CUDA_ARCH_LIST")
                if rendered.variant == "cuda"
                else None,
                cuobjdump=elf.find_cuobjdump(
                    Path(cuda.nvcc).parent.parent if cuda and cuda.nvcc else None
                ),
                provided_projects=list(against.identity),
                work=self._scratch(),
            )
            self._verified = "installed and run in a fresh environment"
            origin = f"built key={key.digest} from {source.description}"
            return self.wheelhouse.add(repaired.path, origin=origin).path
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _verify_foreign(self, wheel: Path, rendered: Rendered, against: _Against) -> str:
        """Check a cross-built wheel against the sysroot, then run its smoke code under QEMU."""
        from ..cross.trial import verify_foreign_wheel

        companions = [against.target_torch] if against.target_torch else []
        skip = {canonicalize_name(n) for n in against.identity} | {TORCH}
        for req in _requires_dist(wheel):
            dep = canonicalize_name(req.name)
            if dep in self.produced and self.produced[dep] not in companions:
                companions.append(self.produced[dep])
                skip.add(dep)
        requirements = [str(r) for r in _requires_dist(wheel) if _req_name(str(r)) not in skip]
        for companion in companions:
            requirements += [
                str(r)
                for r in _requires_dist(companion)
                if r.marker is None or "extra" not in str(r.marker)
            ]
        tools = venvs.cached_venv(
            self.options.cache_dir / "envs", self.options.python, self.options.installer, ["pip"]
        )
        self._note(f"verifying {wheel.name} for {self.target.arch} (sysroot, then QEMU)")
        code = rendered.smoke or "".join(f"import {m}\n" for m in verify.top_level_modules(wheel))
        done = verify_foreign_wheel(
            wheel,
            self.sysroot(),
            arch=self.target.arch,
            pip=[str(tools.python), "-m", "pip"],
            pip_options=[*self.options.installer.index_args, *_foreign_args(self.target)],
            companions=companions,
            requirements=list(dict.fromkeys(requirements)),
            smoke=code or "pass",
            baseline="".join(
                f"import {m}\n" for c in companions for m in verify.top_level_modules(c)
            ),
            work=self._scratch(),
        )
        if not done.emulated:
            self._note(done.output)
            return f"checked against the sysroot; {done.output}"
        printed = done.output.strip()  # a smoke test that prints nothing is still a pass
        said = f" ({printed})" if printed else ""
        return f"checked against the sysroot; smoke test run under QEMU{said}"

    def _local_label(self, rendered: Rendered, against: _Against, family: bool) -> str | None:
        if not family and not against.identity.get(TORCH):
            return None  # a plain extension is not a torch variant
        from ..resolve.variants import cuda_label, sm

        cuda = self.target.cuda
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

    # -- dependencies ----------------------------------------------------------------------

    def _dependencies(self) -> None:
        """Download the set's run-time dependencies into the wheelhouse (offline installs).

        Only what the set's wheels require and the set itself does not provide: a torch that
        lives in the target interpreter (not in the wheelhouse) is left out, or pip would
        fetch some other torch from the index.
        """
        provided = set(self.produced)
        if self._installed_torch is not None:
            provided.add(TORCH)
        wanted: list[str] = []
        for wheel in self.produced.values():
            for req in _requires_dist(wheel):
                if canonicalize_name(req.name) in provided:
                    continue
                if req.marker is not None and "extra" in str(req.marker):
                    continue
                wanted.append(str(req))
        wanted = list(dict.fromkeys(wanted))
        if not wanted:
            return
        self._note(f"collecting the set's run-time dependencies: {', '.join(wanted)}")
        tools = venvs.cached_venv(
            self.options.cache_dir / "envs", self.options.python, self.options.installer, ["pip"]
        )
        tmp = Path(tempfile.mkdtemp(prefix="deps-", dir=self._scratch()))
        try:
            args = [str(tools.python), "-m", "pip", "download", "--dest", str(tmp)]
            args += ["--only-binary=:all:", "--disable-pip-version-check", "--no-input"]
            args += list(self.options.installer.index_args)
            args += self._platform_args()
            args += wanted
            done = run.capture(args, timeout=3600.0, env={**os.environ, "PIP_NO_INPUT": "1"})
            if not done.ok:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                raise BuildError(
                    f"cannot collect the set's dependencies: {' '.join(tail)}",
                    hint="the built wheels are in the wheelhouse; run with --no-deps to skip "
                    "this step, or fix the index configuration",
                )
            for wheel in sorted(tmp.glob("*.whl")):
                if canonicalize_name(wheel.name.split("-", 1)[0]) not in provided:
                    self.wheelhouse.add(wheel, origin="dependency of the set")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _foreign_args(target: Target) -> list[str]:
    """pip download's flags for another machine's tags (a preset or a profile)."""
    from ..resolve.tags import tag_set

    tagset = tag_set(target)
    args = [f"--platform={p}" for p in tagset.platforms]
    assert target.python is not None  # tag_set raised otherwise
    major_minor = ".".join(target.python.version.split(".")[:2])
    args += [f"--python-version={major_minor}", f"--implementation={tagset.interpreter[:2]}"]
    args += [f"--abi={tagset.abi}", "--abi=abi3", "--abi=none"]
    return args


def _arch_items(text: str | None) -> list[str]:
    return [a for a in (text or "").replace(",", ";").replace(" ", ";").split(";") if a]


def _cap_order(cap: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in cap.split("."))


def _req_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def _sha256(path: Path) -> str:
    from ..recipes.load import sha256_of

    return sha256_of(path)


def parse_version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None
