"""Put the likely includes first: a zero-shot prior that active learning takes over.

Before any label exists the order comes from the protocol alone: TF-IDF and
(when the ``embeddings`` extra is installed) sentence-embedding similarity
between the criteria and each record, plus P(include) from an earlier LLM run
when one is given. As the reviewer labels records, a logistic regression on
TF-IDF (and embedding) features learns from those labels, and the blend moves
from the prior to the learned model. Scores are blended as within-corpus
percentiles, so no component needs calibrated probabilities.

Both rankers and the schedule are deterministic for a given sequence of labels,
which is what lets ``winnow simulate`` reproduce its figures from a seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.sparse import csr_matrix, hstack
from scipy.stats import rankdata
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import cosine_similarity
from threadpoolctl import threadpool_limits

from winnow import embeddings as emb
from winnow.protocol import LoadedProtocol, Protocol
from winnow.records import Record

EmbeddingChoice = Literal["auto", "on", "off"]

# How many labels it takes for the learned model to weigh as much as the prior.
PRIOR_HALF_LIFE = 10.0


def record_text(record: Record) -> str:
    return f"{record.title}\n{record.abstract}".strip()


def protocol_query(protocol: Protocol) -> str:
    """What an include looks like, in the protocol's own words.

    Exclusion criteria are left out: their words ("animal studies", "reviews")
    describe what to drop, and similarity to them would pull those records up.
    """
    parts = [protocol.title, protocol.question, *(c.text for c in protocol.criteria.inclusion)]
    return "\n".join(p for p in parts if p.strip())


def percentile(scores: np.ndarray) -> np.ndarray:
    """Scores as ranks in (0, 1]; ties share the mean rank."""
    return np.asarray(rankdata(scores) / len(scores), dtype=np.float64)


@dataclass
class Features:
    """Every record's features, computed once per session."""

    tfidf: csr_matrix
    query_tfidf: csr_matrix
    embeddings: np.ndarray | None = None
    query_embedding: np.ndarray | None = None

    def matrix(self) -> csr_matrix:
        if self.embeddings is None:
            return self.tfidf
        return hstack([self.tfidf, csr_matrix(self.embeddings)], format="csr")


def build_features(
    texts: Sequence[str], query: str, *, embeddings: np.ndarray | None = None, query_embedding: np.ndarray | None = None
) -> Features:
    # No stop-word list and every term kept: sklearn's English list drops words such as
    # "system", and min_df=2 drops rare terms that mark includes. With them, WSS@95 fell
    # from 0.675 to 0.565 on Kitchenham 2010 and from 0.741 to 0.620 on Nagtegaal 2019.
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_df=0.95)
    if len(texts) < 3:
        vectorizer.set_params(max_df=1.0)
    tfidf = vectorizer.fit_transform([*texts, query])
    return Features(
        tfidf=tfidf[:-1].tocsr(),
        query_tfidf=tfidf[-1:].tocsr(),
        embeddings=embeddings,
        query_embedding=query_embedding,
    )


@dataclass(frozen=True)
class Prior:
    """The zero-shot order and the parts it came from, for the report."""

    score: np.ndarray
    components: tuple[str, ...]


def zero_shot_prior(features: Features, llm_p_include: np.ndarray | None = None) -> Prior:
    """Mean percentile of every zero-shot signal there is."""
    parts: list[np.ndarray] = [percentile(cosine_similarity(features.tfidf, features.query_tfidf).ravel())]
    names = ["tfidf-similarity"]
    if features.embeddings is not None and features.query_embedding is not None:
        similarity = features.embeddings @ features.query_embedding.ravel()
        parts.append(percentile(similarity))
        names.append("embedding-similarity")
    if llm_p_include is not None:
        parts.append(percentile(llm_p_include))
        names.append("llm-p-include")
    return Prior(score=np.mean(parts, axis=0), components=tuple(names))


def llm_scores(record_ids: Sequence[str], p_include: Mapping[str, float]) -> np.ndarray | None:
    """P(include) per record from an LLM run; records it lacks get the run's median."""
    if not p_include:
        return None
    fill = float(np.median(list(p_include.values())))
    return np.array([p_include.get(rid, fill) for rid in record_ids], dtype=np.float64)


