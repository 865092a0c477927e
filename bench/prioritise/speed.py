"""How long a reviewer waits for the next record on a 5,000-record review, and what resuming costs.

    nice -n 10 python bench/prioritise/speed.py [--n 5000] [--steps 150] [--late-labels 1500]

The records are the first 5,000 rows of three shared sets joined (Kwok 2020, Cohen ACE
inhibitors, Cohen triptans) with their gold labels as the scripted reviewer, screened
under Kwok's protocol through ``winnow.screening.ranking.prioritise.Session`` with a real ledger and
the default ranker (the learners and combiner of ``screening/ranking/ranker.py``, embeddings on),
once with a model's answers (simulated: P(include) of a fair model and three criteria's verdicts,
as ``--from-run`` gives them) and once without, side by side in one run. The
embedding vectors are random unit vectors of MiniLM's 384 dimensions: embedding is done
once per record set and cached, so it is not part of the wait after a label, and only the
shape of the vectors matters to the fit. Measured:

- the wait after each answer: ``Session.answer`` (ledger write, stopping test) plus
  ``Session.next_record`` (combiner update, refit when due, next record), for the first
  ``--steps`` labels (a refit after every label) and for ``--steps`` labels after
  ``--late-labels`` answers (refits every 2 % more labels);
- resuming: opening the session again with 300 and with ``--late-labels`` answers stored,
  and the time to the first record; beside it, the time the old replay spent only on
  re-running the stopping test after each of the ``--late-labels`` stored answers.

Writes bench/results/prioritise_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "bench" / "asreview")]

from benchlib import write_results  # noqa: E402
from datasets import get  # noqa: E402

from winnow.ledger import Ledger  # noqa: E402
from winnow.protocol import load_protocol  # noqa: E402
from winnow.records import read_records  # noqa: E402
from winnow.screening.ranking.model_answers import ModelAnswers, answers_from_scores  # noqa: E402
from winnow.screening.ranking.prioritise import Session  # noqa: E402
from winnow.screening.ranking.ranker import (  # noqa: E402
    Features,
    RankingInputs,
    build_features,
    protocol_query,
    record_text,
    zero_shot_prior,
)
from winnow.screening.ranking.stopping import StoppingRule, check  # noqa: E402

SETS = ("Kwok_2020", "Cohen_2006_ACEInhibitors", "Cohen_2006_Triptans")


def review(n: int, workdir: Path) -> tuple[Path, dict[str, bool]]:
    frames = []
    for name in SETS:
        frame = pd.read_csv(get(name).csv, dtype=str, keep_default_na=False)
        frame["record_id"] = name + ":" + frame["record_id"]
        frames.append(frame)
    joined = pd.concat(frames).iloc[:n]
    path = workdir / "records.csv"
    joined.to_csv(path, index=False)
    return path, dict(zip(joined["record_id"], joined["label_included"] == "1", strict=True))


def inputs_for(records: list[Any], protocol: Any) -> RankingInputs:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(records), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors.mean(axis=0)
    plain = build_features([record_text(r) for r in records], protocol_query(protocol.protocol))
    features = Features(tfidf=plain.tfidf, query_tfidf=plain.query_tfidf, embeddings=vectors, query_embedding=query)
    return RankingInputs(features=features, prior=zero_shot_prior(features), embeddings_note="random 384-d (timing)")


def open_session(ledger: Ledger, records: list[Any], path: Path, protocol: Any, inputs: RankingInputs) -> Session:
    return Session.open(
        ledger,
        records=records,
        records_path=str(path),
        protocol=protocol,
        inputs=inputs,
        rule=StoppingRule(),
        who="bench",
    )


def waits(session: Session, labels: dict[str, bool], steps: int) -> tuple[list[float], list[float]]:
    """Seconds from the reviewer's answer to the next record on screen: wall clock and CPU."""
    wall, cpu = [], []
    record = session.next_record()
    for _ in range(steps):
        assert record is not None
        started, started_cpu = time.perf_counter(), time.process_time()
        session.answer(record, "include" if labels[record.record_id] else "exclude")
        record = session.next_record()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


def summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {
        "n": len(values),
        "median_s": round(float(np.median(a)), 3),
        "p95_s": round(float(np.percentile(a, 95)), 3),
        "p99_s": round(float(np.percentile(a, 99)), 3),
        "max_s": round(float(a.max()), 3),
        "share_within_1s": round(float(np.mean(a <= 1.0)), 4),
    }


