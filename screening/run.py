"""What ``winnow screen`` reads before the lifecycle runs: the records, the protocol and the template."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from winnow.lifecycle import RunSpec
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.records.model import ReadResult, Record
from winnow.screening.screen import TitleAbstractStage
from winnow.templates import load_template

DEFAULT_TEMPLATE = "screen_title_abstract"


@dataclass(frozen=True)
class RecordSelection:
    """``--sample``, ``--sample-seed`` and ``--limit``: which of the read records a run screens."""

    sample: int | None = None
    sample_seed: int = 0
    limit: int | None = None


def select_records(path: Path, selection: RecordSelection) -> tuple[ReadResult, list[Record]]:
    """The records a run screens: read and de-duplicated, then --sample, then --limit."""
    read = read_records(path)
    records = read.records
    if selection.sample is not None and selection.sample < len(records):
        chosen = sorted(random.Random(selection.sample_seed).sample(range(len(records)), selection.sample))
        records = [records[i] for i in chosen]
    if selection.limit is not None:
        records = records[: selection.limit]
    return read, records


def title_abstract_stage(spec: RunSpec, selection: RecordSelection) -> TitleAbstractStage:
    """The screening stage for a command's files; a wrong --out suffix fails before anything is read."""
    from winnow.screening.decisions import output_format

    output_format(spec.output_path(TitleAbstractStage.suffix))
    loaded = load_protocol(spec.protocol_path)
    template = load_template(spec.template)
    read, records = select_records(spec.input_path, selection)
    return TitleAbstractStage(records, loaded, template, spec.sampling, read)
