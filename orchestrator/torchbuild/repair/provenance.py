"""The provenance record a repaired wheel carries in ``.dist-info/torchbuild.json``.

Written with sorted keys and a fixed layout so the same record always gives the same bytes
(and so the same wheel hash).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["FILENAME", "provenance_bytes"]

FILENAME = "torchbuild.json"


def provenance_bytes(record: Mapping[str, Any]) -> bytes:
    """The JSON bytes of a provenance record; :class:`InputError` when it is not JSON data."""
    try:
        text = json.dumps(dict(record), indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"the provenance record cannot be written as JSON: {exc}",
            hint="give provenance as strings, numbers, lists and mappings only",
        ) from None
    return (text + "\n").encode("utf-8")
