"""`torchbuild recipes list` and `torchbuild recipes show`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from torchbuild.__main__ import main
from torchbuild.errors import EXIT_USAGE, RecipeError

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["recipes", "list", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["version"] == 1
    by_name = {p["package"]: p for p in data["packages"]}
    assert set(by_name) == {"torch", "torchvision", "torchaudio"}
    assert next(s["name"] for s in by_name["torch"]["series"]) == "2.6"
    assert "arch == aarch64" in by_name["torch"]["platforms"]
    assert by_name["torchvision"]["patches"][0]["file"].startswith("torchvision/0.21/")
    assert data["generic"]["series"][0]["name"] == "any"


def test_list_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["recipes", "list"], capsys)
    assert code == 0
    assert "torchaudio" in out
    assert "(any other)" in out


def test_show_json_for_a_preset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "recipes",
            "show",
            "torch",
            "--version",
            "2.6.0",
            "--target",
            "jetson-thor-jp7",
            "--json",
            "--env",
            "USE_FLASH_ATTENTION=0",
        ],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert data["version"] == 1
    assert (data["package"], data["package_version"]) == ("torch", "2.6.0")
    assert data["env"]["TORCH_CUDA_ARCH_LIST"] == "11.0"
    assert data["env"]["USE_FLASH_ATTENTION"] == "0"
    assert data["provenance"]["USE_FLASH_ATTENTION"] == "--env"
    assert data["provenance"]["USE_PRIORITIZED_TEXT_FOR_LD"].startswith(
        "recipes/torch.toml override #2 (arch == aarch64): "
    )
    assert data["jobs"] == 14
    assert data["command"] == ["python", "setup.py", "bdist_wheel"]


def test_show_text_names_layers_and_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "recipes",
            "show",
            "torchvision",
            "--version",
            "0.21.0",
            "--target",
            "rpi5-bookworm-arm64",
        ],
        capsys,
    )
    assert code == 0
    assert "torchvision 0.21.0 (series 0.21, cpu build)" in out
    assert "recipes/torchvision.toml [series 0.21]" in out
    assert "0001-setup-py-stop-importing-pkg_resources.patch" in out
    assert "MAX_JOBS" in out


def test_show_default_version_warns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["recipes", "show", "torchaudio", "--target", "rpi4-bookworm-arm64"], capsys
    )
    assert code == 0
    assert "torchaudio 2.10.0" in out
    assert "no --version given" in err


def test_show_with_user_recipe_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "torch.toml").write_text(
        '[recipe]\nformat = 1\npackage = "torch"\n[defaults]\nenv = { USE_KINETO = "0" }\n'
    )
    code, out, _ = run(
        [
            "recipes",
            "show",
            "torch",
            "--version",
            "2.6.0",
            "--target",
            "rpi5-bookworm-arm64",
            "--recipe-dir",
            str(tmp_path),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert data["provenance"]["USE_KINETO"] == f"{tmp_path / 'torch.toml'} [defaults]"


def test_bad_env_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["recipes", "show", "torch", "--target", "rpi5-bookworm-arm64", "--env", "NOPE"], capsys
    )
    assert code == EXIT_USAGE
    assert "is not KEY=VALUE" in err


def test_uncovered_version_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["recipes", "show", "torch", "--version", "1.13.1", "--target", "rpi5-bookworm-arm64"],
        capsys,
    )
    assert code == RecipeError.exit_code
    lines = err.strip().splitlines()
    assert lines[0] == "error: no recipe series covers torch 1.13.1"
    assert lines[1].startswith("hint: covered: 2.6 (")


def test_show_for_a_distribution_source_package(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recipes", "show", "torch", "--version", "2.6.0", "--target", "rpi5-bookworm-arm64"]
    code, out, _ = run([*args, "--source-kind", "dsc"], capsys)
    assert code == 0
    assert "USE_SYSTEM_LIBS" in out
    assert "before the build (1): flatc --cpp --gen-mutable --scoped-enums" in out
    code, out, _ = run([*args, "--source-kind", "archive"], capsys)
    assert code == 0
    assert "USE_SYSTEM_LIBS" not in out
    assert "before the build" not in out
