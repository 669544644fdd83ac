"""Repair: turn the wheel a build backend wrote into the wheel the wheelhouse keeps.

Steps, on an unpacked copy: rename ``.dist-info``/``.data`` for the clean version and local
label; check every ELF file is for the target machine; keep a library stored under several
symlink names once (under its linker name, made its soname, when a versioned build left both);
graft missing system libraries (when asked); point run paths at libraries shipped elsewhere in
the wheel and drop absolute build-directory entries; choose the platform tag from what the ELF
files need; rewrite ``WHEEL``, ``METADATA``, the provenance record and ``RECORD``; write the
wheel reproducibly under its new name.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from .. import run
from ..elf import DEVICE_MACHINES, ElfInfo, normalize_arch, read_elf, same_arch
from ..errors import BuildError
from ..fs import TEMP_PREFIX, sha256_file
from ..wheel import inspect_wheel, parse_name
from . import archive, graft, policy, rpath
from .provenance import FILENAME as PROVENANCE_FILE
from .provenance import provenance_bytes
from .version import full_version

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["RepairRequest", "Repaired", "repair"]


@dataclass(frozen=True)
class RepairRequest:
    """What the repaired wheel must be."""

    version: str  #: the clean public version, e.g. ``2.6.0``
    local: str | None  #: local label, e.g. ``cpu`` or ``cu130.sm87``
    arch: str  #: the target machine: every ELF file must be for it
    #: soname globs another wheel provides at run time (``libtorch*.so*``): external, not grafted
    provided: tuple[str, ...] = ()
    #: written as JSON to ``<name>-<version>.dist-info/torchbuild.json``
    provenance: Mapping[str, Any] = field(default_factory=dict, hash=False)
    #: copy needed system libraries no manylinux policy allows into ``<name>.libs/``
    graft: bool = False


@dataclass(frozen=True)
class Repaired:
    """The repaired wheel and what repair found and did."""

    path: Path  #: the new wheel file in ``out_dir``
    platform: str  #: ``manylinux_2_28_x86_64``, ``linux_aarch64``, or ``any``
    why: str  #: one line: why this tag
    elfs: tuple[ElfInfo, ...]
    grafted: tuple[str, ...]  #: archive paths of the libraries copied in
    removed_duplicates: tuple[str, ...]  #: archive paths of the copies dropped
    #: ``libtorch.so.2.6 -> libtorch.so``: versioned libraries kept once, under the linker name
    renamed_sonames: tuple[str, ...] = ()


def _installed(path: str, data_dir: str) -> str | None:
    """Where an archive path lands relative to site-packages; ``None`` outside it."""
    prefix = f"{data_dir}/"
    if not path.startswith(prefix):
        return path
    scheme, _, rest = path[len(prefix) :].partition("/")
    return rest if scheme in {"purelib", "platlib"} else None


def _dist_dirs(names: Sequence[str], project: str, version: Version) -> tuple[str, str]:
    """The stems of ``.dist-info`` (found) and ``.data`` (maybe absent) in the wheel."""
    for name in sorted({n.split("/", 1)[0] for n in names}):
        stem, dot, suffix = name.rpartition(".")
        if dot and suffix == "dist-info":
            dist, _, raw = stem.rpartition("-")
            if canonicalize_name(dist) == project and Version(raw) == version:
                return name, f"{stem}.data"
    raise BuildError(f"no {project}-{version}.dist-info in the wheel")  # pragma: no cover


class _Tree:
    """The unpacked wheel: files by archive path, with their modes and ELF facts."""

    def __init__(self, root: Path, modes: dict[str, int], data_dir: str) -> None:
        self.root = root
        self.modes = modes
        self.data_dir = data_dir
        self.elfs: dict[str, ElfInfo] = {}
        for path in sorted(modes):
            info = read_elf(root / path, name=path)
            if info is not None and info.machine not in DEVICE_MACHINES:
                self.elfs[path] = info

    def rename_dir(self, old: str, new: str) -> None:
        if old == new or not (self.root / old).is_dir():
            return
        (self.root / old).rename(self.root / new)
        self.modes = {_moved(p, old, new): mode for p, mode in self.modes.items()}
        self.elfs = {
            _moved(p, old, new): _with_path(info, _moved(p, old, new))
            for p, info in self.elfs.items()
        }
        if self.data_dir == old:
            self.data_dir = new

    def remove(self, path: str) -> None:
        (self.root / path).unlink()
        self.modes.pop(path)
        self.elfs.pop(path, None)

    def installed(self, path: str) -> str | None:
        return _installed(path, self.data_dir)

    def by_name(self) -> dict[str, list[str]]:
        """Installed paths of the loadable ELF files, by file name (what DT_NEEDED names)."""
        names: dict[str, list[str]] = {}
        for path, info in self.elfs.items():
            where = self.installed(path)
            if where is not None and info.kind != "ET_REL":
                names.setdefault(info.name, []).append(where)
        return names


def _moved(path: str, old: str, new: str) -> str:
    return f"{new}/{path[len(old) + 1 :]}" if path.startswith(f"{old}/") else path


def _with_path(info: ElfInfo, path: str) -> ElfInfo:
    if info.path == path:
        return info
    return ElfInfo(
        path,
        info.machine,
        info.soname,
        info.needed,
        info.rpath,
        info.runpath,
        info.version_needs,
        info.kind,
    )


def _check_arch(tree: _Tree, arch: str) -> None:
    wrong = [(p, i.machine) for p, i in tree.elfs.items() if not same_arch(i.machine, arch)]
    if wrong:
        listed = ", ".join(f"{p} is {m}" for p, m in wrong[:3])
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise BuildError(
            f"the wheel is for {arch}, but {listed}{more}",
            hint="build with the toolchain for the target machine (check CC/CXX and the sysroot)",
        )


_VERSIONED_SONAME = re.compile(r"^(?P<link>.+\.so)\.\d[\w.]*$")


def _unversion_sonames(tree: _Tree) -> tuple[list[str], list[str]]:
    """Store a versioned library once, under its linker name, when the wheel has both.

    A build with versioned sonames (Debian's torch: ``libtorch.so.2.6``) leaves the library in
    the wheel three times, once per symlink name, because a zip stores no links. The loader
    needs the soname; a build against the wheel (``-ltorch`` from torchvision) needs the
    linker name ``libtorch.so``. Keeping only the linker name, made the soname with patchelf
    and named so in every ``DT_NEEDED`` of the wheel, serves both, as PyPI's torch wheels do.
    Returns the ``old -> new`` soname pairs and the archive paths of the copies dropped.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for path, info in tree.elfs.items():
        match = _VERSIONED_SONAME.match(info.soname or "")
        if match:
            groups.setdefault((posixpath.dirname(path), info.soname or ""), []).append(path)
    renamed: list[str] = []
    dropped: list[str] = []
    names: dict[str, str] = {}  # file names no longer in the wheel -> the one kept
    patchelf: Path | None = None
    for (folder, soname), paths in sorted(groups.items()):
        match = _VERSIONED_SONAME.match(soname)
        assert match is not None
        link = posixpath.join(folder, match.group("link")) if folder else match.group("link")
        if link not in paths:
            continue
        digest = sha256_file(tree.root / link).sha256
        copies = [p for p in paths if p != link and sha256_file(tree.root / p).sha256 == digest]
        if not copies:
            continue
        patchelf = patchelf or rpath.find_patchelf()
        new = match.group("link")
        _patchelf(patchelf, tree, link, ["--set-soname", new])
        for path, info in list(tree.elfs.items()):
            if soname in info.needed and path not in copies:
                _patchelf(patchelf, tree, path, ["--replace-needed", soname, new])
        for path in copies:
            tree.remove(path)
        dropped.extend(copies)
        renamed.append(f"{soname} -> {new}")
        names.update({posixpath.basename(p): new for p in copies})
        names[soname] = new
    if names:
        _rename_in_cmake_files(tree, names)
    return renamed, dropped


def _rename_in_cmake_files(tree: _Tree, names: Mapping[str, str]) -> None:
    """Point the wheel's CMake package (torch's ``Caffe2Targets-release.cmake`` names
    ``libc10.so.2.6.0`` and soname ``libc10.so.2.6``) at the copies that were kept, or a
    build against the wheel (torchaudio's ``find_package(Torch)``) stops at configure."""
    pattern = re.compile(
        r"(?<![\w.])("
        + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        + r")(?![\w.])"
    )
    for path in sorted(tree.modes):
        if not path.endswith(".cmake"):
            continue
        file = tree.root / path
        text = file.read_text(encoding="utf-8", errors="surrogateescape")
        changed = pattern.sub(lambda m: names[m.group(1)], text)
        if changed != text:
            file.write_text(changed, encoding="utf-8", errors="surrogateescape")


def _patchelf(patchelf: Path, tree: _Tree, path: str, args: list[str]) -> None:
    done = run.capture([str(patchelf), *args, str(tree.root / path)], timeout=600.0)
    if not done.ok:
        raise BuildError(
            f"patchelf {' '.join(args)} failed on {path}: "
            f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}",
            hint="check that patchelf works (patchelf --version) and the file is not damaged",
        )
    info = read_elf(tree.root / path, name=path)
    if info is not None:
        tree.elfs[path] = info


