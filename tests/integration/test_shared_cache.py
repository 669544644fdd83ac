"""Fleet-scale compiles on loopback with real servers: a compiler cache shared through a real
redis-server, and compiles sent to a real distccd.

"Two machines" are two torchbuild cache directories (TORCHBUILD_CACHE_DIR), each with its own
empty local ccache, building the same tree: the second one's compiles must come from the
redis that the first one filled. distccd's own statistics (its HTTP stats port) prove that
compiles went through it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from torchbuild.compile.compiler_cache import find_compiler_cache

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.integration]

PROJECTS = Path(__file__).parents[1] / "data" / "projects"
TORCHBUILD = Path(sys.executable).with_name("torchbuild")
COMPILES = 6  # tbfix-cext: module.cpp and part_a..part_e.cpp (README of tests/data/projects)

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server (apt-get install redis-server)"
)
needs_ccache = pytest.mark.skipif(shutil.which("ccache") is None, reason="needs ccache")
needs_distccd = pytest.mark.skipif(
    shutil.which("distccd") is None or shutil.which("distcc") is None,
    reason="needs distcc and distccd (apt-get install distcc)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "redis.log").open("wb")
    proc = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(proc)
        log.close()


def redis_keys(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
        sock.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
        reply = sock.recv(64).decode()
    assert reply.startswith(":"), reply
    return int(reply[1:].strip())


class Distccd:
    def __init__(self, port: int, stats_port: int, log: Path) -> None:
        self.port, self.stats_port, self.log = port, stats_port, log

    def stats(self) -> dict[str, str]:
        """distccd's own counters, from its stats port."""
        url = f"http://127.0.0.1:{self.stats_port}/"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        rows = (line.split(" ", 1) for line in text.splitlines() if " " in line)
        return dict(rows)

    def compiles(self) -> int:
        return int(self.stats()["dcc_compile_ok"])


@pytest.fixture
def distccd(tmp_path: Path) -> Iterator[Distccd]:
    port, stats_port = free_port(), free_port()
    log = tmp_path / "distccd.log"
    # The log goes to a file this process opened: run as root, distccd gives up its rights and
    # could not open one itself.
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [
                "distccd",
                "--daemon",
                "--no-detach",
                "--listen",
                "127.0.0.1",
                "--port",
                str(port),
                "--allow",
                "127.0.0.1",
                "--stats",
                "--stats-port",
                str(stats_port),
                "--log-stderr",
                "--log-level",
                "info",
                "--jobs",
                "4",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, "distccd")
        wait_for_port(stats_port, proc, "distccd stats")
        yield Distccd(port, stats_port, log)
    finally:
        stop(proc)


# -- ccache itself against the real redis (fast) ------------------------------------------------


