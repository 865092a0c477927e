"""``winnow methods``: every number in the text is one the ledgers (or the tables they point to) hold.

The review folder is built through the real CLI against a local instant server
(tests/review_folder.py). The expected figures below are counted from the ledgers
with ``sqlite3`` and from the tables with ``csv``, not with winnow's reporting code.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from review_folder import build_review

from winnow.reporting.facts import gather_facts
from winnow.reporting.ledgers import find_ledgers
from winnow.reporting.methods import ITEMS, PLACEHOLDER, build_methods

from support import run_cli

NUMBER = re.compile(r"(?<![\w.:-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?(?![\w-])")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
CITATIONS = ("Cochran 1977", "Wright 1991", "Pearson 1934", "Frieder 2021")


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("review")
    return folder, build_review(folder)


def _rows(db: Path, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _fmt(value: float, kind: str) -> str:
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "level":
        return f"{100 * value:g}%"
    return f"{value:,}"


def expected_numbers(folder: Path) -> tuple[set[str], set[str], set[str]]:
    """(numbers, identifiers holding digits, dates) the text may use, counted without winnow's reporting code."""
    numbers: set[str] = set()
    idents: set[str] = set()
    dates: set[str] = set()

    def add(value: Any, kind: str = "int") -> None:
        if value is None:
            return
        if isinstance(value, float) and kind == "int":
            numbers.update({f"{value:g}", f"{value:.1f}", f"{value:.6g}"})
        else:
            numbers.add(_fmt(value, kind))

    for db in sorted(folder.glob("*.sqlite")):
        for run in _rows(db, "SELECT * FROM runs"):
            idents.add(run["run_id"])
            idents.update(filter(None, (run["winnow_version"], (run["protocol_sha256"] or "")[:12])))
            add(run["n_records"])
            summary = json.loads(run["summary_json"] or "null") or {}
            params = json.loads(run["params_json"] or "null") or {}
            for name in ("calls", "cached", "prompt_tokens", "completion_tokens"):
                add((summary.get("stats") or {}).get(name))
            for n in (summary.get("counts") or {}).values():
                add(n)
            add(len(summary.get("skipped") or []))
            add(len(summary.get("duplicate_groups") or []))
            sampling = params.get("sampling") or {}
            add(sampling.get("temperature"))
            add(sampling.get("seed"))
            add(params.get("quote_threshold"))
            for reviewer in params.get("reviewers") or []:
                add(reviewer.get("samples"))
            evidence = summary.get("evidence") or {}
            if evidence:
                totals: Counter[str] = Counter()
                for counts in evidence.values():
                    totals.update(counts)
                reported = sum(n for s, n in totals.items() if s not in ("not_reported", "conflict"))
                verified = totals["verified"] + totals["verified_fuzzy"]
                for n in (*totals.values(), reported, verified, len(evidence)):
                    add(n)
                add(totals["wrong_page"] + totals["not_found"] + totals["no_quote"])
                if reported:
                    add(verified / reported, "pct")
            if run["command"] == "decide":
                cal = summary["calibration_set"]
                add(summary["threshold"])
                add(summary["records"])
                add(summary["changed_from_screen"])
                for n in summary["new_decisions"].values():
                    add(n)
                add(cal["calibration_includes"])
                add(cal["calibration_records"])
                add(cal["recall_on_calibration"], "pct")
                add(cal["recall_lower_bound"], "pct")
                add(summary["recall_target"], "level")
                add(summary["confidence"], "level")
            if run["command"] == "validate":
                est = summary["estimate"]
                add(summary["seed"])
                add(summary["decisions"]["n"])
                add(summary["labelled"])
                for stratum in est["strata"]:
                    add(stratum["labelled"])
                    add(stratum["records"])
                for name in ("recall", "recall_lower_bound", "precision"):
                    add(est[name], "pct")
                for bound in est["recall_interval"]:
                    add(bound, "pct")
                add(est["missed_includes"])
                add(est["missed_includes_upper_bound"])
                add(est["recall_target"], "level")
                add(est["confidence"], "level")
        for call in _rows(db, "SELECT DISTINCT model, served_model, template_sha256, created_at FROM calls"):
            idents.update(filter(None, (call["model"], call["served_model"], call["template_sha256"][:12])))
            dates.add(call["created_at"][:10])
        for label in _rows(db, "SELECT who, count(DISTINCT record_id) AS n FROM validation_labels GROUP BY who"):
            add(label["n"])
        verdicts = {
            (r["decisions_path"], r["record_id"]): r
            for r in _rows(db, "SELECT * FROM adjudications ORDER BY adjudication_id")
        }
        if verdicts:
            add(len(verdicts))
            for n in Counter((r["model_decision"], r["final_label"]) for r in verdicts.values()).values():
                add(n)
            for n in Counter(r["who"] for r in verdicts.values()).values():
                add(n)
    numbers.update(str(n) for n in _prisma_counts(folder).values())
    return numbers, idents, dates


