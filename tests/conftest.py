"""Fixtures; shared helpers live in support.py so test modules can import them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import DENNSTAEDT, REPO, FakeModel, LlamaServer


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def dennstaedt() -> Path:
    return DENNSTAEDT


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    """One real llama_cpp.server with the embedded GGUF for every test that needs a served model."""
    from winnow.backends.local import bundled_gguf

    running = LlamaServer(bundled_gguf())
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
