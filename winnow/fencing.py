"""Untrusted text (titles, abstracts, PDF pages) goes into prompts as fenced data.

The fence carries a tag derived from the text itself, so the text cannot know
its own closing line in advance, and any fence-like run inside the text is
defused anyway. Control characters and bidirectional overrides, which can hide
instructions from a human reader of the prompt, are made visible.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_FENCE_LIKE = re.compile(r"<{2,}|>{2,}")
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f"}


def clean_untrusted(text: str) -> str:
    """Defuse fence-like runs and make invisible control characters visible."""
    out: list[str] = []
    for char in text:
        if char in "\n\t":
            out.append(char)
        elif char in _BIDI or (unicodedata.category(char) in ("Cc", "Cf") and char != "\u00ad"):
            out.append(f"[U+{ord(char):04X}]")
        else:
            out.append(char)
    return _FENCE_LIKE.sub(lambda m: " ".join(m.group(0)), "".join(out))


def fence_tag(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12].upper()


def fence(label: str, text: str) -> str:
    """Wrap text as data between ``<<<LABEL tag>>>`` and ``<<<END LABEL tag>>>`` lines."""
    body = clean_untrusted(text)
    tag = fence_tag(body)
    return f"<<<{label} {tag}>>>\n{body}\n<<<END {label} {tag}>>>"
