"""Does ``winnow validate``'s recall bound hold? Coverage over repeated samples, and the calibrated threshold.

For each shared screening set, decision tables of known recall are built: the
includes a real scorer (TF-IDF similarity to the review's protocol, as
``screening/ranking/ranker.py`` computes it) ranks lowest are the model's misses, at
0, 2, 5, 10 and 20% of the includes. The top-scoring gold excludes are false
includes (as many as the true includes), the next 2% of records are "uncertain",
and so are the lowest 5% of the includes that were not missed.

Then, ``--reps`` times per setting, the validation sample is drawn with the code
``winnow validate`` uses (``draw_sample`` with seed = rep), the gold labels play
the reviewer, and the estimate is computed. Reported per setting and design:
how often the one-sided lower bound is at or below the true recall (must be at
least the stated confidence), the same for the two-sided interval and for the
missed-includes upper bound, and how often recall was certified. Two designs:
the plan ``validate`` proposes, and a sample of a fixed share of the run.

"Records to certify": the smallest share of the run (10%, 20%, ... 100%) at
which at least 80% of samples certify 95% recall, against the run size.

Calibration: the TF-IDF similarity plays P(include). Over ``--splits`` random
halves, the threshold is chosen on one half (``choose_threshold``) and recall
is measured three ways: on the other half alone; over all of the set's
includes by the threshold (the population the calibration half was drawn from,
which is what the Clopper-Pearson bound is about); and as the review's recall,
where the labelled half's includes count as found. The share of splits at or
above the target is compared with the confidence.

Usage: nice -n 10 python bench/validation_coverage.py [--reps 1000] [--splits 500]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_results  # noqa: E402

from winnow.gold import load_gold  # noqa: E402
from winnow.protocol import load_protocol  # noqa: E402
from winnow.screening.validation.calibration import choose_threshold  # noqa: E402
from winnow.screening.validation.plan import plan_sample  # noqa: E402
from winnow.screening.validation.recall import (  # noqa: E402
    STRATA,
    StratumCount,
    draw_sample,
    estimate_recall,
)

DATA = ROOT.parent / "shared" / "data" / "screening"
PROTOCOLS = ROOT / "bench" / "prioritise" / "protocols"
SETS = {
    "dennstaedt_2024_cdss_ro": DATA / "Dennstaedt_2024_CDSS_RO" / "Dennstaedt_2024_CDSS_RO.csv",
    "kwok_2020": DATA / "Kwok_2020" / "Kwok_2020.csv",
    "nagtegaal_2019": DATA / "Nagtegaal_2019" / "Nagtegaal_2019.csv",
    "bannach-brown_2019": DATA / "Bannach-Brown_2019" / "Bannach-Brown_2019.csv",
}
MISS_RATES = (0.0, 0.02, 0.05, 0.10, 0.20)
FIXED_SHARE = 0.4
SHARES = tuple(i / 10 for i in range(1, 11))


@dataclass
class Scored:
    ids: list[str]
    included: dict[str, bool]
    score: dict[str, float]


def scored(name: str, path: Path) -> Scored:
    """Gold labels (the project's gold reader) and TF-IDF similarity of each record to the protocol."""
    from sklearn.metrics.pairwise import cosine_similarity

    from winnow.screening.ranking.ranker import build_features, protocol_query

    gold = load_gold(path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["record_id"] in gold.rows]
    protocol = load_protocol(PROTOCOLS / f"{name}.yaml").protocol
    features = build_features([f"{r['title']}\n{r['abstract']}" for r in rows], protocol_query(protocol))
    similarity = cosine_similarity(features.tfidf, features.query_tfidf).ravel()
    ids = [r["record_id"] for r in rows]
    return Scored(
        ids, {rid: gold.rows[rid].included for rid in ids}, dict(zip(ids, map(float, similarity), strict=True))
    )


def decision_table(data: Scored, miss_rate: float) -> tuple[dict[str, str], float]:
    """Model decisions with misses among the lowest-scored includes; returns (stratum per id, true recall)."""
    includes = sorted((rid for rid in data.ids if data.included[rid]), key=lambda r: data.score[r])
    excludes = sorted((rid for rid in data.ids if not data.included[rid]), key=lambda r: -data.score[r])
    n_missed = round(miss_rate * len(includes))
    stratum: dict[str, str] = {}
    for rid in includes[:n_missed]:
        stratum[rid] = "exclude"
    kept = includes[n_missed:]
    n_unsure = math.floor(0.05 * len(kept))
    for i, rid in enumerate(kept):
        stratum[rid] = "uncertain" if i < n_unsure else "include"
    n_false = len(includes)
    n_unsure_exc = math.ceil(0.02 * len(data.ids))
    for i, rid in enumerate(excludes):
        stratum[rid] = "include" if i < n_false else ("uncertain" if i < n_false + n_unsure_exc else "exclude")
    return stratum, 1 - n_missed / len(includes)


def one_sample(
    data: Scored, stratum: dict[str, str], sizes: dict[str, int], sample: dict[str, int], seed: int,
    target: float, confidence: float,
) -> Any:  # fmt: skip
    strata: dict[str, list[str]] = {name: [] for name in STRATA}
    for rid in data.ids:
        strata[stratum[rid]].append(rid)
    drawn = draw_sample(strata, sample, seed)
    labelled = dict.fromkeys(STRATA, 0)
    found = dict.fromkeys(STRATA, 0)
    for rid, name in drawn:
        labelled[name] += 1
        found[name] += data.included[rid]
    counts = [StratumCount(name, sizes[name], labelled[name], found[name]) for name in STRATA]  # type: ignore[arg-type]
    return estimate_recall(counts, recall_target=target, confidence=confidence)


def exact_missed_coverage(population: int, sample: int, missed: int, confidence: float) -> float:
    """P(true missed <= upper bound), summed over every possible sample outcome (no Monte Carlo noise)."""
    from scipy.stats import hypergeom

    from winnow.screening.validation.recall import alpha_of, count_bounds

    alpha = alpha_of(confidence)
    return float(
        sum(
            hypergeom.pmf(k, population, missed, sample)
            for k in range(0, min(missed, sample) + 1)
            if missed <= count_bounds(population, sample, k, alpha)[1]
        )
    )


def coverage(
    data: Scored, stratum: dict[str, str], true_recall: float, sample: dict[str, int], reps: int, target: float,
    confidence: float,
) -> dict[str, Any]:  # fmt: skip
    sizes = {name: sum(1 for s in stratum.values() if s == name) for name in STRATA}
    true_missed = sum(1 for rid, s in stratum.items() if s == "exclude" and data.included[rid])
    lower_ok = interval_ok = missed_ok = certified = 0
    for rep in range(reps):
        est = one_sample(data, stratum, sizes, sample, rep, target, confidence)
        lower_ok += est.recall_lower <= true_recall + 1e-12
        low, high = est.recall_interval
        interval_ok += low - 1e-12 <= true_recall <= high + 1e-12
        missed_ok += true_missed <= est.missed_upper
        certified += est.certified
    return {
        "sample": dict(sample),
        "sample_total": sum(sample.values()),
        "missed_upper_exact_coverage": exact_missed_coverage(
            sizes["exclude"], sample["exclude"], true_missed, confidence
        ),
        "lower_bound_coverage": lower_ok / reps,
        "interval_coverage": interval_ok / reps,
        "missed_upper_coverage": missed_ok / reps,
        "certified_share": certified / reps,
    }


def records_to_certify(
    data: Scored, stratum: dict[str, str], reps: int, target: float, confidence: float
) -> dict[str, Any]:
    sizes = {name: sum(1 for s in stratum.values() if s == name) for name in STRATA}
    n = sum(sizes.values())
    for share in SHARES:
        sample = plan_sample(sizes, recall_target=target, confidence=confidence, total=round(share * n)).sample
        hits = sum(one_sample(data, stratum, sizes, sample, rep, target, confidence).certified for rep in range(reps))
        if hits / reps >= 0.8:
            return {"share_of_run": share, "records_read": sum(sample.values()), "certified_share": hits / reps}
    return {"share_of_run": None, "records_read": None, "certified_share": None}


def calibration(data: Scored, splits: int, targets: tuple[float, ...], confidence: float) -> list[dict[str, Any]]:
    out = []
    for target in targets:
        held = held_all = held_review = chosen = 0
        recalls = []
        all_includes = [r for r in data.ids if data.included[r]]
        for split in range(splits):
            rng = random.Random(10_000 + split)
            ids = list(data.ids)
            rng.shuffle(ids)
            half, other = ids[: len(ids) // 2], ids[len(ids) // 2 :]
            cal = choose_threshold(
                [data.score[r] for r in half], [data.included[r] for r in half],
                recall_target=target, confidence=confidence,
            )  # fmt: skip
            if cal.threshold is None:
                continue
            chosen += 1
            test_includes = [r for r in other if data.included[r]]
            recall = sum(data.score[r] >= cal.threshold for r in test_includes) / len(test_includes)
            recalls.append(recall)
            held += recall >= target
            held_all += sum(data.score[r] >= cal.threshold for r in all_includes) / len(all_includes) >= target
            # The review's recall: the labelled half's includes were found by the human who labelled them.
            labelled_includes = sum(data.included[r] for r in half)
            found = labelled_includes + recall * len(test_includes)
            held_review += found / (labelled_includes + len(test_includes)) >= target
        out.append(
            {
                "recall_target": target,
                "confidence": confidence,
                "splits": splits,
                "splits_with_a_threshold": chosen,
                "share_at_or_above_target": None if not chosen else held / chosen,
                "share_at_or_above_target_all_includes": None if not chosen else held_all / chosen,
                "share_at_or_above_target_review": None if not chosen else held_review / chosen,
                "mean_recall_on_other_half": None if not recalls else sum(recalls) / len(recalls),
            }
        )
    return out


def write_example(path: Path, name: str, miss_rate: float) -> None:
    """One decision table of known recall, for the worked example in docs/validation.md."""
    data = scored(name, SETS[name])
    stratum, true_recall = decision_table(data, miss_rate)
    with SETS[name].open(newline="", encoding="utf-8") as handle:
        text = {row["record_id"]: row for row in csv.DictReader(handle)}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "title", "decision", "abstract"])
        for rid in data.ids:
            writer.writerow([rid, text[rid]["title"], stratum[rid], text[rid]["abstract"]])
    print(f"{path}: {name} with {miss_rate:.0%} of includes missed; true recall {true_recall:.4f}")


