"""PRISMA 2020 flow counts from what winnow keeps, each number with the record ids behind it.

Sources, stage by stage:

- **Identified**: each ``--records`` export (records read, duplicates merged, and
  records set aside as unreadable); without exports, the decisions table's rows
  plus its ``duplicates`` column, and the screening run's ledger summary.
- **Removed before screening**: duplicates (the readers' dedupe report) and records
  set aside as unreadable ("other reasons").
- **Screened / excluded**: the title/abstract decisions table. A human verdict in
  the ledger's ``adjudications`` table overrides the model. Only a final
  ``exclude`` is an exclusion: ``uncertain`` and ``error`` records go on to full
  text, as a reviewer in doubt would send them, and are listed as such.
- **Sought / not retrieved**: every record not excluded is sought. A report is not
  retrieved when no PDF row matches it (PDF named after the record id, with or
  without ``.pdf``) or its PDF could not be read (the extraction table's
  ``pdf_status``, or the full-text row's error), with that reason.
- **Assessed / excluded with reasons / included**: the full-text decisions table,
  again with adjudications overriding; the reason is the first failing criterion
  in protocol order (an inclusion criterion ``not_met`` or an exclusion criterion
  ``met``), or "excluded by reviewer" when a human overrode an include.

Without a full-text table, the full-text stage cannot be counted: the flow then
says so in ``warnings`` and carries the title/abstract includes through as assessed
and included, so the diagram is still drawn.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.errors import InputError

__all__ = [
    "PrismaFlow",
    "PrismaInputs",
    "adjudicated_verdicts",
    "build_flow",
    "first_failing_criterion",
    "protocol_from_ledger",
    "read_rows",
    "report_key",
]

_PDF_OK = frozenset({"ok", "partial", ""})


@dataclass
class PrismaInputs:
    """The files a flow is counted from; only ``screen`` is required."""

    screen: Path
    full_text: Path | None = None
    extraction: Path | None = None
    records: Sequence[Path] = ()
    ledger: Path | None = None
    full_text_ledger: Path | None = None
    protocol: Path | None = None


@dataclass
class PrismaFlow:
    """Record ids per PRISMA 2020 box; counts are their lengths (unreadable records count by line)."""

    sources: dict[str, list[str]] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    removed_other: list[str] = field(default_factory=list)
    screened: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    excluded_reasons: dict[str, list[str]] = field(default_factory=dict)
    sought: list[str] = field(default_factory=list)
    not_retrieved: dict[str, list[str]] = field(default_factory=dict)
    not_retrieved_details: dict[str, str] = field(default_factory=dict)
    assessed: list[str] = field(default_factory=list)
    reports_excluded: dict[str, list[str]] = field(default_factory=dict)
    awaiting: list[str] = field(default_factory=list)
    included: list[str] = field(default_factory=list)
    overridden: dict[str, str] = field(default_factory=dict)
    full_text_counted: bool = True
    warnings: list[str] = field(default_factory=list)

    @property
    def n_identified(self) -> int:
        return sum(len(ids) for ids in self.sources.values())

    @property
    def n_not_retrieved(self) -> int:
        return sum(len(ids) for ids in self.not_retrieved.values())

    @property
    def n_reports_excluded(self) -> int:
        return sum(len(ids) for ids in self.reports_excluded.values())

    def counts(self) -> dict[str, Any]:
        """The numbers on the diagram, in template order."""
        return {
            "identified": self.n_identified,
            "identified_by_source": {name: len(ids) for name, ids in self.sources.items()},
            "duplicates_removed": len(self.duplicates),
            "removed_other": len(self.removed_other),
            "screened": len(self.screened),
            "excluded": len(self.excluded),
            "sought": len(self.sought),
            "not_retrieved": self.n_not_retrieved,
            "not_retrieved_by_reason": {k: len(v) for k, v in self.not_retrieved.items()},
            "assessed": len(self.assessed),
            "reports_excluded": self.n_reports_excluded,
            "reports_excluded_by_reason": {k: len(v) for k, v in self.reports_excluded.items()},
            "awaiting_decision": len(self.awaiting),
            "included": len(self.included),
        }

    def as_dict(self) -> dict[str, Any]:
        """Counts plus the record ids behind every number (unreadable records as ``file:line: problem``)."""
        return {
            "counts": self.counts(),
            "records": {
                "identified_by_source": self.sources,
                "duplicates_removed": self.duplicates,
                "removed_other": self.removed_other,
                "screened": self.screened,
                "excluded": self.excluded,
                "excluded_by_reason": self.excluded_reasons,
                "sought": self.sought,
                "not_retrieved_by_reason": self.not_retrieved,
                "not_retrieved_details": self.not_retrieved_details,
                "assessed": self.assessed,
                "reports_excluded_by_reason": self.reports_excluded,
                "awaiting_decision": self.awaiting,
                "included": self.included,
            },
            "overridden_by_adjudication": self.overridden,
            "full_text_counted": self.full_text_counted,
            "warnings": self.warnings,
        }


def report_key(record_id: str) -> str:
    """Records and their PDFs meet on the id without a ``.pdf`` suffix, case-insensitively."""
    key = record_id.strip()
    if key.lower().endswith(".pdf"):
        key = key[:-4]
    return key.casefold()


def first_failing_criterion(row: Mapping[str, str], kinds: Mapping[str, str]) -> str | None:
    """The first criterion, in table order, that rules the record out; None when none does.

    ``kinds`` maps criterion id to ``inclusion`` or ``exclusion``; an unknown kind is
    treated as inclusion (``not_met`` fails), the reading of the decisions table alone.
    """
    for column, verdict in row.items():
        if not column.startswith("criterion:"):
            continue
        cid = column.split(":", 1)[1]
        if (kinds.get(cid, "inclusion") == "exclusion" and verdict == "met") or (
            kinds.get(cid, "inclusion") == "inclusion" and verdict == "not_met"
        ):
            return cid
    return None


def adjudicated_verdicts(ledger: Path | None, table: Path) -> dict[str, tuple[str, str]]:
    """Adjudicated label and note per record for one decisions table; the latest verdict wins."""
    if ledger is None or not ledger.is_file():
        return {}
    from winnow.audit.adjudicate import adjudication_key

    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT record_id, final_label, note FROM adjudications WHERE decisions_path = ?"
                " ORDER BY adjudication_id",
                (adjudication_key(table),),
            ).fetchall()
    except sqlite3.Error as exc:
        raise InputError(ledger, f"cannot read adjudications from the ledger: {exc}") from exc
    return {str(rid): (str(label), str(note or "")) for rid, label, note in rows}


def read_rows(path: Path, what: str) -> list[dict[str, str]]:
    from winnow.screening.decisions import read_decisions, read_table

    frame = read_decisions(path) if what == "decisions" else read_table(path, what=what)
    return [{str(k): str(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _criterion_kinds(inputs: PrismaInputs, ledger: Path | None, flow: PrismaFlow) -> dict[str, str]:
    """Inclusion/exclusion per criterion id: from --protocol, else the one the screening run used."""
    from winnow.protocol import load_protocol

    path = inputs.protocol or protocol_from_ledger(ledger)
    if path is None:
        flow.warnings.append(
            "no protocol given or found in the ledger: every criterion read as an inclusion criterion (not_met fails)"
        )
        return {}
    protocol = load_protocol(path).protocol
    return {c.id: c.kind for c in protocol.all_criteria}


def protocol_from_ledger(ledger: Path | None) -> str | None:
    """The ``--protocol`` value of the latest run recorded in a ledger, if any."""
    if ledger is None or not ledger.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
            argvs = [row[0] for row in conn.execute("SELECT argv FROM runs ORDER BY started_at DESC").fetchall()]
    except sqlite3.Error:
        return None
    for text in argvs:
        try:
            argv = json.loads(text)
        except (TypeError, ValueError):
            continue
        for flag, value in itertools.pairwise(argv):
            if flag in ("-p", "--protocol"):
                return str(value)
    return None


def _identify(inputs: PrismaInputs, decisions: list[dict[str, str]], ledger: Path | None, flow: PrismaFlow) -> None:
    if inputs.records:
        from winnow.records import read_records
        from winnow.records.dedupe import merge_duplicates

        everything = []
        for path in inputs.records:
            read = read_records(path)
            merged = [rid for group in read.duplicate_groups for rid in group[1:]]
            flow.sources[str(path)] = [r.record_id for r in read.records] + merged + read.skipped
            flow.duplicates += merged
            flow.removed_other += read.skipped
            everything += read.records
        if len(inputs.records) > 1:
            _, groups = merge_duplicates(everything)
            flow.duplicates += [rid for group in groups for rid in group[1:]]
        return
    duplicates = [d for row in decisions for d in row.get("duplicates", "").split(";") if d.strip()]
    source, skipped = _run_input(ledger)
    flow.sources[source or str(inputs.screen)] = [row["record_id"] for row in decisions] + duplicates + skipped
    flow.duplicates = duplicates
    flow.removed_other = skipped
    flow.warnings.append(
        "no --records: records identified are the decisions table's rows, its duplicates column and the"
        + (" records the screening run set aside (ledger run summary)" if source else " (no ledger run summary found)")
    )


def _run_input(ledger: Path | None) -> tuple[str, list[str]]:
    """The input file and the records set aside, from the latest screening run summary in the ledger."""
    if ledger is None or not ledger.is_file():
        return "", []
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT input_path, summary_json FROM runs WHERE summary_json IS NOT NULL ORDER BY started_at DESC"
            ).fetchall()
    except sqlite3.Error:
        return "", []
    for input_path, summary in rows:
        try:
            data = json.loads(summary)
        except (TypeError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("skipped"), list):
            return str(input_path or ""), [str(line) for line in data["skipped"]]
    return "", []


def _final(
    rid: str, key: str, decision: str, verdicts: Mapping[str, tuple[str, str]], flow: PrismaFlow, stage: str
) -> tuple[str, bool]:
    """The label in force and whether a human changed the model's; overrides are listed per stage."""
    if key in verdicts:
        label = verdicts[key][0]
        if label != decision:
            flow.overridden[f"{stage}:{rid}"] = f"{decision} -> {label}"
            return label, True
        return label, False
    return decision, False


