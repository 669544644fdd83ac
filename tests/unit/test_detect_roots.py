"""`detect --root` on fake board roots assembled from real captures; host detection replaying
recorded tool outputs through stand-in executables."""

from __future__ import annotations

import json
import stat
import struct
import time
from pathlib import Path

import pytest

from torchbuild.__main__ import main
from torchbuild.detect import detect_host, detect_root
from torchbuild.detect.fs import Root
from torchbuild.errors import InputError
from torchbuild.settings import load_settings
from torchbuild.target import Target, from_json, to_json

R36_4_3 = (
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
    "DATE: Wed Jan  8 01:49:37 UTC 2025\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
    "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n"
)
R32_7_3 = (
    "# R32 (release), REVISION: 7.3, GCID: 31982016, BOARD: t210ref, EABI: aarch64, "
    "DATE: Tue Nov 22 17:30:08 UTC 2022\n"
)
R38_2_0 = (
    "# R38 (release), REVISION: 2.0, GCID: 41844464, BOARD: generic, EABI: aarch64, "
    "DATE: Fri Aug 22 00:55:42 UTC 2025\n"
)


def gpus(target: Target) -> list[tuple[str, str | None]]:
    assert target.cuda is not None
    return [(g.name, g.compute_capability) for g in target.cuda.gpus]


def elf_header(machine: int, *, is64: bool = True) -> bytes:
    """The first 64 bytes of an ELF executable: all that arch detection reads."""
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHI", 2, machine, 1) + bytes(40)


def dpkg_status(packages: dict[str, str]) -> str:
    return "\n".join(
        f"Package: {name}\nStatus: install ok installed\nArchitecture: arm64\nVersion: {version}\n"
        for name, version in packages.items()
    )


class FakeRoot:
    def __init__(self, base: Path) -> None:
        self.base = base

    def write(self, path: str, data: str | bytes, mode: int = 0o644) -> FakeRoot:
        target = self.base / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        target.write_bytes(data)
        target.chmod(mode)
        return self

    def link(self, path: str, to: str) -> FakeRoot:
        target = self.base / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(to)
        return self


def jetson_orin_jp6(base: Path) -> FakeRoot:
    root = FakeRoot(base)
    root.write("/etc/nv_tegra_release", R36_4_3)
    root.write(
        "/etc/os-release", 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\n'
    )
    # /proc/device-tree is a link to the firmware tree, absolute, as on the device.
    root.write(
        "/sys/firmware/devicetree/base/model",
        b"NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super\x00",
    )
    root.write(
        "/sys/firmware/devicetree/base/compatible",
        b"nvidia,p3768-0000+p3767-0005\x00nvidia,p3767-0005\x00nvidia,tegra234\x00",
    )
    root.link("/proc/device-tree", "/sys/firmware/devicetree/base")
    root.write("/usr/bin/python3.10", elf_header(183), 0o755)
    root.link("/usr/bin/python3", "/usr/bin/python3.10")  # absolute: must stay inside the root
    root.write("/usr/bin/gcc-11", elf_header(183), 0o755)
    root.link("/usr/bin/gcc", "gcc-11")
    root.link("/usr/bin/cc", "/etc/alternatives/cc")
    root.link("/etc/alternatives/cc", "/usr/bin/gcc")
    root.write("/usr/bin/cmake", elf_header(183), 0o755)
    root.write("/usr/local/cuda-12.6/bin/nvcc", elf_header(183), 0o755)
    root.write(
        "/usr/local/cuda-12.6/version.json",
        '{"cuda": {"name": "CUDA SDK", "version": "12.6.2"},'
        ' "cuda_nvcc": {"name": "CUDA NVCC", "version": "12.6.68"}}',
    )
    root.link("/usr/local/cuda", "/usr/local/cuda-12.6")
    root.write(
        "/usr/include/aarch64-linux-gnu/cudnn_version_v9.h",
        "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 0\n",
    )
    root.write(
        "/var/lib/dpkg/status",
        dpkg_status(
            {
                "libc6": "2.35-0ubuntu3.8",
                "nvidia-l4t-core": "36.4.3-20250107174145",
                "python3.10-minimal": "3.10.12-1~22.04.7",
                "gcc-11": "11.4.0-1ubuntu1~22.04",
                "cmake": "3.22.1-1ubuntu1.22.04.2",
                "cuda-nvcc-12-6": "12.6.68-1",
            }
        ),
    )
    return root


