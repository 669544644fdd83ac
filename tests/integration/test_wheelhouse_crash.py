"""Crash safety: `index add` (and `index prune`) killed with SIGKILL at random moments.

Each trial forks a child that runs the real command (``main(["index", "add", ...])``, durable
mode as users get it), kills it after a random delay spread over the length of an uninterrupted
run, and then checks, before anything repairs the wheelhouse, that whatever a client can see
(pages, manifests) lists only files that exist and match their hashes. Then `index verify` must
pass (it finishes or rolls back the interrupted operation), and afterwards the wheel is either
fully listed or not at all.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import unquote

import pytest

from torchbuild.__main__ import main
from torchbuild.fs import sha256_file
from torchbuild.wheelhouse import Wheelhouse
from wheelfactory import make_wheel, page_links

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork"),
]

TRIALS = 150


def assert_visible_state_sound(wh: Wheelhouse) -> set[str]:
    """What clients and `index list` can see names only complete, correct files. Read-only."""
    listed: set[str] = set()
    root = wh.simple / "index.html"
    if root.exists():
        for link in page_links(root):
            project = (link["href"] or "").rstrip("/")
            assert (wh.simple / project / "index.html").is_file(), project
    for project_dir in wh.simple.iterdir():
        page = project_dir / "index.html"
        if not project_dir.is_dir() or not page.exists():
            continue
        for link in page_links(page):
            name, _, digest = (link["href"] or "").partition("#sha256=")
            wheel = project_dir / unquote(name)
            assert sha256_file(wheel)[0] == digest, wheel
            meta = (link["data-core-metadata"] or "").partition("=")[2]
            assert sha256_file(wheel.with_name(wheel.name + ".metadata"))[0] == meta
    for project in wh.projects():
        for entry in wh.read_entries(project).values():
            assert sha256_file(wh.path_of(entry)) == (entry.sha256, entry.size), entry.filename
            listed.add(entry.filename)
    return listed


def run_forked(args: list[str], delay: float | None) -> tuple[int | None, float]:
    """Run the CLI in a forked child; SIGKILL it after ``delay`` s (None: let it finish)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = main(args)
        finally:
            os._exit(code)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    return (
        os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
    ), elapsed


def _phase(wh: Wheelhouse, filename: str) -> str:
    if any(wh.pending_dir.glob("*.json")):
        return "mid-operation"
    if any(wh.tmp_dir.iterdir()):
        return "copying"
    listed = any(filename in wh.read_entries(p) for p in wh.projects())
    return "finished" if listed else "not started"


def test_sigkill_during_add(tmp_path):
    rng = random.Random(int(os.environ.get("TORCHBUILD_CRASH_SEED", "20250101")))  # noqa: S311 - timing jitter
    wh = Wheelhouse(tmp_path / "wh")
    src = tmp_path / "src"
    wheels = [
        make_wheel(src, f"proj{i % 5}", f"1.{i}", payload_size=64 * 1024, requires_python=">=3.8")
        for i in range(TRIALS + 5)
    ]
    base = ["index", "add", "--wheelhouse", str(wh.root)]
    # Calibrate: how long does an uninterrupted add take here?
    durations = [run_forked([*base, str(w)], None)[1] for w in wheels[:5]]
    window = statistics.median(durations) * 1.05

    phases: Counter[str] = Counter()
    for wheel in wheels[5:]:
        code, _ = run_forked([*base, str(wheel)], rng.uniform(0, window))
        phases[_phase(wh, wheel.name)] += 1
        assert_visible_state_sound(wh)
        assert main(["index", "verify", "--wheelhouse", str(wh.root)]) == 0
        listed = assert_visible_state_sound(wh)
        assert code in (0, -signal.SIGKILL)
        if code == 0:
            assert wheel.name in listed
        assert not any(wh.pending_dir.iterdir())
        assert not any(wh.tmp_dir.iterdir())
    print(f"\nkill window {window * 1000:.1f} ms; state at the kill: {dict(phases)}")  # noqa: T201
    # The kills must have landed inside the operation, not only before or after it.
    assert phases["mid-operation"] >= 5, phases
    assert phases["copying"] + phases["not started"] >= 5, phases

    # Whatever did not make it can be added again; the end state holds every wheel once.
    for wheel in wheels:
        assert main([*base, str(wheel)]) == 0
    assert main(["index", "verify", "--wheelhouse", str(wh.root)]) == 0
    assert len(assert_visible_state_sound(wh)) == len(wheels)


def test_sigkill_during_prune(tmp_path):
    rng = random.Random(7)  # noqa: S311 - timing jitter
    wh = Wheelhouse(tmp_path / "wh")
    src = tmp_path / "src"
    versions = 30
    for i in range(versions):
        wh.add(make_wheel(src, "demo", f"1.{i}"), origin="t")
    base = ["index", "prune", "--wheelhouse", str(wh.root)]
    window = (
        statistics.median(
            run_forked([*base, "--keep", str(versions), "--dry-run"], None)[1] for _ in range(3)
        )
        * 1.5
    )
    for keep in range(versions - 1, 0, -1):
        run_forked([*base, "--keep", str(keep)], rng.uniform(0, window))
        assert_visible_state_sound(wh)
        assert main(["index", "verify", "--wheelhouse", str(wh.root)]) == 0
        assert_visible_state_sound(wh)
    assert main([*base, "--keep", "1"]) == 0
    assert [e.name.version.public for e in wh.find("demo")] == [f"1.{versions - 1}"]


def test_sigkill_real_processes(tmp_path):
    """The same with separate interpreters started by the console script (fewer trials)."""
    rng = random.Random(11)  # noqa: S311 - timing jitter
    wh = Wheelhouse(tmp_path / "wh")
    src = tmp_path / "src"
    exe = [sys.executable, "-m", "torchbuild", "index", "add", "--wheelhouse", str(wh.root)]
    wheels = [make_wheel(src, "demo", f"2.{i}", payload_size=256 * 1024) for i in range(12)]
    start = time.perf_counter()
    subprocess.run([*exe, str(wheels[0])], check=True, capture_output=True)
    window = (time.perf_counter() - start) * 1.2
    for wheel in wheels[1:]:
        proc = subprocess.Popen(
            [*exe, str(wheel)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(window * 0.4, window))
        proc.kill()
        proc.wait()
        assert_visible_state_sound(wh)
        assert main(["index", "verify", "--wheelhouse", str(wh.root)]) == 0
