"""The compatibility matrix (``recipes/matrix.toml``) and version resolution.

Resolution picks, for the packages asked for, the newest set of versions that belong together
(each torchvision/torchaudio release is built for specific torch releases) and that support the
target's Python. Versions come from what the indexes publish plus the releases the matrix knows,
so planning works offline too. An impossible request is refused with the reason, unless the
caller overrides the matrix, in which case the reasons become warnings.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import resources
from ..errors import InputError, RecipeError, ResolveError

__all__ = [
    "PACKAGES",
    "Matrix",
    "Request",
    "Resolution",
    "Series",
    "TorchPin",
    "load_matrix",
    "parse_request",
    "resolve",
]

#: The packages torchbuild plans, in build order.
PACKAGES = ("torch", "torchvision", "torchaudio")


def _py(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def py_text(py: tuple[int, int]) -> str:
    return f"{py[0]}.{py[1]}"


@dataclass(frozen=True)
class Series:
    """One torch release series (``2.13``) and what goes with it."""

    torch: str
    releases: tuple[Version, ...]
    python_min: tuple[int, int]
    python_max: tuple[int, int]
    free_threaded: tuple[tuple[int, int], ...]
    cuda: tuple[str, ...]
    cuda_experimental: tuple[str, ...]
    cxx: int
    gcc: str
    cmake: str
    released: str

    def contains(self, version: Version) -> bool:
        return f"{version.major}.{version.minor}" == self.torch

    def supports_python(self, py: tuple[int, int], free_threaded: bool) -> bool:
        if not self.python_min <= py <= self.python_max:
            return False
        return not free_threaded or py in self.free_threaded

    def python_text(self) -> str:
        return f"{py_text(self.python_min)}-{py_text(self.python_max)}"


@dataclass(frozen=True)
class TorchPin:
    """The torch releases a torchvision/torchaudio release goes with, and who says so."""

    #: On torch's public version (a local label in the requirement is kept in ``local``).
    spec: SpecifierSet
    origin: str  # "metadata" (the wheel's own Requires-Dist) or "table" (recipes/matrix.toml)
    #: In words: "its METADATA requires torch>=2.14.0".
    text: str
    #: The requirement as written when it names a local label (``torch==2.6.0+cu126``).
    local: SpecifierSet | None = None
    #: The wheel whose METADATA was read.
    wheel: str | None = None

    def contains(self, torch: Version) -> bool:
        return self.spec.contains(Version(torch.public), prereleases=True)

    @property
    def lowest(self) -> Version | None:
        """The lowest torch the requirement names (``==``, ``>=``, ``~=``)."""
        lows = [Version(s.version) for s in self.spec if s.operator in ("==", ">=", "~=")]
        return min(lows) if lows else None


def spec_words(spec: SpecifierSet) -> str:
    """``==2.6.0`` -> ``torch 2.6.0``; anything else -> ``torch>=2.11``."""
    items = list(spec)
    if len(items) == 1 and items[0].operator == "==" and not items[0].version.endswith("*"):
        return f"torch {items[0].version}"
    if len(items) == 1 and items[0].operator == "==":
        return f"torch {items[0].version[:-2]}.x"
    return f"torch{spec}" if items else "any torch"


@dataclass(frozen=True)
class SourceSpec:
    git: str
    tag: str
    submodules: bool
    recipe: str

    def describe(self, version: Version) -> str:
        return f"git {self.git} at tag {self.tag.format(version=version)}" + (
            " with submodules" if self.submodules else ""
        )


@dataclass(frozen=True)
class Matrix:
    series: tuple[Series, ...]  # oldest first
    requires: Mapping[str, Mapping[Version, SpecifierSet]]
    rules: Mapping[str, str]
    stable_abi_from: Mapping[str, Version]
    sources: Mapping[str, SourceSpec]

    def series_of(self, torch: Version) -> Series | None:
        for s in self.series:
            if s.contains(torch):
                return s
        return None

    @property
    def oldest(self) -> Series:
        return self.series[0]

    @property
    def newest(self) -> Series:
        return self.series[-1]

    def span_text(self) -> str:
        return f"{self.oldest.torch} to {self.newest.torch}"

    def known_versions(self, package: str) -> set[Version]:
        if package == "torch":
            return {v for s in self.series for v in s.releases}
        return set(self.requires.get(package, {}))

    def torch_requirement(self, package: str, version: Version) -> SpecifierSet:
        """The torch a torchvision/torchaudio release is built for.

        Releases older than the table are for torches older than the matrix: an empty match.
        """
        known = self.requires.get(package, {})
        release = Version(version.base_version)
        if release in known:
            return known[release]
        if not known or release < min(known):
            return SpecifierSet("<0")
        if self.rules.get(package) == "minor-15" and release.major == 0:
            torch = f"2.{release.minor - 15}.{release.micro}"
        else:  # "same": torchaudio X.Y.Z pins torch X.Y.Z
            torch = f"{release.major}.{release.minor}.{release.micro}"
        return SpecifierSet(f"=={torch}")

    def pin(self, package: str, version: Version) -> TorchPin:
        """The table's answer, for when no METADATA can be had (and for builds)."""
        spec = self.torch_requirement(package, version)
        return TorchPin(spec, "table", f"the compatibility table pairs it with {spec_words(spec)}")

    def is_stable_abi(self, package: str, version: Version) -> bool:
        start = self.stable_abi_from.get(package)
        return start is not None and version >= start

    def companions_of(self, package: str, torch: Version) -> list[Version]:
        """Known releases of ``package`` built for ``torch``, newest first."""
        return sorted(
            (
                v
                for v in self.known_versions(package)
                if self.torch_requirement(package, v).contains(torch)
            ),
            reverse=True,
        )

    def newest_for_python(self, py: tuple[int, int], *, free_threaded: bool) -> Series | None:
        for s in reversed(self.series):
            if s.supports_python(py, free_threaded):
                return s
        return None


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise RecipeError(f"recipes/matrix.toml: {where} has no {key!r}")
    return data[key]


