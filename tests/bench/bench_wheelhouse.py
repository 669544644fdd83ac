"""Wheelhouse benchmarks; every figure and ratio comes from one run on one machine.

1. Adding one wheel to a wheelhouse that already holds 1,000 (goal: <= 50 ms), for 1,000 wheels
   in one project (the worst case: that project's pages list all of them) and spread over 100
   projects; durable (fsync, the default) and not.
2. ``pip install`` of a torch-like set (torch with a 30 MB wheel and 20 dependencies,
   torchvision, torchaudio) into a fresh venv from ``torchbuild index serve`` and from
   pypiserver serving the same files, runs alternated (goal: ours / pypiserver <= 1.0); and
   the same resolution with ``--dry-run``, where PEP 658 metadata spares the wheel downloads.

    .venv/bin/python tests/bench/bench_wheelhouse.py [--runs N] [--skip-pip]

Needs pypiserver for part 2 (``pip install pypiserver``) and uv to make the venvs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torchbuild.wheelhouse import Wheelhouse
from wheelfactory import make_wheel

BIN = Path(sys.executable).parent


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(len(values) * 0.9) - 1]
    return f"median {statistics.median(values) * 1000:6.1f} ms  p90 {p90 * 1000:6.1f} ms  max {values[-1] * 1000:6.1f} ms"


def bench_add(work: Path, samples: int) -> None:
    print("== add one wheel to a wheelhouse of 1,000")
    src = work / "src"
    layouts = {
        "1 project x 1000": [(f"torch-{i // 100}.{i % 100}.0+cpu", "torch") for i in range(1000)],
        "100 projects x 10": [(f"p{i % 100}-1.{i // 100}", f"p{i % 100}") for i in range(1000)],
    }
    for label, specs in layouts.items():
        root = work / label.replace(" ", "_")
        filler = Wheelhouse(root, durable=False)
        start = time.perf_counter()
        for spec, project in specs:
            version = spec[len(project) + 1 :]
            filler.add(
                make_wheel(src / project, project, version, tag="cp311-cp311-linux_aarch64"),
                origin="bench",
            )
        fill = time.perf_counter() - start
        print(
            f"  {label}: filled in {fill:.1f} s ({fill / len(specs) * 1000:.1f} ms per add while growing)"
        )
        for durable in (True, False):
            wh = Wheelhouse(root, durable=durable)
            times = []
            for n in range(samples):
                project = specs[n % len(specs)][1]
                wheel = make_wheel(
                    src / "extra",
                    project,
                    f"99.{n}.{int(durable)}",
                    tag="cp311-cp311-linux_aarch64",
                )
                start = time.perf_counter()
                wh.add(wheel, origin="bench")
                times.append(time.perf_counter() - start)
            mode = "durable (fsync)" if durable else "no fsync      "
            print(f"    add #1001+ {mode}: {_ms(times)}")
        cli = []
        for n in range(5):
            wheel = make_wheel(
                src / "extra", specs[0][1], f"98.{n}", tag="cp311-cp311-linux_aarch64"
            )
            start = time.perf_counter()
            subprocess.run(
                [str(BIN / "torchbuild"), "index", "add", "--wheelhouse", str(root), str(wheel)],
                check=True,
                capture_output=True,
            )
            cli.append(time.perf_counter() - start)
        print(f"    whole `torchbuild index add` process: {_ms(cli)}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.args}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own http URL
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        HOME=str(home),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        UV_NO_CONFIG="1",
    )
    return env


def _time_pip(
    work: Path,
    env: dict[str, str],
    servers: dict[str, tuple[list[str], str]],
    runs: int,
    extra: list[str],
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in servers}
    for run in range(runs + 1):  # run 0 warms both servers and the page cache; not counted
        order = list(servers.items())
        for name, (_, url) in order if run % 2 else reversed(order):
            venv = work / f"venv-{name}-{run}"
            subprocess.run(
                [str(BIN / "uv"), "venv", "-q", "--python", sys.executable, str(venv)],
                check=True,
                env=env,
            )
            python = str(venv / "bin" / "python")
            pip = [sys.executable, "-m", "pip", "--python", python, "install", *extra]
            start = time.perf_counter()
            subprocess.run(
                [*pip, "--index-url", url, "torch", "torchvision", "torchaudio"],
                check=True,
                env=env,
                capture_output=True,
            )
            elapsed = time.perf_counter() - start
            if run:
                times[name].append(elapsed)
            shutil.rmtree(venv)
    return times


def bench_pip(work: Path, runs: int) -> None:
    print("== pip install torch torchvision torchaudio (+20 deps) into a fresh venv")
    pypiserver = BIN / "pypi-server"
    if not pypiserver.exists():
        print("  skipped: pypiserver is not installed (pip install pypiserver)")
        return
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    tag = f"{py}-{py}-linux_x86_64" if sys.platform.startswith("linux") else "py3-none-any"
    src = work / "pip-src"
    deps = [f"dep{i:02d}" for i in range(20)]
    wheels = [make_wheel(src, d, "1.0") for d in deps]
    wheels.append(
        make_wheel(
            src, "torch", "2.6.0+cpu", tag=tag, requires_dist=deps, payload_size=30 * 1024 * 1024
        )
    )
    wheels.append(
        make_wheel(
            src,
            "torchvision",
            "0.21.0+cpu",
            tag=tag,
            requires_dist=["torch==2.6.0+cpu"],
            payload_size=2 * 1024 * 1024,
        )
    )
    wheels.append(
        make_wheel(
            src,
            "torchaudio",
            "2.6.0+cpu",
            tag=tag,
            requires_dist=["torch==2.6.0+cpu"],
            payload_size=1024 * 1024,
        )
    )
    wh = Wheelhouse(work / "pip-wh")
    for wheel in wheels:
        wh.add(wheel, origin="bench")
    flat = work / "pypiserver-packages"
    flat.mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, flat / wheel.name)

    env = _clean_env(work / "home")
    ours_port, theirs_port = _free_port(), _free_port()
    servers = {
        "torchbuild": (
            [
                str(BIN / "torchbuild"),
                "index",
                "serve",
                "--wheelhouse",
                str(wh.root),
                "--port",
                str(ours_port),
            ],
            f"http://127.0.0.1:{ours_port}/simple/",
        ),
        "pypiserver": (
            [
                str(pypiserver),
                "run",
                "-p",
                str(theirs_port),
                "-i",
                "127.0.0.1",
                "--disable-fallback",
                "-a",
                ".",
                "-P",
                ".",
                str(flat),
            ],
            f"http://127.0.0.1:{theirs_port}/simple/",
        ),
    }
    procs = {
        name: subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for name, (cmd, _) in servers.items()
    }
    try:
        for name, (_, url) in servers.items():
            _wait(url, procs[name])
        pip_version = subprocess.run(
            [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        print(
            f"  pip {pip_version}, {runs} runs each, alternating; pypiserver with its default server"
        )
        for label, extra in (("install", []), ("resolve only (--dry-run)", ["--dry-run"])):
            times = _time_pip(work, env, servers, runs, extra)
            print(f"  {label}:")
            for name, values in times.items():
                print(
                    f"    {name:10s}: median {statistics.median(values):.3f} s"
                    f"  min {min(values):.3f} s  max {max(values):.3f} s"
                )
            ratio = statistics.median(times["torchbuild"]) / statistics.median(times["pypiserver"])
            print(f"    ratio torchbuild / pypiserver (medians): {ratio:.2f} (goal <= 1.0)")
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="pip installs per server")
    parser.add_argument("--samples", type=int, default=30, help="timed adds per layout and mode")
    parser.add_argument("--skip-pip", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-wheelhouse-") as tmp:
        work = Path(tmp)
        bench_add(work, args.samples)
        if not args.skip_pip:
            bench_pip(work, args.runs)


if __name__ == "__main__":
    main()
