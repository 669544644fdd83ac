"""The target's tag list: computed from its facts, equal to what pip/packaging compute."""

from __future__ import annotations

import platform
import sys

import packaging
import pytest
from packaging import tags as ptags

from data.pypi.replay import profile
from torchbuild.errors import InputError
from torchbuild.resolve import tags
from torchbuild.target import Python, load_target


def _same_packaging_as_pip() -> bool:
    try:
        from pip._vendor import packaging as vendored
    except ImportError:
        return False
    return bool(vendored.__version__ == packaging.__version__)


# Tag lists change with packaging releases (abi3t, the place of linux_<arch>); comparing with
# pip only means something when pip vendors the packaging torchbuild runs with.
same_as_pip = pytest.mark.skipif(
    not _same_packaging_as_pip(), reason="pip vendors another packaging release"
)


def names(tagset: tags.TagSet) -> list[str]:
    return [str(t) for t in tagset.tags]


@same_as_pip
def test_aarch64_equals_pips_own_tag_list_for_the_same_platforms() -> None:
    from pip._internal.utils.compatibility_tags import get_supported

    target = profile(arch="aarch64", python="3.11", libc_version="2.35")
    ours = tags.tag_set(target)
    pips = get_supported(version="311", platforms=list(ours.platforms), impl="cp", abis=["cp311"])
    assert names(ours) == [str(t) for t in pips]


@same_as_pip
def test_x86_64_has_the_same_tags_as_pip() -> None:
    # With explicit --platform values pip moves manylinux2010/manylinux1 next to manylinux2014
    # (its "custom platform" expansion); the set is the same, and the host order is checked below.
    from pip._internal.utils.compatibility_tags import get_supported

    ours = tags.tag_set(profile(python="3.11", libc_version="2.35"))
    pips = get_supported(version="311", platforms=list(ours.platforms), impl="cp", abis=["cp311"])
    assert sorted(names(ours)) == sorted(str(t) for t in pips)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="needs a glibc host"
)
def test_this_host_described_as_a_profile_gets_packagings_sys_tags() -> None:
    # The strongest check of the manylinux ladder: packaging computes it for this machine from
    # the real glibc; we compute it from the facts alone.
    glibc = platform.libc_ver()[1]
    major, minor = sys.version_info[:2]
    arch = platform.machine()
    target = profile(arch=arch, libc_version=glibc, python=f"{major}.{minor}")
    if (
        sys.implementation.name != "cpython"
        or getattr(sys, "_is_gil_enabled", lambda: True)() is False
    ):
        pytest.skip("the profile helper describes a regular CPython")
    assert names(tags.tag_set(target)) == [str(t) for t in ptags.sys_tags()]


@pytest.mark.parametrize(
    ("arch", "glibc", "first", "last_manylinux", "legacy"),
    [
        ("x86_64", "2.35", "manylinux_2_35_x86_64", "manylinux_2_5_x86_64", ["manylinux1_x86_64"]),
        (
            "x86_64",
            "2.17",
            "manylinux_2_17_x86_64",
            "manylinux_2_5_x86_64",
            ["manylinux2014_x86_64"],
        ),
        (
            "aarch64",
            "2.27",
            "manylinux_2_27_aarch64",
            "manylinux_2_17_aarch64",
            ["manylinux2014_aarch64"],
        ),
        (
            "aarch64",
            "2.39",
            "manylinux_2_39_aarch64",
            "manylinux_2_17_aarch64",
            ["manylinux2014_aarch64"],
        ),
        (
            "armv7l",
            "2.36",
            "manylinux_2_36_armv7l",
            "manylinux_2_17_armv7l",
            ["manylinux2014_armv7l"],
        ),
        (
            "i686",
            "2.31",
            "manylinux_2_31_i686",
            "manylinux_2_5_i686",
            ["manylinux1_i686", "manylinux2010_i686"],
        ),
        ("riscv64", "2.39", "manylinux_2_39_riscv64", "manylinux_2_17_riscv64", []),
    ],
)
def test_manylinux_ladder_from_the_target_glibc(
    arch: str, glibc: str, first: str, last_manylinux: str, legacy: list[str]
) -> None:
    plats = tags.platform_tags(profile(arch=arch, libc_version=glibc), linux_first=False)
    assert plats[0] == first
    assert plats[-1] == f"linux_{arch}"
    manylinux = [p for p in plats if p.startswith("manylinux_")]
    assert manylinux[-1] == last_manylinux
    for alias in legacy:
        assert alias in plats
    # Nothing newer than the target's glibc.
    newer = f"manylinux_2_{int(glibc.split('.')[1]) + 1}_{arch}"
    assert newer not in plats


