"""The environment that makes a host build emit a target's wheel.

What each build system reads, found by building the fixture projects:

- CMake: a toolchain file (``CMAKE_TOOLCHAIN_FILE`` in the environment, read by CMake 3.21 and
  newer when the command line names none) with the cross compilers, ``CMAKE_SYSROOT`` and
  searches confined to the sysroot. Projects whose minimum CMake policy version is 4.1 or newer
  (CMP0190) refuse to look for a Python interpreter together with its development files when
  cross-compiling unless ``CMAKE_CROSSCOMPILING_EMULATOR`` is set: the emulator is QEMU with
  the sysroot as its library prefix, and the interpreter is the target's own, in the sysroot.
- FindPython and FindPython3, whatever the project's ``cmake_minimum_required``: the toolchain
  file wraps ``find_package`` so that, for these two packages only, the interpreter is the host
  Python of the target's version (or, where CMP0190 is NEW and QEMU is there, the target's own
  under the emulator: older policies never run an interpreter through the emulator), the ABI is
  the sysroot's (``Python_FIND_ABI``, CMake 3.30 and newer only: older modules, scikit-build-
  core's backport included, then call the interpreter missing), and after the search
  ``<Prefix>_SOABI`` is the target's (FindPython leaves it empty when cross-compiling, and
  ``Python_add_library(... WITH_SOABI)`` would name the module ``_core.so``). A ``-D`` on the
  command line cannot do the last: FindPython unsets the variable.
- scikit-build-core: the wheel's platform tag from ``_PYTHON_HOST_PLATFORM``, the extension
  suffix (``SKBUILD_SOABI``) from ``SETUPTOOLS_EXT_SUFFIX``; the interpreter and ABI tags from
  the running Python, which is why the host Python must be the target's minor version. It
  passes the host Python's include directory to CMake as an initial cache; the ``-D`` options
  in ``SKBUILD_CMAKE_ARGS`` come later on CMake's command line and replace them.
- setuptools: ``_PYTHON_HOST_PLATFORM`` for the wheel tag, ``SETUPTOOLS_EXT_SUFFIX`` for the
  file names, ``CC``/``CXX``/``LDSHARED``/``LDCXXSHARED`` for the compilers, and the target's
  headers through ``CPPFLAGS`` (which comes before the host's include directory).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import run
from ..detect.interpreter import probe_interpreter
from ..errors import InputError, ToolchainError
from .arches import CrossArch, cross_arch
from .cuda import CudaCross, find_cuda_cross
from .qemu import find_emulator

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from ..target import Target
    from .sysroot import Sysroot
    from .torch import TargetTorch

__all__ = [
    "Compilers",
    "CrossSetup",
    "ToolchainPython",
    "abi_from_macros",
    "cross_setup",
    "cxx11_abi",
    "find_compilers",
    "host_python_version",
    "render_toolchain",
]


@dataclass(frozen=True)
class ToolchainPython:
    """What FindPython and FindPython3 are told about the target's Python."""

    host: Path  #: an interpreter on this machine with the target's version
    target: Path | None  #: the target's interpreter, run under the emulator where allowed
    include: Path  #: the sysroot's directory holding ``Python.h``
    soabi: str  #: ``cpython-311-aarch64-linux-gnu``
    #: the target's NumPy headers (FindPython's NumPy component asks the host interpreter)
    numpy_include: Path | None = None

    @property
    def find_abi(self) -> str:
        """``Python_FIND_ABI`` for the sysroot's headers: pydebug, pymalloc, wide unicode, and
        (only when set: CMake before 3.30 takes three fields) free-threaded."""
        flags = self.include.name.rpartition(".")[2].lstrip("0123456789")
        fields = ["ON" if flag in flags else "OFF" for flag in "dmu"]
        if "t" in flags:
            fields.append("ON")
        return ";".join(fields)


@dataclass(frozen=True)
class Compilers:
    """The host's cross tools for one target machine."""

    cc: Path
    cxx: Path
    ar: Path | None
    ranlib: Path | None
    strip: Path | None
    ld: Path | None = None


