"""Wheel variants and whether they work on a target: the facts in recipes/variants.toml."""

from __future__ import annotations

import pytest
from packaging.version import Version

from data.pypi.replay import PYPI, gpu, profile
from torchbuild.errors import InputError
from torchbuild.resolve import variants
from torchbuild.resolve.indexes import Source
from torchbuild.resolve.variants import Variant
from torchbuild.target import load_target


def test_every_pypi_cuda_row_has_an_arch_list() -> None:
    facts = variants.load_facts()
    for arch, _, cuda in facts.pypi:
        if cuda == "none":
            continue
        platform = {"x86_64": "x86_64", "aarch64": "sbsa"}[arch]
        assert (platform, cuda) in facts.arch_lists, (arch, cuda)


def test_driver_table_is_monotonic() -> None:
    from packaging.version import Version

    from torchbuild import resources
    from torchbuild.detect.cuda import driver_cuda_for

    table = resources.table("cuda")["driver_minimum"]
    by_cuda = sorted(table.items(), key=lambda kv: Version(kv[0]))
    minimums = [Version(m) for _, m in by_cuda]
    assert minimums == sorted(minimums)
    assert driver_cuda_for("560.35.03") == "12.6"
    assert driver_cuda_for("580.65.06") == "13.0"
    assert driver_cuda_for("400.1") is None


@pytest.mark.parametrize(
    ("label", "kind", "cuda", "sass", "family"),
    [
        ("cpu", "cpu", None, None, "local"),
        ("cu128", "cuda", "12.8", None, "local"),
        ("cu130", "cuda", "13.0", None, "local"),
        ("cu126.sm87", "cuda", "12.6", ("8.7",), "torchbuild"),
        ("cu130.sm87.sm110", "cuda", "13.0", ("8.7", "11.0"), "torchbuild"),
        ("rocm6.4", "rocm", None, None, "local"),
        ("872d972e41.nv24.08", "cuda", None, None, "nvidia"),
    ],
)
def test_local_labels(
    label: str, kind: str, cuda: str | None, sass: tuple[str, ...] | None, family: str
) -> None:
    v = variants.variant_of_label(label)
    assert v is not None
    assert (v.kind, v.cuda, v.sass, v.family) == (kind, cuda, sass, family)


def test_labels_that_say_nothing() -> None:
    assert variants.variant_of_label(None) is None
    assert variants.variant_of_label("git1234abc") is None


@pytest.mark.parametrize(
    ("project", "version", "arch", "torch_for", "kind", "cuda"),
    [
        ("torch", "2.13.0", "aarch64", None, "cuda", "13.0"),
        ("torch", "2.10.0", "aarch64", None, "cpu", None),  # CPU through 2.10 on aarch64
        ("torch", "2.11.0", "aarch64", None, "cuda", "13.0"),
        ("torch", "2.15.0", "aarch64", None, "cuda", "13.2"),
        ("torch", "2.8.0", "x86_64", None, "cuda", "12.8"),
        ("torch", "2.5.1", "x86_64", None, "cuda", "12.4"),
        ("torch", "1.13.1", "x86_64", None, "cuda", "11.7"),
        ("torchvision", "0.24.1", "x86_64", "2.9.1", "cuda", "12.8"),
        ("torchvision", "0.29.2", "x86_64", "2.14.0", "cuda", "13.2"),  # the exception row
        ("torchaudio", "2.9.1", "aarch64", "2.9.1", "cpu", None),
    ],
)
def test_pypi_variants_as_recorded_from_the_wheels(
    project: str, version: str, arch: str, torch_for: str | None, kind: str, cuda: str | None
) -> None:
    v, evidence = variants.wheel_variant(
        project, Version(version), arch, PYPI, torch_for=Version(torch_for) if torch_for else None
    )
    assert (v.kind, v.cuda, v.family) == (kind, cuda, "pypi")
    assert evidence == f"PyPI's {project} {version} for {arch}"


def test_pypi_aarch64_cuda_build_has_no_sm87() -> None:
    v, _ = variants.wheel_variant("torch", Version("2.13.0"), "aarch64", PYPI)
    assert v.platform == "sbsa"
    assert v.sass == ("8.0", "9.0", "10.0", "11.0", "12.0")
    assert v.ptx == ("12.0",)
    assert not v.uncertain


