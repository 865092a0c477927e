"""One ASReview simulation with its default model; prints (or writes) the reading order as JSON.

Run with the asreview venv's python (``bench/asreview/setup.sh`` makes it):

    bench/asreview/.venv/bin/python bench/asreview/run_asreview.py DATA.csv \
        --seed 0 --prior INCLUDE_ID EXCLUDE_ID [--out result.json]

DATA.csv has the columns ``record_id,title,abstract,label_included``. The run follows the
code path of ``asreview simulate DATA.csv --seed S --prior-idx I E`` in asreview 3.0.8
(``asreview/simulation/cli.py``) step by step, without writing a project file:

- ``np.random.seed(seed)`` (all the CLI's ``--seed`` does; LinearSVC's liblinear draws
  from that global state);
- ``load_dataset`` (ASReview's CSV reader; its internal record_id is the row number and
  ``dataset_row`` the row of the file; the file's own ``record_id`` column is ignored);
- cycles ``[TopDown until fittable, ActiveLearningCycle.from_meta(default AI)]`` where the
  default AI is ``get_ai_config()`` (the first "ultra" configuration, ``elas_u4`` in 3.0.8);
- ``Simulate(..., stopper=LastRelevant())`` (the CLI's default without ``--n-stop``: it
  stops as soon as the last relevant record is labelled), groups off (the CLI default);
- ``sim.label([include_row, exclude_row])`` then ``sim.review()``.

The labelled sequence ``sim._results`` (priors first) is mapped back to the file's
record_id through ``dataset_row``, and every label ASReview used is checked against the
file's ``label_included``. ``order`` therefore ends at the last include.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def run(csv: Path, seed: int, prior: list[str], dataset: str | None = None) -> dict:
    t0 = time.perf_counter()
    from asreview import load_dataset
    from asreview.learner import ActiveLearningCycle
    from asreview.models.models import get_ai_config
    from asreview.models.queriers import TopDown
    from asreview.models.stoppers import IsFittable, LastRelevant
    from asreview.simulation.simulate import Simulate

    ours = pd.read_csv(csv, dtype=str, keep_default_na=False)
    for col in ("record_id", "label_included"):
        if col not in ours.columns:
            raise SystemExit(f"{csv}: missing column {col}")
    if not ours["record_id"].is_unique:
        raise SystemExit(f"{csv}: record_id is not unique")
    row_of = {rid: i for i, rid in enumerate(ours["record_id"])}
    missing = [p for p in prior if p not in row_of]
    if missing:
        raise SystemExit(f"prior record_id(s) not in {csv}: {missing}")

    # --- as asreview/simulation/cli.py::_cli_simulate (3.0.8) ---
    np.random.seed(seed)
    db = load_dataset(str(csv), dataset_id=Path(csv).name)
    try:
        inp = db.input[["record_id", "dataset_row", "included", "title"]]
        n = len(inp)
        if n != len(ours):
            raise AssertionError(f"ASReview read {n} records, the file has {len(ours)}")
        if not (inp["record_id"].to_numpy() == np.arange(n)).all():
            raise AssertionError("ASReview record_id is not the row number 0..n-1")
        rows = inp["dataset_row"].astype(int).to_numpy()
        if sorted(rows) != list(range(n)):
            raise AssertionError("ASReview dataset_row is not a permutation of the file rows")
        # labels ASReview will simulate with == the file's labels, for every record
        asr_lab = inp["included"].astype(int).to_numpy()
        file_lab = ours["label_included"].astype(int).to_numpy()[rows]
        if not (asr_lab == file_lab).all():
            bad = np.flatnonzero(asr_lab != file_lab)[:5]
            raise AssertionError(f"label mismatch at ASReview ids {bad.tolist()}")
        # parse check: titles as ASReview read them vs the file (None == empty)
        asr_titles = inp["title"].fillna("").astype(str).to_numpy()
        title_mismatch = int(sum(a != b for a, b in zip(asr_titles, ours["title"].to_numpy()[rows], strict=True)))

        asr_id_of_row = np.empty(n, dtype=int)
        asr_id_of_row[rows] = np.arange(n)
        prior_idx = [int(asr_id_of_row[row_of[p]]) for p in prior]

        ai = get_ai_config()
        cycle_meta = ai["value"]
        cycles = [
            ActiveLearningCycle(querier=TopDown(), stopper=IsFittable()),
            ActiveLearningCycle.from_meta(cycle_meta),
        ]
        sim = Simulate(
            db.input.get_df(),
            db.input["included"],
            cycles,
            stopper=LastRelevant(),
            groups=None,
            print_progress=False,
        )
        sim.label(prior_idx)
        t_sim = time.perf_counter()
        sim.review()
        t_end = time.perf_counter()
    finally:
        close = getattr(db, "close", None)
        if callable(close):
            close()

    res = sim._results
    asr_ids = res["record_id"].astype(int).to_numpy()
    order = [str(ours["record_id"].iat[rows[i]]) for i in asr_ids]
    labels = res["label"].astype(int).to_numpy()
    file_labels = ours["label_included"].astype(int).to_numpy()[rows[asr_ids]]
    if not (labels == file_labels).all():
        raise AssertionError("a label in ASReview's results differs from the file")
    if order[: len(prior)] != list(prior):
        raise AssertionError(f"order does not start with the priors: {order[:2]} vs {prior}")
    if len(set(order)) != len(order):
        raise AssertionError("a record was labelled twice")
    n_inc = int(file_lab.sum())
    if int(labels.sum()) != n_inc:
        raise AssertionError(f"simulation stopped with {labels.sum()} of {n_inc} includes")
    # the priors were labelled without a model; every later record by the default cycle
    used = res.iloc[len(prior) :][["classifier", "querier", "balancer", "feature_extractor"]]
    used = used.drop_duplicates().to_dict("records")

    meta = asdict(cycle_meta)
    model = {
        "ai": ai["name"],
        "label": ai["label"],
        "classifier": meta["classifier"],
        "querier": meta["querier"],
        "balancer": meta["balancer"],
        "feature_extractor": meta["feature_extractor"],
        "n_query": meta["n_query"],
        "params": {
            k: meta[k] for k in ("classifier_param", "querier_param", "balancer_param", "feature_extractor_param")
        },
        "used_in_results": used,
        "stopper": "last_relevant",
    }
    return _jsonable(
        {
            "tool": "asreview",
            "version": version("asreview"),
            "model": model,
            "dataset": dataset or Path(csv).stem,
            "csv": str(csv),
            "seed": seed,
            "prior": list(prior),
            "order": order,
            "order_labels": labels.tolist(),
            "n_records": n,
            "n_includes": n_inc,
            "title_mismatches": title_mismatch,
            "seconds": round(t_end - t0, 3),
            "seconds_review": round(t_end - t_sim, 3),
            "python": sys.version.split()[0],
            "versions": {p: version(p) for p in ("scikit-learn", "numpy", "pandas")},
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", type=Path, help="record_id,title,abstract,label_included")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--prior", nargs=2, required=True, metavar=("INCLUDE_ID", "EXCLUDE_ID"))
    ap.add_argument("--dataset", help="name to record (default: the CSV's stem)")
    ap.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    args = ap.parse_args(argv)
    result = run(args.csv, args.seed, list(args.prior), args.dataset)
    text = json.dumps(result)
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
