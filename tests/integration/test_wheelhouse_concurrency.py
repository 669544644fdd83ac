"""Concurrency: 8 processes run `index add` at the same moment, into the same projects."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import unquote

import pytest

from torchbuild.__main__ import main
from torchbuild.fs import sha256_file
from torchbuild.wheelhouse import Wheelhouse
from wheelfactory import make_wheel

pytestmark = pytest.mark.integration

PROCESSES = 8
PER_PROCESS = 6

# Import everything first, say so, then wait for the starting shot: all eight writers reach the
# wheelhouse together instead of one after another as their interpreters happen to start.
CHILD = """
import sys
from torchbuild.__main__ import main
import torchbuild.wheelhouse.store
print("ready", flush=True)
sys.stdin.readline()
sys.exit(main(sys.argv[1:]))
"""


def test_eight_processes_adding_at_once(tmp_path):
    wh = Wheelhouse(tmp_path / "wh")
    src = tmp_path / "src"
    batches = [
        [
            make_wheel(
                src, f"shared{j % 3}", f"{i}.{j}", payload_size=512 * 1024, requires_python=">=3.8"
            )
            for j in range(PER_PROCESS)
        ]
        for i in range(PROCESSES)
    ]
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                "index",
                "add",
                "--json",
                "--wheelhouse",
                str(wh.root),
                *map(str, batch),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch in batches
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
        assert all(r["added"] for r in json.loads(out)["results"])

    expected = {w.name: sha256_file(w)[0] for batch in batches for w in batch}
    listed = {e.filename: e.sha256 for e in wh.entries()}
    assert listed == expected
    for project in wh.projects():
        page = json.loads((wh.simple / project / "index.json").read_text())
        on_page = {unquote(f["url"]): f["hashes"]["sha256"] for f in page["files"]}
        assert on_page == {
            f: h for f, h in expected.items() if f.startswith(project.replace("-", "_"))
        }
    # The writers really ran at once: their adds interleave in time instead of one batch after
    # another (a batch is one process; its wheels are versions "<process>.<n>").
    order = [e.name.version.major for e in sorted(wh.entries(), key=lambda e: e.added)]
    switches = sum(a != b for a, b in zip(order, order[1:]))
    assert switches > PROCESSES - 1, order
    root = json.loads((wh.simple / "index.json").read_text())
    assert [p["name"] for p in root["projects"]] == ["shared0", "shared1", "shared2"]
    assert main(["index", "verify", "--wheelhouse", str(wh.root)]) == 0
    assert not any(wh.tmp_dir.iterdir())
    assert not any(wh.pending_dir.iterdir())
