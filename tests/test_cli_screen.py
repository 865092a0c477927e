"""``winnow screen`` at the CLI edge: one-line errors with a location and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from support import DENNSTAEDT, REPO, run_cli

FIXTURES = REPO / "tests" / "fixtures" / "records"
PROTOCOL = DENNSTAEDT / "protocol.yaml"


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("winnow: error: ")
    return err[0]


@pytest.mark.parametrize(
    ("fixture", "problem"),
    [
        ("empty.ris", "file is empty"),
        ("no_title.csv", "title"),
        ("binary_junk.csv", "binary"),
        ("truncated_only.ris", "no usable record"),
    ],
)
def test_bad_input_files(fixture: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("screen", FIXTURES / fixture, "--protocol", PROTOCOL, "--out", tmp_path / "d.csv")
    assert code == 1
    line = error_line(capsys)
    assert str(FIXTURES / fixture) in line and problem in line.lower()
    assert not (tmp_path / "d.csv").exists()


def test_bad_protocol_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("title: A review\nquestion: What?\ncriteria:\n  inclusion:\n    - {id: I1}\n")
    assert run_cli("screen", FIXTURES / "same.csv", "--protocol", bad) == 1
    assert "field criteria.inclusion.0.text: Field required" in error_line(capsys)


def test_unknown_model_and_output_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("screen", FIXTURES / "same.csv", "--protocol", PROTOCOL, "--model", "acme:x") == 1
    assert "unknown model 'acme:x'" in error_line(capsys)
    assert run_cli("screen", FIXTURES / "same.csv", "--protocol", PROTOCOL, "--out", tmp_path / "d.txt") == 1
    assert "unknown decisions format" in error_line(capsys)


def test_openai_without_key_or_base_url(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert run_cli("screen", FIXTURES / "same.csv", "--protocol", PROTOCOL, "--model", "openai:gpt-4o-mini") == 1
    assert "set OPENAI_API_KEY, or pass --base-url" in error_line(capsys)


def test_embedded_model_warning_in_agreement_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    decisions = pd.read_csv(REPO / "tests/fixtures/agreement/decisions.csv", dtype=str, keep_default_na=False)
    decisions["model"] = "local:smollm2"
    path = tmp_path / "decisions.csv"
    decisions.to_csv(path, index=False)
    assert run_cli("agree", path, "--gold", REPO / "tests/fixtures/agreement/gold.csv", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert any("for trying the pipeline only" in w for w in report["warnings"])
