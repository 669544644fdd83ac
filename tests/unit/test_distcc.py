"""distcc host lists (DISTCC_HOSTS syntax), slot counting, the job count, and the environment
that sends compiles to distcc, with and without ccache."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from torchbuild.compile.compiler_cache import CompilerCache, find_compiler_cache
from torchbuild.compile.distcc import (
    DEFAULT_PORT,
    DistccHost,
    cmake_launchers,
    find_distcc,
    parse_hosts,
)
from torchbuild.errors import InputError, ToolchainError

needs_distcc = pytest.mark.skipif(shutil.which("distcc") is None, reason="needs distcc")
COMPILERS = ["cc", "c++", "gcc", "g++"]


# -- host list syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "host", "port", "slots"),
    [
        ("build1", "tcp", "build1", DEFAULT_PORT, 4),  # distcc's default: 4 per remote host
        ("build1/8", "tcp", "build1", DEFAULT_PORT, 8),
        ("10.0.0.7:4000/16", "tcp", "10.0.0.7", 4000, 16),
        ("10.0.0.7/16:4000", "tcp", "10.0.0.7", 4000, 16),  # the older LIMIT-then-PORT order
        ("10.0.0.7:4000", "tcp", "10.0.0.7", 4000, 4),
        ("[::1]:3633/3", "tcp", "::1", 3633, 3),
        ("[fe80::1]", "tcp", "fe80::1", DEFAULT_PORT, 4),
        ("localhost", "localhost", "localhost", None, 2),  # 2 for localhost
        ("localhost/6", "localhost", "localhost", None, 6),
        ("localhost:3632/2", "tcp", "localhost", 3632, 2),  # a daemon on this machine
        ("127.0.0.1/2", "tcp", "127.0.0.1", DEFAULT_PORT, 2),
    ],
)
def test_host_forms(spec: str, kind: str, host: str, port: int | None, slots: int) -> None:
    (parsed,) = parse_hosts(spec).hosts
    assert (parsed.kind, parsed.host, parsed.port, parsed.slots) == (kind, host, port, slots)
    assert parsed.spec == spec


def test_ssh_hosts() -> None:
    hosts = parse_hosts("@gpu1 alice@gpu2/12 @gpu3/6:/opt/distcc/bin/distccd bob@[::2]/2,lzo")
    assert hosts.hosts == (
        DistccHost("@gpu1", "ssh", "gpu1", None, None, None, 4, ()),
        DistccHost("alice@gpu2/12", "ssh", "gpu2", None, "alice", None, 12, ()),
        DistccHost(
            "@gpu3/6:/opt/distcc/bin/distccd",
            "ssh",
            "gpu3",
            None,
            None,
            "/opt/distcc/bin/distccd",
            6,
            (),
        ),
        DistccHost("bob@[::2]/2,lzo", "ssh", "::2", None, "bob", None, 2, ("lzo",)),
    )
    assert hosts.slots == 24


def test_options_and_global_words() -> None:
    hosts = parse_hosts(
        "--randomize localhost/2 # this machine\n"
        "build1:3632/8,lzo,cpp build2/4,auth=distcc/build2 --localslots=3 --localslots_cpp=10"
    )
    assert [h.options for h in hosts.hosts] == [(), ("lzo", "cpp"), ("auth=distcc/build2",)]
    assert hosts.randomize
    assert (hosts.local_slots, hosts.local_slots_cpp) == (3, 10)
    # Comments are dropped and the words joined: this is what DISTCC_HOSTS gets.
    assert hosts.text == (
        "--randomize localhost/2 build1:3632/8,lzo,cpp build2/4,auth=distcc/build2 "
        "--localslots=3 --localslots_cpp=10"
    )


def test_slots_and_jobs() -> None:
    hosts = parse_hosts("localhost/2 build1/8 10.0.0.7:3632/16 @gpu1")
    assert hosts.slots == 2 + 8 + 16 + 4
    assert hosts.remote_slots == 8 + 16 + 4
    assert hosts.jobs(3) == 30  # every slot busy
    assert hosts.jobs(64) == 64  # never fewer than the memory model's local jobs
    # --localslots limits local-only work; it is no compile slot of any host.
    assert parse_hosts("build1/2 --localslots=8").slots == 2


def test_zeroconf_alone_is_a_host_list_without_known_slots() -> None:
    hosts = parse_hosts("+zeroconf")
    assert hosts.zeroconf
    assert hosts.slots == 0
    assert hosts.jobs(4) == 4


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   # only a comment",
        "build1/0",
        "build1/x",
        "build1:port",
        "build1:70000",
        "build1:1:2",
        "build1/2/3",
        "build1,zstd",
        "build1,",
        "[::1",
        "/4",
        "--parallel=3",
        "@gpu1 junk/2:3:",
    ],
)
def test_bad_host_lists(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_hosts(text)
    assert err.value.hint


# -- environment --------------------------------------------------------------------------------


def test_no_hosts_means_no_distcc(tmp_path: Path) -> None:
    assert find_distcc(None, cache=None, cache_dir=tmp_path, compilers=COMPILERS) is None
    assert find_distcc("  ", cache=None, cache_dir=tmp_path, compilers=COMPILERS) is None


def test_missing_distcc_is_a_toolchain_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="distcc is not installed"):
        find_distcc("build1/4", cache=None, cache_dir=tmp_path, compilers=COMPILERS)


@needs_distcc
def test_sccache_and_distcc_are_refused(tmp_path: Path) -> None:
    sccache = CompilerCache("sccache", Path("/usr/bin/sccache"), {}, None)
    with pytest.raises(InputError, match="sccache"):
        find_distcc("build1/4", cache=sccache, cache_dir=tmp_path, compilers=COMPILERS)


@needs_distcc
@pytest.mark.skipif(shutil.which("ccache") is None, reason="needs ccache")
def test_with_ccache_distcc_runs_on_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTCC_DIR", raising=False)
    cache = find_compiler_cache(
        "ccache", cache_dir=tmp_path / "c", base_dir=tmp_path, compilers=COMPILERS
    )
    assert cache is not None
    distcc = find_distcc(
        "localhost/2 build1:3700/8", cache=cache, cache_dir=tmp_path / "c", compilers=COMPILERS
    )
    assert distcc is not None
    assert distcc.via_cache
    assert distcc.path_prefix is None  # ccache's links stay the ones on PATH
    assert distcc.env["CCACHE_PREFIX"] == str(distcc.executable)
    assert distcc.env["DISTCC_HOSTS"] == "localhost/2 build1:3700/8"
    assert distcc.env["DISTCC_DIR"] == str(tmp_path / "c" / "distcc")
    assert not any(k.startswith("CMAKE_") for k in distcc.env)  # ccache stays the launcher


@needs_distcc
def test_without_a_cache_compilers_masquerade_as_distcc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTCC_DIR", str(tmp_path / "mine"))
    distcc = find_distcc(
        "localhost/2", cache=None, cache_dir=tmp_path / "c", compilers=[*COMPILERS, "no-such-cc"]
    )
    assert distcc is not None
    assert not distcc.via_cache
    assert "CCACHE_PREFIX" not in distcc.env
    assert distcc.env["DISTCC_DIR"] == str(tmp_path / "mine")  # the user's own is kept
    # No CMake launcher: distcc given its own link as the compiler would call itself forever.
    assert not any(k.startswith("CMAKE_") for k in distcc.env)
    assert distcc.path_prefix is not None
    links = sorted(p.name for p in distcc.path_prefix.iterdir())
    assert links == sorted(c for c in COMPILERS if shutil.which(c))
    assert (distcc.path_prefix / "gcc").resolve() == distcc.executable.resolve()

    # A real compile through the link: distcc finds the real gcc after its own directory.
    (tmp_path / "a.c").write_text("int twice(int x) { return 2 * x; }\n")
    env = dict(os.environ)
    env.update(distcc.env)
    env["PATH"] = os.pathsep.join([str(distcc.path_prefix), env["PATH"]])
    env["DISTCC_VERBOSE"] = "1"
    done = subprocess.run(
        ["gcc", "-c", "a.c", "-o", "a.o"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.o").stat().st_size > 0
    assert "distcc[" in done.stderr  # it was distcc that ran, as gcc


# -- CMake launchers when ccache calls distcc ---------------------------------------------------


def test_cmake_launchers_with_ccache_links(tmp_path: Path) -> None:
    links = tmp_path / "ccache-bin"
    ccache = Path("/usr/bin/ccache")
    env = {f"CMAKE_{lang}_COMPILER_LAUNCHER": str(ccache) for lang in ("C", "CXX", "CUDA")}
    changes = cmake_launchers(env, ccache, links)
    # CMake finds ccache's links by name: the C/C++ launchers would hand a link to distcc.
    assert changes["CMAKE_C_COMPILER_LAUNCHER"] is None
    assert changes["CMAKE_CXX_COMPILER_LAUNCHER"] is None
    # nvcc stays cached, with the distcc prefix switched off for it (a CMake list).
    cuda = changes["CMAKE_CUDA_COMPILER_LAUNCHER"]
    assert cuda is not None
    assert cuda.split(";")[1:] == ["CCACHE_PREFIX=", str(ccache)]
    assert Path(cuda.split(";")[0]).name == "env"


def test_cmake_launchers_keep_an_absolute_compiler(tmp_path: Path) -> None:
    links = tmp_path / "ccache-bin"
    ccache = Path("/usr/bin/ccache")
    env = {
        "CC": "/usr/bin/gcc-12",  # CMake uses this one, not a link: only the launcher caches it
        "CXX": str(links / "g++"),  # a link after all: same as finding it on PATH
        "CMAKE_C_COMPILER_LAUNCHER": str(ccache),
        "CMAKE_CXX_COMPILER_LAUNCHER": str(ccache),
    }
    assert cmake_launchers(env, ccache, links) == {"CMAKE_CXX_COMPILER_LAUNCHER": None}
    # Without links (no compiler found to link) the launchers are all there is.
    assert cmake_launchers({"CMAKE_C_COMPILER_LAUNCHER": str(ccache)}, ccache, None) == {}
