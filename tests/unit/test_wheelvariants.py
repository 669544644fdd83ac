"""PEP 825 wheel variants: labelled file names, variants.json, and the fit rule on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import pytest
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from data.pypi.replay import gpu, profile
from torchbuild.resolve.candidates import file_version
from torchbuild.resolve.indexes import IndexClient, Response, Source, parse_json
from torchbuild.resolve.indexes.simple import for_project
from torchbuild.resolve.matrix import parse_request
from torchbuild.resolve.plan import make_plan
from torchbuild.resolve.variants import Need, Variant, covers, need_for
from torchbuild.resolve.wheelvariants import (
    Property,
    VariantsError,
    judge,
    label_of,
    parse_variant_wheel,
    parse_variants_json,
    variant_of_properties,
    variants_json_name,
)
from torchbuild.target import load_target

DATA = Path(__file__).parent.parent / "data" / "variants"
FIXTURE = (DATA / "torch-2.8.0-variants.json").read_bytes()
ORIN = need_for(load_target("jetson-orin-jp6"))


# -- file names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "label", "build"),
    [
        ("torch-2.8.0-cp313-cp313-manylinux_2_28_x86_64-cu129.whl", "cu129", ()),
        ("numpy-2.3.2-cp313-cp313t-musllinux_1_2_x86_64-x86_64_v3.whl", "x86_64_v3", ()),
        ("numpy-2.3.2-cp313-cp313t-musllinux_1_2_x86_64-null.whl", "null", ()),
        ("torch-2.8.0-1-cp310-cp310-linux_aarch64-cu126.whl", "cu126", (1, "")),
        ("torch-2.8.0-1-cp310-cp310-linux_aarch64.whl", None, (1, "")),  # a build tag only
        ("torch-2.8.0+cu126-cp310-cp310-linux_aarch64.whl", None, ()),
    ],
)
def test_labels_are_told_from_build_tags(filename, label, build):
    parsed = parse_variant_wheel(filename)
    assert label_of(filename) == parsed.label == label
    assert parsed.build == build
    assert parsed.name in ("torch", "numpy")
    assert file_version(filename) == (parsed.version, parsed.tags)


def test_packaging_alone_rejects_a_label():
    """Why torchbuild parses the label itself."""
    with pytest.raises(InvalidWheelFilename):
        parse_wheel_filename("torch-2.8.0-cp313-cp313-manylinux_2_28_x86_64-cu129.whl")


def test_a_bad_label_is_refused():
    with pytest.raises(VariantsError, match="variant label"):
        parse_variant_wheel("torch-2.8.0-cp313-cp313-manylinux_2_28_x86_64-CU129.whl")


def test_variants_json_name_is_normalised_like_wheels():
    assert variants_json_name("Foo-Bar", Version("1.02")) == "foo_bar-1.2-variants.json"


def test_index_parsers_keep_variant_wheels_and_variants_json():
    page = {
        "files": [
            {"filename": "torch-2.8.0-variants.json", "url": "torch-2.8.0-variants.json"},
            {"filename": "torch-2.8.0-cp310-cp310-linux_aarch64-cu126.whl", "url": "a.whl"},
            {"filename": "torchvision-0.23.0-variants.json", "url": "v.json"},
        ]
    }
    files = parse_json(json.dumps(page).encode(), "https://example.org/simple/torch/")
    assert [f.filename for f in for_project(files, "torch")] == [
        "torch-2.8.0-variants.json",
        "torch-2.8.0-cp310-cp310-linux_aarch64-cu126.whl",
    ]


# -- variants.json -----------------------------------------------------------------------------


def test_the_recorded_file_parses():
    parsed = parse_variants_json(FIXTURE)
    assert parsed.namespaces == ("nvidia",)
    assert [label for label, _ in parsed.variants] == ["null", "cu126", "cu128", "cu129"]
    assert parsed.properties("null") == ()
    props = parsed.properties("cu126")
    assert props is not None
    assert Property("nvidia", "cuda_version_lower_bound", "12.6") in props
    assert str(props[0]) == "nvidia :: cuda_version_lower_bound :: 12.6"
    assert parsed.properties("cu999") is None


def _broken(**changes: object) -> dict[str, object]:
    data = json.loads(FIXTURE)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "top level"),
        (b"{", "not JSON"),
        (_broken(**{"default-priorities": {}}), "default-priorities.namespace"),
        (_broken(variants={"cu126": {"amd": {"x": ["1"]}}}), "missing from default-priorities"),
        (_broken(variants={"CU126": {}}), "variant label"),
        (_broken(variants={"cu126": {"nvidia": {"sm_arch": ["87 real"]}}}), "does not match"),
        (_broken(variants={"cu126": {"nvidia": {"sm_arch": "87_real"}}}), "list of strings"),
        (_broken(**{"$schema": "https://example.org/peps/825/v2.0.0.json"}), "not supported"),
    ],
)
def test_malformed_files_are_refused(data, message):
    with pytest.raises(VariantsError, match=message):
        parse_variants_json(data if isinstance(data, bytes) else json.dumps(data))


# -- the fit rule ------------------------------------------------------------------------------


def _props(label: str) -> tuple[Property, ...]:
    found = parse_variants_json(FIXTURE).properties(label)
    assert found is not None
    return found


def test_properties_map_to_cuda_sass_and_ptx():
    variant = variant_of_properties(_props("cu129"), Variant("unknown", family="pytorch"))
    assert variant.kind == "cuda"
    assert variant.cuda == "12.9"
    assert set(variant.sass or ()) == {"10.0", "12.0", "7.5", "8.0", "8.6", "9.0"}
    assert variant.ptx == ("12.0",)
    assert variant.family == "pytorch"
    assert variant_of_properties((), Variant("unknown")).kind == "cpu"  # the null variant


def test_tegra_rule_refuses_what_a_generic_provider_offers_an_orin():
    variant = variant_of_properties(_props("cu126"), Variant("unknown", platform="tegra"))
    # NVIDIA's generic provider accepts 80_real for an 8.7 GPU, as for a discrete one ...
    assert covers(variant, "8.7", tegra=False) is True
    # ... but an Orin has no binary compatibility between SM versions.
    assert covers(variant, "8.7", tegra=True) is False
    _, found, _ = judge(_props("cu126"), Variant("unknown", platform="tegra"), ORIN)
    assert [p.code for p in found] == ["gpu-arch"]
    assert "sm_87" in found[0].text


def test_ptx_of_a_lower_arch_is_fine_on_tegra():
    props = (
        Property("nvidia", "cuda_version_lower_bound", "12.6"),
        Property("nvidia", "sm_arch", "80_virtual"),
    )
    _, found, _ = judge(props, Variant("unknown", platform="tegra"), ORIN)
    assert found == []


def test_driver_bounds():
    need = Need("cuda", driver_cuda="12.8", capabilities=("8.6",), platform="x86_64", why="t")
    _, ok, _ = judge(_props("cu128"), Variant("unknown"), need)
    assert ok == []
    # A newer minor of the same major runs through CUDA minor-version compatibility ...
    _, found, notes = judge(_props("cu129"), Variant("unknown"), need)
    assert found == []
    assert any("minor-version compatibility" in n for n in notes)
    # ... a newer major does not.
    older = Need("cuda", driver_cuda="11.8", capabilities=("8.6",), platform="x86_64", why="t")
    _, found, _ = judge(_props("cu126"), Variant("unknown"), older)
    assert [p.code for p in found] == ["driver"]
    upper = (
        *_props("cu126"),
        Property("nvidia", "cuda_version_upper_bound", "12.8"),
    )
    _, found, _ = judge(upper, Variant("unknown"), need)
    assert [p.code for p in found] == ["driver"]
    assert "below 12.8" in found[0].text


def test_unknown_properties_cannot_be_checked():
    props = (*_props("cu128"), Property("nvidia", "cudnn_version", "9"))
    need = Need("cuda", driver_cuda="12.9", capabilities=("8.6",), why="t")
    _, found, _ = judge(props, Variant("unknown"), need)
    assert [p.code for p in found] == ["variant-property"]
    assert "`nvidia :: cudnn_version :: 9`" in found[0].text
    cpu = Need("cpu", why="no NVIDIA GPU")
    _, found, notes = judge((Property("x86_64", "level", "v3"),), Variant("unknown"), cpu)
    assert found == []
    assert notes == ["not checked: x86_64 :: level :: v3"]


# -- in the plan -------------------------------------------------------------------------------

INDEX = "https://variants.example/simple"
WHEELS = [
    f"torch-2.8.0-cp310-cp310-manylinux_2_28_aarch64-{label}.whl"
    for label in ("null", "cu126", "cu128", "cu129")
] + [
    f"torch-2.8.0-cp311-cp311-manylinux_2_28_x86_64-{label}.whl"
    for label in ("null", "cu126", "cu128", "cu129")
]


class Index:
    """A PEP 691 index with torch 2.8.0's variant wheels and its variants.json."""

    def __init__(self, variants_json: bytes | None = FIXTURE) -> None:
        self.variants_json = variants_json
        self.calls: list[str] = []

    def __call__(self, url: str, _headers: Mapping[str, str], _timeout: float) -> Response:
        self.calls.append(url)
        if url == f"{INDEX}/torch/":
            files = [{"filename": w, "url": w, "hashes": {}} for w in WHEELS]
            if self.variants_json is not None:
                files.append({"filename": "torch-2.8.0-variants.json", "url": "v.json"})
            body = json.dumps({"meta": {"api-version": "1.1"}, "files": files}).encode()
            return Response(200, url, {"content-type": "application/vnd.pypi.simple.v1+json"}, body)
        if url == f"{INDEX}/torch/v.json" and self.variants_json is not None:
            return Response(200, url, {"content-type": "application/json"}, self.variants_json)
        return Response(404, url, {}, b"")


