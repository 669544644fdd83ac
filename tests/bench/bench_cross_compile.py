"""Cross against native compile time of torch's own translation units, on this machine.

The whole-build ratio (cross-compiled torch for Arm against the native x86_64 build) cannot be
taken from two hour-long builds run at different times: they compile different files (the
native build adds the AVX2/AVX512 kernel copies), and any other load on the machine lands in
one of them only. This benchmark compiles the same sample of translation units both ways, one
after the other, alternating which goes first, so both see the same machine:

- cross: the command as recorded in the kept cross build's ``compile_commands.json``
  (``aarch64-linux-gnu-g++ --sysroot=/sysroot ...``);
- native: the same command for this machine: the host's GCC of the same release, the system's
  headers instead of the sysroot's, and the Arm-only flags and defines left out.

Both write their objects to a temporary directory, so the kept build is not touched. The
ratio is of CPU time (user + system of the compilers), with wall time beside it.

It runs inside a root that has both compilers and the native build's headers
(``torchbuild root create trixie DIR --packages torch-build,torch-cross``), with the kept cross
build (``test_torch_cross.py``) and its sysroot bound at the paths the build used:

    .venv/bin/python tests/bench/bench_cross_compile.py [--sample 12] [--arch arm64] [--front-end]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
TORCHBUILD = Path(sys.executable).with_name("torchbuild")
TEST_CACHE = Path(os.environ.get("TORCHBUILD_TEST_CACHE", Path.home() / ".cache/torchbuild-tests"))
INSIDE_BUILDS = "/root/.cache/torchbuild/builds"  # torchbuild's cache inside the cross root
SYSROOT = "/sysroot"
NATIVE_TRIPLET = "x86_64-linux-gnu"
#: compiler options that only mean something for an Arm target
ARM_ONLY = re.compile(r"^-m(arch|cpu|tune|fpu|float-abi|tls-dialect)=|^-m(thumb|arm)$")
#: defines that select Arm code paths (NEON vector classes) the x86 compiler cannot build
ARM_DEFINES = re.compile(r"^-D\w*(ARM|NEON|AARCH64)\w*(=.*)?$")


def native_command(argv: list[str], sysroot: str, out: str) -> list[str]:
    """The recorded cross compile ``argv`` as this machine's native compile, writing ``out``."""
    compiler = Path(argv[0]).name
    found = re.fullmatch(r"(?:.+-linux-gnu\w*-)?(g\+\+|gcc|c\+\+|cc)(-\d+)?", compiler)
    if found is None:
        raise ValueError(f"not a GCC cross compiler: {argv[0]}")
    native = ["g++" if found.group(1) in ("g++", "c++") else "gcc"]
    rest = iter(output_to(argv[1:], out))
    for arg in rest:
        if arg in ("--sysroot", "-isysroot"):
            next(rest, None)
            continue
        if arg.startswith("--sysroot=") or ARM_ONLY.match(arg) or ARM_DEFINES.match(arg):
            continue
        native.append(_host_path(arg, sysroot))
    return native


def _host_path(arg: str, sysroot: str) -> str:
    """A sysroot path in ``arg`` as the host's own, its multiarch directory the host's."""
    if not arg.startswith((sysroot + "/", "-I" + sysroot + "/")):
        return arg
    host = arg.replace(sysroot + "/", "/", 1)
    return re.sub(r"/[a-z0-9_]+-linux-gnu\w*/", f"/{NATIVE_TRIPLET}/", host)


def output_to(argv: list[str], out: str) -> list[str]:
    """``argv`` with its object written to ``out`` and no dependency file."""
    kept: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg in ("-o", "-MF", "-MT", "-MQ"):
            next(rest, None)
            continue
        if arg in ("-MD", "-MMD"):
            continue
        kept.append(arg)
    return [*kept, "-o", out]


def sample(entries: list[dict], count: int) -> list[dict]:
    """``count`` C++ translation units evenly spaced over the build's sorted file list, so every
    part of torch (c10, ATen's operators and kernels, autograd, the Python bindings) is in."""
    units = sorted(
        (e for e in entries if e["file"].endswith((".cpp", ".cc"))), key=lambda e: e["file"]
    )
    step = len(units) / min(count, len(units))
    return [units[int(step * i + step / 2)] for i in range(min(count, len(units)))]


