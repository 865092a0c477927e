"""The screening datasets of the winnow-vs-ASReview benchmark and the prior rule both share.

Run with winnow's python (stdlib + numpy + pandas). ``python bench/asreview/datasets.py``
lists the datasets with their sizes and the priors for seeds 0..4.

Datasets: every CSV under ``$WINNOW_SCREENING_DATA`` (default
``../shared/data/screening`` from the repository root) except the ``labels_title_abstract_stage*`` files
(title/abstract-stage labels, not datasets) and anything under an ``orig/`` folder (the
untouched upstream files). Each CSV has the uniform columns
``record_id,title,abstract,label_included``; see each folder's SOURCE.md.

Prior rule (winnow uses exactly the same, so both tools start from the same two
records): read the CSV with ``dtype=str, keep_default_na=False``; ``includes`` /
``excludes`` are the record_ids with ``label_included == "1"`` / ``"0"`` in file order;
``rng = numpy.random.default_rng(seed)``; ``inc = includes[rng.integers(len(includes))]``,
then ``exc = excludes[rng.integers(len(excludes))]`` with the same rng (include first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

# ../shared/data/screening from the repository root, as the shared material is laid out.
DATA_ROOT = Path(
    os.environ.get("WINNOW_SCREENING_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "screening")
)
SEEDS = range(5)


@cache
def _load(csv: str) -> pd.DataFrame:
    return pd.read_csv(csv, dtype={"record_id": str}, keep_default_na=False)


@dataclass(frozen=True)
class Dataset:
    name: str  # e.g. "Cohen_2006_ADHD" (the CSV's stem)
    csv: Path
    group: str  # the folder under DATA_ROOT, e.g. "Cohen_2006"

    def frame(self) -> pd.DataFrame:
        """The CSV as read for the prior rule (record_id as str, no NA conversion)."""
        return _load(str(self.csv))

    def labels(self) -> tuple[list[str], list[str]]:
        """(includes, excludes): record_ids with label_included "1" / "0", in file order."""
        df = self.frame()
        lab = df["label_included"].astype(str)
        return df.loc[lab == "1", "record_id"].tolist(), df.loc[lab == "0", "record_id"].tolist()

    def priors(self, seed: int) -> tuple[str, str]:
        """(include_id, exclude_id) for this seed: the rule shared with winnow."""
        includes, excludes = self.labels()
        if not includes or not excludes:
            raise ValueError(f"{self.name}: needs at least one include and one exclude")
        rng = np.random.default_rng(seed)
        inc = includes[rng.integers(len(includes))]
        exc = excludes[rng.integers(len(excludes))]
        return str(inc), str(exc)


def discover(root: Path = DATA_ROOT) -> list[Dataset]:
    """Every dataset CSV under root (sorted by name), skipping stage-label files and orig/."""
    out = []
    for csv in sorted(root.rglob("*.csv")):
        rel = csv.relative_to(root)
        if "orig" in rel.parts[:-1] or csv.name.startswith("labels_title_abstract_stage"):
            continue
        out.append(Dataset(name=csv.stem, csv=csv, group=rel.parts[0]))
    return sorted(out, key=lambda d: d.name)


DATASETS: list[Dataset] = discover()
BY_NAME: dict[str, Dataset] = {d.name: d for d in DATASETS}


def get(name: str) -> Dataset:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(BY_NAME)}") from None


if __name__ == "__main__":
    for d in DATASETS:
        inc, exc = d.labels()
        pri = " ".join(f"{s}:{'/'.join(d.priors(s))}" for s in SEEDS)
        print(f"{d.name:40s} n={len(d.frame()):5d} inc={len(inc):4d}  priors {pri}")
