"""Prompt templates: files in ``prompts/``, loaded into langchain-core templates.

A template file declares its variables; the declaration is checked against the
variables the text actually uses when the file is loaded, so a typo fails before
any model call. The sha256 of the file's bytes travels with every result, so an
agreement figure can be traced to the exact prompt text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.prompts.chat import (
    AIMessagePromptTemplate,
    HumanMessagePromptTemplate,
    SystemMessagePromptTemplate,
)

from winnow.errors import TemplateError

_ROLES = {"system": "system", "user": "human"}


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    path: str
    sha256: str
    variables: tuple[str, ...]
    chat: ChatPromptTemplate

    def render(self, **values: Any) -> tuple[dict[str, str], ...]:
        """Messages as plain role/content dicts, the form every backend takes.

        Each message's own langchain template formats its text; going through
        ``chat.format_messages`` gives the same text but builds and validates a
        pydantic message per part, which was three quarters of the render time.
        """
        missing = set(self.variables) - set(values)
        if missing:
            raise TemplateError(self.path, f"missing value(s) for {', '.join(sorted(missing))}")
        return tuple(
            {"role": role, "content": prompt.format(**{k: values[k] for k in prompt.input_variables})}
            for role, prompt in self._parts
        )

    def bind(self, **fixed: Any) -> Callable[..., tuple[dict[str, str], ...]]:
        """``render`` with some values fixed for many calls: the same messages, text for text.

        A part that uses only fixed values (a screening prompt's system message: the
        review, question and criteria) is formatted once and its one string shared by
        every call, instead of a fresh copy of it per record.
        """
        parts = [
            (role, prompt, prompt.format(**{k: fixed[k] for k in prompt.input_variables}))
            if set(prompt.input_variables) <= fixed.keys()
            else (role, prompt, None)
            for role, prompt in self._parts
        ]

        def render(**values: Any) -> tuple[dict[str, str], ...]:
            merged = {**fixed, **values}
            missing = set(self.variables) - set(merged)
            if missing:
                raise TemplateError(self.path, f"missing value(s) for {', '.join(sorted(missing))}")
            return tuple(
                {
                    "role": role,
                    "content": text
                    if text is not None
                    else prompt.format(**{k: merged[k] for k in prompt.input_variables}),
                }
                for role, prompt, text in parts
            )

        return render

    @cached_property
    def _parts(self) -> tuple[tuple[str, Any], ...]:
        roles: dict[type, str] = {
            SystemMessagePromptTemplate: "system",
            HumanMessagePromptTemplate: "user",
            AIMessagePromptTemplate: "assistant",
        }
        return tuple((roles[type(message)], message.prompt) for message in self.chat.messages)  # type: ignore[union-attr]


def prompts_dir() -> Path:
    """The shipped prompts: ``prompts/`` is ``winnow.prompts`` when installed and in a checkout."""
    return Path(str(resources.files("winnow.prompts")))


def resolve_template(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    shipped = prompts_dir() / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    available = ", ".join(sorted(p.stem for p in prompts_dir().glob("*.yaml")))
    raise TemplateError(name_or_path, f"no such template; shipped templates: {available}")


def load_template(name_or_path: str) -> PromptTemplate:
    """Load and check a template by shipped name or by path."""
    path = resolve_template(name_or_path)
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TemplateError(path, f"not a readable YAML template: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(path, "a template is a YAML mapping with name, variables, system and user")
    for key in ("name", "variables", "user"):
        if key not in data:
            raise TemplateError(path, f"field {key}: required")
    declared = data["variables"]
    if not isinstance(declared, list) or not all(isinstance(v, str) for v in declared):
        raise TemplateError(path, "field variables: must be a list of names")
    parts = [(_ROLES[role], data[role]) for role in ("system", "user") if data.get(role)]
    try:
        chat = ChatPromptTemplate.from_messages(parts, template_format="f-string")
    except (ValueError, KeyError) as exc:
        raise TemplateError(path, f"template text does not parse: {exc}") from None
    used = set(chat.input_variables)
    if used != set(declared):
        undeclared = sorted(used - set(declared))
        unused = sorted(set(declared) - used)
        problems = []
        if undeclared:
            problems.append(f"uses undeclared variable(s) {', '.join(undeclared)}")
        if unused:
            problems.append(f"declares unused variable(s) {', '.join(unused)}")
        raise TemplateError(path, "; ".join(problems))
    return PromptTemplate(
        name=str(data["name"]),
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        variables=tuple(declared),
        chat=chat,
    )
