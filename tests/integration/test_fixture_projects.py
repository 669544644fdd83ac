"""The fixture projects in tests/data/projects build with plain pip, install and run.

Each is built by ``pip wheel --no-build-isolation`` in a throwaway venv, its wheel installed
there and its function called. The venvs for the CMake projects see this interpreter's
packages through a ``.pth`` line (scikit-build-core, cmake and ninja are torchbuild's own
dependencies), so building them needs no package index; what a build installs lands in the
throwaway venv, which comes first on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROJECTS = Path(__file__).parents[1] / "data" / "projects"
NVCC = Path("/usr/local/cuda/bin/nvcc")


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None, *, ok: bool = True):
    proc = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False
    )
    if ok and proc.returncode != 0:
        pytest.fail(f"{args[:4]} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Knobs of the outer shell must not leak into the builds under test.
    for name in ("TBFIX_WEIGHT", "SKBUILD_BUILD_DIR", "TORCH_CUDA_ARCH_LIST", "CMAKE_GENERATOR"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def _layered_venv(path: Path) -> Path:
    """A venv without pip of its own that also sees this interpreter's packages."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(path)], _env())
    python = path / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], _env()
    ).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(purelib) / "_tbfix_parent.pth").write_text("\n".join(ours) + "\n")
    return python


def _copy(name: str, dest: Path) -> Path:
    src = dest / name
    shutil.copytree(PROJECTS / name, src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    return src


def _wheel(python: Path, src: Path, out: Path, env: dict[str, str]) -> Path:
    args = [str(python), "-m", "pip", "wheel", "--no-build-isolation", "--no-deps"]
    _run([*args, "-w", str(out), str(src)], env)
    (wheel,) = out.glob(f"{src.name.replace('-', '_')}-1.0.0-*.whl")
    return wheel


def _install(python: Path, wheel: Path) -> None:
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], _env())


def _py(python: Path, code: str, env: dict[str, str] | None = None):
    """Runs code in the venv from a neutral directory and returns its printed JSON."""
    out = _run([str(python), "-c", code], env or _env(), cwd=python.parents[2]).stdout
    return json.loads(out.strip().splitlines()[-1])


def _ninja_steps(build_dir: Path) -> list[tuple[int, int, str]]:
    rows = (build_dir / ".ninja_log").read_text().splitlines()[1:]
    return [(int(r.split("\t")[0]), int(r.split("\t")[1]), r.split("\t")[3]) for r in rows]


@pytest.fixture(scope="module")
def cext(tmp_path_factory: pytest.TempPathFactory):
    """tbfix-cext built at weight 1 with one job into a build directory set by environment."""
    for module in ("scikit_build_core", "cmake", "ninja"):
        pytest.importorskip(module, reason="the CMake fixture projects build with it")
    root = tmp_path_factory.mktemp("cext")
    python = _layered_venv(root / "venv")
    src = _copy("tbfix-cext", root)
    build_dir = root / "bdir"
    env = _env(TBFIX_WEIGHT="1", SKBUILD_BUILD_DIR=str(build_dir), CMAKE_BUILD_PARALLEL_LEVEL="1")
    wheel = _wheel(python, src, root / "dist", env)
    _install(python, wheel)
    return python, src, build_dir, wheel


def test_cext_builds_with_ninja_into_the_build_dir_it_is_given(cext) -> None:
    _python, src, build_dir, wheel = cext
    steps = _ninja_steps(build_dir)
    objects = sorted(Path(s[2]).name for s in steps if s[2].endswith(".o"))
    parts = ["module", "part_a", "part_b", "part_c", "part_d", "part_e"]
    assert objects == [f"{p}.cpp.o" for p in parts]
    assert any(s[2].endswith(".so") for s in steps)
    # CMAKE_BUILD_PARALLEL_LEVEL=1 reached Ninja: no two steps overlap.
    ordered = sorted(steps)
    assert all(b[0] >= a[1] for a, b in zip(ordered, ordered[1:])), ordered
    assert not (src / "build").exists(), "SKBUILD_BUILD_DIR did not override build-dir"
    assert wheel.name.startswith("tbfix_cext-1.0.0-cp")
    assert "TBFIX_WEIGHT:STRING=1" in (build_dir / "CMakeCache.txt").read_text()


def test_cext_runs_and_ships_its_header(cext) -> None:
    python = cext[0]
    got = _py(
        python,
        "import json, os, tbfix_cext as t; "
        "inc = t.get_include(); "
        "print(json.dumps([t.add(2, 3), t.add(-7, 10**12), t.WEIGHT, t.__version__, "
        "os.path.isfile(os.path.join(inc, 'tbfix_cext.hpp')), inc, t.fingerprint()]))",
    )
    add, big, weight, version, has_header, include, fingerprint = got
    assert (add, big, weight, version, has_header) == (5, 10**12 - 7, 1, "1.0.0", True)
    assert include.startswith(str(python.parents[1]))
    assert fingerprint != 1  # weight 1 ran real mixing steps, weight 0 would leave 1 as is


