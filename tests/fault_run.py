"""Screen through the fault proxy with the real CLI and measure what survived.

Shared by ``tests/test_faults.py`` (which asserts on the figures) and
``bench/reliability.py`` (which writes them to docs/reliability.md), so the
document and the CI checks count the same things in the same way.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultproxy import FaultProxy
from instant_server import InstantServer, record_key

from winnow.records import read_records
from winnow.screening.decisions import read_decisions

from support import REPO, offline_env

_CALLS = re.compile(r"calls\s+(\d+) made \((\d+) retried, (\d+) failed attempts, (\d+) repairs\)")
_UNDECIDED = re.compile(r"(\d+) record\(s\) left undecided")


def screen_command(records: Path, protocol: Path, base_url: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "winnow",
        "screen",
        str(records),
        "--protocol",
        str(protocol),
        "--model",
        "openai:instant",
        "--base-url",
        base_url,
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def run_winnow(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run winnow as a user would, in a child process with a clean, key-free environment."""
    base = offline_env()
    base["PYTHONPATH"] = str(REPO)
    base["COLUMNS"] = "200"
    return subprocess.run(args, capture_output=True, text=True, env={**base, **(env or {})}, timeout=timeout)


@dataclass
class FaultFigures:
    """What one screening run through the proxy did to every record and every answer."""

    records: int
    decided: int
    errors: int
    errors_without_cause: int
    missing: int
    duplicate_rows: int
    duplicate_answers: int
    answers_delivered_twice: int
    unrecorded_requests: int
    requests: int
    ledger_rows: int
    injected: Counter[str]
    survived: Counter[str]
    retry_after_checked: int
    retry_after_violations: list[float]
    summary: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["injected"] = dict(self.injected)
        data["survived"] = dict(self.survived)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultFigures:
        """Figures saved by an earlier run (the llama_cpp.server run takes over an hour to repeat)."""
        return cls(**{**data, "injected": Counter(data["injected"]), "survived": Counter(data["survived"])})


def parse_summary(stderr: str) -> dict[str, int]:
    """The end-of-run figures as printed by ``winnow screen``."""
    text = " ".join(stderr.split())
    found: dict[str, int] = {}
    match = _CALLS.search(text)
    if match:
        found.update(zip(("calls", "retried", "failed_attempts", "repairs"), map(int, match.groups()), strict=True))
    undecided = _UNDECIDED.search(text)
    found["undecided"] = int(undecided.group(1)) if undecided else 0
    return found


def measure(
    records_path: Path, limit: int | None, out: Path, db: Path, proxy: FaultProxy, stderr: str, *, since: float = 0.0
) -> FaultFigures:
    """Compare the decisions table and the ledger with what the proxy saw and did."""
    expected = [r.record_id for r in read_records(records_path).records]
    if limit is not None:
        expected = expected[:limit]
    table = read_decisions(out)
    ids = list(table["record_id"])
    decided = table[table["decision"] != "error"]
    errors = table[table["decision"] == "error"]
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY call_id")]
    duplicate_answers = sum(n - 1 for n in Counter(r["cache_key"] for r in rows if r["ok"]).values() if n > 1)
    key_to_record = {record_key(json.loads(r["prompt_json"])): r["record_id"] for r in rows}
    events = [e for e in proxy.events if e.arrived >= since]
    clean = Counter(e.key for e in events if e.clean_answer)
    decided_ids = set(decided["record_id"])
    survived: Counter[str] = Counter()
    for event in events:
        if event.fault is not None and key_to_record.get(event.key) in decided_ids:
            survived[event.fault] += 1
    checked, violations = 0, []
    for key_events in proxy.events_by_key().values():
        key_events = [e for e in key_events if e.arrived >= since]
        for before, after in itertools.pairwise(key_events):
            if before.fault == "429_retry_after":
                checked += 1
                gap = after.arrived - before.arrived
                if gap < proxy.retry_after_s:
                    violations.append(round(gap, 3))
    return FaultFigures(
        records=len(expected),
        decided=len(decided),
        errors=len(errors),
        errors_without_cause=int((errors["error"].str.strip() == "").sum()),
        missing=len(set(expected) - set(ids)),
        duplicate_rows=len(ids) - len(set(ids)),
        duplicate_answers=duplicate_answers,
        answers_delivered_twice=sum(n - 1 for n in clean.values() if n > 1),
        unrecorded_requests=sum(1 for e in events if e.key not in key_to_record),
        requests=len(events),
        ledger_rows=len(rows),
        injected=Counter(e.fault for e in events if e.fault is not None),
        survived=survived,
        retry_after_checked=checked,
        retry_after_violations=violations,
        summary=parse_summary(stderr),
    )