def test_index_recognised_by_its_path() -> None:
    facts = variants.load_facts()
    cu126 = Source("index", "https://mirror.invalid/whl/cu126", "test")
    v, evidence = variants.wheel_variant("torch", Version("2.7.1"), "x86_64", cu126, facts=facts)
    assert (v.kind, v.cuda, v.family) == ("cuda", "12.6", "pytorch")
    assert evidence == "the PyTorch cu126 index's torch 2.7.1 for x86_64"
    labelled, _ = variants.wheel_variant("torch", Version("2.7.1+cpu"), "x86_64", cu126)
    assert labelled.kind == "cpu"
    for url in ("https://jetson.invalid/jp6/cu126", "https://jetson.invalid/jp6/cu126/+simple/"):
        source = Source("index", url, "test")
        v, evidence = variants.wheel_variant("torch", Version("2.8.0"), "aarch64", source)
        assert (v.kind, v.cuda, v.platform, v.family) == ("cuda", "12.6", "tegra", "jetson")
        assert v.sass == ("8.7",)
        assert "jp6/cu126" in evidence
    elsewhere = Source("index", "https://jetson.invalid/jp6/other", "test")
    other, _ = variants.wheel_variant("torch", Version("2.8.0"), "aarch64", elsewhere)
    assert other.kind == "unknown"


def test_local_wheel_without_a_label_is_unknown() -> None:
    wh = Source("wheelhouse", "/wh", "test")
    v, evidence = variants.wheel_variant("torch", Version("2.8.0"), "aarch64", wh)
    assert v.kind == "unknown"
    assert "the wheelhouse /wh" in evidence


def test_need_for_presets() -> None:
    jp6 = variants.need_for(load_target("jetson-orin-jp6"))
    assert (jp6.kind, jp6.driver_cuda, jp6.platform, jp6.capabilities, jp6.jetson) == (
        "cuda",
        "12.6",
        "tegra",
        ("8.7",),
        True,
    )
    thor = variants.need_for(load_target("jetson-thor-jp7"))
    assert (thor.platform, thor.driver_cuda, thor.capabilities) == ("sbsa", "13.0", ("11.0",))
    pi = variants.need_for(load_target("rpi5-bookworm-arm64"))
    assert pi.kind == "cpu"
    assert variants.need_for(load_target("jetson-orin-jp6"), "none").kind == "cpu"
    exact = variants.need_for(load_target("jetson-orin-jp6"), "12.8")
    assert (exact.kind, exact.exact_cuda) == ("cuda", "12.8")
    with pytest.raises(InputError):
        variants.need_for(pi, "twelve")


def test_need_fills_gaps_from_the_tables() -> None:
    # A Jetson profile without GPU list or driver CUDA: SoC and L4T answer.
    target = profile(arch="aarch64", jetson={"l4t": "36.4.3", "jetpack": "6.2", "soc": "tegra234"})
    need = variants.need_for(target)
    assert (need.kind, need.capabilities, need.driver_cuda, need.platform) == (
        "cuda",
        ("8.7",),
        "12.6",
        "tegra",
    )
    # A discrete GPU with only the driver version known.
    x86 = profile(
        cuda={"driver": "570.133.07", "gpus": [{"name": "RTX", "compute_capability": "8.9"}]}
    )
    assert variants.need_for(x86).driver_cuda == "12.8"


@pytest.mark.parametrize(
    ("sass", "ptx", "capability", "tegra", "expected"),
    [
        (("8.0",), (), "8.6", False, True),  # same major, later minor: dGPU binary compatible
        (("8.0",), (), "8.7", True, False),  # not on Tegra
        (("8.0", "9.0", "10.0", "11.0", "12.0"), ("12.0",), "8.7", True, False),
        (("8.0", "9.0", "10.0", "11.0", "12.0"), ("12.0",), "11.0", False, True),
        ((), ("12.0",), "12.1", False, True),  # PTX JIT-compiles forward
        ((), ("9.0",), "8.9", False, False),  # never backward
        (("9.0a",), (), "9.0", False, True),
        (("9.0a",), (), "9.1", False, False),  # arch-specific code runs only on its own GPU
        (("5.0", "6.0", "7.0"), (), "6.1", False, True),
    ],
)
def test_covers(
    sass: tuple[str, ...], ptx: tuple[str, ...], capability: str, tegra: bool, expected: bool
) -> None:
    assert variants.covers(Variant("cuda", "13.0", sass, ptx), capability, tegra=tegra) is expected


def test_unknown_arch_list_is_not_a_verdict() -> None:
    assert variants.covers(Variant("cuda", "12.6"), "8.7", tegra=True) is None


