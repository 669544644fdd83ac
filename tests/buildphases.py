"""Helpers of the hour-long torch build tests (``--run-torch-build``): Debian's sources, the
build root's commands, phase timings and the build's peak memory."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import test_cache

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

TORCHBUILD = Path(sys.executable).with_name("torchbuild")
INSIDE = "/opt/torchbuild/venv/bin/torchbuild"  #: torchbuild inside a root (install-self)
WHEELHOUSE = "/wheelhouse"  #: inside the root
#: Debian's source packages: (source package, version, the file --source names)
SOURCES = {
    "torch": ("pytorch", "2.6.0+dfsg-7", "pytorch_2.6.0+dfsg-7.dsc"),
    "torchvision": ("pytorch-vision", "0.21.0-3", "pytorch-vision_0.21.0.orig.tar.gz"),
    "torchaudio": ("pytorch-audio", "2.6.0-1", "pytorch-audio_2.6.0.orig.tar.gz"),
}


def source_args(packages: Sequence[str]) -> list[str]:
    """``--source`` for each of ``packages`` Debian has, as bound at ``/src`` in the root."""
    return [
        f"--source={name}=/src/{SOURCES[name][2]}"
        for name in SOURCES
        if any(p.startswith(name) for p in packages)
    ]


def run_checked(args: Sequence[str], *, prefix: Sequence[str] = ()) -> str:
    """Run ``args`` (after ``prefix``, e.g. joining a cgroup); its standard output."""
    done = subprocess.run([*prefix, *args], stdout=subprocess.PIPE, text=True, check=False)
    assert done.returncode == 0, f"{list(args)[:6]} exited {done.returncode}"
    return done.stdout


def in_root(
    root: Path, args: Sequence[str], *, binds: Sequence[str] = (), prefix: Sequence[str] = ()
) -> str:
    """``torchbuild root run ROOT -- ARGS`` with Debian's sources at ``/src``."""
    src = test_cache() / "debian-src"
    more = [b for bind in binds for b in ("--bind", bind)]
    command = [str(TORCHBUILD), "root", "run", str(root), "--bind", f"{src}:/src:ro", *more]
    return run_checked([*command, "--", *args], prefix=prefix)


def sources_and_root(phases: Phases, root: Path, package_set: str) -> None:
    """The first phases of every torch build test: Debian's sources downloaded, a trixie root
    with ``package_set`` made (kept between runs), this torchbuild installed in it."""
    from debsrc import download

    with phases("sources (apt-get source --download-only)"):
        for package, version, _name in SOURCES.values():
            download(package, version, complete=package == "pytorch")
    with phases(f"root create trixie --packages {package_set}"):
        if not (root / ".torchbuild-root.json").is_file():
            root.parent.mkdir(parents=True, exist_ok=True)
            create = ["root", "create", "trixie", str(root), "--packages", package_set]
            run_checked([str(TORCHBUILD), *create])
    with phases("root install-self"):
        run_checked([str(TORCHBUILD), "root", "install-self", str(root)])


class Phases:
    """Wall time of each phase, printed as they finish and as a table at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float]] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        sys.stderr.write(f"\n[{time.strftime('%H:%M:%S')}] {name} ...\n")
        yield
        took = time.monotonic() - started
        self.rows.append((name, took))
        sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {name}: {took:.0f} s\n")

    def table(self) -> str:
        width = max(len(n) for n, _ in self.rows)
        lines = [f"{n:<{width}}  {t / 60:6.1f} min" for n, t in self.rows]
        total = sum(t for _, t in self.rows)
        return "\n".join([*lines, f"{'total':<{width}}  {total / 60:6.1f} min"])


@contextmanager
def peak_memory(group: Path) -> Iterator[list[int]]:
    """The largest resident memory of everything in a cgroup (``[bytes]``), sampled every two
    seconds; page cache is left out (``memory.max_usage_in_bytes`` counts the files read)."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(2.0):
            try:
                text = (group / "memory.stat").read_text()
            except OSError:
                continue
            stat = dict(line.split() for line in text.splitlines())
            peak[0] = max(peak[0], int(stat.get("total_rss", "0")))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()
