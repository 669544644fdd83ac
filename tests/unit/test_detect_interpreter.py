"""The one interpreter probe: in-process, in a child, and its output parsed."""

from __future__ import annotations

import ast
import json
import sys
from typing import TYPE_CHECKING

import pytest

from torchbuild.detect.interpreter import PROBE, abi_tag, current, from_output, probe_interpreter
from torchbuild.detect.python import current_python, interpreter_python
from torchbuild.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path


PROBE_OUTPUT = json.dumps(
    {
        "executable": "/usr/bin/python3.11",
        "version": "3.11.2",
        "implementation": "cpython",
        "soabi": "cpython-311-aarch64-linux-gnu",
        "free_threaded": False,
        "purelib": "/usr/lib/python3/dist-packages",
        "platlib": "/usr/lib/python3/dist-packages",
        "cc": "aarch64-linux-gnu-gcc",
        "cxx": "aarch64-linux-gnu-g++",
        "prefix": "/usr",
        "base_prefix": "/usr",
    }
)


@pytest.mark.programs
def test_the_child_says_what_the_process_says() -> None:
    here = current()
    child = probe_interpreter(sys.executable)
    assert child == here
    assert here.version.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert here.short_version == "{}.{}".format(*sys.version_info[:2])
    assert sys.prefix == here.prefix
    assert current_python() == interpreter_python(sys.executable, 30.0) == here.as_python()


def test_the_probe_runs_on_old_pythons() -> None:
    # JetPack 4 ships Python 3.6: the probe must parse there.
    ast.parse(PROBE, feature_version=(3, 6))


@pytest.mark.programs
def test_not_an_interpreter(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(InputError, match="is not a Python interpreter"):
        probe_interpreter(fake)
    with pytest.raises(InputError, match="is not a Python interpreter"):
        probe_interpreter(tmp_path / "missing")


def test_from_output_reads_the_last_line_only() -> None:
    facts = {
        "executable": "/usr/bin/python3.13t",
        "version": "3.13.1",
        "implementation": "cpython",
        "soabi": "cpython-313t-aarch64-linux-gnu",
        "free_threaded": True,
        "purelib": "/usr/lib/python3.13t/site-packages",
        "platlib": "/usr/lib/python3.13t/site-packages",
        "cc": "aarch64-linux-gnu-gcc -pthread",
        "cxx": "aarch64-linux-gnu-g++ -pthread",
        "prefix": "/usr",
        "base_prefix": "/usr",
    }
    found = from_output("a warning printed first\n" + json.dumps(facts) + "\n")
    assert found is not None
    assert (found.abi, found.short_version, found.cc) == (
        "cp313t",
        "3.13",
        "aarch64-linux-gnu-gcc -pthread",
    )
    assert from_output("") is None
    assert from_output("not json") is None
    assert from_output(json.dumps({"version": "3.11.2"})) is None  # facts missing


@pytest.mark.parametrize(
    ("implementation", "version", "free_threaded", "soabi", "tag"),
    [
        ("cpython", "3.11.7", False, "cpython-311-x86_64-linux-gnu", "cp311"),
        ("cpython", "3.13.0", True, "cpython-313t-x86_64-linux-gnu", "cp313t"),
        (
            "pypy",
            "3.10.14",
            False,
            "pypy310-pp73-x86_64-linux-gnu",
            "pypy310_pp73_x86_64_linux_gnu",
        ),
        ("graalpy", "3.11.7", False, "", "graalpy311"),
    ],
)
def test_abi_tag(
    implementation: str, version: str, free_threaded: bool, soabi: str, tag: str
) -> None:
    assert abi_tag(implementation, version, free_threaded, soabi) == tag


def test_from_output_refuses_facts_of_the_wrong_type() -> None:
    facts = json.loads(PROBE_OUTPUT)
    assert from_output(PROBE_OUTPUT) is not None
    for name, wrong in (("version", 3.11), ("free_threaded", "no"), ("purelib", None)):
        assert from_output(json.dumps({**facts, name: wrong})) is None, name
