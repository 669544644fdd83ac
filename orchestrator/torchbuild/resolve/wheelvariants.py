"""Wheel variants (PEP 825 draft, part of PEP 817): labelled wheel files and their properties.

A variant wheel carries one more file-name component after the platform tag, its *label*
(``torch-2.9.0-cp312-cp312-manylinux_2_28_aarch64-cu126.whl``, ``[0-9a-z_.]+``). What the label
means is published next to the wheels in ``{name}-{version}-variants.json``::

    {"$schema": "https://variants-schema.wheelnext.dev/peps/825/v0.1.1.json",
     "default-priorities": {"namespace": ["nvidia"]},
     "variants": {"cu126": {"nvidia": {"cuda_version_lower_bound": ["12.6"],
                                       "sm_arch": ["80_real", "87_real", "90_virtual"]}}}}

Each property is ``namespace :: feature :: value``; a wheel works on a system when, for every
feature it lists, at least one of its values holds there. Installers ask a provider plugin
what holds; NVIDIA's generic provider accepts ``80_real`` code on any 8.x GPU, which is wrong on
a Jetson: Tegra GPUs have no binary compatibility between SM versions (an Orin, sm_87, needs
sm_87 machine code or PTX of 8.7 or lower). So torchbuild maps the ``nvidia`` properties onto
its own :class:`~torchbuild.resolve.variants.Variant` and judges it with the plan's one fit rule
(:func:`~torchbuild.resolve.variants.problems`), Tegra rule included. Properties of namespaces
torchbuild does not know cannot be checked, and such a wheel is not chosen.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from packaging.utils import (
    BuildTag,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from . import variants

if TYPE_CHECKING:
    from packaging.tags import Tag

    from .indexes import FileLink, IndexClient, Listing, Source

__all__ = [
    "VARIANTS_SUFFIX",
    "Book",
    "Property",
    "VariantWheelName",
    "VariantsError",
    "VariantsFile",
    "book_for",
    "judge",
    "label_of",
    "parse_variant_wheel",
    "parse_variants_json",
    "variant_of_properties",
    "variants_json_name",
]

VARIANTS_SUFFIX = "-variants.json"
_LABEL = re.compile(r"^[0-9a-z_.]+$")
_NAME = re.compile(r"^[a-z0-9_]+$")  # namespaces and feature names
_VALUE = re.compile(r"^[0-9a-z_.]+$")
_SCHEMA_VERSION = re.compile(r"/v(\d+)\.(\d+)\.(\d+)\.json$")
#: Draft format majors this module reads. 0.x are the drafts; 1.0.0 will be the final format.
_SUPPORTED_MAJORS = frozenset({0})
_SM = re.compile(r"^(\d+)(\d)([a-z]?)_(real|virtual)$")


class VariantsError(ValueError):
    """A variants.json file or a variant wheel name that does not follow the format."""


# -- file names --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantWheelName:
    """A wheel file name, with the variant label PEP 825 adds after the platform tag."""

    name: NormalizedName
    version: Version
    build: BuildTag
    tags: frozenset[Tag]
    label: str | None  #: None for a non-variant wheel; "null" is the null variant


def label_of(filename: str) -> str | None:
    """The variant label of a wheel file name, or None (not a variant wheel, or not a wheel).

    With six dash-separated parts the third is a build tag when it starts with a digit (the
    wheel spec requires that) and a Python tag otherwise (PEP 825 forbids a leading digit
    there), so a label is told from a build tag without guessing.
    """
    if not filename.endswith(".whl"):
        return None
    parts = filename[: -len(".whl")].split("-")
    if len(parts) == 7 or (len(parts) == 6 and not parts[2][:1].isdigit()):
        return parts[-1]
    return None


def parse_variant_wheel(filename: str) -> VariantWheelName:
    """Parse a wheel file name with or without a variant label (packaging rejects the label)."""
    label = label_of(filename)
    plain = filename
    if label is not None:
        if not _LABEL.match(label):
            raise VariantsError(f"{filename}: variant label {label!r} is not [0-9a-z_.]+")
        plain = filename[: -len(f"-{label}.whl")] + ".whl"
    try:
        name, version, build, tags = parse_wheel_filename(plain)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise VariantsError(str(exc)) from None
    return VariantWheelName(name, version, build, tags, label)


def variants_json_name(project: str, version: Version) -> str:
    """``{name}-{version}-variants.json``, normalised as in wheel file names."""
    return f"{canonicalize_name(project).replace('-', '_')}-{version}{VARIANTS_SUFFIX}"


def _variants_file_key(filename: str) -> tuple[NormalizedName, Version] | None:
    if not filename.endswith(VARIANTS_SUFFIX):
        return None
    name, sep, version = filename[: -len(VARIANTS_SUFFIX)].rpartition("-")
    if not sep or not name:
        return None
    try:
        return canonicalize_name(name), Version(version)
    except InvalidVersion:
        return None


# -- variants.json -----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Property:
    namespace: str
    feature: str
    value: str

    def __str__(self) -> str:
        return f"{self.namespace} :: {self.feature} :: {self.value}"


@dataclass(frozen=True)
class VariantsFile:
    """A parsed ``{name}-{version}-variants.json`` (or a wheel's ``variant.json``)."""

    schema: str | None
    namespaces: tuple[str, ...]  #: ``default-priorities.namespace``, most important first
    variants: tuple[tuple[str, tuple[Property, ...]], ...]  #: (label, properties), file order

    def properties(self, label: str) -> tuple[Property, ...] | None:
        """The properties of ``label``; None when the file does not describe it."""
        if label == "null":  # reserved: the null variant, always zero properties
            return dict(self.variants).get(label, ())
        return dict(self.variants).get(label)


def _strings(value: Any, where: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise VariantsError(f"{where} must be a list of strings")
    bad = [v for v in value if not pattern.match(v)]
    if bad:
        raise VariantsError(f"{where}: {bad[0]!r} does not match {pattern.pattern}")
    return tuple(value)


def parse_variants_json(data: bytes | str | Mapping[str, Any]) -> VariantsFile:
    """Parse and check a variants.json document; :class:`VariantsError` when it is not one."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise VariantsError(f"not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise VariantsError("the top level must be an object")
    schema = data.get("$schema")
    if schema is not None:
        if not isinstance(schema, str):
            raise VariantsError("$schema must be a string")
        match = _SCHEMA_VERSION.search(schema)
        if match and int(match.group(1)) not in _SUPPORTED_MAJORS:
            # The draft says tools must refuse a major version they do not know.
            raise VariantsError(f"format version {match.group(1)}.x is not supported ({schema})")
    priorities = data.get("default-priorities")
    if not isinstance(priorities, Mapping) or "namespace" not in priorities:
        raise VariantsError("default-priorities.namespace is required")
    namespaces = _strings(priorities["namespace"], "default-priorities.namespace", _NAME)
    table = data.get("variants")
    if not isinstance(table, Mapping):
        raise VariantsError("variants must be an object")
    out = []
    for label, by_namespace in table.items():
        if not isinstance(label, str) or not _LABEL.match(label):
            raise VariantsError(f"variant label {label!r} is not [0-9a-z_.]+")
        if not isinstance(by_namespace, Mapping):
            raise VariantsError(f"variants.{label} must be an object")
        props = []
        for namespace, features in by_namespace.items():
            if not isinstance(namespace, str) or not _NAME.match(namespace):
                raise VariantsError(f"variants.{label}: namespace {namespace!r} is not valid")
            if namespace not in namespaces:
                raise VariantsError(
                    f"variants.{label}: namespace {namespace} is missing from "
                    "default-priorities.namespace"
                )
            if not isinstance(features, Mapping):
                raise VariantsError(f"variants.{label}.{namespace} must be an object")
            for feature, values in features.items():
                where = f"variants.{label}.{namespace}.{feature}"
                if not isinstance(feature, str) or not _NAME.match(feature):
                    raise VariantsError(f"{where}: the feature name is not valid")
                props += [Property(namespace, feature, v) for v in _strings(values, where, _VALUE)]
        out.append((label, tuple(sorted(props))))
    return VariantsFile(schema, namespaces, tuple(out))


# -- properties, judged ------------------------------------------------------------------------


def _capability(value: str) -> tuple[str, str] | None:
    """``87_real`` -> ("8.7", "real"); ``120a_virtual`` -> ("12.0a", "virtual")."""
    match = _SM.match(value)
    if not match:
        return None
    return f"{int(match.group(1))}.{match.group(2)}{match.group(3)}", match.group(4)


def _lowest(values: Iterable[str]) -> str | None:
    found = [(Version(v), v) for v in values if _is_version(v)]
    return min(found)[1] if found else None


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def variant_of_properties(
    properties: Iterable[Property], base: variants.Variant
) -> variants.Variant:
    """The variant the properties describe, on top of what the index said (``base``).

    ``nvidia :: cuda_version_lower_bound`` is the CUDA the driver must run (of several values
    any one may hold, so the lowest counts); ``sm_arch`` values ``NN_real`` are machine code,
    ``NN_virtual`` PTX. Without an ``nvidia`` property the wheel is a CPU build (``amd``/
    ``rocm`` namespaces: ROCm). Tegra or SBSA is not a property: it stays what the index says.
    """
    props = list(properties)
    nvidia = [p for p in props if p.namespace == "nvidia"]
    namespaces = {p.namespace for p in props}
    family = base.family
    if not nvidia:
        kind: variants.VariantKind = "rocm" if namespaces & {"amd", "rocm"} else "cpu"
        return variants.Variant(kind, family=family, label=base.label)
    lower = _lowest(p.value for p in nvidia if p.feature == "cuda_version_lower_bound")
    sass: list[str] = []
    ptx: list[str] = []
    for p in nvidia:
        if p.feature != "sm_arch":
            continue
        parsed = _capability(p.value)
        if parsed is not None:
            (sass if parsed[1] == "real" else ptx).append(parsed[0])
    has_arch = any(p.feature == "sm_arch" for p in nvidia)
    return replace(
        base,
        kind="cuda",
        cuda=lower or (base.cuda if base.kind == "cuda" else None),
        sass=tuple(sass) if has_arch else base.sass if base.kind == "cuda" else None,
        ptx=tuple(ptx) if has_arch else base.ptx if base.kind == "cuda" else (),
        uncertain=False if has_arch else base.uncertain,
    )


#: The ``nvidia`` features torchbuild understands; any other property cannot be checked.
_KNOWN = frozenset(
    {
        ("nvidia", "cuda_version_lower_bound"),
        ("nvidia", "cuda_version_upper_bound"),
        ("nvidia", "sm_arch"),
    }
)


def judge(
    properties: Iterable[Property], base: variants.Variant, need: variants.Need
) -> tuple[variants.Variant, list[variants.Problem], list[str]]:
    """The variant, why it does not work for ``need`` (empty when it does), and notes."""
    props = sorted(properties)
    variant = variant_of_properties(props, base)
    found, notes = variants.problems(variant, need)
    upper = [p.value for p in props if p.feature == "cuda_version_upper_bound"]
    if need.kind == "cuda" and need.driver_cuda and upper:
        try:
            driver = Version(need.driver_cuda)
            if not any(driver < Version(u) for u in upper):
                found.append(
                    variants.Problem(
                        "driver",
                        f"it needs a driver for CUDA below {max(upper, key=Version)}, and "
                        f"{need.who}'s supports {need.driver_cuda}",
                    )
                )
        except InvalidVersion:
            notes.append(f"cuda_version_upper_bound {', '.join(upper)} is not a version")
    unknown = [p for p in props if (p.namespace, p.feature) not in _KNOWN]
    if unknown and not (variant.kind == "cpu" and need.kind == "cpu" and _cpu_only(unknown)):
        found.append(
            variants.Problem(
                "variant-property",
                "torchbuild cannot check " + ", ".join(f"`{p}`" for p in unknown) + " here",
            )
        )
    elif unknown:
        notes.append("not checked: " + ", ".join(str(p) for p in unknown))
    return variant, found, notes


def _cpu_only(props: Iterable[Property]) -> bool:
    """Properties that only narrow a CPU build (instruction levels, BLAS): a CPU wheel with
    them is still worth offering to a CPU target, with a note, rather than never."""
    return all(p.namespace in ("x86_64", "aarch64", "blas_lapack") for p in props)


# -- where the properties come from: the index's variants.json files ---------------------------


Fetch = Callable[["FileLink"], bytes]


class Book:
    """The variants.json files the indexes link, read once each, on first need."""

    def __init__(
        self, links: Mapping[tuple[Source, NormalizedName, Version], FileLink], fetch: Fetch
    ) -> None:
        self._links = links
        self._fetch = fetch
        self._read: dict[str, VariantsFile | str] = {}

    def describe(self, source: Source, project: str, version: Version) -> VariantsFile | str:
        """The parsed file for this release on this source, or why there is none (words)."""
        public = Version(version.public)
        link = self._links.get((source, canonicalize_name(project), public))
        name = variants_json_name(project, public)
        if link is None:
            return f"{source.describe()} links no {name}"
        if link.url not in self._read:
            try:
                self._read[link.url] = parse_variants_json(_checked(self._fetch(link), link))
            except VariantsError as exc:
                self._read[link.url] = f"{name} is not valid: {exc}"
            except OSError as exc:
                self._read[link.url] = f"{name} could not be read: {exc}"
        return self._read[link.url]

    def judge(
        self,
        source: Source,
        project: str,
        version: Version,
        label: str,
        base: variants.Variant,
        evidence: str,
        need: variants.Need | None,
    ) -> tuple[variants.Variant, str, list[variants.Problem], list[str]]:
        """A variant wheel's verdict for :func:`torchbuild.resolve.candidates.evaluate`."""
        described = self.describe(source, project, version)
        props = described.properties(label) if isinstance(described, VariantsFile) else None
        if props is None:
            why = described if isinstance(described, str) else f"it does not describe {label}"
            problem = variants.Problem(
                "variant-property", f"its variant label {label} cannot be read: {why}"
            )
            return variants.Variant("unknown", family=base.family), evidence, [problem], []
        words = _grouped(props) or "no properties"
        evidence = f"{evidence} (variant {label}: {words})"
        if need is None:
            return variant_of_properties(props, base), evidence, [], []
        variant, found, notes = judge(props, base, need)
        return variant, evidence, found, notes


def _grouped(props: Iterable[Property]) -> str:
    """``nvidia :: sm_arch :: 80_real | 90_real``: one feature's values on one line."""
    features: dict[tuple[str, str], list[str]] = {}
    for p in props:
        features.setdefault((p.namespace, p.feature), []).append(p.value)
    return "; ".join(f"{ns} :: {feat} :: {' | '.join(v)}" for (ns, feat), v in features.items())


def _checked(body: bytes, link: FileLink) -> bytes:
    if link.sha256 and hashlib.sha256(body).hexdigest() != link.sha256:
        raise VariantsError("its sha256 does not match the index's")
    return body


def book_for(listings: Iterable[Listing], client: IndexClient) -> Book:
    """A :class:`Book` over every ``*-variants.json`` link in ``listings``, read through
    ``client`` (its transport, timeout, offline mode; kept next to its index cache)."""
    links: dict[tuple[Source, NormalizedName, Version], FileLink] = {}
    for listing in listings:
        for link in listing.files:
            key = _variants_file_key(link.filename)
            if key is not None:
                links.setdefault((listing.source, *key), link)
    return Book(links, _fetcher(client))


def _fetcher(client: IndexClient) -> Fetch:
    """Read a variants.json link: from disk for ``file:``, else through the client's transport.

    Kept next to the index cache. A link with a sha256 names fixed bytes, so a copy under that
    hash never goes stale; without one (the file may be updated, PEP 825 says) the copy is
    fresh for the index cache's time to live, and offline any copy is used.
    """
    cache_dir = client.cache.root.parent / "variants" if client.cache is not None else None
    ttl = client.cache.ttl if client.cache is not None else 0.0

    def fetch(link: FileLink) -> bytes:
        url = link.url
        if url.startswith("file:"):
            return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)).read_bytes()
        copy = None
        if cache_dir is not None:
            key = hashlib.sha256(f"{url}#{link.sha256 or ''}".encode()).hexdigest()[:40]
            copy = cache_dir / f"{key}.json"
            try:
                age = client.clock() - copy.stat().st_mtime
                if link.sha256 or client.offline or age < ttl:
                    return copy.read_bytes()
            except OSError:
                pass
        if client.offline:
            raise OSError("offline, and it is not in the cache")
        response = client.transport(url, {"Accept": "application/json"}, client.timeout)
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
        if copy is not None:
            try:
                copy.parent.mkdir(parents=True, exist_ok=True)
                tmp = copy.with_suffix(".tmp")
                tmp.write_bytes(response.body)
                tmp.replace(copy)
            except OSError:  # a read-only cache costs a request next time, nothing more
                pass
        return response.body

    return fetch
