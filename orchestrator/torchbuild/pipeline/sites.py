"""Where a build runs and what it emits, behind one protocol.

:class:`NativeHost` builds on this machine for this machine; :class:`CrossHost` builds here for
the machine whose sysroot ``--root`` gave (its compilers, its Python headers, its torch wheel),
checks the wheel against that sysroot and runs it under QEMU. The planning half of the protocol
(:class:`~torchbuild.resolve.jobs.Site`) is used when jobs are made; the rest by the steps.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from packaging.utils import canonicalize_name

from .. import elf, run, venvs, verify
from ..detect.interpreter import probe_interpreter
from ..errors import InputError, ToolchainError
from ..resolve.jobs import Site, cpu_target, cuda_check
from .dependencies import foreign_args, requirement_name, requires_dist

if TYPE_CHECKING:
    from ..cross import Sysroot
    from ..detect.torch import InstalledTorch
    from ..recipes import Rendered
    from ..target import Target
    from .against import Resolved
    from .options import WheelOptions

__all__ = ["BuildHost", "CrossHost", "NativeHost", "host_for"]

TORCH = "torch"


class BuildHost(Site, Protocol):
    """A :class:`Site` that also runs the build's steps."""

    def compiler_names(self) -> list[str]:
        """The compiler names the compiler cache must stand in for."""

    def base_env(
        self, workdir: Path, against: Resolved, cache: Any, python: Path
    ) -> dict[str, str] | None:
        """The environment the build starts from (None: this process's); ``python`` is the
        build environment's interpreter, the one with the build's requirements."""

    def verify(
        self,
        wheel: Path,
        rendered: Rendered,
        against: Resolved,
        produced: Mapping[str, Path],
        work: Path,
        note: Any,
    ) -> str:
        """Check the repaired wheel; raise when it fails; say how it was checked."""

    def system_provides(self, requirements: Sequence[str]) -> list[str]:
        """Those of ``requirements`` the target's own system packages meet, for when the
        indexes have no wheel of them for the target."""


def _compiler_names(target: Target, python: Path, cross: Sequence[str] = ()) -> list[str]:
    tc = target.toolchain
    names = ["cc", "c++", "gcc", "g++", *cross]
    names += [Path(tool.path).name for tool in (tc.cc, tc.cxx) if tool is not None]
    # setuptools runs the compiler the interpreter was built with, by that name (Debian's
    # x86_64-linux-gnu-gcc): it must go through the cache too.
    facts = probe_interpreter(python)
    for command in (facts.cc, facts.cxx):
        words = command.split()
        if words:
            names.append(Path(words[0]).name)
    return list(dict.fromkeys(names))


def _companions(
    wheel: Path, produced: Mapping[str, Path], first: Sequence[Path]
) -> tuple[list[Path], set[str]]:
    """``first`` plus this run's wheels that ``wheel`` requires, and their projects."""
    companions = list(first)
    used: set[str] = set()
    for req in requires_dist(wheel):
        dep = canonicalize_name(req.name)
        if dep in produced and produced[dep] not in companions:
            companions.append(produced[dep])
            used.add(dep)
    return companions, used


class NativeHost:
    """Builds run here, for this machine's own interpreter."""

    cross = False

    def __init__(self, target: Target, options: WheelOptions) -> None:
        self.target = target
        self.options = options

    def check(self, what: str, variant: str) -> None:
        cuda_check(self.target, what, variant)
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

    def render_target(self, variant: str) -> Target:
        return cpu_target(self.target, variant)

    def compilers(self, variant: str) -> Mapping[str, str | None]:
        tc = self.target.toolchain
        out: dict[str, str | None] = {
            "cc": f"{tc.cc.path} {tc.cc.version}" if tc.cc else None,
            "cxx": f"{tc.cxx.path} {tc.cxx.version}" if tc.cxx else None,
        }
        if variant == "cuda":
            cuda = self.target.cuda
            out["nvcc"] = f"{cuda.nvcc} {cuda.toolkit}" if cuda else None
        return out

    def scripts_torch(self) -> InstalledTorch | None:
        return None  # a native build imports the torch it builds against

    def compiler_names(self) -> list[str]:
        return _compiler_names(self.target, self.options.python)

    def base_env(
        self,
        workdir: Path,  # noqa: ARG002 - the protocol's signature; nothing to add natively
        against: Resolved,  # noqa: ARG002
        cache: Any,  # noqa: ARG002
        python: Path,  # noqa: ARG002
    ) -> dict[str, str] | None:
        return None

    def verify(
        self,
        wheel: Path,
        rendered: Rendered,
        against: Resolved,
        produced: Mapping[str, Path],
        work: Path,
        note: Any,
    ) -> str:
        note(f"verifying {wheel.name} in a fresh environment")
        companions, _ = _companions(wheel, produced, against.wheels)
        cuda = self.target.cuda
        verify.verify_wheel(
            wheel,
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
            work=work,
        )
        return "installed and run in a fresh environment"

    def system_provides(self, requirements: Sequence[str]) -> list[str]:  # noqa: ARG002
        # This machine's own packages are not the wheelhouse's concern: pip installs the set
        # here from the indexes, as before.
        return []