def _prisma_counts(folder: Path) -> dict[str, int]:
    """The PRISMA boxes recounted from the CSVs and the adjudications (as bench/prisma_chain.py does)."""
    decided = _csv(folder / "decisions.decided.csv")
    verdicts = {
        r["record_id"]: r["final_label"]
        for r in _rows(folder / "decisions.decided.ledger.sqlite", "SELECT * FROM adjudications ORDER BY 1")
    }
    final = {r["record_id"]: verdicts.get(r["record_id"], r["decision"]) for r in decided}
    sought = [rid for rid, d in final.items() if d != "exclude"]
    fulltext = {r["record_id"].removesuffix(".pdf"): r for r in _csv(folder / "fulltext.csv")}
    assessed = [rid for rid in sought if rid in fulltext and fulltext[rid]["decision"] != "error"]
    return {
        "identified": len(_csv(folder / "records.csv")),
        "screened": len(decided),
        "excluded": sum(d == "exclude" for d in final.values()),
        "sought": len(sought),
        "not_retrieved": len(sought) - len(assessed),
        "no_pdf": len([rid for rid in sought if rid not in fulltext]),
        "assessed": len(assessed),
        "included": sum(fulltext[rid]["decision"] == "include" for rid in assessed),
    }


def numbers_in(text: str, idents: set[str], dates: set[str]) -> tuple[list[str], list[str]]:
    """(numbers, dates) in the prose once identifiers and citations that hold digits are taken out."""
    for ident in sorted(idents, key=len, reverse=True):
        text = text.replace(ident, " ")
    for citation in CITATIONS:
        text = text.replace(citation, " ")
    found_dates = DATE.findall(text)
    text = DATE.sub(" ", text)
    return NUMBER.findall(text), found_dates


def test_every_number_in_the_methods_text_comes_from_the_ledgers(review: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = review
    methods = build_methods(gather_facts(find_ledgers(folder)))
    prose = " ".join(p.text for p in methods.paragraphs)
    allowed, idents, dates = expected_numbers(folder)
    numbers, used_dates = numbers_in(prose, idents, dates)
    assert len(numbers) > 40, "the text should carry the review's figures"
    strays = sorted({n for n in numbers if n not in allowed})
    assert not strays, f"numbers in the methods text that no ledger or table holds: {strays}"
    assert set(used_dates) <= dates and used_dates


def test_the_text_states_the_key_figures_of_each_stage(review: tuple[Path, dict[str, Any]]) -> None:
    folder, chain = review
    methods = build_methods(gather_facts(find_ledgers(folder)))
    text = {p.key: p.text for p in methods.paragraphs}
    assert set(text) == {"sources", "title_abstract", "threshold", "validation", "human", "full_text", "extraction",
                         "prisma"}  # fmt: skip
    run = _rows(folder / "decisions.ledger.sqlite", "SELECT * FROM runs WHERE command = 'screen'")[0]
    stats = json.loads(run["summary_json"])["stats"]
    assert f"made {stats['calls']:,} model calls" in text["title_abstract"]
    assert "openai:instant 2 times at temperature 0.7" in text["title_abstract"]
    assert "conservative exclusion" in text["title_abstract"]
    assert run["template_sha256"][:12] in text["title_abstract"]
    labels = _rows(folder / "decisions.ledger.sqlite", "SELECT count(*) AS n FROM validation_labels")[0]["n"]
    assert f"rev_a ({labels} records)" in text["validation"]
    assert f"settled {len(chain['adjudicated'])} records" in text["human"]
    counts = _prisma_counts(folder)
    assert f"Of {counts['identified']} records identified" in text["prisma"]
    assert f"{counts['screened']} records were screened and {counts['excluded']} excluded" in text["prisma"]
    assert f"{counts['sought']} reports were sought" in text["prisma"]


def test_what_no_ledger_knows_is_a_marked_placeholder(review: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = review
    methods = build_methods(gather_facts(find_ledgers(folder)))
    prose = " ".join(p.text for p in methods.paragraphs)
    for gap in ("the databases and registers searched", "the date each was last searched", "who the reviewers were"):
        assert f"[{PLACEHOLDER}: {gap}" in prose
    for sentence in (s for p in methods.paragraphs for s in p.sentences):
        assert sentence.items and set(sentence.items) <= set(ITEMS)
        assert sentence.source


def test_cli_writes_markdown_with_the_items_section_and_json(
    review: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = review
    out = tmp_path / "methods.md"
    assert run_cli("methods", folder, "--out", out) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Methods")
    assert "# Reporting items answered, sentence by sentence" in text
    assert "PRISMA 2020 item 8 (selection process)" in text and "RAISE: human oversight" in text
    assert run_cli("methods", folder / "decisions.ledger.sqlite", "--json") == 0


def test_a_folder_without_ledgers_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("methods", tmp_path) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"winnow: error: {tmp_path}: no winnow ledger (*.sqlite with a runs table) in this folder"]


def test_a_copied_review_folder_reads_its_own_tables(review: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Runs store absolute paths; a copy of the folder must report its own tables, not the original's."""
    import shutil

    folder, _ = review
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    table = copy / "decisions.decided.csv"
    rows = _csv(table)
    for row in rows:
        row["decision"] = "exclude"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = {p.key: p.text for p in build_methods(gather_facts(find_ledgers(copy))).paragraphs}
    counts = _prisma_counts(copy)
    assert counts != _prisma_counts(folder)
    assert f"{counts['screened']} records were screened and {counts['excluded']} excluded" in text["prisma"]
