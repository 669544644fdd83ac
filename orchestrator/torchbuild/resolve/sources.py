"""Known wheel sources: which of PyTorch's and Jetson AI Lab's indexes can fit a target.

The sources, their URL layouts and what each index holds are data (``recipes/sources.toml``);
the driver a CUDA major needs under minor-version compatibility is in ``recipes/cuda.toml``.
:func:`fitting_indexes` is a pure function of the Target and ``--cuda``: a CPU target asks the
``cpu`` index, an NVIDIA machine the CUDA indexes its driver runs (newest first), a Jetson the
Jetson AI Lab indexes of its JetPack. :func:`known_sources` turns the choice into
:class:`~torchbuild.resolve.indexes.Source` values on the roots in force (mirrors included).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, cast

from packaging.version import InvalidVersion, Version

from .. import resources
from ..errors import RecipeError
from .indexes.model import Source
from .variants import driver_runs, need_for

if TYPE_CHECKING:
    from ..target import Target

__all__ = [
    "Catalogue",
    "KnownIndex",
    "KnownSource",
    "MirrorError",
    "fitting_indexes",
    "known_sources",
    "load_catalogue",
    "parse_mirrors",
    "pypi_location",
]

IndexKind = Literal["cpu", "cuda", "rocm", "xpu"]
GpuPlatform = Literal["x86_64", "sbsa", "tegra"]
_KINDS: tuple[IndexKind, ...] = ("cpu", "cuda", "rocm", "xpu")
_GPUS: tuple[GpuPlatform, ...] = ("x86_64", "sbsa", "tegra")
#: The machines whose CUDA builds drive the GPU the server way (not Tegra's).
_ARCH_GPU: Mapping[str, GpuPlatform] = {"x86_64": "x86_64", "aarch64": "sbsa"}
_MIRROR_SCHEMES = ("http://", "https://", "file:")


@dataclass(frozen=True)
class KnownIndex:
    """One index of a known source and what it holds."""

    source: str  # the known source's name: "pytorch", "jetson-ai-lab"
    index: str  # "cu126", "cpu", "rocm6.4"
    kind: IndexKind
    arches: tuple[str, ...]  # machines it has wheels for: "x86_64", "aarch64"
    cuda: str | None = None  # "12.6" for CUDA indexes
    user: str | None = None  # devpi user: "jp6", "sbsa"
    gpu: GpuPlatform | None = None  # None: by machine (x86_64, or sbsa on aarch64)
    jetpack: str | None = None  # JetPack major the builds are for

    @property
    def label(self) -> str:
        """``cu126`` or, on a devpi server, ``jp6/cu126``."""
        return f"{self.user}/{self.index}" if self.user else self.index


@dataclass(frozen=True)
class KnownSource:
    name: str
    title: str
    root: str  # what a mirror replaces
    pattern: str  # an index's URL: "{root}/{user}/{index}/+simple"
    indexes: tuple[KnownIndex, ...]

    def url(self, index: KnownIndex | None = None, root: str | None = None) -> str:
        """The index's URL on ``root`` (a mirror) or on the source's own root."""
        base = (root or self.root).rstrip("/")
        return self.pattern.format(
            root=base,
            index=index.index if index else "",
            user=(index.user or "") if index else "",
        )


@dataclass(frozen=True)
class Catalogue:
    sources: tuple[KnownSource, ...]
    #: CUDA major -> the oldest Linux driver that runs any build of that major.
    minor_version_driver: Mapping[str, str]
    #: CUDA X.Y -> the oldest Linux driver made for it (for majors without the row above).
    driver_minimum: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    def get(self, name: str) -> KnownSource:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


def _index(source: str, row: Mapping[str, Any]) -> KnownIndex:
    kind = str(row["kind"])
    gpu = row.get("gpu")
    if kind not in _KINDS:
        raise ValueError(
            f"{source} index {row.get('index')!r}: kind {kind!r} is not one of {_KINDS}"
        )
    if gpu is not None and gpu not in _GPUS:
        raise ValueError(f"{source} index {row.get('index')!r}: gpu {gpu!r} is not one of {_GPUS}")
    cuda = row.get("cuda")
    if kind == "cuda" and not re.match(r"^\d+\.\d+$", str(cuda)):
        raise ValueError(f"{source} index {row.get('index')!r}: a CUDA index needs cuda = 'X.Y'")
    return KnownIndex(
        source=source,
        index=str(row["index"]),
        kind=kind,
        arches=tuple(str(a) for a in row["arches"]),
        cuda=None if cuda is None else str(cuda),
        user=None if row.get("user") is None else str(row["user"]),
        gpu=cast("GpuPlatform | None", gpu),
        jetpack=None if row.get("jetpack") is None else str(row["jetpack"]),
    )


def _build(data: Mapping[str, Any], cuda: Mapping[str, Any]) -> Catalogue:
    sources = []
    for row in data["source"]:
        name = str(row["name"])
        if not re.match(r"^[a-z][a-z0-9-]*$", name):
            raise ValueError(f"source name {name!r} is not lower-case letters, digits and '-'")
        sources.append(
            KnownSource(
                name=name,
                title=str(row.get("title", name)),
                root=str(row["root"]).rstrip("/"),
                pattern=str(row["index"]),
                indexes=tuple(_index(name, i) for i in row.get("indexes", [])),
            )
        )
    return Catalogue(
        sources=tuple(sources),
        minor_version_driver={str(k): str(v) for k, v in cuda["minor_version_driver"].items()},
        driver_minimum={str(k): str(v) for k, v in cuda["driver_minimum"].items()},
    )


@functools.lru_cache(maxsize=None)
def load_catalogue() -> Catalogue:
    try:
        return _build(resources.table("sources"), resources.table("cuda"))
    except (KeyError, TypeError, ValueError) as exc:
        raise RecipeError(f"recipes/sources.toml is not valid: {exc}") from None


# -- which indexes can fit ---------------------------------------------------------------------


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _mm(cuda: str) -> Version:
    return Version(".".join(cuda.split(".")[:2]))


def _jetpack_major(target: Target) -> str | None:
    if target.jetson is None:
        return None
    if target.jetson.jetpack:
        return target.jetson.jetpack.split(".")[0].split()[0]
    by_major: Mapping[str, str] = resources.table("jetson").get("jetpack_by_major", {})
    return by_major.get(target.jetson.l4t.split(".")[0])


def _newest_first(indexes: Sequence[KnownIndex]) -> list[KnownIndex]:
    def key(index: KnownIndex) -> tuple[int, Version]:
        return (0, _mm(index.cuda)) if index.cuda else (-1, Version("0"))

    return sorted(indexes, key=key, reverse=True)


def fitting_indexes(
    target: Target, cuda: str = "auto", catalogue: Catalogue | None = None
) -> list[KnownIndex]:
    """The known indexes that can hold a working build for ``target`` under ``--cuda``.

    CPU: the ``cpu`` index of the target's machine. CUDA on a Jetson: the Jetson AI Lab indexes
    of its JetPack and GPU platform (Tegra up to JetPack 6, SBSA from 7) whose CUDA its L4T
    driver supports. CUDA elsewhere: the PyTorch CUDA indexes for the machine (aarch64 ones are
    SBSA builds) whose CUDA its driver runs, newest first. ROCm and XPU are never asked
    (torchbuild plans CPU and NVIDIA builds); other machines and systems get nothing beyond PyPI.
    """
    catalogue = catalogue or load_catalogue()
    if target.os != "linux" or target.arch not in _ARCH_GPU:
        return []
    need = need_for(target, cuda)
    every = [i for s in catalogue.sources for i in s.indexes if target.arch in i.arches]
    if need.kind == "cpu":
        return [i for i in every if i.kind == "cpu" and i.jetpack is None]
    cudas = [i for i in every if i.kind == "cuda" and i.cuda]
    if need.exact_cuda:
        cudas = [i for i in cudas if i.cuda and _mm(i.cuda) == _mm(need.exact_cuda)]
    if target.jetson is not None:
        # A Jetson's driver comes with L4T and runs the CUDA it reports, no newer minor.
        jetpack = _jetpack_major(target)
        platform = need.platform or "tegra"
        runs = need.driver_cuda
        chosen = [
            i
            for i in cudas
            if i.jetpack is not None
            and i.jetpack == jetpack
            and i.gpu == platform
            and (need.exact_cuda or not runs or _mm(i.cuda or "0") <= _mm(runs))
        ]
        return _newest_first(chosen)
    machine_gpu = _ARCH_GPU[target.arch]
    chosen = [
        i
        for i in cudas
        if i.jetpack is None
        and (i.gpu or machine_gpu) == machine_gpu
        and (
            need.exact_cuda
            or driver_runs(i.cuda or "0", driver=need.driver, driver_cuda=need.driver_cuda)
        )
    ]
    return _newest_first(chosen)


# -- mirrors and Source values ----------------------------------------------------------------


class MirrorError(ValueError):
    """A mirror setting that cannot be used; ``hint`` says what can."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _mirror_hint(catalogue: Catalogue) -> str:
    return (
        "known sources: "
        + ", ".join(catalogue.names)
        + '; write NAME=URL pairs, e.g. TORCHBUILD_MIRRORS="pytorch=https://mirror.example/whl"'
    )


