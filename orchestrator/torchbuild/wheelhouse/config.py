"""``index config``: the pip and uv settings that install from the wheelhouse, unshadowed.

Why each piece is there:

* pip merges the candidates of every index and takes the highest version; on a tie it goes by
  tag priority, then build number, so another index's file of the same version can win (pip
  before 26 ranks ``manylinux`` above a local ``linux_aarch64``). pip has no per-package index,
  so the only lever is what a candidate must match: the generated
  constraints file pins each package to a version with a local label (``torch==2.6.0+cpu``).
  PyPI refuses uploads with local labels, so no PyPI file can ever satisfy that pin. A version
  without a label is pinned to the exact file by URL when there is one file, and otherwise
  reported: pip cannot protect it, uv and the hashed requirements file can.
* Hashes cannot go into a constraints file: pip then demands hashes for every package.
  ``requirements.txt`` carries them instead, for ``pip install --require-hashes -r``.
* uv takes each package from the first index that lists it (``index-strategy = "first-index"``),
  so listing the wheelhouse first is enough; the same pins go into ``constraint-dependencies``.
  For uv projects, an ``explicit`` index plus ``[tool.uv.sources]`` ties the packages to it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..errors import InputError
from ..resolve.wheelvariants import VariantsError, label_of, parse_variant_wheel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..resolve.plan import Action, Decision
    from .manifest import Entry

__all__ = [
    "DEFAULT_PROJECTS",
    "PYPI_SIMPLE",
    "ClientConfig",
    "InstallConfig",
    "Pin",
    "Route",
    "client_config",
    "install_config",
]

#: pip's and uv's default index, the one that must not shadow the wheelhouse.
PYPI_SIMPLE = "https://pypi.org/simple"
DEFAULT_PROJECTS = ("torch", "torchvision", "torchaudio")


@dataclass(frozen=True)
class Pin:
    """One package held to the wheelhouse."""

    project: str
    version: Version
    requirement: str  #: the constraint line: ``torch==2.6.0+cpu`` or ``torch @ URL``
    hashes: tuple[str, ...]  #: sha256 of every file of this version
    protected: bool  #: whether pip alone (constraints, no hashes) cannot be shadowed


@dataclass(frozen=True)
class ClientConfig:
    index_url: str
    pins: tuple[Pin, ...]
    files: tuple[tuple[str, str], ...]  #: (file name, text), in the order to show them
    notes: tuple[str, ...]


def _choose(
    project: str, spec: Requirement | None, entries: Sequence[Entry]
) -> tuple[Version, list[str]]:
    versions = sorted({e.name.version for e in entries}, reverse=True)
    if spec is not None and spec.specifier:
        versions = [v for v in versions if spec.specifier.contains(v, prereleases=True)]
        if not versions:
            raise InputError(
                f"the wheelhouse has no {project} matching {spec}",
                hint=f"see the versions with `torchbuild index list {project}`",
            )
    chosen = versions[0]
    notes = []
    siblings = sorted(str(v) for v in versions if v.public == chosen.public and v != chosen)
    if siblings and (spec is None or not spec.specifier):
        notes.append(
            f"{project} {chosen.public} is here in more variants ({', '.join(siblings)}); "
            f"pinned {chosen}, choose another with --project '{project}==VERSION'"
        )
    return chosen, notes


def _pin(
    project: str, version: Version, files: Sequence[Entry], index_url: str
) -> tuple[Pin, list[str]]:
    hashes = tuple(sorted(e.sha256 for e in files))
    if version.local:
        return Pin(project, version, f"{project}=={version}", hashes, protected=True), []
    if len(files) == 1:
        url = f"{index_url.rstrip('/')}/{project}/{quote(files[0].filename, safe='')}"
        return Pin(project, version, f"{project} @ {url}", hashes, protected=True), []
    note = (
        f"{project} {version} has no local version label and {len(files)} files: pip may take "
        f"an index's own {project} {version} instead; install with the hashed requirements.txt "
        "or with uv, or give the wheels a local label"
    )
    return Pin(project, version, f"{project}=={version}", hashes, protected=False), [note]


def _parse_specs(specs: Sequence[str]) -> list[tuple[str, Requirement | None]]:
    out: list[tuple[str, Requirement | None]] = []
    for text in specs:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise InputError(
                f"bad --project {text!r}: {exc}", hint="write NAME or NAME==VERSION"
            ) from None
        out.append((canonicalize_name(req.name), req))
    return out


def _secure(url: str) -> str | None:
    """The ``host[:port]`` pip must be told to trust, for plain HTTP off this machine."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    if parts.hostname == "localhost":
        return None
    try:
        if ipaddress.ip_address(parts.hostname).is_loopback:
            return None
    except ValueError:
        pass
    return parts.netloc