class CrossHost:
    """Builds run here and emit the target's code, against its sysroot (``--root``)."""

    cross = True

    def __init__(self, target: Target, options: WheelOptions, sysroot: Path) -> None:
        self.target = target
        self.options = options
        self.root = sysroot

    @functools.cached_property
    def sysroot(self) -> Sysroot:
        """The target's sysroot, inspected once (a clear error when it does not fit)."""
        from ..cross import inspect_sysroot

        wanted = self.target.python.version if self.target.python else None
        return inspect_sysroot(self.root, self.target.arch, python_version=wanted)

    def check(self, what: str, variant: str) -> None:
        cuda_check(self.target, what, variant)
        self._cross_compilers  # noqa: B018 - the compilers and the sysroot, before any download

    def render_target(self, variant: str) -> Target:
        # The compilers run here: the jobs model sizes them by this machine's memory and
        # cores, not the board's.
        return dataclasses.replace(cpu_target(self.target, variant), resources=self._host_resources)

    @functools.cached_property
    def _host_resources(self) -> Any:
        from ..detect.fs import Root
        from ..detect.resources import probe_resources

        return probe_resources(Root("/"), self.options.cache_dir)

    def compilers(self, variant: str) -> Mapping[str, str | None]:  # noqa: ARG002
        # nvcc is not part of a cross build (CUDA cross builds are refused before this).
        return self._cross_compilers

    @functools.cached_property
    def _cross_compilers(self) -> dict[str, str | None]:
        from ..cross import cross_arch, find_compilers
        from ..cross.toolchain import host_python_version

        sysroot = self.sysroot  # a sysroot of another machine is the first thing to say
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

    @functools.cached_property
    def _scripts_torch(self) -> InstalledTorch | None:
        from ..detect.torch import probe_torch_in

        return probe_torch_in(str(self.options.python), timeout=60.0)

    def scripts_torch(self) -> InstalledTorch | None:
        return self._scripts_torch

    def compiler_names(self) -> list[str]:
        from ..cross import cross_arch

        prefix = cross_arch(self.target.arch).gnu_prefix
        return _compiler_names(self.target, self.options.python, [f"{prefix}gcc", f"{prefix}g++"])

    def base_env(
        self, workdir: Path, against: Resolved, cache: Any, python: Path
    ) -> dict[str, str] | None:
        """This process's environment with the cross settings: toolchain file, compilers,
        the target's Python headers and extension suffix, and the target's torch.

        The interpreter CMake is told of is the build environment's ``python``: build scripts
        run it for their code generators (torch's torchgen imports yaml and setuptools).
        """
        from ..cross import cross_setup
        from ..cross.torch import unpack_target_torch

        torch = None
        if against.target_torch is not None:
            assert against.target_sha256 is not None
            torch = unpack_target_torch(
                against.target_torch, self.options.cache_dir, against.target_sha256
            )
            self._check_abi(torch.cxx11_abi, torch.version, python)
        setup = cross_setup(
            self.target,
            self.sysroot,
            workdir=workdir,
            host_python=python,
            # The build directory holds the source tree and what the build generates: CMake
            # must find files there as they are, not under the sysroot (torch's own packages).
            find_roots=[workdir.absolute()],
            torch=torch,
        )
        env = {**os.environ, **setup.env}
        if cache is not None and cache.path_prefix is not None:
            # By name, so the compiler cache's masquerade links (first on PATH) catch
            # setuptools' compiles too; CMake gets the cache as its launcher.
            env["CC"] = setup.compilers.cc.name
            env["CXX"] = setup.compilers.cxx.name
        return env

    def _check_abi(self, target_abi: str | None, target_version: str, python: Path) -> None:
        """Before compiling: the host torch whose helpers compile the extension must use the
        target torch's C++ library ABI (``torch.utils.cpp_extension`` adds the host torch's
        ``-D_GLIBCXX_USE_CXX11_ABI`` last, so nothing can override it), else the extension
        cannot load on the board ("operator ... does not exist")."""
        if target_abi is None:
            return
        host_abi = self._host_abi(python)
        if host_abi in ("0", "1") and host_abi != target_abi:
            scripts = self.scripts_torch()
            which = f"torch {scripts.version}" if scripts is not None else "torch"
            raise ToolchainError(
                f"this machine's {which}, whose helpers compile the extension, uses "
                f"_GLIBCXX_USE_CXX11_ABI={host_abi}; the target's torch {target_version} was "
                f"built with {target_abi}: the extension would not load on the target",
                hint="install into --python a torch for this machine built with the same C++ "
                "ABI (PyPI's x86_64 torch uses the C++11 ABI from 2.7 on)"
                if target_abi == "1"
                else "install into --python a torch for this machine built with the pre-C++11 "
                "ABI (PyPI's x86_64 torch 2.6 and older)",
            )

    @functools.cache  # noqa: B019 - one host torch per host, asked once per build
    def _host_abi(self, python: Path) -> str | None:
        """The C++ library ABI of the host torch in ``python``: from its CMake package where
        that says, else from the imported module (a few seconds)."""
        from ..cross.torch import abi_of_torch_package

        scripts = self.scripts_torch()
        if scripts is not None and scripts.location:
            found = abi_of_torch_package(Path(scripts.location))
            if found is not None:
                return found
        done = run.probe(
            [str(python), "-c", "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"],
            timeout=120.0,
        )
        return done.stdout.strip() if done is not None and done.ok else None

    def verify(
        self,
        wheel: Path,
        rendered: Rendered,
        against: Resolved,
        produced: Mapping[str, Path],
        work: Path,
        note: Any,
    ) -> str:
        """Check a cross-built wheel against the sysroot, then run its smoke code under QEMU."""
        from ..cross.trial import verify_foreign_wheel

        first = [against.target_torch] if against.target_torch else []
        companions, used = _companions(wheel, produced, first)
        skip = {canonicalize_name(n) for n in against.identity} | {TORCH} | used
        requirements = [
            str(r) for r in requires_dist(wheel) if requirement_name(str(r)) not in skip
        ]
        for companion in companions:
            requirements += [str(r) for r in requires_dist(companion, extras=False)]
        tools = venvs.cached_venv(
            self.options.cache_dir / "envs", self.options.python, self.options.installer, ["pip"]
        )
        note(f"verifying {wheel.name} for {self.target.arch} (sysroot, then QEMU)")
        code = rendered.smoke or "".join(f"import {m}\n" for m in verify.top_level_modules(wheel))
        done = verify_foreign_wheel(
            wheel,
            self.sysroot,
            arch=self.target.arch,
            pip=[str(tools.python), "-m", "pip"],
            pip_options=[*self.options.installer.index_args, *foreign_args(self.target)],
            companions=companions,
            requirements=list(dict.fromkeys(requirements)),
            smoke=code or "pass",
            baseline="".join(
                f"import {m}\n" for c in companions for m in verify.top_level_modules(c)
            ),
            work=work,
        )
        if not done.emulated:
            note(done.output)
            return f"checked against the sysroot; {done.output}"
        printed = done.output.strip()  # a smoke test that prints nothing is still a pass
        said = f" ({printed})" if printed else ""
        return f"checked against the sysroot; smoke test run under QEMU{said}"

    def system_provides(self, requirements: Sequence[str]) -> list[str]:
        from ..cross.trial import provided_by_sysroot

        return provided_by_sysroot(requirements, self.sysroot)


def host_for(target: Target, options: WheelOptions) -> BuildHost:
    """The build host for ``target``: cross when ``--root`` gave a sysroot, else native."""
    if options.sysroot is not None:
        return CrossHost(target, options, options.sysroot)
    return NativeHost(target, options)