def test_the_issue_sentence_for_an_orin() -> None:
    need = variants.need_for(load_target("jetson-orin-jp6"))
    v, evidence = variants.wheel_variant("torch", Version("2.13.0"), "aarch64", PYPI)
    found, _ = variants.problems(v, need)
    assert {p.code for p in found} == {"gpu-arch", "driver", "platform"}
    text = variants.explain(evidence, v, found)
    assert text.startswith(
        "PyPI's torch 2.13.0 for aarch64 is a CUDA 13.0 build without sm_87 kernels, "
        "and this Jetson's driver supports CUDA 12.6"
    )
    assert "server-Arm (SBSA)" in text


def test_thor_runs_the_pypi_cuda_13_0_build() -> None:
    need = variants.need_for(load_target("jetson-thor-jp7"))
    v, _ = variants.wheel_variant("torch", Version("2.13.0"), "aarch64", PYPI)
    assert variants.problems(v, need)[0] == []
    newer, _ = variants.wheel_variant("torch", Version("2.15.0"), "aarch64", PYPI)
    assert [p.code for p in variants.problems(newer, need)[0]] == ["driver"]


def test_cpu_build_on_a_gpu_target_and_cuda_build_on_a_cpu_target() -> None:
    gpu_need = variants.need_for(profile(cuda=gpu("8.6", "12.8")))
    cpu_need = variants.need_for(profile())
    cpu = Variant("cpu")
    cuda = Variant("cuda", "12.8", ("8.0", "8.6"))
    assert [p.code for p in variants.problems(cpu, gpu_need)[0]] == ["cpu-only"]
    assert variants.problems(cuda, cpu_need)[0] == []
    assert variants.problems(cuda, gpu_need)[0] == []
    assert [p.code for p in variants.problems(Variant("unknown"), gpu_need)[0]] == ["unknown"]
    assert [p.code for p in variants.problems(Variant("rocm"), cpu_need)[0]] == ["rocm"]


def test_exact_cuda_request() -> None:
    need = variants.need_for(profile(cuda=gpu("8.6", "13.0")), "12.8")
    found, _ = variants.problems(Variant("cuda", "13.0", ("8.6",)), need)
    assert [p.code for p in found] == ["cuda-exact"]


def test_planned_variant_labels() -> None:
    jp6 = variants.need_for(load_target("jetson-orin-jp6"))
    assert variants.planned_variant(jp6).label == "cu126.sm87"
    assert variants.planned_variant(variants.need_for(profile())).label == "cpu"


def test_pairing() -> None:
    official = Variant("cuda", "13.0", family="pypi")
    other_index = Variant("cuda", "13.0", family="pytorch")
    mine = Variant("cuda", "12.6", ("8.7",), family="torchbuild", label="cu126.sm87")
    assert variants.pairing_problem(official, other_index, stable_abi=False) is None
    assert variants.pairing_problem(official, mine, stable_abi=False) is not None
    same_mine = Variant("cuda", "12.6", ("8.7",), family="torchbuild", label="cu126.sm87")
    assert variants.pairing_problem(same_mine, mine, stable_abi=False) is None
    # Stable ABI: any family, same CUDA major.
    cu132 = Variant("cuda", "13.2", family="torchbuild", label="cu132.sm110")
    assert variants.pairing_problem(official, cu132, stable_abi=True) is None
    assert variants.pairing_problem(official, cu132, stable_abi=False) is not None
    assert variants.pairing_problem(Variant("cpu", family="pypi"), official, stable_abi=True)


def test_minor_version_compatibility_on_a_desktop_driver() -> None:
    # Driver 535 (CUDA 12.2) and an RTX 3090: PyTorch's cu126 and cu128 builds run on it, CUDA 13
    # builds need driver 580.
    need = variants.need_for(
        profile(
            cuda={
                "driver": "535.183.01",
                "driver_cuda": "12.2",
                "gpus": [{"name": "RTX 3090", "compute_capability": "8.6"}],
            }
        )
    )
    assert need.driver == "535.183.01"
    cu126 = Variant("cuda", "12.6", ("5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"))
    found, notes = variants.problems(cu126, need)
    assert found == []
    assert any("minor-version compatibility" in n for n in notes)
    found, _ = variants.problems(Variant("cuda", "13.0", ("7.5", "8.0", "8.6")), need)
    assert [p.code for p in found] == ["driver"]
    # A build whose only code for the GPU is PTX from a newer toolkit cannot be JIT-compiled.
    found, _ = variants.problems(Variant("cuda", "12.8", ("9.0",), ("8.0",)), need)
    assert [p.code for p in found] == ["driver"]
    assert "PTX" in found[0].text


