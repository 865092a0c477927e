"""Fixtures; shared helpers live in support.py so test modules can import them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import DENNSTAEDT, REPO, FakeModel

# Every winnow the tests start, in this process or as a child, backs off from 50 ms instead of the
# production 1 s: the fault tests retry hundreds of times and would otherwise wait out real back-off.
# tests/test_retry.py checks the production default; set the variable yourself to test at other delays.
TEST_RETRY_INITIAL_S = "0.05"


def pytest_configure(config: pytest.Config) -> None:
    from winnow.retry import INITIAL_ENV

    os.environ.setdefault(INITIAL_ENV, TEST_RETRY_INITIAL_S)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def dennstaedt() -> Path:
    return DENNSTAEDT


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()
