"""A prebuilt wheel: downloaded, its sha256 checked against the index's, and published."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from ..http import download
from .options import Outcome

if TYPE_CHECKING:
    from ..resolve.jobs import Cached, Prebuilt
    from .context import Context

__all__ = ["take_cached", "take_prebuilt"]


def take_cached(job: Cached, ctx: Context) -> Outcome:
    ctx.produced[canonicalize_name(job.name)] = job.wheel
    return Outcome(job.name, job.version, "cached", job.wheel.name, job.reason)


def take_prebuilt(job: Prebuilt, ctx: Context) -> Outcome:
    started = time.monotonic()
    path = _fetch_prebuilt(job, ctx)
    ctx.produced[canonicalize_name(job.name)] = path
    seconds = time.monotonic() - started
    return Outcome(job.name, job.version, "prebuilt", path.name, job.url, seconds)


def _fetch_prebuilt(job: Prebuilt, ctx: Context) -> Path:
    project = canonicalize_name(job.name)
    for entry in ctx.wheelhouse.find(project):
        if entry.filename == job.filename and (job.sha256 is None or entry.sha256 == job.sha256):
            return ctx.wheelhouse.project_dir(project) / job.filename  # another target's
    ctx.note(f"downloading {job.filename}")
    tmp = Path(tempfile.mkdtemp(prefix="download-", dir=ctx.scratch()))
    try:
        dest = tmp / job.filename
        download(
            job.url, dest, sha256=job.sha256, timeout=ctx.options.timeout, cert=ctx.options.cert
        )
        return ctx.wheelhouse.add(dest, origin=f"prebuilt {job.url}").path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
