"""`torchbuild wheel`'s work after the plan: fetch what fits, build the rest, publish all.

The loop (:mod:`.loop`) takes the plan's jobs in order: a cached wheel is taken as it is
(:mod:`.prebuilt`), a prebuilt one downloaded and checked, a build (:mod:`.build_step`) gets
its source, what it builds against (:mod:`.against`), its environment and its run, then is
repaired, verified and published (:mod:`.finish`). Native and cross builds differ only in
their build host (:mod:`.sites`). The set's run-time dependencies come last
(:mod:`.dependencies`).
"""

from __future__ import annotations

from .loop import Pipeline, plan_jobs
from .options import Outcome, WheelOptions
from .sites import BuildHost, CrossHost, NativeHost, host_for

__all__ = [
    "BuildHost",
    "CrossHost",
    "NativeHost",
    "Outcome",
    "Pipeline",
    "WheelOptions",
    "host_for",
    "plan_jobs",
]