def test_linux_tag_position_follows_packaging() -> None:
    target = profile(arch="aarch64", libc_version="2.35")
    assert tags.platform_tags(target, linux_first=True)[0] == "linux_aarch64"
    assert tags.platform_tags(target, linux_first=False)[-1] == "linux_aarch64"
    assert tags.tag_set(target).best_platform == "manylinux_2_35_aarch64"


def test_musl_gets_musllinux_and_no_manylinux() -> None:
    plats = tags.platform_tags(profile(libc="musl", libc_version="1.2.4"), linux_first=False)
    assert plats == [
        "musllinux_1_2_x86_64",
        "musllinux_1_1_x86_64",
        "musllinux_1_0_x86_64",
        "linux_x86_64",
    ]


def test_armv6l_has_no_manylinux_tags() -> None:
    assert tags.platform_tags(profile(arch="armv6l", libc_version="2.36")) == ["linux_armv6l"]


def test_unknown_glibc_assumes_the_manylinux2014_floor() -> None:
    plats = tags.platform_tags(profile(arch="aarch64", libc_version=None), linux_first=False)
    assert plats[0] == "manylinux_2_17_aarch64"


def test_free_threaded_gets_its_abi_and_no_abi3() -> None:
    ts = tags.tag_set(profile(python="3.14", free_threaded=True))
    assert ts.interpreter == "cp314t"
    listed = names(ts)
    assert listed[0].startswith("cp314-cp314t-")
    assert not any("-abi3-" in t for t in listed)
    assert not any(t.startswith("cp314-cp314-") for t in listed)
    assert "cp314-none-manylinux_2_28_x86_64" in listed
    assert "py3-none-any" in listed


@same_as_pip
def test_free_threaded_matches_pip_with_abi_flag() -> None:
    from pip._internal.utils.compatibility_tags import get_supported

    ts = tags.tag_set(profile(arch="aarch64", python="3.14", free_threaded=True))
    pips = get_supported(version="314", platforms=list(ts.platforms), impl="cp", abis=["cp314t"])
    assert names(ts) == [str(t) for t in pips]


@pytest.mark.parametrize(("python", "label"), [("3.8", "cp38"), ("3.9", "cp39"), ("3.15", "cp315")])
def test_interpreter_labels(python: str, label: str) -> None:
    ts = tags.tag_set(profile(python=python))
    assert ts.interpreter == label
    assert str(ts.tags[0]).startswith(f"{label}-{label}-")


def test_old_cpython_abi_from_the_profile() -> None:
    target = load_target("jetson-nano-jp4")
    ts = tags.tag_set(target)
    assert ts.interpreter == "cp36"
    assert "cp36-cp36-manylinux_2_27_aarch64" in names(ts)


def test_accepts_interpreter_ignores_the_platform() -> None:
    ts = tags.tag_set(profile(python="3.11"))
    assert ts.accepts_interpreter(ptags.Tag("cp311", "cp311", "win_amd64"))
    assert ts.accepts_interpreter(ptags.Tag("py3", "none", "any"))
    assert not ts.accepts_interpreter(ptags.Tag("cp312", "cp312", "manylinux_2_28_x86_64"))


def test_rank_orders_like_pip() -> None:
    ts = tags.tag_set(profile(python="3.11", libc_version="2.35"))
    specific = ptags.Tag("cp311", "cp311", "manylinux_2_28_x86_64")
    generic = ptags.Tag("py3", "none", "any")
    assert ts.best_rank(frozenset({specific, generic})) == ts.rank(specific)
    rank_specific, rank_generic = ts.rank(specific), ts.rank(generic)
    assert rank_specific is not None
    assert rank_generic is not None
    assert rank_specific < rank_generic
    assert ts.best_rank(frozenset({ptags.Tag("cp311", "cp311", "win_amd64")})) is None


def test_glibc_of_platform() -> None:
    assert tags.glibc_of_platform("manylinux_2_28_aarch64") == (2, 28)
    assert tags.glibc_of_platform("manylinux2014_aarch64") == (2, 17)
    assert tags.glibc_of_platform("manylinux1_x86_64") == (2, 5)
    assert tags.glibc_of_platform("musllinux_1_2_x86_64") is None
    assert tags.glibc_of_platform("linux_aarch64") is None


def test_no_python_is_an_input_error() -> None:
    target = profile()
    from dataclasses import replace

    with pytest.raises(InputError):
        tags.tag_set(replace(target, python=None))


def test_pypy_uses_generic_tags() -> None:
    from dataclasses import replace

    target = profile(python="3.10")
    assert target.python is not None
    pypy = replace(
        target,
        python=Python(None, "3.10.14", "pypy", "pypy310_pp73", free_threaded=False),
    )
    ts = tags.tag_set(pypy)
    assert ts.interpreter == "pp310"
    assert str(ts.tags[0]).startswith("pp310-pypy310_pp73-")
