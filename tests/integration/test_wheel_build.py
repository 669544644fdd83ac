"""`torchbuild wheel` on real projects: build, repair, verify, publish, cache, resume, fail cleanly.

The projects are in tests/data/projects (see its README): a scikit-build-core + CMake + Ninja
C++ extension, a second one that builds against the first, and a CUDA one. Everything runs the
real tools (cmake, ninja, gcc, nvcc, uv/pip) through the installed `torchbuild` command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.network]

PROJECTS = Path(__file__).parents[1] / "data" / "projects"
TORCHBUILD = Path(sys.executable).with_name("torchbuild")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One cache for the module: build environments are made once and shared, as for a user.
    return tmp_path_factory.mktemp("cache")


def _env(cache_dir: Path, wheelhouse: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TORCHBUILD_CACHE_DIR=str(cache_dir), TORCHBUILD_WHEELHOUSE=str(wheelhouse))
    env.update(extra)
    return env


def tb(
    args: list[str], cache_dir: Path, wheelhouse: Path, timeout: float = 900, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TORCHBUILD), *args],
        env=_env(cache_dir, wheelhouse, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _wheels(wheelhouse: Path) -> list[Path]:
    return sorted((wheelhouse / "simple").glob("*/*.whl"))


def _provenance(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/torchbuild.json"))
        return json.loads(zf.read(name))


def _cext(weight: int = 5) -> list[str]:
    return [
        "wheel",
        "tbfix-cext",
        "--source",
        f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
        "--env",
        f"TBFIX_WEIGHT={weight}",
        "--no-deps",
        "--json",
    ]


def test_extension_is_built_repaired_verified_and_published(
    tmp_path: Path, cache_dir: Path
) -> None:
    wheelhouse = tmp_path / "wh"
    out = _json(tb(_cext(), cache_dir, wheelhouse))
    (row,) = out["packages"]
    assert row["action"] == "built", row
    (wheel,) = _wheels(wheelhouse)
    assert wheel.name == row["wheel"]
    assert wheel.name.startswith("tbfix_cext-1.0.0-cp3")
    # A platform tag proven from the ELF, not the build's linux_x86_64.
    assert "manylinux" in wheel.name, wheel.name
    prov = _provenance(wheel)
    assert prov["build_key"] == row["build"]["key"]
    assert prov["source"]["kind"] == "dir"
    assert Path(row["build"]["log"]).is_file()

    # Same command again: same build key, nothing built.
    again = _json(tb(_cext(), cache_dir, wheelhouse))
    assert again["packages"][0]["action"] == "cached"
    assert _wheels(wheelhouse) == [wheel]

    # pip installs it from the wheelhouse alone, and it works.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--find-links",
            str(wheel.parent),
            "tbfix-cext",
        ],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tbfix_cext; print(tbfix_cext.add(2, 3))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "5"


def test_chain_builds_against_the_wheel_just_built(tmp_path: Path, cache_dir: Path) -> None:
    wheelhouse = tmp_path / "wh"
    args = [
        "wheel",
        "tbfix-cext",
        "tbfix-chain",
        "--source",
        f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
        "--source",
        f"tbfix-chain={PROJECTS / 'tbfix-chain'}",
        "--env",
        "TBFIX_WEIGHT=5",
        "--no-deps",
        "--json",
    ]
    out = _json(tb(args, cache_dir, wheelhouse))
    by_name = {r["project"]: r for r in out["packages"]}
    assert by_name["tbfix-cext"]["action"] in ("built", "cached")
    assert by_name["tbfix-chain"]["action"] == "built"
    cext = next(w for w in _wheels(wheelhouse) if w.name.startswith("tbfix_cext"))
    chain = next(w for w in _wheels(wheelhouse) if w.name.startswith("tbfix_chain"))
    against = _provenance(chain)["against"]
    assert against["tbfix-cext"].startswith(cext.name)  # the exact wheel, by name and sha256


def _first_ninja_total(log: Path) -> int | None:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("[") and "/" in line.split("]")[0]:
            return int(line[1:].split("]")[0].split("/")[1])
    return None


def test_interrupted_build_resumes_where_it_stopped(tmp_path: Path, cache_dir: Path) -> None:
    wheelhouse = tmp_path / "wh"
    # Heavy enough that the build is still compiling when it is killed; -v streams the log.
    args = _cext(weight=120)[:-1]  # without --json
    proc = subprocess.Popen(
        [str(TORCHBUILD), "-v", *args],
        env=_env(cache_dir, wheelhouse),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[3/"):  # two objects done, the third compiling
            break
        assert time.monotonic() < deadline, "".join(seen[-20:])
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen[-20:])
    assert not _wheels(wheelhouse)

    done = tb([*args, "--json"], cache_dir, wheelhouse)
    out = _json(done)
    (row,) = out["packages"]
    assert row["action"] == "built"
    assert row["build"]["resumed"] is True
    total = _first_ninja_total(Path(row["build"]["log"]))
    first_total = int(next(s for s in seen if s.startswith("[")).split("/")[1].split("]")[0])
    assert total is not None
    assert total < first_total, (total, first_total)


def test_missing_source_path_is_a_clear_error(tmp_path: Path, cache_dir: Path) -> None:
    wheelhouse = tmp_path / "wh"
    done = tb(
        ["wheel", "tbfix-cext", "--source", f"tbfix-cext={tmp_path / 'nope'}"],
        cache_dir,
        wheelhouse,
    )
    assert done.returncode == 7, done.stderr
    assert done.stderr.startswith("error: ")
    assert "nope" in done.stderr
    assert not wheelhouse.exists() or not _wheels(wheelhouse)


def test_not_a_python_interpreter(tmp_path: Path, cache_dir: Path) -> None:
    done = tb([*_cext(), "--python", "/bin/true"], cache_dir, tmp_path / "wh")
    assert done.returncode == 3, done.stderr
    assert "not a Python interpreter" in done.stderr


def _nvcc() -> Path | None:
    nvcc = Path("/usr/local/cuda/bin/nvcc")
    return nvcc if nvcc.is_file() else None


@pytest.mark.skipif(_nvcc() is None, reason="no CUDA toolkit at /usr/local/cuda")
def test_cuda_extension_for_sm87_is_checked_for_sm87_code(tmp_path: Path, cache_dir: Path) -> None:
    from torchbuild.elf import find_cuobjdump

    if find_cuobjdump(Path("/usr/local/cuda")) is None:
        pytest.skip("no cuobjdump (install nvidia-cuda-cuobjdump)")
    wheelhouse = tmp_path / "wh"
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
    ]
    out = _json(tb(args, cache_dir, wheelhouse, CUDACXX=str(_nvcc())))
    (row,) = out["packages"]
    assert row["action"] == "built"
    (wheel,) = _wheels(wheelhouse)
    assert _provenance(wheel)["cuda"]["arch_list"] == "8.7"
    # Verification listed the GPU code; check it here too, independently.
    from torchbuild.elf import cuda_architectures

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    found: set[str] = set()
    for so in unpacked.rglob("*.so"):
        found |= set(cuda_architectures(so, find_cuobjdump(Path("/usr/local/cuda"))))
    assert "sm_87" in found


def test_cuda_build_missing_the_asked_architecture_is_not_published(
    tmp_path: Path, cache_dir: Path
) -> None:
    """A project that ignores TORCH_CUDA_ARCH_LIST (here: hard-coded to sm_90) fails
    verification when sm_87 was asked for, and nothing reaches the wheelhouse."""
    if _nvcc() is None:
        pytest.skip("no CUDA toolkit at /usr/local/cuda")
    from torchbuild.elf import find_cuobjdump

    if find_cuobjdump(Path("/usr/local/cuda")) is None:
        pytest.skip("no cuobjdump (install nvidia-cuda-cuobjdump)")
    import shutil

    tree = tmp_path / "tbfix-cuda"
    shutil.copytree(PROJECTS / "tbfix-cuda", tree)
    cmake = tree / "CMakeLists.txt"
    text = cmake.read_text()
    assert 'set(_tbfix_arch_list "$ENV{TORCH_CUDA_ARCH_LIST}")' in text
    cmake.write_text(text.replace('"$ENV{TORCH_CUDA_ARCH_LIST}"', '"9.0"'))
    wheelhouse = tmp_path / "wh"
    args = [
        "wheel",
        "tbfix-cuda",
        "--source",
        f"tbfix-cuda={tree}",
        "--cuda",
        "13.0",
        "--env",
        "TORCH_CUDA_ARCH_LIST=8.7",
        "--no-deps",
    ]
    done = tb(args, cache_dir, wheelhouse, CUDACXX=str(_nvcc()))
    assert done.returncode == 9, done.stderr
    assert "sm_87" in done.stderr
    assert not wheelhouse.exists() or not _wheels(wheelhouse)


def _tarball_of(project: Path, dest: Path) -> Path:
    import tarfile

    out = dest / f"{project.name}-1.0.0.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        tf.add(project, arcname=f"{project.name}-1.0.0")
    return out


def test_tarball_with_a_wrong_sha256_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    tarball = _tarball_of(PROJECTS / "tbfix-cext", tmp_path)
    wheelhouse = tmp_path / "wh"
    done = tb(
        ["wheel", "tbfix-cext", "--source", f"tbfix-cext={tarball}#sha256={'0' * 64}"],
        cache_dir,
        wheelhouse,
    )
    assert done.returncode == 7, done.stderr
    assert "sha256" in done.stderr
    assert done.stderr.count("\n") == 2  # one error line, one hint line
    assert not _wheels(wheelhouse) if wheelhouse.exists() else True


def test_patch_that_does_not_apply_stops_before_building(tmp_path: Path, cache_dir: Path) -> None:
    import hashlib

    recipes = tmp_path / "recipes"
    patch_dir = recipes / "patches" / "tbfix-cext" / "1.0"
    patch_dir.mkdir(parents=True)
    patch = patch_dir / "0001-change-nothing-that-exists.patch"
    patch.write_text(
        "--- a/csrc/does_not_exist.cpp\n+++ b/csrc/does_not_exist.cpp\n"
        "@@ -1,1 +1,1 @@\n-int old;\n+int new_;\n"
    )
    digest = hashlib.sha256(patch.read_bytes()).hexdigest()
    (recipes / "generic.toml").write_text(
        '[recipe]\nformat = 1\npackage = "*"\n\n'
        "[[patches]]\n"
        f'file = "tbfix-cext/1.0/{patch.name}"\n'
        f'sha256 = "{digest}"\n'
        'reason = "a test patch for a file the tree does not have"\n'
        'upstream = "local"\n'
        'versions = ">=0"\n'
    )
    wheelhouse = tmp_path / "wh"
    done = tb(
        [*_cext(), "--recipe-dir", str(recipes)],
        cache_dir,
        wheelhouse,
    )
    assert done.returncode == 7, done.stderr
    assert "0001-change-nothing-that-exists.patch" in done.stderr
    assert not _wheels(wheelhouse) if wheelhouse.exists() else True


def test_no_compiler_is_a_toolchain_error(tmp_path: Path, cache_dir: Path) -> None:
    # Only the venv's bin on PATH: no cc, c++, gcc or g++ to be found.
    done = tb(_cext(), cache_dir, tmp_path / "wh", PATH=str(TORCHBUILD.parent))
    assert done.returncode == 5, done.stderr
    assert "compiler" in done.stderr
    assert not (tmp_path / "wh").exists() or not _wheels(tmp_path / "wh")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_wheelhouse_disk_leaves_the_index_as_it_was(tmp_path: Path, cache_dir: Path) -> None:
    wheelhouse = tmp_path / "wh"
    wheelhouse.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(wheelhouse)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        done = tb(_cext()[:-1], cache_dir, wheelhouse)
        assert done.returncode == 10, done.stderr
        assert "No space left" in done.stderr or "space" in done.stderr
        assert not list(wheelhouse.rglob("*.whl"))
        verify = subprocess.run(
            [str(TORCHBUILD), "index", "verify", "--wheelhouse", str(wheelhouse)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "damaged" not in verify.stderr
    finally:
        subprocess.run(["umount", str(wheelhouse)], check=False)
