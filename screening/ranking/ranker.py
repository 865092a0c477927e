"""Put the likely includes first: a zero-shot prior, then learners chosen by how they do on this review.

Before any label exists the order comes from the protocol alone: TF-IDF
similarity between the criteria and each record (and MiniLM similarity when asked
for), plus P(include) from an earlier LLM run when one is given. As the reviewer
labels records, several learners that see the records differently
(``screening/ranking/learners.py``) learn from those labels. By default Thompson sampling
(``screening/ranking/bandit.py``) draws the learner that shows the next record, crediting
each learner with the labels of the records it would have shown; Hedge
(``screening/ranking/hedge.py``), which weights each learner by how high it had ranked the
includes, is the other combiner. Scores are compared as within-corpus
percentiles, so no learner needs calibrated probabilities.

The learners, the draws and the refit schedule are deterministic for a given
sequence of labels and seed, which is what lets ``winnow simulate`` reproduce its
figures from a seed.
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
from winnow.screening.ranking.bandit import ThompsonArms
from winnow.screening.ranking.hedge import Hedge, fuse, rank_loss
from winnow.screening.ranking.learners import Fixed, Learner, MeanOfLearners, Query, build_learners

EmbeddingChoice = Literal["auto", "on", "off"]
Combiner = Literal["hedge", "thompson"]

# Global settings, measured leave-one-dataset-out over the 17 shared sets (docs/benchmarks.md, 8.2
# and 8.3): a linear SVM on TF-IDF and one on TF-IDF with the MiniLM vectors beside it, plus their
# mean, as arms of Thompson sampling, each SVM fitting the protocol's text as one more include
# (`ts-svm-jsvm-mean-qp-c5`: chosen for every held-out set by the two-round procedure, and the best
# mean WSS@95 over all 17 sets and 5 seeds among the configs run in full).
# Without the embeddings extra only the TF-IDF SVM is left.
DEFAULT_LEARNERS: tuple[str, ...] = ("tfidf-svm", "joint-svm")
DEFAULT_COMBINER: Combiner = "thompson"
DEFAULT_MEAN_ARM = True
# A learner is credited with a label when it had that record among its own top 5 unread records
# (depth 1 would be plain team-draft credit).
DEFAULT_CREDIT_DEPTH = 5
# Whether the MiniLM similarity joins the zero-shot prior when embeddings are on.
DEFAULT_EMBEDDING_PRIOR = False
# Whether the linear learners fit the protocol's text as one more include (learners.py, BMI's seed document).
DEFAULT_QUERY_AS_INCLUDE = True
# Hedge's settings (the combiner of docs/benchmarks.md, 8.1), kept for `combiner="hedge"`.
DEFAULT_ETA = 4.0
DEFAULT_SHARE = 0.05
# How many labels it takes for the learners to weigh as much as the zero-shot prior.
DEFAULT_HALF_LIFE = 10.0


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


def zero_shot_prior(
    features: Features, llm_p_include: np.ndarray | None = None, *, embedding_similarity: bool = True
) -> Prior:
    """Mean percentile of the zero-shot signals asked for: TF-IDF and MiniLM similarity, the LLM's P(include)."""
    parts: list[np.ndarray] = [percentile(cosine_similarity(features.tfidf, features.query_tfidf).ravel())]
    names = ["tfidf-similarity"]
    if embedding_similarity and features.embeddings is not None and features.query_embedding is not None:
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
    refit_on_include: bool = False
    combiner: Combiner = DEFAULT_COMBINER
    discount: float = 1.0
    credit_depth: int = DEFAULT_CREDIT_DEPTH
    mean_arm: bool = DEFAULT_MEAN_ARM
    query_as_include: bool = DEFAULT_QUERY_AS_INCLUDE


def describe_combiner(config: RankerConfig) -> str:
    """The combiner and its settings, as a report names them."""
    seeded = (
        "; the linear learners fit the protocol's text as one more include (Cormack & Grossman 2015, BMI)"
        if config.query_as_include
        else ""
    )
    return _describe_blend(config) + seeded


