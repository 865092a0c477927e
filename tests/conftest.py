"""Fixtures; shared helpers live in support.py so test modules can import them."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import DENNSTAEDT, REPO, FakeModel


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def dennstaedt() -> Path:
    return DENNSTAEDT


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()
