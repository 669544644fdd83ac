"""How much a compiler cache shared through redis saves a second machine building torchaudio.

    .venv/bin/python tests/bench/bench_shared_cache.py [--python PATH] [--tarball FILE]

Starts a real redis-server on 127.0.0.1 (a free port, no persistence, stopped at the end) and
builds the real torchaudio 2.6.0 tree (Debian's orig tarball, fetched with the machine's apt
configuration) twice with `torchbuild wheel --compiler-cache redis://...`: once as "machine 1"
and once as "machine 2", two separate torchbuild cache directories, each with its own empty
local ccache. Prints both builds' times (the whole command, and the compile step as torchbuild
reports it), their ratio, and the second build's hit rate with the share of remote hits as
ccache itself counted them. The builds run one after the other: they would share the CPUs.

--python is an interpreter with CPU torch 2.13.0 installed (the torch torchaudio builds
against); make one with `python -m venv DIR && DIR/bin/pip install torch==2.13.0`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).parents[1]
TORCHBUILD = Path(sys.executable).with_name("torchbuild")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    command += ["--appendonly", "no", "--dir", str(directory)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"redis-server did not listen on 127.0.0.1:{port}")


def redis_keys(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
        return int(sock.recv(64).decode()[1:].strip())


def build(
    cache_dir: Path, python: Path, tarball: Path, url: str
) -> tuple[float, dict[str, object]]:
    env = dict(os.environ)
    env.pop("CCACHE_DIR", None)  # each machine's own local cache, under its cache directory
    env.update(
        TORCHBUILD_CACHE_DIR=str(cache_dir), TORCHBUILD_WHEELHOUSE=str(cache_dir.parent / "wh")
    )
    args = [str(TORCHBUILD), "wheel", "torchaudio==2.6.0", "--python", str(python)]
    args += ["--ignore-matrix", "--source", f"torchaudio={tarball}", "--no-deps"]
    args += ["--compiler-cache", url, "--json"]
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"build failed ({done.returncode}):\n{done.stderr[-3000:]}")
    (row,) = json.loads(done.stdout)["packages"]
    if row["action"] != "built":
        raise SystemExit(f"expected a build, got {row['action']}: {row['detail']}")
    return seconds, row


def remote_hits(cache_dir: Path) -> int:
    done = subprocess.run(
        ["ccache", "--print-stats"],
        env={**os.environ, "CCACHE_DIR": str(cache_dir / "compiler-cache" / "ccache")},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"^remote_storage_hit\t(\d+)$", done.stdout, re.MULTILINE)
    return int(found.group(1)) if found else 0


def compile_seconds(row: dict[str, object]) -> float:
    found = re.search(r"built in (\d+) s", str(row["detail"]))
    return float(found.group(1)) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=Path("/tmp/tbfix-torch-venv/bin/python"))
    parser.add_argument("--tarball", type=Path, help="torchaudio 2.6.0 source tarball")
    args = parser.parse_args()
    for tool in ("redis-server", "ccache"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (apt-get install {tool})")
    tarball = args.tarball
    if tarball is None:
        sys.path.insert(0, str(TESTS))
        from debsrc import download

        tarball = download("pytorch-audio", "2.6.0-1") / "pytorch-audio_2.6.0.orig.tar.gz"
    with tempfile.TemporaryDirectory(prefix="bench-shared-cache-") as tmp:
        work = Path(tmp)
        port = free_port()
        redis = start_redis(port, work)
        url = f"redis://127.0.0.1:{port}"
        try:
            t1, row1 = build(work / "machine1" / "cache", args.python, tarball, url)
            keys = redis_keys(port)
            t2, row2 = build(work / "machine2" / "cache", args.python, tarball, url)
            remote = remote_hits(work / "machine2" / "cache")
        finally:
            redis.terminate()
            redis.wait(timeout=10)
    c1, c2 = compile_seconds(row1), compile_seconds(row2)
    counts = row2["build"]["compiler_cache"]  # type: ignore[index]
    hits, misses = counts["hits"], counts["misses"]
    print(f"redis: {url}, {keys} keys after machine 1")
    print(f"machine 1 (empty caches):      {t1:7.1f} s command, {c1:5.0f} s build step")
    print(f"machine 2 (redis from 1):      {t2:7.1f} s command, {c2:5.0f} s build step")
    print(
        f"ratio machine1/machine2:       {t1 / t2:7.2f} x command, {c1 / max(c2, 1):5.2f} x build"
    )
    print(f"machine 2 hit rate:            {hits}/{hits + misses} = {hits / (hits + misses):.0%}")
    print(f"machine 2 remote hits (ccache): {remote}")
    print(f"machine 1 detail: {row1['detail']}")
    print(f"machine 2 detail: {row2['detail']}")


if __name__ == "__main__":
    main()