def client_config(
    entries: Mapping[str, Sequence[Entry]],
    *,
    index_url: str,
    extra_index_urls: Sequence[str],
    specs: Sequence[str],
    constraint_path: str,
    source: str,
) -> ClientConfig:
    """Render pip.conf, constraints.txt, requirements.txt, uv.toml and a pyproject snippet.

    ``entries`` maps canonical project names to their wheels; ``specs`` picks what to pin
    (default: torch, torchvision and torchaudio, where present, newest version each);
    ``extra_index_urls`` are the indexes for everything else, in order; ``source`` names the
    wheelhouse in the generated comments.
    """
    wanted = (
        _parse_specs(specs) if specs else [(p, None) for p in DEFAULT_PROJECTS if entries.get(p)]
    )
    pins: list[Pin] = []
    notes: list[str] = []
    for project, spec in wanted:
        files = list(entries.get(project, ()))
        if not files:
            raise InputError(
                f"the wheelhouse has no {project}",
                hint="see what it holds with `torchbuild index list`",
            )
        version, chosen_notes = _choose(project, spec, files)
        pin, pin_notes = _pin(
            project, version, [e for e in files if e.name.version == version], index_url
        )
        pins.append(pin)
        notes += chosen_notes + pin_notes
    if not pins:
        notes.append("no torch, torchvision or torchaudio in the wheelhouse: nothing pinned")

    header = f"# Generated by `torchbuild index config` for {source}.\n"
    files_out = [
        ("pip.conf", _pip_conf(header, index_url, extra_index_urls, constraint_path)),
        ("constraints.txt", _constraints(header, pins)),
        ("requirements.txt", _requirements(header, pins)),
        ("uv.toml", _uv_toml(header, index_url, extra_index_urls, pins)),
        ("pyproject-uv.toml", _uv_project(header, index_url, pins)),
    ]
    return ClientConfig(index_url, tuple(pins), tuple(files_out), tuple(notes))


def _pip_conf(header: str, index_url: str, extras: Sequence[str], constraint_path: str) -> str:
    lines = [
        header.rstrip("\n"),
        "# Use: copy to /etc/pip.conf or ~/.config/pip/pip.conf, or set PIP_CONFIG_FILE to it.",
        "# pip ranks every index's files by version alone; the constraints file is what keeps a",
        "# public torch out (see the comments in it).",
        "[global]",
        f"index-url = {index_url}",
    ]
    if extras:
        lines.append("extra-index-url = " + "\n    ".join(extras))
    trusted = sorted({host for host in (_secure(u) for u in (index_url, *extras)) if host})
    if trusted:
        lines.append("trusted-host = " + "\n    ".join(trusted))
    lines.append(f"constraint = {constraint_path}")
    return "\n".join(lines) + "\n"


def _constraints(header: str, pins: Sequence[Pin]) -> str:
    lines = [
        header.rstrip("\n"),
        "# A version with a local label (+cpu, +cu126) exists on no public index, and a pin by",
        "# URL names one exact file: no other index can satisfy these lines.",
    ]
    lines += [pin.requirement for pin in pins]
    return "\n".join(lines) + "\n"