def test_cext_rejects_a_bad_weight(tmp_path: Path) -> None:
    pytest.importorskip("scikit_build_core")
    python = _layered_venv(tmp_path / "venv")
    src = _copy("tbfix-cext", tmp_path)
    env = _env(TBFIX_WEIGHT="heavy", SKBUILD_BUILD_DIR=str(tmp_path / "bdir"))
    proc = _run(
        [str(python), "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", str(src)],
        env,
        cwd=tmp_path,
        ok=False,
    )
    assert proc.returncode != 0
    assert "TBFIX_WEIGHT must be a whole number from 0 to 400, got 'heavy'" in (
        proc.stdout + proc.stderr
    )


def test_chain_compiles_against_the_installed_cext(cext, tmp_path: Path) -> None:
    python, _src, _bdir, cext_wheel = cext
    src = _copy("tbfix-chain", tmp_path)
    env = _env(SKBUILD_BUILD_DIR=str(tmp_path / "bdir"))
    wheel = _wheel(python, src, tmp_path / "dist", env)
    built_include = str(python.parents[1] / "lib")  # the build venv's site-packages
    _install(python, wheel)
    got = _py(
        python,
        "import json, tbfix_chain as c; print(json.dumps([c.twice_add(2, 3), c.built_against()]))",
    )
    assert got[0] == 10
    assert got[1]["version"] == got[1]["header_version"] == "1.0.0"
    assert got[1]["include"].startswith(built_include)
    assert got[1]["include"].endswith("tbfix_cext/include")

    # Installed elsewhere, next to the same tbfix-cext, it still imports and runs ...
    other = _layered_venv(tmp_path / "other")
    _install(other, cext_wheel)
    _install(other, wheel)
    assert _py(other, "import json, tbfix_chain as c; print(json.dumps(c.twice_add(-4, 1)))") == -6
    # ... but next to another tbfix_cext version it refuses to import.
    fake = tmp_path / "fake" / "tbfix_cext"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "2.0.0"\n')
    proc = _run(
        [str(other), "-c", "import tbfix_chain"],
        _env(PYTHONPATH=str(fake.parent)),
        cwd=tmp_path,
        ok=False,
    )
    assert proc.returncode != 0
    assert "built against tbfix_cext 1.0.0 but tbfix_cext 2.0.0 is installed" in proc.stderr


def test_chain_needs_cext_in_the_build_environment(tmp_path: Path) -> None:
    pytest.importorskip("scikit_build_core")
    python = _layered_venv(tmp_path / "venv")
    src = _copy("tbfix-chain", tmp_path)
    proc = _run(
        [str(python), "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", str(src)],
        _env(SKBUILD_BUILD_DIR=str(tmp_path / "bdir")),
        cwd=tmp_path,
        ok=False,
    )
    assert proc.returncode != 0
    assert "tbfix_chain needs tbfix_cext installed in the build environment" in (
        proc.stdout + proc.stderr
    )


# --- CUDA -------------------------------------------------------------------------------------


def _cuobjdump() -> Path | None:
    found = [NVCC.with_name("cuobjdump")]
    on_path = shutil.which("cuobjdump")
    if on_path:
        found.append(Path(on_path))
    # The PyPI package nvidia-cuda-cuobjdump puts one under site-packages/nvidia/cu*/bin.
    found += sorted(Path(sysconfig.get_paths()["purelib"]).glob("nvidia/cu*/bin/cuobjdump"))
    return next((p for p in found if p.is_file()), None)


def _cmake() -> str:
    cmake = pytest.importorskip("cmake", reason="the CMake fixture projects build with it")
    return str(Path(cmake.CMAKE_BIN_DIR) / "cmake")


@pytest.fixture(scope="module")
def cuda(tmp_path_factory: pytest.TempPathFactory):
    if not NVCC.is_file():
        pytest.skip(f"no CUDA compiler at {NVCC}")
    pytest.importorskip("scikit_build_core")
    root = tmp_path_factory.mktemp("cuda")
    python = _layered_venv(root / "venv")
    src = _copy("tbfix-cuda", root)
    env = _env(
        TORCH_CUDA_ARCH_LIST="8.7+PTX", CUDACXX=str(NVCC), SKBUILD_BUILD_DIR=str(root / "bdir")
    )
    wheel = _wheel(python, src, root / "dist", env)
    _install(python, wheel)
    so = next((python.parents[1] / "lib").glob("python*/site-packages/tbfix_cuda/_core*.so"))
    return python, so


