"""Put the likely includes first: a zero-shot prior, then learners weighted by how they do on this review.

Before any label exists the order comes from the protocol alone: TF-IDF and
(when the ``embeddings`` extra is installed) sentence-embedding similarity
between the criteria and each record, plus P(include) from an earlier LLM run
when one is given. As the reviewer labels records, several learners that see the
records differently (``screening/learners.py``) learn from those labels, and Hedge
(``screening/hedge.py``) weights each one by how high it had ranked the records the
reviewer then labelled include. Scores are fused as within-corpus percentiles, so
no learner needs calibrated probabilities.

The learners, the weights and the refit schedule are deterministic for a given
sequence of labels, which is what lets ``winnow simulate`` reproduce its figures
from a seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.sparse import csr_matrix
from scipy.stats import rankdata
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from winnow import embeddings as emb
from winnow.protocol import LoadedProtocol, Protocol
from winnow.records import Record
from winnow.screening.hedge import Hedge, fuse, rank_loss
from winnow.screening.learners import LEARNED, Fixed, Learner, build_learners

EmbeddingChoice = Literal["auto", "on", "off"]

# Global settings, chosen by leave-one-dataset-out over the 17 shared sets (docs/benchmarks.md, 8).
DEFAULT_LEARNERS: tuple[str, ...] = LEARNED
DEFAULT_ETA = 4.0
# How many labels it takes for the learners to weigh as much as the zero-shot prior.
DEFAULT_HALF_LIFE = 10.0
DEFAULT_SHARE = 0.05


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
    llm: np.ndarray | None = None


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
    return Prior(score=np.mean(parts, axis=0), components=tuple(names), llm=llm_p_include)


def llm_scores(record_ids: Sequence[str], p_include: Mapping[str, float]) -> np.ndarray | None:
    """P(include) per record from an LLM run; records it lacks get the run's median."""
    if not p_include:
        return None
    fill = float(np.median(list(p_include.values())))
    return np.array([p_include.get(rid, fill) for rid in record_ids], dtype=np.float64)


@dataclass(frozen=True)
class RankerConfig:
    """The global settings, chosen by leave-one-dataset-out over the 17 shared sets (docs/benchmarks.md, 8)."""

    learners: tuple[str, ...] = DEFAULT_LEARNERS
    eta: float = DEFAULT_ETA
    half_life: float = DEFAULT_HALF_LIFE
    share: float = DEFAULT_SHARE


def describe_combiner(config: RankerConfig) -> str:
    """The combiner and its settings, as a report names them."""
    return (
        f"Hedge (exponential weights, Freund & Schapire 1997) over the learners' percentile ranks, "
        f"learning rate {config.eta:g}, Fixed Share {config.share:g} (Herbster & Warmuth 1998), "
        f"blended with the zero-shot prior, whose weight is {config.half_life:g}/(labels + {config.half_life:g}); "
        f"loss = share of unread records a learner ranked above each new include"
    )


