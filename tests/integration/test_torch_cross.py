"""torch 2.6.0 from Debian's source package, cross-compiled on this x86_64 machine for a
Raspberry Pi on Raspberry Pi OS trixie (arm64, and 32-bit armv7l), then torchvision 0.21.0 and
torchaudio 2.6.0 cross-built against that very wheel; each is checked against the sysroot and run
under QEMU by ``torchbuild wheel`` itself. Last, pip installs the three from the wheelhouse with
the board's tags, as the board would, and the set runs under QEMU.

The build runs in a trixie root (``torchbuild root create trixie DIR --packages torch-cross``:
GCC 14 cross compilers, protoc, flatc and Python 3.13 of the same release as the target's
libraries) against a sysroot of the target's packages (``torchbuild root sysroot trixie DIR
--arch arm64 --packages torch-sysroot``). An hour and more per machine on two cores, so it runs
only with ``--run-torch-build`` (``-s`` shows the phase table as it goes):

    pytest tests/integration/test_torch_cross.py --run-torch-build -s -k arm64

The root, the sysroots and torchbuild's cache inside the root live in the test cache
(``$TORCHBUILD_TEST_CACHE`` or ``~/.cache/torchbuild-tests``), so an interrupted run resumes the
kept build directory where it stopped.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from typing import TYPE_CHECKING

import pytest

from buildphases import (
    INSIDE,
    TORCHBUILD,
    WHEELHOUSE,
    Phases,
    in_root,
    peak_memory,
    run_checked,
    source_args,
    sources_and_root,
)
from conftest import join_prefix, test_cache

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    pytest.mark.integration,
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.torch_build,
]

SYSROOT = "/sysroot"  # inside the root
#: torchvision's and torchaudio's build scripts import torch on this machine: a torch for x86_64
#: in its own environment inside the root, given with --python. Only its Python helpers are
#: used, but they pass its C++ library ABI to the compiler, which must be the target torch's
#: (the C++11 ABI): PyPI's x86_64 torch 2.6.0 has the old one, 2.7 and later the new one.
HOST_PYTHON = "/opt/host-torch/bin/python"
HOST_TORCH = "2.7.1"
#: the native build of the same torch on this machine (README, torch from Debian's source)
NATIVE_MINUTES = 68.6
USE = """
import torch, torchvision, torchaudio
a = torch.randn(128, 128)
assert torch.allclose(a @ torch.eye(128), a, atol=1e-5)
w = torch.randn(8, requires_grad=True)
(w * w).sum().backward()
assert torch.allclose(w.grad, 2 * w)
boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
y = torchaudio.functional.lowpass_biquad(torch.randn(1, 1600), 16000, 1000.0)
assert y.shape == (1, 1600)
import platform
from importlib.metadata import version
print(platform.machine(), version("torch"), version("torchvision"), version("torchaudio"))
"""


def _wheel(
    root: Path, sysroot: Path, preset: str, packages: list[str], prefix: list[str] | None = None
) -> dict:
    args = [INSIDE, "wheel", *packages, f"--target={preset}", f"--root={SYSROOT}"]
    args += [f"--python={HOST_PYTHON}"]
    args += [*source_args(packages), f"--wheelhouse={WHEELHOUSE}", "--json"]
    out = in_root(root, args, binds=[f"{sysroot}:{SYSROOT}:ro"], prefix=prefix or ())
    return {row["project"]: row for row in json.loads(out)["packages"]}


@pytest.mark.parametrize(
    ("preset", "debian_arch", "machine"),
    [
        ("rpi5-trixie-arm64", "arm64", "aarch64"),
        ("rpi-trixie-armv7l", "armhf", "armv7l"),
    ],
)
def test_torch_2_6_0_cross_compiled_then_vision_and_audio_against_it(
    memory_group: Path | None, preset: str, debian_arch: str, machine: str
) -> None:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("needs root privileges and debootstrap (the build root)")
    phases = Phases()
    root = test_cache() / "roots" / "trixie-cross"
    sysroot = test_cache() / "cross" / f"trixie-{debian_arch}-torch"
    sources_and_root(phases, root, "torch-cross")
    with phases(f"root sysroot trixie --arch {debian_arch} --packages torch-sysroot"):
        run_checked([str(TORCHBUILD), "root", "sysroot", "trixie", str(sysroot), "--arch", debian_arch,
              "--packages", "torch-sysroot"])  # fmt: skip

    with phases(f"this machine's torch {HOST_TORCH} for the build scripts (pip, in the root)"):
        venv = HOST_PYTHON.rsplit("/bin/", 1)[0]
        script = (
            f"set -e; [ -x {HOST_PYTHON} ] || python3 -m venv {venv}; "
            f"{HOST_PYTHON} -m pip install -q --progress-bar off torch=={HOST_TORCH}"
        )
        in_root(root, ["sh", "-c", script])

    prefix = join_prefix(memory_group) if memory_group is not None else None
    peak = [0]
    with phases(f"torch 2.6.0 for {machine}: build, repair, check, QEMU, publish"):
        if memory_group is not None:
            with peak_memory(memory_group) as peak:
                first = _wheel(root, sysroot, preset, ["torch==2.6.0", "--no-deps"], prefix=prefix)
        else:
            first = _wheel(root, sysroot, preset, ["torch==2.6.0", "--no-deps"])
    torch = first["torch"]
    assert torch["action"] in ("built", "cached"), torch
    assert torch["wheel"].startswith("torch-2.6.0+cpu-cp313-cp313-"), torch
    assert torch["wheel"].endswith(f"_{machine}.whl"), torch
    wheel = root / WHEELHOUSE.lstrip("/") / "simple" / "torch" / torch["wheel"]

    with phases("torchvision 0.21.0 and torchaudio 2.6.0 against it"):
        family = _wheel(
            root, sysroot, preset, ["torch==2.6.0", "torchvision==0.21.0", "torchaudio==2.6.0"]
        )
    assert family["torch"]["action"] == "cached"
    assert family["torch"]["wheel"] == torch["wheel"]
    for name in ("torchvision", "torchaudio"):
        assert family[name]["action"] in ("built", "cached"), family[name]
        assert family[name]["wheel"].endswith(f"_{machine}.whl"), family[name]

    with phases("pip installs the set with the board's tags, run under QEMU"):
        # What pip on the board would choose from the wheelhouse alone (the run put the
        # requirements there too): cp313 and every tag trixie's glibc 2.41 accepts.
        platforms = [f"--platform=manylinux_2_{minor}_{machine}" for minor in range(17, 42)]
        platforms.append(f"--platform=linux_{machine}")
        index = f"file://{WHEELHOUSE}/simple/"
        pip = (
            "python3 -m pip install -q --no-warn-script-location --target /tmp/board "
            f"--python-version 3.13 --implementation cp --abi cp313 {' '.join(platforms)} "
            f"--only-binary=:all: --index-url {index} --break-system-packages"
        )
        install = f"{pip} torch==2.6.0 torchvision==0.21.0 torchaudio==2.6.0"
        if machine == "armv7l":
            # PyPI has no NumPy or Pillow for 32-bit Arm: the board has them from its own
            # packages (python3-numpy, python3-pil: in the sysroot), so torch comes with its
            # dependencies and the companions without theirs.
            install = f"{pip} torch==2.6.0; {pip} --no-deps torchvision==0.21.0 torchaudio==2.6.0"
        script = (
            f"set -e; rm -rf /tmp/board; {install}; "
            f"cd /tmp && env -i PYTHONPATH=/tmp/board PATH=/usr/bin:/bin HOME=/tmp "
            f"qemu-{'aarch64' if machine == 'aarch64' else 'arm'} -L {SYSROOT} "
            f"{SYSROOT}/usr/bin/python3.13 -c {shlex.quote(USE)}"
        )
        printed = in_root(root, ["sh", "-c", script], binds=[f"{sysroot}:{SYSROOT}:ro"])
    assert printed.split() == [machine, "2.6.0+cpu", "0.21.0+cpu", "2.6.0+cpu"], printed

    size = wheel.stat().st_size if wheel.is_file() else 0
    build = dict(phases.rows)[f"torch 2.6.0 for {machine}: build, repair, check, QEMU, publish"]
    report = [
        phases.table(),
        f"torch wheel: {torch['wheel']}, {size / 1e6:.0f} MB",
        f"torch build: {torch['detail']}",
        f"cross time / native time ({NATIVE_MINUTES} min): {build / 60 / NATIVE_MINUTES:.2f}",
    ]
    if memory_group is not None:
        report.append(f"peak resident memory of the torch build: {peak[0] / 2**30:.2f} GiB")
    sys.stderr.write("\n" + "\n".join(report) + "\n")
