"""Reading label probabilities out of token distributions, without inventing any.

Both the embedded model (raw next-token logits) and OpenAI-compatible servers
(top log-probabilities) give a distribution over the first token of the label
value. Mass is summed per label over the tokens that can begin it and then
renormalised across labels, which is what a grammar or schema constrained to
those labels would do. When no candidate token carries mass, there is no
probability to report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*"')


def label_value_offset(text: str, field_name: str) -> int | None:
    """Character offset where the string value of the top-level ``field_name`` begins."""
    for match in _KEY.finditer(text):
        if match.group(1) == field_name and _depth_at(text, match.start()) == 1:
            return match.end()
    return None


def _depth_at(text: str, offset: int) -> int:
    depth = 0
    in_string = False
    escaped = False
    for char in text[:offset]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return depth


def label_probs_from_candidates(
    candidates: Iterable[tuple[str, float]], labels: Iterable[str]
) -> dict[str, float] | None:
    """Probabilities per label from (token text, log-probability) pairs.

    A token counts toward a label when, stripped of a leading quote or space, it is
    a non-empty prefix of that label (or the label is a prefix of it).
    """
    wanted = list(labels)
    mass = dict.fromkeys(wanted, 0.0)
    seen: set[str] = set()
    for token, logprob in candidates:
        if token in seen or logprob is None or math.isinf(logprob):
            continue
        seen.add(token)
        piece = token.lstrip(' "').lower()
        if not piece:
            continue
        for label in wanted:
            if label.startswith(piece) or piece.startswith(label):
                mass[label] += math.exp(logprob)
                break
    total = sum(mass.values())
    if total <= 0.0:
        return None
    return {label: value / total for label, value in mass.items()}