def test_minor_version_rule_by_driver_version_and_reported_cuda() -> None:
    assert variants.driver_runs("12.8", driver="525.60.13", driver_cuda="12.0")
    assert not variants.driver_runs("12.8", driver="520.61.05", driver_cuda="11.8")
    assert variants.driver_runs("11.8", driver="450.80.02", driver_cuda="11.0")
    assert not variants.driver_runs("13.0", driver="575.51.03", driver_cuda="12.9")
    assert variants.driver_runs("13.2", driver="580.65.06", driver_cuda="13.0")
    # Only the reported CUDA known: the major decides; 11.0 itself is not covered by the rule.
    assert variants.driver_runs("12.9", driver=None, driver_cuda="12.2")
    assert not variants.driver_runs("12.1", driver=None, driver_cuda="11.8")
    assert variants.driver_runs("11.0", driver=None, driver_cuda="11.0")
    assert not variants.driver_runs("11.1", driver=None, driver_cuda="11.0")
    assert variants.driver_runs("12.4", driver=None, driver_cuda=None)


def test_no_minor_version_compatibility_on_a_jetson() -> None:
    # L4T's driver is not a desktop driver: a CUDA 12.8 build does not run on JetPack 6's 12.6.
    need = variants.need_for(load_target("jetson-orin-jp6"))
    assert need.driver is None
    found, _ = variants.problems(Variant("cuda", "12.8", ("8.7",), platform="tegra"), need)
    assert [p.code for p in found] == ["driver"]


def test_index_facts_name_known_families_only() -> None:
    from typing import get_args

    from torchbuild.resolve.variants import Family, _family, load_facts

    assert {p.family for p in load_facts().indexes} <= set(get_args(Family))
    with pytest.raises(ValueError, match="unknown wheel family 'conda'"):
        _family("conda")


def _torch_requires(filename: str) -> list[str]:
    import json
    from pathlib import Path

    from packaging.metadata import Metadata

    recorded = Path(__file__).parents[1] / "data" / "pypi" / "torch-metadata.json"
    text = json.loads(recorded.read_text(encoding="utf-8"))[filename]
    return [str(r) for r in Metadata.from_email(text, validate=False).requires_dist or []]


@pytest.mark.parametrize(
    ("filename", "arch", "expected"),
    [
        # cuda-toolkit[...]==13.2.2 (the newer form)
        ("torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl", "x86_64", "13.2"),
        ("torch-2.15.0-cp311-cp311-manylinux_2_28_aarch64.whl", "aarch64", "13.2"),
        ("torch-2.14.1-cp312-cp312-manylinux_2_28_aarch64.whl", "aarch64", "13.0"),
        # nvidia-cuda-runtime-cu12==12.8.90, for x86_64 only: a CPU build on aarch64
        ("torch-2.10.0-cp311-cp311-manylinux_2_28_x86_64.whl", "x86_64", "12.8"),
        ("torch-2.10.0-cp311-cp311-manylinux_2_28_aarch64.whl", "aarch64", "none"),
    ],
)
def test_cuda_read_from_a_wheels_own_metadata(filename: str, arch: str, expected: str) -> None:
    from torchbuild.resolve.pairing import marker_environment

    env = marker_environment(profile(arch=arch))
    assert variants.cuda_of_requirements(_torch_requires(filename), env) == expected
    # ... and it agrees with the facts table for these releases.
    version = Version(filename.split("-")[1])
    table, _ = variants.wheel_variant("torch", version, arch, PYPI)
    assert (table.cuda if table.kind == "cuda" else "none") == expected


def test_a_wheels_metadata_outranks_the_facts_table() -> None:
    # The table is kept by hand; a release it does not know yet says more in its METADATA.
    table = Variant("cuda", "13.2", family="pypi")
    found, evidence = variants.with_metadata_cuda(
        table, "PyPI's torch 2.16.0 for x86_64", "13.3", "x86_64"
    )
    assert (found.kind, found.cuda) == ("cuda", "13.3")
    assert evidence.endswith("(its METADATA requires CUDA 13.3)")
    same, words = variants.with_metadata_cuda(table, "PyPI's torch", "13.2", "x86_64")
    assert (same, words) == (table, "PyPI's torch")
    cpu, words = variants.with_metadata_cuda(table, "PyPI's torch", "none", "aarch64")
    assert cpu.kind == "cpu"
    assert "for other machines only" in words
    assert variants.with_metadata_cuda(table, "e", None, "x86_64") == (table, "e")
    # No CUDA requirement at all says nothing (old wheels bundled their CUDA libraries).
    assert variants.cuda_of_requirements(["numpy", "sympy>=1.13"], {}) is None
