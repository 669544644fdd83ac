"""Matching ``when`` conditions against a Target, a package version and the source's kind.

Pure functions of frozen values: nothing here looks at the machine.
"""

from __future__ import annotations

import fnmatch
from dataclasses import fields
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from .model import Condition, toml_name

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from ..target import Target

__all__ = ["cuda_toolkit", "describe", "matches", "parse_version"]


def parse_version(text: str | None) -> Version | None:
    """A version from a fact such as ``"12.6"`` or ``"3.10.12"``; None if absent or unparsable."""
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def cuda_toolkit(target: Target) -> Version | None:
    """The CUDA toolkit version a build can use, or None when the target has no toolkit."""
    return None if target.cuda is None else parse_version(target.cuda.toolkit)


def _in(spec: SpecifierSet, value: Version | None) -> bool:
    return value is not None and spec.contains(value, prereleases=True)


def _one_of(wanted: tuple[str, ...], fact: str | None) -> bool:
    return fact is not None and fact.lower() in (w.lower() for w in wanted)


def matches(
    cond: Condition, target: Target, version: Version, *, source_kind: str | None = None
) -> bool:
    """True when every key in ``cond`` holds; ``source_kind`` None (unknown) fails ``source``."""
    checks: list[bool] = []
    if cond.source:
        checks.append(_one_of(cond.source, source_kind))
    if cond.os:
        checks.append(_one_of(cond.os, target.os))
    if cond.arch:
        checks.append(_one_of(cond.arch, target.arch))
    if cond.libc:
        checks.append(_one_of(cond.libc, target.libc.name))
    if cond.python is not None:
        py = target.python.version if target.python else None
        checks.append(_in(cond.python, parse_version(py)))
    if cond.version is not None:
        checks.append(cond.version.contains(version, prereleases=True))
    toolkit = cuda_toolkit(target)
    if cond.cuda is not None:
        checks.append((toolkit is not None) == cond.cuda)
    if cond.cuda_version is not None:
        checks.append(_in(cond.cuda_version, toolkit))
    if cond.jetson is not None:
        checks.append((target.jetson is not None) == cond.jetson)
    if cond.jetpack is not None:
        jp = target.jetson.jetpack if target.jetson else None
        checks.append(_in(cond.jetpack, parse_version(jp)))
    if cond.soc:
        checks.append(_one_of(cond.soc, target.jetson.soc if target.jetson else None))
    if cond.board:
        model = target.board.model.lower() if target.board else None
        checks.append(
            model is not None and any(fnmatch.fnmatchcase(model, g.lower()) for g in cond.board)
        )
    if cond.compute_capability is not None:
        gpus = target.cuda.gpus if target.cuda else ()
        caps = [parse_version(g.compute_capability) for g in gpus]
        checks.append(any(_in(cond.compute_capability, c) for c in caps))
    features = {f.lower() for f in (target.cpu.features if target.cpu else ())}
    if cond.cpu_has:
        checks.append(all(f.lower() in features for f in cond.cpu_has))
    if cond.cpu_lacks:
        checks.append(not any(f.lower() in features for f in cond.cpu_lacks))
    return all(checks)


def describe(cond: Condition) -> str:
    """A short human form: ``arch == aarch64 and jetpack >=6,<7``; ``always`` when empty."""
    parts: list[str] = []
    for f in fields(Condition):
        value = getattr(cond, f.name)
        name = toml_name(f.name)
        if value is None or value == ():
            continue
        if isinstance(value, tuple):
            shown = value[0] if len(value) == 1 else "|".join(value)
            parts.append(f"{name} == {shown}")
        elif isinstance(value, bool):
            parts.append(f"{name} == {str(value).lower()}")
        else:
            parts.append(f"{name} {value}")
    return " and ".join(parts) if parts else "always"
