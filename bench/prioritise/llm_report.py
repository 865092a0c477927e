"""The report of ``llm_grid.py``: the design chosen leave-one-dataset-out, and issue 24's targets per quality.

For each held-out set the design is chosen on the other 16 sets' ``select`` runs over every
quality and seed: fewest qualities whose mean WSS@95 over those sets falls more than 0.01
below active learning alone, then the best mean WSS@95 over all qualities (the rule was fixed
before the grid ran). Only the chosen design's runs on the held-out set are reported.

Per quality, with 17 sets x ``seeds`` seeds, the three statements of the issue:

1. on every set where the model's order alone has WSS@95 > 0.5: AL + model >= max(AL alone, model alone);
2. on every set: AL + model >= AL alone - 0.01 (a wrong model must not make reading slower);
3. the mean over the sets: AL + model >= AL alone + 0.03.

Beside each per-set difference: its standard error over the seed-paired differences (the same
seed draws the prior records and the answers for both), so a shortfall can be told from noise.
The buscar stop (target 95 %, confidence 95 %) comes from the ``full`` runs: the share of
simulations stopping at or above the target, and the work saved at the stop, with and without
the model's answers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

import llm_grid as grid  # noqa: E402
import llm_prior  # noqa: E402
from benchlib import write_results  # noqa: E402
from datasets import DATASETS  # noqa: E402

LOSS = 0.01
GAIN = 0.03


def runs(mode: str) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    """Every cached run of ``mode`` (a full run also answers for select), keyed (design, quality, set, seed)."""
    out: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    modes = ("select", "full") if mode == "select" else ("full",)
    for m in modes:
        for path in (grid.CACHE / m).glob("*/*/*.json"):
            r = json.loads(path.read_text())
            out[(r["design"], r["quality"], r["dataset"], r["seed"])] = r
    return out


def complete(
    table: dict[tuple[str, str, str, int], dict[str, Any]],
    design: str,
    qualities: list[str],
    names: list[str],
    seeds: int,
) -> bool:
    wanted = [grid.AL] if design == grid.AL else qualities
    return all((design, q, n, s) in table for q in wanted for n in names for s in range(seeds))


def per_set(
    table: dict[tuple[str, str, str, int], dict[str, Any]], design: str, quality: str, name: str, seeds: int, key: str
) -> np.ndarray:
    q = grid.AL if design == grid.AL else quality
    return np.array([table[(design, q, name, s)][key] for s in range(seeds)], dtype=np.float64)


def fold_scores(
    table: dict[tuple[str, str, str, int], dict[str, Any]],
    designs: list[str],
    qualities: list[str],
    others: list[str],
    seeds: int,
) -> dict[str, dict[str, Any]]:
    """Each design on the other sets: the qualities whose mean falls > 0.01 below AL alone, and the mean WSS@95."""
    out = {}
    for design in designs:
        losing, means = [], []
        for q in qualities:
            gain = np.mean(
                [
                    per_set(table, design, q, n, seeds, "wss_95").mean()
                    - per_set(table, grid.AL, q, n, seeds, "wss_95").mean()
                    for n in others
                ]
            )
            if gain < -LOSS:
                losing.append(q)
            means.append(np.mean([per_set(table, design, q, n, seeds, "wss_95").mean() for n in others]))
        out[design] = {"qualities_below_al": losing, "mean_wss95": float(np.mean(means))}
    return out


def choose(scores: dict[str, dict[str, Any]]) -> str:
    """The design for a held-out set from its fold's scores (the rule in the module docstring)."""
    designs = list(scores)
    return min(
        designs,
        key=lambda d: (len(scores[d]["qualities_below_al"]), -scores[d]["mean_wss95"], designs.index(d)),
    )


