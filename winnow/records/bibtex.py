"""BibTeX exports via bibtexparser 2.x.

bibtexparser keeps going past a broken entry and hands it back as a failed
block, which maps directly onto "skip this record, keep the batch". A second
entry with an already-used key is passed on as an ordinary record so the shared
duplicate-id check reports it in the same words as for every other format.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import bibtexparser
from bibtexparser import model

from winnow.errors import RecordParseError, RecordSkip
from winnow.records.assemble import RawRecord
from winnow.records.encoding import TextSource, as_source

_LATEX_ESCAPES = re.compile(r"\\([&%$#_{}])")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_KEYWORD_SEPARATORS = re.compile(r"[;,]")


def read_bibtex(path: str, text: str | TextSource) -> Iterator[RawRecord | RecordSkip]:
    """Turn each BibTeX entry (or failed block) into one item.

    bibtexparser parses a whole string, so this reader alone holds the file's text.

    Args:
        path: Shown in messages.
        text: The decoded file, or a source that reads it.

    Returns:
        Raw records keyed by the entry key, and skips for blocks bibtexparser
        could not parse, each with the block's 1-based start line.

    Raises:
        RecordParseError: The file contains no ``@type{...}`` entry at all.
    """
    try:
        library = bibtexparser.parse_string(as_source(text, path).read())
    # A parser bug on hostile input must still surface as "this file", not a traceback.
    except Exception as exc:
        raise RecordParseError(path, f"bibtexparser failed ({type(exc).__name__}: {exc})") from exc
    items: list[RawRecord | RecordSkip] = []
    for block in library.blocks:
        line = block.start_line + 1 if block.start_line is not None else None
        if isinstance(block, model.DuplicateBlockKeyBlock) and isinstance(block.ignore_error_block, model.Entry):
            items.append(_from_entry(block.ignore_error_block, ordinal=len(items) + 1, line=line))
        elif isinstance(block, model.ParsingFailedBlock):
            items.append(RecordSkip(path, f"BibTeX block not parsed: {_reason(block)}", line=line))
        elif isinstance(block, model.Entry):
            items.append(_from_entry(block, ordinal=len(items) + 1, line=line))
    if not items:
        raise RecordParseError(path, "no BibTeX entries found (no '@type{key, ...}' block)")
    return iter(items)


def _reason(block: model.ParsingFailedBlock) -> str:
    error = block.error
    reason = getattr(error, "abort_reason", "") or str(error) or type(error).__name__
    return " ".join(str(reason).split())


def _from_entry(entry: model.Entry, *, ordinal: int, line: int | None) -> RawRecord:
    fields: dict[str, list[str]] = {}
    for field in entry.fields:
        name = field.key.casefold()
        value = _plain(str(field.value))
        if name == "author":
            fields[name] = _AND.split(value)
        elif name == "keywords":
            fields[name] = _KEYWORD_SEPARATORS.split(value)
        else:
            fields[name] = [value]
    return RawRecord(fields, ordinal=ordinal, line=line, explicit_id=entry.key)


def _plain(value: str) -> str:
    """Drop BibTeX case-protecting braces and escapes that would leak into prompts."""
    return _LATEX_ESCAPES.sub(r"\1", value).replace("{", "").replace("}", "")
