"""Index pages and the prune policy: pure functions of manifest entries."""

from __future__ import annotations

import json

import pytest

from torchbuild.wheelhouse import Entry
from torchbuild.wheelhouse.manifest import dump_manifest, load_manifest
from torchbuild.wheelhouse.pages import project_html, project_json, root_html, root_json
from torchbuild.wheelhouse.policy import platform_family, select_prune


def entry(filename: str, requires_python: str | None = None, size: int = 10) -> Entry:
    return Entry(
        filename, "a" * 64, size, requires_python, "b" * 64, "test", "2025-01-01T00:00:00.000000Z"
    )


def test_html_escapes_and_encodes():
    page = project_html(
        "torch", [entry("torch-2.6.0+cpu-cp311-cp311-linux_x86_64.whl", ">=3.9,<4")]
    ).decode()
    assert 'href="torch-2.6.0%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256=' + "a" * 64 + '"' in page
    assert 'data-requires-python="&gt;=3.9,&lt;4"' in page
    assert f'data-core-metadata="sha256={"b" * 64}"' in page
    assert f'data-dist-info-metadata="sha256={"b" * 64}"' in page
    assert '<meta name="pypi:repository-version" content="1.1">' in page
    assert page.startswith("<!DOCTYPE html>")


def test_no_requires_python_attribute_when_absent():
    page = project_html("demo", [entry("demo-1.0-py3-none-any.whl")]).decode()
    assert "data-requires-python" not in page


def test_json_page_pep691_pep700():
    data = json.loads(
        project_json(
            "torch",
            [
                entry("torch-2.10.0+cpu-cp311-cp311-linux_x86_64.whl", ">=3.10"),
                entry("torch-2.9.0+cpu-cp311-cp311-linux_x86_64.whl"),
            ],
        )
    )
    assert data["meta"] == {"api-version": "1.1"}
    assert data["versions"] == ["2.9.0+cpu", "2.10.0+cpu"]  # version order, not string order
    first = data["files"][0]
    assert first["url"] == "torch-2.10.0%2Bcpu-cp311-cp311-linux_x86_64.whl"
    assert first["requires-python"] == ">=3.10"
    assert first["hashes"] == {"sha256": "a" * 64}
    assert first["core-metadata"] == first["dist-info-metadata"] == {"sha256": "b" * 64}
    assert first["upload-time"].endswith("Z")
    assert "requires-python" not in data["files"][1]


def test_rendering_is_deterministic():
    a = [entry("demo-1.0-py3-none-any.whl"), entry("demo-2.0-py3-none-any.whl")]
    assert project_html("demo", a) == project_html("demo", list(reversed(a)))
    assert project_json("demo", a) == project_json("demo", list(reversed(a)))
    assert root_html(["b", "a"]) == root_html(["a", "b"])
    assert json.loads(root_json(["b", "a"]))["projects"] == [{"name": "a"}, {"name": "b"}]


def test_manifest_round_trip_and_refusals():
    entries = {e.filename: e for e in [entry("demo-1.0-py3-none-any.whl", ">=3.8")]}
    text = dump_manifest("demo", entries).decode()
    assert load_manifest(text, "demo") == entries
    with pytest.raises(ValueError, match="not 'other'"):
        load_manifest(text, "other")
    with pytest.raises(ValueError, match="version 1"):
        load_manifest("[]", "demo")
    with pytest.raises(ValueError, match="malformed"):
        load_manifest('{"version": 1, "project": "demo", "files": [{}]}', "demo")


@pytest.mark.parametrize(
    ("tag", "family"),
    [
        ("manylinux_2_28_aarch64", "manylinux_aarch64"),
        ("manylinux2014_aarch64", "manylinux_aarch64"),
        ("manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_x86_64"),
        ("musllinux_1_2_aarch64", "musllinux_aarch64"),
        ("macosx_11_0_arm64", "macosx_arm64"),
        ("linux_armv7l", "linux_armv7l"),
        ("any", "any"),
        ("win_amd64", "win_amd64"),
    ],
)
def test_platform_family(tag, family):
    assert platform_family(tag) == family


def test_select_prune_by_variant():
    names = [
        "torch-2.4.0+cpu-cp311-cp311-manylinux_2_17_aarch64.whl",
        "torch-2.5.0+cpu-cp311-cp311-manylinux_2_28_aarch64.whl",  # same variant, newer glibc
        "torch-2.6.0+cpu-cp311-cp311-manylinux_2_28_aarch64.whl",
        "torch-2.4.0+cu126-cp311-cp311-manylinux_2_28_aarch64.whl",  # another variant: kept
        "torch-2.4.0+cpu-cp312-cp312-manylinux_2_28_aarch64.whl",  # another Python: kept
        "torch-2.4.0+cpu-cp311-cp311-musllinux_1_2_aarch64.whl",  # musl: kept
        "torch-2.5.0+cpu-1-cp311-cp311-manylinux_2_28_aarch64.whl",  # build tag of a kept version
    ]
    doomed = select_prune([entry(n) for n in names], keep=2)
    assert [e.filename for e in doomed] == [
        "torch-2.4.0+cpu-cp311-cp311-manylinux_2_17_aarch64.whl"
    ]
    assert select_prune([entry(n) for n in names], keep=3) == []
    with pytest.raises(ValueError, match="at least 1"):
        select_prune([], keep=0)