def markdown_tables(figures: dict[str, Any]) -> dict[str, str]:
    """The three tables docs/validation.md quotes, from a results file's figures."""
    cover = [
        "| set (records, includes) | misses | true recall | design | n read | lower bound | interval | missed"
        " | missed (exact) | certified |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in figures["settings"]:
        cover.append(
            f"| {r['set']} ({r['records']}, {r['includes']}) | {r['miss_rate']:.0%} | {r['true_recall']:.3f} |"
            f" {r['design']} | {r['sample_total']} | {r['lower_bound_coverage']:.3f} | {r['interval_coverage']:.3f}"
            f" | {r['missed_upper_coverage']:.3f} | {r['missed_upper_exact_coverage']:.3f}"
            f" | {r['certified_share']:.3f} |"
        )
    certify = [
        "| set | records | misses | true recall | plan proposed | read to certify in 80% of samples | share of run |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in figures["records_to_certify"]:
        share = "never" if r["share_of_run"] is None else f"{r['share_of_run']:.0%}"
        certify.append(
            f"| {r['set']} | {r['records']} | {r['miss_rate']:.0%} | {r['true_recall']:.3f} | {r['plan_total']} |"
            f" {r['records_read'] if r['records_read'] is not None else '-'} | {share} |"
        )
    calib = [
        "| set (includes) | target | splits with a threshold | other half >= target | population >= target"
        " | review >= target | mean recall, other half |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for r in figures["calibration"]:
        calib.append(
            f"| {r['set']} ({r['includes']}) | {r['recall_target']:.0%} | {r['splits_with_a_threshold']} of"
            f" {r['splits']} | {num(r['share_at_or_above_target'])} | {num(r['share_at_or_above_target_all_includes'])}"
            f" | {num(r['share_at_or_above_target_review'])} | {num(r['mean_recall_on_other_half'])} |"
        )
    return {
        "COVERAGE_TABLE": "\n".join(cover),
        "CERTIFY_TABLE": "\n".join(certify),
        "CALIBRATION_TABLE": "\n".join(calib),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--certify-reps", type=int, default=200)
    parser.add_argument("--splits", type=int, default=500)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--example", type=Path, default=None, help="Only write an example decisions table here.")
    parser.add_argument("--example-miss", type=float, default=0.05)
    parser.add_argument("--markdown", type=Path, default=None, help="Only print the doc tables of a results file.")
    args = parser.parse_args()
    if args.markdown is not None:
        import json

        for name, table in markdown_tables(json.loads(args.markdown.read_text())["figures"]).items():
            print(f"<!-- {name} -->\n{table}\n")
        return 0
    if args.example is not None:
        write_example(args.example, args.sets[0], args.example_miss)
        return 0
    started = time.monotonic()
    results: dict[str, Any] = {"settings": [], "records_to_certify": [], "calibration": []}
    for name in args.sets:
        data = scored(name, SETS[name])
        n_inc = sum(data.included.values())
        print(f"{name}: {len(data.ids)} records, {n_inc} includes", flush=True)
        for rate in MISS_RATES:
            stratum, true_recall = decision_table(data, rate)
            sizes = {s: sum(1 for v in stratum.values() if v == s) for s in STRATA}
            plan = plan_sample(sizes, recall_target=args.target, confidence=args.confidence)
            fixed = plan_sample(
                sizes, recall_target=args.target, confidence=args.confidence, total=round(FIXED_SHARE * len(data.ids))
            )
            for design, sample in (("plan", plan.sample), (f"fixed {FIXED_SHARE:.0%}", fixed.sample)):
                row = {
                    "set": name, "records": len(data.ids), "includes": n_inc, "miss_rate": rate,
                    "true_recall": true_recall, "strata_sizes": sizes, "design": design,
                    **coverage(data, stratum, true_recall, sample, args.reps, args.target, args.confidence),
                }  # fmt: skip
                results["settings"].append(row)
                print(
                    f"  miss {rate:.0%} ({design}, n={row['sample_total']}): lower-bound coverage "
                    f"{row['lower_bound_coverage']:.3f}, interval {row['interval_coverage']:.3f}, missed "
                    f"{row['missed_upper_coverage']:.3f}, certified {row['certified_share']:.3f}",
                    flush=True,
                )
            if true_recall >= args.target:
                need = records_to_certify(data, stratum, args.certify_reps, args.target, args.confidence)
                results["records_to_certify"].append(
                    {"set": name, "records": len(data.ids), "miss_rate": rate, "true_recall": true_recall,
                     "plan_total": plan.total, **need}
                )  # fmt: skip
                print(f"  to certify (80% of samples) at miss {rate:.0%}: {need}", flush=True)
        for row in calibration(data, args.splits, (0.8, 0.9, 0.95), args.confidence):
            results["calibration"].append({"set": name, "records": len(data.ids), "includes": n_inc, **row})
            print(f"  calibration {row}", flush=True)
    worst = min(row["lower_bound_coverage"] for row in results["settings"])
    results["summary"] = {
        "worst_lower_bound_coverage": worst,
        "worst_interval_coverage": min(row["interval_coverage"] for row in results["settings"]),
        "worst_missed_upper_coverage": min(row["missed_upper_coverage"] for row in results["settings"]),
        "worst_missed_upper_exact_coverage": min(row["missed_upper_exact_coverage"] for row in results["settings"]),
        "stated_confidence": args.confidence,
        "holds": worst >= args.confidence,
        "seconds": round(time.monotonic() - started, 1),
        "reps": args.reps,
    }
    path = write_results("validation_coverage", results, out=args.out)
    print(f"worst lower-bound coverage {worst:.3f} (stated {args.confidence}); results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
