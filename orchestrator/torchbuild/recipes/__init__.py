"""Recipes: how to turn a source tree into a working wheel for a target, as data.

The data lives in ``recipes/*.toml`` (one file per package) and ``patches/``. This package reads
it (:mod:`.load`), matches overrides against a Target (:mod:`.conditions`), renders one recipe
with provenance (:mod:`.render`), sizes the build's parallelism (:mod:`.jobs`) and generates the
JSON schema (:mod:`.schema`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from .layers import RECIPE_PATH_ENV, layers_for, recipe_dirs
from .render import Rendered, render, to_json

if TYPE_CHECKING:
    from pathlib import Path

    from packaging.version import Version

    from ..target import Target

__all__ = ["RECIPE_PATH_ENV", "Rendered", "render", "render_package", "to_json"]


def render_package(
    package: str,
    version: str | Version,
    target: Target,
    *,
    extra_dirs: Sequence[Path] = (),
    cli_env: Mapping[str, str] | None = None,
    jobs: int | None = None,
    environ: Mapping[str, str] | None = None,
    source_kind: str | None = None,
) -> Rendered:
    """Load ``package``'s layers (bundled, TORCHBUILD_RECIPE_PATH, --recipe-dir) and render."""
    layers = layers_for(package, recipe_dirs(extra_dirs, environ))
    return render(
        layers, package, version, target, cli_env=cli_env, jobs=jobs, source_kind=source_kind
    )
