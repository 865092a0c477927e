"""The one table that maps every export's field names onto Record fields.

RIS tags, rispy's key names, MEDLINE tags, BibTeX fields and spreadsheet headers
all land here, so a new export format or a tool's odd column name is a one-line
change instead of a hunt through each reader. Lookup is case-insensitive and
treats spaces, dots and hyphens like underscores ("Publication Year" is
``publication_year``). Within a field, aliases are listed best first: when a
record carries several (RIS ``T2`` and ``JO``), the earliest non-empty one wins.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Final

FIELD_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "record_id": ("record_id", "id", "key", "citation_key"),
    "title": ("title", "ti", "t1", "primary_title", "article_title", "document_title"),
    "abstract": ("abstract", "ab", "n2", "abstract_note", "notes_abstract"),
    "doi": ("doi", "do", "di"),
    "pmid": ("pmid", "pubmed_id", "pubmedid", "accession_number", "an"),
    "year": ("year", "py", "y1", "publication_year", "date", "dp", "da", "pubyear"),
    "authors": ("authors", "author", "fau", "au", "first_authors", "a1"),
    "journal": (
        "journal",
        "jo",
        "jf",
        "t2",
        "secondary_title",
        "journal_name",
        "jt",
        "journaltitle",
        "source_title",
        "alternate_title3",
        "ta",
        "alternate_title2",
        "booktitle",
    ),
    "keywords": ("keywords", "kw", "mh", "ot", "author_keywords", "mesh_terms", "manual_tags"),
}

_SEPARATORS = re.compile(r"[\s.\-]+")


def normalise_name(name: str) -> str:
    """Fold a header or tag into the form the alias table is written in."""
    return _SEPARATORS.sub("_", name.strip().strip("\ufeff").casefold()).strip("_")


def _build_lookup() -> dict[str, tuple[str, int]]:
    lookup: dict[str, tuple[str, int]] = {}
    for canonical, aliases in FIELD_ALIASES.items():
        for rank, alias in enumerate(aliases):
            key = normalise_name(alias)
            if key in lookup:
                raise ValueError(f"alias {alias!r} is listed for both {lookup[key][0]} and {canonical}")
            lookup[key] = (canonical, rank)
    return lookup


_LOOKUP: Final[dict[str, tuple[str, int]]] = _build_lookup()


@functools.lru_cache(maxsize=4096)
def _hit(name: str) -> tuple[str, int] | None:
    """A source field's Record field and alias rank: the same few names come with every record."""
    return _LOOKUP.get(normalise_name(name))


def canonical_field(name: str) -> str | None:
    """The Record field a source field feeds, or None if winnow ignores it."""
    hit = _hit(name)
    return hit[0] if hit else None


def resolve_fields(raw: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Pick, for each Record field, the values of its best non-empty alias.

    Args:
        raw: Source field name to its values, exactly as the export spelled it.

    Returns:
        Canonical field name to the stripped, non-empty values of the
        highest-ranked alias present. Fields with no usable alias are absent.
    """
    best: dict[str, tuple[int, list[str]]] = {}
    for name, values in raw.items():
        hit = _hit(name)
        if hit is None:
            continue
        canonical, rank = hit
        kept = [v.strip() for v in values if v and v.strip()]
        if kept and (canonical not in best or rank < best[canonical][0]):
            best[canonical] = (rank, kept)
    return {canonical: values for canonical, (_, values) in best.items()}
