"""Every real capture in tests/data/detect parses to the facts a person reads off it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from torchbuild.detect import board, cuda, host, jetson, toolchain

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DATA = Path(__file__).parents[1] / "data" / "detect"


def cases(name: str) -> list[Any]:
    with (DATA / f"{name}.toml").open("rb") as fh:
        data = tomllib.load(fh)
    raw = data.get("case", data.get("cases"))
    return [
        pytest.param(c, id=c.get("name") or c.get("text", "")[:40])
        if isinstance(c, dict)
        else pytest.param(c, id=c[0])
        for c in raw
    ]


def as_device_file(case: dict[str, Any]) -> bytes:
    """The bytes of the file on the device: captures end in newline, NUL, or nothing."""
    text: str = case["text"]
    ending = case.get("ending", "newline")
    if ending == "none":
        return text.rstrip("\n").encode()
    if ending == "nul":
        return text.rstrip("\n").encode() + b"\x00"
    return text.encode() if text.endswith("\n") else (text + "\n").encode()


@pytest.mark.parametrize("case", cases("nv_tegra_release"))
def test_nv_tegra_release(case: dict[str, Any]) -> None:
    release = jetson.parse_nv_tegra_release(as_device_file(case).decode())
    assert release is not None
    assert release.l4t == case["l4t"]
    assert release.board == case["board"]
    assert jetson.jetpack_for(release.l4t) == case["jetpack"]


def test_placeholder_release_lines_are_not_mistaken_for_real_ones() -> None:
    # Docs use placeholders; they still name a release, but never a usable board/SoC.
    release = jetson.parse_nv_tegra_release(
        "# R35 (release), REVISION: 1.0, GCID: 12345678, BOARD: t186ref"
    )
    assert release is not None
    assert release.l4t == "35.1.0"
    assert jetson.parse_nv_tegra_release("Ubuntu 22.04.5 LTS") is None


@pytest.mark.parametrize("case", cases("models"))
def test_board_model(case: dict[str, Any]) -> None:
    model = board.clean_model(as_device_file(case))
    assert model == case["text"]
    assert jetson.soc_from_text(model) is None or "Jetson" not in model  # a model names no SoC id
    assert jetson._soc_from_model(model) == case.get("soc")
    facts = board.board_facts(model)
    if "family" in case:
        assert facts is not None
        assert (facts.family, facts.cpu, facts.arch32) == (
            case["family"],
            case["cpu"],
            case["arch32"],
        )
    else:
        assert facts is None


@pytest.mark.parametrize("case", cases("compatible"))
def test_compatible(case: dict[str, Any]) -> None:
    text = case["text"].replace(" ", "\x00") if case.get("nul_separated") else case["text"]
    entries = jetson.parse_compatible(text.encode() + b"\x00")
    assert jetson.soc_from_text(" ".join(entries)) == case["soc"]


@pytest.mark.parametrize("case", cases("nvcc"))
def test_nvcc(case: dict[str, Any]) -> None:
    parsed = cuda.parse_nvcc_version(case["text"])
    if "toolkit" not in case:
        assert parsed is None
    else:
        assert parsed == (case["toolkit"], case["full"])


@pytest.mark.parametrize("case", cases("nvidia_smi"))
def test_nvidia_smi(case: dict[str, Any]) -> None:
    header = cuda.parse_nvidia_smi(case["text"])
    if case.get("absent"):
        assert header is None
        return
    assert header is not None
    assert header.driver == case.get("driver")
    assert header.cuda == case.get("cuda")
    assert list(header.gpus) == case["gpus"]


@pytest.mark.parametrize("case", cases("query_gpu"))
def test_query_gpu(case: dict[str, Any]) -> None:
    rows = cuda.parse_query_gpu(case["text"])
    if case.get("refused"):
        assert rows is None
        return
    assert rows is not None
    assert [{k: v for k, v in r.items() if v is not None} for r in rows] == case["rows"]


@pytest.mark.parametrize("case", cases("toolchain"))
def test_toolchain_versions(case: dict[str, Any]) -> None:
    if case["tool"] == "ldd":
        libc = host.parse_ldd_version(case["text"])
        assert libc is not None
        assert (libc.name, libc.version) == (case.get("libc", "glibc"), case["version"])
    else:
        assert toolchain.PARSERS[case["tool"]](case["text"]) == case["version"]


@pytest.mark.parametrize("case", cases("cpuinfo"))
def test_cpuinfo(case: dict[str, Any]) -> None:
    cpu = host.parse_cpuinfo(case["text"])
    assert cpu is not None
    assert cpu.model == case["model"]
    assert ("atomics" in cpu.features) == case["atomics"]


@pytest.mark.parametrize("case", cases("uname"))
def test_normalize_arch(case: list[str]) -> None:
    assert host.normalize_arch(case[0]) == case[1]


def test_cuda_version_files() -> None:
    version_json = (
        '{"cuda": {"name": "CUDA SDK", "version": "12.6.3"},'
        ' "cuda_nvcc": {"name": "CUDA NVCC", "version": "12.6.85"}}'
    )
    assert cuda.parse_version_json(version_json) == "12.6"
    assert cuda.parse_version_json("not json") is None
    assert cuda.parse_version_txt("CUDA Version 10.2.300\n") == "10.2"


def test_cudnn_header() -> None:
    header = "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 0\n"
    assert cuda.parse_cudnn_header(header) == "9.3.0"
    assert cuda.parse_cudnn_header("#define CUDNN_MAJOR 9\n") is None


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        ("460.39", "11.2"),
        ("535.104.05", "12.2"),
        ("550.40.07", "12.4"),
        ("570.133.07", "12.8"),
        ("580.159.03", "13.0"),
        ("610.43.02", "13.2"),
        ("390.48", None),
        ("N/A", None),
    ],
)
def test_driver_cuda_table(driver: str, expected: str | None) -> None:
    assert cuda.driver_cuda_for(driver) == expected


@pytest.mark.parametrize(
    ("l4t", "expected"),
    [
        ("32.7.4", "10.2"),
        ("35.6.0", "11.4"),
        ("36.3.0", "12.2"),
        ("36.4.7", "12.6"),
        ("36.5.2", "12.6"),
        ("38.2.0", "13.0"),
        ("39.2.0", "13.2"),
        ("40.0.0", None),
    ],
)
def test_l4t_driver_cuda(l4t: str, expected: str | None) -> None:
    assert jetson.driver_cuda_for_l4t(l4t) == expected


def test_thor_capability_depends_on_cuda() -> None:
    # CUDA 13.0 renumbered Thor from sm_101 to sm_110.
    assert cuda.jetson_gpu("tegra264", "13.0").compute_capability == "11.0"  # type: ignore[union-attr]
    assert cuda.jetson_gpu("tegra264", "12.9").compute_capability == "10.1"  # type: ignore[union-attr]
    assert cuda.jetson_gpu("tegra999", "12.9") is None
