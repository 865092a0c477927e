"""The methods text of a review, written only from what its ledgers hold.

One paragraph per stage that was run, in the order of a methods section; each
sentence carries the reporting items it answers (PRISMA 2020 items; the RAISE
recommendations on reporting AI use) and the run or table its numbers came from.
What a ledger cannot know (the databases searched, the search dates, who the
reviewers were) is written as a marked placeholder, never as a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from winnow.reporting.facts import (
    Decided,
    Prioritised,
    ReviewFacts,
    StageFacts,
    Validated,
    prisma_flow,
    screening_table,
)

__all__ = ["ITEMS", "PLACEHOLDER", "Methods", "Paragraph", "Sentence", "build_methods", "placeholder"]

PLACEHOLDER = "TO COMPLETE"

P5 = "PRISMA 2020 item 5 (eligibility criteria)"
P6 = "PRISMA 2020 item 6 (information sources)"
P7 = "PRISMA 2020 item 7 (search strategy)"
P8 = "PRISMA 2020 item 8 (selection process)"
P9 = "PRISMA 2020 item 9 (data collection process)"
P10 = "PRISMA 2020 item 10 (data items)"
P16 = "PRISMA 2020 item 16a (results of the search and selection process)"
P27 = "PRISMA 2020 item 27 (availability of data, code and other materials)"
R_TOOL = "RAISE: which AI tool and version, and what it was used for"
R_SETTINGS = "RAISE: prompts, models and settings"
R_OVERSIGHT = "RAISE: human oversight of the AI's judgements"
R_EVAL = "RAISE: evaluation of the AI's performance"
R_LIMITS = "RAISE: limitations of the AI's use"
ITEMS = (P5, P6, P7, P8, P9, P10, P16, P27, R_TOOL, R_SETTINGS, R_OVERSIGHT, R_EVAL, R_LIMITS)

REFERENCES = (
    "Page MJ, McKenzie JE, Bossuyt PM, et al. The PRISMA 2020 statement: an updated guideline for reporting"
    " systematic reviews. BMJ 2021;372:n71.",
    "Thomas J, Flemyng E, Noel-Storr A, et al. Responsible AI in Evidence SynthEsis (RAISE): guidance and"
    " recommendations. Open Science Framework, 2025 (osf.io/fwaud).",
    "Flemyng E, et al. Position statement on artificial intelligence (AI) use in evidence synthesis across"
    " Cochrane, the Campbell Collaboration, JBI and the Collaboration for Environmental Evidence. 2025"
    " (Environmental Evidence 14:20).",
    "Cochran WG. Sampling Techniques, 3rd ed. Wiley, 1977.",
    "Wright T. Exact confidence bounds when sampling from small finite universes. Springer, 1991.",
    "Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of the binomial."
    " Biometrika 1934;26:404-413.",
    "Lewis DD, Yang E, Frieder O. Certifying one-phase technology-assisted reviews. CIKM 2021.",
    "Callaghan MW, Müller-Hansen F. Statistical stopping criteria for automated screening in systematic reviews."
    " Systematic Reviews 2020;9:273 (doi:10.1186/s13643-020-01521-4).",
)


def placeholder(what: str) -> str:
    """A gap the reviewer must fill, marked so it cannot pass for a value."""
    return f"[{PLACEHOLDER}: {what}]"


@dataclass
class Sentence:
    text: str
    items: tuple[str, ...]
    source: str


@dataclass
class Paragraph:
    key: str
    heading: str
    sentences: list[Sentence] = field(default_factory=list)

    def add(self, text: str, items: Sequence[str], source: str) -> None:
        self.sentences.append(Sentence(text, tuple(items), source))

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass
class Methods:
    """The paragraphs, the notes a reviewer must read first, and the references the text cites."""

    paragraphs: list[Paragraph]
    notes: list[str]
    ledgers: list[str]
    references: tuple[str, ...] = REFERENCES

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "winnow.methods/1",
            "ledgers": self.ledgers,
            "notes": self.notes,
            "paragraphs": [{**asdict(p), "text": p.text} for p in self.paragraphs],
            "references": list(self.references),
        }

    def markdown(self) -> str:
        lines = ["# Methods", ""]
        lines += [f"> {note}" for note in self.notes]
        lines += [
            f"> Drafted by winnow from {len(self.ledgers)} ledger(s). Every number comes from a run listed in the"
            f" second section. Fill in each [{PLACEHOLDER}: ...] and edit freely.",
            "",
        ]
        for paragraph in self.paragraphs:
            lines += [f"## {paragraph.heading}", "", paragraph.text, ""]
        lines += ["## References", ""] + [f"- {ref}" for ref in self.references] + [""]
        lines += ["# Reporting items answered, sentence by sentence", ""]
        lines += ["| # | sentence | answers | from |", "|---|---|---|---|"]
        for number, paragraph in enumerate(self.paragraphs, start=1):
            for index, sentence in enumerate(paragraph.sentences, start=1):
                start = " ".join(sentence.text.split()[:8]).replace("|", "\\|")
                lines.append(f"| {number}.{index} | {start} ... | {'; '.join(sentence.items)} | {sentence.source} |")
        return "\n".join(lines) + "\n"


# -- formatting ----------------------------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(value: float | None) -> str:
    return "undefined" if value is None else f"{100 * value:.1f}%"


def _level(value: float) -> str:
    return f"{100 * value:g}%"


def _day(text: str) -> str:
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return text[:10]


def _span(start: str, end: str) -> str:
    first, last = _day(start), _day(end)
    return f"on {first}" if first == last else f"between {first} and {last}"


def _list(words: Sequence[str]) -> str:
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _runs(stage: StageFacts) -> str:
    ids = [r.run_id for r in stage.runs]
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    return f"{'run' if len(ids) == 1 else 'runs'} {shown} ({stage.ledger.name})"


def _counts(counts: dict[str, int], order: Sequence[str], verbs: dict[str, str] | None = None) -> str:
    """``included 4, excluded 3`` with verbs, else ``4 include, 6 exclude``."""
    if verbs is None:
        return _list([f"{_n(int(counts.get(k, 0)))} {k}" for k in order if k in counts])
    return _list([f"{verbs[k]} {_n(int(counts.get(k, 0)))}" for k in order if k in counts])


def _usage(stage: StageFacts, what: str) -> str:
    cost = stage.cost()
    if cost is not None:
        priced = f" at a cost of ${cost:,.4f}"
    else:
        priced = " (cost not known: the model is not in winnow's price table)"
    runs = f" over {len(stage.runs)} runs" if len(stage.runs) > 1 else ""
    batched = stage.route_answers()["batch"]
    kind = "synchronous model calls" if batched else "model calls"
    calls = (
        f"The {what} made {_n(stage.total('calls'))} {kind}{runs} and reused {_n(stage.total('cached'))} answers"
        " stored in the ledger"
    )
    tokens = f"{_n(stage.total('prompt_tokens'))} prompt and {_n(stage.total('completion_tokens'))} completion tokens"
    if not batched:
        return f"{calls}, with {tokens}{priced}."
    return (
        f"{calls}; {_n(batched)} answers came from batch requests (the provider's batch API, or a batch runner"
        " answering winnow's request files), priced at batch prices where the price table has them."
        f" In all, {tokens} were used{priced}."
    )


def _models(stage: StageFacts) -> str:
    uses = stage.models
    if not uses:
        return f"the model {stage.latest.model or placeholder('model')}"
    parts = []
    for use in uses:
        served = f", served as {use.served_model}" if use.served_model and use.served_model != use.model else ""
        parts.append(
            f"{use.model}{served}, with the prompt template {use.template_name}"
            f" (sha256 {use.template_sha256[:12]}), {_span(use.first_at, use.last_at)}"
        )
    return "; ".join(parts)


def _shipped(name: str, sha256: str) -> bool:
    """The template is winnow's own file of that name, byte for byte (so its text is public)."""
    import hashlib

    from winnow.templates import prompts_dir

    path = prompts_dir() / f"{name}.yaml"
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def _template_text(stage: StageFacts) -> str:
    uses = {(u.template_name, u.template_sha256) for u in stage.models}
    shipped = sorted(name for name, sha in uses if _shipped(name, sha))
    own = sorted(name for name, sha in uses if not _shipped(name, sha))
    where = []
    if shipped:
        where.append(f"{_list([f'prompts/{n}.yaml' for n in shipped])} of winnow {stage.latest.winnow_version}")
    if own:
        where.append(f"{_list(own)}: {placeholder('where this template is published')}")
    found = f"The template text is in {'; '.join(where)}, and" if where else "The template text is"
    return f"{found} stored, as sent, with every call in the run ledger {stage.ledger.name}."