@dataclass
class Ranker:
    """Scores every record from the learners, weighted by how they have ranked this review's includes.

    ``refit_due`` keeps the cost of a long session linear-ish: the learners are
    refitted after every label while labels are few (when each one moves the
    ranking most), then after every 2% more labels. Between refits each learner
    keeps its last scores, and those are the scores its losses are measured on,
    so a learner is always judged on a record before it has seen its label.
    """

    features: Features
    prior: Prior
    seed: int = 0
    config: RankerConfig = field(default_factory=RankerConfig)
    experts: list[Learner] = field(init=False, repr=False)
    hedge: Hedge = field(init=False, repr=False)
    _percentiles: np.ndarray = field(init=False, repr=False)
    _awake: np.ndarray = field(init=False, repr=False)
    _read: np.ndarray = field(init=False, repr=False)
    _seen: int = field(default=0, init=False, repr=False)
    _fitted_at: int = field(default=-1, init=False, repr=False)

    def __post_init__(self) -> None:
        fixed: list[Learner] = []
        if self.prior.llm is not None:
            fixed.append(Fixed("llm-p-include", self.prior.llm))
        learned = build_learners(
            self.config.learners, tfidf=self.features.tfidf, embeddings=self.features.embeddings, seed=self.seed
        )
        self.experts = [*fixed, *learned]
        self.hedge = Hedge.over(
            [e.name for e in self.experts],
            [not e.learned for e in self.experts],
            eta=self.config.eta,
            prior_share=1 / len(self.config.learners) if fixed else 0.0,
            share=self.config.share,
        )
        self._percentiles = np.zeros((len(self.experts), self.n))
        self._awake = np.zeros(len(self.experts), dtype=bool)
        for k, expert in enumerate(self.experts):
            if not expert.learned:
                self._percentiles[k] = percentile(expert.scores(np.zeros(0, dtype=np.int64), np.zeros(0)))  # type: ignore[arg-type]
                self._awake[k] = True
        self._read = np.zeros(self.n, dtype=bool)

    @property
    def n(self) -> int:
        return int(self.features.tfidf.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        return self.hedge.names

    def refit_due(self, n_labels: int) -> bool:
        if self._fitted_at < 0 or n_labels <= 100:
            return n_labels != self._fitted_at
        return n_labels - self._fitted_at >= max(1, int(0.02 * n_labels))

    def learn(self, labelled: Sequence[int], labels: Sequence[bool]) -> None:
        """Charge each learner for the new labels, then refit when a refit is due."""
        order = np.asarray(labelled, dtype=np.int64)
        y = np.asarray(labels, dtype=np.int64)
        if len(y) > self._seen:
            if self._fitted_at < 0 and self._seen > 0:
                # Resumed from saved losses: score the new labels with models fitted on the labels before them.
                self._refit(order[: self._seen], y[: self._seen])
            self._read[order[: self._seen]] = True
            for j in range(self._seen, len(y)):
                record = int(order[j])
                if y[j] and self._awake.any():
                    losses = np.array(
                        [
                            rank_loss(self._percentiles[k], record, ~self._read) if self._awake[k] else 0.0
                            for k in range(len(self.experts))
                        ]
                    )
                    self.hedge.update(losses, self._awake)
                self._read[record] = True
            self._seen = len(y)
        if self.refit_due(len(y)):
            self._refit(order, y)

    def _refit(self, order: np.ndarray, y: np.ndarray) -> None:
        self._fitted_at = len(y)
        for k, expert in enumerate(self.experts):
            if not expert.learned:
                continue
            raw = expert.scores(order, y)
            self._awake[k] = raw is not None
            if raw is not None:
                self._percentiles[k] = percentile(raw)

    def weights(self, n_labels: int) -> dict[str, float]:
        """Each ranker's share of the score now: the zero-shot prior, then every learner (0 while it sleeps)."""
        learning = self.weight_of_learning(n_labels)
        hedge = self.hedge.weights(self._awake) if self._awake.any() else np.zeros(len(self.names))
        shares = {
            "zero-shot-prior": 1 - learning,
            **{n: learning * float(w) for n, w in zip(self.names, hedge, strict=True)},
        }
        return {name: round(share, 6) for name, share in shares.items()}

    def weight_of_learning(self, n_labels: int) -> float:
        if not self._awake.any():
            return 0.0
        return n_labels / (n_labels + self.config.half_life)

    def scores(self, n_labels: int) -> np.ndarray:
        """The prior's percentile blended with the learners' Hedge-weighted fusion."""
        weight = self.weight_of_learning(n_labels)
        if weight == 0.0:
            return self.prior.score
        return np.asarray(
            weight * fuse(self._percentiles, self.hedge.weights(self._awake)) + (1 - weight) * self.prior.score
        )

    def next_unread(self, read: np.ndarray, n_labels: int) -> int:
        """The highest-scoring record not yet read; ties go to the earlier record."""
        scores = np.where(read, -np.inf, self.scores(n_labels))
        return int(np.argmax(scores))

    def state(self) -> dict[str, Any]:
        """What a resumed session needs to avoid replaying every label: losses so far and how many labels."""
        return {"seen": self._seen, **self.hedge.state()}

    def restore(self, state: Mapping[str, Any], n_labels: int) -> bool:
        """Take back saved losses; False when they do not fit this ranker or these labels."""
        seen = state.get("seen")
        if not isinstance(seen, int) or not 0 <= seen <= n_labels or not self.hedge.restore(dict(state)):
            return False
        self._seen = seen
        return True


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