def _remove_duplicates(tree: _Tree) -> list[str]:
    """Drop byte-identical copies of a library next to the copy its SONAME names."""
    needed = {name for info in tree.elfs.values() for name in info.needed}
    groups: dict[tuple[str, int], list[str]] = {}
    for path, info in tree.elfs.items():
        if info.soname is not None:
            size = (tree.root / path).stat().st_size
            groups.setdefault((posixpath.dirname(path), size), []).append(path)
    removed: list[str] = []
    for paths in groups.values():
        if len(paths) < 2:
            continue
        by_hash: dict[str, list[str]] = {}
        for path in paths:
            by_hash.setdefault(sha256_file(tree.root / path).sha256, []).append(path)
        for same in by_hash.values():
            soname = tree.elfs[same[0]].soname
            keeper = [p for p in same if tree.elfs[p].name == soname]
            if not keeper:
                continue  # no copy is named for the loader: keep them all
            for path in same:
                if path != keeper[0] and tree.elfs[path].name not in needed:
                    tree.remove(path)
                    removed.append(path)
    return sorted(removed)


def _provided(name: str, globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in globs)


def _external(tree: _Tree, provided: Sequence[str]) -> policy.ExternalNeeds:
    """Libraries and symbol versions the ELF files take from the system."""
    inside = tree.by_name()
    libraries: dict[str, list[str]] = {}
    versions: dict[str, list[str]] = {}
    for path, info in sorted(tree.elfs.items()):
        for name in info.needed:
            if name not in inside and not _provided(name, provided):
                libraries.setdefault(name, []).append(path)
        for library, wanted in info.version_needs.items():
            if library in inside or _provided(library, provided):
                continue
            for version in wanted:
                versions.setdefault(version, []).append(path)
    return policy.ExternalNeeds(
        {k: tuple(v) for k, v in libraries.items()},
        {k: tuple(sorted(set(v))) for k, v in versions.items()},
    )