# -- paragraphs ----------------------------------------------------------------------------------


def _sources(facts: ReviewFacts) -> Paragraph:
    para = Paragraph("sources", "Information sources and search")
    para.add(
        f"The records were identified by searching {placeholder('the databases and registers searched')}"
        f" on {placeholder('the date each was last searched')}.",
        (P6,),
        "not in the ledgers",
    )
    para.add(
        f"The full search strategies are given in {placeholder('where the search strategies are reported')}.",
        (P7,),
        "not in the ledgers",
    )
    return para


def _screening(stage: StageFacts) -> Paragraph:
    para = Paragraph("title_abstract", "Screening of titles and abstracts")
    latest, summary, params = stage.latest, stage.summary, stage.params
    version = latest.winnow_version or placeholder("winnow version")
    dupes = len(summary.get("duplicate_groups") or [])
    duplicates = f", after {_n(dupes)} group(s) of duplicate records were merged and screened once" if dupes else ""
    para.add(
        f"Titles and abstracts of {_n(int(latest.n_records or 0))} records were screened against the review's"
        f" eligibility criteria (protocol sha256 {str(latest.protocol_sha256 or '')[:12]}) with winnow {version},"
        f" an open-source tool that asks a large language model about each record{duplicates}.",
        (P5, P8, R_TOOL),
        _runs(stage),
    )
    para.add(f"The model asked was {_models(stage)}.", (P8, R_TOOL, R_SETTINGS), _runs(stage))
    para.add(_template_text(stage), (R_SETTINGS, P27), _runs(stage))
    para.add(
        "For each record the model gave a verdict on every criterion (met, not met or unclear, with a reason) and a"
        " decision; a record was excluded only when a criterion was judged clearly failed, and an exclusion without"
        " a failed criterion was recorded as uncertain, so that a person read it (conservative exclusion).",
        (P8, R_SETTINGS, R_OVERSIGHT),
        "winnow's decision rule (README, Screening)",
    )
    sampling = params.get("sampling") or {}
    reviewers = [r for r in params.get("reviewers") or [] if isinstance(r, dict)]
    models = [r for r in reviewers if "model" in r]
    people = [r for r in reviewers if "human_labels" in r]
    repeats = sorted({int(r.get("samples") or 1) for r in models})
    temperature = sampling.get("temperature")
    if repeats and repeats != [1]:
        asked = _list([f"{r['model']} {int(r.get('samples') or 1)} times" for r in models])
        para.add(
            f"Each record was put to {asked} at temperature {temperature:g} (seed {sampling.get('seed')} for the"
            " first answer and seed + k for repeat k); a model's decision was the strict majority of its answers"
            " (else uncertain), and its share of include votes served as its P(include).",
            (P8, R_SETTINGS),
            _runs(stage),
        )
    elif temperature is not None:
        para.add(
            f"Each record was asked once at temperature {temperature:g} (seed {sampling.get('seed')}).",
            (R_SETTINGS,),
            _runs(stage),
        )
    if len(models) + len(people) > 1:
        rule = {
            "any": "a record was included if any reviewer included it and excluded only if all excluded it",
            "majority": "a record took the majority decision of the reviewers who answered",
            "all": "a record was decided only when all reviewers agreed, and was otherwise left to a person",
        }.get(str(params.get("combine")), f"the rule '{params.get('combine')}'")
        names = _list([f"{r['name']} ({r['model']})" for r in models] + [f"{r['name']} (a person)" for r in people])
        para.add(
            f"The panel's reviewers were {names}; their decisions were combined with the '{params.get('combine')}'"
            f" rule: {rule}.",
            (P8, R_SETTINGS),
            _runs(stage),
        )
    counts = summary.get("counts") or {}
    para.add(
        f"The screening {_counts(counts, ('include', 'exclude', 'uncertain', 'error'), _VERB)}"
        f" of the {_n(int(latest.n_records or 0))} records.",
        (P8,),
        _runs(stage),
    )
    para.add(_usage(stage, "screening"), (R_TOOL,), _runs(stage))
    return para


