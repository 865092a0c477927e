"""``kill -9`` in the middle of ``winnow screen``, then the same command again.

The server counts the answers it has sent; each seed kills the child process with
SIGKILL after a different number of them (including after the last, while the
table is being written). The resumed run must produce the same decisions table as
an uninterrupted one, call the model only for records with no answer in the
ledger, and never store an answer twice.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fault_run import extract_command, kill_after, ledger_state, run_winnow, screen_command, write_extract_inputs
from instant_server import InstantServer

from winnow.screening.decisions import read_decisions, read_table

from support import DENNSTAEDT, PROVENANCE

RECORDS = DENNSTAEDT / "records.csv"
PROTOCOL = DENNSTAEDT / "protocol.yaml"
N = 40
SEEDS = range(10)


@pytest.fixture(scope="module")
def server() -> Iterator[InstantServer]:
    with InstantServer(delay_s=0.03) as running:
        yield running


@pytest.fixture(scope="module")
def baseline(server: InstantServer, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    workdir = tmp_path_factory.mktemp("baseline")
    done = run_winnow(command(server, workdir))
    assert done.returncode == 0, done.stderr
    return comparable(workdir / "decisions.csv")


def command(server: InstantServer, workdir: Path) -> list[str]:
    return screen_command(RECORDS, PROTOCOL, server.base_url, workdir / "decisions.csv", "--limit", str(N), "-j", "2")


def comparable(path: Path) -> pd.DataFrame:
    """The table without per-run provenance, which legitimately differs after a resume."""
    return read_decisions(path).drop(columns=list(PROVENANCE))


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_then_rerun_equals_uninterrupted_run(
    seed: int, server: InstantServer, baseline: pd.DataFrame, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    answers = N if seed == 0 else rng.randint(1, N - 1)  # seed 0: after the last answer, around the table write
    code = kill_after(server, command(server, tmp_path), answers, rng.uniform(0, 0.03))
    db = tmp_path / "decisions.ledger.sqlite"
    integrity, answered_at_kill, doubled = ledger_state(db)
    assert integrity == "ok" and doubled == 0
    assert code == -signal.SIGKILL or answered_at_kill == N

    before = server.requests
    done = run_winnow(command(server, tmp_path))
    assert done.returncode == 0, done.stderr
    assert server.requests - before == N - answered_at_kill, "the re-run asked again for an answer already stored"
    integrity, answered, doubled = ledger_state(db)
    assert integrity == "ok" and answered == N and doubled == 0
    resumed = comparable(tmp_path / "decisions.csv")
    assert resumed["record_id"].is_unique
    pd.testing.assert_frame_equal(resumed, baseline)
    leftovers = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("decisions.ledger"))
    assert leftovers == ["decisions.csv"], "a temporary table survived the kill and the re-run"


def test_sigkill_twice_in_a_row(server: InstantServer, baseline: pd.DataFrame, tmp_path: Path) -> None:
    args = command(server, tmp_path)
    kill_after(server, args, 5, 0.0)
    kill_after(server, args, 10, 0.01)
    assert run_winnow(args).returncode == 0
    integrity, answered, doubled = ledger_state(tmp_path / "decisions.ledger.sqlite")
    assert (integrity, answered, doubled) == ("ok", N, 0)
    pd.testing.assert_frame_equal(comparable(tmp_path / "decisions.csv"), baseline)


# -- winnow extract -------------------------------------------------------------
EXTRACT_CALLS = 38  # 500-token chunks of the two PDFs


@pytest.fixture(scope="module")
def extract_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_extract_inputs(tmp_path_factory.mktemp("extract-inputs"))


def extraction_table(path: Path) -> pd.DataFrame:
    return read_table(path, what="extraction").drop(columns=["run_id", "call_ids"])


@pytest.fixture(scope="module")
def extract_baseline(server: InstantServer, extract_inputs: Path) -> pd.DataFrame:
    base = extract_inputs / "base"
    assert run_winnow(extract_command(server.base_url, extract_inputs, base)).returncode == 0
    return extraction_table(base / "x.csv")


@pytest.mark.parametrize("seed", range(3))
def test_sigkill_during_extract_then_rerun_equals_uninterrupted_run(
    seed: int, server: InstantServer, extract_inputs: Path, extract_baseline: pd.DataFrame, tmp_path: Path
) -> None:
    baseline = extract_baseline

    rng = random.Random(100 + seed)
    workdir = tmp_path / "killed"
    kill_after(
        server, extract_command(server.base_url, extract_inputs, workdir), rng.randint(1, EXTRACT_CALLS - 1), 0.0
    )
    integrity, answered_at_kill, doubled = ledger_state(workdir / "x.ledger.sqlite")
    assert integrity == "ok" and doubled == 0
    before = server.requests
    done = run_winnow(extract_command(server.base_url, extract_inputs, workdir))
    assert done.returncode == 0, done.stderr
    assert server.requests - before == EXTRACT_CALLS - answered_at_kill
    assert ledger_state(workdir / "x.ledger.sqlite") == ("ok", EXTRACT_CALLS, 0)
    pd.testing.assert_frame_equal(extraction_table(workdir / "x.csv"), baseline)