@dataclass(frozen=True)
class CrossSetup:
    """Everything a build needs to produce the target's wheel on this machine."""

    #: the variables to add to the build's environment (nothing else of it is needed)
    env: Mapping[str, str]
    toolchain_file: Path  #: the generated CMake toolchain file
    platform_tag: str  #: ``linux_aarch64``: what the build tags; repair proves the manylinux level
    ext_suffix: str  #: ``.cpython-311-aarch64-linux-gnu.so``
    #: the ``-D`` options also in ``SKBUILD_CMAKE_ARGS``, for builds that run CMake themselves
    cmake_args: tuple[str, ...]
    #: QEMU and its options, set as ``CMAKE_CROSSCOMPILING_EMULATOR``; ``None`` without one
    emulator: tuple[str, ...] | None
    compilers: Compilers
    cuda: CudaCross | None = None


def find_compilers(names: CrossArch, path: str | None = None) -> Compilers:
    """The cross GCC for ``names`` on ``PATH``; a clear error naming the packages when absent."""
    prefix = names.gnu_prefix
    cc = run.which(f"{prefix}gcc", path)
    cxx = run.which(f"{prefix}g++", path)
    if cc is None or cxx is None:
        missing = f"{prefix}gcc" if cc is None else f"{prefix}g++"
        raise ToolchainError(
            f"no cross compiler for {names.arch}: {missing} is not on PATH",
            hint=f"apt-get install {' '.join(names.gcc_packages)}",
        )
    return Compilers(
        cc=cc,
        cxx=cxx,
        ar=run.which(f"{prefix}ar", path),
        ranlib=run.which(f"{prefix}ranlib", path),
        strip=run.which(f"{prefix}strip", path),
        ld=run.which(f"{prefix}ld", path),
    )


def cxx11_abi(cxx: Path, sysroot: str) -> str | None:
    """``"1"`` or ``"0"``: the ``_GLIBCXX_USE_CXX11_ABI`` the cross C++ compiler's library
    defaults to, read from its predefined macros (None when it cannot say)."""
    done = run.probe(
        [str(cxx), f"--sysroot={sysroot}", "-x", "c++", "-dM", "-E", "-include", "string", "-"],
        timeout=60.0,
    )
    return abi_from_macros(done.stdout) if done is not None and done.ok else None


def abi_from_macros(text: str) -> str | None:
    """``_GLIBCXX_USE_CXX11_ABI``'s value in a compiler's ``-dM -E`` output."""
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["#define", "_GLIBCXX_USE_CXX11_ABI"] and len(words) == 3:
            return words[2]
    return None


def host_python_version(python: Path) -> str:
    """``3.11`` for a CPython on this machine; raises when it cannot be run."""
    try:
        found = probe_interpreter(python, timeout=60)
    except InputError:
        raise ToolchainError(
            f"cannot run the build's Python {python}",
            hint="give a working Python of the target's version (--python PATH)",
        ) from None
    if found.implementation != "cpython":
        raise ToolchainError(
            f"{python} is {found.implementation}; cross builds need CPython",
            hint="give a CPython of the target's version (--python PATH)",
        )
    return found.short_version


