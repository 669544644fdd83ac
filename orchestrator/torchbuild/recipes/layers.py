"""Where recipe files come from: the bundled recipes/, then user recipe directories.

Precedence, lowest first: the bundled ``recipes/`` < each directory in ``TORCHBUILD_RECIPE_PATH``
(``os.pathsep``-separated, in order) < each ``--recipe-dir`` (in order). ``--env KEY=VALUE`` sits
above all of them and is applied by :func:`.render.render`. A user directory holds
``<package>.toml`` files in the same format as the bundled ones (every table optional) and its
own ``patches/`` directory for the patches those files reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from packaging.utils import canonicalize_name

from .. import resources
from ..errors import InputError, RecipeError
from .load import is_recipe_file, load_file

if TYPE_CHECKING:
    from .model import RecipeFile

__all__ = ["GENERIC", "RECIPE_PATH_ENV", "RecipeDir", "layers_for", "package_names", "recipe_dirs"]

RECIPE_PATH_ENV = "TORCHBUILD_RECIPE_PATH"
#: The recipe used for any package without its own: a plain PEP 517 build without isolation.
GENERIC = "generic"


@dataclass(frozen=True)
class RecipeDir:
    path: Path
    patches_root: Path
    bundled: bool
    #: Where the directory was named: "bundled", "TORCHBUILD_RECIPE_PATH" or "--recipe-dir".
    origin: str

    def label(self, file: Path) -> str:
        return f"recipes/{file.name}" if self.bundled else str(file)

    def file(self, name: str) -> Path | None:
        """``<name>.toml`` here, if it exists and is a recipe (not a table of facts)."""
        path = self.path / f"{name}.toml"
        if not path.is_file():
            return None
        try:
            data = resources.load_toml(path)
        except (OSError, ValueError):
            # Let the loader report a broken recipe file with all the detail it has.
            return (
                path if "[recipe]" in path.read_text(encoding="utf-8", errors="replace") else None
            )
        return path if is_recipe_file(data) else None

    def load(self, path: Path) -> RecipeFile:
        return load_file(path, label=self.label(path), patches_root=self.patches_root)


def recipe_dirs(
    extra: Sequence[Path] = (), environ: Mapping[str, str] | None = None
) -> list[RecipeDir]:
    """The recipe directories in force, lowest precedence first."""
    env = os.environ if environ is None else environ
    dirs = [
        RecipeDir(resources.recipes_dir(), resources.patches_dir(), bundled=True, origin="bundled")
    ]
    from_env = [Path(p).expanduser() for p in env.get(RECIPE_PATH_ENV, "").split(os.pathsep) if p]
    for origin, paths in ((RECIPE_PATH_ENV, from_env), ("--recipe-dir", list(extra))):
        for path in paths:
            if not path.is_dir():
                raise InputError(
                    f"recipe directory {path} (from {origin}) does not exist",
                    hint="a recipe directory holds <package>.toml files and a patches/ directory",
                )
            dirs.append(RecipeDir(path, path / "patches", bundled=False, origin=origin))
    return dirs


def layers_for(package: str, dirs: Sequence[RecipeDir]) -> list[RecipeFile]:
    """The recipe files for ``package``, lowest layer first; the generic recipe if none."""
    name = canonicalize_name(package)
    found = [(d, d.file(name)) for d in dirs]
    layers = [d.load(p) for d, p in found if p is not None]
    if layers:
        return layers
    generic = [(d, d.file(GENERIC)) for d in dirs]
    layers = [d.load(p) for d, p in generic if p is not None]
    if not layers:
        raise RecipeError(f"no recipe for {package} and no generic recipe to fall back on")
    return layers


def package_names(dirs: Sequence[RecipeDir]) -> list[str]:
    """Every package with a recipe in any directory (the generic recipe excluded)."""
    names: set[str] = set()
    for d in dirs:
        for path in sorted(d.path.glob("*.toml")):
            if path.stem != GENERIC and d.file(path.stem) is not None:
                names.add(path.stem)
    return sorted(names)