def _plan(target, index: Index):
    return make_plan(
        target,
        [parse_request("torch==2.8.0")],
        sources=[Source("index", INDEX, "test")],
        client=IndexClient(transport=index),
    )


def test_plan_takes_the_variant_that_fits_an_x86_gpu():
    target = profile(cuda=gpu("8.6", "12.8"))
    index = Index()
    [decision] = _plan(target, index).decisions
    assert decision.action == "prebuilt"
    assert decision.wheel is not None
    label = decision.wheel.filename.rsplit("-", 1)[1][: -len(".whl")]
    assert decision.wheel.filename.startswith("torch-2.8.0-cp311-cp311-manylinux_2_28_x86_64-")
    assert label in ("cu126", "cu128")  # cu129 needs a newer driver; null is CPU only
    assert f"variant {label}: nvidia :: cuda_version_lower_bound :: 12." in decision.reason
    assert index.calls.count(f"{INDEX}/torch/v.json") == 1  # read once for all eight wheels


def test_plan_builds_for_an_orin_and_says_which_variants_failed():
    target = load_target("jetson-orin-jp6")
    [decision] = _plan(target, Index()).decisions
    assert decision.action == "build"
    assert "variant cu126" in decision.reason
    assert "without sm_87 kernels" in decision.reason


def test_plan_refuses_variant_wheels_it_cannot_read():
    target = profile(cuda=gpu("8.6", "12.8"))
    [decision] = _plan(target, Index(variants_json=None)).decisions
    assert decision.action == "build"
    assert "links no torch-2.8.0-variants.json" in decision.reason
    [decision] = _plan(target, Index(variants_json=b"{}")).decisions
    assert decision.action == "build"
    assert "torch-2.8.0-variants.json is not valid" in decision.reason


def test_cpu_target_takes_the_null_variant():
    [decision] = _plan(profile(), Index()).decisions
    assert decision.action == "prebuilt"
    assert decision.wheel is not None
    assert decision.wheel.filename.startswith("torch-2.8.0-cp311-cp311-manylinux_2_28_x86_64-")
