"""Fixtures; shared helpers live in support.py so test modules can import them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import DENNSTAEDT, REPO, FakeModel, LlamaServer

# Every winnow the tests start, in this process or as a child, backs off from 50 ms instead of the
# production 1 s: the fault tests retry hundreds of times and would otherwise wait out real back-off.
# tests/test_retry.py checks the production default; set the variable yourself to test at other delays.
TEST_RETRY_INITIAL_S = "0.05"


def pytest_configure(config: pytest.Config) -> None:
    from winnow.retry import INITIAL_ENV

    os.environ.setdefault(INITIAL_ENV, TEST_RETRY_INITIAL_S)
    _one_core_per_worker()


def _one_core_per_worker() -> None:
    """Under pytest-xdist, give each worker (and every process it starts) a core of its own.

    The embedded model sizes its llama.cpp threads to the CPUs it may use; two workers each
    running it on every core would make four spinning threads fight over two cores. Pinned,
    each model runs on one core beside the other worker, as bench/embedded.py measures it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= count:
        os.sched_setaffinity(0, {cpus[int(worker[2:]) % len(cpus)]})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with embedded-model tests first: the longest files start first, so with two workers
    neither waits alone on a model file at the end. Order within a file is kept.

    pytest-xdist (3.5 on) hands out files largest-count first unless told not to, which put
    the many-test files first and left the model files to the end (measured: the last 30
    tests took about 5 minutes); ``--no-loadscope-reorder`` in pyproject.toml keeps this order.
    """
    model_files = {item.path for item in items if item.get_closest_marker("model")}
    items.sort(key=lambda item: item.path not in model_files)


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
