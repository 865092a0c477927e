"""Realistic search exports and decisions tables of any size, for the million-record benchmarks.

Usage: python bench/scale_records.py records OUT.csv N   (a search export)
       python bench/scale_records.py decisions DIR N    (DIR/decisions.csv and DIR/gold.csv)

Every record is built from a real title and abstract of the shared screening sets
(``../shared/data/screening``, or ``$WINNOW_SCREENING_DATA``; the repository's own
gold set when neither is there), varied so that records stay distinct papers: the
title gains a study design and a setting, the abstract's sentences are rotated and
one sentence of another abstract joins them, and each record has its own DOI and a
year. A share of records (``DUPLICATE_SHARE``) are the same paper exported twice
(same DOI, title and abstract under another id), as two databases export it, so
de-duplication has real work to do. The same N and seed always give the same bytes.
"""

from __future__ import annotations

import csv
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENING_DATA = Path(os.environ.get("WINNOW_SCREENING_DATA") or ROOT.parent / "shared" / "data" / "screening")
FALLBACK = ROOT / "gold" / "dennstaedt_2024_cdss_ro" / "records.csv"
DUPLICATE_SHARE = 0.02
RECORD_COLUMNS = ("record_id", "title", "abstract", "year", "doi", "authors", "journal")

DESIGNS = (
    "a randomised controlled trial", "a prospective cohort study", "a retrospective cohort study",
    "a case-control study", "a cross-sectional survey", "a systematic review", "a pilot study",
    "a multicentre trial", "a registry study", "a qualitative study", "a diagnostic accuracy study",
)  # fmt: skip
SETTINGS = (
    "in primary care", "in older adults", "in children", "in Scandinavia", "in East Asia",
    "in a tertiary hospital", "in low-income countries", "in women", "in outpatients",
    "in intensive care", "in a national database", "in community settings", "in veterans",
)  # fmt: skip
JOURNALS = (
    "BMJ", "Lancet", "JAMA", "N Engl J Med", "PLoS One", "BMC Med", "Radiother Oncol",
    "Int J Radiat Oncol Biol Phys", "J Clin Oncol", "Ann Intern Med", "Med Phys", "Sci Rep",
)  # fmt: skip
SURNAMES = (
    "Smith", "Lee", "Garcia", "Muller", "Rossi", "Chen", "Kim", "Nguyen", "Jensen", "Silva",
    "Kowalski", "Tanaka", "Okafor", "Dubois", "Novak", "Haddad", "Olsen", "Costa",
)  # fmt: skip


@dataclass(frozen=True)
class Paper:
    title: str
    abstract: str


def load_pool(source: Path = SCREENING_DATA) -> list[Paper]:
    """Every real title with an abstract in the shared screening sets, in a fixed order."""
    files = sorted(p for p in source.glob("*/*.csv") if not p.name.startswith("labels_")) if source.is_dir() else []
    pool: list[Paper] = []
    csv.field_size_limit(2**31 - 1)
    for path in files or [FALLBACK]:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                title, abstract = " ".join(row["title"].split()), " ".join(row["abstract"].split())
                if title and abstract:
                    pool.append(Paper(title, abstract))
    return pool


def _sentences(text: str) -> list[str]:
    parts = [part.strip() for part in text.replace("? ", "?. ").split(". ") if part.strip()]
    return [part if part.endswith((".", "?", "!")) else part + "." for part in parts]


