"""`torchbuild wheel` benchmarks; every ratio compares two timings taken in the same run.

1. Orchestration overhead: `torchbuild wheel` (source copy, build environment already made,
   the build, repair, verification in a fresh environment, publishing) against plain
   `pip wheel --no-build-isolation` on the same tree with the same environment and jobs
   (goal <= 1.03).
2. Warm rebuild with the compiler cache against the cold build (goal <= 0.25): the build
   directory and the wheelhouse are deleted, only the compiler cache is kept.
3. Resume after a kill at about half of the Ninja steps against a full build (goal <= 0.6): the
   time of the second, resuming run.
4. The all-cached `torchbuild wheel torch torchvision torchaudio` against pip's own no-op
   install of the same set from the same wheelhouse (goal <= 0.5). The set is built once
   (torch 2.13.0 CPU prebuilt, torchvision 0.21.0 and torchaudio 2.6.0 from Debian's source
   tarballs against it) into a kept cache, so later runs measure only the cached path.

Parts 1-3 use the tbfix-cext fixture (tests/data/projects) at a compile weight that makes each
of its six files take a few seconds; part 4 needs the network (PyPI, Debian's sources).

    .venv/bin/python tests/bench/bench_wheel.py [--weight N] [--skip-set]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))

PROJECT = HERE.parents[1] / "data" / "projects" / "tbfix-cext"
TORCHBUILD = Path(sys.executable).with_name("torchbuild")
BENCH_CACHE = Path(
    os.environ.get("TORCHBUILD_BENCH_CACHE", Path.home() / ".cache" / "torchbuild-bench")
)


def _env(cache: Path, wheelhouse: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TORCHBUILD_CACHE_DIR=str(cache), TORCHBUILD_WHEELHOUSE=str(wheelhouse))
    return env


def _tb(args: list[str], cache: Path, wheelhouse: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(TORCHBUILD), "wheel", *args, "--json"],
        env=_env(cache, wheelhouse),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"torchbuild failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def _cext_args(weight: int, cache_setting: str) -> list[str]:
    return [
        "tbfix-cext",
        "--source",
        f"tbfix-cext={PROJECT}",
        "--env",
        f"TBFIX_WEIGHT={weight}",
        "--compiler-cache",
        cache_setting,
        "--no-deps",
        "--jobs",
        "2",
    ]


def _reset(cache: Path, wheelhouse: Path, *, keep_compiler_cache: bool = True) -> None:
    shutil.rmtree(cache / "builds", ignore_errors=True)
    shutil.rmtree(wheelhouse, ignore_errors=True)
    if not keep_compiler_cache:
        shutil.rmtree(cache / "compiler-cache", ignore_errors=True)


def overhead(work: Path, weight: int) -> None:
    cache, wheelhouse = work / "cache", work / "wh"
    _tb(_cext_args(1, "none"), cache, wheelhouse)  # makes the build environment once
    _reset(cache, wheelhouse)
    ours, out = _tb(_cext_args(weight, "none"), cache, wheelhouse)
    build_env = next((cache / "envs").glob("py*"))
    tree = work / "plain-tree"
    shutil.copytree(PROJECT, tree)
    env = os.environ.copy()
    env.update(
        TBFIX_WEIGHT=str(weight),
        CMAKE_BUILD_PARALLEL_LEVEL="2",
        SKBUILD_BUILD_DIR=str(work / "plain-build"),
        PATH=f"{build_env / 'bin'}{os.pathsep}{env['PATH']}",
    )
    started = time.perf_counter()
    subprocess.run(
        [
            str(build_env / "bin" / "python"),
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "-q",
            "-w",
            str(work / "plain-out"),
            str(tree),
        ],
        env=env,
        check=True,
    )
    plain = time.perf_counter() - started
    row = out["packages"][0]
    print(f"1. overhead: torchbuild wheel {ours:.1f} s, pip wheel {plain:.1f} s")
    print(
        f"   ratio {ours / plain:.3f} (goal <= 1.03); torchbuild's own build step {row['detail']}"
    )


def warm_rebuild(work: Path, weight: int) -> None:
    cache, wheelhouse = work / "cache-ccache", work / "wh-ccache"
    _tb(_cext_args(1, "ccache"), cache, wheelhouse)  # environment made; tiny build
    _reset(cache, wheelhouse, keep_compiler_cache=False)
    cold, _ = _tb(_cext_args(weight, "ccache"), cache, wheelhouse)
    _reset(cache, wheelhouse)
    warm, out = _tb(_cext_args(weight, "ccache"), cache, wheelhouse)
    hits = out["packages"][0]["build"]["compiler_cache"]
    print(f"2. warm rebuild with ccache {warm:.1f} s vs cold {cold:.1f} s: ratio {warm / cold:.3f}")
    print(f"   (goal <= 0.25); the warm build's cache counters: {hits}")


def resume(work: Path, weight: int) -> None:
    cache, wheelhouse = work / "cache-resume", work / "wh-resume"
    _tb(_cext_args(1, "none"), cache, wheelhouse)
    _reset(cache, wheelhouse)
    full, _ = _tb(_cext_args(weight, "none"), cache, wheelhouse)
    _reset(cache, wheelhouse)
    args = [str(TORCHBUILD), "-v", "wheel", *_cext_args(weight, "none")]
    proc = subprocess.Popen(
        args,
        env=_env(cache, wheelhouse),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("[4/"):  # 3 of 7 steps done, the rest (4 compiles + link) to go
            break
    proc.send_signal(signal.SIGTERM)
    proc.communicate()
    second, out = _tb(_cext_args(weight, "none"), cache, wheelhouse)
    assert out["packages"][0]["build"]["resumed"]
    print(f"3. resume after a kill at step 4/7: {second:.1f} s vs a full build {full:.1f} s: ")
    print(f"   ratio {second / full:.3f} (goal <= 0.6)")


def _set_args() -> list[str]:
    from debsrc import download

    folder = download("pytorch-vision", "0.21.0-3")
    vision = next(folder.glob("pytorch-vision_0.21.0.orig.tar.*"))
    folder = download("pytorch-audio", "2.6.0-1")
    audio = next(folder.glob("pytorch-audio_2.6.0.orig.tar.*"))
    return [
        "torch==2.13.0",
        "torchvision==0.21.0",
        "torchaudio==2.6.0",
        "--ignore-matrix",
        "--source",
        f"torchvision={vision}",
        "--source",
        f"torchaudio={audio}",
    ]


def all_cached(work: Path) -> None:
    cache, wheelhouse = BENCH_CACHE / "cache", BENCH_CACHE / "wh"
    args = _set_args()
    first, _ = _tb(args, cache, wheelhouse)  # builds once; later runs of this script reuse it
    print(f"   (the set: {first:.1f} s this time; cached from an earlier run when short)")
    times = []
    for _ in range(5):
        seconds, out = _tb(args, cache, wheelhouse)
        assert all(r["action"] == "cached" for r in out["packages"]), out["packages"]
        times.append(seconds)
    venv = work / "pip-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    index = (wheelhouse / "simple").as_uri() + "/"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--index-url", index]
    subprocess.run([*pip, "torch", "torchvision", "torchaudio"], check=True)
    pip_times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([*pip, "torch", "torchvision", "torchaudio"], check=True)
        pip_times.append(time.perf_counter() - started)
    ours, theirs = sorted(times)[2], sorted(pip_times)[2]
    print(f"4. all-cached torchbuild wheel {ours:.2f} s vs pip's no-op install {theirs:.2f} s")
    print(f"   (medians of 5): ratio {ours / theirs:.3f} (goal <= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weight", type=int, default=150, help="TBFIX_WEIGHT (0-400)")
    parser.add_argument("--skip-set", action="store_true", help="skip part 4 (network)")
    parser.add_argument("--only-set", action="store_true", help="run part 4 alone")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-wheel-"))
    try:
        if not args.only_set:
            overhead(work, args.weight)
            warm_rebuild(work, args.weight)
            resume(work, args.weight)
        if not args.skip_set:
            all_cached(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
