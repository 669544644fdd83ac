"""Where torchbuild's bundled data (recipes, patches, target presets) lives.

In an installed wheel the data sits in ``torchbuild/_data``; in a source checkout it is the
top-level ``recipes/`` and ``patches/``. ``TORCHBUILD_DATA_DIR`` points elsewhere (tests, users
trying a modified copy). This module is the only code that knows these paths.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.8-3.10
    import tomli as tomllib

__all__ = ["data_root", "load_toml", "patches_dir", "recipes_dir", "table", "targets_dir"]


def data_root() -> Path:
    """The directory holding ``recipes/`` and ``patches/``."""
    override = os.environ.get("TORCHBUILD_DATA_DIR")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    bundled = here / "_data"
    if (bundled / "recipes").is_dir():
        return bundled
    # Source checkout or editable install: orchestrator/torchbuild/ -> repository root.
    return here.parents[1]


def recipes_dir() -> Path:
    return data_root() / "recipes"


def patches_dir() -> Path:
    return data_root() / "patches"


def targets_dir() -> Path:
    return recipes_dir() / "targets"


def load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    return data


@functools.lru_cache(maxsize=None)
def table(name: str) -> dict[str, Any]:
    """A data table from ``recipes/<name>.toml`` (platform facts kept out of the code)."""
    return load_toml(recipes_dir() / f"{name}.toml")
