"""Faults between winnow and the model, through a fault-injecting proxy in front of a real server.

The CI tests put ``faultproxy.FaultProxy`` in front of ``instant_server`` (a real
HTTP server that answers at once) and run the real ``winnow screen`` as a child
process; the model-marked test puts it in front of ``llama_cpp.server``. Every
fault type is injected; the checks are on the decisions table, the ledger and the
proxy's own log of what it sent back.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_run import run_winnow, screen_command, screen_through_proxy
from faultproxy import FAULTS, FaultProxy
from instant_server import InstantServer

from winnow.screening.decisions import read_decisions

from support import DENNSTAEDT, LlamaServer

RECORDS = DENNSTAEDT / "records.csv"
PROTOCOL = DENNSTAEDT / "protocol.yaml"


@pytest.fixture(scope="module")
def upstream() -> Iterator[InstantServer]:
    with InstantServer() as server:
        yield server


def test_200_records_at_30_percent_faults_lose_and_duplicate_nothing(upstream: InstantServer, tmp_path: Path) -> None:
    with FaultProxy(f"http://127.0.0.1:{upstream.port}", rate=0.3, seed=5, stall_s=3.0) as proxy:
        done, figures = screen_through_proxy(
            proxy, RECORDS, PROTOCOL, tmp_path, "-j", "32", "--timeout", "2", "--max-attempts", "8", limit=200
        )
    assert done.returncode == 0, done.stderr
    assert set(figures.injected) == set(FAULTS), f"every fault type must be exercised: {figures.injected}"
    assert sum(figures.injected.values()) >= 60
    assert figures.records == 200
    assert figures.missing == 0 and figures.duplicate_rows == 0
    assert figures.decided + figures.errors == 200
    assert figures.errors_without_cause == 0
    assert figures.duplicate_answers == 0, "a paid answer was stored twice"
    assert figures.answers_delivered_twice == 0, "the server answered one record cleanly twice"
    assert figures.unrecorded_requests == 0, "a request the proxy saw left no ledger row"
    assert figures.retry_after_checked > 0
    assert figures.retry_after_violations == [], "a retry came sooner than Retry-After allowed"
    assert figures.summary["calls"] == figures.ledger_rows
    assert figures.summary["failed_attempts"] + figures.summary["repairs"] >= sum(figures.injected.values()) - 5
    assert figures.summary["undecided"] == figures.errors
    assert figures.errors == 0, "8 attempts at a 30% fault rate should decide every record"


def test_exhausted_retry_budget_marks_errors_and_the_same_command_retries_only_those(
    upstream: InstantServer, tmp_path: Path
) -> None:
    with FaultProxy(f"http://127.0.0.1:{upstream.port}", rate=0.3, seed=11, stall_s=3.0) as proxy:
        args = ("-j", "32", "--timeout", "2", "--max-repairs", "0")
        first, before = screen_through_proxy(proxy, RECORDS, PROTOCOL, tmp_path, *args, "--max-attempts", "1", limit=60)
        assert first.returncode == 0, first.stderr
        assert before.errors > 0 and before.errors_without_cause == 0
        assert before.missing == 0 and before.duplicate_rows == 0 and before.duplicate_answers == 0
        assert f"{before.errors} record(s) left undecided" in " ".join(first.stderr.split())
        retry_line = next(
            line for line in first.stderr.splitlines() if line.startswith("  ") and "winnow screen" in line
        )
        assert "--max-attempts 1" in retry_line and "--limit 60" in retry_line
        table = read_decisions(tmp_path / "decisions.csv")
        failed = dict(zip(table["record_id"], table["error"], strict=True))
        failed = {rid: why for rid, why in failed.items() if why}
        causes = " ".join(failed.values())
        assert any(word in causes for word in ("HTTP 429", "HTTP 5", "timed out", "connection failed", "invalid"))
        kept = {r["record_id"]: r["call_id"] for _, r in table.iterrows() if r["decision"] != "error"}

        proxy.rate = 0.0
        second, after = screen_through_proxy(proxy, RECORDS, PROTOCOL, tmp_path, *args, "--max-attempts", "8", limit=60)
    assert second.returncode == 0, second.stderr
    assert after.requests == len(failed), "the re-run must call the model only for the undecided records"
    assert after.errors == 0 and after.missing == 0 and after.duplicate_rows == 0 and after.duplicate_answers == 0
    final = read_decisions(tmp_path / "decisions.csv")
    assert {r["record_id"]: r["call_id"] for _, r in final.iterrows() if r["record_id"] in kept} == kept
    assert "left undecided" not in second.stderr


def test_retry_after_is_honoured_exactly(upstream: InstantServer, tmp_path: Path) -> None:
    with FaultProxy(
        f"http://127.0.0.1:{upstream.port}", rate=0.6, seed=3, faults=("429_retry_after",), retry_after_s=1
    ) as proxy:
        done, figures = screen_through_proxy(
            proxy, RECORDS, PROTOCOL, tmp_path, "-j", "8", "--max-attempts", "10", limit=8
        )
    assert done.returncode == 0, done.stderr
    assert figures.retry_after_checked >= 3
    assert figures.retry_after_violations == []
    assert figures.errors == 0 and figures.duplicate_answers == 0


def test_schema_breaking_answers_never_reach_the_table(upstream: InstantServer, tmp_path: Path) -> None:
    with FaultProxy(f"http://127.0.0.1:{upstream.port}", rate=1.0, seed=0, faults=("schema_break",)) as proxy:
        done, figures = screen_through_proxy(proxy, RECORDS, PROTOCOL, tmp_path, "--max-repairs", "1", limit=4)
    assert done.returncode == 0
    assert figures.errors == 4 and figures.decided == 0
    with (tmp_path / "decisions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert all(row["error"].startswith("model output invalid after 2 answer(s)") for row in rows)
    assert not any(row["rationale"] or row["model_decision"] for row in rows)


@pytest.mark.model
def test_real_llama_server_behind_the_proxy(tmp_path: Path) -> None:
    from winnow.backends.local import bundled_gguf

    server = LlamaServer(bundled_gguf())
    try:
        server.wait_ready()
        faults = tuple(f for f in FAULTS if f != "stall")  # a stall must outlast a timeout long enough for a real model
        with FaultProxy(f"http://127.0.0.1:{server.port}", rate=0.5, seed=2, faults=faults) as proxy:
            # Three records (five took 137 s of the suite): at a 50 % fault rate that is still ~6 calls.
            args = screen_command(RECORDS, PROTOCOL, proxy.base_url, tmp_path / "decisions.csv", "--limit", "3")
            done = run_winnow([*args, "-j", "1", "--max-attempts", "10", "--max-tokens", "400"])
            assert done.returncode == 0, done.stderr
            from fault_run import measure

            figures = measure(
                RECORDS, 3, tmp_path / "decisions.csv", tmp_path / "decisions.ledger.sqlite", proxy, done.stderr
            )
    finally:
        server.stop()
    assert sum(figures.injected.values()) >= 2
    assert figures.missing == 0 and figures.duplicate_rows == 0 and figures.duplicate_answers == 0
    assert figures.decided + figures.errors == 3 and figures.errors_without_cause == 0
    assert figures.retry_after_violations == []
