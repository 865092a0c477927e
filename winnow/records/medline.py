"""PubMed MEDLINE / ``.nbib`` exports, read by a small tag parser.

Hand-written on purpose: the PyPI options are ``nbib`` (unmaintained since 2021)
and Biopython's ``Bio.Medline`` (a large scientific dependency), and neither
reports the line a record starts on, which every skip message here must name.
The format is simple: a 4-character left-justified tag, ``- ``, the value, and
continuation lines indented by six spaces; records start at ``PMID-`` and are
separated by blank lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from winnow.errors import RecordParseError, RecordSkip
from winnow.records.assemble import RawRecord
from winnow.records.encoding import TextSource, as_source

_TAG_LINE = re.compile(r"^([A-Z][A-Z0-9]{0,3}) {0,3}-(?: (.*))?$")
_ARTICLE_ID = re.compile(r"^(.*?)\s*\[(\w+)\]\s*$")
_ARTICLE_ID_TAGS = frozenset({"AID", "LID"})


class _Draft:
    """A record being collected, with the first problem found in it, if any."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.fields: dict[str, list[str]] = {}
        self.last_tag: str | None = None
        self.problem = ""
        self._continued: list[str] = []

    def add(self, tag: str, value: str) -> None:
        self.close_value()
        self.fields.setdefault(tag, []).append(value)
        self.last_tag = tag

    def extend(self, text: str) -> None:
        # Joined once in close_value: adding each line to the value as it came copied the whole
        # value per line, quadratic in its length (bench/reader_scale.py: 0.15 s/MB at 100 MB).
        assert self.last_tag is not None
        self._continued.append(text)

    def close_value(self) -> None:
        if self._continued and self.last_tag is not None:
            values = self.fields[self.last_tag]
            values[-1] = " ".join([values[-1], *self._continued]).strip()
            self._continued = []


def read_medline(path: str, text: str | TextSource) -> Iterator[RawRecord | RecordSkip]:
    """Split a MEDLINE export into records, each tagged with its first line, as the file is read.

    A record is handed over once it is finished: at a blank line, or at the ``PMID-``
    that starts the next one; nothing later changes it.

    Args:
        path: Shown in messages.
        text: The decoded file (``\\n`` line ends), or a source that reads it.

    Yields:
        One item per record: the raw fields (DOIs pulled out of ``AID``/``LID``)
        with the PMID as explicit id, or a skip naming the malformed line.

    Raises:
        RecordParseError: The file holds no MEDLINE tag lines at all.
    """
    made = 0
    current: _Draft | None = None
    for number, line in enumerate(as_source(text, path).lines(), start=1):
        if not line.strip():
            if current is not None:
                made += 1
                yield _finish(path, current, made)
            current = None
            continue
        match = _TAG_LINE.match(line)
        if match:
            tag, value = match.group(1), (match.group(2) or "").strip()
            if current is None or (tag == "PMID" and current.fields):
                if current is not None:
                    made += 1
                    yield _finish(path, current, made)
                current = _Draft(number)
            current.add(tag, value)
        elif current is not None and line[:1].isspace() and current.last_tag is not None:
            current.extend(line.strip())
        elif current is not None and not current.problem:
            current.problem = f"line {number} is neither a 'TAG - value' line nor an indented continuation"
    if current is not None:
        made += 1
        yield _finish(path, current, made)
    if not made:
        raise RecordParseError(path, "no MEDLINE records found (no line starts with a tag such as 'PMID- ')")


def _finish(path: str, draft: _Draft, ordinal: int) -> RawRecord | RecordSkip:
    draft.close_value()
    if draft.problem:
        return RecordSkip(path, draft.problem, line=draft.line)
    fields = dict(draft.fields)
    for tag in _ARTICLE_ID_TAGS & fields.keys():
        for value in fields[tag]:
            match = _ARTICLE_ID.match(value)
            if match and match.group(2).lower() == "doi":
                fields.setdefault("doi", []).append(match.group(1))
    pmid = next(iter(fields.get("PMID", [])), "")
    return RawRecord(fields, ordinal=ordinal, line=draft.line, explicit_id=pmid)
