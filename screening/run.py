"""What ``winnow screen`` reads before the lifecycle runs: records, protocol, templates and reviewers."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from winnow.backends import default_model_id
from winnow.errors import InputError
from winnow.lifecycle import ModelChoice, RunSpec, Stage
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.records.model import ReadResult, Record
from winnow.records.store import RecordStore
from winnow.screening.panel import HumanReviewer, PanelStage, Reviewer, reviewer_name
from winnow.screening.screen import TitleAbstractStage
from winnow.templates import load_template

DEFAULT_TEMPLATE = "screen_title_abstract"


@dataclass(frozen=True)
class RecordSelection:
    """``--sample``, ``--sample-seed`` and ``--limit``: which of the read records a run screens."""

    sample: int | None = None
    sample_seed: int = 0
    limit: int | None = None


def select_records(path: Path, selection: RecordSelection) -> tuple[ReadResult, Sequence[Record]]:
    """The records a run screens: read and de-duplicated, then --sample, then --limit.

    A selection stays in the store ``read_records`` keeps the records in.
    """
    read = read_records(path)
    records = read.records
    chosen: Sequence[int] = range(len(records))
    if selection.sample is not None and selection.sample < len(records):
        chosen = sorted(random.Random(selection.sample_seed).sample(range(len(records)), selection.sample))
    if selection.limit is not None:
        chosen = chosen[: selection.limit]
    if len(chosen) == len(records):
        return read, records
    if isinstance(records, RecordStore):
        return read, records.select(chosen)
    return read, [records[i] for i in chosen]


def title_abstract_stage(spec: RunSpec, selection: RecordSelection) -> TitleAbstractStage:
    """The screening stage for a command's files; a wrong --out suffix fails before anything is read."""
    from winnow.screening.decisions import output_format

    output_format(spec.output_path(TitleAbstractStage.suffix))
    loaded = load_protocol(spec.protocol_path)
    template = load_template(spec.template)
    read, records = select_records(spec.input_path, selection)
    return TitleAbstractStage(records, loaded, template, spec.sampling, read)


@dataclass(frozen=True)
class PanelRequest:
    """``-m`` given more than once, ``--reviewers FILE``, ``--samples K``, ``--reviewer-labels`` and ``--combine``."""

    models: tuple[ModelChoice, ...] = ()
    reviewers_file: Path | None = None
    samples: int = 1
    human_labels: tuple[Path, ...] = ()
    combine: str = "any"

    @property
    def is_panel(self) -> bool:
        return len(self.models) > 1 or self.samples > 1 or bool(self.human_labels) or self.reviewers_file is not None


class _ReviewerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.#-]{1,40}$")
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    template: str | None = None
    samples: int = Field(default=1, ge=1, le=20)


def read_reviewers_file(path: Path) -> list[_ReviewerEntry]:
    """A small YAML list of reviewers, for panels whose models need their own base URL or key."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot read reviewers file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    items = data.get("reviewers") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise InputError(path, "a reviewers file is a list of {model, name, base_url, api_key_env, template, samples}")
    entries = []
    for index, item in enumerate(items, start=1):
        try:
            entries.append(_ReviewerEntry.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            raise InputError(path, f"reviewer {index}: {where}: {first['msg']}") from None
    return entries


def panel_reviewers(spec: RunSpec, panel: PanelRequest) -> list[Reviewer]:
    """The model reviewers: the reviewers file's, else one per ``-m`` (all on the run's base URL and key)."""
    reviewers: list[Reviewer] = []
    if panel.reviewers_file is not None:
        for entry in read_reviewers_file(panel.reviewers_file):
            key = os.environ.get(entry.api_key_env) if entry.api_key_env else spec.model.api_key
            choice = dc_replace(spec.model, model_id=entry.model, base_url=entry.base_url or spec.model.base_url,
                                api_key=key)  # fmt: skip
            name = entry.name or reviewer_name(entry.model, [r.name for r in reviewers])
            reviewers.append(Reviewer(name, choice, entry.template or spec.template, entry.samples))
        return reviewers
    for choice in panel.models or (spec.model,):
        model_id = choice.model_id or default_model_id()
        name = reviewer_name(model_id, [r.name for r in reviewers])
        reviewers.append(Reviewer(name, dc_replace(choice, model_id=model_id), spec.template, panel.samples))
    return reviewers


def read_human_labels(path: Path) -> HumanReviewer:
    """A person's labels as a reviewer, read by the same reader as every gold file."""
    from winnow.gold import load_gold

    gold = load_gold(path)
    labels = {rid: ("include" if row.included else "exclude") for rid, row in gold.rows.items()}
    return HumanReviewer(path.stem, labels, str(path))


def screening_stage(spec: RunSpec, selection: RecordSelection, panel: PanelRequest) -> Stage:
    """One reviewer's stage, or a panel's when several reviewers, answers or people are asked for."""
    if not panel.is_panel:
        return title_abstract_stage(spec, selection)
    from winnow.screening.decisions import output_format

    output_format(spec.output_path(PanelStage.suffix))
    reviewers = panel_reviewers(spec, panel)
    humans = [read_human_labels(path) for path in panel.human_labels]
    loaded = load_protocol(spec.protocol_path)
    templates = {r.template: load_template(r.template) for r in reviewers}
    read, records = select_records(spec.input_path, selection)
    try:
        return PanelStage(
            records, loaded, [(r, templates[r.template]) for r in reviewers], humans, spec.sampling, panel.combine, read
        )
    except ValueError as exc:
        raise InputError(panel.reviewers_file or spec.input_path, str(exc)) from None