@needs_redis
@needs_ccache
def test_ccache_remote_hit_is_counted(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCACHE_DIR", raising=False)
    src = tmp_path / "unit.c"
    src.write_text("int square(int x) { return x * x; }\n")
    counted = []
    for machine in ("a", "b"):
        cache = find_compiler_cache(
            redis_url, cache_dir=tmp_path / machine, base_dir=tmp_path, compilers=[]
        )
        assert cache is not None
        assert cache.tool == "ccache"
        env = {**os.environ, **cache.env}
        subprocess.run(
            [str(cache.executable), "gcc", "-c", str(src), "-o", str(tmp_path / f"{machine}.o")],
            env=env,
            check=True,
            timeout=60,
        )
        counted.append(cache.stats())
    first, second = counted
    assert first is not None
    assert (first.hits, first.misses, first.remote_hits) == (0, 1, 0)
    # Machine b's local cache was empty: its hit came from redis, and counts as a hit.
    assert second is not None
    assert (second.hits, second.misses, second.remote_hits) == (1, 0, 1)
    assert second.rate() == 1.0
    assert redis_keys(redis_url) > 0


# -- torchbuild wheel, two machines sharing one redis -------------------------------------------


def tb(args: list[str], cache_dir: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.pop("CCACHE_DIR", None)  # each "machine" keeps its own local cache
    env.pop("DISTCC_DIR", None)
    env.update(
        TORCHBUILD_CACHE_DIR=str(cache_dir),
        TORCHBUILD_WHEELHOUSE=str(cache_dir.parent / "wheelhouse"),
        **extra,
    )
    done = subprocess.run(
        [str(TORCHBUILD), *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict = json.loads(done.stdout)
    return out


def cext(*extra: str, weight: int = 5) -> list[str]:
    return [
        "wheel",
        "tbfix-cext",
        "--source",
        f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
        "--env",
        f"TBFIX_WEIGHT={weight}",
        "--no-deps",
        "--json",
        *extra,
    ]


def ccache_counters(cache_dir: Path) -> dict[str, int]:
    ccache_dir = cache_dir / "compiler-cache" / "ccache"
    done = subprocess.run(
        ["ccache", "--print-stats"],
        env={**os.environ, "CCACHE_DIR": str(ccache_dir)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = (line.split("\t") for line in done.stdout.splitlines() if "\t" in line)
    return {k: int(v) for k, v in rows if v.isdigit()}


@needs_redis
@needs_ccache
@pytest.mark.network  # the build environments come from PyPI
@pytest.mark.slow
def test_second_machine_compiles_are_remote_hits(tmp_path: Path, redis_url: str) -> None:
    first = tb(cext("--compiler-cache", redis_url), tmp_path / "m1" / "cache")
    (row1,) = first["packages"]
    assert row1["action"] == "built", row1
    assert row1["build"]["compiler_cache"]["hits"] == 0
    assert row1["build"]["compiler_cache"]["misses"] >= COMPILES
    keys = redis_keys(redis_url)
    assert keys > 0

    second = tb(cext("--compiler-cache", redis_url), tmp_path / "m2" / "cache")
    (row2,) = second["packages"]
    assert row2["action"] == "built", row2
    assert row2["build"]["key"] == row1["build"]["key"]
    assert row2["build"]["build_dir"] != row1["build"]["build_dir"]
    counted = row2["build"]["compiler_cache"]
    # Every compile, CMake's own compiler probe included, came from the other machine's work.
    assert counted == {"hits": row1["build"]["compiler_cache"]["misses"], "misses": 0}
    assert "compiler cache hit rate 100%" in row2["detail"]
    # ccache's own counters on machine 2: an empty local cache, so all hits were remote.
    local = ccache_counters(tmp_path / "m2" / "cache")
    assert local["remote_storage_hit"] == counted["hits"]
    assert local["local_storage_hit"] == 0
    assert redis_keys(redis_url) == keys  # nothing new to store


# -- distcc -------------------------------------------------------------------------------------


@needs_distccd
@pytest.mark.network
@pytest.mark.slow
def test_compiles_go_through_distccd(tmp_path: Path, distccd: Distccd) -> None:
    hosts = f"127.0.0.1:{distccd.port}/3"
    before = distccd.compiles()
    out = tb(
        cext("--compiler-cache", "none", "--distcc-hosts", hosts), tmp_path / "plain" / "cache"
    )
    (row,) = out["packages"]
    assert row["action"] == "built", row
    assert row["build"]["compiler_cache"] is None
    # Jobs sized to the hosts' 3 slots (the memory model gives a 2-core machine 2).
    assert row["build"]["jobs"] >= 3
    shipped = distccd.compiles() - before
    # The six sources, plus CMake's compiler probes; linking stays on this machine.
    assert shipped >= COMPILES, distccd.stats()
    assert "COMPILE_OK" in distccd.log.read_text(errors="replace")
    log = Path(row["build"]["log"]).read_text(errors="replace")
    assert "failed to distribute" not in log


@needs_distccd
@needs_ccache
@pytest.mark.network
@pytest.mark.slow
def test_ccache_first_then_distcc_on_a_miss(tmp_path: Path, distccd: Distccd) -> None:
    hosts = f"127.0.0.1:{distccd.port}/2"
    cache_dir = tmp_path / "m" / "cache"
    before = distccd.compiles()
    first = tb(cext("--compiler-cache", "ccache", "--distcc-hosts", hosts), cache_dir)
    (row,) = first["packages"]
    misses = row["build"]["compiler_cache"]["misses"]
    assert misses >= COMPILES
    assert distccd.compiles() - before == misses  # every miss, and only misses, shipped

    # A rebuild from a cleaned build directory: all hits, and nothing reaches distcc.
    shutil.rmtree(Path(row["build"]["build_dir"]))
    shutil.rmtree(cache_dir.parent / "wheelhouse")
    middle = distccd.compiles()
    again = tb(cext("--compiler-cache", "ccache", "--distcc-hosts", hosts), cache_dir)
    (row2,) = again["packages"]
    assert row2["build"]["compiler_cache"] == {"hits": misses, "misses": 0}
    assert distccd.compiles() == middle  # hits never reach distcc


NVCC = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "nvcc"


@needs_distccd
@needs_ccache
@pytest.mark.skipif(not NVCC.is_file(), reason=f"needs nvcc at {NVCC}")
@pytest.mark.network
@pytest.mark.slow
def test_nvcc_is_cached_but_never_shipped(tmp_path: Path, distccd: Distccd) -> None:
    hosts = f"127.0.0.1:{distccd.port}/2"
    args = [
        "wheel",
        "tbfix-cuda",
        "--source",
        f"tbfix-cuda={PROJECTS / 'tbfix-cuda'}",
        "--cuda",
        "13.0",
        "--env",
        "TORCH_CUDA_ARCH_LIST=8.7",
        "--no-deps",
        "--json",
        "--compiler-cache",
        "ccache",
        "--distcc-hosts",
        hosts,
    ]
    cache_dir = tmp_path / "m" / "cache"
    (row,) = tb(args, cache_dir, CUDACXX=str(NVCC))["packages"]
    assert row["action"] == "built", row
    shipped = distccd.log.read_text(errors="replace")
    # The C++ wrapper went to distccd; the .cu file was compiled here by nvcc.
    assert "compile from module.cpp" in shipped
    assert "kernel.cu" not in shipped
    assert distccd.stats()["dcc_compile_error"] == "0"
    misses = row["build"]["compiler_cache"]["misses"]

    # Rebuilt from a cleaned build directory: every compile, nvcc's included, is a ccache hit.
    shutil.rmtree(Path(row["build"]["build_dir"]))
    shutil.rmtree(cache_dir.parent / "wheelhouse")
    (again,) = tb(args, cache_dir, CUDACXX=str(NVCC))["packages"]
    assert again["build"]["compiler_cache"] == {"hits": misses, "misses": 0}
