"""`index config --for`: each planned file pinned by hash for pip and routed to its index for uv."""

from __future__ import annotations

import configparser
import json
import os
import sys
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchbuild.__main__ import main
from torchbuild.errors import InputError
from torchbuild.resolve.candidates import WheelChoice
from torchbuild.resolve.plan import Decision
from torchbuild.resolve.variants import Variant
from torchbuild.wheelhouse import Wheelhouse
from torchbuild.wheelhouse.config import install_config
from wheelfactory import make_wheel

if TYPE_CHECKING:
    from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

WHEELHOUSE = "file:///srv/wheelhouse/simple/"
PYPI = "https://pypi.org/simple/"
CU126 = "https://download.pytorch.org/whl/cu126"
JP6 = "https://pypi.jetson-ai-lab.io/jp6/cu126/+simple/"


def prebuilt(name: str, version: str, filename: str, index: str, kind: str = "index") -> Decision:
    digest = (name[0] * 64)[:64]
    wheel = WheelChoice(filename, f"{index}/{filename}", index, kind, digest, 1)
    return Decision(name, Version(version), "prebuilt", "fits", wheel)


def render(*decisions: Decision, deps: tuple[str, ...] = (PYPI,)):
    return install_config(
        decisions,
        wheelhouse_url=WHEELHOUSE,
        dependency_indexes=list(deps),
        constraint_path="/etc/torchbuild/constraints.txt",
        source="the test",
    )


def test_prebuilt_from_pytorch_index_pinned_by_version_and_hash():
    result = render(
        prebuilt("torch", "2.6.0+cu126", "torch-2.6.0+cu126-cp310-cp310-linux_x86_64.whl", CU126),
        prebuilt(
            "torchvision",
            "0.21.0+cu126",
            "torchvision-0.21.0+cu126-cp310-cp310-linux_x86_64.whl",
            CU126,
        ),
    )
    files = dict(result.files)
    lines = [line for line in files["constraints.txt"].splitlines() if not line.startswith("#")]
    assert lines == [
        "torch==2.6.0+cu126 --hash=sha256:" + "t" * 64,
        "torchvision==0.21.0+cu126 --hash=sha256:" + "t" * 64,
    ]
    assert result.index_url == CU126
    assert result.extra_index_urls == (PYPI,)  # only for the dependencies
    pip = dict(result.commands)["pip"]
    assert pip.startswith("pip install --no-require-hashes -c /etc/torchbuild/constraints.txt ")
    assert f"--index-url {CU126} --extra-index-url {PYPI} " in pip
    assert pip.endswith("torch==2.6.0+cu126 torchvision==0.21.0+cu126")
    conf = configparser.ConfigParser()
    conf.read_string(files["pip.conf"])
    assert conf["global"]["index-url"] == CU126
    assert conf["global"]["no-require-hashes"] == "true"
    assert conf["global"]["constraint"] == "/etc/torchbuild/constraints.txt"


def test_uv_routing_names_each_index_and_keeps_the_default_for_the_rest():
    result = render(
        prebuilt("torch", "2.8.0", "torch-2.8.0-cp310-cp310-linux_aarch64.whl", JP6),
        Decision(
            "torchvision",
            Version("0.23.0"),
            "cached",
            "in the wheelhouse",
            WheelChoice(
                "torchvision-0.23.0+cu126.sm87-cp310-cp310-linux_aarch64.whl",
                "/srv/wheelhouse/simple/torchvision/x.whl",
                "/srv/wheelhouse",
                "wheelhouse",
                "c" * 64,
            ),
        ),
    )
    data = tomllib.loads(dict(result.files)["pyproject-uv.toml"])["tool"]["uv"]
    assert data["index"] == [
        {"name": "jp6-cu126", "url": JP6, "explicit": True},
        {"name": "torchbuild", "url": WHEELHOUSE, "explicit": True},
        {"name": "deps-1", "url": PYPI, "default": True},
    ]
    assert data["sources"] == {
        "torch": {"index": "jp6-cu126"},
        "torchvision": {"index": "torchbuild"},
    }
    # `uv pip install -r uv/pyproject.toml`: the same routing in a stand-alone project
    standalone = tomllib.loads(dict(result.files)["uv/pyproject.toml"])
    assert standalone["project"]["dependencies"] == [
        "torch==2.8.0",
        "torchvision==0.23.0+cu126.sm87",
    ]
    assert standalone["tool"]["uv"] == data
    assert dict(result.commands)["uv pip"] == (
        f"uv pip install -r ./uv/pyproject.toml --default-index {PYPI}"
    )
    # the cached file's exact version comes from its name: the local label counts for pip
    assert result.routes[1].constraint == "torchvision==0.23.0+cu126.sm87 --hash=sha256:" + "c" * 64
    assert result.index_url == JP6
    assert result.extra_index_urls == (WHEELHOUSE, PYPI)


