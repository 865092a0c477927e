"""The review protocol: question, eligibility criteria and the extraction form.

Validated with pydantic on load so that a typo in a criterion id or a missing
field is caught before any model is paid for, with the field named. A protocol
and a stand-alone extraction form are read by the same reader, so both get the
same errors and the same file hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from winnow.errors import ProtocolError
from winnow.form import ExtractionForm, form_from_data

CRITERION_ID = r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$"


class Criterion(BaseModel):
    """One eligibility criterion; ``kind`` says what "met" means for the decision."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=CRITERION_ID)
    text: str = Field(min_length=3)
    kind: Literal["inclusion", "exclusion"] = "inclusion"


class Criteria(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inclusion: list[Criterion] = Field(default_factory=list)
    exclusion: list[Criterion] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _set_kinds(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for kind in ("inclusion", "exclusion"):
                items = data.get(kind) or []
                if isinstance(items, list):
                    data[kind] = [{**item, "kind": kind} if isinstance(item, dict) else item for item in items]
        return data


class Protocol(BaseModel):
    """A review protocol as written by the reviewer."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3)
    question: str = Field(min_length=3)
    reference_standard: Literal["title_abstract", "full_text", "unknown"] = "unknown"
    criteria: Criteria
    extraction: ExtractionForm | None = None
    notes: str = ""

    @field_validator("criteria")
    @classmethod
    def _criteria_present_and_unique(cls, value: Criteria) -> Criteria:
        everything = value.inclusion + value.exclusion
        if not everything:
            raise ValueError("at least one inclusion or exclusion criterion is required")
        seen: set[str] = set()
        for criterion in everything:
            if criterion.id in seen:
                raise ValueError(f"criterion id {criterion.id!r} is used twice")
            seen.add(criterion.id)
        return value

    @property
    def all_criteria(self) -> list[Criterion]:
        return [*self.criteria.inclusion, *self.criteria.exclusion]

    @property
    def criterion_ids(self) -> list[str]:
        return [c.id for c in self.all_criteria]


class LoadedProtocol(BaseModel):
    """A protocol plus where it came from, so results can cite the exact file."""

    protocol: Protocol
    path: str
    sha256: str


def shipped_protocols() -> dict[str, Path]:
    """Example protocols that ship with winnow, by name."""
    folder = Path(str(resources.files("winnow.protocols")))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_protocol(name_or_path: str | Path) -> Path:
    """A path as given, or the shipped protocol of that name."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    shipped = shipped_protocols()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    names = ", ".join(shipped) or "none"
    raise ProtocolError(path, f"no such protocol file or shipped protocol (shipped: {names})")


def _read_yaml(path: str | Path, what: str) -> tuple[Path, Any, str]:
    """The file a name resolves to, its parsed YAML and its sha256; errors name the file and line."""
    source = resolve_protocol(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ProtocolError(source, f"no such {what} file") from None
    except OSError as exc:
        raise ProtocolError(source, f"cannot read {what}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(source, f"{what} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ProtocolError(source, f"invalid YAML: {problem}", line=line) from None
    return source, data, hashlib.sha256(raw).hexdigest()


def _validate_protocol(data: Any, source: Path) -> Protocol:
    if not isinstance(data, dict):
        raise ProtocolError(source, "protocol must be a YAML mapping with title, question and criteria")
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if part not in ("function-after",)) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ProtocolError(source, f"field {field}: {message}{more}") from None


def load_protocol(path: str | Path) -> LoadedProtocol:
    """Read and validate a protocol YAML (or a shipped one by name); errors name the file and the field."""
    source, data, digest = _read_yaml(path, "protocol")
    return LoadedProtocol(protocol=_validate_protocol(data, source), path=str(source), sha256=digest)


@dataclass(frozen=True)
class LoadedForm:
    """An extraction form plus where it came from, so a run can cite the exact file."""

    form: ExtractionForm
    title: str
    path: str
    sha256: str


def load_form(path: str | Path) -> LoadedForm:
    """The extraction form of a protocol YAML (or shipped protocol name), or of a stand-alone form YAML."""
    source, data, digest = _read_yaml(path, "form or protocol")
    if isinstance(data, dict) and "criteria" in data:
        protocol = _validate_protocol(data, source)
        if protocol.extraction is None:
            raise ProtocolError(source, "the protocol has no extraction section (extraction: fields: [...])")
        return LoadedForm(protocol.extraction, protocol.title, str(source), digest)
    form = form_from_data(data, source)
    return LoadedForm(form, form.name.replace("_", " "), str(source), digest)
