"""Rendering: layers, overrides and --env, with the provenance of every value."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from torchbuild.errors import InputError, RecipeError
from torchbuild.recipes import render_package
from torchbuild.recipes.layers import layers_for, package_names, recipe_dirs
from torchbuild.recipes.render import render, to_json
from torchbuild.target import Cuda, Gpu, Libc, Python, Resources, Target, load_target

if TYPE_CHECKING:
    from pathlib import Path

GIB = 1024**3


def x86(cuda: Cuda | None = None, python: str = "3.11.2") -> Target:
    return Target(
        os="linux",
        arch="x86_64",
        libc=Libc("glibc", "2.36"),
        python=Python(None, python, "cpython", "cp311", free_threaded=False),
        cuda=cuda,
        resources=Resources(cpus=16, memory_bytes=64 * GIB, swap_bytes=0),
    )


def dgpu(*caps: str, toolkit: str = "12.6") -> Cuda:
    gpus = tuple(Gpu(f"GPU {c}", c) for c in caps)
    return Cuda(toolkit, "/usr/local/cuda-12.6/bin/nvcc", "560.35", "12.6", gpus)


def bundled(package: str) -> list:
    return layers_for(package, recipe_dirs([], {}))


def show(package: str, version: str, target: Target, **kw: object):
    return render(bundled(package), package, version, target, **kw)  # type: ignore[arg-type]


def test_torch_cpu_defaults_and_version_stamp() -> None:
    r = show("torch", "2.6.0", x86())
    assert r.variant == "cpu"
    assert r.env["BUILD_TEST"] == "0"
    assert r.env["USE_CUDA"] == "0"
    assert r.env["USE_NATIVE_ARCH"] == "0"
    assert r.env["PYTORCH_BUILD_VERSION"] == "2.6.0"
    assert r.env["PYTORCH_BUILD_NUMBER"] == "1"
    assert r.command == ("python", "setup.py", "bdist_wheel")
    assert r.provenance["BUILD_TEST"] == "recipes/torch.toml [defaults]"
    assert r.provenance["command"] == "recipes/torch.toml [series 2.6]"
    assert "cmake>=3.18,<4" in r.build_requires
    assert "USE_PRIORITIZED_TEXT_FOR_LD" not in r.env  # x86_64


def test_torch_command_per_series() -> None:
    assert show("torch", "2.13.0", x86()).command == ("python", "setup.py", "bdist_wheel")
    assert show("torch", "2.14.0", x86()).command == (
        "python",
        "-m",
        "build",
        "--wheel",
        "--no-isolation",
    )


def test_dgpu_arch_list_comes_from_the_detected_gpus() -> None:
    r = show("torch", "2.6.0", x86(dgpu("8.9", "8.6", "8.6")))
    assert r.variant == "cuda"
    assert r.env["USE_CUDA"] == "1"
    assert r.env["TORCH_CUDA_ARCH_LIST"] == "8.6;8.9"
    assert r.env["CUDA_HOME"] == "/usr/local/cuda-12.6"
    src = r.provenance["TORCH_CUDA_ARCH_LIST"]
    assert src.startswith("recipes/torch.toml override #1 (cuda == true): ")


def test_cuda_without_known_gpus_says_what_to_pass() -> None:
    with pytest.raises(RecipeError) as info:
        show("torch", "2.6.0", x86(dgpu()))
    assert info.value.message == (
        "env TORCH_CUDA_ARCH_LIST needs {cuda_arch_list}: the target has a CUDA toolkit but no "
        "GPU with a known compute capability"
    )
    assert info.value.hint == "pass the value yourself: --env TORCH_CUDA_ARCH_LIST=8.6"
    r = show("torch", "2.6.0", x86(dgpu()), cli_env={"TORCH_CUDA_ARCH_LIST": "8.0"})
    assert r.env["TORCH_CUDA_ARCH_LIST"] == "8.0"
    assert r.provenance["TORCH_CUDA_ARCH_LIST"] == "--env"


def test_a_cpu_only_variant_on_a_host_with_a_toolkit_needs_no_gpu() -> None:
    # The Debian-source variant turns CUDA off after the CUDA override matched the toolkit: the
    # variables only a CUDA build reads are left out instead of stopping the render.
    r = show("torch", "2.6.0", x86(dgpu()), source_kind="dsc")
    assert r.variant == "cpu"
    assert r.env["USE_CUDA"] == "0"
    assert "TORCH_CUDA_ARCH_LIST" not in r.env
    assert "CUDA_HOME" not in r.env
    assert "TORCH_CUDA_ARCH_LIST" not in r.provenance
    # What the user gives is kept, CUDA or not.
    r = show("torch", "2.6.0", x86(dgpu()), source_kind="dsc", cli_env={"CUDA_HOME": "/opt/cuda"})
    assert r.env["CUDA_HOME"] == "/opt/cuda"


def test_the_debian_source_variant_carries_its_measured_memory_model() -> None:
    plain = show("torch", "2.6.0", x86())
    dsc = show("torch", "2.6.0", x86(), source_kind="dsc")
    assert plain.jobs_estimate is not None
    assert dsc.jobs_estimate is not None
    assert plain.jobs_estimate.per_job_bytes == 3 * GIB
    assert dsc.jobs_estimate.per_job_bytes == 2 * GIB
    assert dsc.memory_source is not None
    assert "1.73 GiB" in dsc.memory_source


@pytest.mark.parametrize(
    ("preset", "arch_list"),
    [("jetson-orin-jp6", "8.7"), ("jetson-thor-jp7", "11.0")],
)
def test_jetson_arch_lists_per_jetpack(preset: str, arch_list: str) -> None:
    target = load_target(preset)
    for package, version in (
        ("torch", "2.6.0"),
        ("torchvision", "0.21.0"),
        ("torchaudio", "2.6.0"),
    ):
        r = show(package, version, target)
        assert r.env["TORCH_CUDA_ARCH_LIST"] == arch_list, package
        assert r.variant == "cuda"


def _with_python(preset: str, version: str) -> Target:
    t = load_target(preset)
    assert t.python is not None
    return replace(t, python=replace(t.python, version=version))


def test_jetpack5_list_and_numpy1() -> None:
    # JetPack 5 ships Python 3.8; torch 2.6 needs 3.9, so give the board a newer Python.
    r = show("torch", "2.6.0", _with_python("jetson-orin-jp5", "3.9.20"))
    assert r.env["TORCH_CUDA_ARCH_LIST"] == "7.2;8.7"
    assert r.env["USE_NCCL"] == "0"
    assert "numpy<2" in r.build_requires
    assert "numpy" not in r.build_requires
    assert "override #" in r.provenance["build-requires:numpy"]


def test_thor_under_cuda_12_is_sm101() -> None:
    t = load_target("jetson-thor-jp7")
    assert t.cuda is not None
    t = replace(t, cuda=replace(t.cuda, toolkit="12.9"))
    assert show("torch", "2.6.0", t).env["TORCH_CUDA_ARCH_LIST"] == "10.1"


def test_jetpack4_is_refused_with_the_reason() -> None:
    with pytest.raises(RecipeError) as info:
        show("torch", "2.6.0", load_target("jetson-nano-jp4"))
    assert "needs Python >=3.9; the target has 3.6.9" in info.value.message
    with pytest.raises(RecipeError) as info:
        show("torch", "2.6.0", _with_python("jetson-nano-jp4", "3.9.20"))
    assert "CUDA build of torch 2.6.0 needs CUDA >=11.0; the target has 10.2" in info.value.message
    assert "--cuda none" in info.value.hint


def test_aarch64_and_pi_settings() -> None:
    r = show("torch", "2.6.0", load_target("rpi5-bookworm-arm64"))
    assert r.env["USE_PRIORITIZED_TEXT_FOR_LD"] == "1"
    assert r.env["BLAS"] == "OpenBLAS"
    assert r.env["USE_DISTRIBUTED"] == "0"
    # 2.6 has no SVE check in FindARM.cmake; newer series get the switch on non-SVE cores.
    assert "BUILD_IGNORE_SVE_UNAVAILABLE" not in r.env
    assert (
        show("torch", "2.9.0", load_target("rpi5-bookworm-arm64")).env[
            "BUILD_IGNORE_SVE_UNAVAILABLE"
        ]
        == "1"
    )
    sve = load_target("rpi5-bookworm-arm64")
    assert sve.cpu is not None
    sve = replace(sve, cpu=replace(sve.cpu, features=(*sve.cpu.features, "sve")))
    assert "BUILD_IGNORE_SVE_UNAVAILABLE" not in show("torch", "2.9.0", sve).env


def test_armv7l_switches() -> None:
    r = show("torch", "2.6.0", load_target("rpi-bookworm-armv7l"))
    for name in ("USE_XNNPACK", "USE_NNPACK", "USE_DISTRIBUTED", "USE_MKLDNN", "USE_FBGEMM"):
        assert r.env[name] == "0", name
    assert "USE_PRIORITIZED_TEXT_FOR_LD" not in r.env


def test_jobs_nano_versus_big_orin() -> None:
    nano = load_target("jetson-nano-jp4")  # 4 GiB + 2 GiB zram
    small = show("my-extension", "1.0", nano)
    assert small.jobs == 1  # (4 + 2 - 1) / 3 = 1.67
    assert small.env["CMAKE_BUILD_PARALLEL_LEVEL"] == "1"
    big = replace(
        load_target("jetson-orin-jp6"),
        resources=Resources(cpus=12, memory_bytes=64 * GIB, swap_bytes=0),
    )
    r = show("torch", "2.6.0", big)
    assert r.jobs == 10  # (64 - 1) / 6 = 10.5
    assert r.env["MAX_JOBS"] == "10"
    assert r.provenance["MAX_JOBS"].startswith("jobs model: (64.0 GiB memory")
    assert r.provenance["memory.per-job-gib"].startswith("recipes/torch.toml override #1")


def test_jobs_can_be_given() -> None:
    r = show("torch", "2.6.0", x86(), jobs=3)
    assert (r.jobs, r.env["MAX_JOBS"], r.provenance["MAX_JOBS"]) == (3, "3", "--jobs")
    r = show("torch", "2.6.0", x86(), cli_env={"MAX_JOBS": "5"})
    assert (r.jobs, r.provenance["jobs"]) == (5, "--env")


def test_patches_follow_the_version() -> None:
    r = show("torchvision", "0.21.0", x86())
    assert [p.file for p in r.patches] == [
        "torchvision/0.21/0001-setup-py-stop-importing-pkg_resources.patch"
    ]
    assert r.patches[0].path.is_file()
    assert show("torchvision", "0.22.0", x86()).patches == ()


def test_torchaudio_io_switches_end_at_2_9() -> None:
    r26 = show("torchaudio", "2.6.0", x86())
    assert (r26.env["BUILD_SOX"], r26.env["USE_FFMPEG"]) == ("0", "0")
    r29 = show("torchaudio", "2.9.0", x86())
    assert "BUILD_SOX" not in r29.env
    assert "USE_FFMPEG" not in r29.env


def test_version_outside_every_series() -> None:
    with pytest.raises(RecipeError) as info:
        show("torch", "2.5.1", x86())
    assert "no recipe series covers torch 2.5.1" in info.value.message
    assert "2.6 (<2.7,>=2.6)" in info.value.hint


def test_unknown_package_uses_the_generic_recipe() -> None:
    r = show("my-extension", "1.2.3", x86(dgpu("8.6")))
    assert r.package == "my-extension"
    assert r.command == ("python", "-m", "build", "--wheel", "--no-isolation")
    assert r.env["FORCE_CUDA"] == "1"
    assert r.env["MAX_JOBS"] == r.env["CMAKE_BUILD_PARALLEL_LEVEL"]
    assert r.layers == ("recipes/generic.toml",)


USER = """
[recipe]
format = 1
package = "torch"