def _describe_blend(config: RankerConfig) -> str:
    if config.combiner == "thompson":
        credited = (
            "every learner that would have shown the record read takes its label "
            "(team-draft credit, Radlinski, Kurup & Joachims 2008)"
            if config.credit_depth == 1
            else f"every learner that had the record read among its top {config.credit_depth} unread takes its label "
            f"(team-draft credit, Radlinski, Kurup & Joachims 2008, widened to depth {config.credit_depth})"
        )
        decay = "" if config.discount == 1 else f", counts discounted by {config.discount:g} per label"
        return (
            f"Thompson sampling over the learners (Thompson 1933; Agrawal & Goyal 2012): before each record one "
            f"learner is drawn from Beta(1 + hits, 1 + misses) and shows its own top unread record; {credited}"
            f"{decay}; each learner's order is blended with "
            f"the zero-shot prior, whose weight is {config.half_life:g}/(labels + {config.half_life:g})"
        )
    return (
        f"Hedge (exponential weights, Freund & Schapire 1997) over the learners' percentile ranks, "
        f"learning rate {config.eta:g}, Fixed Share {config.share:g} (Herbster & Warmuth 1998), "
        f"blended with the zero-shot prior, whose weight is {config.half_life:g}/(labels + {config.half_life:g}); "
        f"loss = share of unread records a learner ranked above each new include"
    )


