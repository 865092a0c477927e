"""The offline MiniLM model ranks with the protocol, and its vectors are cached by text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from winnow import embeddings
from winnow.gold import load_gold
from winnow.protocol import load_protocol
from winnow.records import read_records
from winnow.screening.ranking.ranker import ranking_inputs, zero_shot_prior

FIXTURE = Path(__file__).parent / "fixtures" / "prioritise"

pytestmark = pytest.mark.skipif(not embeddings.available(), reason="the embeddings extra is not installed")


def test_vectors_are_unit_length_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "vectors.sqlite"
    texts = [
        "radiotherapy decision support software",
        "a randomised trial of aspirin",
        "radiotherapy decision support software",
    ]
    first = embeddings.embed(texts, cache=cache)
    assert first.shape == (3, 384)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.allclose(first[0], first[2])

    # A second call must come from the cache: the model is not touched.
    def no_model() -> None:
        raise AssertionError("model loaded although every vector was cached")

    monkeypatch.setattr(embeddings, "_model", no_model)
    assert np.array_equal(embeddings.embed(texts, cache=cache), first)


def test_embedding_similarity_ranks_includes_above_excludes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINNOW_CACHE_DIR", str(tmp_path))
    records = list(read_records(FIXTURE / "records.csv").records)
    protocol = load_protocol(FIXTURE / "protocol.yaml")
    inputs = ranking_inputs(records, protocol, embeddings="on")
    # The default prior keeps TF-IDF similarity only (docs/benchmarks.md, 8.2); the MiniLM one is there on request.
    assert inputs.prior.components == ("tfidf-similarity",)
    assert zero_shot_prior(inputs.features, embedding_similarity=True).components == (
        "tfidf-similarity",
        "embedding-similarity",
    )
    assert inputs.features.embeddings is not None
    similarity = inputs.features.embeddings @ inputs.features.query_embedding
    gold = load_gold(FIXTURE / "records.csv")
    truth = np.array([gold.label(r.record_id) for r in records])
    # Mean similarity of includes beats that of excludes on this real review (AUC-style check).
    wins = (similarity[truth][:, None] > similarity[~truth][None, :]).mean()
    assert wins > 0.7, wins
    assert (tmp_path / "embeddings.sqlite").is_file()