def papers(n: int, *, seed: int = 0, pool: list[Paper] | None = None) -> Iterator[dict[str, str]]:
    """N records as CSV rows: varied real papers, with ``DUPLICATE_SHARE`` exported twice."""
    pool = pool or load_pool()
    rng = random.Random(seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    every = round(1 / DUPLICATE_SHARE) if DUPLICATE_SHARE else 0
    made: list[dict[str, str]] = []  # a bounded window of earlier records, to copy duplicates from
    for i in range(n):
        if every and i % every == every - 1 and made:
            twin = dict(made[rng.randrange(len(made))])
            twin["record_id"] = f"s{i:07d}"
            yield twin
            continue
        base = pool[order[i % len(pool)]]
        other = pool[order[(i * 7919 + 13) % len(pool)]]
        variant = i // len(pool)
        title = base.title
        if variant:
            design, setting = DESIGNS[variant % len(DESIGNS)], SETTINGS[variant // len(DESIGNS) % len(SETTINGS)]
            title = f"{title.rstrip('.')}: {design} {setting}"
            if variant >= len(DESIGNS) * len(SETTINGS):
                title += f" (cohort {variant // (len(DESIGNS) * len(SETTINGS))})"
        sentences = _sentences(base.abstract)
        if variant and len(sentences) > 1:
            turn = variant % len(sentences)
            sentences = sentences[turn:] + sentences[:turn]
            borrowed = _sentences(other.abstract)
            if borrowed:
                sentences.insert(len(sentences) // 2, borrowed[variant % len(borrowed)])
        authors = "; ".join(f"{rng.choice(SURNAMES)} {chr(65 + rng.randrange(26))}" for _ in range(rng.randint(1, 6)))
        row = {
            "record_id": f"s{i:07d}",
            "title": title,
            "abstract": " ".join(sentences),
            "year": str(1990 + (i * 31 + variant) % 36),
            "doi": f"10.{1000 + i % 9000}/scale.{i}",
            "authors": authors,
            "journal": JOURNALS[i % len(JOURNALS)],
        }
        if len(made) < 5000:
            made.append(row)
        else:
            made[rng.randrange(len(made))] = row
        yield row


def write_records(path: Path, n: int, *, seed: int = 0) -> Path:
    """A search export of N records (CSV, the columns of ``RECORD_COLUMNS``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RECORD_COLUMNS)
        writer.writeheader()
        writer.writerows(papers(n, seed=seed))
    return path


CRITERIA = ("I1", "I2", "I3", "E1", "E2")
REASONS = (
    "The abstract reports original research on a clinical decision-support system.",
    "The record describes a review article rather than original research.",
    "No software-based system is described in the title or abstract.",
    "The system is aimed at clinicians working in radiation oncology.",
    "The model is a prognostic score that is not part of a software application.",
    "It is unclear from the abstract whether the tool supports clinical decisions.",
)
RATIONALES = (
    "The record studies a software tool that supports clinicians' treatment decisions in radiation therapy,"
    " so every inclusion criterion is met and no exclusion criterion applies.",
    "The abstract describes a review of published models, not an original evaluation of a decision-support system,"
    " so the first inclusion criterion fails.",
    "The title and abstract do not say enough to judge whether the system is software based; a human should read it.",
)
DECISION_COLUMNS = (
    "record_id", "title", "year", "decision", "model_decision", "p_include", "confidence_source", "rationale",
    *(f"criterion:{c}" for c in CRITERIA),
    *(f"reason:{c}" for c in CRITERIA),
    "abstract_missing", "flags", "duplicates", "error", "abstract", "doi", "pmid", "model", "served_model",
    "template_name", "template_sha256", "run_id", "call_id",
)  # fmt: skip


def write_decisions(folder: Path, n: int, *, prevalence: float = 0.03, seed: int = 1) -> tuple[Path, Path]:
    """A decisions table with every column winnow writes (real abstracts), and its gold file.

    P(include) is drawn around 0.75 for gold includes and 0.2 for excludes, and the
    decision follows it (include above 0.6, exclude below 0.35, uncertain between),
    so agreement is imperfect and the audit has disagreements of every kind.
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    decisions, gold = folder / "decisions.csv", folder / "gold.csv"
    with decisions.open("w", newline="", encoding="utf-8") as d, gold.open("w", newline="", encoding="utf-8") as g:
        table = csv.DictWriter(d, fieldnames=DECISION_COLUMNS)
        table.writeheader()
        labels = csv.writer(g)
        labels.writerow(["record_id", "title", "label_included"])
        for i, paper in enumerate(papers(n, seed=seed)):
            paper["record_id"] = f"r{i:07d}"  # the export's twins were merged by the run: ids are unique here
            included = rng.random() < prevalence
            p = min(1.0, max(0.0, rng.gauss(0.75 if included else 0.2, 0.18)))
            decision = "include" if p > 0.6 else "exclude" if p < 0.35 else "uncertain"
            row = {
                "record_id": paper["record_id"],
                "title": paper["title"],
                "year": paper["year"],
                "decision": decision,
                "model_decision": "exclude" if decision == "uncertain" else decision,
                "p_include": f"{p:.6f}",
                "confidence_source": "token_logprobs",
                "rationale": RATIONALES[0 if decision == "include" else 1 if decision == "exclude" else 2],
                "abstract_missing": "false",
                "flags": "exclude_without_failed_criterion" if decision == "uncertain" else "",
                "duplicates": "",
                "error": "",
                "abstract": paper["abstract"],
                "doi": paper["doi"],
                "pmid": str(30_000_000 + i),
                "model": "openai:gpt-4o-mini",
                "served_model": "gpt-4o-mini-2024-07-18",
                "template_name": "screen_title_abstract",
                "template_sha256": "3f" * 32,
                "run_id": "20261201-120000-abcdef",
                "call_id": str(i + 1),
            }
            for c in CRITERIA:
                row[f"criterion:{c}"] = rng.choice(("met", "met", "not_met", "unclear"))
                row[f"reason:{c}"] = REASONS[rng.randrange(len(REASONS))]
            table.writerow(row)
            labels.writerow([row["record_id"], row["title"], 1 if included else 0])
    return decisions, gold


def main(argv: list[str]) -> None:
    kind, target, n = argv[0], Path(argv[1]), int(argv[2])
    if kind == "records":
        print(write_records(target, n))
    elif kind == "decisions":
        print(*write_decisions(target, n))
    else:
        raise SystemExit(f"unknown kind {kind!r}: records or decisions")


if __name__ == "__main__":
    main(sys.argv[1:])