[defaults]
env = { USE_MKLDNN = "1", BUILD_TEST = "1" }

[[overrides]]
reason = "site policy: no distributed"
when = { arch = "x86_64" }
env = { USE_DISTRIBUTED = "0" }
env-unset = ["USE_NATIVE_ARCH"]
build-requires = ["cmake==3.31.6"]
"""


def test_user_layers_and_env_beat_the_bundled_recipe(tmp_path: Path) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    for d in (first, second):
        d.mkdir()
    (first / "torch.toml").write_text(USER)
    (second / "torch.toml").write_text(USER.replace('BUILD_TEST = "1"', 'BUILD_TEST = "2"'))
    r = render_package(
        "torch",
        "2.6.0",
        x86(),
        extra_dirs=[second],
        environ={"TORCHBUILD_RECIPE_PATH": str(first)},
        cli_env={"USE_MKLDNN": "0"},
    )
    assert r.layers == ("recipes/torch.toml", str(first / "torch.toml"), str(second / "torch.toml"))
    assert r.env["BUILD_TEST"] == "2"
    assert r.provenance["BUILD_TEST"] == f"{second / 'torch.toml'} [defaults]"
    assert r.env["USE_MKLDNN"] == "0"
    assert r.provenance["USE_MKLDNN"] == "--env"
    assert r.env["USE_DISTRIBUTED"] == "0"
    assert "site policy" in r.provenance["USE_DISTRIBUTED"]
    assert "USE_NATIVE_ARCH" not in r.env
    assert "cmake==3.31.6" in r.build_requires
    assert "cmake>=3.18,<4" not in r.build_requires


def test_missing_user_dir_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        recipe_dirs([tmp_path / "nope"], {})


def test_only_recipe_files_are_packages() -> None:
    # recipes/ also holds tables of facts (jetson.toml, cuda.toml ...): not recipes.
    assert package_names(recipe_dirs([], {})) == ["torch", "torchaudio", "torchvision"]


def test_json_shape() -> None:
    data = to_json(show("torchaudio", "2.6.0", load_target("jetson-orin-jp6")))
    assert data["version"] == 1
    assert data["package"] == "torchaudio"
    assert data["package_version"] == "2.6.0"
    assert set(data) >= {"env", "build_requires", "command", "jobs", "patches", "provenance"}
    assert data["patches"][0]["sha256"]
    assert data["patches"][0]["reason"]
    assert all(name in data["provenance"] for name in data["env"])
