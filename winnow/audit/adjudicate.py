"""Settling disagreements: verdicts go to the run ledger one at a time, as they are given.

Each answer is committed before the next record is shown, so a crash or ``kill -9``
keeps every verdict already given, and a restart resumes after the last one. The
latest verdict per record is the one in force.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from winnow.audit.items import AuditItem
from winnow.errors import InputError
from winnow.gold import GOLD_ID_ALIASES, GoldSet, normalise_label
from winnow.ledger import Ledger

__all__ = [
    "CHOICES",
    "Adjudicable",
    "Verdict",
    "adjudicate_interactively",
    "adjudication_key",
    "default_ledger_path",
    "export_adjudicated_gold",
    "import_verdicts",
    "latest_verdicts",
    "record_verdict",
    "resolve_label",
]

CHOICES = ("model", "gold", "include", "exclude")
_VERDICT_COLUMNS = ("verdict", "choice", "final_label", "label")


class Adjudicable(Protocol):
    """What the adjudication loop needs of a record: a gold disagreement or a panel conflict."""

    @property
    def record_id(self) -> str: ...

    @property
    def decision(self) -> str: ...

    @property
    def decision_source(self) -> str: ...

    @property
    def gold_label(self) -> str | None: ...

    @property
    def run_id(self) -> str: ...


Item = TypeVar("Item", bound=Adjudicable)


@dataclass(frozen=True)
class Verdict:
    """One stored human verdict."""

    record_id: str
    final_label: str
    choice: str
    note: str
    who: str
    created_at: str

    def as_dict(self) -> dict[str, str]:
        return {
            "record_id": self.record_id,
            "final_label": self.final_label,
            "choice": self.choice,
            "note": self.note,
            "who": self.who,
            "created_at": self.created_at,
        }


def default_ledger_path(decisions_path: str | Path) -> Path:
    """``x.csv`` -> ``x.ledger.sqlite`` beside it: the ledger screening writes."""
    path = Path(decisions_path)
    return path.with_name(f"{path.stem}.ledger.sqlite")


def adjudication_key(decisions_path: str | Path) -> str:
    """The decisions file name: verdicts survive moving the folder that holds both files."""
    return Path(decisions_path).name


def resolve_label(item: Adjudicable, choice: str) -> tuple[str, str]:
    """(final label, stored choice) for ``model``, ``gold``, ``include`` or ``exclude``.

    ``model`` keeps the record's own decision: the model's in a gold audit (stored as
    ``model``), the panel's combined one in a conflict audit (stored as ``combined``).

    Raises:
        ValueError: ``model`` chosen where there is no include/exclude decision, or
            ``gold`` where there is no gold label.
    """
    if choice == "model":
        if item.decision not in ("include", "exclude"):
            raise ValueError(f"the {item.decision_source} decision is {item.decision!r}; choose include or exclude")
        return item.decision, item.decision_source
    if choice == "gold":
        if item.gold_label is None:
            raise ValueError("there is no gold label; choose include or exclude")
        return item.gold_label, "gold"
    if choice in ("include", "exclude"):
        return choice, "new"
    raise ValueError(f"unknown choice {choice!r}; use one of {', '.join(CHOICES)}")


def record_verdict(ledger: Ledger, key: str, item: Adjudicable, choice: str, *, who: str, note: str = "") -> Verdict:
    """Resolve and store one verdict at once."""
    final_label, stored_choice = resolve_label(item, choice)
    ledger.add_adjudication(
        decisions_path=key,
        record_id=item.record_id,
        final_label=final_label,
        choice=stored_choice,
        who=who,
        note=note,
        run_id=item.run_id or None,
        model_decision=item.decision,
        gold_label=item.gold_label,
    )
    rows = ledger.adjudications(key)
    return _verdict(rows[-1])


def _verdict(row: sqlite3.Row) -> Verdict:
    return Verdict(
        record_id=row["record_id"],
        final_label=row["final_label"],
        choice=row["choice"],
        note=row["note"] or "",
        who=row["who"],
        created_at=row["created_at"],
    )


def latest_verdicts(ledger: Ledger, key: str) -> dict[str, Verdict]:
    """The verdict in force per record (the latest one)."""
    return {row["record_id"]: _verdict(row) for row in ledger.adjudications(key)}


def _pick(columns: Sequence[str], names: Iterable[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[name] for name in names if name in lowered), None)


def import_verdicts(
    path: str | Path, items: Sequence[AuditItem], ledger: Ledger, key: str, *, who: str
) -> list[Verdict]:
    """Store verdicts from a CSV (record_id, verdict, note[, who]) for scripts and tests.

    ``verdict`` is model, gold, include or exclude (yes/no/1/0 also mean include/exclude).
    Every row is checked before any is stored, so a bad file stores nothing.

    Raises:
        InputError: missing columns, unknown record or verdict, naming the line.
    """
    source = Path(path)
    by_id = {item.record_id: item for item in items}
    try:
        handle = source.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(source, f"cannot read verdicts: {exc.strerror or exc}") from exc
    planned: list[tuple[AuditItem, str, str, str]] = []
    with handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        id_column = _pick(columns, GOLD_ID_ALIASES)
        verdict_column = _pick(columns, _VERDICT_COLUMNS)
        if id_column is None or verdict_column is None:
            raise InputError(
                source, f"needs columns record_id and verdict; found {', '.join(columns) or 'none'}", line=1
            )
        note_column = _pick(columns, ("note", "reason", "why"))
        who_column = _pick(columns, ("who", "reviewer"))
        line = reader.line_num + 1
        for row in reader:
            record_id = (row.get(id_column) or "").strip()
            raw = (row.get(verdict_column) or "").strip().lower()
            if record_id not in by_id:
                raise InputError(
                    source, f"record {record_id!r} is not one of the disagreements being audited", line=line
                )
            choice = raw if raw in CHOICES else {True: "include", False: "exclude", None: ""}[normalise_label(raw)]
            if not choice:
                raise InputError(
                    source, f"record {record_id}: unknown verdict {raw!r}; use {', '.join(CHOICES)}", line=line
                )
            try:
                resolve_label(by_id[record_id], choice)
            except ValueError as exc:
                raise InputError(source, f"record {record_id}: {exc}", line=line) from None
            note = (row.get(note_column) or "").strip() if note_column else ""
            reviewer = (row.get(who_column) or "").strip() if who_column else ""
            planned.append((by_id[record_id], choice, note, reviewer or who))
            line = reader.line_num + 1
    return [
        record_verdict(ledger, key, item, choice, who=reviewer, note=note) for item, choice, note, reviewer in planned
    ]


def export_adjudicated_gold(gold: GoldSet, verdicts: Mapping[str, Verdict], path: str | Path) -> Path:
    """Write the gold set with adjudicated labels in force, and who settled each and why."""
    target = Path(path)
    columns = [
        "record_id", "title", "abstract", "label_included", "original_label",
        "adjudicated", "choice", "note", "who", "adjudicated_at",
    ]  # fmt: skip
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for record_id, row in gold.rows.items():
                original = "include" if row.included else "exclude"
                verdict = verdicts.get(record_id)
                final = verdict.final_label if verdict else original
                writer.writerow(
                    [
                        record_id,
                        row.title,
                        row.abstract,
                        1 if final == "include" else 0,
                        original,
                        "yes" if verdict else "",
                        verdict.choice if verdict else "",
                        verdict.note if verdict else "",
                        verdict.who if verdict else "",
                        verdict.created_at if verdict else "",
                    ]
                )
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(target, f"cannot write adjudicated gold: {exc.strerror or exc}") from exc
    return target


def _options(item: Adjudicable) -> dict[str, tuple[str, str]]:
    """Letter -> (choice, what the prompt shows) for one record, in the order shown."""
    options: dict[str, tuple[str, str]] = {}
    if item.decision in ("include", "exclude"):
        options[item.decision_source[0]] = ("model", f"keep {item.decision_source} ({item.decision})")
    if item.gold_label is not None:
        options["g"] = ("gold", f"keep gold ({item.gold_label})")
    options.update(
        {"i": ("include", "include"), "e": ("exclude", "exclude"), "s": ("skip", "skip"), "q": ("quit", "quit")}
    )
    return options


def adjudicate_interactively(
    items: Sequence[Item],
    ledger: Ledger,
    key: str,
    *,
    who: str,
    show: Callable[[Item, int, int], None],
    ask: Callable[[str], str],
    say: Callable[[str], None],
) -> dict[str, int]:
    """Walk the unsettled records; every answer is in the ledger before the next record.

    Args:
        items: disagreements with gold, or panel conflicts, in audit order.
        ledger: where verdicts go.
        key: adjudication key of the decisions file.
        who: the reviewer.
        show: draws one record (item, position, total).
        ask: reads one line of input after showing a prompt.
        say: prints one line.

    Returns:
        Counts of records settled, skipped, and already settled before this session.
    """
    done = latest_verdicts(ledger, key)
    pending = [item for item in items if item.record_id not in done]
    tally = {"settled": 0, "skipped": 0, "already": len(items) - len(pending)}
    if tally["already"]:
        say(f"{tally['already']} of {len(items)} already settled in {ledger.path}; resuming.")
    for position, item in enumerate(pending, start=1):
        show(item, tally["already"] + position, len(items))
        options = _options(item)
        letters = "/".join(options)
        say("  ".join(f"[{letter}] {text}" for letter, (_, text) in options.items()))
        while True:
            answer = ask(f"verdict [{letters}]").strip().lower()
            picked = options.get(answer[:1]) if answer else None
            if picked is not None:
                choice = picked[0]
                break
            say(f"Please answer one of {letters}.")
        if choice == "quit":
            break
        if choice == "skip":
            tally["skipped"] += 1
            continue
        note = ask("note (why; Enter for none)").strip()
        verdict = record_verdict(ledger, key, item, choice, who=who, note=note)
        tally["settled"] += 1
        say(f"saved: {item.record_id} -> {verdict.final_label} ({verdict.choice}) by {who}")
    return tally
