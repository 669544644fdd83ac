"""How long `torchbuild plan torch torchvision torchaudio` takes, cold and warm.

Cold: empty index and METADATA caches, so every project page is fetched (concurrently) and the
companions' METADATA read (PEP 658 files or range requests). Warm: the same caches a moment
later, inside their freshness window, so no request leaves the machine.

    .venv/bin/python tests/bench/bench_plan.py [--runs N] [--target NAME|FILE ...]
    .venv/bin/python tests/bench/bench_plan.py --against pypi [--target NAME]

``--against loopback`` (the default) plans with every known wheel source that fits each target:
PyPI, PyTorch's and Jetson AI Lab's indexes, all served from the recorded pages
(tests/data/indexes, tests/data/pypi) on 127.0.0.1 through TORCHBUILD_MIRRORS. The default
targets between them ask every kind of known index: a Pi (PyTorch's cpu), an x86_64 machine
with a CUDA 13 driver (eight PyTorch CUDA indexes), a JetPack 6 Orin (jp6/cu126) and a JetPack 7
Thor (three sbsa indexes). ``--against pypi`` asks only the real PyPI, as before the known
sources existed. Goal: warm <= 0.3 s, cold <= 2 s for the plan in process.

Prints medians (and min/max) in milliseconds for the plan in process and for the whole command
(`python -m torchbuild plan ... --json`, interpreter start-up included), and the warm/cold ratio.
pip's configuration files and PIP_* variables are switched off, so the figures do not depend on
this machine's pip.conf.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: data.indexes.serve

PACKAGES = ["torch", "torchvision", "torchaudio"]
X86_GPU = {
    "version": 1,
    "os": "linux",
    "arch": "x86_64",
    "libc": {"name": "glibc", "version": "2.35"},
    "python": {
        "executable": "/usr/bin/python3.10",
        "version": "3.10.12",
        "implementation": "cpython",
        "abi": "cp310",
        "free_threaded": False,
    },
    "cuda": {
        "toolkit": None,
        "nvcc": None,
        "driver": "580.65.06",
        "driver_cuda": "13.0",
        "gpus": [{"name": "NVIDIA GeForce RTX 3090", "compute_capability": "8.6"}],
        "cudnn": None,
    },
    "jetson": None,
    "origin": "bench",
}
DEFAULT_TARGETS = [
    "rpi5-bookworm-arm64",
    "x86-gpu-driver-580",
    "jetson-orin-jp6",
    "jetson-thor-jp7",
]


def fmt(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{statistics.median(ms):8.1f} ms  (min {min(ms):.1f}, max {max(ms):.1f}, n={len(ms)})"


def ratio(warm: list[float], cold: list[float]) -> str:
    return f"warm/cold {statistics.median(warm) / statistics.median(cold):.2f}"


@contextlib.contextmanager
def mirrors(against: str) -> Iterator[str | None]:
    """TORCHBUILD_MIRRORS for the loopback server, or None for the real PyPI."""
    if against == "pypi":
        yield None
        return
    from data.indexes.serve import serve_indexes

    with serve_indexes() as served:
        yield served.mirrors


def in_process(
    target_spec: str, runs: int, mirror: str | None
) -> tuple[list[float], list[float], list[str], int]:
    from torchbuild.resolve.indexes import IndexCache, IndexClient, Source, configured_sources
    from torchbuild.resolve.matrix import parse_request
    from torchbuild.resolve.metadata import MetadataCache, MetadataReader
    from torchbuild.resolve.pipconfig import DEFAULT_INDEX_URL, PipConfig
    from torchbuild.resolve.plan import make_plan
    from torchbuild.settings import load_settings
    from torchbuild.target import load_target

    target = load_target(target_spec)
    requests = [parse_request(p) for p in PACKAGES]
    cold: list[float] = []
    warm: list[float] = []
    rows: list[str] = []
    asked = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            if mirror is None:
                sources = [Source("index", DEFAULT_INDEX_URL, "bench")]
            else:
                settings = load_settings(
                    {"wheelhouse": str(Path(tmp) / "wheelhouse")},
                    environ={"TORCHBUILD_MIRRORS": mirror},
                )
                sources = configured_sources(settings, PipConfig(), target)
            asked = sum(1 for s in sources if s.kind == "index")
            cache = IndexCache(Path(tmp) / "index")
            meta = MetadataCache(Path(tmp) / "metadata")
            cert = os.environ.get("PIP_CERT")
            start = time.perf_counter()
            plan = make_plan(
                target,
                requests,
                sources=sources,
                client=IndexClient(cache=cache),
                metadata=MetadataReader(cache=meta, cert=cert),
            )
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            make_plan(
                target,
                requests,
                sources=sources,
                client=IndexClient(cache=cache),
                metadata=MetadataReader(cache=meta, cert=cert),
            )
            warm.append(time.perf_counter() - start)
            rows = [f"{d.name} {d.version} {d.action}" for d in plan.decisions]
    return cold, warm, rows, asked


def cli(target_spec: str, runs: int, mirror: str | None) -> tuple[list[float], list[float]]:
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **{
                    k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TORCHBUILD_"))
                },
                "PIP_CONFIG_FILE": os.devnull,
                "TORCHBUILD_CACHE_DIR": tmp,
                "TORCHBUILD_WHEELHOUSE": str(Path(tmp) / "wheelhouse"),
            }
            cmd = [sys.executable, "-m", "torchbuild", "plan", *PACKAGES, "--json",
                   "--target", target_spec]  # fmt: skip
            if mirror is None:
                cmd += ["--index-url", "https://pypi.org/simple", "--no-known-indexes"]
            else:
                env["TORCHBUILD_MIRRORS"] = mirror
            for bucket in (cold, warm):
                start = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
                bucket.append(time.perf_counter() - start)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", action="append", help="preset or profile (repeatable)")
    parser.add_argument("--against", choices=["loopback", "pypi"], default="loopback")
    args = parser.parse_args()
    targets = args.target or (
        DEFAULT_TARGETS if args.against == "loopback" else ["rpi5-bookworm-arm64"]
    )

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start
    print(f"python -c pass (once):       {bare * 1000:8.1f} ms")

    with tempfile.TemporaryDirectory() as profiles, mirrors(args.against) as mirror:
        where = "PyPI" if mirror is None else "every fitting known source, on loopback"
        for spec in targets:
            if spec == "x86-gpu-driver-580":
                path = Path(profiles) / "x86-gpu-driver-580.json"
                path.write_text(json.dumps(X86_GPU))
                spec_arg = str(path)
            else:
                spec_arg = spec
            cold, warm, rows, asked = in_process(spec_arg, args.runs, mirror)
            cli_cold, cli_warm = cli(spec_arg, args.runs, mirror)
            print(f"\ntarget: {spec}; plan {' '.join(PACKAGES)} against {where} ({asked} indexes)")
            print(f"decisions: {'; '.join(rows)}")
            print(f"make_plan, cold cache:       {fmt(cold)}")
            print(f"make_plan, warm cache:       {fmt(warm)}  {ratio(warm, cold)}")
            print(f"CLI plan --json, cold cache: {fmt(cli_cold)}")
            print(f"CLI plan --json, warm cache: {fmt(cli_warm)}  {ratio(cli_warm, cli_cold)}")


if __name__ == "__main__":
    main()