def _build(data: Mapping[str, Any]) -> Matrix:
    series = []
    for i, row in enumerate(data.get("torch", [])):
        where = f"[[torch]] #{i + 1}"
        py = _require(row, "python", where)
        series.append(
            Series(
                torch=str(_require(row, "series", where)),
                releases=tuple(Version(v) for v in row.get("releases", [])),
                python_min=_py(py[0]),
                python_max=_py(py[1]),
                free_threaded=tuple(_py(v) for v in row.get("free_threaded", [])),
                cuda=tuple(row.get("cuda", [])),
                cuda_experimental=tuple(row.get("cuda_experimental", [])),
                cxx=int(row.get("cxx", 17)),
                gcc=str(row.get("gcc", "")),
                cmake=str(row.get("cmake", "")),
                released=str(row.get("released", "")),
            )
        )
    series.sort(key=lambda s: Version(s.torch))
    requires: dict[str, dict[Version, SpecifierSet]] = {}
    rules: dict[str, str] = {}
    stable: dict[str, Version] = {}
    for package in PACKAGES[1:]:
        table = data.get(package, {})
        requires[package] = {
            Version(v): SpecifierSet(spec) for v, spec in table.get("requires", {}).items()
        }
        rules[package] = str(table.get("rule", "same"))
        if "stable_abi_from" in table:
            stable[package] = Version(table["stable_abi_from"])
    sources = {
        name: SourceSpec(
            git=str(spec["git"]),
            tag=str(spec.get("tag", "v{version}")),
            submodules=bool(spec.get("submodules", False)),
            recipe=str(spec.get("recipe", f"recipes/{name}.toml")),
        )
        for name, spec in data.get("sources", {}).items()
    }
    if not series:
        raise RecipeError("recipes/matrix.toml has no [[torch]] rows")
    return Matrix(tuple(series), requires, rules, stable, sources)


