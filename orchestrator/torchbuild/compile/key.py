"""The build key: a hash of everything that changes a wheel's bytes.

Two builds with the same key give the same wheel, so a wheel in the wheelhouse under that key
means there is nothing to do, and a build directory under that key can be resumed. What goes in:
the package and version, the source (archive sha256, commit, or a directory's content hash) and
every patch applied to it, the rendered recipe (environment, command, build requirements), what
it builds against (torch's identity), the target (arch, libc, Python ABI, CUDA toolkit and GPU
architectures) and the compilers' versions.

What stays out on purpose: the job count (``MAX_JOBS`` and friends change how fast, not what),
the compiler cache's settings, and paths of the build directory itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from ..recipes import Rendered
    from ..target import Target

__all__ = ["KEY_FORMAT", "BuildKey", "build_key"]

#: Bumped when the meaning of the key's inputs changes, so old wheels are not taken as current.
KEY_FORMAT = 1


@dataclass(frozen=True)
class BuildKey:
    digest: str  # sha256 hex
    inputs: Mapping[str, Any] = field(compare=False)

    @property
    def short(self) -> str:
        return self.digest[:16]


def _target_facts(target: Target) -> dict[str, Any]:
    cuda = target.cuda
    return {
        "os": target.os,
        "arch": target.arch,
        "libc": [target.libc.name, target.libc.version],
        "python": (
            [target.python.implementation, target.python.abi, target.python.version]
            if target.python
            else None
        ),
        "cuda": cuda.toolkit if cuda else None,
    }


def build_key(
    rendered: Rendered,
    *,
    source: Mapping[str, Any],
    target: Target,
    compilers: Mapping[str, str | None],
    against: Mapping[str, str],
    requirements: Sequence[str],
    ignore_env: Sequence[str] = (),
) -> BuildKey:
    """The key of building ``rendered`` from ``source`` for ``target``.

    ``against``: the packages the build compiles against, each with its exact identity (a
    wheel's sha256, or an installed version and location). ``ignore_env``: variables that carry
    the job count.
    """
    env = {k: v for k, v in rendered.env.items() if k not in set(ignore_env)}
    inputs = {
        "format": KEY_FORMAT,
        "package": rendered.package,
        "version": rendered.version,
        "variant": rendered.variant,
        "source": dict(source),
        "patches": [[p.file, p.sha256] for p in rendered.patches],
        "env": env,
        "command": list(rendered.command),
        "requirements": sorted(requirements),
        "against": dict(sorted(against.items())),
        "target": _target_facts(target),
        "compilers": dict(sorted(compilers.items())),
    }
    if rendered.before:  # only when there are steps: every earlier key stays as it was
        inputs["before"] = [list(step) for step in rendered.before]
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return BuildKey(hashlib.sha256(blob).hexdigest(), inputs)