def model_answers_for(records: list[Any], labels: dict[str, bool]) -> ModelAnswers:
    """Answers of a fair model (AUC about 0.85, P(include) in 3 decimals) with three criteria's verdicts."""
    rng = np.random.default_rng(0)
    ids = [r.record_id for r in records]
    z = 1.5 * np.array([labels[rid] for rid in ids]) + rng.normal(size=len(ids))
    p = np.round(1 / (1 + np.exp(-2 * (z - 1.5))), 3)
    words = ("met", "not_met", "unclear")
    verdicts = {
        rid: {f"I{k + 1}": words[int(rng.integers(3))] if p[i] < 0.5 else "met" for k in range(3)}
        for i, rid in enumerate(ids)
    }
    return answers_from_scores(ids, dict(zip(ids, p.tolist(), strict=True)), verdicts=verdicts, source="simulated")


def measure(
    records: list[Any], path: Path, labels: dict[str, bool], protocol: Any, inputs: RankingInputs, args: Any, db: Path
) -> dict[str, Any]:
    """The waits after a label early and late, and what resuming costs, for one set of ranking inputs."""
    with Ledger(db) as ledger:
        session = open_session(ledger, records, path, protocol, inputs)
        # Prior knowledge as in the simulations: the first include and the first exclude in the file,
        # so the learners are awake (fitted) from the first measured label on.
        first_include = next(r for r in records if labels[r.record_id])
        first_exclude = next(r for r in records if not labels[r.record_id])
        session.answer(first_include, "include")
        session.answer(first_exclude, "exclude")
        early = waits(session, labels, args.steps)
        # Jump ahead: store answers to records in file order (as a reviewer's history) up to --late-labels.
        for record in records:
            if session.status().read >= 300:
                break
            if record.record_id not in {records[i].record_id for i in session._order}:
                session.answer(record, "include" if labels[record.record_id] else "exclude")
    resume = {}
    with Ledger(db) as ledger:
        started = time.perf_counter()
        session = open_session(ledger, records, path, protocol, inputs)
        session.next_record()
        resume["300"] = round(time.perf_counter() - started, 3)
        answered = set(session._order)
        for i, record in enumerate(records):
            if session.status().read >= args.late_labels:
                break
            if i not in answered:
                ledger.add_priority_answer(
                    session.session_id,
                    record_id=record.record_id,
                    answer="include" if labels[record.record_id] else "exclude",
                    who="bench",
                    p_value=None,
                )
                session._apply(record.record_id, "include" if labels[record.record_id] else "exclude", check_rule=False)
    with Ledger(db) as ledger:
        started = time.perf_counter()
        session = open_session(ledger, records, path, protocol, inputs)
        session.next_record()
        resume[str(args.late_labels)] = round(time.perf_counter() - started, 3)
        late = waits(session, labels, args.steps)
        learners = session.weights()
        # What resuming used to cost: the stopping test re-run after every stored answer.
        stored = [labels[records[i].record_id] for i in session._order[: args.late_labels]]
        started = time.perf_counter()
        for k in range(1, len(stored) + 1):
            check(StoppingRule(), stored[:k], len(records))
        resume["old_replay_stopping_tests_only"] = round(time.perf_counter() - started, 3)
    return {
        "learners": learners,
        "wait_after_label_first_labels": {"wall": summary(early[0]), "cpu": summary(early[1])},
        f"wait_after_label_after_{args.late_labels}_labels": {"wall": summary(late[0]), "cpu": summary(late[1])},
        "wait_after_label_all": {"wall": summary(early[0] + late[0]), "cpu": summary(early[1] + late[1])},
        "resume_seconds_to_first_record": resume,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--late-labels", type=int, default=1500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, labels = review(args.n, workdir)
        records = list(read_records(path, merge_duplicates=False).records)
        protocol = load_protocol(HERE / "protocols" / "kwok_2020.yaml")
        plain = inputs_for(records, protocol)
        with_model = replace(plain, model=model_answers_for(records, labels))
        # Side by side in one run, the one with the model's answers first.
        runs = {
            "with_model": measure(records, path, labels, protocol, with_model, args, workdir / "m.sqlite"),
            "without_model": measure(records, path, labels, protocol, plain, args, workdir / "p.sqlite"),
        }
    figures = {
        "records": args.n,
        "sets": list(SETS),
        **runs,
        "load_average_at_end": list(os.getloadavg()),
    }
    write_results("prioritise_speed", figures)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
