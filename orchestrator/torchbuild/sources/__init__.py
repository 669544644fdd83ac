"""The sources stage: obtain a package's source tree, verified and cached.

:func:`fetch` turns a :class:`SourceRequest` (a local directory, an archive with its sha256, a
Debian ``.dsc``, or a git URL at a tag or commit) into a :class:`Source` pinned to a digest;
:func:`materialize` writes the pristine tree into a fresh directory for a build.
"""

from __future__ import annotations

from .model import Source, SourceRequest
from .obtain import fetch, materialize
from .request import kind_of, parse_user_source, upstream_request

__all__ = [
    "Source",
    "SourceRequest",
    "fetch",
    "kind_of",
    "materialize",
    "parse_user_source",
    "upstream_request",
]
