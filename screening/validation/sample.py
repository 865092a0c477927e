"""A validation sample of one screening run: drawn once, stored in the ledger, labelled, reported.

The draw (seed, plan and every record in reading order) is written to the ledger
before the first label is asked for, and every label is written the moment it is
given. Running the same command again finds the sample by the run's content and
the seed and size asked for, replays the labels, and carries on; a ``kill -9``
loses nothing that was answered.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from winnow.errors import GoldSetError, InputError
from winnow.ledger import Ledger
from winnow.screening.decisions import read_decisions, write_table
from winnow.screening.validation.plan import Plan, plan_sample
from winnow.screening.validation.recall import (
    METHOD,
    STRATA,
    STRATUM_OF_DECISION,
    SampleState,
    StratumCount,
    ValidationEstimate,
    decisions_sha256,
    draw_sample,
    estimate_recall,
)

if TYPE_CHECKING:
    from winnow.gold import GoldRow

SCHEMA = "winnow.validate/1"
REFERENCES = (
    "Cochran WG. Sampling Techniques, 3rd ed. Wiley, 1977 (stratified estimation, ch. 5)",
    "Wright T. Exact confidence bounds when sampling from small finite universes. Springer, 1991",
    "Webber W. Approximate recall confidence intervals. ACM TOIS 31(1):2, 2013 (arXiv 1202.2880)",
    "Lewis DD, Yang E, Frieder O. Certifying one-phase technology-assisted reviews. CIKM 2021",
)


@dataclass
class ScreenRun:
    """A decisions table seen as strata: who is in which, their text, and the run's P(include)."""

    path: Path
    strata: dict[str, list[str]]
    stratum_of: dict[str, str]
    text: dict[str, tuple[str, str]]
    mean_p_include: dict[str, float | None]
    sha256: str
    # Ids the run merged into another record as the same paper (the table's `duplicates` column) -> the kept id.
    kept_of: dict[str, str] = field(default_factory=dict)

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(self.strata[name]) for name in STRATA}

    @property
    def n(self) -> int:
        return len(self.stratum_of)


def load_run(path: Path) -> ScreenRun:
    """Read a ``winnow screen`` decisions table and split it by the model's decision.

    Raises:
        InputError: not a decisions table, or a record id appears twice.
    """
    frame = read_decisions(path)
    strata: dict[str, list[str]] = {name: [] for name in STRATA}
    stratum_of: dict[str, str] = {}
    text: dict[str, tuple[str, str]] = {}
    p_sums: dict[str, list[float]] = {name: [] for name in STRATA}
    order: list[tuple[str, str]] = []
    kept_of: dict[str, str] = {}
    for line, row in enumerate(frame.to_dict("records"), start=2):
        record_id = str(row["record_id"]).strip()
        if record_id in stratum_of:
            raise InputError(path, f"record {record_id} appears twice", line=line)
        copies = (d.strip() for d in str(row.get("duplicates", "")).split(";"))
        kept_of.update({copy: record_id for copy in copies if copy and copy != record_id})
        stratum = STRATUM_OF_DECISION[str(row["decision"])]
        strata[stratum].append(record_id)
        stratum_of[record_id] = stratum
        text[record_id] = (str(row.get("title", "")), str(row.get("abstract", "")))
        order.append((record_id, stratum))
        try:
            p = float(str(row.get("p_include", "")).strip())
        except ValueError:
            continue
        if 0.0 <= p <= 1.0:
            p_sums[stratum].append(p)
    mean_p = {
        name: (sum(values) / len(values) if values and len(values) == len(strata[name]) else None)
        for name, values in p_sums.items()
    }
    return ScreenRun(path, strata, stratum_of, text, mean_p, decisions_sha256(order), kept_of)


@dataclass
class Sample:
    """One drawn sample and the labels given for it so far."""

    sample_id: str
    seed: int
    plan: dict[str, Any]
    state: SampleState
    resumed: bool