def test_jetson_orin_jp6_root(tmp_path: Path) -> None:
    jetson_orin_jp6(tmp_path)
    profile = to_json(detect_root(tmp_path))
    assert profile["arch"] == "aarch64"
    assert profile["libc"] == {"name": "glibc", "version": "2.35"}
    assert profile["python"] == {
        "executable": "/usr/bin/python3.10",
        "version": "3.10.12",
        "implementation": "cpython",
        "abi": "cp310",
        "free_threaded": False,
    }
    assert profile["jetson"] == {"l4t": "36.4.3", "jetpack": "6.2", "soc": "tegra234"}
    assert profile["board"] == {
        "model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"
    }
    assert profile["cuda"] == {
        "toolkit": "12.6",
        "nvcc": "/usr/local/cuda/bin/nvcc",
        "driver": None,
        "driver_cuda": "12.6",
        "gpus": [{"name": "Orin (nvgpu)", "compute_capability": "8.7"}],
        "cudnn": "9.3.0",
    }
    assert profile["toolchain"]["cc"] == {"path": "/usr/bin/cc", "version": "11.4.0"}
    assert profile["toolchain"]["cmake"] == {"path": "/usr/bin/cmake", "version": "3.22.1"}
    assert profile["toolchain"]["ninja"] is None
    # Host-only facts are unknown for a mounted image.
    assert profile["resources"] == {
        "cpus": None,
        "memory_bytes": None,
        "swap_bytes": None,
        "disk_free_bytes": None,
    }
    assert profile["distro"]["version"] == "22.04"
    assert from_json(json.loads(json.dumps(profile)), source="x") == detect_root(
        tmp_path
    ).with_origin("x")


