"""Unit tests start no programs unless they say so.

Every program torchbuild runs starts in :mod:`torchbuild.run` (``subprocess.run`` and
``subprocess.Popen`` there). This autouse guard makes both fail the test with the command
line, so a unit test cannot probe the machine, compile or install by accident. A test that
means to run a real program says so with ``@pytest.mark.programs``.
"""

from __future__ import annotations

import shlex
import subprocess
import types
from typing import Any, NoReturn

import pytest

from torchbuild import run


def _refuse(args: Any, *_args: Any, **_kwargs: Any) -> NoReturn:
    words = [str(a) for a in args] if isinstance(args, (list, tuple)) else [str(args)]
    pytest.fail(
        f"a unit test started a program: {shlex.join(words)}; replay a recorded output, or "
        "mark the test @pytest.mark.programs if running it is the point",
        pytrace=False,
    )


@pytest.fixture(autouse=True)
def _no_programs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("programs") is not None:
        return
    # run.py's own view of the subprocess module: the test's own subprocess calls (building
    # a fixture with a real tool, on purpose) are untouched.
    guarded = types.ModuleType("subprocess")
    guarded.__dict__.update(subprocess.__dict__)
    guarded.run = _refuse  # type: ignore[attr-defined]
    guarded.Popen = _refuse  # type: ignore[attr-defined]
    monkeypatch.setattr(run, "subprocess", guarded)