def plan_for(run: ScreenRun, *, recall_target: float, confidence: float, total: int | None) -> Plan:
    return plan_sample(
        run.sizes, recall_target=recall_target, confidence=confidence, mean_p_include=run.mean_p_include, total=total
    )


def find_sample(ledger: Ledger, run: ScreenRun, *, seed: int | None, total: int | None) -> Sample | None:
    """The latest sample of this run that matches the seed and size asked for (either may be left open)."""
    for row in reversed(ledger.validation_samples(run.sha256)):
        params = json.loads(row["params_json"])
        if seed is not None and int(row["seed"]) != seed:
            continue
        if total is not None and params.get("total_asked") != total:
            continue
        return _loaded(ledger, row["sample_id"], int(row["seed"]), json.loads(row["plan_json"]), resumed=True)
    return None


def _loaded(ledger: Ledger, sample_id: str, seed: int, plan: dict[str, Any], *, resumed: bool) -> Sample:
    state = SampleState(draw=ledger.validation_draw(sample_id))
    for label in ledger.validation_labels(sample_id):
        state.apply(str(label["record_id"]), str(label["answer"]))
    return Sample(sample_id, seed, plan, state, resumed)


def draw_new(ledger: Ledger, run: ScreenRun, plan: Plan, *, seed: int | None, total: int | None) -> Sample:
    """Draw the planned sample with a recorded seed (a fresh random one unless given) and store it."""
    seed = secrets.randbelow(2**31) if seed is None else seed
    draw = draw_sample(run.strata, plan.sample, seed)
    key = f"{run.sha256}\0{seed}\0{json.dumps(plan.sample, sort_keys=True)}"
    sample_id = hashlib.sha256(key.encode()).hexdigest()[:16]
    ledger.add_validation_sample(
        sample_id,
        decisions_path=str(run.path),
        decisions_sha256=run.sha256,
        seed=seed,
        params={"total_asked": total, "draw": "simple random sample without replacement per stratum"},
        plan=plan.as_dict(),
        draw=draw,
    )
    return _loaded(ledger, sample_id, seed, plan.as_dict(), resumed=False)


def apply_label_file(ledger: Ledger, run: ScreenRun, sample: Sample, path: Path, *, who: str, partial: bool) -> int:
    """Store the labels a file gives for the sample's records; returns how many were new.

    The file is read with the gold reader, so the same id and label columns and the
    same label words work. A label for a record the run merged into another as the
    same paper counts for the record it kept: a reviewer's export from the reference
    manager still has every copy's id. Ids the run does not have are an error (a file
    for another run); labels for records outside the sample are ignored.

    Raises:
        GoldSetError: a bad row, an unknown id, copies of one paper labelled differently, or
            (unless ``partial``) sample records without a label.
    """
    from winnow.gold import load_gold

    gold = load_gold(path)
    unknown = [row for rid, row in gold.rows.items() if rid not in run.stratum_of and rid not in run.kept_of]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise GoldSetError(path, f"record {unknown[0].record_id} is not in {run.path}{more}", line=unknown[0].line)
    labelled: dict[str, GoldRow] = {}
    for rid, row in gold.rows.items():
        kept = run.kept_of.get(rid, rid)
        first = labelled.setdefault(kept, row)
        if first.included != row.included:
            raise GoldSetError(
                path,
                f"records {first.record_id} and {rid} are one paper in {run.path} (merged as duplicates, kept as "
                f"{kept}) but are labelled {_word(first.included)} and {_word(row.included)}",
                line=row.line,
            )
    missing = [rid for rid, _ in sample.state.draw if rid not in labelled and rid not in sample.state.labels]
    if missing and not partial:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise GoldSetError(
            path,
            f"no label for {len(missing)} of the {len(sample.state.draw)} sampled records (e.g. {shown});"
            " label them or pass --keep-going to report on the labelled ones",
        )
    new = 0
    for rid, _ in sample.state.draw:
        row = labelled.get(rid)
        if row is None:
            continue
        answer = _word(row.included)
        if sample.state.labels.get(rid) == row.included:
            continue
        ledger.add_validation_label(sample.sample_id, record_id=rid, answer=answer, who=who, source=f"file:{path}")
        sample.state.apply(rid, answer)
        new += 1
    return new


