"""What cross-compiling torch itself needs beyond the generic cross environment: the links a
package's maintainer script would make in a sysroot (OpenBLAS), the target's NumPy headers,
the C++ library ABI read from the cross compiler, QEMU under either Debian name, and the
sysroot package sets. All from recorded outputs; no program is started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.version import Version

from torchbuild.cross import Compilers, cross_arch, render_toolchain
from torchbuild.cross.alternatives import apply_alternatives, parse_alternatives
from torchbuild.cross.qemu import emulator, find_emulator
from torchbuild.cross.sysroot import Sysroot
from torchbuild.cross.toolchain import ToolchainPython, abi_from_macros
from torchbuild.errors import ToolchainError
from torchbuild.roots.packagesets import package_sets, select
from torchbuild.target import load_target

DATA = Path(__file__).resolve().parents[1] / "data" / "cross"
POSTINST = (DATA / "libopenblas-pthread-dev-0.3.29.postinst").read_text()
TRIPLET = "x86_64-linux-gnu"  # the recorded script is the amd64 package's


# -- alternatives ----------------------------------------------------------------------------


def test_openblas_postinst_registers_three_groups_with_their_slaves() -> None:
    found = {alt.name: alt for alt in parse_alternatives(POSTINST)}
    assert set(found) == {
        f"libblas.so-{TRIPLET}",
        f"liblapack.so-{TRIPLET}",
        f"libopenblas.so-{TRIPLET}",
    }
    blas = found[f"libblas.so-{TRIPLET}"]
    assert blas.priority == 100
    assert blas.links[0] == (
        f"/usr/lib/{TRIPLET}/libblas.so",
        f"/usr/lib/{TRIPLET}/openblas-pthread/libblas.so",
    )
    assert (
        f"/usr/include/{TRIPLET}/cblas.h",
        f"/usr/include/{TRIPLET}/openblas-pthread/cblas.h",
    ) in blas.links
    assert len(found[f"libopenblas.so-{TRIPLET}"].links) == 8  # master and seven slaves


def _lay_out(root: Path, paths: list[str]) -> None:
    for path in paths:
        where = root / path.lstrip("/")
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(path)


def test_links_made_relative_only_where_the_target_file_exists(tmp_path: Path) -> None:
    lib = f"/usr/lib/{TRIPLET}"
    _lay_out(
        tmp_path,
        [
            f"{lib}/openblas-pthread/libopenblas.so",
            f"{lib}/openblas-pthread/libblas.so",
            f"/usr/include/{TRIPLET}/openblas-pthread/cblas.h",
        ],
    )
    made = apply_alternatives(tmp_path, parse_alternatives(POSTINST))
    # cblas.h and cblas-openblas.h name one header; the static archives, pkg-config and CMake
    # files are not there.
    assert made == 4
    link = tmp_path / lib.lstrip("/") / "libopenblas.so"
    assert link.is_symlink()
    assert os.readlink(link) == "openblas-pthread/libopenblas.so"
    assert link.read_text() == f"{lib}/openblas-pthread/libopenblas.so"
    assert not (tmp_path / lib.lstrip("/") / "libopenblas.a").exists()
    assert (tmp_path / f"usr/include/{TRIPLET}/cblas.h").read_text().endswith("cblas.h")


def test_highest_priority_wins_and_existing_files_stay(tmp_path: Path) -> None:
    script = (
        "update-alternatives --install /usr/lib/libx.so libx /usr/lib/a/libx.so 10\n"
        "update-alternatives --install /usr/lib/libx.so libx /usr/lib/b/libx.so 90\n"
        'update-alternatives --install /usr/lib/liby.so liby "$DIR/liby.so" 50\n'
        "update-alternatives --install /usr/lib/libz.so libz /usr/lib/c/libz.so 5\n"
    )
    _lay_out(tmp_path, ["/usr/lib/a/libx.so", "/usr/lib/b/libx.so", "/usr/lib/c/libz.so"])
    (tmp_path / "usr/lib/libz.so").write_text("the package's own file")
    alternatives = parse_alternatives(script)
    assert [a.name for a in alternatives] == ["libx", "libx", "libz"]  # $DIR cannot be known
    assert apply_alternatives(tmp_path, alternatives) == 1
    assert os.readlink(tmp_path / "usr/lib/libx.so") == "b/libx.so"
    assert (tmp_path / "usr/lib/libz.so").read_text() == "the package's own file"


def test_scripts_without_alternatives_give_none() -> None:
    assert parse_alternatives("#!/bin/sh\nset -e\nldconfig\n") == []
    assert parse_alternatives("update-alternatives --remove libx /usr/lib/a/libx.so\n") == []
    assert parse_alternatives("update-alternatives --install /a b /c notanumber\n") == []


# -- the C++ library ABI ---------------------------------------------------------------------


def test_cxx11_abi_read_from_the_cross_compilers_macros() -> None:
    text = (DATA / "gxx-14-aarch64-string-macros.txt").read_text()
    assert abi_from_macros(text) == "1"
    assert abi_from_macros(text.replace("_GLIBCXX_USE_CXX11_ABI 1", "_GLIBCXX_USE_CXX11_ABI 0"))
    assert abi_from_macros("#define __GNUC__ 14\n") is None


# -- NumPy headers ---------------------------------------------------------------------------


def _sysroot(root: Path, numpy_base: str | None) -> Sysroot:
    if numpy_base is not None:
        (root / numpy_base / "numpy").mkdir(parents=True)
        (root / numpy_base / "numpy/_numpyconfig.h").write_text("#define NPY_SIZEOF_LONG 8\n")
    return Sysroot(
        path=root,
        arch="aarch64",
        multiarch="aarch64-linux-gnu",
        python_version="3.13",
        python_include=root / "usr/include/python3.13",
        pyconfig=root / "usr/include/aarch64-linux-gnu/python3.13/pyconfig.h",
        libc=root / "usr/lib/aarch64-linux-gnu/libc.so.6",
        python=None,
    )


@pytest.mark.parametrize(
    "base",
    [
        # Debian trixie: the headers are per machine, beside the triplet's libraries.
        "usr/lib/aarch64-linux-gnu/python3-numpy/numpy/_core/include",
        # NumPy 1.x as Debian bookworm lays it out.
        "usr/lib/python3/dist-packages/numpy/core/include",
    ],
)
def test_numpy_headers_found_in_the_sysroot(tmp_path: Path, base: str) -> None:
    assert _sysroot(tmp_path, base).numpy_include == tmp_path / base


def test_no_numpy_in_the_sysroot(tmp_path: Path) -> None:
    assert _sysroot(tmp_path, None).numpy_include is None


def test_toolchain_file_names_the_targets_numpy(tmp_path: Path) -> None:
    compilers = Compilers(Path("/usr/bin/aarch64-linux-gnu-gcc"), Path("/usr/bin/g++"), *[None] * 3)
    python = ToolchainPython(
        host=Path("/usr/bin/python3.13"),
        target=None,
        include=Path("/sr/usr/include/python3.13"),
        soabi="cpython-313-aarch64-linux-gnu",
        numpy_include=Path("/sr/np/include"),
    )
    text = render_toolchain(cross_arch("arm64"), Path("/sr"), compilers, python=python)
    assert 'set(${_torchbuild_name}_NumPy_INCLUDE_DIR "/sr/np/include")' in text
    without = render_toolchain(
        cross_arch("arm64"),
        Path("/sr"),
        compilers,
        python=ToolchainPython(python.host, None, python.include, python.soabi),
    )
    assert "NumPy_INCLUDE_DIR" not in without


# -- QEMU ------------------------------------------------------------------------------------


def _tool(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_qemu_under_either_debian_name(tmp_path: Path) -> None:
    trixie = tmp_path / "trixie"
    plain = _tool(trixie, "qemu-aarch64")  # trixie's qemu-user is static itself
    assert find_emulator("aarch64", str(trixie)) == plain
    both = tmp_path / "both"
    _tool(both, "qemu-arm")
    static = _tool(both, "qemu-arm-static")
    assert find_emulator("armv7l", str(both)) == static  # the static build first
    assert find_emulator("aarch64", str(tmp_path / "none")) is None
    with pytest.raises(ToolchainError, match="qemu-aarch64-static is not installed") as info:
        emulator("aarch64", str(tmp_path / "none"))
    assert "qemu-user" in info.value.hint


# -- package sets and presets ----------------------------------------------------------------


def test_sysroot_set_holds_what_debians_torch_source_links() -> None:
    sets = package_sets()
    wanted = select(["torch-sysroot"]).packages
    assert {"libc6-dev", "python3-dev", "libopenblas-dev", "libsleef-dev", "libgomp1"} <= set(
        wanted
    )
    # The host side of the same build: cross compilers of both ARM machines, code generators
    # and the emulator.
    host = sets["torch-cross"].packages
    for name in ("g++-aarch64-linux-gnu", "g++-arm-linux-gnueabihf", "protobuf-compiler"):
        assert name in host
    assert "flatbuffers-compiler" in host
    assert "qemu-user" in host


def test_root_sysroot_takes_package_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchbuild.commands import sysroot as command
    from torchbuild.cross import prepare

    asked: dict[str, object] = {}

    def fake_prepare(directory: Path, **kwargs: object) -> Sysroot:
        asked.update(kwargs)
        return _sysroot(tmp_path, None)

    monkeypatch.setattr(prepare, "prepare_sysroot", fake_prepare)
    done = CliRunner().invoke(
        command.sysroot,
        [
            "trixie",
            str(tmp_path / "sr"),
            "--arch",
            "arm64",
            "--packages",
            "torch-sysroot,zlib1g-dev",
        ],
    )
    assert done.exit_code == 0, done.output
    packages = asked["packages"]
    assert isinstance(packages, tuple)
    assert packages[-1] == "zlib1g-dev"
    assert packages[:-1] == select(["torch-sysroot"]).packages
    bad = CliRunner().invoke(
        command.sysroot, ["trixie", str(tmp_path / "sr"), "--arch", "arm64", "--packages", "Torch"]
    )
    assert bad.exit_code != 0


@pytest.mark.parametrize("name", ["rpi5-trixie-arm64", "rpi-trixie-armv7l"])
def test_trixie_presets_match_debians_torch_sysroot(name: str) -> None:
    target = load_target(name)
    assert target.python is not None
    assert target.python.version.startswith("3.13.")  # trixie's python3-dev
    assert target.libc.version == "2.41"
    assert target.cuda is None


# -- merged /usr -----------------------------------------------------------------------------


def test_merged_usr_links_made_where_the_packages_left_them_out(tmp_path: Path) -> None:
    from torchbuild.cross.sysroot import link_merged_usr

    # Debian trixie's libc6 ships the loader under /usr/lib only; bookworm's under /lib.
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/ld-linux-aarch64.so.1").write_text("loader")
    (tmp_path / "usr/bin").mkdir()
    (tmp_path / "sbin").mkdir()  # a real directory stays one
    assert link_merged_usr(tmp_path) == ["bin", "lib"]
    assert os.readlink(tmp_path / "lib") == "usr/lib"
    assert (tmp_path / "lib/ld-linux-aarch64.so.1").read_text() == "loader"
    assert not (tmp_path / "sbin").is_symlink()
    assert not (tmp_path / "lib64").exists()  # nothing under usr/ to point at
    assert link_merged_usr(tmp_path) == []  # done once


# -- the target torch's C++ ABI --------------------------------------------------------------

# The lines of TorchConfig.cmake that carry the flag, as torch 2.6.0's build writes them (the
# wheel cross-built for aarch64 here, torch/share/cmake/Torch/TorchConfig.cmake:147-149).
TORCH_CONFIG = """\
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")
endif()
"""


def test_target_torch_abi_read_from_its_cmake_package(tmp_path: Path) -> None:
    from torchbuild.cross.torch import TargetTorch, abi_of_torch_config

    assert abi_of_torch_config(TORCH_CONFIG) == "1"
    assert abi_of_torch_config(TORCH_CONFIG.replace("ABI=1", "ABI=0")) == "0"
    assert abi_of_torch_config("set(TORCH_CXX_FLAGS)\n") is None
    torch = TargetTorch(root=tmp_path, version="2.6.0", cuda=None)
    assert torch.cxx11_abi is None  # no CMake package: nothing to compare
    torch.cmake_dir.mkdir(parents=True)
    (torch.cmake_dir / "TorchConfig.cmake").write_text(TORCH_CONFIG)
    assert torch.cxx11_abi == "1"


def test_host_torch_abi_read_from_its_cmake_package_without_importing_it(tmp_path: Path) -> None:
    from torchbuild.detect.torch import InstalledTorch
    from torchbuild.pipeline.sites import CrossHost

    package = tmp_path / "site-packages" / "torch"
    (package / "share/cmake/Torch").mkdir(parents=True)
    (package / "share/cmake/Torch/TorchConfig.cmake").write_text(TORCH_CONFIG)
    host = object.__new__(CrossHost)  # only the host torch's facts are asked for
    host.__dict__["_scripts_torch"] = InstalledTorch(Version("2.7.1"), None, str(package))
    # A Python that cannot import anything: the answer comes from the file alone.
    assert host._host_abi(tmp_path / "no-python") == "1"
