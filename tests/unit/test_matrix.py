"""The compatibility matrix and version resolution, on the versions PyPI publishes."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from data.pypi.replay import PROJECTS, PYPI, client
from torchbuild.errors import InputError, ResolveError
from torchbuild.resolve.candidates import available_versions
from torchbuild.resolve.matrix import load_matrix, parse_request, resolve


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[Version]]:
    c = client(Path(tmp_path_factory.mktemp("m")))
    return available_versions(c.listings([PYPI], PROJECTS).values())


def req(*texts: str) -> list:  # type: ignore[type-arg]
    return [parse_request(t) for t in texts]


def test_matrix_covers_1_13_to_the_newest_without_gaps() -> None:
    m = load_matrix()
    series = [s.torch for s in m.series]
    assert series[0] == "1.13"
    assert series[1:] == [f"2.{i}" for i in range(len(series) - 1)]
    for s in m.series:
        assert s.python_min <= s.python_max
        assert all(r.major == Version(s.torch).major for r in s.releases)
        assert all(s.contains(r) for r in s.releases)


def test_every_known_companion_pins_a_torch_the_matrix_knows() -> None:
    m = load_matrix()
    for package in ("torchvision", "torchaudio"):
        for version, spec in m.requires[package].items():
            assert any(spec.contains(t) for t in m.known_versions("torch")), (package, version)


def test_pins_come_from_the_wheels_metadata() -> None:
    m = load_matrix()
    assert m.torch_requirement("torchvision", Version("0.28.0")) == SpecifierSet("==2.13.0")
    assert m.torch_requirement("torchvision", Version("0.15.2")) == SpecifierSet("==2.0.1")
    assert m.torch_requirement("torchaudio", Version("2.0.2")) == SpecifierSet("==2.0.1")
    assert m.torch_requirement("torchvision", Version("0.29.2")).contains("2.15.0")
    # A future release follows the rule.
    assert m.torch_requirement("torchvision", Version("0.30.1")) == SpecifierSet("==2.15.1")
    assert m.torch_requirement("torchaudio", Version("2.16.0")) == SpecifierSet("==2.16.0")
    # Older than the table: built for a torch older than the matrix, matches nothing.
    assert not m.torch_requirement("torchvision", Version("0.13.1")).contains("1.12.1")
    assert m.is_stable_abi("torchaudio", Version("2.11.0"))
    assert not m.is_stable_abi("torchvision", Version("0.28.0"))


@pytest.mark.parametrize(
    ("python", "expected"),
    [
        ((3, 11), {"torch": "2.15.0", "torchvision": "0.29.2", "torchaudio": "2.11.1"}),
        ((3, 10), {"torch": "2.14.1", "torchvision": "0.29.2", "torchaudio": "2.11.1"}),
        ((3, 9), {"torch": "2.8.0", "torchvision": "0.23.0", "torchaudio": "2.8.0"}),
        ((3, 8), {"torch": "2.4.1", "torchvision": "0.19.1", "torchaudio": "2.4.1"}),
        ((3, 7), {"torch": "1.13.1", "torchvision": "0.14.1", "torchaudio": "0.13.1"}),
    ],
)
def test_newest_consistent_set_for_the_python(
    published: dict[str, set[Version]], python: tuple[int, int], expected: dict[str, str]
) -> None:
    res = resolve(req("torch", "torchvision", "torchaudio"), python=python, available=published)
    assert {k: str(v) for k, v in res.versions.items()} == expected
    assert res.torch_role == "requested"
    assert res.warnings == ()


def test_free_threaded_needs_a_series_with_a_free_threaded_build(
    published: dict[str, set[Version]],
) -> None:
    res = resolve(req("torch"), python=(3, 13), free_threaded=True, available=published)
    assert res.versions["torch"] == Version("2.12.1")  # 2.13+ list only 3.14t/3.15t
    with pytest.raises(ResolveError, match="free-threaded"):
        resolve(req("torch==2.5.1"), python=(3, 12), free_threaded=True, available=published)


def test_completes_a_pinned_set(published: dict[str, set[Version]]) -> None:
    res = resolve(req("torch==2.6.0", "torchvision"), python=(3, 11), available=published)
    assert res.versions == {"torch": Version("2.6.0"), "torchvision": Version("0.21.0")}
    res = resolve(req("torchvision==0.20.1", "torch"), python=(3, 11), available=published)
    assert res.versions["torch"] == Version("2.5.1")


def test_impossible_set_is_refused_with_the_reason(published: dict[str, set[Version]]) -> None:
    with pytest.raises(ResolveError) as info:
        resolve(req("torch==2.13", "torchvision==0.21"), python=(3, 11), available=published)
    assert (
        "torchvision 0.21.0 does not go with torch 2.13.0: the compatibility table pairs it "
        "with torch 2.6.0"
    ) in info.value.message
    assert "torch 2.13.0 goes with torchvision 0.28.0" in info.value.message
    assert "--ignore-matrix" in info.value.hint


def test_override_turns_the_refusal_into_a_warning(published: dict[str, set[Version]]) -> None:
    res = resolve(
        req("torch==2.13", "torchvision==0.21"),
        python=(3, 11),
        available=published,
        ignore_matrix=True,
    )
    assert res.versions == {"torch": Version("2.13.0"), "torchvision": Version("0.21.0")}
    assert "0.21.0 does not go with torch 2.13.0" in res.warnings[0]


def test_python_too_old_for_the_pinned_torch(published: dict[str, set[Version]]) -> None:
    with pytest.raises(ResolveError) as info:
        resolve(req("torch==2.13"), python=(3, 8), available=published)
    assert info.value.message == (
        "torch 2.13.0 supports Python 3.10-3.15; this target has 3.8 "
        "(the newest torch for Python 3.8 is 2.4.1)"
    )


def test_python_outside_every_release(published: dict[str, set[Version]]) -> None:
    with pytest.raises(ResolveError, match=r"oldest, torch 1\.13, needs Python 3\.7"):
        resolve(req("torch"), python=(3, 6), available=published)
    with pytest.raises(ResolveError, match=r"newest, torch 2\.15, supports up to Python 3\.15"):
        resolve(req("torch"), python=(3, 16), available=published)


def test_installed_torch_is_the_default_for_companions(published: dict[str, set[Version]]) -> None:
    installed = Version("2.5.0a0+872d972e41.nv24.08")
    res = resolve(
        req("torchvision", "torchaudio"),
        python=(3, 10),
        available=published,
        installed_torch=installed,
    )
    assert res.torch_role == "installed"
    assert res.requested == ("torchvision", "torchaudio")
    assert res.versions == {
        "torch": Version("2.5.0"),
        "torchvision": Version("0.20.0"),
        "torchaudio": Version("2.5.0"),
    }


def test_companion_alone_implies_torch(published: dict[str, set[Version]]) -> None:
    res = resolve(req("torchvision"), python=(3, 12), available=published)
    assert res.torch_role == "implied"
    assert res.versions["torch"] == Version("2.15.0")
    assert res.versions["torchvision"] == Version("0.29.2")


def test_offline_without_any_index_uses_the_known_releases() -> None:
    res = resolve(req("torch", "torchvision"), python=(3, 12), available={})
    assert res.versions["torch"] == load_matrix().newest.releases[-1]


def test_a_version_newer_than_the_matrix_is_refused(published: dict[str, set[Version]]) -> None:
    with pytest.raises(ResolveError, match="not in torchbuild's compatibility matrix"):
        resolve(req("torch==2.16.0"), python=(3, 12), available=published)


@pytest.mark.parametrize(
    ("text", "name", "spec"),
    [
        ("torch", "torch", ""),
        ("torch==2.6.0", "torch", "==2.6.0"),
        ("TorchVision>=0.20,<0.22", "torchvision", "<0.22,>=0.20"),
        ("torchaudio 2.5.1", "torchaudio", "==2.5.1"),
    ],
)
def test_parse_request(text: str, name: str, spec: str) -> None:
    r = parse_request(text)
    assert r.name == name
    assert str(r.specifier) == spec


@pytest.mark.parametrize("text", ["numpy", "torch=2.6", "torch>>2", "torch==2.6..1"])
def test_parse_request_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_request(text)