@dataclass
class Ranker:
    """Orders the records from the learners, each judged by how it has done on this review's labels.

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
    arms: ThompsonArms = field(init=False, repr=False)
    _percentiles: np.ndarray = field(init=False, repr=False)
    _awake: np.ndarray = field(init=False, repr=False)
    _read: np.ndarray = field(init=False, repr=False)
    _seen: int = field(default=0, init=False, repr=False)
    _fitted_at: int = field(default=-1, init=False, repr=False)

    def __post_init__(self) -> None:
        fixed: list[Learner] = []
        if self.prior.llm is not None:
            fixed.append(Fixed("llm-p-include", self.prior.llm))
        query = (
            Query(self.features.query_tfidf, self.features.query_embedding) if self.config.query_as_include else None
        )
        learned = build_learners(
            self.config.learners,
            tfidf=self.features.tfidf,
            embeddings=self.features.embeddings,
            seed=self.seed,
            query=query,
        )
        mean: list[Learner] = [MeanOfLearners()] if self.config.mean_arm and len(learned) > 1 else []
        self.experts = [*fixed, *learned, *mean]
        self.hedge = Hedge.over(
            [e.name for e in self.experts],
            [not e.learned for e in self.experts],
            eta=self.config.eta,
            prior_share=1 / len(self.config.learners) if fixed else 0.0,
            share=self.config.share,
        )
        self.arms = ThompsonArms(self.hedge.names, discount=self.config.discount)
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

    def refit_due(self, n_labels: int, include_since_fit: bool = False) -> bool:
        if self._fitted_at < 0 or n_labels <= 100:
            return n_labels != self._fitted_at
        if include_since_fit:  # `learn` looks for one only when refit_on_include asks
            return True
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
                if self.config.combiner == "thompson" and self._awake.any():
                    self.arms.update(self._would_show(record, j), bool(y[j]))
                if y[j] and self._awake.any() and self.config.combiner == "hedge":
                    losses = np.array(
                        [
                            rank_loss(self._percentiles[k], record, ~self._read) if self._awake[k] else 0.0
                            for k in range(len(self.experts))
                        ]
                    )
                    self.hedge.update(losses, self._awake)
                self._read[record] = True
            self._seen = len(y)
        include_since_fit = self.config.refit_on_include and self._fitted_at >= 0 and bool(y[self._fitted_at :].any())
        if self.refit_due(len(y), include_since_fit):
            self._refit(order, y)

    def _arm_scores(self, k: int, n_labels: int) -> np.ndarray:
        weight = self.weight_of_learning(n_labels)
        return np.asarray(weight * self._percentiles[k] + (1 - weight) * self.prior.score)

    def _would_show(self, record: int, n_labels: int) -> np.ndarray:
        """Which awake learners had ``record`` among their own top ``credit_depth`` unread records.

        Depth 1 is team-draft credit: the learners that would have shown this very record.
        """
        unread = ~self._read
        flags = np.zeros(len(self.experts), dtype=bool)
        for k in np.flatnonzero(self._awake):
            scores = self._arm_scores(int(k), n_labels)
            above = int(np.count_nonzero(scores[unread] > scores[record]))
            flags[k] = above < self.config.credit_depth
        return flags

    def _refit(self, order: np.ndarray, y: np.ndarray) -> None:
        self._fitted_at = len(y)
        fitted = []
        for k, expert in enumerate(self.experts):
            if not expert.learned or isinstance(expert, MeanOfLearners):
                continue
            raw = expert.scores(order, y)
            self._awake[k] = raw is not None
            if raw is not None:
                self._percentiles[k] = percentile(raw)
                fitted.append(k)
        if isinstance(self.experts[-1], MeanOfLearners):
            self._awake[-1] = bool(fitted)
            if fitted:
                self._percentiles[-1] = percentile(self._percentiles[fitted].mean(axis=0))

    def weights(self, n_labels: int) -> dict[str, float]:
        """Each ranker's share of the score now: the zero-shot prior, then every learner (0 while it sleeps)."""
        learning = self.weight_of_learning(n_labels)
        hedge = self._combiner_weights() if self._awake.any() else np.zeros(len(self.names))
        shares = {
            "zero-shot-prior": 1 - learning,
            **{n: learning * float(w) for n, w in zip(self.names, hedge, strict=True)},
        }
        return {name: round(share, 6) for name, share in shares.items()}

    def _combiner_weights(self) -> np.ndarray:
        if self.config.combiner == "thompson":
            return self.arms.shares(self._awake)
        return self.hedge.weights(self._awake)

    def weight_of_learning(self, n_labels: int) -> float:
        if not self._awake.any():
            return 0.0
        return n_labels / (n_labels + self.config.half_life)

    def scores(self, n_labels: int) -> np.ndarray:
        """The prior's percentile blended with the learners' fusion, each weighted as ``weights`` reports it.

        This is the order itself under Hedge. Under Thompson sampling each record is shown by
        one drawn learner instead, and this is the learners' mean order, each weighted by its
        chance of being drawn: a summary, not the order the reviewer sees.
        """
        weight = self.weight_of_learning(n_labels)
        if weight == 0.0:
            return self.prior.score
        fused = fuse(self._percentiles, self._combiner_weights())
        return np.asarray(weight * fused + (1 - weight) * self.prior.score)

    def next_unread(self, read: np.ndarray, n_labels: int) -> int:
        """The highest-scoring record not yet read; ties go to the earlier record.

        With the Thompson combiner, one learner drawn for this label shows its own top record.
        """
        if self.config.combiner == "thompson" and self._awake.any():
            arm = self.arms.choose(self._awake, (self.seed, n_labels))
            scores = np.where(read, -np.inf, self._arm_scores(arm, n_labels))
            return int(np.argmax(scores))
        scores = np.where(read, -np.inf, self.scores(n_labels))
        return int(np.argmax(scores))

    def state(self) -> dict[str, Any]:
        """What a resumed session needs to avoid replaying every label: losses so far and how many labels."""
        return {"seen": self._seen, **self.hedge.state(), "arms": self.arms.state()}

    def restore(self, state: Mapping[str, Any], n_labels: int) -> bool:
        """Take back saved losses; False when they do not fit this ranker or these labels."""
        seen, arms = state.get("seen"), state.get("arms")
        if not isinstance(seen, int) or not 0 <= seen <= n_labels:
            return False
        if self.config.combiner == "thompson" and not (
            isinstance(arms, dict) and arms.get("names") == list(self.names)
        ):
            return False
        if not self.hedge.restore(dict(state)) or (isinstance(arms, dict) and not self.arms.restore(arms)):
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
    prior = zero_shot_prior(features, llm, embedding_similarity=DEFAULT_EMBEDDING_PRIOR)
    return RankingInputs(features=features, prior=prior, embeddings_note=note)
