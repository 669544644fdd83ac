"""Named sets of Debian packages a root is prepared with (data in ``recipes/roots.toml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import resources
from ..errors import InputError, RecipeError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["PackageSet", "Selection", "package_sets", "select"]

TABLE = "roots"

# Debian policy's package name, optionally with :arch, =version or /release as apt accepts them.
# Anything else (an option such as -y, a typo'd set name with capitals) is refused before apt.
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?([=/][A-Za-z0-9.+~:-]+)?$")


@dataclass(frozen=True)
class PackageSet:
    """A named list of packages, e.g. ``torch-build``."""

    name: str
    description: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Selection:
    """What ``--packages`` asked for: the set names used and every package, in order, once."""

    sets: tuple[str, ...]
    packages: tuple[str, ...]


def _load(raw: dict[str, Any]) -> dict[str, PackageSet]:
    sets = raw.get("sets")
    if not isinstance(sets, dict):
        raise RecipeError(f"recipes/{TABLE}.toml has no [sets] table")
    out: dict[str, PackageSet] = {}
    for name, body in sets.items():
        packages = body.get("packages") if isinstance(body, dict) else None
        if not isinstance(packages, list) or not all(
            isinstance(p, str) and _PACKAGE.match(p) for p in packages
        ):
            raise RecipeError(
                f"recipes/{TABLE}.toml: set {name!r} needs `packages`, a list of package names"
            )
        out[name] = PackageSet(name, str(body.get("description", "")), tuple(packages))
    return out


def package_sets() -> dict[str, PackageSet]:
    """Every named set, by name."""
    return _load(resources.table(TABLE))


def select(items: Sequence[str], sets: dict[str, PackageSet] | None = None) -> Selection:
    """Expand set names and package names (comma- or space-separated) into one package list."""
    known = package_sets() if sets is None else sets
    used: list[str] = []
    packages: list[str] = []
    for item in items:
        for word in item.replace(",", " ").split():
            if word in known:
                used.append(word)
                packages.extend(known[word].packages)
            elif _PACKAGE.match(word):
                packages.append(word)
            else:
                raise InputError(
                    f"{word!r} is neither a package set nor a Debian package name",
                    hint=f"package sets: {', '.join(sorted(known))} (see recipes/{TABLE}.toml)",
                )
    return Selection(tuple(dict.fromkeys(used)), tuple(dict.fromkeys(packages)))