def include_heavy_weights(y: np.ndarray, ratio: float) -> np.ndarray:
    """Sample weights giving the includes ``ratio`` times the total weight of the excludes.

    Includes are rare and missing one costs far more than reading one more
    exclude; weighting them up makes the model recall-oriented.
    """
    n_include = int(y.sum())
    n_exclude = len(y) - n_include
    weights = np.where(y == 1, 1.0, n_include / (ratio * max(n_exclude, 1)))
    return np.asarray(weights * (len(y) / weights.sum()))


@dataclass
class Ranker:
    """Scores every record from the prior and the labels so far.

    ``refit_due`` keeps the cost of a long session linear-ish: the model is
    refitted after every label while labels are few (when each one moves the
    ranking most), then after every 2% more labels.
    """

    features: Features
    prior: Prior
    seed: int = 0
    half_life: float = PRIOR_HALF_LIFE
    c: float = 1.0
    ratio: float = 10.0
    _matrix: csr_matrix = field(init=False, repr=False)
    _learned: np.ndarray | None = field(default=None, init=False, repr=False)
    _fitted_at: int = field(default=-1, init=False, repr=False)

    def __post_init__(self) -> None:
        self._matrix = self.features.matrix()

    @property
    def n(self) -> int:
        return int(self._matrix.shape[0])

    def refit_due(self, n_labels: int) -> bool:
        if self._fitted_at < 0 or n_labels <= 100:
            return n_labels != self._fitted_at
        return n_labels - self._fitted_at >= max(1, int(0.02 * n_labels))

    def learn(self, labelled: Sequence[int], labels: Sequence[bool]) -> None:
        """Refit on the labels so far, when both classes are present and a refit is due."""
        y = np.asarray(labels, dtype=np.int64)
        if not self.refit_due(len(y)):
            return
        self._fitted_at = len(y)
        if len(set(y.tolist())) < 2:
            self._learned = None
            return
        model = self._classifier()
        # One BLAS thread: on a busy two-core machine, threads spinning against each
        # other made each fit 25 times slower (1.4 s against 57 ms, measured).
        with threadpool_limits(limits=1):
            model.fit(self._matrix[np.asarray(labelled)], y, sample_weight=include_heavy_weights(y, self.ratio))
            self._learned = model.decision_function(self._matrix)

    def _classifier(self) -> LogisticRegression:
        return LogisticRegression(C=self.c, solver="liblinear", random_state=self.seed)

    def weight_of_learning(self, n_labels: int) -> float:
        if self._learned is None:
            return 0.0
        return n_labels / (n_labels + self.half_life)

    def scores(self, n_labels: int) -> np.ndarray:
        weight = self.weight_of_learning(n_labels)
        if weight == 0.0 or self._learned is None:
            return self.prior.score
        return np.asarray(weight * percentile(self._learned) + (1 - weight) * self.prior.score)

    def next_unread(self, read: np.ndarray, n_labels: int) -> int:
        """The highest-scoring record not yet read; ties go to the earlier record."""
        scores = np.where(read, -np.inf, self.scores(n_labels))
        return int(np.argmax(scores))


@dataclass(frozen=True)
class RankingInputs:
    """What the ranker was built from, for the report."""

    features: Features
    prior: Prior
    embeddings_note: str


def ranking_inputs(
    records: Sequence[Record],
    protocol: LoadedProtocol,
    *,
    p_include: Mapping[str, float] | None = None,
    embeddings: EmbeddingChoice = "auto",
    on_embed_progress: Callable[[int], None] | None = None,
) -> RankingInputs:
    """Features and the zero-shot prior for these records under this protocol."""
    texts = [record_text(r) for r in records]
    query = protocol_query(protocol.protocol)
    vectors = query_vector = None
    note = "off (--no-embeddings)"
    if embeddings != "off":
        if emb.available():
            vectors = emb.embed(texts, on_progress=on_embed_progress)
            query_vector = emb.embed([query])[0]
            note = f"{emb.MODEL_NAME} (sentence-transformers, offline)"
        elif embeddings == "on":
            raise emb.EmbeddingsUnavailable(f"--embeddings was asked for but the model is missing; {emb.EXTRA_HINT}")
        else:
            note = f"not installed, TF-IDF only ({emb.EXTRA_HINT})"
    features = build_features(texts, query, embeddings=vectors, query_embedding=query_vector)
    llm = llm_scores([r.record_id for r in records], p_include or {})
    return RankingInputs(features=features, prior=zero_shot_prior(features, llm), embeddings_note=note)