_VERB = {"include": "included", "exclude": "excluded", "uncertain": "left uncertain", "error": "ended in error for"}


def _threshold(decided: Decided) -> Paragraph:
    para = Paragraph("threshold", "Decision threshold")
    s = decided.summary
    source = f"run {decided.run.run_id} ({decided.ledger.name})"
    cal = s.get("calibration_set") or {}
    if cal.get("threshold_chosen_from_labels", True) and cal:
        para.add(
            f"The model's decisions were then replaced by a threshold on P(include), chosen with winnow decide"
            f" --calibrate as the highest threshold whose one-sided Clopper-Pearson lower bound on recall, over the"
            f" {_n(int(cal['calibration_includes']))} includes among {_n(int(cal['calibration_records']))} labelled"
            f" records, reached {_level(s['recall_target'])} at {_level(s['confidence'])} confidence (Clopper and"
            " Pearson 1934; Lewis, Yang and Frieder 2021).",
            (P8, R_SETTINGS, R_EVAL),
            source,
        )
        para.add(
            f"The threshold was {s['threshold']:.6g}; on the labelled records its recall was"
            f" {_pct(cal.get('recall_on_calibration'))}, with a lower bound of {_pct(cal.get('recall_lower_bound'))}.",
            (P8, R_EVAL),
            source,
        )
    else:
        para.add(
            f"The model's decisions were then replaced by the threshold P(include) >= {s['threshold']:.6g}, set by"
            " hand (winnow decide --threshold).",
            (P8, R_SETTINGS),
            source,
        )
    new = s.get("new_decisions") or {}
    para.add(
        f"It re-decided the {_n(int(s.get('records', 0)))} records as"
        f" {_counts(new, ('include', 'exclude', 'uncertain'))}, changing {_n(int(s.get('changed_from_screen', 0)))}"
        " of the model's decisions; records without a P(include) were left to a person.",
        (P8,),
        source,
    )
    return para