def test_find_links_source_is_a_flat_index_and_build_is_pinned_by_planned_label():
    result = render(
        prebuilt(
            "torch",
            "2.5.0a0+872d972e41.nv24.08",
            "torch-2.5.0a0+872d972e41.nv24.08-cp310-cp310-linux_aarch64.whl",
            "https://developer.download.nvidia.com/compute/redist/jp/v61/pytorch/",
            kind="find-links",
        ),
        Decision(
            "torchvision",
            Version("0.20.0"),
            "build",
            "no wheel",
            variant=Variant("cuda", "12.6", ("8.7",), label="cu126.sm87"),
        ),
    )
    torch, vision = result.routes
    assert torch.index_format == "flat"
    assert result.find_links == (torch.index_url,)
    assert "--find-links https://developer.download.nvidia.com/" in dict(result.commands)["pip"]
    assert vision.constraint == "torchvision==0.20.0+cu126.sm87"  # no file yet, so no hash
    assert vision.index_url == WHEELHOUSE
    assert any("run `torchbuild wheel` first" in note for note in result.notes)
    uv = tomllib.loads(dict(result.files)["pyproject-uv.toml"])["tool"]["uv"]
    assert {
        "name": "v61-pytorch",
        "url": torch.index_url,
        "explicit": True,
        "format": "flat",
    } in uv["index"]


def test_a_variant_wheel_is_routed_with_a_note_that_plain_pip_skips_it():
    result = render(
        prebuilt(
            "torch",
            "2.8.0",
            "torch-2.8.0-cp311-cp311-manylinux_2_28_x86_64-cu128.whl",
            "https://variants.example/simple",
        )
    )
    assert result.routes[0].constraint.startswith("torch==2.8.0 --hash=sha256:")
    assert any("variant wheel (label cu128)" in note for note in result.notes)


def test_index_names_are_unique_and_valid():
    result = render(
        prebuilt("torch", "2.8.0", "torch-2.8.0-cp310-cp310-linux_aarch64.whl", JP6),
        prebuilt(
            "torchaudio",
            "2.8.0",
            "torchaudio-2.8.0-cp310-cp310-linux_aarch64.whl",
            "https://mirror.example/jp6/cu126/+simple/",
        ),
    )
    assert [r.index_name for r in result.routes] == ["jp6-cu126", "jp6-cu126-2"]


def test_nothing_to_install_and_no_index_are_input_errors():
    with pytest.raises(InputError, match="no package"):
        render()
    with pytest.raises(InputError, match="no index"):
        render(
            prebuilt("torch", "2.8.0", "torch-2.8.0-py3-none-any.whl", "/srv/links", "find-links"),
            deps=(),
        )


# -- the command -----------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("TORCHBUILD_", "PIP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.setenv("TORCHBUILD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_index_config_for_plans_and_routes(isolated: Path, capsys, monkeypatch):
    """A Jetson-style index on disk (``.../jp6/cu126/simple``) as the only index: the plan for
    the Orin preset takes its torch, and the files route torch there, pinned by hash."""
    jetson = Wheelhouse(isolated / "mirror" / "jp6" / "cu126", durable=False)
    wheel = make_wheel(isolated / "src", "torch", "2.8.0", tag="cp310-cp310-linux_aarch64")
    jetson.add(wheel, origin="test")
    url = jetson.simple.resolve().as_uri()
    monkeypatch.setenv("TORCHBUILD_INDEX_URL", url)  # the only index: no network
    out = isolated / "cfg"
    args = ["index", "config", "--for", "torch==2.8.0", "--target", "jetson-orin-jp6"]
    code = main([*args, "--wheelhouse", str(isolated / "wh"), "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    assert data["version"] == 1
    [route] = data["routes"]
    assert route["filename"] == wheel.name
    assert route["constraint"].startswith("torch==2.8.0 --hash=sha256:")
    assert route["index"] == url
    assert (out / "constraints.txt").read_text().count("--hash=sha256:") == 1
    uv = (out / "pyproject-uv.toml").read_text()
    assert 'torch = { index = "jp6-cu126" }' in uv
    assert "for torch==2.8.0 on " in uv


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "torch", "--project", "torch"], "--project and --for"),
        (["--target", "jetson-orin-jp6"], "--target only applies with --for"),
        (["--for", " , "], "--for names no package"),
    ],
)
def test_index_config_for_bad_combinations_exit_3(isolated: Path, capsys, args, message):
    code = main(["index", "config", "--wheelhouse", str(isolated / "wh"), *args])
    err = capsys.readouterr().err
    assert code == 3
    assert message in err