def _word(included: bool) -> str:
    return "include" if included else "exclude"


def validation_report(
    run: ScreenRun, sample: Sample, *, recall_target: float, confidence: float, who: list[str]
) -> dict[str, Any]:
    """Every figure of ``winnow validate`` as JSON-ready data; the terminal and Markdown lay this out."""
    estimate = estimate_recall(sample.state.counts(run.sizes), recall_target=recall_target, confidence=confidence)
    drawn = {name: 0 for name in STRATA}
    for _, stratum in sample.state.draw:
        drawn[stratum] += 1
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "decisions": {"path": str(run.path), "n": run.n, "sha256": run.sha256},
        "sample_id": sample.sample_id,
        "seed": sample.seed,
        "plan": sample.plan,
        "drawn": drawn,
        "labelled": sample.state.done,
        "skipped": len(sample.state.skipped),
        "complete": sample.state.done == len(sample.state.draw),
        "estimate": estimate.as_dict(),
        "assumptions": [
            "the records labelled in each stratum are a simple random sample of it (a seeded draw;"
            " skipped records break this)",
            "the human labels are correct",
            "uncertain and error decisions go to a human, so their includes count as found",
        ],
        "references": list(REFERENCES),
        "who": who,
    }
    report["statement"] = methods_statement(report, estimate)
    return report


def _pct(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.1%}"


