"""Who torchbuild is to a remote index: credentials from the places users already keep them.

Looked up in this order, the first that answers wins:

1. the environment: ``TORCHBUILD_INDEX_USERNAME`` / ``TORCHBUILD_INDEX_PASSWORD``, or the
   ``TWINE_USERNAME`` / ``TWINE_PASSWORD`` pair that upload scripts already set;
2. ``~/.netrc`` (or the file ``$NETRC`` names), the ``machine`` entry for the index's host;
3. the system keyring, when the ``keyring`` package is importable, asked for the URL and then
   for the host.

Never from the command line (it would end up in shell history and ``ps``), and the password is
never part of a repr, a log line or a message.
"""

from __future__ import annotations

import base64
import logging
import netrc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CREDENTIAL_PLACES", "Credentials", "find_credentials"]

log = logging.getLogger(__name__)

#: Where credentials are looked for, in words, for hints after a 401/403.
CREDENTIAL_PLACES = (
    "TORCHBUILD_INDEX_USERNAME/TORCHBUILD_INDEX_PASSWORD (or TWINE_USERNAME/TWINE_PASSWORD) "
    "in the environment, a `machine HOST` entry in ~/.netrc, or the system keyring"
)

_ENV_PAIRS = (
    ("TORCHBUILD_INDEX_USERNAME", "TORCHBUILD_INDEX_PASSWORD"),
    ("TWINE_USERNAME", "TWINE_PASSWORD"),
)


@dataclass(frozen=True)
class Credentials:
    """A username and password for one index, and where they were found (never the secret)."""

    username: str
    password: str = field(repr=False)
    source: str = ""

    def header(self) -> str:
        """The value of an HTTP ``Authorization`` header (basic auth)."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def _from_environment(environ: Mapping[str, str]) -> Credentials | None:
    for user_var, password_var in _ENV_PAIRS:
        password = environ.get(password_var)
        if password:
            # An API token needs no username; indexes that take tokens expect "__token__".
            username = environ.get(user_var) or "__token__"
            return Credentials(username, password, f"environment {user_var}/{password_var}")
    return None


def _netrc_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("NETRC")
    if explicit:
        return Path(explicit).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".netrc"


def _from_netrc(host: str, environ: Mapping[str, str]) -> Credentials | None:
    path = _netrc_path(environ)
    if not path.is_file():
        return None
    try:
        auth = netrc.netrc(str(path)).authenticators(host)
    except netrc.NetrcParseError as exc:
        raise InputError(
            f"cannot read {path}: {exc.msg} (line {exc.lineno})",
            hint="fix the file, or give credentials through TORCHBUILD_INDEX_USERNAME and "
            "TORCHBUILD_INDEX_PASSWORD",
        ) from None
    except OSError as exc:
        log.debug("cannot read %s: %s", path, exc)
        return None
    if auth is None or not auth[2]:
        return None
    return Credentials(auth[0] or "__token__", auth[2], str(path))


def _from_keyring(url: str, host: str) -> Credentials | None:
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    for service in (url, host):
        try:
            found: Any = keyring.get_credential(service, None)
        except Exception as exc:  # noqa: BLE001 - no backend, a locked store: just no answer
            log.debug("keyring lookup for %s failed: %s", service, exc)
            return None
        if found is not None and found.password:
            return Credentials(found.username or "__token__", found.password, "keyring")
    return None


def find_credentials(
    url: str, *, environ: Mapping[str, str] | None = None, use_keyring: bool = True
) -> Credentials | None:
    """Credentials for the index at ``url``, or None (anonymous); see the module docstring."""
    env = os.environ if environ is None else environ
    host = urlsplit(url).hostname or ""
    found = _from_environment(env) or _from_netrc(host, env)
    if found is None and use_keyring:
        found = _from_keyring(url, host)
    if found is not None:
        log.debug("credentials for %s from %s", host, found.source)
    return found
