"""Repair of wheels holding real ELF files built here with gcc (and aarch64-linux-gnu-gcc)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from torchbuild.elf import read_elf
from torchbuild.errors import BuildError, InputError
from torchbuild.repair import RepairRequest, repair
from torchbuild.repair.archive import set_metadata_version, set_wheel_tags
from wheelfactory import make_wheel

RAW = "2.6.0a0+git1eba9b3"
LIB_C = "int foo_value(void) { return 42; }\n"
EXT_C = "int foo_value(void);\nint ext_value(void) { return foo_value() + 1; }\n"
PLAIN_C = '#include <stdio.h>\nint hello(void) { return puts("hi"); }\n'
# arc4random is new in glibc 2.36 (this machine's): the file asks for GLIBC_2.36.
NEW_C = "#include <stdlib.h>\nunsigned r(void) { return arc4random(); }\n"
BLAS_C = "int blas_dot(void);\nint ext_value(void) { return blas_dot(); }\n"


def _cc(out: Path, source: str, *flags: str, compiler: str = "gcc") -> Path:
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = out.with_name(out.name + ".c")
    src.write_text(source)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(out), str(src), *flags], check=True
    )
    return out


@pytest.fixture(scope="module")
def so(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The ELF files, built once: the build directory is gone by the time the wheel is used."""
    tmp = tmp_path_factory.mktemp("build")
    build = tmp / "build" / "lib"  # an absolute build-dir run path, like CMake leaves
    build.mkdir(parents=True)
    lib = _cc(build / "libfoo.so.2", LIB_C, "-Wl,-soname,libfoo.so.2")
    blas = _cc(
        build / "libblasish.so.0",
        "int blas_dot(void) { return 7; }\n",
        "-Wl,-soname,libblasish.so.0",
    )
    files = {
        "lib": lib,
        "blas": blas,
        "ext": _cc(tmp / "ext.so", EXT_C, f"-L{build}", "-l:libfoo.so.2", f"-Wl,-rpath,{build}"),
        "blas_ext": _cc(
            tmp / "blas_ext.so", BLAS_C, f"-L{build}", "-l:libblasish.so.0", f"-Wl,-rpath,{build}"
        ),
        "plain": _cc(tmp / "plain.so", PLAIN_C),
        "new": _cc(tmp / "new.so", NEW_C),
        "arm": _cc(tmp / "arm.so", NEW_C, compiler="aarch64-linux-gnu-gcc"),
    }
    kept = tmp_path_factory.mktemp("kept")
    out = {name: shutil.copy(path, kept / path.name) for name, path in files.items()}
    shutil.rmtree(tmp / "build")  # as on the machine that installs the wheel
    return {name: Path(path) for name, path in out.items()}


def _wheel(tmp: Path, files: dict[str, Path], name: str = "pkgx", version: str = RAW) -> Path:
    return make_wheel(
        tmp / "in",
        name,
        version,
        tag="cp311-cp311-linux_x86_64",
        files={arc: path.read_bytes() for arc, path in files.items()},
    )


def _request(**kw: object) -> RepairRequest:
    fields: dict[str, object] = {"version": "2.6.0", "local": "cpu", "arch": "x86_64"}
    fields.update(kw)
    return RepairRequest(**fields)  # type: ignore[arg-type]


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _load(directory: Path, lib: str) -> subprocess.CompletedProcess[str]:
    """Load a library in a fresh interpreter: a loaded soname would satisfy later loads here."""
    code = f"import ctypes; print(ctypes.CDLL({str(directory / lib)!r}).ext_value())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_plain_extension_gets_oldest_manylinux_its_symbols_allow(
    so: dict[str, Path], tmp_path: Path
) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_plain.so": so["plain"]})
    done = repair(wheel, tmp_path / "out", _request())
    libc = read_elf(so["plain"])
    assert libc is not None
    # puts and __cxa_finalize are GLIBC_2.2.5 symbols: the oldest x86_64 policy, manylinux1.
    assert libc.version_needs["libc.so.6"] == {"GLIBC_2.2.5"}
    assert done.platform == "manylinux_2_5_x86_64.manylinux1_x86_64"
    assert done.path.name == "pkgx-2.6.0+cpu-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl"
    assert "GLIBC_2.2.5" in done.why
    assert "libc.so.6" in done.why