def parse_mirrors(value: Any, catalogue: Catalogue | None = None) -> tuple[tuple[str, str], ...]:
    """``"pytorch=URL jetson-ai-lab=URL"`` or a ``{name: url}`` table, checked: every name a
    known source, every URL http(s) or file."""
    catalogue = catalogue or load_catalogue()
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        for item in str(value or "").split():
            name, sep, url = item.partition("=")
            if not sep or not name or not url:
                raise MirrorError(f"{item!r} is not NAME=URL", _mirror_hint(catalogue))
            pairs.append((name, url))
    out: dict[str, str] = {}
    for name, given in pairs:
        key = name.strip().lower()
        if key not in catalogue.names:
            raise MirrorError(f"unknown mirror name {name!r}", _mirror_hint(catalogue))
        url = given.strip()
        if not url.startswith(_MIRROR_SCHEMES):
            raise MirrorError(
                f"the {key} mirror {url!r} is not an http(s):// or file: URL",
                _mirror_hint(catalogue),
            )
        out[key] = url.rstrip("/")
    return tuple(out.items())


def pypi_location(
    mirrors: Sequence[tuple[str, str]], catalogue: Catalogue | None = None
) -> tuple[str, str | None]:
    """PyPI's index URL in force and, when a mirror serves it, PyPI's own URL."""
    catalogue = catalogue or load_catalogue()
    root = dict(mirrors).get("pypi")
    own = catalogue.get("pypi")
    return (own.url(root=root), own.url()) if root else (own.url(), None)


def known_sources(
    target: Target,
    cuda: str = "auto",
    mirrors: Sequence[tuple[str, str]] = (),
    catalogue: Catalogue | None = None,
) -> list[Source]:
    """The fitting known indexes as sources, on their mirrors where one is set."""
    catalogue = catalogue or load_catalogue()
    roots = dict(mirrors)
    out = []
    for index in fitting_indexes(target, cuda, catalogue):
        known = catalogue.get(index.source)
        upstream = known.url(index)
        mirror = roots.get(known.name)
        location = known.url(index, mirror) if mirror else upstream
        origin = f"known source {known.name} ({index.label})"
        if mirror:
            origin += " via mirror"
        out.append(
            Source(
                "index",
                location,
                origin,
                known=known.name,
                upstream=upstream if mirror else None,
            )
        )
    return out