def test_jetson_nano_jp4_root_from_package_database(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    root.write("/etc/nv_tegra_release", R32_7_3)
    root.write("/proc/device-tree/model", b"NVIDIA Jetson Nano Developer Kit\x00")
    root.write("/usr/bin/python3.6", elf_header(183), 0o755)
    root.link("/usr/bin/python3", "python3.6")
    root.write("/usr/local/cuda-10.2/bin/nvcc", elf_header(183), 0o755)
    root.write("/usr/local/cuda-10.2/version.txt", "CUDA Version 10.2.300\n")
    root.link("/usr/local/cuda", "cuda-10.2")
    root.write("/lib/aarch64-linux-gnu/libc-2.27.so", elf_header(183))
    root.write(
        "/var/lib/dpkg/status",
        dpkg_status(
            {
                "python3.6-minimal": "3.6.9-1~18.04ubuntu1.12",
                "libcudnn8": "8.2.1.32-1+cuda10.2",
            }
        ),
    )
    target = detect_root(tmp_path)
    assert target.libc.version == "2.27"  # from the libc-2.27.so file name: no libc6 entry
    assert target.python is not None
    assert (target.python.version, target.python.abi) == ("3.6.9", "cp36")
    assert target.jetson is not None
    assert (target.jetson.l4t, target.jetson.jetpack, target.jetson.soc) == (
        "32.7.3",
        "4.6.3",
        "tegra210",
    )
    assert target.cuda is not None
    assert (target.cuda.toolkit, target.cuda.driver_cuda, target.cuda.cudnn) == (
        "10.2",
        "10.2",
        "8.2.1",
    )
    assert gpus(target) == [("NVIDIA Tegra X1", "5.3")]


def test_thor_root_without_release_file(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    # Containers drop /etc/nv_tegra_release; the L4T core package still names the release.
    root.write(
        "/proc/device-tree/compatible",
        b"nvidia,p4071-0000+p3834-0008\x00nvidia,p3834-0008\x00nvidia,tegra264\x00",
    )
    root.write("/usr/bin/python3.12", elf_header(183), 0o755)
    root.write("/usr/local/cuda-13.0/version.json", '{"cuda": {"version": "13.0.0"}}')
    root.write("/usr/local/cuda-13.0/bin/nvcc", elf_header(183), 0o755)
    root.write(
        "/var/lib/dpkg/status",
        dpkg_status({"nvidia-l4t-core": "38.2.0-20250821", "libc6": "2.39-0ubuntu8.4"}),
    )
    target = detect_root(tmp_path)
    assert target.jetson is not None
    assert (target.jetson.l4t, target.jetson.jetpack, target.jetson.soc) == (
        "38.2.0",
        "7.0",
        "tegra264",
    )
    assert target.cuda is not None
    assert target.cuda.toolkit == "13.0"
    assert gpus(target) == [("NVIDIA Thor", "11.0")]
    assert target.python is not None
    assert target.python.abi == "cp312"


@pytest.mark.parametrize(
    ("model", "arch"),
    [("Raspberry Pi Zero W Rev 1.1", "armv6l"), ("Raspberry Pi 4 Model B Rev 1.5", "armv7l")],
)
def test_raspberry_pi_32_bit_roots(tmp_path: Path, model: str, arch: str) -> None:
    root = FakeRoot(tmp_path)
    root.write("/proc/device-tree/model", model.encode() + b"\x00")
    root.write("/usr/bin/python3.11", elf_header(40, is64=False), 0o755)
    root.link("/usr/bin/python3", "python3.11")
    root.write(
        "/etc/os-release",
        'PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\nID=raspbian\nVERSION_ID="12"\n',
    )
    root.write(
        "/var/lib/dpkg/status",
        dpkg_status({"libc6": "2.36-9+rpt2+deb12u4", "python3.11-minimal": "3.11.2-6+deb12u6"}),
    )
    target = detect_root(tmp_path)
    assert target.arch == arch
    assert target.libc.version == "2.36"
    assert target.cuda is None
    assert target.jetson is None
    assert target.python is not None
    assert target.python.version == "3.11.2"


def test_pi5_bookworm_arm64_root(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    root.write("/proc/device-tree/model", b"Raspberry Pi 5 Model B Rev 1.0\x00")
    root.write("/bin/sh", elf_header(183), 0o755)
    root.write("/usr/bin/python3.11", elf_header(183), 0o755)
    root.write(
        "/var/lib/dpkg/status",
        dpkg_status(
            {
                "libc6": "2.36-9+rpt2+deb12u13",
                "gcc-12": "12.2.0-14",
                "python3.11-minimal": "3.11.2-6+deb12u6",
            }
        ),
    )
    root.write("/usr/bin/gcc-12", elf_header(183), 0o755)
    root.link("/usr/bin/gcc", "gcc-12")
    target = detect_root(tmp_path)
    assert (target.arch, target.libc.version) == ("aarch64", "2.36")
    assert target.board is not None
    assert target.board.model == "Raspberry Pi 5 Model B Rev 1.0"
    assert target.toolchain.cc is not None
    assert target.toolchain.cc.version == "12.2.0"
    assert target.cuda is None


def test_alpine_musl_root(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    root.write("/lib/ld-musl-aarch64.so.1", elf_header(183), 0o755)
    root.write("/bin/sh", elf_header(183), 0o755)
    root.write("/usr/bin/python3.12", elf_header(183), 0o755)
    root.link("/usr/bin/python3", "python3.12")
    root.write("/lib/apk/db/installed", "P:musl\nV:1.2.5-r0\n\nP:python3\nV:3.12.8-r1\n")
    target = detect_root(tmp_path)
    assert (target.libc.name, target.libc.version) == ("musl", "1.2.5")
    assert target.python is not None
    assert target.python.version == "3.12.8"


def test_symlink_escape_stays_inside_root(tmp_path: Path) -> None:
    base = tmp_path / "img"
    FakeRoot(base).link("/etc/nv_tegra_release", "/../../../../etc/hostname")
    assert Root(base).read_text("/etc/nv_tegra_release") is None
    FakeRoot(base).link("/loop", "/loop")
    assert Root(base).resolve("/loop") is None


def test_bad_roots(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        detect_root(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        detect_root(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="does not look like a root"):
        detect_root(tmp_path / "empty")


# -- host detection replaying recorded outputs --------------------------------------------------

NVCC_12_6 = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2024 NVIDIA Corporation
Built on Wed_Aug_14_10:14:07_PDT_2024
Cuda compilation tools, release 12.6, V12.6.68
Build cuda_12.6.r12.6/compiler.34714021_0
"""
SMI_JP62 = """+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 540.4.0                Driver Version: 540.4.0      CUDA Version: 12.6     |
|-----------------------------------------+----------------------+----------------------+
|   0  Orin (nvgpu)                  N/A  | N/A              N/A |                  N/A |
+-----------------------------------------+----------------------+----------------------+
"""


def tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def printing(text: str) -> str:
    # printf is a shell builtin: the stand-ins run with a PATH that holds only themselves.
    assert "'" not in text
    return f"printf '%s' '{text}'\n"


@pytest.mark.programs
def test_host_jetson_with_tools_off_path(tmp_path: Path) -> None:
    """JetPack 6: nvcc only under /usr/local/cuda/bin; nvidia-smi without compute_cap."""
    root = jetson_orin_jp6(tmp_path / "root")
    cuda_bin = root.base / "usr/local/cuda-12.6/bin"
    (cuda_bin / "nvcc").unlink()
    tool(cuda_bin, "nvcc", printing(NVCC_12_6))
    bin_dir = tmp_path / "bin"
    tool(
        bin_dir,
        "nvidia-smi",
        'case "$1" in --query-gpu*) '
        "echo 'Field \"compute_cap\" is not a valid field to query.'; exit 2;; esac\n"
        + printing(SMI_JP62),
    )
    tool(bin_dir, "gcc", printing("gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0\n"))
    env = {"PATH": str(bin_dir)}
    target = detect_host(load_settings(environ={}), root=Root(root.base), env=env)
    assert target.cuda is not None
    assert target.cuda.toolkit == "12.6"
    assert target.cuda.nvcc == "/usr/local/cuda/bin/nvcc"
    assert (target.cuda.driver, target.cuda.driver_cuda) == ("540.4.0", "12.6")
    assert gpus(target) == [("Orin (nvgpu)", "8.7")]
    assert target.cuda.cudnn == "9.3.0"
    assert target.jetson is not None
    assert target.jetson.jetpack == "6.2"
    assert target.toolchain.cc is not None
    assert target.toolchain.cc.version == "11.4.0"
    assert target.toolchain.cmake is None  # not on this PATH: null, not a crash


@pytest.mark.programs
def test_host_hanging_probe_times_out(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "nvidia-smi", "exec /bin/sleep 30\n")
    tool(bin_dir, "nvcc", printing(NVCC_12_6))
    (tmp_path / "root/etc").mkdir(parents=True)
    settings = load_settings({"probe_timeout": 0.5}, environ={})
    started = time.monotonic()
    target = detect_host(settings, root=Root(tmp_path / "root"), env={"PATH": str(bin_dir)})
    assert time.monotonic() - started < 5
    assert target.cuda is not None
    assert (target.cuda.toolkit, target.cuda.driver, target.cuda.gpus) == ("12.6", None, ())


@pytest.mark.programs
def test_host_desktop_gpu(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    smi_table = (
        "| NVIDIA-SMI 550.40.07              Driver Version: 550.40.07"
        "      CUDA Version: 12.4     |\n"
    )
    tool(
        bin_dir,
        "nvidia-smi",
        'case "$1" in --query-gpu*) printf "name, compute_cap, driver_version\\n'
        'NVIDIA GeForce RTX 4090, 8.9, 550.40.07\\n"; exit 0;; esac\n' + printing(smi_table),
    )
    (tmp_path / "root/etc").mkdir(parents=True)
    target = detect_host(
        load_settings(environ={}), root=Root(tmp_path / "root"), env={"PATH": str(bin_dir)}
    )
    assert target.cuda is not None
    assert (target.cuda.toolkit, target.cuda.driver, target.cuda.driver_cuda) == (
        None,
        "550.40.07",
        "12.4",
    )
    assert gpus(target) == [("NVIDIA GeForce RTX 4090", "8.9")]


def test_cgroup_memory_limit_is_the_machine(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    root.write("/proc/meminfo", "MemTotal:       24684084 kB\nSwapTotal:             0 kB\n")
    root.write("/proc/self/cgroup", "4:memory:/build/small\n0::/\n")
    root.write("/sys/fs/cgroup/memory/build/small/memory.limit_in_bytes", str(1800 * 1024 * 1024))
    root.write("/sys/fs/cgroup/memory/build/memory.limit_in_bytes", "9223372036854771712")
    target = detect_host(load_settings(environ={}), root=Root(tmp_path), env={"PATH": ""})
    assert target.resources.memory_bytes == 1800 * 1024 * 1024
    assert target.resources.swap_bytes == 0


# -- the command line --------------------------------------------------------------------------


def test_cli_detect_root_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jetson_orin_jp6(tmp_path)
    assert main(["detect", "--json", "--root", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == 1
    assert out["jetson"]["jetpack"] == "6.2"


def test_cli_detect_bad_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--root", str(tmp_path / "nope")]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("error: --root ")
    assert "does not exist" in lines[0]
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2


@pytest.mark.skipif(not Path("/proc/self/cgroup").exists(), reason="Linux host only")
@pytest.mark.programs
def test_cli_detect_host_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "version",
        "os",
        "arch",
        "libc",
        "python",
        "cuda",
        "jetson",
        "board",
        "toolchain",
        "resources",
    ):
        assert key in out
    assert out["os"] == "linux"
    assert out["resources"]["cpus"] >= 1
