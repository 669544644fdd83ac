"""torchbuild test fixture: compiled against tbfix_cext's header; refuses a different one."""

from __future__ import annotations

import tbfix_cext

from ._core import (
    BUILT_AGAINST_HEADER,
    BUILT_AGAINST_INCLUDE,
    BUILT_AGAINST_VERSION,
    twice_add,
)

__version__ = "1.0.0"
__all__ = [
    "BUILT_AGAINST_HEADER",
    "BUILT_AGAINST_INCLUDE",
    "BUILT_AGAINST_VERSION",
    "__version__",
    "built_against",
    "twice_add",
]

# Like a torch extension, this module is only good with the exact version it was built
# against: fail at import rather than misbehave later.
if tbfix_cext.__version__ != BUILT_AGAINST_VERSION:
    msg = (
        f"tbfix_chain was built against tbfix_cext {BUILT_AGAINST_VERSION} "
        f"but tbfix_cext {tbfix_cext.__version__} is installed"
    )
    raise ImportError(msg)


def built_against() -> dict[str, str]:
    """The tbfix_cext version and include directory seen when this module was compiled."""
    return {
        "version": BUILT_AGAINST_VERSION,
        "header_version": BUILT_AGAINST_HEADER,
        "include": BUILT_AGAINST_INCLUDE,
    }
