"""The test strategy registers itself when a backtest imports it (``--import``); afterwards it
leaves the registry as it found it, so the rest of the suite sees only the five."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from strategies.base import REGISTRY

TEST_MODULE = "tests.backtest.strategy"


@pytest.fixture(autouse=True)
def registry_restored() -> Iterator[None]:
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)
    sys.modules.pop(TEST_MODULE, None)  # imported again, it registers again
