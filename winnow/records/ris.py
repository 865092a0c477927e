"""RIS exports (EndNote, Zotero, Scopus, Embase, Covidence) via rispy.

rispy parses tags well but silently drops a record whose ``ER  -`` line is
missing and knows nothing about line numbers. So the file is cut into records
here, each cut remembers its starting line, and rispy only ever sees one
complete record. A truncated export then loses exactly the cut-off record, and
says so, instead of failing or vanishing quietly.
"""

from __future__ import annotations

from collections.abc import Iterator

import rispy

from winnow.errors import RecordParseError, RecordSkip
from winnow.records.assemble import RawRecord
from winnow.records.encoding import TextSource, as_source

_UNKNOWN_TAGS = "unknown_tag"


def _tag(line: str) -> str | None:
    """The two-letter tag of a ``XX  - value`` line (same test rispy applies)."""
    if line[2:5] == "  -" and line[:1].isalpha() and line[:2].isupper():
        return line[:2]
    return None


def read_ris(path: str, text: str | TextSource) -> Iterator[RawRecord | RecordSkip]:
    """Split an RIS export into records, each tagged with its ``TY`` line, as the file is read.

    Args:
        path: Shown in messages.
        text: The decoded file (``\\n`` line ends), or a source that reads it.

    Yields:
        One item per ``TY`` line: the parsed record, or a skip for a record that
        never reached its ``ER`` line or that rispy could not parse.

    Raises:
        RecordParseError: No line of the file starts an RIS record.
    """
    made = 0
    chunk: list[str] = []
    start: int | None = None
    for number, line in enumerate(as_source(text, path).lines(), start=1):
        tag = _tag(line)
        if tag == "TY":
            if start is not None:
                made += 1
                yield RecordSkip(path, "record has no ER (end of record) tag before the next TY tag", line=start)
            start, chunk = number, [line]
        elif start is not None:
            chunk.append(line)
            if tag == "ER":
                made += 1
                yield _parse_record(path, chunk, start, ordinal=made)
                start = None
    if start is not None:
        made += 1
        yield RecordSkip(path, "truncated record: the file ends before its ER (end of record) tag", line=start)
    if not made:
        raise RecordParseError(path, "no RIS records found (no line starts with the TY tag)")


def _parse_record(path: str, chunk: list[str], start: int, ordinal: int) -> RawRecord | RecordSkip:
    try:
        parsed = rispy.loads("\n".join(chunk))
    # rispy raises assorted built-in errors on odd continuation lines; any of
    # them means this one record is unreadable, never that the batch should stop.
    except Exception as exc:
        return RecordSkip(path, f"rispy cannot parse this record ({type(exc).__name__}: {exc})", line=start)
    if len(parsed) != 1:
        return RecordSkip(path, "rispy found no record between its TY and ER tags", line=start)
    return RawRecord(_as_fields(parsed[0]), ordinal=ordinal, line=start)


def _as_fields(entry: dict[str, object]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in entry.items():
        if name == _UNKNOWN_TAGS and isinstance(value, dict):
            for tag, values in value.items():
                fields[str(tag)] = [str(v) for v in values]
        elif isinstance(value, list):
            fields[name] = [str(v) for v in value]
        else:
            fields[name] = [str(value)]
    return fields