def screen_through_proxy(
    proxy: FaultProxy,
    records: Path,
    protocol: Path,
    workdir: Path,
    *extra: str,
    limit: int | None = None,
) -> tuple[subprocess.CompletedProcess[str], FaultFigures]:
    """One ``winnow screen`` run through ``proxy``; re-running with the same workdir resumes it."""
    out = workdir / "decisions.csv"
    args = screen_command(records, protocol, proxy.base_url, out, *extra)
    if limit is not None:
        args += ["--limit", str(limit)]
    since = time.monotonic()
    started = time.perf_counter()
    done = run_winnow(args)
    figures = measure(records, limit, out, workdir / "decisions.ledger.sqlite", proxy, done.stderr, since=since)
    figures.seconds = round(time.perf_counter() - started, 1)
    return done, figures


def ledger_state(db: Path) -> tuple[str, int, int]:
    """Integrity check, successful answers, and cache keys answered more than once (paid twice)."""
    with sqlite3.connect(db) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        answered = conn.execute("SELECT count(*) FROM calls WHERE ok = 1").fetchone()[0]
        doubled = conn.execute(
            "SELECT count(*) FROM (SELECT cache_key FROM calls WHERE ok = 1 GROUP BY cache_key HAVING count(*) > 1)"
        ).fetchone()[0]
    return integrity, answered, doubled


def kill_after(server: InstantServer, args: list[str], answers: int, extra_s: float) -> int:
    """Start winnow, SIGKILL it once the server has sent ``answers`` more answers; return the exit signal."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_API_KEY", None)
    start = server.answers
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while server.answers - start < answers and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(extra_s)
    child.send_signal(signal.SIGKILL)
    code = child.wait()
    server.wait_idle()
    return code


# -- winnow extract under the same kills --------------------------------------------
EXTRACT_PDFS = ("phytochemical_phoenix_paludosa.pdf", "bmc_systematic_review_DVT_prophylaxis_trauma.pdf")
EXTRACT_FORM = """name: small
fields:
  - {name: title, type: string, description: Title of the paper.}
  - {name: sample_size, type: integer, description: Number of participants.}
  - {name: design, type: one_of, categories: [trial, review, laboratory], description: Study design.}
"""


def write_extract_inputs(inputs: Path) -> Path:
    """Two fixture PDFs and a three-field form: 38 chunk calls at 500 tokens a chunk."""
    (inputs / "pdfs").mkdir(parents=True, exist_ok=True)
    for name in EXTRACT_PDFS:
        (inputs / "pdfs" / name).write_bytes((REPO / "tests" / "fixtures" / "pdfs" / name).read_bytes())
    (inputs / "form.yaml").write_text(EXTRACT_FORM, encoding="utf-8")
    return inputs


def extract_command(base_url: str, inputs: Path, workdir: Path) -> list[str]:
    args = screen_command(inputs / "pdfs", inputs / "form.yaml", base_url, workdir / "x.csv", "-j", "2")
    args[args.index("screen")] = "extract"
    return [*args, "--max-chunks", "0", "--chunk-tokens", "500"]
