"""Gold files: aliases, label normalisation, every malformed case, and ``gold validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from winnow.cli.agree import gold as gold_group
from winnow.errors import GoldSetError
from winnow.gold import load_gold, normalise_label, resolve_reference_standard, validate_gold_dir

FIXTURES = Path(__file__).parent / "fixtures" / "agreement"
EXPECTED = {f"r{i:02d}": i <= 5 for i in range(1, 13)}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("include", True),
        ("Included", True),
        ("YES", True),
        ("y", True),
        ("1", True),
        ("true", True),
        (" 1.0 ", True),
        ("exclude", False),
        ("EXCLUDED", False),
        ("no", False),
        ("N", False),
        ("0", False),
        ("False", False),
        ("maybe", None),
        ("", None),
        (None, None),
        ("2", None),
    ],
)
def test_normalise_label(raw: str | None, expected: bool | None) -> None:
    assert normalise_label(raw) is expected


@pytest.mark.parametrize(
    ("name", "id_column", "label_column"),
    [
        ("gold.csv", "record_id", "label_included"),
        ("gold_yesno.csv", "ID", "included"),
        ("gold_words.tsv", "record_id", "decision"),
        ("gold_truefalse.csv", "record_id", "label_abstract_included"),
    ],
)
def test_every_alias_format_reads_the_same_labels(name: str, id_column: str, label_column: str) -> None:
    gold = load_gold(FIXTURES / name)
    assert {rid: row.included for rid, row in gold.rows.items()} == EXPECTED
    assert (gold.id_column, gold.label_column) == (id_column, label_column)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gold_duplicate.csv", "gold_duplicate.csv:6: duplicate record_id 'r02' (first on line 3)"),
        (
            "gold_bad_label.csv",
            "gold_bad_label.csv:8: record r07: unknown label 'maybe' in column label_included;"
            " expected include/exclude, yes/no, 1/0 or true/false",
        ),
        ("gold_empty_label.csv", "gold_empty_label.csv:4: record r03: empty label in column label_included"),
        (
            "gold_no_label_column.csv",
            "gold_no_label_column.csv:1: missing a label column (label_included, label, included, decision,"
            " label_abstract_included); columns found: record_id, score",
        ),
        ("gold_empty.csv", "gold_empty.csv: no labelled records"),
        ("no_such_file.csv", "no_such_file.csv: no such gold file"),
    ],
)
def test_malformed_gold_files_name_file_and_line(name: str, message: str) -> None:
    with pytest.raises(GoldSetError) as caught:
        load_gold(FIXTURES / name)
    assert message in caught.value.one_line()


def test_more_problems_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("record_id,label\na,1\na,0\nb,perhaps\nc,yes\n")
    with pytest.raises(GoldSetError, match=r"g.csv:3: duplicate .* \(and 1 more problem\(s\); `winnow gold validate`"):
        load_gold(path)


def test_line_numbers_survive_multiline_abstracts(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text('record_id,abstract,label\na,"line one\nline two\nline three",1\nb,x,unsure\n')
    with pytest.raises(GoldSetError, match=r"g.csv:5: record b: unknown label 'unsure'"):
        load_gold(path)


def test_reference_standard_order(tmp_path: Path) -> None:
    assert resolve_reference_standard(FIXTURES / "gold.csv")[0] == "title_abstract"
    assert resolve_reference_standard(FIXTURES / "gold.csv", "full_text") == ("full_text", "--reference-standard")
    standard, origin = resolve_reference_standard(tmp_path / "gold.csv")
    assert standard == "unknown" and "not stated" in origin
    with pytest.raises(GoldSetError, match="unknown reference standard 'abstracts-ish'"):
        resolve_reference_standard(tmp_path / "gold.csv", "abstracts-ish")


def test_validate_good_gold_set() -> None:
    result = validate_gold_dir(FIXTURES / "goldset_ok")
    assert result.ok, result.errors
    assert result.warnings == []
    assert result.summary["n"] == 12 and result.summary["n_included"] == 5
    assert result.summary["reference_standard"] == "title_abstract"
    assert result.summary["criteria"] == ["population", "intervention", "design", "protocol_only"]


def test_validate_bad_gold_set_lists_every_problem() -> None:
    result = validate_gold_dir(FIXTURES / "goldset_bad")
    assert not result.ok
    joined = "\n".join(result.errors)
    assert "records.csv:6: duplicate record_id 'r02'" in joined
    assert "records.csv:15: record r13: unknown label 'maybe'" in joined
    assert "at least one inclusion or exclusion criterion is required" in joined
    assert "no SOURCE.md or README.md" in joined


def test_validate_note_must_state_counts(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("records.csv", "protocol.yaml"):
        (folder / name).write_text((FIXTURES / "goldset_ok" / name).read_text())
    (folder / "SOURCE.md").write_text("Made up.\n")
    result = validate_gold_dir(folder)
    assert result.ok
    warnings = "\n".join(result.warnings)
    for topic in ("licence", "reference standard", "prevalence", "record count (12)", "number of includes (5)"):
        assert topic in warnings


def test_cli_validate_exit_codes_and_json() -> None:
    runner = CliRunner()
    ok = runner.invoke(gold_group, ["validate", str(FIXTURES / "goldset_ok")])
    assert ok.exit_code == 0, ok.output
    assert "12 records, 5 includes (prevalence 41.7%)" in ok.output
    bad = runner.invoke(gold_group, ["validate", str(FIXTURES / "goldset_bad"), "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    assert data["ok"] is False and len(data["errors"]) >= 3