def test_glibc_2_36_symbol_gives_manylinux_2_36(so: dict[str, Path], tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_new.so": so["new"]})
    done = repair(
        wheel, tmp_path / "out", _request(local="cu130.sm87", provenance={"commit": "1eba9b3"})
    )
    assert done.platform == "manylinux_2_36_x86_64"
    assert done.why.startswith("manylinux_2_36: highest symbol versions GLIBC_2.36")
    members = _members(done.path)
    dist = "pkgx-2.6.0+cu130.sm87.dist-info"
    assert not [m for m in members if "2.6.0a0" in m]
    assert b"\nVersion: 2.6.0+cu130.sm87\n" in members[f"{dist}/METADATA"]
    wheel_file = members[f"{dist}/WHEEL"].decode()
    assert "Root-Is-Purelib: false" in wheel_file
    assert [line for line in wheel_file.splitlines() if line.startswith("Tag:")] == [
        "Tag: cp311-cp311-manylinux_2_36_x86_64"
    ]
    assert json.loads(members[f"{dist}/torchbuild.json"]) == {"commit": "1eba9b3"}


@pytest.mark.programs
def test_unlisted_library_blocks_manylinux_unless_provided(
    so: dict[str, Path], tmp_path: Path
) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_blas.so": so["blas_ext"]})
    blocked = repair(wheel, tmp_path / "a", _request())
    assert blocked.platform == "linux_x86_64"
    assert blocked.path.name.endswith("-cp311-cp311-linux_x86_64.whl")
    assert blocked.why == (
        "pkgx/_blas.so needs libblasish.so.0, which no manylinux policy allows; "
        "graft it or declare it in provided"
    )
    allowed = repair(wheel, tmp_path / "b", _request(provided=("libblas*.so*",)))
    assert allowed.platform == "manylinux_2_5_x86_64.manylinux1_x86_64"


def test_foreign_machine_refused_and_own_accepted(so: dict[str, Path], tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_arm.so": so["arm"]})
    with pytest.raises(BuildError, match=r"the wheel is for x86_64, but pkgx/_arm\.so is aarch64"):
        repair(wheel, tmp_path / "out", _request())
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written left behind
    done = repair(wheel, tmp_path / "out", _request(arch="aarch64"))
    assert done.platform == "manylinux_2_36_aarch64"
    assert done.path.name.endswith("-cp311-cp311-manylinux_2_36_aarch64.whl")


@pytest.mark.programs
def test_run_path_points_into_the_wheel(so: dict[str, Path], tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_ext.so": so["ext"], "pkgx/lib/libfoo.so.2": so["lib"]})
    before = tmp_path / "before"
    zipfile.ZipFile(wheel).extractall(before)
    failed = _load(before / "pkgx", "_ext.so")
    assert failed.returncode != 0
    assert "libfoo.so.2: cannot open shared object file" in failed.stderr

    done = repair(wheel, tmp_path / "out", _request())
    ext = next(e for e in done.elfs if e.path == "pkgx/_ext.so")
    assert ext.runpath == ("$ORIGIN/lib",)  # the absolute build directory is gone
    assert ext.rpath == ()
    after = tmp_path / "after"
    zipfile.ZipFile(done.path).extractall(after)
    loaded = _load(after / "pkgx", "_ext.so")
    assert loaded.stdout.strip() == "43", loaded.stderr
    assert done.platform.startswith("manylinux_2_5_x86_64")


@pytest.mark.programs
def test_duplicate_copies_dropped_but_needed_names_kept(
    so: dict[str, Path], tmp_path: Path
) -> None:
    lib = so["lib"]
    # The CMake package a build against the wheel reads names the versioned files.
    targets = tmp_path / "FooTargets-release.cmake"
    targets.write_text(
        'IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libfoo.so.2.6"\n'
        'IMPORTED_SONAME_RELEASE "libfoo.so.2"\n'
        'IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libfoo.so.2.60x"\n'
    )
    wheel = _wheel(
        tmp_path,
        {
            "pkgx/_ext.so": so["ext"],
            "pkgx/lib/libfoo.so": lib,
            "pkgx/lib/libfoo.so.2": lib,
            "pkgx/lib/libfoo.so.2.6": lib,
            "pkgx/share/cmake/FooTargets-release.cmake": targets,
        },
    )
    done = repair(wheel, tmp_path / "out", _request())
    # Kept once, under the linker name (what a build against the wheel links with -lfoo),
    # which becomes the soname; what needed the old soname now needs the new one.
    assert done.removed_duplicates == ("pkgx/lib/libfoo.so.2", "pkgx/lib/libfoo.so.2.6")
    assert done.renamed_sonames == ("libfoo.so.2 -> libfoo.so",)
    members = _members(done.path)
    assert [m for m in members if m.startswith("pkgx/lib/")] == ["pkgx/lib/libfoo.so"]
    by_path = {e.path: e for e in done.elfs}
    assert by_path["pkgx/lib/libfoo.so"].soname == "libfoo.so"
    assert by_path["pkgx/_ext.so"].needed[0] == "libfoo.so"
    assert members["pkgx/share/cmake/FooTargets-release.cmake"].decode().splitlines() == [
        'IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libfoo.so"',
        'IMPORTED_SONAME_RELEASE "libfoo.so"',
        'IMPORTED_LOCATION_RELEASE "${_IMPORT_PREFIX}/lib/libfoo.so.2.60x"',  # another name
    ]
    installed = tmp_path / "site"
    with zipfile.ZipFile(done.path) as archive:
        archive.extractall(installed)
    loaded = _load(installed / "pkgx", "_ext.so")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "43"  # ext_value() = foo_value() + 1

    # Without the linker name in the wheel, the soname's copy is the one kept.
    wheel = _wheel(
        tmp_path / "1",
        {
            "pkgx/_ext.so": so["ext"],
            "pkgx/lib/libfoo.so.2": lib,
            "pkgx/lib/libfoo.so.2.6": lib,
        },
    )
    done = repair(wheel, tmp_path / "out1", _request())
    assert done.removed_duplicates == ("pkgx/lib/libfoo.so.2.6",)
    assert done.renamed_sonames == ()

    # A file that needs libfoo.so.2.6 by that name keeps that copy.
    other = tmp_path / "other.so"
    shutil.copy(so["ext"], other)
    subprocess.run(
        ["patchelf", "--replace-needed", "libfoo.so.2", "libfoo.so.2.6", str(other)], check=True
    )
    wheel = _wheel(
        tmp_path / "2",
        {"pkgx/_ext.so": other, "pkgx/lib/libfoo.so.2": lib, "pkgx/lib/libfoo.so.2.6": lib},
    )
    done = repair(wheel, tmp_path / "out2", _request())
    assert done.removed_duplicates == ()


@pytest.mark.programs
def test_graft_copies_the_library_in(
    so: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The build directory is gone; the library is found where LD_LIBRARY_PATH says.
    libs = tmp_path / "syslibs"
    libs.mkdir()
    shutil.copy(so["blas"], libs / "libblasish.so.0")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(libs))
    wheel = _wheel(tmp_path, {"pkgx/_blas.so": so["blas_ext"]})
    done = repair(wheel, tmp_path / "out", _request(graft=True))
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert done.grafted == ("pkgx.libs/libblasish.so.0",)
    assert done.platform == "manylinux_2_5_x86_64.manylinux1_x86_64"
    ext = next(e for e in done.elfs if e.path == "pkgx/_blas.so")
    assert ext.runpath == ("$ORIGIN/../pkgx.libs",)
    after = tmp_path / "after"
    zipfile.ZipFile(done.path).extractall(after)
    loaded = _load(after / "pkgx", "_blas.so")
    assert loaded.stdout.strip() == "7", loaded.stderr


@pytest.mark.programs
def test_graft_of_a_missing_library_fails(
    so: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    wheel = _wheel(tmp_path, {"pkgx/_blas.so": so["blas_ext"]})
    with pytest.raises(
        BuildError, match=r"cannot graft libblasish\.so\.0 \(needed by pkgx/_blas\.so\)"
    ):
        repair(wheel, tmp_path / "out", _request(graft=True))


@pytest.mark.programs
def test_record_lists_every_file_with_its_hash(so: dict[str, Path], tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_ext.so": so["ext"], "pkgx/lib/libfoo.so.2": so["lib"]})
    done = repair(wheel, tmp_path / "out", _request(provenance={"recipe": "torch"}))
    members = _members(done.path)
    record_name = "pkgx-2.6.0+cpu.dist-info/RECORD"
    rows = list(csv.reader(io.StringIO(members[record_name].decode())))
    assert sorted(r[0] for r in rows) == sorted(members)
    assert list(members)[-1] == record_name  # RECORD last, the dist-info files at the end
    for path, digest, size in rows:
        if path == record_name:
            assert (digest, size) == ("", "")
            continue
        data = members[path]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}"
        assert int(size) == len(data)
    assert "pkgx-2.6.0+cpu.dist-info/torchbuild.json" in members


@pytest.mark.programs
def test_same_input_gives_the_same_bytes(
    so: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_ext.so": so["ext"], "pkgx/lib/libfoo.so.2": so["lib"]})
    first = repair(wheel, tmp_path / "one", _request(provenance={"b": 1, "a": [1, 2]}))
    second = repair(wheel, tmp_path / "two", _request(provenance={"a": [1, 2], "b": 1}))
    assert first.path.read_bytes() == second.path.read_bytes()
    with zipfile.ZipFile(first.path) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.getinfo("pkgx/_ext.so").external_attr >> 16 & 0o777 == 0o644
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    third = repair(wheel, tmp_path / "three", _request())
    with zipfile.ZipFile(third.path) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_bad_local_label_refused(so: dict[str, Path], tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_plain.so": so["plain"]})
    with pytest.raises(InputError, match="not a PEP 440 local version segment"):
        repair(wheel, tmp_path / "out", _request(local="cu130+sm87"))
    assert not (tmp_path / "out").exists()


def test_pure_python_wheel_keeps_its_tags(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "in", "purex", "0.21.0+a1b2c3d")
    done = repair(wheel, tmp_path / "out", _request(version="0.21.0", local=None))
    assert done.path.name == "purex-0.21.0-py3-none-any.whl"
    assert done.platform == "any"
    assert done.elfs == ()
    members = _members(done.path)
    assert "Root-Is-Purelib: true" in members["purex-0.21.0.dist-info/WHEEL"].decode()
    assert "Tag: py3-none-any" in members["purex-0.21.0.dist-info/WHEEL"].decode()


def test_metadata_and_wheel_file_edits_keep_the_rest() -> None:
    metadata = b"Metadata-Version: 2.1\nName: torch\nVersion: 2.6.0a0+git1\nSummary: x\n\nVersion: in the body\n"
    assert set_metadata_version(metadata, "2.6.0+cpu") == (
        b"Metadata-Version: 2.1\nName: torch\nVersion: 2.6.0+cpu\nSummary: x\n\nVersion: in the body\n"
    )
    wheel = b"Wheel-Version: 1.0\nGenerator: setuptools (75.1.0)\nRoot-Is-Purelib: true\nTag: cp311-cp311-linux_x86_64\n\n"
    assert set_wheel_tags(wheel, ["cp311-cp311-manylinux_2_28_x86_64"], purelib=False) == (
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nGenerator: setuptools (75.1.0)\n"
        b"Tag: cp311-cp311-manylinux_2_28_x86_64\n"
    )


@pytest.mark.programs
def test_platlib_data_dir_renamed_and_run_path_from_install_layout(
    so: dict[str, Path], tmp_path: Path
) -> None:
    data = f"pkgx-{RAW}.data/platlib"
    wheel = _wheel(tmp_path, {f"{data}/pkgx/_ext.so": so["ext"], "pkgx/lib/libfoo.so.2": so["lib"]})
    done = repair(wheel, tmp_path / "out", _request(arch="amd64"))
    assert "pkgx-2.6.0+cpu.data/platlib/pkgx/_ext.so" in _members(done.path)
    ext = next(e for e in done.elfs if e.name == "_ext.so")
    assert ext.path == "pkgx-2.6.0+cpu.data/platlib/pkgx/_ext.so"
    assert ext.runpath == ("$ORIGIN/lib",)  # as installed: site-packages/pkgx/_ext.so
    assert done.platform.endswith("_x86_64")  # amd64 is x86_64


def test_damaged_wheel_refused(so: dict[str, Path], tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, {"pkgx/_plain.so": so["plain"]})
    with zipfile.ZipFile(wheel) as archive:
        member = archive.getinfo("pkgx/_plain.so")
    data = bytearray(wheel.read_bytes())
    # The member's compressed bytes start after its 30-byte local header, name and extra field.
    start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    middle = start + member.compress_size // 2
    data[middle : middle + 64] = bytes(64)
    wheel.write_bytes(bytes(data))
    with pytest.raises(InputError):
        repair(wheel, tmp_path / "out", _request())
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_policy_reasons() -> None:
    from torchbuild.repair import policy

    first = policy.policies("x86_64")[0]
    assert (first.name, first.aliases) == ("manylinux_2_5", ("manylinux1",))
    assert (
        policy.policies("aarch64")[0].tag("aarch64")
        == "manylinux_2_17_aarch64.manylinux2014_aarch64"
    )
    assert policy.policies("armv7l")[0].name == "manylinux_2_17"
    private = policy.choose(
        policy.ExternalNeeds({"libc.so.6": ("a.so",)}, {"GLIBC_PRIVATE": ("a.so",)}), "x86_64"
    )
    assert private.platform == "linux_x86_64"
    assert private.why == "a.so asks for GLIBC_PRIVATE, which no manylinux policy allows"
    future = policy.choose(
        policy.ExternalNeeds({"libc.so.6": ("a.so",)}, {"GLIBC_2.99": ("a.so", "b.so")}), "x86_64"
    )
    assert future.platform == "linux_x86_64"
    assert future.why.startswith(
        "a.so (and 1 more) asks for GLIBC_2.99, newer than the newest policy auditwheel"
    )
    cxx = policy.choose(
        policy.ExternalNeeds(
            {"libstdc++.so.6": ("a.so",)}, {"GLIBCXX_3.4.30": ("a.so",), "GLIBC_2.17": ("a.so",)}
        ),
        "aarch64",
    )
    # GLIBCXX_3.4.30 (GCC 12's libstdc++) is first allowed by manylinux_2_35 (Ubuntu 22.04 has it).
    assert cxx.platform == "manylinux_2_35_aarch64"
    none = policy.choose(policy.ExternalNeeds({}, {}), "armv6l")
    assert (none.platform, none.why) == ("linux_armv6l", "no manylinux policy exists for armv6l")


def test_device_code_is_not_held_to_the_host_machine(so: dict[str, Path], tmp_path: Path) -> None:
    nvcc = Path("/usr/local/cuda/bin/nvcc")
    if not nvcc.is_file():
        pytest.skip("needs nvcc at /usr/local/cuda/bin")
    src = tmp_path / "k.cu"
    src.write_text("__global__ void k(float *a) { a[threadIdx.x] = 1.0f; }\n")
    cubin = tmp_path / "k.cubin"
    subprocess.run([str(nvcc), "-cubin", "-arch=sm_87", "-o", str(cubin), str(src)], check=True)
    wheel = _wheel(tmp_path, {"pkgx/_plain.so": so["plain"], "pkgx/kernels/k.cubin": cubin})
    done = repair(wheel, tmp_path / "out", _request())
    assert [e.path for e in done.elfs] == ["pkgx/_plain.so"]
    assert "pkgx/kernels/k.cubin" in _members(done.path)
    assert done.platform.startswith("manylinux_2_5_x86_64")


def test_cxx_extension_tag_follows_libstdcxx_versions(tmp_path: Path) -> None:
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    src = tmp_path / "s.cpp"
    src.write_text(
        '#include <string>\nextern "C" int n(const char *s) { return std::string(s).size(); }\n'
    )
    lib = tmp_path / "s.so"
    subprocess.run(["g++", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], check=True)
    info = read_elf(lib)
    assert info is not None
    # GCC 5's std::string (the C++11 ABI) is GLIBCXX_3.4.21, which manylinux_2_24 first allows.
    assert "GLIBCXX_3.4.21" in info.version_needs["libstdc++.so.6"]
    done = repair(_wheel(tmp_path, {"pkgx/_s.so": lib}), tmp_path / "out", _request())
    assert done.platform == "manylinux_2_24_x86_64"
    assert "GLIBCXX_3.4.21" in done.why
    assert "libstdc++.so.6" in done.why
