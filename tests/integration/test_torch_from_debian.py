"""torch 2.6.0 from Debian's source package, built by torchbuild in a trixie build root, then
torchvision 0.21.0 and torchaudio 2.6.0 against that very torch, installed from the wheelhouse
into a fresh environment in the same root, and run.

An hour and more on two cores, so it runs only with ``--run-torch-build`` (and ``-s`` to see
the phase table as it goes):

    pytest tests/integration/test_torch_from_debian.py --run-torch-build -s

The root lives in the test cache (``$TORCHBUILD_TEST_CACHE`` or ``~/.cache/torchbuild-tests``,
then ``roots/trixie-torch``) with torchbuild's own cache inside it, so an interrupted run resumes
the kept build directory where it stopped. The build runs in a child memory cgroup when the
machine has a writable cgroup v1 memory controller, and its peak memory is read from there.
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
    WHEELHOUSE,
    Phases,
    in_root,
    peak_memory,
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

USE = """
import torch, torchvision, torchaudio
a = torch.randn(256, 256)
assert torch.allclose(a @ torch.eye(256), a, atol=1e-5)
w = torch.randn(8, requires_grad=True)
(w * w).sum().backward()
assert torch.allclose(w.grad, 2 * w)
boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
y = torchaudio.functional.lowpass_biquad(torch.randn(1, 1600), 16000, 1000.0)
assert y.shape == (1, 1600)
# The distributions carry the clean version and label; the modules keep what their build
# wrote (Debian's patch series makes torch.__version__ "2.6.0+debian").
from importlib.metadata import version
print(version("torch"), version("torchvision"), version("torchaudio"))
"""


def _wheel(root: Path, packages: list[str], *, prefix: list[str] | None = None) -> dict:
    args = [INSIDE, "wheel", *packages, *source_args(packages), f"--wheelhouse={WHEELHOUSE}"]
    out = in_root(root, [*args, "--json"], prefix=prefix or ())
    return {row["project"]: row for row in json.loads(out)["packages"]}


def test_torch_2_6_0_from_debian_source_then_vision_and_audio_against_it(
    memory_group: Path | None,
) -> None:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("needs root privileges and debootstrap (the build root)")
    phases = Phases()
    root = test_cache() / "roots" / "trixie-torch"
    sources_and_root(phases, root, "torch-build")

    prefix = None
    if memory_group is not None:
        prefix = join_prefix(memory_group)
    with phases("torch 2.6.0: build, repair, verify, publish"):
        if memory_group is not None:
            with peak_memory(memory_group) as peak:
                first = _wheel(root, ["torch==2.6.0", "--no-deps"], prefix=prefix)
        else:
            first = _wheel(root, ["torch==2.6.0", "--no-deps"])
    torch = first["torch"]
    assert torch["action"] in ("built", "cached"), torch
    assert torch["wheel"].startswith("torch-2.6.0+cpu-"), torch
    wheel = root / WHEELHOUSE.lstrip("/") / "simple" / "torch" / torch["wheel"]

    with phases("torch 2.6.0 again (build key: cached)"):
        again = _wheel(root, ["torch==2.6.0", "--no-deps"])
    assert again["torch"]["action"] == "cached"
    assert again["torch"]["wheel"] == torch["wheel"]

    with phases("torchvision 0.21.0 and torchaudio 2.6.0 against it"):
        family = _wheel(root, ["torch==2.6.0", "torchvision==0.21.0", "torchaudio==2.6.0"])
    assert family["torch"]["action"] == "cached"
    for name in ("torchvision", "torchaudio"):
        assert family[name]["action"] in ("built", "cached"), family[name]

    with phases("fresh environment in the root: install from the wheelhouse, run"):
        index = f"file://{WHEELHOUSE}/simple/"
        script = (
            "set -e; rm -rf /tmp/use; python3 -m venv /tmp/use; "
            f"/tmp/use/bin/pip install -q --index-url {index} torch torchvision torchaudio; "
            f"cd /tmp && /tmp/use/bin/python -c {shlex.quote(USE)}"
        )
        printed = in_root(root, ["sh", "-c", script])
    assert printed.split() == ["2.6.0+cpu", "0.21.0+cpu", "2.6.0+cpu"], printed

    size = wheel.stat().st_size if wheel.is_file() else 0
    report = [
        phases.table(),
        f"torch wheel: {torch['wheel']}, {size / 1e6:.0f} MB",
        f"torch build: {torch['detail']}",
    ]
    if memory_group is not None:
        report.append(f"peak resident memory of the torch build: {peak[0] / 2**30:.2f} GiB")
    sys.stderr.write("\n" + "\n".join(report) + "\n")