@pytest.mark.slow
def test_cuda_imports_without_a_driver_and_reports_its_archs(cuda) -> None:
    python, _so = cuda
    archs, count, status, runtime, axpy = _py(
        python,
        "import json, tbfix_cuda as t\n"
        "try:\n    r = t.axpy([1.0, 2.0], [10.0, 20.0], 3.0)\n"
        "except RuntimeError as e:\n    r = str(e)\n"
        "print(json.dumps([t.built_archs(), t.device_count(), t.driver_status(), "
        "t.CUDART_VERSION, r]))",
    )
    assert archs == ["87-real", "87-virtual"]
    assert runtime >= 13000
    if count == 0:
        # No GPU or no driver here: the query says why and the kernel call raises, naming it.
        assert status != "cudaSuccess"
        assert isinstance(axpy, str)
        assert status in axpy
    else:
        # sm_87 code or, on a newer GPU, the PTX compiled by the driver.
        assert status == "cudaSuccess"
        assert axpy == [13.0, 26.0]


@pytest.mark.slow
def test_cuda_module_holds_sm87_code(cuda) -> None:
    tool = _cuobjdump()
    if tool is None:
        pytest.skip("no cuobjdump (the PyPI package nvidia-cuda-cuobjdump provides one)")
    _python, so = cuda
    elf = _run([str(tool), "--list-elf", str(so)], _env()).stdout
    ptx = _run([str(tool), "--list-ptx", str(so)], _env()).stdout
    assert "sm_87.cubin" in elf
    assert "sm_87.ptx" in ptx  # from +PTX
    assert "sm_86" not in elf + ptx


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch_list", "expected"),
    [
        ("8.7", "87-real"),
        ("8.6;8.7+PTX", "86-real;87-real;87-virtual"),
        ("7.5 8.7+PTX", "75-real;87-real;87-virtual"),
        ("9.0a;", "90a-real"),
    ],
)
def test_cuda_arch_list_becomes_cmake_architectures(
    tmp_path: Path, arch_list: str, expected: str
) -> None:
    if not NVCC.is_file():
        pytest.skip(f"no CUDA compiler at {NVCC}")
    cmake = _cmake()
    src = _copy("tbfix-cuda", tmp_path)
    env = _env(TORCH_CUDA_ARCH_LIST=arch_list, CUDACXX=str(NVCC))
    _run([cmake, "-S", str(src), "-B", str(tmp_path / "b"), "-G", "Ninja"], env)
    cache = (tmp_path / "b" / "CMakeCache.txt").read_text()
    assert f"CMAKE_CUDA_ARCHITECTURES:STRING={expected}\n" in cache


@pytest.mark.slow
def test_cuda_rejects_an_arch_it_cannot_read(tmp_path: Path) -> None:
    if not NVCC.is_file():
        pytest.skip(f"no CUDA compiler at {NVCC}")
    cmake = _cmake()
    src = _copy("tbfix-cuda", tmp_path)
    env = _env(TORCH_CUDA_ARCH_LIST="sm_87", CUDACXX=str(NVCC))
    proc = _run([cmake, "-S", str(src), "-B", str(tmp_path / "b"), "-G", "Ninja"], env, ok=False)
    assert proc.returncode != 0
    assert "TORCH_CUDA_ARCH_LIST entry 'sm_87' is not X.Y" in proc.stdout + proc.stderr


# --- torch extension --------------------------------------------------------------------------

TORCH = "torch==2.13.0"


@pytest.mark.slow
@pytest.mark.network
def test_torch_extension_builds_against_the_installed_torch(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], _env())
    python = venv / "bin" / "python"
    proc = _run(
        [str(python), "-m", "pip", "install", TORCH, "setuptools>=64", "wheel", "ninja"],
        _env(),
        ok=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"could not install {TORCH}: {proc.stderr.strip().splitlines()[-1:]}")
    src = _copy("tbfix-torchext", tmp_path)
    # BuildExtension runs `ninja` from PATH; the venv's comes first.
    env = _env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", MAX_JOBS="1")
    wheel = _wheel(python, src, tmp_path / "dist", env)
    _install(python, wheel)
    got = _py(
        python,
        "import json, torch, tbfix_torchext as t\n"
        "x = torch.arange(4, dtype=torch.float32)\n"
        "r = t.scale_add(x, torch.ones(4), 2.5)\n"
        "print(json.dumps([r.tolist(), t.built_with_torch(), torch.__version__, "
        "hasattr(torch.ops.tbfix, 'scale_add')]))",
    )
    result, built_with, torch_version, registered = got
    assert result == [1.0, 3.5, 6.0, 8.5]
    assert registered
    assert built_with == torch_version.split("+")[0] == "2.13.0"