def _validation(validated: Validated) -> Paragraph:
    para = Paragraph("validation", "Validation of recall")
    report = validated.report
    est = report["estimate"]
    source = (
        f"run {validated.run.run_id} ({validated.ledger.name})"
        if validated.run
        else f"sample {report['sample_id']} ({validated.ledger.name})"
    )
    strata = {s["stratum"]: s for s in est["strata"]}
    para.add(
        f"The screening decisions on {_n(int(report['decisions']['n']))} records were validated on a stratified"
        " random sample (strata: the model's excludes, its uncertain or error decisions, and its includes;"
        f" seed {report['seed']}).",
        (P8, R_EVAL),
        source,
    )
    names = {"exclude": "model excludes", "uncertain": "uncertain or error records", "include": "model includes"}
    reads = _list([f"{_n(s['labelled'])} of {_n(s['records'])} {names[n]}" for n, s in strata.items()])
    who = _list([f"{name} ({_n(count)} records)" for name, count in sorted(validated.labels_by_who.items())])
    para.add(
        f"Blind to the model's decisions, {placeholder('who labelled the sample')} labelled {reads}; the labels"
        f" are recorded under {who or 'no name'}.",
        (P8, R_OVERSIGHT, R_EVAL),
        source,
    )
    para.add(
        "Recall was estimated with the stratified expansion estimator, with exact hypergeometric bounds per stratum"
        " combined by a Bonferroni split of alpha (Cochran 1977; Wright 1991).",
        (R_EVAL,),
        "winnow validate's method",
    )
    level = _level(est["confidence"])
    low, high = est["recall_interval"]
    missed = "undefined" if est["missed_includes"] is None else f"{est['missed_includes']:.1f}"
    text = (
        f"Estimated recall was {_pct(est['recall'])} (one-sided {level} lower bound"
        f" {_pct(est['recall_lower_bound'])}; two-sided {level} interval {_pct(low)} to {_pct(high)}), and the"
        f" estimated number of missed includes {missed} (one-sided upper bound"
        f" {_n(int(est['missed_includes_upper_bound']))})"
    )
    if est.get("precision") is not None:
        text += f"; the precision of the model's includes was {_pct(est['precision'])}"
    para.add(text + ".", (P8, R_EVAL), source)
    verdict = "was" if est["certified"] else "was not"
    para.add(
        f"Recall of at least {_level(est['recall_target'])} {verdict} certified at {level} confidence; the bound"
        " assumes a random sample within each stratum and correct human labels.",
        (R_EVAL, R_LIMITS),
        source,
    )
    if not report.get("complete", True):
        para.add(
            f"The sample was not finished: {_n(int(report['labelled']))} of its records were labelled.",
            (R_LIMITS,),
            source,
        )
    return para


