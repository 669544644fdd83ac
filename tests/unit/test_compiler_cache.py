"""Compiler cache discovery, wiring and stats; real ccache builds through CMake and setuptools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from torchbuild.compile.compiler_cache import (
    CacheStats,
    CompilerCache,
    find_compiler_cache,
    parse_ccache_print_stats,
    parse_ccache_summary,
    parse_sccache_json,
)
from torchbuild.errors import InputError

COMPILERS = ["cc", "c++", "gcc", "g++"]
needs_ccache = pytest.mark.skipif(shutil.which("ccache") is None, reason="needs ccache")


def _read(data_dir: Path, name: str) -> str:
    return (data_dir / "build" / name).read_text(encoding="utf-8")


# -- stats --------------------------------------------------------------------------------------


def test_ccache_print_stats(data_dir: Path) -> None:
    assert parse_ccache_print_stats(_read(data_dir, "ccache-4.7-print-stats.txt")) == CacheStats(
        1, 1
    )


def test_ccache_summary_4(data_dir: Path) -> None:
    assert parse_ccache_summary(_read(data_dir, "ccache-4.7-s.txt")) == CacheStats(1, 1)


def test_ccache_summary_3() -> None:
    # ccache 3.4 (Ubuntu 18.04, JetPack 4) has no --print-stats; its -s words each counter as
    # in ccache 3's stats.c ("cache hit (direct)", "cache hit (preprocessed)", "cache miss").
    text = (
        "cache directory                     /home/nvidia/.ccache\n"
        "primary config                      /home/nvidia/.ccache/ccache.conf\n"
        "secondary config      (readonly)    /etc/ccache.conf\n"
        "stats zero time                     Thu Jan  7 10:00:00 2021\n"
        "cache hit (direct)                   120\n"
        "cache hit (preprocessed)              30\n"
        "cache miss                            50\n"
        "cache hit rate                     75.00 %\n"
        "called for link                       10\n"
    )
    assert parse_ccache_summary(text) == CacheStats(150, 50)


def test_sccache_json(data_dir: Path) -> None:
    assert parse_sccache_json(_read(data_dir, "sccache-0.16-stats.json")) == CacheStats(1, 2)


@pytest.mark.parametrize("text", ["", "not json", '{"stats": {}}', "[]"])
def test_unreadable_stats_are_none(text: str) -> None:
    assert parse_sccache_json(text) is None
    assert parse_ccache_print_stats(text) is None
    assert parse_ccache_summary(text) is None


def test_rate_and_since() -> None:
    before, after = CacheStats(10, 5), CacheStats(18, 7)
    assert after.since(before) == CacheStats(8, 2)
    assert after.since(before).rate() == 0.8
    assert CacheStats(0, 0).rate() is None
    # A cache zeroed in between must not give negative counts.
    assert CacheStats(1, 1).since(before) == CacheStats(0, 0)


# -- discovery ----------------------------------------------------------------------------------


def _path_with(tmp_path: Path, **tools: str) -> str:
    """A PATH holding only the named tools (name -> target)."""
    d = tmp_path / "pathbin"
    d.mkdir(exist_ok=True)
    for name, target in tools.items():
        (d / name).symlink_to(target)
    return str(d)


def test_none_gives_none(tmp_path: Path) -> None:
    assert find_compiler_cache("none", cache_dir=tmp_path, base_dir=tmp_path, compilers=[]) is None


@pytest.mark.parametrize("setting", ["auto", "ccache", "sccache", "redis://127.0.0.1:6379"])
def test_missing_tool_gives_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path))
    assert (
        find_compiler_cache(setting, cache_dir=tmp_path, base_dir=tmp_path, compilers=COMPILERS)
        is None
    )


@pytest.mark.parametrize("setting", ["distcc", "ftp://host/cache"])
def test_unknown_setting_is_refused(tmp_path: Path, setting: str) -> None:
    with pytest.raises(InputError):
        find_compiler_cache(setting, cache_dir=tmp_path, base_dir=tmp_path, compilers=[])


def test_auto_falls_back_to_sccache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, sccache="/bin/true"))
    monkeypatch.delenv("SCCACHE_DIR", raising=False)
    cache = find_compiler_cache(
        "auto", cache_dir=tmp_path / "c", base_dir=tmp_path, compilers=COMPILERS
    )
    assert cache is not None
    assert cache.tool == "sccache"
    assert cache.path_prefix is None
    assert cache.env["CMAKE_CXX_COMPILER_LAUNCHER"] == str(cache.executable)
    assert cache.env["SCCACHE_DIR"] == str(tmp_path / "c" / "sccache")
    remote = find_compiler_cache(
        "redis://10.0.0.5:6379", cache_dir=tmp_path / "c", base_dir=tmp_path, compilers=[]
    )
    assert remote is not None
    assert remote.env["SCCACHE_REDIS"] == "redis://10.0.0.5:6379"


@needs_ccache
@pytest.mark.programs
def test_ccache_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCACHE_DIR", raising=False)
    cache = find_compiler_cache(
        "auto", cache_dir=tmp_path / "c", base_dir=tmp_path / "src", compilers=COMPILERS
    )
    assert cache is not None
    assert cache.tool == "ccache"
    for lang in ("C", "CXX", "CUDA"):
        assert cache.env[f"CMAKE_{lang}_COMPILER_LAUNCHER"] == str(cache.executable)
    assert cache.env["CCACHE_DIR"] == str(tmp_path / "c" / "ccache")
    assert cache.env["CCACHE_BASEDIR"] == str(tmp_path / "src")
    assert cache.env["CCACHE_NOHASHDIR"] == "1"
    assert "CCACHE_REMOTE_STORAGE" not in cache.env
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "mine"))
    again = find_compiler_cache(
        "redis://127.0.0.1:6379", cache_dir=tmp_path / "c", base_dir=tmp_path, compilers=[]
    )
    assert again is not None
    assert again.env["CCACHE_DIR"] == str(tmp_path / "mine")  # the user's own cache is kept
    assert again.env["CCACHE_REMOTE_STORAGE"] == "redis://127.0.0.1:6379"
    assert again.path_prefix is None  # no compilers asked for: no masquerade


@needs_ccache
def test_masquerade_links_only_real_compilers(tmp_path: Path) -> None:
    cache = find_compiler_cache(
        "ccache",
        cache_dir=tmp_path / "c",
        base_dir=tmp_path,
        compilers=["gcc", "g++", "no-such-compiler-x", "ccache"],
    )
    assert cache is not None
    assert cache.path_prefix is not None
    names = sorted(p.name for p in cache.path_prefix.iterdir())
    assert names == ["g++", "gcc"]  # no link for a missing compiler, none for ccache itself
    assert (cache.path_prefix / "gcc").resolve() == cache.executable.resolve()
    # Idempotent: a second call leaves the same links and no temporary files.
    find_compiler_cache("ccache", cache_dir=tmp_path / "c", base_dir=tmp_path, compilers=["gcc"])
    assert sorted(p.name for p in cache.path_prefix.iterdir()) == ["g++", "gcc"]


# -- real builds --------------------------------------------------------------------------------


def _build_env(cache: CompilerCache) -> dict[str, str]:
    env = {**os.environ, **cache.env}
    if cache.path_prefix is not None:
        env["PATH"] = os.pathsep.join([str(cache.path_prefix), env["PATH"]])
    return env


def _fresh_ccache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compilers: list[str]
) -> CompilerCache:
    monkeypatch.delenv("CCACHE_DIR", raising=False)
    for var in ("CC", "CXX", "CCACHE_DISABLE", "CCACHE_PREFIX", "CCACHE_PATH"):
        monkeypatch.delenv(var, raising=False)
    cache = find_compiler_cache(
        "ccache", cache_dir=tmp_path / "cache", base_dir=tmp_path, compilers=compilers
    )
    assert cache is not None
    return cache


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


CMAKE_PROJECT = {
    "CMakeLists.txt": "cmake_minimum_required(VERSION 3.18)\nproject(cached C CXX)\n"
    "add_library(k STATIC a.cpp b.cpp c.c)\n",
    "a.cpp": "#include <vector>\nint a() { return static_cast<int>(std::vector<int>(3).size()); }\n",
    "b.cpp": "int b() { return 2; }\n",
    "c.c": "int c(void) { return 3; }\n",
}


@needs_ccache
@pytest.mark.integration
@pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("ninja") is None, reason="needs cmake and ninja"
)
@pytest.mark.programs
def test_cmake_second_build_directory_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _fresh_ccache(tmp_path, monkeypatch, COMPILERS)
    env = _build_env(cache)
    _tree(tmp_path / "src", CMAKE_PROJECT)

    def build(name: str) -> CacheStats:
        bdir = tmp_path / name
        subprocess.run(
            ["cmake", "-S", tmp_path / "src", "-B", bdir, "-G", "Ninja"],
            env=env,
            check=True,
            capture_output=True,
        )
        before = cache.stats()
        assert before is not None
        out = subprocess.run(
            ["cmake", "--build", bdir, "-v"], env=env, check=True, capture_output=True, text=True
        )
        assert "ccache" in out.stdout  # the launcher is on every compile line
        after = cache.stats()
        assert after is not None
        return after.since(before)

    assert build("b1") == CacheStats(0, 3)
    assert build("b2") == CacheStats(3, 0)  # another build directory, every object from the cache


SETUP_PY = """\
from setuptools import Extension, setup
setup(name="cached", version="0", ext_modules=[Extension("cached", ["m.cpp", "n.c"])])
"""
MODULE = {
    "setup.py": SETUP_PY,
    "m.cpp": '#include <Python.h>\nextern "C" int n(void);\n'
    'static PyModuleDef d = {PyModuleDef_HEAD_INIT, "cached", nullptr, -1, nullptr};\n'
    "PyMODINIT_FUNC PyInit_cached(void) { n(); return PyModule_Create(&d); }\n",
    "n.c": "int n(void) { return 1; }\n",
}
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _system_python_builds_extensions() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            (
                "import setuptools, sysconfig, os; "
                "assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))"
            ),
        ],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@needs_ccache
@pytest.mark.integration
@pytest.mark.skipif(
    not _system_python_builds_extensions(), reason="needs python3 with setuptools and Python.h"
)
@pytest.mark.programs
def test_setuptools_through_masquerade_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setuptools runs the compiler Python was built with (x86_64-linux-gnu-gcc on Debian).
    cc = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sysconfig; print(sysconfig.get_config_var('CC').split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    cache = _fresh_ccache(
        tmp_path, monkeypatch, [*COMPILERS, cc, f"{cc[:-3]}g++" if cc.endswith("gcc") else cc]
    )
    assert cache.path_prefix is not None
    assert (cache.path_prefix / Path(cc).name).is_symlink()
    env = _build_env(cache)
    for key in [k for k in env if k.startswith("CMAKE_")]:
        del env[key]  # setuptools alone: only the masquerade can route it through ccache

    # Through the link, ccache runs the real compiler (it skips itself on PATH).
    version = subprocess.run(
        [Path(cc).name, "--version"], env=env, capture_output=True, text=True, check=True
    )
    assert "Free Software Foundation" in version.stdout

    def build(name: str) -> CacheStats:
        _tree(tmp_path / name, MODULE)
        before = cache.stats()
        assert before is not None
        subprocess.run(
            [SYSTEM_PYTHON, "setup.py", "build_ext"],
            cwd=tmp_path / name,
            env=env,
            check=True,
            capture_output=True,
        )
        after = cache.stats()
        assert after is not None
        assert list((tmp_path / name / "build").rglob("cached*.so"))
        return after.since(before)

    assert build("s1") == CacheStats(0, 2)
    assert build("s2") == CacheStats(2, 0)  # a second tree: both objects from the cache
