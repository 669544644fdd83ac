"""A read-only view of a root file system: this machine's ``/`` or a mounted board image.

Symbolic links are followed *inside* the root: an absolute link target such as
``/sys/firmware/devicetree/base`` in a mounted Jetson image means ``<root>/sys/...``, never the
build machine's own file. Nothing here runs a program.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["Root"]

_MAX_LINKS = 40


class Root:
    def __init__(self, path: Path | str = "/") -> None:
        self.base = Path(path)

    @property
    def is_host(self) -> bool:
        return self.base.resolve() == Path("/")

    def resolve(self, target_path: str) -> str | None:
        """Follow links in ``target_path`` (absolute, as seen on the target); ``None`` if absent."""
        parts = list(PurePosixPath("/", target_path).parts[1:])
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = self.base.joinpath(*done, part)
            if candidate.is_symlink():
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                link = os.readlink(candidate)
                link_parts = list(PurePosixPath(link).parts)
                if link.startswith("/"):
                    done = []
                    link_parts = link_parts[1:]
                parts = link_parts + parts
                continue
            if not os.path.lexists(candidate):
                return None
            done.append(part)
        return "/" + "/".join(done)

    def path(self, target_path: str) -> Path | None:
        """The host path of a file on the target, links resolved within the root."""
        resolved = self.resolve(target_path)
        return None if resolved is None else self.base.joinpath(resolved.lstrip("/"))

    def exists(self, target_path: str) -> bool:
        return self.path(target_path) is not None

    def is_file(self, target_path: str) -> bool:
        p = self.path(target_path)
        return p is not None and p.is_file()

    def read_bytes(self, target_path: str, limit: int | None = None) -> bytes | None:
        p = self.path(target_path)
        if p is None:
            return None
        try:
            with p.open("rb") as fh:
                return fh.read() if limit is None else fh.read(limit)
        except OSError:
            return None

    def read_text(self, target_path: str) -> str | None:
        data = self.read_bytes(target_path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def listdir(self, target_path: str) -> list[str]:
        p = self.path(target_path)
        if p is None or not p.is_dir():
            return []
        try:
            return sorted(entry.name for entry in p.iterdir())
        except OSError:
            return []
