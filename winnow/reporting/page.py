"""One self-contained HTML page of a review, for co-authors who will not install a CLI.

Everything is inside the file: the CSS and the small sorting script inline, every
figure a ``data:`` URI, no font, script or image fetched from anywhere (a
Content-Security-Policy in the page forbids it, and lets only the page's own script
run, by its hash). The page is rendered by Jinja2 with autoescaping, so record text
(titles, abstracts, reasons, quotes) is always text: a ``<script>`` in an abstract
shows as ``<script>``. The figures are the ones winnow already draws: the PRISMA
diagram (prisma-flow), the recall curve and the synthesis figures (matplotlib).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from winnow import __version__
from winnow.errors import InputError, WinnowError
from winnow.reporting.facts import ReviewFacts, Validated, prisma_flow, protocol_path, screening_table
from winnow.reporting.history import RunView, load_history
from winnow.reporting.methods import PLACEHOLDER, Methods, build_methods

__all__ = ["Page", "build_page", "render_page", "write_page"]

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Page:
    """What the template shows, section by section; a missing section says why it is missing."""

    title: str
    generated_at: str
    ledgers: list[str]
    notes: list[str]
    runs: list[RunView]
    methods: Methods
    agreement: dict[str, Any] | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    audit_source: str = ""
    validation: list[dict[str, Any]] = field(default_factory=list)
    prisma: dict[str, Any] | None = None
    synthesis: dict[str, Any] | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


def data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _title(facts: ReviewFacts) -> str:
    stages = facts.of("title_abstract") or facts.stages
    if not stages:
        return "Systematic review"
    source = protocol_path(stages[-1])
    if source is None:
        return "Systematic review"
    try:
        from winnow.protocol import load_protocol

        return load_protocol(source).protocol.title
    except WinnowError:
        return "Systematic review"


def _validation_gold(validated: Validated, folder: Path) -> Path | None:
    """The validation labels in force as a gold file with sampling weights (the ledger is the source)."""
    from winnow.ledger.readonly import LedgerReader

    report = validated.report
    strata = {s["stratum"]: s for s in report["estimate"]["strata"]}
    with LedgerReader(validated.ledger) as reader:
        draw = dict(reader.validation_draw(str(report["sample_id"])))
        labels: dict[str, str] = {}
        for row in reader.validation_labels(str(report["sample_id"])):
            if row["answer"] != "skip":
                labels[str(row["record_id"])] = str(row["answer"])
    if not labels:
        return None
    path = folder / "validation-labels.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "label", "stratum", "weight"])
        for rid, label in labels.items():
            stratum = strata.get(draw.get(rid, ""), {})
            weight = stratum["records"] / stratum["labelled"] if stratum.get("labelled") else ""
            writer.writerow([rid, label, draw.get(rid, ""), weight])
    return path


def _latest_verdicts(table: Path) -> dict[str, dict[str, Any]]:
    from winnow.audit.adjudicate import adjudication_key, default_ledger_path
    from winnow.ledger.readonly import LedgerReader

    ledger = default_ledger_path(table)
    if not ledger.is_file():
        return {}
    key = adjudication_key(table)
    with LedgerReader(ledger) as reader:
        return {
            str(row["record_id"]): {k: row[k] for k in ("final_label", "choice", "note", "who", "created_at")}
            for row in reader.adjudications()
            if row["decisions_path"] == key
        }


def _agreement_and_audit(page: Page, facts: ReviewFacts, gold: Path | None, work: Path) -> None:
    from winnow.agreement.compare import match_decisions
    from winnow.agreement.report import build_agreement, save_curve_png
    from winnow.audit.items import collect_disagreements
    from winnow.gold import load_gold
    from winnow.screening.decisions import read_decisions

    stage, table = screening_table(facts)
    if table is None:
        page.missing["agreement"] = "no title/abstract decisions table was found from the ledgers"
        return
    source = gold
    if source is None:
        source = _validation_gold(facts.validated[-1], work) if facts.validated else None
        page.audit_source = "the validation sample's labels (a sample: not the run's figures)" if source else ""
    else:
        page.audit_source = f"the gold set {source.name}"
    if source is None:
        page.missing["agreement"] = "no gold set (--gold) and no validation labels in the ledgers"
        return
    frame = read_decisions(table)
    known = frame[[c for c in ("record_id", "doi", "pmid", "title") if c in frame.columns]].to_dict(orient="records")
    matched = match_decisions(frame, table, load_gold(source, match_to=known), allow_missing=True)
    kinds: dict[str, str] = {}
    protocol = protocol_path(stage) if stage is not None else None
    if protocol is not None:
        from winnow.protocol import load_protocol

        kinds = {c.id: c.kind for c in load_protocol(protocol).protocol.all_criteria}
    report = build_agreement(matched, criterion_kinds=kinds)
    curve = None
    if report.get("recall_curve"):
        try:
            curve = data_uri(save_curve_png({**report, "title": f"Recall curve, {table.name}"}, work / "curve.png"),
                             "image/png")  # fmt: skip
        except InputError as exc:
            page.missing["recall_curve"] = exc.problem
    else:
        page.missing["recall_curve"] = report.get("workload_note", "no P(include) for every record")
    page.agreement = {"report": report, "curve": curve, "table": table.name, "gold": source.name}
    verdicts = _latest_verdicts(table)
    for rank, item in enumerate(collect_disagreements(matched), start=1):
        entry = item.as_dict()
        entry["rank"] = rank
        entry["adjudication"] = verdicts.get(item.record_id)
        page.audit.append(entry)


def _prisma(page: Page, facts: ReviewFacts, work: Path) -> None:
    from winnow.prisma import flow_rows, render_diagram

    flow = prisma_flow(facts)
    if flow is None:
        page.missing["prisma"] = "no title/abstract decisions table was found from the ledgers"
        return
    paths = render_diagram(flow, work / "prisma.svg", title=page.title)
    page.prisma = {
        "rows": flow_rows(flow),
        "image": data_uri(paths[0], "image/svg+xml"),
        "warnings": flow.warnings,
    }


def _synthesis(page: Page, facts: ReviewFacts, work: Path) -> None:
    stage = next((s for s in reversed(facts.of("extraction")) if s.table is not None), None)
    if stage is None or stage.table is None:
        page.missing["synthesis"] = "no extraction table was found from the ledgers"
        return
    from winnow.prisma import read_rows
    from winnow.synthesis.build import build_synthesis
    from winnow.synthesis.load import load_synthesis_inputs

    protocol = protocol_path(stage)
    rows, specs, years, origin = load_synthesis_inputs(
        stage.table, str(protocol) if protocol else None, None, None, by_year=True
    )
    synthesis = build_synthesis(rows, specs, years=years)
    synthesis.years_from = origin
    figures = []
    try:
        from winnow.synthesis.figures import stacked_by_year

        for name in dict.fromkeys(r["field"] for r in synthesis.by_year):
            spec = next((s for s in specs if s.name == name), None)
            png = stacked_by_year(synthesis.by_year, name, work / f"by_year_{name}.png", counted=synthesis.counted,
                                  multi=getattr(spec, "type", "") == "many_of")  # fmt: skip
            figures.append({"name": name, "image": data_uri(png, "image/png")})
    except ImportError:
        page.missing["synthesis_figures"] = "matplotlib is not installed (pip install 'winnow[plot]')"
    page.synthesis = {"data": synthesis.as_dict(), "figures": figures, "table": stage.table.name}
    for row in read_rows(stage.table, "extraction"):
        for spec in specs:
            value = row.get(f"field:{spec.name}", "")
            status = row.get(f"evidence:{spec.name}", "")
            if not value and status in ("", "not_reported"):
                continue
            page.evidence.append(
                {
                    "record_id": row.get("record_id", ""),
                    "title": row.get("title", ""),
                    "field": spec.name,
                    "value": value,
                    "quote": row.get(f"quote:{spec.name}", ""),
                    "page": row.get(f"page:{spec.name}", ""),
                    "status": status,
                    "verified": status in ("verified", "verified_fuzzy"),
                }
            )


def build_page(facts: ReviewFacts, *, gold: Path | None = None) -> Page:
    """Every section of the report from the facts (and the tables they point to).

    Raises:
        InputError: a table or the gold file cannot be read.
    """
    methods = build_methods(facts)
    page = Page(
        title=_title(facts),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        ledgers=[p.name for p in facts.ledgers],
        notes=methods.notes,
        runs=load_history(facts.ledgers),
        methods=methods,
        validation=[{"report": v.report, "ledger": v.ledger.name, "who": v.labels_by_who} for v in facts.validated],
    )
    with tempfile.TemporaryDirectory(prefix="winnow-report-") as tmp:
        work = Path(tmp)
        _agreement_and_audit(page, facts, gold, work)
        _prisma(page, facts, work)
        _synthesis(page, facts, work)
    if not facts.validated:
        page.missing["validation"] = "no winnow validate labels in the ledgers"
    return page


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"
    env.filters["num"] = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"
    env.filters["ci"] = lambda ci: "" if not ci or ci[0] is None else f"{ci[0]:.3f}-{ci[1]:.3f}"
    return env


def render_page(page: Page) -> str:
    """The HTML text: the template filled, the script's hash in the page's Content-Security-Policy."""
    env = _environment()
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return str(
        env.get_template("report.html.j2").render(
            page=page,
            script=script,
            style=style,
            script_hash=f"sha256-{digest}",
            placeholder=PLACEHOLDER,
            version=__version__,
        )
    )


def write_page(page: Page, out: Path) -> Path:
    text = render_page(page)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(out, f"cannot write the report: {exc.strerror or exc}") from exc
    return out
