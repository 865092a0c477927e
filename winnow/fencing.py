"""Untrusted text (titles, abstracts, PDF pages) goes into prompts as fenced data.

The fence carries a tag derived from the text itself, so the text cannot know
its own closing line in advance, and any fence-like run or chat-template token
inside the text is defused anyway. Control characters and bidirectional overrides, which can hide
instructions from a human reader of the prompt, are made visible.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

# Fence-like runs (<<, >>) and chat-template token edges (<|, |>): llama.cpp tokenises
# the whole prompt with special tokens on, so "<|im_end|>" in an abstract would end the
# user turn. A space goes between every such pair, which leaves no pair behind.
_FENCE_LIKE = re.compile(r"(?<=<)(?=[<|])|(?<=[|>])(?=>)")
_FENCE_PAIRS = ("<<", ">>", "<|", "|>")
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f"}


def clean_untrusted(text: str) -> str:
    """Defuse fence-like runs and make invisible control characters visible."""
    # Each distinct character is classified once (an abstract has ~100), then one
    # str.translate: a per-character Python loop cost ~1 ms per abstract.
    # Printable text (the usual abstract) has no control or format characters at all. A record
    # rendered for a prompt always has line ends, which are not printable but stay as they are.
    plain = text.isprintable() or text.replace("\n", " ").replace("\t", " ").isprintable()
    visible = {} if plain else {ord(c): f"[U+{ord(c):04X}]" for c in set(text) if _invisible(c)}
    cleaned = text.translate(visible) if visible else text
    if not any(pair in cleaned for pair in _FENCE_PAIRS):
        return cleaned
    return _FENCE_LIKE.sub(" ", cleaned)


@functools.lru_cache(maxsize=4096)
def _invisible(char: str) -> bool:
    if char in "\n\t":
        return False
    return char in _BIDI or (unicodedata.category(char) in ("Cc", "Cf") and char != "\u00ad")


def fence_tag(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12].upper()


def fence(label: str, text: str) -> str:
    """Wrap text as data between ``<<<LABEL tag>>>`` and ``<<<END LABEL tag>>>`` lines."""
    body = clean_untrusted(text)
    tag = fence_tag(body)
    return f"<<<{label} {tag}>>>\n{body}\n<<<END {label} {tag}>>>"