def _screen(
    decisions: list[dict[str, str]], verdicts: Mapping[str, tuple[str, str]], kinds: Mapping[str, str], flow: PrismaFlow
) -> None:
    for row in decisions:
        rid = row["record_id"]
        flow.screened.append(rid)
        final, overridden = _final(rid, rid, row["decision"], verdicts, flow, "title_abstract")
        if final == "exclude":
            flow.excluded.append(rid)
            reason = None if overridden else first_failing_criterion(row, kinds)
            flow.excluded_reasons.setdefault(reason or "excluded by reviewer", []).append(rid)
        else:
            flow.sought.append(rid)
    undecided = [
        r["record_id"] for r in decisions if r["decision"] in ("uncertain", "error") and r["record_id"] not in verdicts
    ]
    if undecided:
        flow.warnings.append(
            f"{len(undecided)} title/abstract record(s) uncertain or in error and not adjudicated were sent on to"
            f" full text: {', '.join(undecided[:10])}{' ...' if len(undecided) > 10 else ''}"
        )


def _pdf_problems(extraction: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    """(reason group, detail) per unreadable PDF: grouped by status, the parser's message kept apart."""
    problems = {}
    for row in extraction:
        status = row.get("pdf_status", "")
        if status not in _PDF_OK:
            problems[report_key(row["record_id"])] = (f"PDF {status}", row.get("pdf_reason", ""))
    return problems


def _full_text(
    inputs: PrismaInputs, kinds: Mapping[str, str], flow: PrismaFlow, extraction: list[dict[str, str]]
) -> None:
    if inputs.full_text is None:
        flow.full_text_counted = False
        flow.warnings.append(
            "no --full-text table: the full-text stage is not counted; title/abstract includes are carried"
            " through as reports assessed and studies included"
        )
        flow.assessed = list(flow.sought)
        flow.included = list(flow.sought)
        return
    reports = {report_key(row["record_id"]): row for row in read_rows(inputs.full_text, "decisions")}
    ledger = inputs.full_text_ledger or _default_ledger(inputs.full_text)
    verdicts = {report_key(k): v for k, v in adjudicated_verdicts(ledger, inputs.full_text).items()}
    unreadable = _pdf_problems(extraction)
    for rid in flow.sought:
        key = report_key(rid)
        row = reports.get(key)
        if row is None:
            flow.not_retrieved.setdefault("no PDF", []).append(rid)
            continue
        problem = unreadable.get(key)
        if problem is None and row["decision"] == "error" and not row.get("error", "").startswith("pages "):
            problem = ("PDF unreadable", row.get("error") or "no text")
        if problem is not None and key not in verdicts:
            flow.not_retrieved.setdefault(problem[0], []).append(rid)
            flow.not_retrieved_details[rid] = problem[1]
            continue
        flow.assessed.append(rid)
        final, overridden = _final(rid, key, row["decision"], verdicts, flow, "full_text")
        if final == "include":
            flow.included.append(rid)
        elif final == "exclude":
            reason = None if overridden else first_failing_criterion(row, kinds)
            if reason is None:
                note = verdicts.get(key, ("", ""))[1]
                reason = f"excluded by reviewer{': ' + note if note else ''}"
            flow.reports_excluded.setdefault(reason, []).append(rid)
        else:
            flow.awaiting.append(rid)
    extra = sorted(set(reports) - {report_key(r) for r in flow.sought})
    if extra:
        flow.warnings.append(
            f"{len(extra)} full-text row(s) match no record sought at title/abstract and are not counted:"
            f" {', '.join(extra[:10])}"
        )
    if flow.awaiting:
        flow.warnings.append(
            f"{len(flow.awaiting)} report(s) uncertain or in error at full text and not adjudicated:"
            f" {', '.join(flow.awaiting[:10])}"
        )


def _default_ledger(table: Path) -> Path:
    from winnow.audit.adjudicate import default_ledger_path

    return default_ledger_path(table)


def build_flow(inputs: PrismaInputs) -> PrismaFlow:
    """Count every PRISMA 2020 box from the tables and ledgers a review run with winnow left behind.

    Raises:
        InputError: a table or ledger cannot be read, or is not the kind of table expected.
    """
    flow = PrismaFlow()
    decisions = read_rows(inputs.screen, "decisions")
    ledger = inputs.ledger or _default_ledger(inputs.screen)
    if inputs.ledger is not None and not inputs.ledger.is_file():
        raise InputError(inputs.ledger, "no such ledger")
    kinds = _criterion_kinds(inputs, ledger, flow)
    _identify(inputs, decisions, ledger, flow)
    missing = sorted({row["record_id"] for row in decisions} - {rid for ids in flow.sources.values() for rid in ids})
    if missing:
        flow.warnings.append(
            f"{len(missing)} screened record(s) are in none of the --records files: {', '.join(missing[:10])}"
        )
    _screen(decisions, adjudicated_verdicts(ledger, inputs.screen), kinds, flow)
    extraction = read_rows(inputs.extraction, "extraction") if inputs.extraction else []
    _full_text(inputs, kinds, flow, extraction)
    return flow


def _reasons(items: Iterable[tuple[str, list[str]]]) -> str:
    return "; ".join(f"{reason} ({len(ids)})" for reason, ids in items)


def flow_rows(flow: PrismaFlow) -> list[tuple[str, str, str, str]]:
    """(stage, box, count, reasons) rows for the terminal table, in template order."""
    counts = flow.counts()
    rows = [
        ("Identification", f"records from {Path(name).name}", str(n), "")
        for name, n in counts["identified_by_source"].items()
    ]
    rows += [
        ("Identification", "duplicates removed", str(counts["duplicates_removed"]), ""),
        ("Identification", "removed, other reasons", str(counts["removed_other"]), "unreadable records"),
        ("Screening", "records screened", str(counts["screened"]), ""),
        ("Screening", "records excluded", str(counts["excluded"]), _reasons(flow.excluded_reasons.items())),
        ("Retrieval", "reports sought", str(counts["sought"]), ""),
        ("Retrieval", "reports not retrieved", str(counts["not_retrieved"]), _reasons(flow.not_retrieved.items())),
        ("Eligibility", "reports assessed", str(counts["assessed"]), ""),
        ("Eligibility", "reports excluded", str(counts["reports_excluded"]), _reasons(flow.reports_excluded.items())),
    ]
    if flow.awaiting:
        rows.append(("Eligibility", "awaiting a decision", str(len(flow.awaiting)), "uncertain or error"))
    rows.append(("Included", "studies included", str(counts["included"]), ""))
    return rows


def render_diagram(flow: PrismaFlow, out: Path, *, title: str | None = None) -> list[Path]:
    """Draw the PRISMA 2020 template (prisma-flow) as SVG and PNG beside each other; returns both paths.

    Raises:
        InputError: ``out`` is neither ``.svg`` nor ``.png``, or cannot be written.
    """
    suffix = out.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise InputError(out, f"unknown diagram format {out.suffix or '(none)'!r}; use .svg or .png")
    from prismaflow import new_review

    counts = flow.counts()
    by_source = "; ".join(f"{Path(name).name}: {n}" for name, n in counts["identified_by_source"].items())
    reasons = {reason: len(ids) for reason, ids in flow.reports_excluded.items()}
    diagram = new_review(
        records_identified_databases=counts["identified"],
        records_identified_registers=0,
        records_removed_duplicates=counts["duplicates_removed"],
        records_removed_automation=0,
        records_removed_other=counts["removed_other"],
        records_screened=counts["screened"],
        records_excluded=counts["excluded"],
        reports_sought=counts["sought"],
        reports_not_retrieved=counts["not_retrieved"],
        reports_assessed=counts["assessed"],
        reports_excluded=reasons or None,
        studies_included=counts["included"],
        reports_included=counts["included"],
        database_specific_results=by_source,
        title=title or "PRISMA 2020 flow diagram",
    )
    paths = [out.with_suffix(".svg"), out.with_suffix(".png")]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        diagram.to_svg(paths[0])
        diagram.to_png(paths[1])
    except OSError as exc:
        raise InputError(out, f"cannot write the diagram: {exc.strerror or exc}") from exc
    return paths