def _human(facts: ReviewFacts) -> Paragraph:
    para = Paragraph("human", "Human involvement")
    para.add(
        f"The human reviewers were {placeholder('who the reviewers were, and whether they worked independently')}.",
        (P8, R_OVERSIGHT),
        "not in the ledgers",
    )
    for adj in facts.adjudicated:
        directions = _list([f"{_n(n)} {d}" for d, n in sorted(adj.directions.items())])
        who = _list([f"{name} ({_n(n)})" for name, n in sorted(adj.who.items())])
        para.add(
            f"Disagreements in {adj.table_name} were listed riskiest first (missed studies first) and a person settled"
            f" {_n(adj.records)} records with winnow audit --adjudicate ({directions}); the verdicts are recorded"
            f" under {who}, and a verdict overrides the model wherever the table is used.",
            (P8, R_OVERSIGHT),
            f"adjudications in {adj.ledger.name}",
        )
    if not facts.adjudicated:
        para.add(
            "No model decision was overridden by a recorded human verdict (winnow audit --adjudicate).",
            (R_OVERSIGHT,),
            "adjudications tables of every ledger (empty)",
        )
    return para


def _prioritised(session: Prioritised) -> Paragraph:
    """Screening by hand in the ranker's order: the stopping report ``winnow prioritise`` kept in the ledger."""
    para = Paragraph("prioritised", "Prioritised screening by hand")
    source = f"session {session.session_id} in {session.ledger.name}"
    report = session.report
    when = _span(session.first_answer or "", session.last_answer or "")
    if report is None:
        missing = placeholder(
            "how many records were screened and why screening stopped (this session predates the stopping report"
            " kept in the ledger; its prioritise.md report has them)"
        )
        para.add(
            f"Records of {Path(session.records_path).name} were screened by hand in prioritised order with winnow"
            f" prioritise ({when}); {missing}.",
            (P8, R_TOOL),
            source,
        )
        return para
    para.add(str(report["statement"]), (P8, P16, R_TOOL, R_OVERSIGHT), source)
    ranking = report.get("ranking") or {}
    who = _list([str(w) for w in report.get("who") or []]) or placeholder("who screened")
    para.add(
        f"The ranking was refitted after every answer: {ranking.get('blend') or placeholder('the ranker')}.",
        (R_SETTINGS,),
        source,
    )
    para.add(
        f"The answers were given by {who} {when} (winnow prioritise, {Path(session.records_path).name}).",
        (P8, R_OVERSIGHT),
        source,
    )
    return para


