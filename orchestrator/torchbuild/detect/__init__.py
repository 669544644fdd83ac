"""Detection: the only part of torchbuild that looks at a machine.

:func:`detect_host` describes this machine (running probes in parallel, each under a timeout);
:func:`detect_root` describes a mounted root file system from its files alone.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Mapping

from ..errors import InputError
from ..target import Cpu, Distro, Jetson, Libc, Target, Toolchain
from . import board as board_mod
from . import cuda as cuda_mod
from . import host, jetson, python, toolchain
from .fs import Root
from .packages import read_packages
from .resources import probe_resources

if TYPE_CHECKING:
    from pathlib import Path

    from ..settings import Settings

__all__ = ["detect_host", "detect_root", "multiarch_triplet"]

_TRIPLETS = {
    "x86_64": "x86_64-linux-gnu",
    "aarch64": "aarch64-linux-gnu",
    "armv7l": "arm-linux-gnueabihf",
    "armv6l": "arm-linux-gnueabihf",
    "riscv64": "riscv64-linux-gnu",
    "ppc64le": "powerpc64le-linux-gnu",
    "s390x": "s390x-linux-gnu",
    "i686": "i386-linux-gnu",
}


def multiarch_triplet(arch: str) -> str | None:
    """Debian's multiarch directory name for an architecture (``/usr/lib/<triplet>``)."""
    return _TRIPLETS.get(arch)


def detect_host(
    settings: Settings,
    *,
    python_executable: str | None = None,
    root: Root | None = None,
    env: Mapping[str, str] | None = None,
) -> Target:
    """Describe this machine. ``root`` and ``env`` exist so tests can replay real captures."""
    root = root or Root("/")
    env = dict(os.environ if env is None else env)
    timeout = settings.probe_timeout
    arch = host.host_arch()
    board = board_mod.probe_board(root)
    jet = jetson.probe_jetson(root, None, board.model if board else None)
    hints = _cuda_hints(jet)
    multiarch = multiarch_triplet(arch)

    # Every probe that runs a program goes on its own thread: detect costs the slowest tool,
    # not the sum of them.
    with ThreadPoolExecutor(max_workers=8) as pool:
        cuda_f = pool.submit(
            cuda_mod.probe_cuda,
            root,
            env,
            run_tools=True,
            timeout=timeout,
            packages=None,
            multiarch=multiarch,
            jetson=hints,
        )
        tool_f = {
            name: pool.submit(toolchain.probe_tool, name, env, timeout)
            for name in toolchain.PARSERS
        }
        py = (
            python.interpreter_python(python_executable, timeout)
            if python_executable
            else python.current_python()
        )
        libc = host.host_libc(root)
        distro, cpu = _distro_and_cpu(root)
        res = probe_resources(root, settings.cache_path)
        tools = Toolchain(**{name: f.result() for name, f in tool_f.items()})
        cuda = cuda_f.result()

    return Target(
        os=_os_name(),
        arch=arch,
        libc=libc,
        python=py,
        cuda=cuda,
        jetson=jet,
        board=board,
        toolchain=tools,
        resources=res,
        distro=distro,
        cpu=cpu,
        origin="host",
    )


def _cuda_hints(jet: Jetson | None) -> cuda_mod.CudaProbe:
    """What the Jetson release says about the GPU, for the CUDA probe to fall back on."""
    if jet is None:
        return cuda_mod.CudaProbe(None, None)
    return cuda_mod.CudaProbe(jet.soc, jetson.driver_cuda_for_l4t(jet.l4t))


def _distro_and_cpu(root: Root) -> tuple[Distro | None, Cpu | None]:
    os_release = root.read_text("/etc/os-release") or root.read_text("/usr/lib/os-release")
    cpuinfo = root.read_text("/proc/cpuinfo")
    return (
        host.parse_os_release(os_release) if os_release else None,
        host.parse_cpuinfo(cpuinfo) if cpuinfo else None,
    )


def _os_name() -> str:
    names = {"darwin": "macos", "win32": "windows"}
    return "linux" if sys.platform.startswith("linux") else names.get(sys.platform, sys.platform)


def detect_root(path: Path) -> Target:
    """Describe a mounted root file system (a board image) without running anything from it."""
    if not path.exists():
        raise InputError(
            f"--root {path} does not exist", hint="mount the image and pass its directory"
        )
    if not path.is_dir():
        raise InputError(
            f"--root {path} is not a directory",
            hint="pass the directory a root file system is mounted on",
        )
    if not os.access(path, os.R_OK | os.X_OK):
        raise InputError(
            f"--root {path} is not readable", hint="run as a user that can read the mounted image"
        )
    root = Root(path)
    if not any(root.exists(p) for p in ("/etc", "/usr", "/bin", "/lib")):
        raise InputError(
            f"--root {path} does not look like a root file system (no etc/, usr/, bin/ or lib/)",
            hint="pass the directory that holds the image's etc/ and usr/",
        )
    packages = read_packages(root)
    board = board_mod.probe_board(root)
    facts = board_mod.board_facts(board.model if board else None)
    py = python.root_python(root, packages)
    arch = host.root_arch(root, facts.arch32 if facts else None, py.executable if py else None)
    if arch is None:
        # No readable ELF (a partial image): dpkg records its native architecture.
        dpkg_arch = (root.read_text("/var/lib/dpkg/arch") or "").split()
        arch = host.normalize_arch(dpkg_arch[0]) if dpkg_arch else None
    if arch is None:
        raise InputError(
            f"cannot tell the architecture of the root at {path}: no ELF program in usr/bin or bin",
            hint="check that the image is mounted completely",
        )
    multiarch = multiarch_triplet(arch)
    jet = jetson.probe_jetson(root, packages, board.model if board else None)
    cuda = cuda_mod.probe_cuda(
        root,
        {},
        run_tools=False,
        timeout=0,
        packages=packages,
        multiarch=multiarch,
        jetson=_cuda_hints(jet),
    )
    libc = host.root_libc(root, packages, multiarch)
    distro, cpu = _distro_and_cpu(root)
    tools = Toolchain(
        **{name: toolchain.root_tool(root, name, packages) for name in toolchain.PARSERS}
    )
    return Target(
        os="linux",
        arch=arch,
        libc=libc or Libc("glibc", None),
        python=py,
        cuda=cuda,
        jetson=jet,
        board=board,
        toolchain=tools,
        distro=distro,
        cpu=cpu,
        origin=f"root:{path}",
    )
