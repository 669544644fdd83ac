"""Test options shared by the whole suite.

``--run-slow`` and ``--run-network`` opt in to tests that take minutes or need a package
registry; without them such tests are skipped with a reason, never silently passed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torchbuild.cross import Sysroot

DATA = Path(__file__).parent / "data"
MEMORY_ROOT = Path("/sys/fs/cgroup/memory")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")
    parser.addoption("--run-network", action="store_true", help="run tests marked network")
    parser.addoption(
        "--run-torch-build",
        action="store_true",
        help="run the hour-long build of torch itself (tests marked torch_build)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, option in (
        ("slow", "--run-slow"),
        ("network", "--run-network"),
        ("torch_build", "--run-torch-build"),
    ):
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"needs {option}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(autouse=True)
def _known_sources_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The known wheel sources are real hosts: a test reaches them only through loopback
    mirrors, and turns them back on itself (tests/unit/test_known_sources.py)."""
    monkeypatch.setenv("TORCHBUILD_KNOWN_INDEXES", "false")


def test_cache() -> Path:
    """Downloads kept between runs: ``$TORCHBUILD_TEST_CACHE`` or ``~/.cache/torchbuild-tests``."""
    root = os.environ.get("TORCHBUILD_TEST_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "torchbuild-tests"


test_cache.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def _bookworm_sysroot(debian_arch: str, triplet: str, qemu: str) -> Sysroot:
    """A bookworm sysroot from Debian's packages (kept in the test cache), or a skip saying
    which tool or what is missing."""
    from torchbuild.cross import prepare_sysroot
    from torchbuild.errors import NetworkError

    for tool in (f"{triplet}-g++", qemu, "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the bookworm sysroot's Python is 3.11; run the tests with a 3.11")
    started = time.monotonic()
    try:
        made = prepare_sysroot(
            test_cache() / "cross" / f"bookworm-{debian_arch}", dist="bookworm", arch=debian_arch
        )
    except NetworkError as exc:
        pytest.skip(f"Debian's archive is out of reach: {exc.message}")
    print(f"{debian_arch} sysroot ready in {time.monotonic() - started:.1f} s")  # noqa: T201
    return made


@pytest.fixture(scope="session")
def arm64_sysroot() -> Sysroot:
    """A bookworm arm64 sysroot (64-bit Raspberry Pi OS, Debian on Jetson-class boards)."""
    return _bookworm_sysroot("arm64", "aarch64-linux-gnu", "qemu-aarch64-static")


@pytest.fixture(scope="session")
def armhf_sysroot() -> Sysroot:
    """A bookworm armhf sysroot (32-bit Raspberry Pi OS)."""
    return _bookworm_sysroot("armhf", "arm-linux-gnueabihf", "qemu-arm-static")


@pytest.fixture(scope="session")
def torch_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter with torch 2.13.0 (CPU) installed, as a user's would be."""
    venv = tmp_path_factory.mktemp("torch-env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "torch==2.13.0", "numpy"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"torch 2.13.0 cannot be installed here: {done.stderr[-300:]}")
    return python


def own_memory_cgroup() -> Path | None:
    """This process's cgroup v1 memory directory, where child groups can be made."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = MEMORY_ROOT / path.lstrip("/")
            return folder if (folder / "memory.limit_in_bytes").is_file() else None
    return None


@contextmanager
def child_memory_cgroup(name: str, limit_bytes: int | None = None) -> Iterator[Path | None]:
    """A new cgroup v1 memory group under this process's (None where none can be made),
    limited to ``limit_bytes`` (swap included) when given; removed once its processes are gone.
    A command joins it with the prefix ``sh -c 'echo $$ > GROUP/cgroup.procs && exec "$@"' sh``.
    """
    parent = own_memory_cgroup()
    if parent is None or not os.access(parent, os.W_OK):
        yield None
        return
    group = parent / name
    group.mkdir(exist_ok=True)
    try:
        if limit_bytes is not None:
            (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
            swap = group / "memory.memsw.limit_in_bytes"
            if swap.exists():  # no swap escape either
                swap.write_text(str(limit_bytes))
        yield group
    finally:
        # Everything in it has exited with the command; an empty group can be removed.
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.2)


def join_prefix(group: Path) -> list[str]:
    """The command prefix that runs a command inside ``group``."""
    return ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh"]


@pytest.fixture
def memory_group() -> Iterator[Path | None]:
    """A child memory cgroup for a build (None where the machine has none to give)."""
    with child_memory_cgroup(f"torchbuild-build-{os.getpid()}") as group:
        yield group
