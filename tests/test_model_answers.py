"""A model's answers as the ranker reads them: every source (one model, a panel, another tool's scores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winnow.errors import InputError
from winnow.records import Record
from winnow.screening.ranking.model_answers import answers_from_scores, read_model_answers


def records(n: int = 4) -> list[Record]:
    return [
        Record(record_id=str(i), title=f"Title {i}", abstract="", doi=f"10.1/{i}" if i % 2 else "", pmid="")
        for i in range(1, n + 1)
    ]


def test_single_model_table_gives_scores_and_one_hot_verdicts(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "record_id": ["1", "2", "3", "4"],
            "decision": ["include", "exclude", "uncertain", "exclude"],
            "p_include": ["0.9", "0.1", "", "0.2"],
            "confidence_source": ["logprobs", "logprobs", "none", "logprobs"],
            "criterion:I1": ["met", "not_met", "unclear", "met"],
            "criterion:I2": ["met", "met", "", "not_met"],
        }
    ).to_csv(tmp_path / "d.csv", index=False)
    answers = read_model_answers(tmp_path / "d.csv", records())
    # The uncertain record without a probability scores as its decision (0.5).
    assert answers.score.tolist() == [0.9, 0.1, 0.5, 0.2]
    assert answers.reviewers == ("model",)
    assert answers.columns[0] == "score"
    met = answers.columns.index("I1=met")
    not_met = answers.columns.index("I2=not_met")
    assert answers.signals[:, met].tolist() == [1, 0, 0, 1]
    assert answers.signals[:, not_met].tolist() == [0, 0, 0, 1]
    assert answers.would_exclude().tolist() == [False, True, False, True]
    assert "logprobs" in answers.source and answers.answered == 4


def test_panel_table_keeps_each_reviewer(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "record_id": ["1", "2", "3"],
            "decision": ["include", "exclude", "include"],
            "p_include": ["0.7", "0.2", "0.6"],
            "p_include:a": ["0.8", "0.0", ""],
            "decision:a": ["include", "exclude", "include"],
            "verdicts:a": ["I1=met; I2=met", "I1=not_met", ""],
            "p_include:b": ["0.6", "0.4", "0.2"],
            "decision:b": ["include", "exclude", "exclude"],
            "verdicts:b": ["I1=met", "I1=unclear; I2=not_met", "I2=not_met"],
        }
    ).to_csv(tmp_path / "panel.csv", index=False)
    answers = read_model_answers(tmp_path / "panel.csv", records(3))
    assert answers.reviewers == ("a", "b")
    # Reviewer a's empty p_include on record 3 falls back to its decision (include: 1.0).
    assert answers.signals[:, answers.columns.index("a:score")].tolist() == [0.8, 0.0, 1.0]
    assert answers.score == pytest.approx([0.7, 0.2, 0.6])
    assert answers.signals[:, answers.columns.index("b:I2=not_met")].tolist() == [0, 1, 1]
    assert answers.signals[:, answers.columns.index("a:I1=not_met")].tolist() == [0, 1, 0]


def test_another_tools_likert_scores_are_rescaled_and_matched_by_doi(tmp_path: Path) -> None:
    # The tool's own ids; record 1 and 3 match by DOI, record 2 by title; record 4 is missing.
    pd.DataFrame(
        {
            "Key": ["x1", "x2", "x3"],
            "DOI": ["10.1/1", "", "10.1/3"],
            "Title": ["", "Title 2", ""],
            "Relevance": [5, 1, 3],
        }
    ).to_csv(tmp_path / "export.csv", index=False)
    answers = read_model_answers(tmp_path / "export.csv", records(), score_column="relevance")
    assert answers.score[:3].tolist() == [1.0, 0.0, 0.5]
    assert answers.score[3] == 0.5  # the median of the answered
    assert answers.answered == 3 and answers.signals.shape == (4, 1)
    assert "rescaled from 1-5" in answers.source


def test_score_column_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    pd.DataFrame({"record_id": ["1", "2"], "score": ["4", "high"]}).to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(InputError, match=r"no column 'relevance'.*columns found: record_id, score"):
        read_model_answers(tmp_path / "e.csv", records(), score_column="relevance")
    with pytest.raises(InputError, match="'high' is not a number") as caught:
        read_model_answers(tmp_path / "e.csv", records(), score_column="score")
    assert caught.value.line == 3
    pd.DataFrame({"record_id": ["a", "b"], "score": ["4", "2"]}).to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(InputError, match="no row matches a record"):
        read_model_answers(tmp_path / "none.csv", records(), score_column="score")


def test_a_decisions_table_with_a_bad_probability_is_one_error(tmp_path: Path) -> None:
    pd.DataFrame({"record_id": ["1"], "decision": ["include"], "p_include": ["1.7"]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    with pytest.raises(InputError, match="outside 0-1"):
        read_model_answers(tmp_path / "d.csv", records())


def test_coarse_scores_count_their_levels() -> None:
    answers = answers_from_scores(["1", "2", "3"], {"1": 0.0, "2": 0.75, "3": 0.75})
    assert answers.levels == 2
    assert np.array_equal(answers.would_exclude(), [True, False, False])
