"""The bundled data: every recipe valid, every patch referenced once, every reference present."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from torchbuild import resources
from torchbuild.fs import sha256_file
from torchbuild.recipes.layers import layers_for, package_names, recipe_dirs
from torchbuild.recipes.load import check_file, is_recipe_file

if TYPE_CHECKING:
    from pathlib import Path


def bundled_recipes() -> list[Path]:
    return [
        p
        for p in sorted(resources.recipes_dir().glob("*.toml"))
        if is_recipe_file(resources.load_toml(p))
    ]


@pytest.mark.parametrize("path", bundled_recipes(), ids=lambda p: p.name)
def test_bundled_recipe_has_no_problems(path: Path) -> None:
    problems = check_file(path, label=f"recipes/{path.name}", patches_root=resources.patches_dir())
    assert [str(p) for p in problems] == []


def test_patches_and_references_match_both_ways() -> None:
    root = resources.patches_dir()
    on_disk = {str(p.relative_to(root)) for p in root.glob("*/*/*.patch")}
    referenced: list[str] = []
    for name in package_names(recipe_dirs([], {})):
        for f in layers_for(name, recipe_dirs([], {})):
            for p in f.patches:
                referenced.append(p.file)
                assert sha256_file(root / p.file).sha256 == p.sha256, p.file
                assert p.reason
                assert p.upstream
    assert sorted(referenced) == sorted(set(referenced)), "a patch is referenced twice"
    assert set(referenced) == on_disk


def test_patch_files_are_plain_unified_diffs() -> None:
    for path in resources.patches_dir().glob("*/*/*.patch"):
        text = path.read_text()
        assert "\r" not in text, path
        assert "\n--- a/" in text, path
        assert "\n+++ b/" in text, path
        assert path.name[:4].isdigit(), path


def test_every_series_and_override_says_why() -> None:
    bundled = recipe_dirs([], {})[0]
    for path in bundled_recipes():
        recipe = bundled.load(path)
        for ov in recipe.overrides:
            assert len(ov.reason) > 20, (path.name, ov.reason)
            if ov.memory is not None:
                assert ov.memory.source, (path.name, ov.reason)
        mem = recipe.defaults.memory
        assert mem is not None, path.name
        assert mem.source, path.name


def test_jetson_arch_lists_agree_across_recipes() -> None:
    # torchvision and torchaudio kernels must cover the GPUs torch was built for: same lists.
    dirs = recipe_dirs([], {})

    def lists(package: str) -> dict[object, str]:
        return {
            ov.when: (ov.env or {})["TORCH_CUDA_ARCH_LIST"]
            for f in layers_for(package, dirs)
            for ov in f.overrides
            if ov.when.jetson and "TORCH_CUDA_ARCH_LIST" in (ov.env or {})
        }

    torch = lists("torch")
    assert len(torch) == 6
    assert lists("torchvision") == torch
    assert lists("torchaudio") == torch
