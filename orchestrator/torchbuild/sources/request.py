"""Turning what a user or a recipe says into a :class:`SourceRequest`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from packaging.utils import canonicalize_name

from ..errors import InputError, SourceError
from .archive import is_archive, is_url
from .git import _SCP, is_commit, is_git_url
from .model import SourceRequest

__all__ = ["kind_of", "parse_user_source", "upstream_request"]

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_SHA = re.compile(r"sha256=([0-9a-fA-F]{64})")
_USAGE = "write it as PKG=PATH, PKG=PATH#sha256=HEX or PKG=GIT-URL@REF"


def kind_of(location: str) -> str:
    """``"git"``, ``"archive"``, ``"dsc"`` or ``"dir"``: what ``location`` names."""
    if is_git_url(location):
        return "git"
    if is_url(location):
        return "archive"
    if location.lower().endswith(".dsc"):
        return "dsc"
    if is_archive(location):
        return "archive"
    return "dir"


def _split_ref(url: str) -> tuple[str, str | None]:
    """A git URL and the ``@ref`` written after its path, if any."""
    if _SCP.match(url):
        user_host, _, path = url.partition(":")
        path, at, ref = path.rpartition("@") if "@" in path else (path, "", "")
        return f"{user_host}:{path}", (ref if at else None)
    parts = urlsplit(url)
    if "@" not in parts.path:
        return url, None
    path, _, ref = parts.path.rpartition("@")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment)), ref


def parse_user_source(text: str, location: str | None = None) -> SourceRequest:
    """Parse ``--source PKG=PATH[#sha256=HEX]`` or ``--source PKG=GIT-URL[@REF]``.

    ``parse_user_source(PKG, LOCATION)`` is the same with the value already split at ``=``.
    """
    if location is not None:
        text = f"{text}={location}"
    name, sep, location = text.partition("=")
    name, location = name.strip(), location.strip()
    if not sep or not name or not location:
        raise InputError(f"--source {text!r} is not PKG=LOCATION", hint=_USAGE)
    if not _NAME.match(name):
        raise InputError(f"--source {text!r}: {name!r} is not a package name", hint=_USAGE)
    package = canonicalize_name(name)
    if is_git_url(location):
        if "#" in location:
            raise InputError(
                f"--source {text!r}: a git URL takes @REF, not #…",
                hint="write PKG=GIT-URL@TAG (or @COMMIT); #sha256= is for archives",
            )
        url, ref = _split_ref(location)
        if ref == "":
            raise InputError(f"--source {text!r}: nothing after '@'", hint=_USAGE)
        if ref is not None and is_commit(ref.lower()):
            return SourceRequest(package, url, commit=ref.lower())
        return SourceRequest(package, url, ref=ref)
    sha: str | None = None
    if "#" in location:
        location, _, fragment = location.partition("#")
        m = _SHA.fullmatch(fragment.strip())
        if m is None:
            raise InputError(
                f"--source {text!r}: {fragment!r} is not sha256=<64 hex digits>", hint=_USAGE
            )
        sha = m.group(1).lower()
    if is_url(location):
        return SourceRequest(package, location, sha256=sha)
    # abspath, not resolve(): a path through a symlink stays as the user wrote it.
    path = Path(os.path.abspath(Path(location).expanduser()))  # noqa: PTH100
    if not path.exists():
        raise SourceError(
            f"{path} does not exist (given with --source {name}=…)",
            hint=f"check the path: --source {name}=/path/to/checkout-or-tarball",
        )
    kind = kind_of(str(path))
    if path.is_dir():
        kind = "dir"
    elif kind == "dir":
        raise InputError(
            f"--source {text!r}: {path} is neither a directory, an archive "
            "(.tar.gz, .tgz, .tar.xz, .tar.bz2, .zip) nor a Debian .dsc",
            hint=_USAGE,
        )
    if sha is not None and kind != "archive":
        raise InputError(
            f"--source {text!r}: #sha256= applies to an archive, not to a {kind}",
            hint="drop the #sha256= part",
        )
    return SourceRequest(package, str(path), sha256=sha)


def upstream_request(
    package: str, version: str, git_url: str, tag: str, submodules: bool
) -> SourceRequest:
    """The request for a recipe's upstream source: a git repository at a release tag."""
    return SourceRequest(
        package=canonicalize_name(package),
        location=git_url,
        version=version,
        ref=tag,
        submodules=submodules,
    )
