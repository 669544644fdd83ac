"""The committed JSON schema equals the generated one and accepts every recipe file."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from torchbuild import resources
from torchbuild.recipes.layers import GENERIC
from torchbuild.recipes.load import is_recipe_file
from torchbuild.recipes.schema import generate

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA = resources.recipes_dir() / "recipe.schema.json"


def recipe_files() -> list[Path]:
    return [
        p
        for p in sorted(resources.recipes_dir().glob("*.toml"))
        if is_recipe_file(resources.load_toml(p))
    ]


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads(SCHEMA.read_text())
    assert committed == generate(), (
        "recipes/recipe.schema.json is stale; regenerate it with "
        "`python -m torchbuild.recipes.schema > recipes/recipe.schema.json`"
    )


def test_the_bundled_recipes_are_all_found() -> None:
    assert {p.stem for p in recipe_files()} == {"torch", "torchvision", "torchaudio", GENERIC}


@pytest.mark.parametrize("path", recipe_files(), ids=lambda p: p.name)
def test_every_recipe_file_validates_against_the_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(resources.load_toml(path), generate(), cls=jsonschema.Draft202012Validator)


def test_the_schema_rejects_what_the_loader_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(generate())
    bad = {
        "recipe": {"format": 1, "package": "x"},
        "defaults": {"env": {"A": 1}, "build-require": []},
        "series": [{"name": "1", "versions": "not a spec", "command": ["x"]}],
        "overrides": [{"reason": "r", "when": {"archh": "x86_64"}}],
    }
    errors = {e.json_path for e in validator.iter_errors(bad)}
    assert "$.defaults.env.A" in errors
    assert "$.defaults" in errors  # additional property build-require
    assert "$.series[0].versions" in errors
    assert "$.overrides[0].when" in errors
