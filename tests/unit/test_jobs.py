"""Jobs made from a plan: typed, complete, and every pre-build refusal raised at plan time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Mapping

import pytest
from packaging.version import Version

from torchbuild.__main__ import main
from torchbuild.detect.torch import InstalledTorch
from torchbuild.errors import InputError, RecipeError, ToolchainError
from torchbuild.pipeline import NativeHost, WheelOptions
from torchbuild.resolve.candidates import WheelChoice
from torchbuild.resolve.jobs import (
    Build,
    Cached,
    CrossTorch,
    InstalledTorchBase,
    NoTorch,
    Prebuilt,
    RunTorch,
    Wanted,
    cpu_target,
    make_jobs,
)
from torchbuild.resolve.matrix import Resolution
from torchbuild.resolve.plan import Decision, Plan
from torchbuild.resolve.variants import Need
from torchbuild.sources import SourceRequest
from torchbuild.target import Python, Tool, Toolchain, load_target
from torchbuild.venvs import Installer

if TYPE_CHECKING:
    from torchbuild.target import Target

PROJECTS = Path(__file__).parents[1] / "data" / "projects"


def _target(**changes: Any) -> Target:
    """The Pi 5 preset as if it were this machine, with a compiler and no interpreter path
    (so nothing here could probe an interpreter)."""
    base = load_target("rpi5-bookworm-arm64")
    assert base.python is not None
    python = Python(None, base.python.version, "cpython", base.python.abi, free_threaded=False)
    gcc = Tool("/usr/bin/gcc", "12.2.0")
    toolchain = Toolchain(cc=gcc, cxx=Tool("/usr/bin/g++", "12.2.0"), cmake=Tool("cmake", "3.25"))
    fields: dict[str, Any] = {"origin": "host", "python": python, "toolchain": toolchain}
    return dataclasses.replace(base, **{**fields, **changes})


def _options(tmp_path: Path) -> WheelOptions:
    return WheelOptions(
        wheelhouse=tmp_path / "wh",
        cache_dir=tmp_path / "cache",
        python=Path("/nonexistent/python3"),
        installer=Installer("pip", None, ()),
    )


def _plan(
    target: Target,
    decisions: list[Decision],
    *,
    kind: str = "cpu",
    installed: InstalledTorch | None = None,
) -> Plan:
    versions = {d.name: d.version for d in decisions}
    role = "installed" if installed is not None else "requested"
    resolution = Resolution(versions, tuple(versions), role)
    return Plan(target, Need(kind), tuple(decisions), (), resolution, installed=installed)


def _torch_prebuilt() -> Decision:
    wheel = WheelChoice(
        "torch-2.6.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        "https://example.invalid/torch.whl",
        "https://example.invalid/simple/",
        "index",
        "ab" * 32,
    )
    return Decision("torch", Version("2.6.0"), "prebuilt", "fits", wheel)


def _build(name: str, version: str) -> Decision:
    return Decision(name, Version(version), "build", "no wheel fits")


def _jobs(tmp_path: Path, plan: Plan | None, wanted: list[Wanted] = (), **kw: Any) -> tuple:  # type: ignore[assignment]
    target = plan.target if plan is not None else kw.pop("target")
    site = kw.pop("site", None) or NativeHost(target, _options(tmp_path))
    return make_jobs(
        plan,
        wanted,
        target=target,
        site=site,
        cache_dir=tmp_path / "cache",
        **kw,
    )


def test_each_decision_becomes_its_typed_job(tmp_path: Path) -> None:
    target = _target()
    in_house = (
        tmp_path / "wh" / "simple" / "torchaudio" / "torchaudio-2.6.0-cp311-cp311-linux_aarch64.whl"
    )
    cached_wheel = WheelChoice(in_house.name, in_house.as_uri(), str(tmp_path / "wh"), "wheelhouse")
    decisions = [
        _torch_prebuilt(),
        _build("torchvision", "0.21.0"),
        Decision("torchaudio", Version("2.6.0"), "cached", "in the wheelhouse", cached_wheel),
    ]
    torch, vision, audio = _jobs(tmp_path, _plan(target, decisions))

    assert isinstance(torch, Prebuilt)
    assert (torch.filename, torch.sha256, torch.index) == (
        "torch-2.6.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        "ab" * 32,
        "https://example.invalid/simple/",
    )
    assert isinstance(audio, Cached)
    assert audio.wheel == in_house  # the file the plan found

    assert isinstance(vision, Build)
    # The source from the matrix, at the release tag; the recipe rendered for this version.
    assert vision.request.location.endswith("pytorch/vision")
    assert vision.request.ref == "v0.21.0"
    assert vision.rendered.package == "torchvision"
    assert vision.rendered.version == "0.21.0"
    assert vision.version == "0.21.0"
    assert vision.family
    # Against the torch this run fetches, labelled for the CPU variant it builds.
    assert vision.against.torch == RunTorch("prebuilt", "2.6.0")
    assert vision.label == "cpu"
    assert vision.compilers["cxx"] == "/usr/bin/g++ 12.2.0"
    # torch comes from its wheel file, never from the index the environment installs from.
    assert not any(
        r.startswith("torch") and not r.startswith("torchvision") for r in vision.requires
    )
    # Rendering again with other jobs gives the same recipe with that job count.
    assert vision.recipe.render(1).jobs == 1
    assert vision.recipe.render(1).command == vision.rendered.command


def test_a_version_no_recipe_series_covers_stops_at_plan_time(tmp_path: Path) -> None:
    plan = _plan(_target(), [_torch_prebuilt(), _build("torchvision", "0.3.0")])
    with pytest.raises(RecipeError, match=r"no recipe series covers torchvision 0\.3\.0") as err:
        _jobs(tmp_path, plan)
    assert err.value.exit_code == 6


def test_a_cuda_build_without_a_toolkit_stops_at_plan_time(tmp_path: Path) -> None:
    plan = _plan(_target(cuda=None), [_build("torch", "2.6.0")], kind="cuda")
    with pytest.raises(ToolchainError, match="needs a CUDA toolkit") as err:
        _jobs(tmp_path, plan)
    assert err.value.exit_code == 5


def test_a_cpu_build_renders_without_the_targets_cuda(tmp_path: Path) -> None:
    target = load_target("jetson-orin-jp6")
    assert target.cuda is not None
    assert cpu_target(target, "cpu").cuda is None
    assert cpu_target(target, "cuda") is target


def test_a_foreign_target_without_its_sysroot_stops_at_plan_time(tmp_path: Path) -> None:
    plan = _plan(_target(origin="preset:rpi5"), [_build("torch", "2.6.0")])
    with pytest.raises(InputError, match="needs its sysroot"):
        _jobs(tmp_path, plan)


def test_a_build_against_the_installed_torch(tmp_path: Path) -> None:
    installed = InstalledTorch(Version("2.6.0"), None, "/site/torch")
    plan = _plan(_target(), [_build("torchvision", "0.21.0")], installed=installed)
    (vision,) = _jobs(tmp_path, plan)
    assert isinstance(vision, Build)
    assert vision.against.torch == InstalledTorchBase(installed)
    assert vision.label == "cpu"


def _tree(root: Path, name: str, requires: list[str], setup_py: str | None = None) -> Path:
    root.mkdir(parents=True)
    reqs = ", ".join(json.dumps(r) for r in requires)
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = [{reqs}]\n[project]\nname = "{name}"\nversion = "1.2.3"\n'
    )
    if setup_py is not None:
        (root / "setup.py").write_text(setup_py)
    return root


def test_given_projects_build_against_the_earlier_ones_they_require(tmp_path: Path) -> None:
    first = _tree(tmp_path / "a", "tb-a", ["setuptools"])
    second = _tree(tmp_path / "b", "tb-b", ["setuptools", "tb-a==1.2.3"])
    wanted = [
        Wanted("tb-a", None, SourceRequest("tb-a", str(first))),
        Wanted("tb-b", None, SourceRequest("tb-b", str(second))),
    ]
    a, b = _jobs(tmp_path, None, wanted, target=_target())
    assert isinstance(a, Build)
    assert isinstance(b, Build)
    assert (a.version, b.version) == ("1.2.3", "1.2.3")  # read from the trees
    assert a.against.torch == NoTorch()
    assert a.label is None  # a plain extension is no torch variant
    assert b.against.companions == ("tb-a",)
    assert "tb-a==1.2.3" not in b.requires  # installed from this run's wheel
    assert "tb-a==1.2.3" in b.tree_requires  # still part of the build key


def test_an_extension_with_no_torch_anywhere_stops_at_plan_time(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "ext", "tb-ext", ["setuptools"], setup_py="import torch\n")
    wanted = [Wanted("tb-ext", None, SourceRequest("tb-ext", str(tree)))]
    with pytest.raises(InputError, match="none to build against"):
        _jobs(tmp_path, None, wanted, target=_target())


class _CrossSite:
    """A cross site whose compilers and sysroot are taken as checked."""

    cross = True

    def __init__(self, target: Target, scripts: InstalledTorch | None) -> None:
        self.target = target
        self.scripts = scripts

    def check(self, what: str, variant: str) -> None:
        pass

    def render_target(self, variant: str) -> Target:
        return cpu_target(self.target, variant)

    def compilers(self, variant: str) -> Mapping[str, str | None]:  # noqa: ARG002
        return {"cc": "aarch64-linux-gnu-gcc 12", "cxx": "aarch64-linux-gnu-g++ 12"}

    def scripts_torch(self) -> InstalledTorch | None:
        return self.scripts


def test_a_cross_build_links_the_targets_torch_and_runs_the_hosts(tmp_path: Path) -> None:
    target = _target(origin="root:/sysroot")
    host_torch = InstalledTorch(Version("2.5.1"), None, "/host/torch")
    plan = _plan(target, [_torch_prebuilt(), _build("torchvision", "0.21.0")])
    _, vision = _jobs(tmp_path, plan, site=_CrossSite(target, host_torch))
    assert isinstance(vision, Build)
    assert vision.against.torch == CrossTorch("prebuilt", "2.6.0", host_torch)
    assert vision.compilers["cc"] == "aarch64-linux-gnu-gcc 12"
    assert any("the host's torch 2.5.1 runs torchvision's build scripts" in n for n in vision.notes)


def test_a_cross_build_without_the_hosts_torch_says_to_install_it(tmp_path: Path) -> None:
    target = _target(origin="root:/sysroot")
    plan = _plan(target, [_torch_prebuilt(), _build("torchvision", "0.21.0")])
    with pytest.raises(InputError, match="runs its build scripts on this machine"):
        _jobs(tmp_path, plan, site=_CrossSite(target, None))


def test_with_python_this_machine_is_detected_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from torchbuild import detect
    from torchbuild.commands import wheel as wheel_cmd

    calls: list[str | None] = []

    def detect_host(settings: Any, *, python_executable: str | None = None, **_: Any) -> Target:
        calls.append(python_executable)
        return _target()

    monkeypatch.setattr(detect, "detect_host", detect_host)
    monkeypatch.setattr(
        wheel_cmd,
        "probe_interpreter",
        lambda _python: SimpleNamespace(executable="/opt/py/bin/python3.11"),
    )
    monkeypatch.setenv("TORCHBUILD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    code = main(
        [
            "wheel",
            "tbfix-cext",
            "--source",
            f"tbfix-cext={PROJECTS / 'tbfix-cext'}",
            "--python",
            "/opt/py/bin/python3.11",
            "--dry-run",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert calls == ["/opt/py/bin/python3.11"]