def _cmake_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def render_toolchain(
    names: CrossArch,
    sysroot: Path,
    compilers: Compilers,
    *,
    emulator: Sequence[str] | None = None,
    find_roots: Sequence[Path] = (),
    cuda: CudaCross | None = None,
    forced: Mapping[str, Path] | None = None,
    python: ToolchainPython | None = None,
) -> str:
    """The text of the CMake toolchain file for one target and sysroot.

    ``forced`` cache paths replace whatever the project's own build script passes with ``-D``
    (torchaudio's setup.py hands CMake the host's Python headers and the host torch's prefix).
    """
    roots = ";".join(str(p) for p in (sysroot, *find_roots))
    lines = [
        f"# torchbuild: cross-compiling for {names.arch} against {sysroot}",
        "# Written by torchbuild for each build; changes here are overwritten.",
        "set(CMAKE_SYSTEM_NAME Linux)",
        f"set(CMAKE_SYSTEM_PROCESSOR {names.cmake_processor})",
        f"set(CMAKE_LIBRARY_ARCHITECTURE {names.multiarch})",
        f"set(CMAKE_SYSROOT {_cmake_str(str(sysroot))})",
        f"set(CMAKE_C_COMPILER {_cmake_str(str(compilers.cc))})",
        f"set(CMAKE_CXX_COMPILER {_cmake_str(str(compilers.cxx))})",
        f"set(CMAKE_FIND_ROOT_PATH {_cmake_str(roots)})",
        "# Programs run on this machine; libraries, headers and packages are the target's.",
        "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)",
    ]
    if compilers.ar is not None:
        lines.append(f'set(CMAKE_AR {_cmake_str(str(compilers.ar))} CACHE FILEPATH "")')
    if compilers.ranlib is not None:
        lines.append(f'set(CMAKE_RANLIB {_cmake_str(str(compilers.ranlib))} CACHE FILEPATH "")')
    if emulator:
        lines.append(f"set(CMAKE_CROSSCOMPILING_EMULATOR {_cmake_str(';'.join(emulator))})")
    if cuda is not None:
        lines += [
            f"set(CMAKE_CUDA_COMPILER {_cmake_str(str(cuda.nvcc))})",
            f"set(CMAKE_CUDA_HOST_COMPILER {_cmake_str(str(compilers.cxx))})",
        ]
        if cuda.in_sysroot:
            # FindCUDAToolkit looks for targets/<name> beside the host's nvcc only; the
            # target's files in the sysroot are named directly.
            lines.append(f"set(CUDAToolkit_TARGET_DIR {_cmake_str(str(cuda.target_dir))})")
    if forced:
        lines.append("# The target's files, whatever the project's build script passes.")
        lines += [
            f'set({name} {_cmake_str(str(value))} CACHE PATH "" FORCE)'
            for name, value in forced.items()
        ]
    if python is not None:
        lines += _find_python_lines(python, emulator=bool(emulator))
    return "\n".join(lines) + "\n"


def _find_python_lines(python: ToolchainPython, *, emulator: bool) -> list[str]:
    """A ``find_package`` wrapper giving FindPython/FindPython3 the target's facts.

    The same trick as vcpkg's toolchain: the first definition of ``find_package`` keeps the
    built-in one as ``_find_package``. CMake reads a toolchain file more than once per
    configure, so a global property makes sure the wrapper is defined once (a second one would
    call the first, itself, forever).
    """
    host = _cmake_str(str(python.host))
    chosen = host
    lines = [
        "# FindPython and FindPython3 are told the target's interpreter, ABI and SOABI.",
        "get_property(_torchbuild_wrapped GLOBAL PROPERTY TORCHBUILD_FIND_PYTHON)",
        "if(NOT _torchbuild_wrapped)",
        "  set_property(GLOBAL PROPERTY TORCHBUILD_FIND_PYTHON TRUE)",
        "  macro(find_package _torchbuild_name)",
        '    if("${_torchbuild_name}" MATCHES "^Python3?$")',
    ]
    if emulator and python.target is not None:
        # Only with CMP0190 NEW does FindPython run an interpreter through the emulator.
        lines += [
            "      set(_torchbuild_policy OLD)",
            "      if(POLICY CMP0190)",
            "        cmake_policy(GET CMP0190 _torchbuild_policy)",
            "      endif()",
            '      if(_torchbuild_policy STREQUAL "NEW")',
            f"        set(${{_torchbuild_name}}_EXECUTABLE {_cmake_str(str(python.target))})",
            "      else()",
            f"        set(${{_torchbuild_name}}_EXECUTABLE {chosen})",
            "      endif()",
        ]
    else:
        lines.append(f"      set(${{_torchbuild_name}}_EXECUTABLE {chosen})")
    lines.append(f"      set(${{_torchbuild_name}}_INCLUDE_DIR {_cmake_str(str(python.include))})")
    if python.numpy_include is not None:
        numpy = _cmake_str(str(python.numpy_include))
        lines.append(f"      set(${{_torchbuild_name}}_NumPy_INCLUDE_DIR {numpy})")
    lines += [
        # FindPython before 3.30 cannot check an interpreter's ABI when cross-compiling and
        # then calls it missing: the ABI is named to the newer modules only.
        "      if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.30)",
        f"        set(${{_torchbuild_name}}_FIND_ABI {_cmake_str(python.find_abi)})",
        "      endif()",
        "    endif()",
        "    _find_package(${ARGV})",
        '    if("${_torchbuild_name}" MATCHES "^Python3?$" AND ${_torchbuild_name}_FOUND)',
        f"      set(${{_torchbuild_name}}_SOABI {_cmake_str(python.soabi)})",
        "    endif()",
        "  endmacro()",
        "endif()",
    ]
    return lines


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _python_args(sysroot: Sysroot, interpreter: Path | None) -> list[str]:
    args: list[str] = []
    soabi = sysroot.ext_suffix[1:].rsplit(".", 1)[0]
    for prefix in ("Python", "Python3"):
        args.append(f"-D{prefix}_INCLUDE_DIR={sysroot.python_include}")
        args.append(f"-D{prefix}_SOABI={soabi}")
        if interpreter is not None:
            args.append(f"-D{prefix}_EXECUTABLE={interpreter}")
    # The classic FindPythonLibs spelling, which older projects (and torch) still read.
    args.append(f"-DPYTHON_INCLUDE_DIR={sysroot.python_include}")
    return args


