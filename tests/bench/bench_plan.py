"""How long `torchbuild plan torch torchvision torchaudio` takes against real PyPI, cold and warm.

Cold: empty index and METADATA caches, so the three PEP 691 pages are fetched (concurrently) and
the companions' METADATA read (range requests). Warm: the same caches a moment later, inside
their freshness window, so no request leaves the machine.

    .venv/bin/python tests/bench/bench_plan.py [--runs N] [--target NAME|FILE]

Prints medians (and min/max) in milliseconds for the plan in process and for the whole command
(`python -m torchbuild plan ... --json`, interpreter start-up included). Only PyPI is asked
(`--index-url` pip's default; pip's configuration files and PIP_* variables switched off), so the figures do not depend on
this machine's pip.conf.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ["torch", "torchvision", "torchaudio"]


def fmt(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{statistics.median(ms):8.1f} ms  (min {min(ms):.1f}, max {max(ms):.1f}, n={len(ms)})"


def in_process(target_spec: str, runs: int) -> tuple[list[float], list[float], list[str]]:
    from torchbuild.resolve.indexes import IndexCache, IndexClient, Source
    from torchbuild.resolve.matrix import parse_request
    from torchbuild.resolve.metadata import MetadataCache, MetadataReader
    from torchbuild.resolve.pipconfig import DEFAULT_INDEX_URL
    from torchbuild.resolve.plan import make_plan
    from torchbuild.target import load_target

    target = load_target(target_spec)
    requests = [parse_request(p) for p in PACKAGES]
    sources = [Source("index", DEFAULT_INDEX_URL, "bench")]
    cold: list[float] = []
    warm: list[float] = []
    rows: list[str] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
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
    return cold, warm, rows


def cli(target_spec: str, runs: int) -> tuple[list[float], list[float]]:
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
                "PIP_CONFIG_FILE": os.devnull,
                "TORCHBUILD_CACHE_DIR": tmp,
                "TORCHBUILD_WHEELHOUSE": str(Path(tmp) / "wheelhouse"),
            }
            cmd = [
                sys.executable, "-m", "torchbuild", "plan", *PACKAGES, "--json",
                "--target", target_spec, "--index-url", "https://pypi.org/simple",
            ]  # fmt: skip
            for bucket in (cold, warm):
                start = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
                bucket.append(time.perf_counter() - start)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", default="rpi5-bookworm-arm64")
    args = parser.parse_args()

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start

    cold, warm, rows = in_process(args.target, args.runs)
    cli_cold, cli_warm = cli(args.target, args.runs)
    print(f"target: {args.target}; plan {' '.join(PACKAGES)} against PyPI")
    print(f"decisions: {'; '.join(rows)}")
    print(f"python -c pass (once):       {bare * 1000:8.1f} ms")
    print(f"make_plan, cold cache:       {fmt(cold)}")
    print(f"make_plan, warm cache:       {fmt(warm)}")
    print(f"CLI plan --json, cold cache: {fmt(cli_cold)}")
    print(f"CLI plan --json, warm cache: {fmt(cli_warm)}")


if __name__ == "__main__":
    main()
