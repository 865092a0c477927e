"""A real two-reviewer panel: the embedded model and a llama_cpp.server, killed mid-panel and resumed.

Then a third reviewer (another template) joins the finished panel and is the only one
asked, and repeated answers at temperature > 0 through the server, which gives no token
probabilities with forced tool calls, become a share of include votes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from winnow.backends import is_embedded_id
from winnow.screening.decisions import read_decisions
from winnow.templates import resolve_template

from support import DENNSTAEDT, LlamaServer, answered, offline_env, ok_calls

pytestmark = pytest.mark.model

RECORDS = DENNSTAEDT / "records.csv"
PROTOCOL = DENNSTAEDT / "protocol.yaml"


@pytest.fixture
def server(llama_server: LlamaServer) -> LlamaServer:
    return llama_server


def reviewers_file(path: Path, server: LlamaServer, *extra: str) -> Path:
    lines = [
        "reviewers:",
        "  - {name: embedded, model: local}",
        f"  - {{name: served, model: 'openai:smollm2', base_url: '{server.base_url}'}}",
        *extra,
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def screen_command(tmp_path: Path, reviewers: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "winnow", "screen", str(RECORDS), "--protocol", str(PROTOCOL), "--limit", "2",
        "--reviewers", str(reviewers), "--out", str(tmp_path / "d.csv"), "--no-progress", *extra,
    ]  # fmt: skip


def test_panel_killed_resumes_and_a_new_reviewer_is_the_only_one_asked(server: LlamaServer, tmp_path: Path) -> None:
    ledger = tmp_path / "d.ledger.sqlite"
    command = screen_command(tmp_path, reviewers_file(tmp_path / "panel.yaml", server))
    proc = subprocess.Popen(
        command, env=offline_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if answered(ledger) >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = ok_calls(ledger)
    assert 1 <= len(before) < 4, "the kill should land mid-panel"

    done = subprocess.run(command, env=offline_env(), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = ok_calls(ledger)
    assert [c["call_id"] for c in after[: len(before)]] == [c["call_id"] for c in before], "answers kept"
    by_reviewer = Counter("embedded" if is_embedded_id(c["model"]) else c["model"] for c in after)
    assert by_reviewer == {"embedded": 2, "openai:smollm2": 2}, "each reviewer answers each record once"
    table = read_decisions(tmp_path / "d.csv")
    assert {"decision:embedded", "decision:served", "conflict", "combine"} <= set(table.columns)
    assert set(table["combine"]) == {"any"} and "error" not in set(table["decision:served"])

    variant = tmp_path / "strict.yaml"
    variant.write_text(
        resolve_template("screen_title_abstract").read_text(encoding="utf-8").replace("Answer with", "Now answer with"),
        encoding="utf-8",
    )
    third = f"  - {{name: strict, model: local, template: '{variant}'}}"
    command = screen_command(tmp_path, reviewers_file(tmp_path / "panel.yaml", server, third))
    done = subprocess.run(command, env=offline_env(), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    added = ok_calls(ledger)[len(after) :]
    old_templates = {c["template_sha256"] for c in after}
    assert len(added) == 2 and len({c["template_sha256"] for c in added} - old_templates) == 1, "only the new one"
    assert "decision:strict" in read_decisions(tmp_path / "d.csv").columns


def test_repeated_answers_without_token_probabilities_are_votes(server: LlamaServer, tmp_path: Path) -> None:
    out = tmp_path / "v.csv"
    command = [
        sys.executable, "-m", "winnow", "screen", str(RECORDS), "--protocol", str(PROTOCOL), "--limit", "1",
        "-m", "openai:smollm2", "--base-url", server.base_url, "--structured-output", "tools",
        "--samples", "3", "--temperature", "0.8", "--out", str(out), "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, env=offline_env(), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = ok_calls(tmp_path / "v.ledger.sqlite")
    assert len(calls) == 3 and len({c["cache_key"] for c in calls}) == 3
    table = read_decisions(out)
    for _, row in table.iterrows():
        source = str(row["confidence_source"])
        assert source.startswith("votes:"), "no token probabilities: the share of votes, never a guess"
        record_calls = [c for c in calls if c["record_id"] == str(row["record_id"])]
        includes = sum('"decision": "include"' in (c["parsed_json"] or "") for c in record_calls)
        assert float(row["p_include"]) == pytest.approx(includes / int(source.split(":")[1]), abs=1e-6)