def statements(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 24's three targets over one quality's per-set rows."""
    good = [r for r in rows if r["model_alone"] > 0.5]
    beat_both = [r for r in good if r["with_model"] >= max(r["al"], r["model_alone"])]
    not_slower = [r for r in rows if r["with_model"] >= r["al"] - LOSS]
    mean_gain = float(np.mean([r["with_model"] - r["al"] for r in rows]))
    return {
        "sets_model_alone_above_0.5": len(good),
        "of_those_at_least_max_of_both": len(beat_both),
        "short_of_max": {
            r["dataset"]: round(r["with_model"] - max(r["al"], r["model_alone"]), 4) for r in good if r not in beat_both
        },
        "sets_not_slower_than_al_minus_0.01": len(not_slower),
        "slower_by_more_than_0.01": {
            r["dataset"]: {"diff": round(r["with_model"] - r["al"], 4), "se": round(r["se"], 4)}
            for r in rows
            if r not in not_slower
        },
        "mean_al": float(np.mean([r["al"] for r in rows])),
        "mean_model_alone": float(np.mean([r["model_alone"] for r in rows])),
        "mean_with_model": float(np.mean([r["with_model"] for r in rows])),
        "mean_gain": mean_gain,
        "mean_gain_at_least_0.03": mean_gain >= GAIN,
    }


def stop_figures(
    full: dict[tuple[str, str, str, int], dict[str, Any]], design: str, quality: str, names: list[str], seeds: int
) -> dict[str, Any] | None:
    q = grid.AL if design == grid.AL else quality
    found = [full.get((design, q, n, s)) for n in names for s in range(seeds)]
    if any(r is None for r in found):
        return None
    stops = [r["stop"] for r in found if r and r["stop"]]
    return {
        "simulations": len(found),
        "stops": len(stops),
        "at_or_above_target": sum(s["recall"] >= 0.95 for s in stops),
        "share_at_or_above_target": sum(s["recall"] >= 0.95 for s in stops) / len(stops) if stops else None,
        "mean_work_saved": float(np.mean([s["work_saved"] for s in stops])) if stops else None,
        "min_recall": float(min(s["recall"] for s in stops)) if stops else None,
    }


def report(seeds: int, stop_seeds: int | None = None) -> None:
    """The LOO choice and the statements on ``seeds`` seeds; the stop on ``stop_seeds`` (default: the same)."""
    stop_seeds = seeds if stop_seeds is None else stop_seeds
    names = [d.name for d in DATASETS]
    qualities = [q.name for q in llm_prior.QUALITIES]
    table = runs("select")
    full = runs("full")
    designs = [d for d in grid.DESIGNS if d != grid.AL and complete(table, d, qualities, names, seeds)]
    if not designs or not complete(table, grid.AL, qualities, names, seeds):
        raise SystemExit("the grid is not complete: run `select` for every design and quality first")
    folds = {held: fold_scores(table, designs, qualities, [n for n in names if n != held], seeds) for held in names}
    chosen = {held: choose(folds[held]) for held in names}
    per_quality: dict[str, Any] = {}
    for q in qualities:
        rows = []
        for n in names:
            al = per_set(table, grid.AL, q, n, seeds, "wss_95")
            mine = per_set(table, chosen[n], q, n, seeds, "wss_95")
            diff = mine - al
            rows.append(
                {
                    "dataset": n,
                    "design": chosen[n],
                    "al": float(al.mean()),
                    "model_alone": float(per_set(table, chosen[n], q, n, seeds, "model_alone_wss_95").mean()),
                    "with_model": float(mine.mean()),
                    "se": float(diff.std(ddof=1) / np.sqrt(seeds)),
                    "model_auc": float(per_set(table, chosen[n], q, n, seeds, "model_auc").mean()),
                    "model_weight": float(per_set(table, chosen[n], q, n, seeds, "model_weight").mean()),
                }
            )
        stop_designs = sorted(set(chosen.values()))
        per_quality[q] = {
            "statements": statements(rows),
            "sets": rows,
            "stop": {
                "al": stop_figures(full, grid.AL, q, names, stop_seeds),
                **{d: stop_figures(full, d, q, names, stop_seeds) for d in stop_designs},
            },
        }
    # Every design on every quality it was run on in full (the finalists on all; "before" on a few).
    hindsight = {
        d: {
            q: {
                "mean_wss95": float(np.mean([per_set(table, d, q, n, seeds, "wss_95").mean() for n in names])),
                "sets_below_al_by_more_than_0.01": sum(
                    bool(
                        per_set(table, d, q, n, seeds, "wss_95").mean()
                        < per_set(table, grid.AL, q, n, seeds, "wss_95").mean() - LOSS
                    )
                    for n in names
                ),
            }
            for q in qualities
            if complete(table, d, [q], names, seeds)
        }
        for d in grid.DESIGNS
        if d != grid.AL
    }
    hindsight = {d: cells for d, cells in hindsight.items() if cells}
    out = {
        "seeds": seeds,
        "stop_seeds": stop_seeds,
        "rule": "fewest qualities whose mean over the other sets is below AL alone by > 0.01, then best mean WSS@95",
        "designs": {d: (None if grid.DESIGNS[d] is None else grid.DESIGNS[d].__dict__) for d in grid.DESIGNS},
        "chosen": chosen,
        "folds": folds,
        "per_quality": per_quality,
        "hindsight": hindsight,
    }
    write_results("prioritise_llm_grid", out)
    print_tables(out, qualities)


PILOT_SETS = (
    "Cohen_2006_Antihistamines",
    "Cohen_2006_UrinaryIncontinence",
    "Cohen_2006_Estrogens",
    "Cohen_2006_NSAIDS",
    "Cohen_2006_OralHypoglycemics",
    "Dennstaedt_2024_CDSS_RO",
    "Cohen_2006_Triptans",
)
PILOT_QUALITIES = (
    "auc55",
    "auc75",
    "auc95",
    "likert5-auc95",
    "likert2-auc85",
    "criterion30",
    "criterion80",
    "cluster30",
    "cluster80",
    "criterion30-scores",
    "criterion80-scores",
)


def pilot(seeds: int = 2) -> None:
    """Every design on the 7 smallest sets, seeds 0..seeds-1: the screen that picked the grid's finalists."""
    table = runs("select")
    out: dict[str, Any] = {}
    for design in grid.DESIGNS:
        if design == grid.AL:
            continue
        cells = {}
        for q in PILOT_QUALITIES:
            if not all((design, q, n, s) in table for n in PILOT_SETS for s in range(seeds)):
                continue
            gains = [
                np.mean(
                    [
                        table[(design, q, n, s)]["wss_95"] - table[(grid.AL, grid.AL, n, s)]["wss_95"]
                        for s in range(seeds)
                    ]
                )
                for n in PILOT_SETS
            ]
            cells[q] = {"mean_gain": float(np.mean(gains)), "worst_set_gain": float(min(gains))}
        if cells:
            out[design] = cells
    write_results("prioritise_llm_pilot", {"sets": list(PILOT_SETS), "seeds": seeds, "gain_over_al": out})
    print("| quality | " + " | ".join(out) + " |")
    print("|---|" + "---|" * len(out))
    for q in PILOT_QUALITIES:
        row = [
            f"{out[d][q]['mean_gain']:+.3f} ({out[d][q]['worst_set_gain']:+.2f})" if q in out[d] else "-" for d in out
        ]
        print(f"| {q} | " + " | ".join(row) + " |")


def print_tables(out: dict[str, Any], qualities: list[str]) -> None:
    print(
        "| quality | realised AUC | AL alone | model alone | AL + model (LOO) | gain "
        "| sets ≥ max of both (model alone > 0.5) | sets ≥ AL − 0.01 | mean gain ≥ 0.03 | model's weight at the end |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for q in qualities:
        s = out["per_quality"][q]["statements"]
        rows = out["per_quality"][q]["sets"]
        auc = np.mean([r["model_auc"] for r in rows])
        weight = np.mean([r["model_weight"] for r in rows])
        print(
            f"| {q} | {auc:.3f} | {s['mean_al']:.3f} | {s['mean_model_alone']:.3f} | {s['mean_with_model']:.3f} "
            f"| {s['mean_gain']:+.3f} | {s['of_those_at_least_max_of_both']}/{s['sets_model_alone_above_0.5']} "
            f"| {s['sets_not_slower_than_al_minus_0.01']}/17 | {'yes' if s['mean_gain_at_least_0.03'] else 'no'} "
            f"| {weight:.2f} |"
        )
    print()
    print("| quality | AL alone | " + " | ".join(out["hindsight"]) + " |")
    print("|---|---|" + "---|" * len(out["hindsight"]))
    for q in qualities:
        cells = [
            f"{h[q]['mean_wss95']:.3f} ({h[q]['sets_below_al_by_more_than_0.01']})" if q in h else "-"
            for h in out["hindsight"].values()
        ]
        al = out["per_quality"][q]["statements"]["mean_al"]
        print(f"| {q} | {al:.3f} | " + " | ".join(cells) + " |")
    print()
    print(json.dumps(out["chosen"], indent=1))
    stops: dict[str, Any] = defaultdict(dict)
    for q in qualities:
        for d, figures in out["per_quality"][q]["stop"].items():
            if figures:
                stops[q][d] = figures
    print(json.dumps(stops, indent=1))
