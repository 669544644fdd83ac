"""A build's directory, kept between runs and keyed by the build key.

Layout under ``<cache>/builds/<project>-<version>-<key16>/``::

    src/          the source tree, patched; the build system's own build directories live in
                  it (setup.py's build/, CMake's and Ninja's files), which is what makes a
                  second run resume instead of starting over
    logs/         one log per run; latest.log points at the newest
    state.json    what is done: "prepared" once src/ is complete and patched, "built" with the
                  wheel's name once a wheel came out
    .lock         held while a torchbuild works here

``src/`` is made as ``src.partial`` and renamed when the tree is complete and every patch is
applied, so a crash while preparing never leaves a half-patched tree that looks ready.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from filelock import FileLock, Timeout

from ..errors import BuildError

if TYPE_CHECKING:
    from .key import BuildKey

__all__ = ["BuildDir"]


class BuildDir:
    def __init__(self, root: Path, project: str, version: str, key: BuildKey) -> None:
        self.path = Path(root) / f"{project}-{version}-{key.short}"
        self.src = self.path / "src"
        self.logs = self.path / "logs"
        self.state_file = self.path / "state.json"
        self.key = key
        self._lock = FileLock(str(self.path / ".lock"))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of this directory; a second torchbuild on the same build fails fast."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise BuildError(
                f"another torchbuild is working in {self.path}",
                hint="wait for it to finish (or stop it), then run the command again",
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    # -- state -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, **values: Any) -> None:
        """Merge ``values`` into state.json, atomically."""
        state = self.state()
        state.update(values)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.state_file)

    # -- the tree --------------------------------------------------------------------------

    def prepared(self) -> bool:
        return self.src.is_dir() and bool(self.state().get("prepared"))

    def prepare(self, fill: Callable[[Path], Any]) -> bool:
        """Make ``src/`` with ``fill(partial_dir)`` unless a complete one is there.

        Returns True when an existing tree was kept (the build will resume).
        """
        if self.prepared():
            return True
        partial = self.path / "src.partial"
        for stale in (partial, self.src):
            shutil.rmtree(stale, ignore_errors=True)
        self.record(prepared=False, inputs=dict(self.key.inputs))
        try:
            fill(partial)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        partial.replace(self.src)
        self.record(prepared=True, prepared_at=time.time())
        return False

    def new_log(self) -> Path:
        """The path of this run's log; ``logs/latest.log`` links to it."""
        self.logs.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.logs / f"build-{stamp}.log"
        n = 1
        while path.exists():
            n += 1
            path = self.logs / f"build-{stamp}-{n}.log"
        path.touch()
        latest = self.logs / "latest.log"
        with contextlib.suppress(OSError):
            tmp = self.logs / ".latest.tmp"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(path.name)
            tmp.replace(latest)
        return path
