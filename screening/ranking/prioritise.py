"""A prioritised-screening session: the reviewer reads top-down, the ledger keeps every answer.

The session is identified by the records' content and the protocol, so running
the same command again on the same ledger resumes it: the answers are replayed
in the order they were given, the ranker is refitted on them, and the next
record is the one the reviewer would have seen had nothing stopped.

Skipped records are not read: they go to the back of the queue and come round
again only when every other record has been answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from winnow.errors import InputError
from winnow.ledger import PRIORITY_STOPPING_REPORT, Ledger
from winnow.protocol import LoadedProtocol
from winnow.records import Record
from winnow.screening.ranking.ranker import Ranker, RankerConfig, RankingInputs, describe_combiner
from winnow.screening.ranking.stopping import StoppingCheck, StoppingRule, check

Answer = Literal["include", "exclude", "skip"]
RANKER_STATE = "ranker_state"
ANSWERS: tuple[Answer, ...] = ("include", "exclude", "skip")


def records_sha256(records: Sequence[Record]) -> str:
    """The record set as screened: ids and the exact text each prompt or reviewer sees."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(f"\0{record.record_id}\0{record.content_sha256}".encode())
    return digest.hexdigest()


def session_id_for(records: Sequence[Record], protocol_sha256: str) -> str:
    return hashlib.sha256(f"{records_sha256(records)}\0{protocol_sha256}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Status:
    """The status line: how far the reviewer is and what the stopping rule says."""

    n_records: int
    read: int
    includes: int
    skipped: int
    check: StoppingCheck

    @property
    def unread(self) -> int:
        return self.n_records - self.read


@dataclass
class Session:
    """One reviewer's pass over one record set, backed by the ledger."""

    ledger: Ledger
    session_id: str
    records: list[Record]
    inputs: RankingInputs
    rule: StoppingRule
    who: str
    _ranker: Ranker = field(init=False, repr=False)
    _index: dict[str, int] = field(init=False, repr=False)
    _order: list[int] = field(default_factory=list, init=False, repr=False)
    _labels: list[bool] = field(default_factory=list, init=False, repr=False)
    _skipped: set[int] = field(default_factory=set, init=False, repr=False)
    _fired_at: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._ranker = self.inputs.ranker()
        self._index = {r.record_id: i for i, r in enumerate(self.records)}
        self._replay(self.ledger.priority_answers(self.session_id), self.ledger.priority_params(self.session_id))

    def _replay(self, rows: Sequence[Any], params: dict[str, Any]) -> None:
        """Rebuild the state from the stored answers without re-running the stopping test after each.

        Each answer row carries the buscar p-value as it stood before that answer,
        so where the rule first fired can be read off the rows (one pass, no test)
        when the session was registered with this recall target. Otherwise the
        test is re-run after each answer, as before. The ranker takes back its
        saved losses instead of refitting on every prefix of the answers.
        """
        stored_p_usable = (
            self.rule.name == "buscar"
            and params.get("rule") == "buscar"
            and params.get("recall_target") == self.rule.recall_target
        )
        for row in rows:
            p_before = row["p_value"]
            if (
                stored_p_usable
                and self._fired_at is None
                and self._order
                and p_before is not None
                and p_before < self.rule.alpha
            ):
                self._fired_at = len(self._order)
            self._apply(row["record_id"], row["answer"], check_rule=not stored_p_usable)
        if self._fired_at is None and self._order and self.status().check.fire:
            self._fired_at = len(self._order)
        state = params.get(RANKER_STATE)
        if isinstance(state, dict):
            self._ranker.restore(state, len(self._labels))

    @classmethod
    def open(
        cls,
        ledger: Ledger,
        *,
        records: list[Record],
        records_path: str,
        protocol: LoadedProtocol,
        inputs: RankingInputs,
        rule: StoppingRule,
        who: str,
    ) -> Session:
        session_id = session_id_for(records, protocol.sha256)
        ledger.priority_session(
            session_id,
            records_path=records_path,
            records_sha256=records_sha256(records),
            protocol_sha256=protocol.sha256,
            params={"rule": rule.name, "recall_target": rule.recall_target, "confidence": rule.confidence},
        )
        return cls(ledger=ledger, session_id=session_id, records=records, inputs=inputs, rule=rule, who=who)

    # -- state ------------------------------------------------------------------
    def _apply(self, record_id: str, answer: str, *, check_rule: bool = True) -> None:
        i = self._index.get(record_id)
        if i is None:
            return
        if answer == "skip":
            self._skipped.add(i)
            return
        if i in self._order:
            # A later answer to the same record corrects the earlier one.
            self._labels[self._order.index(i)] = answer == "include"
        else:
            self._order.append(i)
            self._labels.append(answer == "include")
        self._skipped.discard(i)
        if check_rule and self._fired_at is None and self.status().check.fire:
            self._fired_at = len(self._order)

    def weights(self) -> dict[str, float]:
        """Each learner's weight in the ranking now."""
        return self._ranker.weights(len(self._labels))

    @property
    def fired_at(self) -> int | None:
        """How many records had been read when the rule first fired (None: not yet)."""
        return self._fired_at

    def status(self) -> Status:
        return Status(
            n_records=len(self.records),
            read=len(self._order),
            includes=sum(self._labels),
            skipped=len(self._skipped),
            check=check(self.rule, self._labels, len(self.records)),
        )

    def next_record(self) -> Record | None:
        """The most likely include not yet answered; skipped records come last."""
        if len(self._order) >= len(self.records):
            return None
        self._ranker.learn(self._order, self._labels)
        self.ledger.save_priority_state(self.session_id, RANKER_STATE, self._ranker.state())
        read = np.zeros(len(self.records), dtype=bool)
        read[self._order] = True
        unskipped = read.copy()
        if self._skipped:
            unskipped[list(self._skipped)] = True
        pool = unskipped if not unskipped.all() else read
        return self.records[self._ranker.next_unread(pool, len(self._labels))]

    def keep_report(self, report: dict[str, Any]) -> None:
        """Keep the latest stopping report in the ledger, where ``winnow methods`` finds it."""
        self.ledger.save_priority_state(self.session_id, PRIORITY_STOPPING_REPORT, report)

    def answer(self, record: Record, answer: Answer, *, note: str = "") -> Status:
        """Store the answer first, then update the state: a crash after the write loses nothing."""
        if answer not in ANSWERS:
            raise InputError(None, f"answer must be one of {', '.join(ANSWERS)}, got {answer!r}")
        before = self.status()
        self.ledger.add_priority_answer(
            self.session_id,
            record_id=record.record_id,
            answer=answer,
            who=self.who,
            note=note,
            p_value=before.check.p_value,
        )
        self._apply(record.record_id, answer)
        return self.status()


def read_label_file(path: Path, records: Sequence[Record] = ()) -> dict[str, Answer]:
    """A scripted reviewer: any file a gold set is read from (``record_id`` + label, or another tool's export).

    ``records`` lets a tool's own ids (Rayyan keys, Covidence numbers) be matched by DOI, PMID or title.
    """
    from winnow.gold import load_gold

    known = [{"record_id": r.record_id, "doi": r.doi, "pmid": r.pmid, "title": r.title} for r in records]
    gold = load_gold(path, match_to=known or None)
    return {rid: ("include" if row.included else "exclude") for rid, row in gold.rows.items()}


def stopping_report(session: Session, *, records_path: str, protocol: LoadedProtocol) -> dict[str, Any]:
    """Everything a methods section needs about how screening stopped, as JSON-ready data."""
    status = session.status()
    rule = session.rule
    fired = session.fired_at is not None
    report: dict[str, Any] = {
        "records": {"path": records_path, "n": status.n_records},
        "protocol": {"path": protocol.path, "sha256": protocol.sha256},
        "ranking": {
            "zero_shot": list(session.inputs.prior.components),
            "embeddings": session.inputs.embeddings_note,
            "model_answers": None if session.inputs.model is None else session.inputs.model.describe(),
            "learners": session.weights(),
            "blend": describe_combiner(RankerConfig(), with_model=session.inputs.model is not None),
        },
        "rule": {
            "name": rule.name,
            "description": rule.describe(),
            "heuristic": rule.is_heuristic,
            "recall_target": rule.recall_target,
            "confidence": rule.confidence,
            **({"excludes_in_a_row": rule.excludes_in_a_row} if rule.is_heuristic else {}),
        },
        "fired": fired,
        "read_when_fired": session.fired_at,
        "read": status.read,
        "includes_found": status.includes,
        "unread": status.unread,
        "skipped": status.skipped,
        "p_value": status.check.p_value,
        "excludes_in_a_row": status.check.excludes_in_a_row,
        "who": sorted({row["who"] for row in session.ledger.priority_answers(session.session_id)}),
        "session_id": session.session_id,
    }
    report["statement"] = methods_statement(report)
    return report


def methods_statement(report: dict[str, Any]) -> str:
    """One paragraph that can be pasted into a methods section."""
    n, read, found = report["records"]["n"], report["read"], report["includes_found"]
    rule = report["rule"]
    p = report["p_value"]
    p_text = "n/a" if p is None else (f"{p:.3g}" if p >= 0.001 else "< 0.001")
    model = (
        ", with an earlier model's answers as one more ranker weighted by how well it found this review's includes"
        if report["ranking"].get("model_answers")
        else ""
    )
    head = (
        f"Records were screened in prioritised order (zero-shot similarity to the protocol, then active "
        f"learning on the reviewer's labels{model}). {read} of {n} records ({read / n:.1%}) were screened by hand "
        f"and {found} includes were found."
    )
    unread = f"{report['unread']} record was" if report["unread"] == 1 else f"{report['unread']} records were"
    if rule["heuristic"]:
        tail = (
            f" Screening {'stopped' if report['fired'] else 'has not yet stopped'} under a heuristic rule "
            f"({rule['excludes_in_a_row']} consecutive excludes), which gives no statistical guarantee on recall; "
            f"for reference, the buscar test's p-value for recall below {rule['recall_target']:.0%} was {p_text}."
        )
    elif report["fired"]:
        tail = (
            f" Screening stopped when the buscar stopping test (Callaghan & Müller-Hansen 2020) rejected the "
            f"hypothesis that recall was below {rule['recall_target']:.0%} at a confidence of "
            f"{rule['confidence']:.0%} (p = {p_text}); {unread} not screened by hand."
        )
    else:
        tail = (
            f" The buscar stopping test (target recall {rule['recall_target']:.0%}, confidence "
            f"{rule['confidence']:.0%}) has not yet been met (p = {p_text}); screening is not finished."
        )
    return head + tail


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Markdown for people, with the JSON twin beside it for scripts."""
    rule = report["rule"]
    lines = [
        "# Prioritised screening: stopping report",
        "",
        report["statement"],
        "",
        f"- Records: {report['records']['n']} ({report['records']['path']})",
        f"- Protocol: {report['protocol']['path']} (sha256 {report['protocol']['sha256'][:12]})",
        f"- Ranking: zero-shot {', '.join(report['ranking']['zero_shot'])}; embeddings: "
        f"{report['ranking']['embeddings']}; "
        + (f"model answers: {report['ranking']['model_answers']}; " if report["ranking"].get("model_answers") else "")
        + "learners and weights at the end: "
        + ", ".join(f"{k} {v:.2f}" for k, v in report["ranking"]["learners"].items())
        + f"; {report['ranking']['blend']}",
        f"- Stopping rule: {rule['description']}" + (" — HEURISTIC, no guarantee" if rule["heuristic"] else ""),
        f"- Rule fired: {'yes, after ' + str(report['read_when_fired']) + ' records' if report['fired'] else 'no'}",
        f"- Records read: {report['read']}; includes found: {report['includes_found']}; "
        f"unread: {report['unread']}; skipped: {report['skipped']}",
        f"- p-value (H0: recall < {rule['recall_target']:.0%}): {report['p_value']}",
        f"- Reviewer(s): {', '.join(report['who']) or '-'}; session {report['session_id']}",
        "",
    ]
    try:
        path.write_text("\n".join(lines), encoding="utf-8")
        path.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot write report: {exc.strerror or exc}") from exc
    return path