def _requirements(header: str, pins: Sequence[Pin]) -> str:
    lines = [
        header.rstrip("\n"),
        "# pip install --require-hashes -r requirements.txt  (or uv pip install --require-hashes)",
        "# With --require-hashes every dependency needs a hash too: add them, or add --no-deps.",
    ]
    for pin in pins:
        hashes = " \\\n    ".join(f"--hash=sha256:{h}" for h in pin.hashes)
        lines.append(f"{pin.project}=={pin.version} \\\n    {hashes}")
    return "\n".join(lines) + "\n"


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uv_toml(header: str, index_url: str, extras: Sequence[str], pins: Sequence[Pin]) -> str:
    lines = [
        header.rstrip("\n"),
        "# Use: copy to ~/.config/uv/uv.toml or /etc/uv/uv.toml, or set UV_CONFIG_FILE to it.",
        "# first-index: uv takes each package from the first index that lists it, so the",
        "# wheelhouse's packages come from the wheelhouse only.",
        'index-strategy = "first-index"',
    ]
    if pins:
        lines.append(
            "constraint-dependencies = [" + ", ".join(_toml_str(p.requirement) for p in pins) + "]"
        )
    lines += ["", "[[index]]", 'name = "torchbuild"', f"url = {_toml_str(index_url)}"]
    if not extras:
        lines.append("default = true  # the only index: uv's usual default is not consulted")
    for number, url in enumerate(extras, start=1):
        lines += ["", "[[index]]", f'name = "extra-{number}"', f"url = {_toml_str(url)}"]
        if number == len(extras):
            lines.append("default = true  # last in line, in place of uv's usual default")
    return "\n".join(lines) + "\n"


def _uv_project(header: str, index_url: str, pins: Sequence[Pin]) -> str:
    lines = [
        header.rstrip("\n"),
        "# For a uv project: add to its pyproject.toml. The explicit index is used only for the",
        "# packages that [tool.uv.sources] ties to it.",
        "[[tool.uv.index]]",
        'name = "torchbuild"',
        f"url = {_toml_str(index_url)}",
        "explicit = true",
        "",
        "[tool.uv.sources]",
    ]
    lines += [f'{pin.project} = {{ index = "torchbuild" }}' for pin in pins]
    return "\n".join(lines) + "\n"


# -- installing exactly what a plan chose --------------------------------------------------------
#
# ``torchbuild plan`` may choose a file that pip, left to itself, would not take: a Jetson index's
# ``torch-2.8.0-cp310-cp310-linux_aarch64.whl`` carries the same version as PyPI's server-Arm
# ``manylinux_2_28_aarch64`` build, and pip ranks the manylinux tag higher. A version pin cannot
# tell the two apart; a hash can. So pip gets a constraints file pinned by version and sha256
# (pip then only considers files whose link hash matches), with ``--no-require-hashes`` so that
# the hashes do not switch pip into hash-checking mode for every dependency (pip 26.2 and newer).
# uv gets per-package routing: every index that holds a chosen file is an ``explicit`` index, and
# ``[tool.uv.sources]`` ties each package to it, so no other index is even asked for it.


@dataclass(frozen=True)
class Route:
    """One planned package: the file chosen for it and the index that serves it."""

    project: str
    version: Version
    action: Action  #: the plan's decision: "cached", "prebuilt" or "build"
    index_url: str  #: where pip/uv find it: the wheelhouse for cached and built packages
    index_name: str  #: the name uv knows that index by
    index_format: str  #: "simple" (a PEP 503/691 index) or "flat" (a find-links page/directory)
    filename: str | None  #: None for a build that has not happened yet
    sha256: str | None

    @property
    def constraint(self) -> str:
        """The constraints-file line: version and hash, or version alone before a build."""
        line = f"{self.project}=={self.version}"
        return f"{line} --hash=sha256:{self.sha256}" if self.sha256 else line

    def to_json(self) -> dict[str, str | None]:
        return {
            "project": self.project,
            "version": str(self.version),
            "action": self.action,
            "index": self.index_url,
            "index_name": self.index_name,
            "filename": self.filename,
            "sha256": self.sha256,
            "constraint": self.constraint,
        }


@dataclass(frozen=True)
class InstallConfig:
    """Commands and files that make pip and uv install exactly the planned files."""

    routes: tuple[Route, ...]
    index_url: str  #: pip's --index-url
    extra_index_urls: tuple[str, ...]  #: pip's --extra-index-url, in order
    find_links: tuple[str, ...]  #: pip's --find-links (files chosen from a find-links source)
    commands: tuple[tuple[str, str], ...]  #: (tool, command line)
    files: tuple[tuple[str, str], ...]  #: (file name, text), in the order to show them
    notes: tuple[str, ...]