def methods_statement(report: dict[str, Any], estimate: ValidationEstimate) -> str:
    """One paragraph that can be pasted into a methods section."""
    strata = {s["stratum"]: s for s in report["estimate"]["strata"]}
    reads = "; ".join(
        f"{s['labelled']} of {s['records']} model {name}{'s' if name != 'uncertain' else ' or error records'}"
        for name, s in strata.items()
    )
    level = f"{estimate.confidence:.0%}"
    low, high = estimate.recall_interval
    text = (
        f"The model's screening decisions on {report['decisions']['n']} records were validated on a stratified"
        f" random sample (strata: the model's excludes, uncertain or error decisions, and includes; seed"
        f" {report['seed']}). A reviewer, blind to the model's decisions, labelled {reads}."
        f" Recall was estimated with the stratified expansion estimator, with exact hypergeometric bounds per"
        f" stratum combined by a Bonferroni split of alpha (docs/validation.md). Estimated recall was"
        f" {_pct(estimate.recall)} (one-sided {level} lower bound {estimate.recall_lower:.1%}; two-sided {level}"
        f" interval {low:.1%} to {high:.1%}); estimated missed includes"
        f" {'undefined' if estimate.missed is None else f'{estimate.missed:.1f}'} (one-sided {level} upper bound"
        f" {estimate.missed_upper})"
    )
    if estimate.precision is not None and estimate.precision_interval is not None:
        p_low, p_high = estimate.precision_interval
        spread = "every include read" if p_low == p_high else f"{p_low:.1%} to {p_high:.1%}"
        text += f"; precision of the model's includes {estimate.precision:.1%} ({spread})"
    verdict = "was" if estimate.certified else "was not"
    text += (
        f". Recall of at least {estimate.recall_target:.0%} {verdict} certified at {level} confidence."
        " This assumes a random sample within each stratum and correct human labels."
    )
    if not report["complete"]:
        text += f" The sample is not finished: {report['labelled']} of {sum(report['drawn'].values())} labelled."
    return text


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Markdown for people, with the JSON twin beside it for scripts."""
    est = report["estimate"]
    lines = [
        "# Validation of the screening run: recall with a stated confidence",
        "",
        report["statement"],
        "",
        f"- Decisions: {report['decisions']['path']} ({report['decisions']['n']} records)",
        f"- Sample {report['sample_id']}, seed {report['seed']}; labelled {report['labelled']} of"
        f" {sum(report['drawn'].values())}; skipped {report['skipped']}",
        f"- Method: {METHOD}; alpha per sampled stratum {est['alpha_per_stratum']:.4g}",
        f"- Certified recall >= {est['recall_target']:.0%} at {est['confidence']:.0%}: "
        f"{'yes' if est['certified'] else 'no'}",
        "",
        "| stratum | records | labelled | includes found | estimated includes |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in est["strata"]:
        estimated = "-" if s["estimated_includes"] is None else f"{s['estimated_includes']:.1f}"
        lines.append(f"| {s['stratum']} | {s['records']} | {s['labelled']} | {s['includes_found']} | {estimated} |")
    lines += ["", *(f"- Note: {note}" for note in est["notes"]), "", "References:", ""]
    lines += [f"- {ref}" for ref in report["references"]]
    try:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot write report: {exc.strerror or exc}") from exc
    return path


def record_validation_run(ledger: Ledger, report: dict[str, Any], argv: list[str]) -> str:
    """A ``runs`` row for this report (command ``validate``), so the methods text can cite it.

    The report holds the target and confidence it was computed at, which the sample
    alone does not; the latest report of a run is the one a methods section quotes.
    """
    from winnow import __version__

    run_id = f"validate-{secrets.token_hex(6)}"
    estimate = report["estimate"]
    ledger.start_run(
        run_id,
        command="validate",
        argv=argv,
        params_json=json.dumps(
            {"recall_target": estimate["recall_target"], "confidence": estimate["confidence"],
             "sample_id": report["sample_id"], "seed": report["seed"]}
        ),
        input_path=report["decisions"]["path"],
        n_records=report["decisions"]["n"],
        winnow_version=__version__,
    )  # fmt: skip
    ledger.finish_run(run_id, status="done", summary=report)
    return run_id


def write_sample_gold(run: ScreenRun, sample: Sample, path: Path) -> Path:
    """The labels as a gold file (``record_id,label``), with each record's stratum and sampling weight.

    ``winnow agree`` and ``winnow audit`` read it like any gold file; the weight
    (records in the stratum over records labelled in it) lets them say that
    figures on the sample alone are not figures for the run.
    """
    counts: dict[str, StratumCount] = {c.name: c for c in sample.state.counts(run.sizes)}
    rows = []
    for rid, stratum in sample.state.draw:
        if rid not in sample.state.labels:
            continue
        c = counts[stratum]
        rows.append(
            {
                "record_id": rid,
                "label": _word(sample.state.labels[rid]),
                "stratum": stratum,
                "weight": round(c.size / c.labelled, 6) if c.labelled else "",
            }
        )
    return write_table(path, rows, ["record_id", "label", "stratum", "weight"], what="validation gold")


def write_sample_sheet(run: ScreenRun, sample: Sample, path: Path) -> Path:
    """The drawn records in reading order, blind to the model's decision, to label in another tool."""
    rows = [
        {"record_id": rid, "title": run.text[rid][0], "abstract": run.text[rid][1], "label": ""}
        for rid, _ in sample.state.draw
    ]
    return write_table(path, rows, ["record_id", "title", "abstract", "label"], what="validation sample")


def status_line(estimate: ValidationEstimate, labelled: int, total: int) -> str:
    found = sum(s.includes for s in estimate.strata)
    parts = [
        f"labelled {labelled}/{total}",
        f"includes {found}",
        f"recall {_pct(estimate.recall)}",
        f"lower bound {estimate.recall_lower:.1%}",
    ]
    if estimate.certified:
        parts.append(f"CERTIFIED >= {estimate.recall_target:.0%}")
    return " · ".join(parts)
