"""macOS and Windows profiles on recorded PyPI answers: what PyPI offers there, the way out, and
never a build (torchbuild builds on Linux only).

The expected versions are not typed in: they are read from the recording's file names (the
newest release with a wheel whose platform tag is for that OS and chip), so the tests state the
rule, and the recording states the facts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.utils import parse_wheel_filename

from data.pypi.replay import PYPI, body, client
from torchbuild.commands._planning import plan_elsewhere
from torchbuild.doctor.diagnose import diagnose
from torchbuild.doctor.platforms import LINUX_ONLY
from torchbuild.errors import ResolveError
from torchbuild.resolve.matrix import parse_request
from torchbuild.resolve.plan import make_plan
from torchbuild.resolve.tags import platform_tags
from torchbuild.target import Target, load_target

if TYPE_CHECKING:
    from packaging.version import Version

    from torchbuild.resolve.indexes import IndexClient

PROFILES = Path(__file__).parent.parent / "data" / "profiles"


@pytest.fixture(scope="module")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> IndexClient:
    return client(Path(tmp_path_factory.mktemp("pypi")))


def target(name: str) -> Target:
    return load_target(str(PROFILES / f"{name}.json"))


def newest_with(project: str, platform: re.Pattern[str]) -> Version | None:
    """The newest release of ``project`` in the recording with a wheel for ``platform``."""
    import json

    found = []
    for f in json.loads(body(project))["files"]:
        if not f["filename"].endswith(".whl") or f.get("yanked"):
            continue
        _, version, _, tags = parse_wheel_filename(f["filename"])
        if any(platform.fullmatch(t.platform) for t in tags):
            found.append(version)
    return max(found) if found else None


def test_profiles_load_with_null_libc() -> None:
    mac = target("mac-intel")
    assert (mac.os, mac.arch, mac.libc.version) == ("macos", "x86_64", None)
    assert target("mac-arm").arch == "aarch64"  # "arm64" in the profile, folded
    assert platform_tags(target("win32")) == ["win32"]
    assert platform_tags(target("win64")) == ["win_amd64"]
    # macOS 14.6 accepts wheels built for 14.0 down to 10.x, and universal2.
    tags = platform_tags(mac)
    assert tags[0] == "macosx_14_0_x86_64"
    assert "macosx_10_9_x86_64" in tags
    assert "macosx_10_9_universal2" in tags
    assert not any(t.endswith("arm64") for t in tags)


def test_intel_mac_is_told_the_last_release_and_the_way_out(pypi: IndexClient) -> None:
    last = newest_with("torch", re.compile(r"macosx_\d+_\d+_x86_64"))
    newest = newest_with("torch", re.compile(r".*"))
    assert last is not None
    assert newest is not None
    assert last < newest
    report = diagnose(target("mac-intel"), packages=["torch"], sources=[PYPI], client=pypi)
    assert report.ok  # pip install does give a working (older) torch
    (finding,) = report.findings
    assert finding.code == "platform-dropped"
    assert f"torch {last}" in finding.what
    assert f"torch=={last}" in finding.fix
    assert "Apple silicon" in finding.fix
    assert LINUX_ONLY in finding.fix
    assert "glibc" not in finding.evidence + finding.fix
    assert [str(o.version) for o in report.outcomes] == [str(last)]


def test_intel_mac_plan_is_the_newest_set_with_wheels_never_a_build(pypi: IndexClient) -> None:
    mac = target("mac-intel")
    requests = [parse_request("torch"), parse_request("torchvision")]
    first = make_plan(mac, requests, sources=[PYPI], client=pypi)
    # Prebuilt first: the planner alone already takes the newest set with wheels there.
    assert {d.action for d in first.decisions} == {"prebuilt"}
    result = plan_elsewhere(first, requests, [PYPI], pypi, "auto")
    assert {d.action for d in result.decisions} == {"prebuilt"}
    torch = next(d for d in result.decisions if d.name == "torch")
    assert torch.version == newest_with("torch", re.compile(r"macosx_\d+_\d+_x86_64"))
    assert torch.wheel is not None
    assert "macosx" in torch.wheel.filename
    assert torch.variant is not None
    assert torch.variant.kind == "cpu"
    assert any(LINUX_ONLY in w for w in result.warnings)


def test_apple_silicon_gets_the_newest_prebuilt(pypi: IndexClient) -> None:
    mac = target("mac-arm")
    requests = [parse_request("torch")]
    result = plan_elsewhere(
        make_plan(mac, requests, sources=[PYPI], client=pypi), requests, [PYPI], pypi, "auto"
    )
    (torch,) = result.decisions
    assert torch.action == "prebuilt"
    assert torch.version == newest_with("torch", re.compile(r"macosx_\d+_\d+_arm64"))


def test_32_bit_python_on_windows_has_no_torch_and_is_told_why(pypi: IndexClient) -> None:
    assert newest_with("torch", re.compile("win32")) is None
    win = target("win32")
    report = diagnose(win, packages=["torch"], sources=[PYPI], client=pypi)
    assert not report.ok
    (finding,) = report.findings
    assert finding.code == "no-wheels-for-platform"
    assert "32-bit Python" in finding.what
    assert "64-bit Python" in finding.fix
    assert "WSL2" in finding.fix
    requests = [parse_request("torch")]
    first = make_plan(win, requests, sources=[PYPI], client=pypi)
    with pytest.raises(ResolveError) as info:
        plan_elsewhere(first, requests, [PYPI], pypi, "auto")
    assert LINUX_ONLY in info.value.message
    assert "64-bit Python" in info.value.hint
    assert info.value.exit_code == 4


def test_64_bit_python_on_windows_gets_a_cpu_wheel(pypi: IndexClient) -> None:
    win = target("win64")
    report = diagnose(win, packages=["torch"], sources=[PYPI], client=pypi)
    assert report.ok
    assert report.findings == ()
    requests = [parse_request("torch")]
    result = make_plan(win, requests, sources=[PYPI], client=pypi)
    (torch,) = result.decisions
    assert torch.action == "prebuilt"
    assert torch.wheel is not None
    assert torch.wheel.filename.endswith("win_amd64.whl")
    assert torch.variant is not None
    assert torch.variant.kind == "cpu"
