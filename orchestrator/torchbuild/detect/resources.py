"""How much machine there is: CPUs, memory and swap (cgroup limits included), free disk.

A build inside a container or a memory cgroup must plan for the limit, not the host's RAM:
a compiler over the limit is killed exactly as on a 4 GB board.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from ..target import Resources

if TYPE_CHECKING:
    from pathlib import Path

    from .fs import Root

__all__ = ["cgroup_cpu_limit", "cgroup_memory_limit", "parse_meminfo", "probe_resources"]

_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge page-aligned number


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` values in bytes."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and fields and fields[0].isdigit():
            unit = 1024 if len(fields) > 1 and fields[1].lower() == "kb" else 1
            out[key.strip()] = int(fields[0]) * unit
    return out


def _cgroup_paths(root: Root, controller: str) -> list[tuple[str, str]]:
    """(mount dir, cgroup path) pairs for this process, v1 controller first, then v2."""
    text = root.read_text("/proc/self/cgroup") or ""
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controller in controllers.split(","):
            pairs.append((f"/sys/fs/cgroup/{controller}", path))
        elif controllers == "":
            pairs.append(("/sys/fs/cgroup", path))
    return pairs


def _walk_up(path: str) -> list[str]:
    """A cgroup and its ancestors: every level's limit applies."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _read_int(root: Root, path: str) -> int | None:
    text = root.read_text(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max" or not text.lstrip("-").isdigit():
        return None
    value = int(text)
    return None if value <= 0 or value >= _UNLIMITED else value


def cgroup_memory_limit(root: Root) -> int | None:
    """The tightest memory limit over this process's cgroup and its ancestors."""
    limits: list[int] = []
    for mount, path in _cgroup_paths(root, "memory"):
        for level in _walk_up(path):
            base = mount + ("" if level == "/" else level)
            for name in ("memory.limit_in_bytes", "memory.max"):
                value = _read_int(root, f"{base}/{name}")
                if value is not None:
                    limits.append(value)
    return min(limits) if limits else None


def cgroup_cpu_limit(root: Root) -> float | None:
    """CPUs allowed by a CFS quota (v1 cpu.cfs_quota_us / v2 cpu.max), if any."""
    best: float | None = None
    for mount, path in _cgroup_paths(root, "cpu"):
        for level in _walk_up(path):
            base = mount + ("" if level == "/" else level)
            quota = period = None
            text = root.read_text(f"{base}/cpu.max")
            if text and text.split()[0] != "max":
                fields = text.split()
                quota, period = int(fields[0]), int(fields[1]) if len(fields) > 1 else 100000
            else:
                quota = _read_int(root, f"{base}/cpu.cfs_quota_us")
                period = _read_int(root, f"{base}/cpu.cfs_period_us")
            if quota and period:
                cpus = quota / period
                best = cpus if best is None else min(best, cpus)
    return best


def _cpus(root: Root) -> int | None:
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 0
    quota = cgroup_cpu_limit(root)
    if quota is not None:
        count = min(count, max(1, int(quota)))
    return count or None


def _disk_free(path: Path) -> int | None:
    # The directory builds will use may not exist yet: measure the nearest existing parent.
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def probe_resources(root: Root, work_dir: Path) -> Resources:
    meminfo = parse_meminfo(root.read_text("/proc/meminfo") or "")
    memory = meminfo.get("MemTotal")
    limit = cgroup_memory_limit(root)
    if limit is not None:
        memory = min(memory, limit) if memory else limit
    return Resources(
        cpus=_cpus(root),
        memory_bytes=memory,
        swap_bytes=meminfo.get("SwapTotal"),
        disk_free_bytes=_disk_free(work_dir),
    )