def _index_name(url: str, taken: set[str]) -> str:
    """A short uv index name from the URL: ``jp6-cu126``, ``whl-cu126``, the host otherwise."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s and s not in ("simple", "+simple")]
    words = segments[-2:] if segments else [(parts.hostname or "index").split(".")[0]]
    base = "-".join(words).lower()
    base = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in base).strip("-.")
    base = base or "index"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def _routes(decisions: Sequence[Decision], wheelhouse_url: str) -> tuple[list[Route], list[str]]:
    names: dict[str, str] = {wheelhouse_url: "torchbuild"}
    taken = {"torchbuild"}
    routes: list[Route] = []
    notes: list[str] = []
    for d in decisions:
        wheel = d.wheel
        if d.action == "build" or wheel is None:
            label = d.variant.label if d.variant is not None else None
            version = (
                Version(f"{d.version}+{label}") if label and not d.version.local else d.version
            )
            routes.append(
                Route(d.name, version, d.action, wheelhouse_url, "torchbuild", "simple", None, None)
            )
            notes.append(
                f"{d.name} {version} is planned as a build: it is pinned by version only; run "
                "`torchbuild wheel` first, then this command again to pin the built file by hash"
            )
            continue
        if d.action == "cached" or wheel.kind == "wheelhouse":
            url, fmt = wheelhouse_url, "simple"
        else:
            url = wheel.index
            fmt = "flat" if wheel.kind == "find-links" else "simple"
        if url not in names:
            names[url] = _index_name(url, taken)
        version = _file_version(wheel.filename) or d.version
        label = label_of(wheel.filename)
        if label is not None:
            notes.append(
                f"{wheel.filename} is a variant wheel (label {label}): pip, and uv without "
                "variant support, skip such file names, so they cannot install it from "
                f"{url}; a variant-aware installer can"
            )
        if wheel.sha256 is None:
            notes.append(
                f"{wheel.filename} has no sha256 on {url}: pinned by version only, so pip may "
                "take another index's file of the same version; uv's routing still holds"
            )
        routes.append(
            Route(d.name, version, d.action, url, names[url], fmt, wheel.filename, wheel.sha256)
        )
    return routes, notes


def _file_version(filename: str) -> Version | None:
    """The exact version a wheel file carries, local label included (``2.6.0+cu126``)."""
    try:
        return parse_variant_wheel(filename).version
    except VariantsError:
        return None


def install_config(
    decisions: Sequence[Decision],
    *,
    wheelhouse_url: str,
    dependency_indexes: Sequence[str],
    constraint_path: str,
    source: str,
    files_dir: str = ".",
) -> InstallConfig:
    """pip and uv settings that install the files ``decisions`` (a plan's) chose, and no others.

    ``wheelhouse_url`` is how clients reach the local wheelhouse (cached and built packages come
    from there); ``dependency_indexes`` serve everything else (numpy, sympy, the nvidia-*
    wheels), in order; ``source`` names the plan in the generated comments; ``files_dir`` is
    where the files will be, for the commands that name them.
    """
    routes, notes = _routes(decisions, wheelhouse_url)
    if not routes:
        raise InputError(
            "the plan has no package to install",
            hint="name the packages, e.g. --for 'torch torchvision torchaudio'",
        )
    simple = list(dict.fromkeys(r.index_url for r in routes if r.index_format == "simple"))
    flat = tuple(dict.fromkeys(r.index_url for r in routes if r.index_format == "flat"))
    order = simple + [u for u in dependency_indexes if u not in simple]
    if not order:
        raise InputError(
            "no index is left for pip's --index-url",
            hint="drop --no-pypi, or give the index for the other packages with --extra-index-url",
        )
    index_url, extras = order[0], tuple(order[1:])
    header = f"# Generated by `torchbuild index config --for` for {source}.\n"
    wanted = " ".join(f"{r.project}=={r.version}" for r in routes)
    pip_args = [f"--index-url {index_url}"]
    pip_args += [f"--extra-index-url {u}" for u in extras]
    pip_args += [f"--find-links {u}" for u in flat]
    pip_args += [
        f"--trusted-host {h}" for h in sorted({h for h in (_secure(u) for u in order) if h})
    ]
    pip_cmd = (
        "pip install --no-require-hashes -c "
        + constraint_path
        + " "
        + " ".join(pip_args)
        + " "
        + wanted
    )
    # uv has no per-package index on its command line, and a hash in a constraint does not
    # steer its choice (it only checks the download), so `uv pip` also goes by the routing:
    # -r of a pyproject.toml applies that file's [tool.uv.sources] and explicit indexes.
    deps_args = [f"--default-index {dependency_indexes[0]}"] if dependency_indexes else []
    deps_args += [f"--index {u}" for u in dependency_indexes[1:]]
    uv_pip = " ".join(
        ["uv pip install -r", f"{files_dir.rstrip('/')}/uv/pyproject.toml", *deps_args]
    )
    uv_cmd = f"uv add {wanted}  # in a uv project, after adding pyproject-uv.toml to it"
    files_out = [
        ("constraints.txt", _hashed_constraints(header, routes)),
        ("pip.conf", _plan_pip_conf(header, index_url, extras, flat, constraint_path)),
        ("pyproject-uv.toml", _routed_uv_project(header, routes, dependency_indexes)),
        ("uv/pyproject.toml", _uv_requirements_project(header, routes, dependency_indexes)),
    ]
    return InstallConfig(
        tuple(routes),
        index_url,
        extras,
        flat,
        (("pip", pip_cmd), ("uv pip", uv_pip), ("uv", uv_cmd)),
        tuple(files_out),
        tuple(notes),
    )


def _hashed_constraints(header: str, routes: Sequence[Route]) -> str:
    lines = [
        header.rstrip("\n"),
        "# pip considers only the files whose hash is listed here, whichever index serves them.",
        "# Use with --no-require-hashes (pip 26.2 or newer; or no-require-hashes = true in",
        "# pip.conf): without it, a hash in a constraint makes pip demand one for every package.",
    ]
    for route in routes:
        where = route.filename or "built by torchbuild wheel"
        lines.append(f"# {route.project}: {where} from {route.index_url}")
        lines.append(route.constraint)
    return "\n".join(lines) + "\n"


def _plan_pip_conf(
    header: str, index_url: str, extras: Sequence[str], flat: Sequence[str], constraint_path: str
) -> str:
    lines = [
        header.rstrip("\n"),
        "# Use: copy to /etc/pip.conf or ~/.config/pip/pip.conf, or set PIP_CONFIG_FILE to it.",
        "[global]",
        f"index-url = {index_url}",
    ]
    if extras:
        lines.append("extra-index-url = " + "\n    ".join(extras))
    if flat:
        lines.append("find-links = " + "\n    ".join(flat))
    trusted = sorted({host for host in (_secure(u) for u in (index_url, *extras)) if host})
    if trusted:
        lines.append("trusted-host = " + "\n    ".join(trusted))
    lines += [f"constraint = {constraint_path}", "no-require-hashes = true"]
    return "\n".join(lines) + "\n"


def _uv_requirements_project(
    header: str, routes: Sequence[Route], dependency_indexes: Sequence[str]
) -> str:
    """A stand-alone pyproject.toml for `uv pip install -r`: the pins and the routing."""
    pins = ", ".join(_toml_str(f"{r.project}=={r.version}") for r in routes)
    body = _routed_uv_project(header, routes, dependency_indexes).split("\n", 1)[1]
    lines = [
        header.rstrip("\n"),
        "# Use: uv pip install -r THIS_FILE --default-index INDEX (uv takes the sources and the",
        "# explicit indexes from this file; the default index from the command line).",
        "[project]",
        'name = "torchbuild-planned-set"',
        'version = "0"',
        f"dependencies = [{pins}]",
        "",
    ]
    return "\n".join(lines) + body


def _routed_uv_project(
    header: str, routes: Sequence[Route], dependency_indexes: Sequence[str]
) -> str:
    lines = [
        header.rstrip("\n"),
        "# For a uv project: add to its pyproject.toml. Each torch package comes only from the",
        "# explicit index [tool.uv.sources] names; everything else from the default index.",
    ]
    seen: set[str] = set()
    for route in routes:
        if route.index_name in seen:
            continue
        seen.add(route.index_name)
        lines += [
            "",
            "[[tool.uv.index]]",
            f"name = {_toml_str(route.index_name)}",
            f"url = {_toml_str(route.index_url)}",
            "explicit = true",
        ]
        if route.index_format == "flat":
            lines.append('format = "flat"')
    for number, url in enumerate(dependency_indexes, start=1):
        lines += ["", "[[tool.uv.index]]", f'name = "deps-{number}"', f"url = {_toml_str(url)}"]
        if number == len(dependency_indexes):
            lines.append("default = true  # in place of uv's usual default")
    lines += ["", "[tool.uv.sources]"]
    lines += [f"{r.project} = {{ index = {_toml_str(r.index_name)} }}" for r in routes]
    return "\n".join(lines) + "\n"
