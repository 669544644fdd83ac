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

from ..errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from packaging.version import Version

    from .manifest import Entry

__all__ = ["DEFAULT_PROJECTS", "PYPI_SIMPLE", "ClientConfig", "Pin", "client_config"]

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
