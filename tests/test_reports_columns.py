"""``winnow agree`` and ``winnow audit --json`` read only the columns they need, with the same output.

A decisions table's abstracts, titles, reasons and rationales are most of its bytes.
``agree`` reads none of them; ``audit`` reads the columns that pick the disagreements,
then the whole rows of just those. Both must print exactly what reading every
column did, also when blank lines shift the rows pandas counts.
"""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from winnow.agreement.compare import match_decisions
from winnow.agreement.report import build_agreement
from winnow.audit import audit_json, collect_disagreements
from winnow.gold import load_gold
from winnow.screening.decisions import read_decisions, write_decisions

from support import run_cli

CRITERIA = ("I1", "I2", "E1")


def write_table(folder: Path, n: int, *, abstract_chars: int = 300, disagree_every: int = 5) -> tuple[Path, Path]:
    """A decisions table as winnow writes it, and its gold file: every ``disagree_every``-th record disagrees."""
    rows: list[dict[str, Any]] = []
    labels = []
    for i in range(n):
        included = i % 7 == 0
        disagrees = i % disagree_every == 0
        decision = ("exclude" if included else "include") if disagrees else ("include" if included else "exclude")
        if disagrees and i % 3 == 0:
            decision = "uncertain"
        rows.append(
            {
                "record_id": f"r{i:05d}",
                "title": f"Foundation model {i} for imaging – a study",
                "year": str(2000 + i % 25),
                "decision": decision,
                "model_decision": decision,
                "p_include": round((i % 97) / 97, 6),
                "confidence_source": "token_logprobs",
                "rationale": f"Rationale {i}: the record meets the criteria.",
                **{f"criterion:{c}": ("met", "not_met", "unclear")[(i + k) % 3] for k, c in enumerate(CRITERIA)},
                **{f"reason:{c}": f"Reason {c} for {i}, with a comma" for c in CRITERIA},
                "abstract_missing": False,
                "flags": ["instruction_like_text"] if i % 97 == 0 else [],
                "duplicates": [],
                "abstract": f"Abstract {i}. " + "Self-supervised pretraining on CT, “quoted”.\nNew line. " * 60,
                "doi": f"10.1/{i}",
                "pmid": str(30_000_000 + i),
                "model": "openai:gpt-4o-mini",
                "served_model": "gpt-4o-mini-2024-07-18",
                "template_name": "screen_title_abstract",
                "template_sha256": "ab" * 32,
                "run_id": "run-1",
                "call_id": i + 1,
            }
        )
        rows[-1]["abstract"] = rows[-1]["abstract"][:abstract_chars]
        labels.append((f"r{i:05d}", int(included)))
    decisions = write_decisions(folder / "decisions.csv", rows, CRITERIA)
    gold = folder / "gold.csv"
    with gold.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "label_included"])
        writer.writerows(labels)
    return decisions, gold


def with_blank_lines(path: Path) -> None:
    """Blank lines between rows: pandas skips them, but counts them when it skips rows by number."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    out = io.StringIO()
    writer = csv.writer(out)
    for index, row in enumerate(rows):
        writer.writerow(row)
        if index % 40 == 0:
            out.write("\r\n")
    path.write_text(out.getvalue(), encoding="utf-8", newline="")


def printed(capsys: pytest.CaptureFixture[str], *args: Any) -> Any:
    assert run_cli(*args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("blank_lines", [False, True])
def test_agree_and_audit_print_what_reading_every_column_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], blank_lines: bool
) -> None:
    decisions, gold_path = write_table(tmp_path, 400)
    if blank_lines:
        with_blank_lines(decisions)
    gold = load_gold(gold_path)
    everything = match_decisions(read_decisions(decisions), decisions, gold)
    agree = printed(capsys, "agree", decisions, "--gold", gold_path, "--json")
    assert agree == json.loads(json.dumps(build_agreement(everything)))
    for only in (None, "fp", "uncertain"):
        extra = ("--only", only) if only else ()
        audit = printed(capsys, "audit", decisions, "--gold", gold_path, "--json", *extra)
        expected = audit_json(everything, collect_disagreements(everything, only=only), only=only)
        assert audit == json.loads(json.dumps(expected))
        assert audit["records"] and all(len(r["abstract"]) == 300 for r in audit["records"])


def test_a_column_filter_reads_only_those_columns(tmp_path: Path) -> None:
    decisions, _ = write_table(tmp_path, 20)
    frame = read_decisions(decisions, columns=lambda name: name in ("record_id", "decision") or ":" in name)
    assert list(frame.columns) == ["record_id", "decision", *[f"criterion:{c}" for c in CRITERIA],
                                   *[f"reason:{c}" for c in CRITERIA]]  # fmt: skip
    assert list(frame["record_id"][:2]) == ["r00000", "r00001"]


def traced_peak(*args: Any) -> int:
    tracemalloc.start()
    try:
        assert run_cli(*args) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_agree_and_audit_leave_the_abstracts_on_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reading every column peaked at 31 MB (agree) and 33 MB (audit) here; now 3 MB each."""
    small = tmp_path / "small"
    small.mkdir()
    warm, warm_gold = write_table(small, 30)
    for command in ("agree", "audit"):  # imports and first-call caches are not what is measured
        assert run_cli(command, warm, "--gold", warm_gold, "--json") == 0
    decisions, gold = write_table(tmp_path, 4000, abstract_chars=3000, disagree_every=50)
    abstracts = 4000 * 3000
    capsys.readouterr()
    agree_peak = traced_peak("agree", decisions, "--gold", gold, "--json")
    audit_peak = traced_peak("audit", decisions, "--gold", gold, "--json")
    capsys.readouterr()
    assert agree_peak < abstracts / 2, f"agree peaked at {agree_peak / 1e6:.1f} MB"
    assert audit_peak < abstracts / 2, f"audit peaked at {audit_peak / 1e6:.1f} MB"


@pytest.mark.parametrize("blank_lines", [False, True])
def test_rows_read_back_by_position_are_the_rows_read_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blank_lines: bool
) -> None:
    import pandas as pd

    from winnow.screening.decisions import read_table_rows

    decisions, _ = write_table(tmp_path, 200)
    if blank_lines:
        with_blank_lines(decisions)
    frame = read_decisions(decisions)
    rows = [0, 3, 50, 120, 199]
    chunked: list[bool] = []
    read_csv = pd.read_csv

    def spy(*args: Any, **kwargs: Any) -> Any:
        chunked.append("chunksize" in kwargs)
        return read_csv(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", spy)
    picked = read_table_rows(decisions, rows, frame["record_id"].iloc[rows])
    assert picked.equals(frame.iloc[rows].reset_index(drop=True))
    assert any(chunked) == blank_lines, "rows shifted by blank lines are caught by their ids and read again"