@functools.lru_cache(maxsize=None)
def load_matrix() -> Matrix:
    try:
        return _build(resources.table("matrix"))
    except (ValueError, KeyError, TypeError, IndexError, InvalidVersion, InvalidSpecifier) as exc:
        raise RecipeError(f"recipes/matrix.toml is not valid: {exc}") from None


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One ``PKG[SPEC]`` from the command line."""

    name: str
    specifier: SpecifierSet
    text: str

    @property
    def pinned(self) -> Version | None:
        """The version of an exact ``==X.Y.Z`` pin."""
        specs = list(self.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            try:
                return Version(specs[0].version)
            except InvalidVersion:
                return None
        return None


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def parse_request(text: str) -> Request:
    """``torch``, ``torch==2.6.0``, ``torchvision>=0.20,<0.22``; a bare version means ``==``."""
    match = _REQ.match(text)
    if not match:
        raise InputError(f"cannot read the package {text!r}", hint="write it as torch==2.6.0")
    name = canonicalize_name(match.group(1))
    if name not in PACKAGES:
        raise InputError(
            f"torchbuild plans torch, torchvision and torchaudio, not {match.group(1)!r}",
            hint="ask for one of: " + ", ".join(PACKAGES),
        )
    spec_text = match.group(2).strip()
    if spec_text and spec_text[0].isdigit():
        spec_text = f"=={spec_text}"
    try:
        spec = SpecifierSet(spec_text)
    except InvalidSpecifier:
        raise InputError(
            f"cannot read the version constraint in {text!r}", hint="write it as torch==2.6.0"
        ) from None
    return Request(name, spec, text.strip())


# -- resolution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """The versions to plan, torch always included (asked for, installed, or implied)."""

    versions: Mapping[str, Version]
    #: Packages the user asked for (plan rows); torch may be only implied or installed.
    requested: tuple[str, ...]
    #: "requested", "installed" (the target's torch, not planned) or "implied" (a dependency).
    torch_role: str
    #: Matrix problems the user chose to override.
    warnings: tuple[str, ...] = ()
    #: Per companion, the releases the request admits, newest first (paired or not).
    pools: Mapping[str, tuple[Version, ...]] = field(default_factory=dict)


def _candidates(
    package: str,
    spec: SpecifierSet,
    matrix: Matrix,
    available: Mapping[str, Iterable[Version]],
    pinned: Version | None,
) -> list[Version]:
    pool = set(available.get(package, ())) | matrix.known_versions(package)
    if pinned is not None:
        pool.add(pinned)
    return sorted(
        (v for v in pool if spec.contains(v, prereleases=pinned is not None)), reverse=True
    )


def _python_problem(
    matrix: Matrix, torch: Version, series: Series, py: tuple[int, int], ft: bool
) -> str:
    label = py_text(py) + ("t (free-threaded)" if ft else "")
    newest = matrix.newest_for_python(py, free_threaded=ft)
    if ft and series.python_min <= py <= series.python_max:
        what = f"torch {torch} has no free-threaded build for Python {py_text(py)}"
    else:
        what = f"torch {torch} supports Python {series.python_text()}; this target has {label}"
    if newest is not None:
        return f"{what} (the newest torch for Python {label} is {newest.releases[-1]})"
    return what


def _no_python_message(matrix: Matrix, py: tuple[int, int], ft: bool) -> str:
    label = py_text(py) + ("t (free-threaded)" if ft else "")
    if py < matrix.oldest.python_min:
        return (
            f"no torch release from {matrix.span_text()} supports Python {label}: the oldest, "
            f"torch {matrix.oldest.torch}, needs Python {py_text(matrix.oldest.python_min)} "
            "or newer"
        )
    if py > matrix.newest.python_max:
        return (
            f"no torch release supports Python {label} yet: the newest, torch "
            f"{matrix.newest.torch}, supports up to Python {py_text(matrix.newest.python_max)}"
        )
    return f"no torch release from {matrix.span_text()} supports Python {label}"


def resolve(
    requests: Iterable[Request],
    *,
    python: tuple[int, int],
    free_threaded: bool = False,
    available: Mapping[str, Iterable[Version]] | None = None,
    installed_torch: Version | None = None,
    ignore_matrix: bool = False,
    matrix: Matrix | None = None,
    pin: Callable[[str, Version], TorchPin] | None = None,
) -> Resolution:
    """The newest consistent set for the request; :class:`ResolveError` when none exists.

    ``pin`` says which torch each companion release goes with (its wheel's METADATA where that
    can be had); the table's answer by default.
    """
    return next(
        consistent_sets(
            requests,
            python=python,
            free_threaded=free_threaded,
            available=available,
            installed_torch=installed_torch,
            ignore_matrix=ignore_matrix,
            matrix=matrix,
            pin=pin,
        )
    )


def consistent_sets(
    requests: Iterable[Request],
    *,
    python: tuple[int, int],
    free_threaded: bool = False,
    available: Mapping[str, Iterable[Version]] | None = None,
    installed_torch: Version | None = None,
    ignore_matrix: bool = False,
    matrix: Matrix | None = None,
    pin: Callable[[str, Version], TorchPin] | None = None,
    torch_filter: Callable[[Version], bool] | None = None,
) -> Iterator[Resolution]:
    """Every consistent set for the request, newest torch first, and per torch the companions
    the newest that goes with it. ``torch_filter`` skips torch releases before their companions
    are looked at (their pairing may cost a METADATA read).

    :class:`ResolveError` (at the first ``next``) when there is none; with ``ignore_matrix``
    the newest set as asked, with the problems as warnings.
    """
    matrix = matrix or load_matrix()
    pin = pin or matrix.pin
    available = available or {}
    by_name: dict[str, Request] = {}
    for r in requests:
        if r.name in by_name:
            merged = SpecifierSet(str(by_name[r.name].specifier) + "," + str(r.specifier))
            r = Request(r.name, merged, f"{by_name[r.name].text}, {r.text}")  # noqa: PLW2901
        by_name[r.name] = r
    requested = tuple(p for p in PACKAGES if p in by_name)
    if not requested:
        raise InputError("nothing to plan", hint="name at least one of: " + ", ".join(PACKAGES))
    companions = [p for p in requested if p != "torch"]

    if "torch" in by_name:
        role = "requested"
        torch_req = by_name["torch"]
        torch_pool = _candidates("torch", torch_req.specifier, matrix, available, torch_req.pinned)
    elif installed_torch is not None:
        role = "installed"
        torch_pool = [Version(installed_torch.base_version)]
    else:
        role = "implied"
        torch_pool = _candidates("torch", SpecifierSet(), matrix, available, None)
    if not torch_pool:
        spec = by_name["torch"].text if "torch" in by_name else "torch"
        raise ResolveError(
            f"no torch release matches {spec}",
            hint=f"torchbuild knows torch {matrix.span_text()}; relax the constraint",
        )

    first_problems: list[str] | None = None
    first_choice: dict[str, Version] = {}
    python_ok_seen = False
    found = False
    for torch in torch_pool:
        if torch_filter is not None and not torch_filter(torch):
            continue
        problems: list[str] = []
        series = matrix.series_of(torch)
        if series is None:
            problems.append(
                f"torch {torch} is not in torchbuild's compatibility matrix "
                f"(it covers {matrix.span_text()})"
            )
        elif not series.supports_python(python, free_threaded):
            problems.append(_python_problem(matrix, torch, series, python, free_threaded))
        else:
            python_ok_seen = True
        chosen: dict[str, Version] = {"torch": torch}
        pools: dict[str, tuple[Version, ...]] = {}
        for package in companions:
            req = by_name[package]
            pool = _candidates(package, req.specifier, matrix, available, req.pinned)
            pools[package] = tuple(pool)
            fit = next((v for v in pool if pin(package, v).contains(torch)), None)
            if fit is not None:
                chosen[package] = fit
                continue
            problems.append(_companion_problem(matrix, package, req, pool, torch, pin))
        if not problems:
            found = True
            yield Resolution(chosen, requested, role, pools=pools)
            continue
        if first_problems is None:
            first_problems = problems
            first_choice = chosen

    if found or first_problems is None:
        return  # done, or torch_filter left no torch to look at
    if ignore_matrix:
        # Take the newest candidates as asked, and say what the matrix had against them.
        forced = dict(first_choice)
        for package in companions:
            if package not in forced:
                req = by_name[package]
                pool = _candidates(package, req.specifier, matrix, available, req.pinned)
                if not pool:
                    raise ResolveError(f"no {package} release matches {req.text}")
                forced[package] = pool[0]
        yield Resolution(forced, requested, role, tuple(first_problems))
        return
    single = len(torch_pool) == 1
    if not single and not python_ok_seen:
        message = _no_python_message(matrix, python, free_threaded)
    else:
        message = "; ".join(first_problems)
    hint = "pass --ignore-matrix to plan these versions anyway"
    if role == "installed":
        hint = (
            f"the installed torch is {installed_torch}; ask for torch too to plan a new one, "
            "or " + hint
        )
    raise ResolveError(message, hint=hint)


def _companion_problem(
    matrix: Matrix,
    package: str,
    req: Request,
    pool: list[Version],
    torch: Version,
    pin: Callable[[str, Version], TorchPin],
) -> str:
    goes_with = matrix.companions_of(package, torch)
    tail = f"; torch {torch} goes with {package} {goes_with[0]}" if goes_with else ""
    if not pool:
        return f"no {package} release matches {req.text}{tail}"
    if len(pool) == 1 or req.pinned is not None:
        v = pool[0]
        return f"{package} {v} does not go with torch {torch}: {pin(package, v).text}{tail}"
    matching = f" matching {req.text}" if str(req.specifier) else ""
    return f"no {package} release{matching} is built for torch {torch}{tail}"