def cross_setup(
    target: Target,
    sysroot: Sysroot,
    *,
    workdir: Path,
    host_python: Path,
    find_roots: Sequence[Path] = (),
    torch: TargetTorch | None = None,
    emulate: bool = True,
    path: str | None = None,
) -> CrossSetup:
    """The cross environment for building ``target``'s wheels against ``sysroot``.

    ``host_python`` is the build's interpreter on this machine and must have the target's
    Python minor version. ``find_roots`` are further directories CMake may find packages in
    (the built torch's own CMake files, for torchvision). ``emulate`` runs the target's Python
    under QEMU where CMake asks for an interpreter (only when QEMU and the sysroot's Python
    are both there). ``torch`` is the target's torch, unpacked: its headers come before the
    host torch's, its libraries are the ones linked, and its CMake package is ``Torch_DIR``.
    ``path`` is the ``PATH`` searched for the tools (default: this process's).
    """
    names = cross_arch(target.arch)
    if sysroot.arch != names.arch:
        raise InputError(
            f"the sysroot {sysroot.path} is for {sysroot.arch}, the target is {names.arch}",
            hint="give a sysroot made for the target's machine",
        )
    if target.python is not None:
        wanted = ".".join(target.python.version.split(".")[:2])
        if wanted != sysroot.python_version:
            raise InputError(
                f"the target runs Python {wanted}, the sysroot has headers for "
                f"Python {sysroot.python_version}",
                hint="use a sysroot of the target's distribution release (its python3-dev)",
            )
    host_version = host_python_version(host_python)
    if host_version != sysroot.python_version:
        raise ToolchainError(
            f"the build's Python {host_python} is {host_version}, the target's is "
            f"{sysroot.python_version}: the wheel's tags and extension names come from it",
            hint=f"build with a Python {sysroot.python_version} on this machine (--python PATH)",
        )
    compilers = find_compilers(names, path)
    emulator: tuple[str, ...] | None = None
    qemu = find_emulator(names.arch, path) if emulate else None
    if qemu is not None and sysroot.python is not None:
        emulator = (str(qemu), "-L", str(sysroot.path))
    cuda = find_cuda_cross(target, sysroot)

    roots = list(find_roots)
    names_ = ("Python_INCLUDE_DIR", "Python3_INCLUDE_DIR", "PYTHON_INCLUDE_DIR")
    forced: dict[str, Path] = dict.fromkeys(names_, sysroot.python_include)
    if torch is not None:
        roots.append(torch.root)
        forced["Torch_DIR"] = torch.cmake_dir
    toolchain = workdir.absolute() / f"toolchain-{names.arch}.cmake"
    _write(
        toolchain,
        render_toolchain(
            names,
            sysroot.path,
            compilers,
            emulator=emulator,
            find_roots=roots,
            cuda=cuda,
            forced=forced,
            python=ToolchainPython(
                host=host_python,
                target=sysroot.python,
                include=sysroot.python_include,
                soabi=sysroot.ext_suffix[1:].rsplit(".", 1)[0],
                numpy_include=sysroot.numpy_include,
            ),
        ),
    )
    cmake_args = tuple(_python_args(sysroot, sysroot.python if emulator else None))
    root = str(sysroot.path)
    env = {
        "CMAKE_TOOLCHAIN_FILE": str(toolchain),
        "CC": str(compilers.cc),
        "CXX": str(compilers.cxx),
        "LDSHARED": shlex.join([str(compilers.cc), "-shared", f"--sysroot={root}"]),
        "LDCXXSHARED": shlex.join([str(compilers.cxx), "-shared", f"--sysroot={root}"]),
        # setuptools puts CPPFLAGS before its own -I of the host Python's headers.
        "CPPFLAGS": shlex.join(
            [
                f"--sysroot={root}",
                f"-I{sysroot.python_include}",
                *(f"-I{d}" for d in (torch.include_dirs if torch else ())),
            ]
        ),
        "_PYTHON_HOST_PLATFORM": names.platform,
        "SETUPTOOLS_EXT_SUFFIX": sysroot.ext_suffix,
        "SKBUILD_CMAKE_ARGS": ";".join(cmake_args),
        "PKG_CONFIG_SYSROOT_DIR": root,
        "PKG_CONFIG_LIBDIR": os.pathsep.join(
            [
                f"{root}/usr/lib/{names.multiarch}/pkgconfig",
                f"{root}/usr/lib/pkgconfig",
                f"{root}/usr/share/pkgconfig",
            ]
        ),
    }
    # setuptools puts LDFLAGS before the extension's own -L options, which include the host
    # Python's library directory (/usr/lib/x86_64-linux-gnu, where Python is a shared library).
    # The cross compiler's libgcc_s.so is a linker script naming libgcc_s.so.1, which the linker
    # looks for along the -L list: the target's own directory must come first, or a 32-bit Arm
    # linker stops at the host's 64-bit copy ("file format not recognized").
    ldflags = [f"-L{root}/usr/lib/{names.multiarch}"]
    if torch is not None:
        # The target torch's lib/ before the host torch's; the rpath-link lets the linker
        # follow libtorch's own needs inside the target's torch.
        ldflags[:0] = [f"-L{torch.lib_dir}", f"-Wl,-rpath-link,{torch.lib_dir}"]
    env["LDFLAGS"] = shlex.join(ldflags)
    if compilers.ar is not None:
        env["AR"] = str(compilers.ar)
    if compilers.ranlib is not None:
        env["RANLIB"] = str(compilers.ranlib)
    abi = cxx11_abi(compilers.cxx, root)
    if abi is not None:
        # torch's CMake learns the C++ library ABI by running a program it compiles; a
        # target's program cannot run here, and on failure it silently picks the old ABI,
        # which then mismatches every system library. setup.py hands this on as
        # -DGLIBCXX_USE_CXX11_ABI.
        env["_GLIBCXX_USE_CXX11_ABI"] = abi
    if compilers.ld is not None:
        # Build scripts that ask the linker itself (torch's setup.py runs `$LD -verbose` to
        # write its aarch64 linker script) must get the target's.
        env["LD"] = str(compilers.ld)
    if cuda is not None:
        env["CUDACXX"] = str(cuda.nvcc)
        env["CUDAHOSTCXX"] = str(compilers.cxx)
        env["CUDA_HOME"] = str(cuda.nvcc.parent.parent)
    return CrossSetup(
        env=env,
        toolchain_file=toolchain,
        platform_tag=names.platform_tag,
        ext_suffix=sysroot.ext_suffix,
        cmake_args=cmake_args,
        emulator=emulator,
        compilers=compilers,
        cuda=cuda,
    )
