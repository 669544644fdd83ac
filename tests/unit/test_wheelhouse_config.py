"""`index config`: what gets pinned, and how, so no other index can shadow the wheelhouse."""

from __future__ import annotations

import configparser
import sys

import pytest

from torchbuild.errors import InputError
from torchbuild.wheelhouse import Entry
from torchbuild.wheelhouse.config import PYPI_SIMPLE, client_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

URL = "http://127.0.0.1:8000/simple/"


def entry(filename: str, digest: str = "a") -> Entry:
    return Entry(filename, digest * 64, 1, None, "b" * 64, "t", "")


def by_project(*entries: Entry) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.project, []).append(e)
    return out


def render(entries, specs=(), extras=(PYPI_SIMPLE,), url=URL):
    return client_config(
        entries,
        index_url=url,
        extra_index_urls=list(extras),
        specs=list(specs),
        constraint_path="/etc/torchbuild/constraints.txt",
        source="/srv/wheelhouse",
    )


def files(result) -> dict[str, str]:
    return dict(result.files)


def test_local_labels_pin_by_version_newest_by_default():
    result = render(
        by_project(
            entry("torch-2.5.0+cpu-cp311-cp311-linux_aarch64.whl", "1"),
            entry("torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl", "2"),
            entry("torch-2.6.0+cpu-cp312-cp312-linux_aarch64.whl", "3"),
            entry("torchvision-0.21.0+cpu-cp311-cp311-linux_aarch64.whl", "4"),
            entry("numpy-2.0.0-cp311-cp311-linux_aarch64.whl", "5"),
        )
    )
    assert [p.requirement for p in result.pins] == ["torch==2.6.0+cpu", "torchvision==0.21.0+cpu"]
    assert result.pins[0].hashes == ("2" * 64, "3" * 64)  # every file of that version
    assert all(p.protected for p in result.pins)
    assert result.notes == ()
    text = files(result)
    assert "torch==2.6.0+cpu\ntorchvision==0.21.0+cpu\n" in text["constraints.txt"]
    assert "--hash" not in text["constraints.txt"]  # pip would then demand hashes for everything
    assert f"--hash=sha256:{'2' * 64}" in text["requirements.txt"]
    assert "numpy" not in text["constraints.txt"]


def test_pip_conf_is_valid_ini_with_the_right_keys():
    result = render(
        by_project(entry("torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl")),
        extras=[PYPI_SIMPLE, "https://other.example/simple"],
    )
    parser = configparser.ConfigParser()
    parser.read_string(files(result)["pip.conf"])
    assert parser["global"]["index-url"] == URL
    assert parser["global"]["extra-index-url"].split() == [
        PYPI_SIMPLE,
        "https://other.example/simple",
    ]
    assert parser["global"]["constraint"] == "/etc/torchbuild/constraints.txt"
    assert "trusted-host" not in parser["global"]  # loopback and https need no trust


def test_plain_http_off_machine_is_trusted_explicitly():
    result = render(
        by_project(entry("torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl")),
        url="http://build-box:8000/simple/",
    )
    parser = configparser.ConfigParser()
    parser.read_string(files(result)["pip.conf"])
    assert parser["global"]["trusted-host"] == "build-box:8000"


def test_uv_toml_first_index_with_pins():
    result = render(by_project(entry("torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl")))
    data = tomllib.loads(files(result)["uv.toml"])
    assert data["index-strategy"] == "first-index"
    assert data["constraint-dependencies"] == ["torch==2.6.0+cpu"]
    assert data["index"][0] == {"name": "torchbuild", "url": URL}
    assert data["index"][-1] == {"name": "extra-1", "url": PYPI_SIMPLE, "default": True}
    project = tomllib.loads(files(result)["pyproject-uv.toml"])
    assert project["tool"]["uv"]["index"] == [{"name": "torchbuild", "url": URL, "explicit": True}]
    assert project["tool"]["uv"]["sources"] == {"torch": {"index": "torchbuild"}}


def test_only_local():
    result = render(by_project(entry("torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl")), extras=())
    text = files(result)
    assert "extra-index-url" not in text["pip.conf"]
    data = tomllib.loads(text["uv.toml"])
    assert data["index"] == [{"name": "torchbuild", "url": URL, "default": True}]


def test_unlabelled_single_file_pinned_by_url():
    result = render(by_project(entry("torch-2.5.1-cp311-cp311-linux_x86_64.whl")))
    (pin,) = result.pins
    assert pin.requirement == f"torch @ {URL}torch/torch-2.5.1-cp311-cp311-linux_x86_64.whl"
    assert pin.protected


def test_unlabelled_several_files_reported():
    result = render(
        by_project(
            entry("torch-2.5.1-cp311-cp311-linux_x86_64.whl", "1"),
            entry("torch-2.5.1-cp312-cp312-linux_x86_64.whl", "2"),
        )
    )
    (pin,) = result.pins
    assert pin.requirement == "torch==2.5.1"
    assert not pin.protected
    assert "no local version label" in result.notes[0]


def test_variants_of_the_newest_version_are_named():
    entries = by_project(
        entry("torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl", "1"),
        entry("torch-2.6.0+cu126-cp311-cp311-linux_aarch64.whl", "2"),
    )
    result = render(entries)
    assert result.pins[0].requirement == "torch==2.6.0+cu126"
    assert "2.6.0+cpu" in result.notes[0]
    chosen = render(entries, specs=["torch==2.6.0+cpu"])
    assert chosen.pins[0].requirement == "torch==2.6.0+cpu"
    assert chosen.notes == ()


def test_specs_select_and_refuse():
    entries = by_project(
        entry("torch-2.5.0+cpu-cp311-cp311-linux_aarch64.whl"),
        entry("torch-2.6.0+cpu-cp311-cp311-linux_aarch64.whl"),
    )
    assert render(entries, specs=["Torch<2.6"]).pins[0].requirement == "torch==2.5.0+cpu"
    with pytest.raises(InputError, match="no torch matching"):
        render(entries, specs=["torch>=3"])
    with pytest.raises(InputError, match="has no torchaudio"):
        render(entries, specs=["torchaudio"])
    with pytest.raises(InputError, match="bad --project"):
        render(entries, specs=["torch=="])


def test_nothing_to_pin_is_said():
    result = render(by_project(entry("numpy-2.0.0-cp311-cp311-linux_aarch64.whl")))
    assert result.pins == ()
    assert "nothing pinned" in result.notes[0]