def _graft(tree: _Tree, request: RepairRequest, arch: str, libs_dir: str) -> list[str]:
    """Copy needed system libraries the policy does not allow into ``libs_dir``."""
    grafted: list[str] = []
    while True:
        needs = _external(tree, request.provided)
        allowed = policy.graft_allowed(needs, arch)
        missing = sorted(
            name for name in needs.libraries if name not in allowed and not policy.is_loader(name)
        )
        if not missing:
            return grafted
        for name in missing:
            asking = needs.libraries[name]
            search = [d for p in asking for d in (*tree.elfs[p].rpath, *tree.elfs[p].runpath)]
            found = graft.find_library(name, arch, search)
            if found is None:
                raise BuildError(
                    f"cannot graft {name} (needed by {asking[0]}): no {arch} copy "
                    "found on this machine",
                    hint="install the library, set LD_LIBRARY_PATH to its directory, or list "
                    "it in provided",
                )
            path = f"{libs_dir}/{name}"
            (tree.root / libs_dir).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, tree.root / path)
            tree.modes[path] = 0o755
            info = read_elf(tree.root / path, name=path)
            assert info is not None  # find_library only returns ELF files
            tree.elfs[path] = info
            grafted.append(path)


def _fix_runpaths(tree: _Tree) -> None:
    """Point every ELF file at the libraries it needs from the wheel; drop absolute entries."""
    inside = tree.by_name()
    patchelf: Path | None = None
    for path, info in sorted(tree.elfs.items()):
        where = tree.installed(path)
        if where is None or info.kind == "ET_REL":
            continue
        here = posixpath.dirname(where)
        entries: list[str] = []
        for entry in (*info.runpath, *info.rpath):
            if rpath.is_origin_relative(entry) and entry not in entries:
                entries.append(entry)
        for name in info.needed:
            targets = inside.get(name)
            if not targets:
                continue
            # The copy nearest the needing file: the longest shared directory prefix.
            target = min(targets, key=lambda t: (-_shared(here, t), t))
            entry = rpath.origin_entry(here, posixpath.dirname(target))
            if entry not in entries:
                entries.append(entry)
        # The loader ignores RPATH where RUNPATH is present: the one in force is compared.
        in_force = info.runpath or info.rpath
        if tuple(entries) == in_force and not (info.runpath and info.rpath):
            continue
        if patchelf is None:
            patchelf = rpath.find_patchelf()
        rpath.set_runpath(patchelf, tree.root / path, entries, path)
        fresh = read_elf(tree.root / path, name=path)
        assert fresh is not None
        tree.elfs[path] = fresh


