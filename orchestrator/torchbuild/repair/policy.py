"""Which manylinux tag a set of ELF files has earned, from auditwheel's policy data.

The data (which system libraries each ``manylinux_2_X`` lets a wheel take from the system, and
which ``GLIBC_``/``GLIBCXX_``/``CXXABI_``/``GCC_`` symbol versions it may ask for) is the
``policy/manylinux-policy.json`` file auditwheel ships, read with :mod:`importlib.resources`;
auditwheel's Python API is not used, it changes between releases. A wheel gets the oldest
policy whose lists hold for every library it takes from the system and every symbol version it
asks of them; ``linux_<arch>`` when none does, with the reason.

Not checked here: auditwheel's per-library symbol blacklist (internal zlib symbols), which
wheels built by torchbuild's recipes do not touch.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ToolchainError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "ExternalNeeds",
    "Policy",
    "Verdict",
    "choose",
    "graft_allowed",
    "highest_versions",
    "is_loader",
    "policies",
    "source",
]

_POLICY_FILE = "manylinux-policy.json"


@dataclass(frozen=True)
class Policy:
    """One manylinux policy for one architecture."""

    name: str  #: ``manylinux_2_28``
    #: legacy names old pips know (``manylinux2014``), written next to the PEP 600 tag
    aliases: tuple[str, ...]
    libraries: frozenset[str]  #: sonames a wheel may take from the system
    #: symbol-version family (``GLIBC``) -> the full names allowed (``GLIBC_2.17``)
    symbol_versions: Mapping[str, frozenset[str]] = field(hash=False)

    def tag(self, arch: str) -> str:
        """The tag with its legacy alias: ``manylinux_2_17_<arch>.manylinux2014_<arch>``."""
        return ".".join(f"{name}_{arch}" for name in (self.name, *self.aliases))


@dataclass(frozen=True)
class ExternalNeeds:
    """What a wheel takes from the system: libraries and symbol versions, by the ELF asking."""

    libraries: Mapping[str, tuple[str, ...]]  #: soname -> ELF paths needing it
    versions: Mapping[str, tuple[str, ...]]  #: ``GLIBC_2.14`` -> ELF paths asking for it


@dataclass(frozen=True)
class Verdict:
    """The platform tag chosen and why."""

    platform: str
    why: str
    policy: Policy | None


def _dist_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("auditwheel")
    except PackageNotFoundError:  # pragma: no cover - the data file was found just before
        return "unknown"


@functools.lru_cache(maxsize=1)
def _raw() -> list[dict[str, object]]:
    try:
        if sys.version_info >= (3, 9):
            where = importlib.resources.files("auditwheel") / "policy" / _POLICY_FILE
            text = where.read_text(encoding="utf-8")
        else:  # pragma: no cover - Python 3.8 has no importlib.resources.files
            text = importlib.resources.read_text("auditwheel.policy", _POLICY_FILE)
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        raise ToolchainError(
            f"auditwheel's {_POLICY_FILE} cannot be read: the manylinux policies are unknown",
            hint="install auditwheel into torchbuild's environment (pip install auditwheel)",
        ) from None
    data: list[dict[str, object]] = json.loads(text)
    return data


def source() -> str:
    """Where the policy data comes from, for messages: ``auditwheel 6.8.2 policy``."""
    _raw()
    return f"auditwheel {_dist_version()} policy"


@functools.lru_cache(maxsize=None)
def policies(arch: str) -> tuple[Policy, ...]:
    """The manylinux policies that exist for ``arch``, oldest (most widely usable) first."""
    found: list[tuple[int, Policy]] = []
    for entry in _raw():
        name = str(entry["name"])
        symbols = entry.get("symbol_versions")
        if not name.startswith("manylinux_") or not isinstance(symbols, dict):
            continue
        per_arch = symbols.get(arch)
        if not isinstance(per_arch, dict):
            continue
        allowed = {
            family: frozenset(f"{family}_{v}" for v in versions)
            for family, versions in per_arch.items()
        }
        aliases = entry.get("aliases") or []
        libraries = entry.get("lib_whitelist") or []
        assert isinstance(aliases, list)
        assert isinstance(libraries, list)
        priority = entry.get("priority", 0)
        assert isinstance(priority, int)
        policy = Policy(name, tuple(str(a) for a in aliases), frozenset(libraries), allowed)
        found.append((priority, policy))
    # auditwheel's priority: higher means older and more widely usable.
    return tuple(policy for _, policy in sorted(found, key=lambda pair: -pair[0]))


def graft_allowed(needs: ExternalNeeds, arch: str) -> frozenset[str]:
    """The system libraries grafting may leave out: those of the policy the symbols allow."""
    known = policies(arch)
    versions_only = ExternalNeeds({}, needs.versions)
    for policy in known:
        if _blockers(policy, versions_only) == ([], []):
            return policy.libraries
    if known:
        return known[-1].libraries
    # No policy for this arch: the lists are the same for every arch, so take the newest.
    for other in ("x86_64", "aarch64"):
        if policies(other):
            return policies(other)[-1].libraries
    return frozenset()  # pragma: no cover - auditwheel always knows x86_64


def is_loader(soname: str) -> bool:
    """The dynamic loader itself (``ld-linux-x86-64.so.2``): always there, never grafted."""
    return soname.startswith("ld-linux") or soname in {"ld64.so.1", "ld64.so.2"}


def _version_key(name: str) -> tuple[int, tuple[int, ...]]:
    _, _, version = name.partition("_")
    if re.fullmatch(r"\d+(?:\.\d+)*", version):
        return (0, tuple(int(p) for p in version.split(".")))
    return (1, ())  # GLIBC_PRIVATE and friends: beyond any numbered version


def highest_versions(versions: Sequence[str]) -> list[str]:
    """The highest version asked of each family, ``["GLIBC_2.34", "GLIBCXX_3.4.29"]``."""
    best: dict[str, str] = {}
    for name in versions:
        family = name.partition("_")[0]
        if family not in best or _version_key(name) > _version_key(best[family]):
            best[family] = name
    return [best[family] for family in sorted(best)]


def _blockers(policy: Policy, needs: ExternalNeeds) -> tuple[list[str], list[str]]:
    libraries = sorted(
        lib for lib in needs.libraries if lib not in policy.libraries and not is_loader(lib)
    )
    versions = sorted(
        name
        for name in needs.versions
        if name.partition("_")[0] in policy.symbol_versions
        and name not in policy.symbol_versions[name.partition("_")[0]]
    )
    return libraries, versions


def _which(paths: Sequence[str]) -> str:
    return paths[0] + (f" (and {len(paths) - 1} more)" if len(paths) > 1 else "")


def choose(needs: ExternalNeeds, arch: str) -> Verdict:
    """The oldest manylinux policy that holds for these needs, else ``linux_<arch>`` and why."""
    known = policies(arch)
    families = {family for policy in known for family in policy.symbol_versions}
    checked = [name for name in needs.versions if name.partition("_")[0] in families]
    highest = ", ".join(highest_versions(checked)) or "none"
    for policy in known:
        libraries, versions = _blockers(policy, needs)
        if not libraries and not versions:
            system = sorted(lib for lib in needs.libraries if not is_loader(lib))
            if len(system) > 6:  # torch needs a dozen: the line stays readable
                system = [*system[:5], f"{len(system) - 5} more"]
            return Verdict(
                policy.tag(arch),
                f"{policy.name}: highest symbol versions {highest}; system libraries "
                f"{', '.join(system) or 'none'} all allowed ({source()})",
                policy,
            )
    if not known:
        return Verdict(f"linux_{arch}", f"no manylinux policy exists for {arch}", None)
    newest = known[-1]
    libraries, versions = _blockers(newest, needs)
    if libraries:
        lib = libraries[0]
        more = f" (and {len(libraries) - 1} more libraries)" if len(libraries) > 1 else ""
        why = (
            f"{_which(needs.libraries[lib])} needs {lib}{more}, which no manylinux policy "
            "allows; graft it or declare it in provided"
        )
    else:
        name = versions[0]
        if _version_key(name)[0] == 1:
            what = "which no manylinux policy allows"
        else:
            what = f"newer than the newest policy {source()} knows, {newest.name}"
        why = f"{_which(needs.versions[name])} asks for {name}, {what}"
    return Verdict(f"linux_{arch}", why, None)
