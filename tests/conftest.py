"""Fixtures; shared helpers live in support.py so test modules can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from support import DENNSTAEDT, REPO, SHARED_PDFS, FakeModel, ParsedShared

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


@pytest.fixture(scope="session")
def shared_pdfs() -> dict[Path, ParsedShared]:
    """Every PDF of the shared set (287 pages, ~30 s), parsed once for every test that reads them."""
    if not SHARED_PDFS.is_dir():
        pytest.skip(f"{SHARED_PDFS} not present")
    from winnow.extraction.pdf import parse_pdf

    parsed = {}
    for path in sorted(SHARED_PDFS.glob("*.pdf")):
        start = time.perf_counter()
        result = parse_pdf(path)
        parsed[path] = ParsedShared(result, time.perf_counter() - start)
    assert parsed, f"no PDF in {SHARED_PDFS}"
    return parsed