def _shared(a: str, b: str) -> int:
    parts_a, parts_b = a.split("/"), posixpath.dirname(b).split("/")
    count = 0
    for x, y in zip(parts_a, parts_b):
        if x != y:
            break
        count += 1
    return count


def _tags(pairs: Sequence[tuple[str, str]], platforms: Sequence[str]) -> tuple[str, list[str]]:
    """The compressed tag for the file name and the expanded ones for WHEEL."""
    interpreters = sorted({i for i, _ in pairs})
    abis = sorted({a for _, a in pairs})
    compressed = f"{'.'.join(interpreters)}-{'.'.join(abis)}-{'.'.join(platforms)}"
    expanded = [f"{i}-{a}-{p}" for i, a in sorted(set(pairs)) for p in platforms]
    return compressed, expanded


def repair(wheel: Path, out_dir: Path, request: RepairRequest) -> Repaired:
    """Repair ``wheel`` into ``out_dir``: version, platform tag, run paths, duplicates, RECORD."""
    # The CRCs are checked while unpacking: no need to decompress everything twice.
    info = inspect_wheel(wheel, check_crc=False)
    version = full_version(request.version, request.local)
    arch = normalize_arch(request.arch)
    _, _, build, tags = parse_wheel_filename(wheel.name)
    project = info.project
    stem = f"{canonicalize_name(project).replace('-', '_')}-{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-repair-", dir=out_dir))
    try:
        root = work / "tree"
        modes = archive.unpack(wheel, root)
        dist_info, data_dir = _dist_dirs(sorted(modes), project, info.name.version)
        tree = _Tree(root, modes, data_dir)
        tree.rename_dir(dist_info, f"{stem}.dist-info")
        tree.rename_dir(data_dir, f"{stem}.data")
        dist_info = f"{stem}.dist-info"

        grafted: list[str] = []
        removed: list[str] = []
        renamed: list[str] = []
        if tree.elfs:
            _check_arch(tree, arch)
            renamed, dropped = _unversion_sonames(tree)
            removed = sorted([*dropped, *_remove_duplicates(tree)])
            if request.graft:
                libs_dir = f"{canonicalize_name(project).replace('-', '_')}.libs"
                grafted = _graft(tree, request, arch, libs_dir)
            _fix_runpaths(tree)
            verdict = policy.choose(_external(tree, request.provided), arch)
            pairs = sorted({(t.interpreter, t.abi) for t in tags})
            compressed, expanded = _tags(pairs, verdict.platform.split("."))
            platform, why, purelib = verdict.platform, verdict.why, False
        else:
            compressed = info.name.tag
            expanded = sorted(str(t) for t in tags)
            platform = info.name.platform_tag
            why = "no ELF files: the tags stay as built"
            wheel_text = (root / dist_info / "WHEEL").read_text(encoding="utf-8")
            purelib = "root-is-purelib: true" in wheel_text.lower()

        metadata = root / dist_info / "METADATA"
        metadata.write_bytes(archive.set_metadata_version(metadata.read_bytes(), version))
        wheel_file = root / dist_info / "WHEEL"
        wheel_file.write_bytes(archive.set_wheel_tags(wheel_file.read_bytes(), expanded, purelib))
        (root / dist_info / PROVENANCE_FILE).write_bytes(provenance_bytes(request.provenance))
        tree.modes.setdefault(f"{dist_info}/{PROVENANCE_FILE}", 0o644)
        tree.modes.setdefault(f"{dist_info}/RECORD", 0o644)

        build_part = f"-{build[0]}{build[1]}" if build else ""
        filename = f"{stem}{build_part}-{compressed}.whl"
        parse_name(filename)  # the name must read back as written
        out = out_dir / filename
        archive.write_wheel(root, tree.modes, dist_info, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Repaired(
        path=out,
        platform=platform,
        why=why,
        elfs=tuple(tree.elfs[p] for p in sorted(tree.elfs)),
        grafted=tuple(grafted),
        removed_duplicates=tuple(removed),
        renamed_sonames=tuple(renamed),
    )
