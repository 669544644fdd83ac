"""What an ELF file says about how it loads: machine, soname, needed libraries, run paths.

Repair decides a wheel's platform tag and fixes its run paths from these facts alone, so they
are read from the files really shipped, with pyelftools (no ``readelf`` or ``ldd``: ``ldd`` runs
the loader, which cannot work for another architecture's files). ``version_needs`` is the
``.gnu.version_r`` table: the symbol versions (``GLIBC_2.28``, ``GLIBCXX_3.4.29``) a file asks
of each library, which is what fixes the oldest glibc it runs on.

CUDA device code is read with ``cuobjdump``: the SASS architectures (``sm_87``) and the PTX ones
(``compute_87``) a library carries decide which GPUs it runs on.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.gnuversions import GNUVerNeedSection

from . import run
from .errors import BuildError, ToolchainError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEVICE_MACHINES",
    "ElfInfo",
    "cuda_architectures",
    "find_cuobjdump",
    "normalize_arch",
    "parse_cuobjdump",
    "read_elf",
    "same_arch",
    "wheel_elfs",
]

MAGIC = b"\x7fELF"

# e_machine values, by number: pyelftools spells some of them differently across releases.
_MACHINES_64 = {
    62: "x86_64",
    183: "aarch64",
    243: "riscv64",
    258: "loongarch64",
    22: "s390x",
}
_MACHINES_32 = {
    3: "i686",
    40: "armv7l",  # 32-bit ARM: Raspberry Pi OS armhf and 32-bit Jetson userlands
    243: "riscv32",
}
_EM_PPC64 = 21
#: Machines of device code (cubin, AMD GPU code objects): never loaded by the host's loader.
DEVICE_MACHINES = frozenset({"cuda", "amdgpu"})
_DEVICE = {190: "cuda", 224: "amdgpu"}
# Debian's and Go's names for machines, as a user may give them.
_ALIASES = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "armhf": "armv7l",
    "i386": "i686",
    "ppc64el": "ppc64le",
}
# Every 32-bit ARM: one e_machine (EM_ARM), whatever the instruction-set level the tag names.
_ARM32 = frozenset({"armv6l", "armv7l", "armv8l"})


def normalize_arch(arch: str) -> str:
    """The wheel-tag name of a machine: ``arm64`` -> ``aarch64``, ``amd64`` -> ``x86_64``."""
    return _ALIASES.get(arch, arch)


def same_arch(machine: str, arch: str) -> bool:
    """Whether an ELF file's ``machine`` runs on ``arch`` (``arm64`` and ``aarch64`` are one)."""
    left, right = normalize_arch(machine), normalize_arch(arch)
    return left == right or (left in _ARM32 and right in _ARM32)


@dataclass(frozen=True)
class ElfInfo:
    """The loading facts of one ELF file."""

    path: str  #: path inside the wheel (or on disk)
    machine: str  #: normalised arch: x86_64, aarch64, armv7l (ARM 32-bit), cuda, ...
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    #: library -> symbol versions required of it, e.g. ``{"libc.so.6": {"GLIBC_2.14"}}``
    version_needs: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)
    #: ``ET_DYN``/``ET_EXEC``/``ET_REL``: an object file (``ET_REL``) is never loaded
    kind: str = "ET_DYN"

    @property
    def name(self) -> str:
        """The file's base name: what the loader looks for when another file needs it."""
        return self.path.rsplit("/", 1)[-1]


def _machine(elf: ELFFile) -> str:
    number = elf.header["e_machine"]
    if isinstance(number, str):
        # pyelftools decodes known machines to names (spelled differently across releases):
        # go back to the number through its own table.
        number = ENUM_E_MACHINE.get(number, -1)
    if number in _DEVICE:
        return _DEVICE[number]
    if number == _EM_PPC64:
        return "ppc64le" if elf.little_endian else "ppc64"
    table = _MACHINES_64 if elf.elfclass == 64 else _MACHINES_32
    return table.get(number, f"em{number}")


def _split_paths(value: str) -> tuple[str, ...]:
    return tuple(part for part in value.split(":") if part)


_STRING_TAGS = {
    "DT_NEEDED": "needed",
    "DT_SONAME": "soname",
    "DT_RPATH": "rpath",
    "DT_RUNPATH": "runpath",
}


def _parse(stream: IO[bytes], name: str) -> ElfInfo:
    elf = ELFFile(stream)
    soname: str | None = None
    needed: list[str] = []
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    version_needs: dict[str, frozenset[str]] = {}
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                kind = tag.entry.d_tag
                if kind not in _STRING_TAGS:
                    continue
                # pyelftools sets the decoded string as an attribute named after the tag.
                text = str(getattr(tag, _STRING_TAGS[kind]))
                if kind == "DT_NEEDED":
                    needed.append(text)
                elif kind == "DT_SONAME":
                    soname = text
                elif kind == "DT_RPATH":
                    rpath = _split_paths(text)
                else:
                    runpath = _split_paths(text)
        elif isinstance(section, GNUVerNeedSection):
            for verneed, auxiliaries in section.iter_versions():
                library = str(verneed.name)
                versions = {aux.name for aux in auxiliaries}
                version_needs[library] = version_needs.get(library, frozenset()) | versions
    return ElfInfo(
        path=name,
        machine=_machine(elf),
        soname=soname,
        needed=tuple(needed),
        rpath=rpath,
        runpath=runpath,
        version_needs=version_needs,
        kind=str(elf.header["e_type"]),
    )


