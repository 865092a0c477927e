"""Per-dataset ranking inputs for the learner benchmarks, computed once and kept on disk.

    nice -n 10 python bench/prioritise/features.py [--datasets NAME ...]

For every shared screening set it reads the rows as ``winnow simulate --keep-duplicates``
does, builds the same TF-IDF the CLI builds and saves it to
``bench/prioritise/cache/features/NAME.npz`` with the gold labels and the priors per seed;
then the MiniLM embeddings (through the project's cache in ~/.cache/winnow) to
``NAME.emb.npz``. The simulations never embed or vectorise again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import save_npz

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench" / "asreview")]

from datasets import DATASETS, Dataset  # noqa: E402

from winnow import embeddings as emb  # noqa: E402
from winnow.protocol import load_protocol  # noqa: E402
from winnow.records import read_records  # noqa: E402
from winnow.screening.ranking.ranker import protocol_query, ranking_inputs, record_text  # noqa: E402

OUT = HERE / "cache" / "features"
PROTOCOLS = HERE / "protocols"
SEEDS = 5


def build(dataset: Dataset) -> Path:
    """TF-IDF, labels and priors: seconds per set."""
    out = OUT / f"{dataset.name}.npz"
    if out.is_file():
        return out
    records = list(read_records(dataset.csv, merge_duplicates=False).records)
    protocol = load_protocol(PROTOCOLS / f"{dataset.name.lower()}.yaml")
    inputs = ranking_inputs(records, protocol, embeddings="off")
    frame = dataset.frame()
    labels = dict(zip(frame["record_id"].astype(str), frame["label_included"].astype(str) == "1", strict=True))
    ids = [r.record_id for r in records]
    index = {rid: i for i, rid in enumerate(ids)}
    priors = np.array([[index[p] for p in dataset.priors(seed)] for seed in range(SEEDS)], dtype=np.int64)
    OUT.mkdir(parents=True, exist_ok=True)
    save_npz(OUT / f"{dataset.name}.tfidf.npz", inputs.features.tfidf)
    np.savez(
        out,
        ids=np.array(ids),
        truth=np.array([labels[rid] for rid in ids]),
        priors=priors,
        query_tfidf=inputs.features.query_tfidf.toarray().ravel(),
    )
    return out


def build_embeddings(dataset: Dataset) -> Path:
    """MiniLM vectors through the project's cache: a minute or more per thousand records on a busy machine."""
    out = OUT / f"{dataset.name}.emb.npz"
    if out.is_file():
        return out
    started = time.monotonic()
    records = list(read_records(dataset.csv, merge_duplicates=False).records)
    protocol = load_protocol(PROTOCOLS / f"{dataset.name.lower()}.yaml")
    vectors = emb.embed([record_text(r) for r in records])
    query = emb.embed([protocol_query(protocol.protocol)])[0]
    np.savez(out, embeddings=vectors, query_embedding=query)
    print(f"{dataset.name}: {len(records)} embedded in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=None)
    args = parser.parse_args()
    for dataset in DATASETS:
        if args.datasets is None or dataset.name in args.datasets:
            build(dataset)
    # Embeddings last and smallest set first, so the TF-IDF-only runs can start at once.
    for dataset in sorted(DATASETS, key=lambda d: len(d.frame())):
        if args.datasets is None or dataset.name in args.datasets:
            build_embeddings(dataset)


if __name__ == "__main__":
    main()
