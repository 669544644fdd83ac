"""Test options shared by the whole suite.

``--run-slow`` and ``--run-network`` opt in to tests that take minutes or need a package
registry; without them such tests are skipped with a reason, never silently passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")
    parser.addoption("--run-network", action="store_true", help="run tests marked network")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, option in (("slow", "--run-slow"), ("network", "--run-network")):
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"needs {option}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def data_dir() -> Path:
    return DATA