def read_elf(data_or_path: bytes | str | Path, *, name: str | None = None) -> ElfInfo | None:
    """The ELF facts of a file (a path or its bytes); ``None`` when it is not an ELF file.

    ``name`` is the path recorded in the result (default: the path given, or ``""``). A file
    that starts like an ELF file but cannot be read as one raises :class:`BuildError`.
    """
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        data = bytes(data_or_path)
        if not data.startswith(MAGIC):
            return None
        shown = name if name is not None else ""
        return _checked_parse(io.BytesIO(data), shown)
    path = Path(data_or_path)
    shown = name if name is not None else str(data_or_path)
    try:
        with path.open("rb") as stream:
            if stream.read(4) != MAGIC:
                return None
            stream.seek(0)
            return _checked_parse(stream, shown)
    except (IsADirectoryError, FileNotFoundError):
        return None


def _checked_parse(stream: IO[bytes], shown: str) -> ElfInfo:
    try:
        return _parse(stream, shown)
    except (ELFError, ConstructError, ValueError, KeyError, EOFError, AssertionError) as exc:
        # A truncated file fails deep inside pyelftools' structure parser, with any of these.
        raise BuildError(
            f"{shown or 'a file'} looks like an ELF file but cannot be read: {exc}",
            hint="the file is damaged or truncated; rebuild the wheel",
        ) from None


def wheel_elfs(wheel: Path) -> list[ElfInfo]:
    """Every ELF file inside a wheel, by archive path, in archive-name order."""
    found: list[ElfInfo] = []
    try:
        archive = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BuildError(f"cannot read {wheel} as a zip archive: {exc}") from None
    with archive:
        for member in sorted(archive.infolist(), key=lambda m: m.filename):
            if member.is_dir():
                continue
            with archive.open(member) as source:
                if source.read(4) != MAGIC:
                    continue
            # Spool to an unnamed file: pyelftools seeks backwards, which a compressed member
            # does by decompressing again from the start (libtorch_cuda.so is over 1 GB).
            with tempfile.TemporaryFile() as spool, archive.open(member) as source:
                shutil.copyfileobj(source, spool, 1024 * 1024)
                spool.seek(0)
                found.append(_checked_parse(spool, member.filename))
    return found


# cuobjdump names each embedded file <stem>.<n>.sm_87.cubin / <stem>.<n>.sm_87.ptx.
_CUOBJDUMP_LINE = re.compile(r"^(ELF|PTX) file\s+\d+:\s+\S*?\.sm_(\w+?)\.(?:cubin|ptx)\s*$")


def parse_cuobjdump(list_elf: str, list_ptx: str) -> frozenset[str]:
    """The architectures in ``cuobjdump --list-elf`` / ``--list-ptx`` output: sm_X and compute_X."""
    found: set[str] = set()
    for line in (list_elf + "\n" + list_ptx).splitlines():
        match = _CUOBJDUMP_LINE.match(line.strip())
        if match:
            kind, arch = match.groups()
            found.add(("sm_" if kind == "ELF" else "compute_") + arch)
    return frozenset(found)


def cuda_architectures(path: Path, cuobjdump: Path) -> frozenset[str]:
    """The GPU architectures a file carries code for: ``sm_87`` (SASS), ``compute_87`` (PTX)."""
    outputs: list[str] = []
    for option in ("--list-elf", "--list-ptx"):
        done = run.probe([str(cuobjdump), option, str(path)], timeout=300)
        if done is None:
            raise ToolchainError(
                f"cannot run {cuobjdump}",
                hint="install the CUDA toolkit's cuobjdump, or give its path",
            )
        if not done.ok and "does not contain device code" in done.stderr:
            return frozenset()
        if not done.ok and "No PTX file found" not in done.stderr:
            raise BuildError(
                f"cuobjdump {option} failed on {path}: "
                + (done.stderr.strip().splitlines() or ["no output"])[-1],
                hint="check that the file is a CUDA binary for this toolkit",
            )
        outputs.append(done.stdout if done.ok else "")
    return parse_cuobjdump(outputs[0], outputs[1])


def find_cuobjdump(cuda_home: Path | None = None) -> Path | None:
    """``cuobjdump`` from ``cuda_home/bin``, ``/usr/local/cuda/bin``, ``PATH`` or a pip CUDA."""
    for home in (cuda_home, Path("/usr/local/cuda")):
        if home is not None and (home / "bin" / "cuobjdump").is_file():
            return home / "bin" / "cuobjdump"
    on_path = run.which("cuobjdump")
    if on_path is not None:
        return on_path
    # NVIDIA's pip packages (nvidia-cuda-cuobjdump) put it under nvidia/cu*/bin.
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted(Path(root).glob("*/bin/cuobjdump")):
            return candidate
    return None
