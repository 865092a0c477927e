"""Where the default ranker may trail ASReview without a model: empty abstracts and common includes.

    python bench/prioritise/shape.py run      # 6 include-rich sets x 2 versions x 2 rankers x 5 seeds
    python bench/prioritise/shape.py report   # -> bench/results/prioritise_shape.json

Issue 24 reports a held-out full-text-stage review (363 records, 10.7 % includes, 46 % of the
abstracts empty) where every winnow ranker since the first trails ASReview's paired runs, by
0.063. No shared set has that shape: the most empty abstracts are 20 % (Bannach-Brown) and the
includes without an abstract are rare everywhere but Bannach-Brown. So the six shared sets with
the highest share of includes (Oral hypoglycaemics, Estrogens, Bannach-Brown, Atypical
antipsychotics, Urinary incontinence, NSAIDs: 10-27 %) are read twice: as given, and with the
abstracts of a seeded random 46 % of their records blanked (includes and excludes alike).

Each is screened from the shared prior records of seeds 0-4 by the default ranker and by a
stand-in for ASReview's default (``asreview-like``: the TF-IDF SVM with ASReview's settings
alone, no zero-shot prior, no protocol as an include), until 95 % of the includes are found.
On the sets as given the stand-in is checked against ASReview's own orders
(``bench/results/asreview.json``), so the blanked figures can be read against it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "bench"), str(ROOT / "bench" / "asreview")]

import learners_loo as loo  # noqa: E402
from benchlib import run_pool, write_results  # noqa: E402
from datasets import get  # noqa: E402

from winnow import embeddings as emb  # noqa: E402
from winnow.protocol import load_protocol  # noqa: E402
from winnow.records import read_records  # noqa: E402
from winnow.screening.ranking.ranker import (  # noqa: E402
    Features,
    Ranker,
    protocol_query,
    ranking_inputs,
    record_text,
    zero_shot_prior,
)
from winnow.screening.ranking.simulate import simulate_one  # noqa: E402

SETS = (
    "Cohen_2006_OralHypoglycemics",
    "Cohen_2006_Estrogens",
    "Bannach-Brown_2019",
    "Cohen_2006_AtypicalAntipsychotics",
    "Cohen_2006_UrinaryIncontinence",
    "Cohen_2006_NSAIDS",
)
BLANK = 0.46
SEEDS = 5
CACHE = HERE / "cache" / "shape"
RANKERS = {
    "default": loo.config_of("ts-svm-jsvm-mean-qp-c5"),
    "asreview-like": replace(
        loo.config_of("ts-svm-jsvm-mean-qp-c5"),
        learners=("tfidf-svm",),
        mean_arm=False,
        query_as_include=False,
        half_life=1e-9,
        credit_depth=1,
    ),
}


def csv_for(name: str, variant: str) -> Path:
    """The set's CSV as given, or with the abstracts of a seeded 46 % of its records blanked."""
    source = get(name).csv
    if variant == "given":
        return source
    out = CACHE / f"{name}-blank46.csv"
    if not out.is_file():
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        rng = np.random.default_rng(46)
        blank = rng.random(len(frame)) < BLANK
        frame.loc[blank, "abstract"] = ""
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
    return out


@cache
def inputs(name: str, variant: str) -> tuple[list[str], np.ndarray, Features, Any, dict[str, bool]]:
    path = csv_for(name, variant)
    records = list(read_records(path, merge_duplicates=False).records)
    protocol = load_protocol(HERE / "protocols" / f"{name.lower()}.yaml")
    built = ranking_inputs(records, protocol, embeddings="off")
    texts = [record_text(r) for r in records]
    vectors = emb.embed(texts)
    query = emb.embed([protocol_query(protocol.protocol)])[0]
    features = replace(built.features, embeddings=vectors, query_embedding=query)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    labels = dict(zip(frame["record_id"], frame["label_included"] == "1", strict=True))
    ids = [r.record_id for r in records]
    truth = np.array([labels[rid] for rid in ids])
    empty = {r.record_id: not r.abstract.strip() for r in records}
    return ids, truth, features, zero_shot_prior(features, embedding_similarity=False), empty


def run(job: tuple[str, str, str, int]) -> dict[str, Any]:
    name, variant, ranker_name, seed = job
    out = CACHE / "runs" / f"{name}__{variant}__{ranker_name}__seed{seed}.json"
    if out.is_file():
        return dict(json.loads(out.read_text()))
    started = time.process_time()
    ids, truth, features, prior, empty = inputs(name, variant)
    result = simulate_one(
        ids,
        truth,
        lambda: Ranker(features, prior, seed=seed, config=RANKERS[ranker_name]),
        None,
        get(name).priors(seed),
        seed,
        until_recall=0.95,
    )
    labels = dict(zip(ids, truth, strict=True))
    record = {
        "dataset": name,
        "variant": variant,
        "ranker": ranker_name,
        "seed": seed,
        "wss_95": result.figures.wss_95,
        "found": [[rid, k + 1, empty[rid]] for k, rid in enumerate(result.order) if labels[rid]],
        "cpu_seconds": round(time.process_time() - started, 2),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record))
    return record


def asreview_wss(name: str, seed: int) -> float:
    runs = json.loads((ROOT / "bench" / "results" / "asreview.json").read_text())["figures"]["runs"]
    order = next([str(r) for r in run["order"]] for run in runs if run["dataset"] == name and run["seed"] == seed)
    return float(loo.figures(order, loo.csv_labels(name)).wss_95)


def report() -> None:
    rows = []
    for name in SETS:
        row: dict[str, Any] = {"dataset": name}
        for variant in ("given", "blank46"):
            for ranker_name in RANKERS:
                wss = [run((name, variant, ranker_name, s))["wss_95"] for s in range(SEEDS)]
                row[f"{variant}:{ranker_name}"] = float(np.mean(wss))
        row["given:asreview"] = float(np.mean([asreview_wss(name, s) for s in range(SEEDS)]))
        frame = get(name).frame()
        row["includes_share"] = float((frame["label_included"].astype(str) == "1").mean())
        row["empty_abstracts_share"] = float((frame["abstract"].fillna("").astype(str).str.strip() == "").mean())
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_results("prioritise_shape", {"seeds": SEEDS, "blanked_share": BLANK, "sets": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["run", "report"])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.action == "report":
        report()
        return
    # Embeddings first, one process: the MiniLM cache makes every later read free.
    for name in SETS:
        for variant in ("given", "blank46"):
            inputs(name, variant)
    jobs = [(n, v, r, s) for s in range(SEEDS) for n in SETS for v in ("given", "blank46") for r in RANKERS]
    run_pool(
        run,
        jobs,
        args.jobs,
        lambda r: (
            f"{r['dataset']} {r['variant']} {r['ranker']} seed {r['seed']}: WSS@95 {r['wss_95']:.3f} "
            f"({r['cpu_seconds']} s cpu)"
        ),
    )


if __name__ == "__main__":
    main()
