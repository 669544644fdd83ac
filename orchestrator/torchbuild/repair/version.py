"""The version a repaired wheel carries: a clean public version plus a local label.

Rule of :func:`clean_version` (the raw version a source build prints):

1. It must parse as a PEP 440 version; it is normalised (``v2.7.0-rc1`` -> ``2.7.0rc1``).
2. The local part is dropped: ``+git1eba9b3``, ``+a1b2c3d``, ``+debian``, ``+cu124`` name the
   tree or the packager, not the variant. Repair writes its own label (``+cu130.sm87``).
3. An ``a0`` pre-release is dropped: torch, torchvision and torchaudio keep ``X.Y.Za0`` in
   their ``version.txt`` as the marker of a development tree, so a build of the ``v2.6.0`` tag
   without ``PYTORCH_BUILD_VERSION`` says ``2.6.0a0+git…``, and no release of them was ever
   published as ``a0``. Every other pre-release (``a1``, ``b2``, ``rc1``), post-release and
   dev-release segment is kept: ``2.7.0rc1`` is what it says.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from ..errors import InputError

__all__ = ["clean_version", "full_version", "public_version"]

# PEP 440 local segment: alphanumerics separated by '.', '-' or '_' (normalised to '.').
_LOCAL = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$", re.IGNORECASE)


def _parse(raw: str, what: str) -> Version:
    try:
        return Version(raw.strip())
    except InvalidVersion:
        raise InputError(
            f"{what} {raw!r} is not a PEP 440 version",
            hint="a version looks like 2.6.0, 2.7.0rc1 or 2.6.0.post1",
        ) from None


def clean_version(raw: str) -> str:
    """``2.6.0a0+git1eba9b3`` -> ``2.6.0``: the public release a source build's version names."""
    version = _parse(raw, "version")
    text = version.base_version
    if version.pre is not None and version.pre != ("a", 0):
        text += f"{version.pre[0]}{version.pre[1]}"
    if version.post is not None:
        text += f".post{version.post}"
    if version.dev is not None:
        text += f".dev{version.dev}"
    return str(Version(text))


def public_version(version: str) -> str:
    """Check a clean public version (no local part) and return it normalised."""
    parsed = _parse(version, "version")
    if parsed.local is not None:
        raise InputError(
            f"version {version!r} has a local part; give it separately as the local label",
            hint=f"use version {parsed.public!r} and local {parsed.local!r}",
        )
    return str(parsed)


def full_version(version: str, local: str | None) -> str:
    """``2.6.0`` + ``cu130.sm87`` -> ``2.6.0+cu130.sm87``, checking the label against PEP 440."""
    public = public_version(version)
    if local is None:
        return public
    if not _LOCAL.match(local):
        raise InputError(
            f"local label {local!r} is not a PEP 440 local version segment",
            hint="use letters, digits and '.', e.g. cpu or cu130.sm87",
        )
    return str(Version(f"{public}+{local}"))