def _evidence_totals(evidence: dict[str, dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in evidence.values():
        for status, n in counts.items():
            totals[status] = totals.get(status, 0) + int(n)
    return totals


def _full_text(stage: StageFacts) -> Paragraph:
    para = Paragraph("full_text", "Full-text screening")
    summary, latest = stage.summary, stage.latest
    para.add(
        f"The full texts of {_n(int(latest.n_records or 0))} PDF reports were screened against the same criteria by"
        f" {_models(stage)}; each verdict came with a quote and its page, checked against the text winnow read from"
        " the PDF.",
        (P8, R_TOOL, R_SETTINGS),
        _runs(stage),
    )
    para.add(_template_text(stage), (R_SETTINGS, P27), _runs(stage))
    unread = len(summary.get("skipped") or [])
    counts = summary.get("counts") or {}
    para.add(
        f"The model {_counts(counts, ('include', 'exclude', 'uncertain', 'error'), _VERB)} of the reports;"
        f" {_n(unread)} PDF(s) could not be read (encrypted, damaged or without a text layer).",
        (P8,),
        _runs(stage),
    )
    para.add(_usage(stage, "full-text screening"), (R_TOOL,), _runs(stage))
    return para


def _extraction(stage: StageFacts) -> Paragraph:
    para = Paragraph("extraction", "Data extraction")
    summary, latest = stage.summary, stage.latest
    evidence = summary.get("evidence") or {}
    fields = list(evidence)
    para.add(
        f"Data were extracted from {_n(int(latest.n_records or 0))} PDF reports into {_n(len(fields))} fields"
        f" ({_list(fields)}) by {_models(stage)}.",
        (P9, P10, R_TOOL, R_SETTINGS),
        _runs(stage),
    )
    para.add(_template_text(stage), (R_SETTINGS, P27), _runs(stage))
    totals = _evidence_totals(evidence)
    reported = sum(n for s, n in totals.items() if s not in ("not_reported", "conflict"))
    verified = totals.get("verified", 0) + totals.get("verified_fuzzy", 0)
    unverified = totals.get("wrong_page", 0) + totals.get("not_found", 0) + totals.get("no_quote", 0)
    threshold = stage.params.get("quote_threshold")
    fuzzy = f" (fuzzy ratio at least {threshold:g})" if isinstance(threshold, int | float) else ""
    para.add(
        "Each value came with a verbatim quote and its page, and the quote was checked against winnow's text of"
        f" that page by normalised exact match, then by fuzzy match{fuzzy}.",
        (P9, R_OVERSIGHT),
        "winnow extract's quote check",
    )
    share = f" ({_pct(verified / reported)})" if reported else ""
    para.add(
        f"Of {_n(reported)} values reported, {_n(verified)}{share} had a verified quote"
        f" ({_n(totals.get('verified', 0))} exact, {_n(totals.get('verified_fuzzy', 0))} fuzzy) and {_n(unverified)}"
        f" were unverified ({_n(totals.get('wrong_page', 0))} on another page, {_n(totals.get('not_found', 0))} not"
        f" found, {_n(totals.get('no_quote', 0))} without a quote); {_n(totals.get('not_reported', 0))} were not"
        " reported. Unverified values were flagged for a person to check.",
        (P9, R_EVAL, R_OVERSIGHT),
        _runs(stage),
    )
    para.add(_usage(stage, "extraction"), (R_TOOL,), _runs(stage))
    return para


def _prisma(flow: Any, table: Path) -> Paragraph:
    para = Paragraph("prisma", "Study selection (PRISMA 2020 flow)")
    c = flow.counts()
    reasons = _list([f"{reason} ({_n(len(ids))})" for reason, ids in flow.reports_excluded.items()])
    not_found = _list([f"{reason} ({_n(len(ids))})" for reason, ids in flow.not_retrieved.items()])
    para.add(
        f"Of {_n(c['identified'])} records identified, {_n(c['duplicates_removed'])} duplicates and"
        f" {_n(c['removed_other'])} unreadable records were removed; {_n(c['screened'])} records were screened and"
        f" {_n(c['excluded'])} excluded on title and abstract.",
        (P16,),
        f"winnow prisma on {table.name}",
    )
    para.add(
        f"{_n(c['sought'])} reports were sought and {_n(c['not_retrieved'])} not retrieved"
        + (f" ({not_found})" if not_found else "")
        + f"; {_n(c['assessed'])} were assessed in full text and {_n(c['reports_excluded'])} excluded"
        + (f" ({reasons})" if reasons else "")
        + f", leaving {_n(c['included'])} studies included"
        + (
            f" and {_n(c['awaiting_decision'])} reports, uncertain or in error at full text, awaiting a decision."
            if c["awaiting_decision"]
            else "."
        ),
        (P16,),
        f"winnow prisma on {table.name}",
    )
    if not flow.full_text_counted:
        para.add(
            "The full-text stage was not run with winnow, so its counts carry the title/abstract includes through"
            f" and must be replaced by {placeholder('the full-text counts')}.",
            (P16,),
            f"winnow prisma on {table.name}",
        )
    return para


def _notes(facts: ReviewFacts) -> list[str]:
    from winnow.backends import is_embedded_id
    from winnow.backends.local import EMBEDDED_WARNING

    notes = list(facts.notes)
    models = {u.model for s in facts.stages for u in s.models} | {r.model or "" for s in facts.stages for r in s.runs}
    if any(is_embedded_id(m) for m in models if m):
        notes.insert(0, f"Warning: {EMBEDDED_WARNING}")
    for stage in facts.stages:
        if stage.unfinished:
            notes.append(
                f"{stage.table_name}: {stage.unfinished} run(s) never recorded their end (killed); their calls and"
                " tokens are counted from the ledger's call rows, and the settings are those of the last run that"
                " ended"
            )
        if stage.latest.summary and stage.latest.summary.get("interrupted"):
            notes.append(f"{stage.table_name}: the last run was interrupted; its figures are not final")
    return notes


def build_methods(facts: ReviewFacts) -> Methods:
    """The methods paragraphs for every stage the ledgers show, in the order of a methods section.

    Raises:
        InputError: a table a ledger points to cannot be read (for the PRISMA counts).
    """
    paragraphs = [_sources(facts)]
    paragraphs += [_screening(stage) for stage in facts.of("title_abstract")]
    paragraphs += [_threshold(decided) for decided in facts.decided]
    paragraphs += [_validation(validated) for validated in facts.validated]
    paragraphs += [_prioritised(session) for session in facts.prioritised]
    paragraphs.append(_human(facts))
    paragraphs += [_full_text(stage) for stage in facts.of("full_text")]
    paragraphs += [_extraction(stage) for stage in facts.of("extraction")]
    flow = prisma_flow(facts)
    if flow is not None:
        _, table = screening_table(facts)
        assert table is not None
        paragraphs.append(_prisma(flow, table))
    return Methods(paragraphs, _notes(facts), [str(p) for p in facts.ledgers])
