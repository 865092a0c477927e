"""``winnow report``: one self-contained HTML file, record text inert, checked in a real browser.

The browser test drives Debian's Chromium (``/usr/bin/chromium``, installed by .ci/run)
through Playwright's Python package with ``executable_path``; Playwright's own browser
download does not work on these machines. Without the browser the test fails in CI
(``CI`` set) and is skipped elsewhere, saying why.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
from review_folder import HOSTILE_ABSTRACT, HOSTILE_ID, build_review

from support import run_cli

CHROMIUM = os.environ.get("WINNOW_CHROMIUM", "/usr/bin/chromium")
# The flags this closed network needs (docs: /work/.library/env/machines/python.md of the team's machines).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SECTIONS = ("runs", "methods", "agreement", "audit", "validation", "prisma", "synthesis", "evidence")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("review")
    chain = build_review(folder)
    # A gold file on which the hostile record is surely a disagreement, so it sits in the audit table.
    with (folder / "decisions.decided.csv").open(newline="", encoding="utf-8") as handle:
        decided = {row["record_id"]: row["decision"] for row in csv.DictReader(handle)}
    labels = dict(chain["labels"])
    labels[HOSTILE_ID] = "exclude" if decided[HOSTILE_ID] != "exclude" else "include"
    gold = folder / "report-gold.csv"
    gold.write_text("record_id,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()), encoding="utf-8")
    ledgers = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.sqlite")}
    out = folder / "out" / "review.html"
    assert run_cli("report", folder, "--out", out, "--gold", gold) == 0
    return {"folder": folder, "html": out, "text": out.read_text(encoding="utf-8"), "ledgers": ledgers}


def test_the_page_is_self_contained_and_every_section_is_there(report: dict[str, Any]) -> None:
    text = report["text"]
    for section in SECTIONS:
        assert f'<section id="{section}"' in text
    refs = re.findall(r'\b(?:src|href)="([^"]*)"', text)
    assert refs and all(ref.startswith(("data:", "#")) for ref in refs), [r[:40] for r in refs if r[:5] != "data:"]
    assert "http://" not in text.split("<main")[0] and "https://" not in text.split("<main")[0]
    assert "default-src 'none'" in text and "script-src 'sha256-" in text
    assert text.count("<script") == 1, "the page's own script is the only script element"


def test_record_text_is_escaped(report: dict[str, Any]) -> None:
    text = report["text"]
    assert "<script>window.__pwned" not in text and "onerror=" not in text.replace("onerror=&#34;", "")
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in text
    assert "A &lt;b&gt;bold&lt;/b&gt; planning system" in text


def test_reporting_changes_no_ledger(report: dict[str, Any]) -> None:
    for path, digest in report["ledgers"].items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path.name


def _browser() -> Any:
    if not Path(CHROMIUM).is_file():
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def test_the_report_in_headless_chromium(report: dict[str, Any], tmp_path: Path) -> None:
    with _browser() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            blocked: list[str] = []
            page.on("request", lambda r: blocked.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto(report["html"].as_uri())
            for section in SECTIONS:
                assert page.locator(f"section#{section} h2").count() == 1, section
            assert blocked == [], "the page fetched something"
            images = page.evaluate("[...document.images].map(i => [i.id || i.className, i.complete, i.naturalWidth])")
            assert len(images) >= 2 and all(done and width > 0 for _, done, width in images), images
            assert {"prisma-diagram", "recall-curve"} <= {name for name, _, _ in images}

            # The hostile record is in the audit as text; nothing it carries ran.
            row = page.locator(f'#audit-table tbody tr[data-record="{HOSTILE_ID}"]')
            assert row.count() == 1
            assert row.locator(".title").inner_text() == "A <b>bold</b> planning system"
            assert row.locator(".title b").count() == 0
            assert row.locator(".abstract").text_content() == HOSTILE_ABSTRACT
            assert page.evaluate("window.__pwned === undefined")
            assert page.locator("#audit-table img, #audit-table script").count() == 0

            # Sorting: the P(include) header orders the rows up, then down; risk restores the order.
            def column(index: int) -> list[str]:
                cells = f"#audit-table tbody tr td:nth-child({index})"
                return page.eval_on_selector_all(
                    cells, "cells => cells.map(c => c.getAttribute('data-sort') ?? c.textContent.trim())"
                )

            risk = [int(v) for v in column(1)]
            assert risk == sorted(risk) and len(risk) >= 2
            page.locator("#audit-table thead th:nth-child(7) button").click()
            up = [float(v) for v in column(7) if v != ""]
            assert up == sorted(up)
            page.locator("#audit-table thead th:nth-child(7) button").click()
            down = [float(v) for v in column(7) if v != ""]
            assert down == sorted(down, reverse=True)
            page.locator("#audit-table thead th:nth-child(1) button").click()
            assert [int(v) for v in column(1)] == risk

            # Filtering by text and by kind.
            page.fill("#audit-filter", HOSTILE_ID)
            assert page.locator("#audit-table tbody tr:not([hidden])").count() == 1
            assert page.inner_text("#audit-count") == "1"
            page.fill("#audit-filter", "")
            page.screenshot(path=str(tmp_path / "report-1280.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280

            # Phone width: no sideways scrolling of the page, the audit rows stack.
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            assert page.locator("#audit-table thead").bounding_box()["height"] <= 1  # type: ignore[index]
            page.screenshot(path=str(tmp_path / "report-390.png"), full_page=False)
        finally:
            browser.close()
    assert (tmp_path / "report-1280.png").stat().st_size > 10_000


def test_the_bench_checker_agrees_with_the_page_and_catches_a_changed_number(report: dict[str, Any]) -> None:
    """bench/report_chain.py's independent checker, on this folder: no mismatch, then one planted."""
    import json
    import sys

    from support import REPO

    sys.path.insert(0, str(REPO / "bench"))
    import report_chain

    folder = report["folder"]
    out = folder / "plain.html"
    assert run_cli("report", folder, "--out", out) == 0
    gold = {r["record_id"]: r["label"] for r in report_chain.rows_of(folder / "gold.csv")}
    truth = report_chain.independent(folder, gold)
    html = out.read_text(encoding="utf-8")
    checked = report_chain.check_page(html, truth)
    assert checked["mismatches"] == {} and checked["checked"] > 20
    sought = truth["prisma"]["sought"]
    row = f'reports sought</td><td class="n" data-label="n">{sought}</td>'
    planted = html.replace(row, row.replace(f">{sought}<", f">{sought + 1}<"))
    assert planted != html and "prisma sought" in report_chain.check_page(planted, truth)["mismatches"]
    from winnow.reporting.facts import gather_facts
    from winnow.reporting.ledgers import find_ledgers
    from winnow.reporting.methods import build_methods

    methods = build_methods(gather_facts(find_ledgers(folder))).as_dict()
    assert report_chain.check_methods(methods, truth)["missing"] == []
    assert report_chain.stray_numbers(methods, folder, truth) == []
    methods["paragraphs"][1]["text"] += " It took 987654 calls."
    assert report_chain.stray_numbers(json.loads(json.dumps(methods)), folder, truth) == ["987654"]
