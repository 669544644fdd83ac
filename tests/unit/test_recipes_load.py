"""Loading recipe files: every problem in one run, each with a place and a next step."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from torchbuild.errors import RecipeError
from torchbuild.recipes.load import check_file, load_file, template_names

if TYPE_CHECKING:
    from pathlib import Path

GOOD = """
[recipe]
format = 1
package = "demo"
jobs-env = ["MAX_JOBS"]

[defaults]
env = { A = "1" }
memory = { per-job-gib = 2.0 }

[[series]]
name = "1.0"
versions = ">=1.0,<1.1"
command = ["python", "setup.py", "bdist_wheel"]
"""


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def messages(path: Path) -> list[str]:
    return [str(p) for p in check_file(path, label=path.name)]


def test_a_valid_file_loads(tmp_path: Path) -> None:
    recipe = load_file(write(tmp_path, GOOD), label="demo.toml")
    assert recipe.recipe.package == "demo"
    assert recipe.defaults.env == {"A": "1"}
    assert recipe.series[0].name == "1.0"
    assert str(recipe.series[0].versions) == "<1.1,>=1.0"
    assert recipe.label == "demo.toml"


def test_unknown_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    text = GOOD.replace("[defaults]", "[defaults]\nbuild-require = []").replace(
        'name = "1.0"', 'name = "1.0"\nversion = "==1.0"'
    )
    found = messages(write(tmp_path, text))
    assert any("unknown key 'build-require'; did you mean 'build-requires'?" in m for m in found)
    assert any("unknown key 'version'; did you mean 'versions'?" in m for m in found)


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    text = (
        GOOD
        + """
[[overrides]]
reason = "bad"
when = { arch = "aarch64", pyton = ">=3.12", cuda-version = "12.x" }
env = { B = 1, "not a name" = "x", C = "{verison}" }
build-requires = ["numpy>=", "setuptools", "setuptools<80"]
"""
    )
    found = messages(write(tmp_path, text))
    joined = "\n".join(found)
    assert "unknown key 'pyton'; did you mean 'python'?" in joined
    assert "'12.x' is not a valid version specifier" in joined
    assert 'must be a string (quote it: B = "1")' in joined
    assert "'not a name' is not a valid environment variable name" in joined
    assert "unknown placeholder {verison}; did you mean {version}?" in joined
    assert "'numpy>=' is not a valid requirement" in joined
    assert "setuptools is listed twice" in joined
    assert len(found) >= 7
    with pytest.raises(RecipeError) as info:
        load_file(write(tmp_path, text))
    assert f"{len(found)} problem(s)" in info.value.message
    assert info.value.exit_code == 6


def test_missing_required_keys(tmp_path: Path) -> None:
    text = '[recipe]\nformat = 1\npackage = "demo"\n[[series]]\ncommand = ["x"]\n[[overrides]]\nenv = {}\n'
    found = messages(write(tmp_path, text))
    assert any("series[1]: 'name' is required" in m for m in found)
    assert any("series[1]: 'versions' is required" in m for m in found)
    assert any("overrides[1]: 'reason' is required" in m for m in found)
    assert any("overrides[1]: 'when' is required" in m for m in found)


def test_wrong_format_and_package_name(tmp_path: Path) -> None:
    text = GOOD.replace("format = 1", "format = 2").replace('package = "demo"', 'package = "other"')
    found = "\n".join(messages(write(tmp_path, text)))
    assert "this torchbuild reads format 1" in found
    assert "is 'other', but the file name says 'demo'" in found


def test_overlapping_series_are_a_conflict(tmp_path: Path) -> None:
    text = GOOD + '\n[[series]]\nname = "1.x"\nversions = ">=1.0.5,<2"\ncommand = ["x"]\n'
    found = "\n".join(messages(write(tmp_path, text)))
    assert "series 1.0 and 1.x both contain 1.0.5" in found


def test_same_conditions_different_values_conflict(tmp_path: Path) -> None:
    text = (
        GOOD
        + """
[[overrides]]
reason = "one"
when = { arch = "aarch64" }
env = { X = "1" }

[[overrides]]
reason = "two"
when = { arch = "aarch64" }
env = { X = "2" }

[[overrides]]
reason = "refines, fine"
when = { arch = "aarch64", python = ">=3.12" }
env = { X = "3" }

[[overrides]]
reason = "set and unset"
when = { arch = "x86_64" }
env = { Y = "1" }
env-unset = ["Y"]
"""
    )
    found = messages(write(tmp_path, text))
    conflicts = [m for m in found if "same conditions" in m]
    assert conflicts == [
        "demo.toml: overrides[1] and overrides[2]: same conditions, different values for env.X"
    ]
    assert any("Y is both set (env) and unset (env-unset)" in m for m in found)


def test_patch_references_are_checked(tmp_path: Path) -> None:
    patches = tmp_path / "patches" / "demo" / "1.0"
    patches.mkdir(parents=True)
    good = patches / "0001-good.patch"
    good.write_text("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    text = (
        GOOD
        + f"""
[[patches]]
file = "demo/1.0/0001-good.patch"
sha256 = "{digest}"
reason = "ok"
upstream = "local"
versions = "==1.0.*"

[[patches]]
file = "demo/1.0/0002-missing.patch"
sha256 = "{digest}"
reason = "gone"
upstream = "local"
versions = "==1.0.*"

[[patches]]
file = "demo/1.0/0001-good.patch"
sha256 = "{"0" * 64}"
reason = "stale hash"
upstream = "local"
versions = "==1.0.*"

[[patches]]
file = "demo/9.9/0001-good.patch"
sha256 = "{digest}"
reason = "no such series"
upstream = "local"
versions = "==9.9.*"
"""
    )
    found = "\n".join(messages(write(tmp_path, text)))
    assert "0002-missing.patch does not exist" in found
    assert f"sha256 mismatch for demo/1.0/0001-good.patch: the file has {digest}" in found
    assert "is under series '9.9', which this recipe lacks" in found
    assert "patches[1]" not in found


def test_broken_toml_is_one_problem(tmp_path: Path) -> None:
    found = messages(write(tmp_path, "[recipe\n"))
    assert len(found) == 1
    assert "not valid TOML" in found[0]


def test_template_names() -> None:
    assert template_names("{version}-{cuda_home}") == ["version", "cuda_home"]
    assert template_names("{{literal}}") == []