def timed(argv: list[str], cwd: str) -> tuple[float, float, str]:
    """(CPU seconds of the compiler, wall seconds, error text or "")."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return cpu, wall, "" if done.returncode == 0 else done.stderr[-1500:]


def inside(build: str, count: int, front_end: bool) -> None:
    entries = json.loads((Path(build) / "src" / "build" / "compile_commands.json").read_text())
    chosen = sample(entries, count)
    totals = {"cross": [0.0, 0.0], "native": [0.0, 0.0]}
    failed: list[str] = []
    print(f"{'translation unit':<58} {'cross':>8} {'native':>8} {'ratio':>6}  (CPU s)")
    with tempfile.TemporaryDirectory(prefix="bench-cross-") as tmp:
        for i, entry in enumerate(chosen):
            cross = output_to(shlex.split(entry["command"]), f"{tmp}/cross.o")
            native = native_command(shlex.split(entry["command"]), SYSROOT, f"{tmp}/native.o")
            if front_end:
                # The same torch code on both sides (no NEON vector classes), parsed only.
                cross = [a for a in cross if not ARM_DEFINES.match(a)] + ["-fsyntax-only"]
                native.append("-fsyntax-only")
            # Alternate which goes first, so a change in the machine's load is shared.
            order = [("cross", cross), ("native", native)]
            results = {}
            for kind, argv in order if i % 2 == 0 else order[::-1]:
                results[kind] = timed(argv, entry["directory"])
            name = entry["file"].split("/src/", 1)[-1]
            errors = [f"{kind}: {r[2]}" for kind, r in results.items() if r[2]]
            if errors:
                failed.append(name)
                print(f"{name[-58:]:<58} failed\n" + "\n".join(errors), file=sys.stderr)
                continue
            for kind, (cpu, wall, _) in results.items():
                totals[kind][0] += cpu
                totals[kind][1] += wall
            c, n = results["cross"][0], results["native"][0]
            print(f"{name[-58:]:<58} {c:8.1f} {n:8.1f} {c / n:6.2f}", flush=True)
    (cross_cpu, cross_wall), (native_cpu, native_wall) = totals["cross"], totals["native"]
    done = len(chosen) - len(failed)
    print(f"\n{done} of {len(chosen)} translation units compiled both ways, of {len(entries)}")
    if failed:
        print(f"left out (one side failed): {', '.join(failed)}")
    if done:
        print(f"CPU time:  cross {cross_cpu:7.1f} s, native {native_cpu:7.1f} s, "
              f"ratio cross/native {cross_cpu / native_cpu:.2f}")  # fmt: skip
        print(f"wall time: cross {cross_wall:7.1f} s, native {native_wall:7.1f} s, "
              f"ratio cross/native {cross_wall / native_wall:.2f}")  # fmt: skip


def kept_cross_build(arch: str) -> Path:
    """The newest kept torch build of the cross test for the toolchain of ``arch``."""
    machine = {"arm64": "aarch64", "armhf": "armv7l"}[arch]
    builds = TEST_CACHE / "roots" / "trixie-cross" / INSIDE_BUILDS.lstrip("/")
    found = [
        b for b in builds.glob("torch-*") if (b / f"toolchain-{machine}.cmake").is_file()
        and (b / "src" / "build" / "compile_commands.json").is_file()
    ]  # fmt: skip
    if not found:
        raise SystemExit(
            f"no kept torch build for {machine} under {builds}: run "
            f"tests/integration/test_torch_cross.py -k {machine} --run-torch-build first"
        )
    return max(found, key=lambda b: b.stat().st_mtime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=12, help="translation units (default 12)")
    parser.add_argument("--arch", choices=["arm64", "armhf"], default="arm64")
    parser.add_argument(
        "--front-end",
        action="store_true",
        help="parse only (-fsyntax-only), the Arm-only defines left out on both sides: how much "
        "of the difference is the compiler program itself rather than the code it generates",
    )
    parser.add_argument("--root", type=Path, default=TEST_CACHE / "roots" / "trixie-ab")
    parser.add_argument("--inside", metavar="BUILD", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.inside, args.sample, args.front_end)
        return
    if not (args.root / ".torchbuild-root.json").is_file():
        raise SystemExit(
            f"no root at {args.root}: torchbuild root create trixie {args.root} "
            "--packages torch-build,torch-cross"
        )
    build = kept_cross_build(args.arch)
    sysroot = TEST_CACHE / "cross" / f"trixie-{args.arch}-torch"
    where = f"{INSIDE_BUILDS}/{build.name}"
    command = [str(TORCHBUILD), "root", "run", str(args.root)]
    command += ["--bind", f"{build}:{where}:ro", "--bind", f"{sysroot}:{SYSROOT}:ro"]
    command += ["--bind", f"{HERE.parent}:/bench:ro", "--"]
    command += ["python3", f"/bench/{HERE.name}", "--inside", where]
    command += ["--sample", str(args.sample), *(["--front-end"] if args.front_end else [])]
    print(f"cross build: {build.name} ({args.arch}), root: {args.root}", flush=True)
    raise SystemExit(subprocess.run(command, check=False).returncode)


if __name__ == "__main__":
    main()
