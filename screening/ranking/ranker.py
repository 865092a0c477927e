"""Put the likely includes first: a zero-shot prior, then learners chosen by how they do on this review.

Before any label exists the order comes from the protocol alone: TF-IDF
similarity between the criteria and each record (and MiniLM similarity when asked
for). A model's answers from an earlier run (``screening/ranking/model_answers.py``)
are one more arm that must earn its picks from the labels (``ModelUse``). As the reviewer
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
from winnow.screening.ranking.learners import (
    Fixed,
    Learner,
    MeanOfLearners,
    ModelExcluded,
    Query,
    build_learners,
)
from winnow.screening.ranking.model_answers import ModelAnswers

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
# The name a model's answers go by among the arms and in every report of the weights.
MODEL_ARM = "model-answers"


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
    parts: tuple[np.ndarray, ...] = ()

    def with_model(self, answers: ModelAnswers) -> Prior:
        """The model's score as one more part of the mean (how ``--from-run`` worked before issue 24)."""
        parts = self.parts or (self.score,)
        both = (*parts, percentile(answers.score))
        return Prior(score=np.mean(both, axis=0), components=(*self.components, MODEL_ARM), parts=both)


def zero_shot_prior(features: Features, *, embedding_similarity: bool = True) -> Prior:
    """Mean percentile of the zero-shot signals asked for: TF-IDF and MiniLM similarity to the protocol."""
    parts: list[np.ndarray] = [percentile(cosine_similarity(features.tfidf, features.query_tfidf).ravel())]
    names = ["tfidf-similarity"]
    if embedding_similarity and features.embeddings is not None and features.query_embedding is not None:
        similarity = features.embeddings @ features.query_embedding.ravel()
        parts.append(percentile(similarity))
        names.append("embedding-similarity")
    return Prior(score=np.mean(parts, axis=0), components=tuple(names), parts=tuple(parts))


@dataclass(frozen=True)
class ModelUse:
    """How the ranker listens to a model's answers, when a run has them.

    ``arm``: the model's order is one more Thompson arm, judged on its own picks like the
    learners; records the model scores alike (a coarse scale, votes, include/exclude only)
    are ordered among themselves by the learners. ``prior``: the model's score is also
    averaged into the zero-shot prior (what ``--from-run`` did before issue 24).
    ``features``: the score and the criterion verdicts go beside the text features of the
    learners in ``features_in`` (renamed ``NAME+answers``), as a block of this norm (0: not),
    so each learns from the labels how far to trust them, criterion by criterion; ``twin``
    adds one more learner of that kind that sees them, beside its blind namesake.
    ``explore``: one more arm that shows the learners' top record among those the model
    would exclude. ``blend``: the model's arm is blended
    with the prior like a learner's, with no tie-break by the learners (before issue 24).
    """

    arm: bool = True
    prior: bool = False
    features: float = 0.0
    features_in: tuple[str, ...] = ()
    twin: str | None = None
    explore: bool = False
    blend: bool = False


# What the ranker does with a run's answers, chosen leave-one-dataset-out over simulated answers
# of 17 qualities on the 17 shared sets, 10 seeds (docs/benchmarks.md, 20): the model is one more
# arm, and the joint SVM (TF-IDF and MiniLM) also fits the score and the criterion verdicts as a
# block of norm 0.3 beside the text, so it learns from the labels, criterion by criterion, how far
# to trust them; the TF-IDF SVM stays blind to them. At norm 1 the joint SVM leaned on a
# near-random model's noise; with the arm alone, a model that misread a criterion or missed a
# topic was merely ignored, not corrected. Without MiniLM there is no joint SVM: the arm alone.
DEFAULT_MODEL_USE = ModelUse(arm=True, features=0.3, features_in=("joint-svm",))


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
    model: ModelUse = DEFAULT_MODEL_USE


def model_block(answers: ModelAnswers, norm: float) -> np.ndarray:
    """The answers' signals scaled so that no record's block is longer than ``norm``."""
    signals = np.asarray(answers.signals, dtype=np.float64)
    return np.asarray(norm * signals / np.sqrt(max(signals.shape[1], 1)))


def describe_combiner(config: RankerConfig, *, with_model: bool = False) -> str:
    """The combiner and its settings, as a report names them; ``with_model`` when a run's answers were given."""
    seeded = (
        "; the linear learners fit the protocol's text as one more include (Cormack & Grossman 2015, BMI)"
        if config.query_as_include
        else ""
    )
    return _describe_blend(config) + seeded + (describe_model(config.model) if with_model else "")


def describe_model(use: ModelUse) -> str:
    """What the ranker does with a model's answers, for a methods section."""
    parts = []
    if use.arm:
        parts.append(
            "the model's answers are one more arm, judged on its own picks like the learners "
            "(records it scores alike are ordered by the learners)"
        )
    if use.prior:
        parts.append("its score is averaged into the zero-shot prior")
    if use.features > 0:
        sighted = ", ".join([*use.features_in, *([use.twin] if use.twin else [])])
        parts.append(
            f"its score and per-criterion verdicts are features of {sighted} beside the text, "
            "weighted from the reviewer's labels (named NAME+answers)"
        )
    if use.explore:
        parts.append("one more arm shows the learners' top record among those the model would exclude")
    return "; " + "; ".join(parts) if parts else ""


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
    model: ModelAnswers | None = None
    experts: list[Learner] = field(init=False, repr=False)
    hedge: Hedge = field(init=False, repr=False)
    arms: ThompsonArms = field(init=False, repr=False)
    _percentiles: np.ndarray = field(init=False, repr=False)
    _awake: np.ndarray = field(init=False, repr=False)
    _read: np.ndarray = field(init=False, repr=False)
    _seen: int = field(default=0, init=False, repr=False)
    _fitted_at: int = field(default=-1, init=False, repr=False)
    _mean: int | None = field(default=None, init=False, repr=False)
    _explore: int | None = field(default=None, init=False, repr=False)
    _model_arm: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        use = self.config.model
        model = self.model
        if model is not None and use.prior:
            self.prior = self.prior.with_model(model)
        fixed: list[Learner] = [Fixed(MODEL_ARM, model.score)] if model is not None and use.arm else []
        side = model_block(model, use.features) if model is not None and use.features > 0 else None
        learned = self._learners(side)
        mean: list[Learner] = [MeanOfLearners()] if self.config.mean_arm and len(learned) > 1 else []
        explore: list[Learner] = [ModelExcluded()] if model is not None and use.explore and learned else []
        self.experts = [*fixed, *learned, *mean, *explore]
        self._model_arm = 0 if fixed else None
        self._mean = len(fixed) + len(learned) if mean else None
        self._explore = len(self.experts) - 1 if explore else None
        self.hedge = Hedge.over(
            [e.name for e in self.experts],
            [not e.learned for e in self.experts],
            eta=self.config.eta,
            prior_share=len(fixed) / len(self.experts),
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

    def _learners(self, side: np.ndarray | None) -> list[Learner]:
        """The configured learners, those in ``ModelUse.features_in`` (and its twin) seeing the model's answers."""
        query = (
            Query(self.features.query_tfidf, self.features.query_embedding) if self.config.query_as_include else None
        )

        def build(names: Sequence[str], with_side: bool) -> list[Learner]:
            built = build_learners(
                names,
                tfidf=self.features.tfidf,
                embeddings=self.features.embeddings,
                seed=self.seed,
                query=query,
                side=side if with_side else None,
            )
            for learner in built if with_side else []:
                learner.name = f"{learner.name}+answers"
            return built

        use = self.config.model
        sighted = set(use.features_in) if side is not None else set()
        learned: list[Learner] = []
        for name in self.config.learners:
            learned += build([name], name in sighted)
        if side is not None and use.twin is not None:
            learned += build([use.twin], True)
        return learned

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
        """The order arm ``k`` shows: a learner's blended with the prior, the model's own, or the explorer's."""
        if k == self._model_arm and not self.config.model.blend:
            # The model's order; records it scores alike go in the learners' order (half a rank step at most).
            return np.asarray(self._percentiles[k] + 0.5 / self.n * self._learners_view(n_labels))
        if k == self._explore:
            # The learners' order, the records the model would exclude first.
            assert self.model is not None
            return np.asarray(self._learners_view(n_labels) - 2.0 * ~self.model.would_exclude())
        weight = self.weight_of_learning(n_labels)
        return np.asarray(weight * self._percentiles[k] + (1 - weight) * self.prior.score)

    def _learners_view(self, n_labels: int) -> np.ndarray:
        """The learners' consensus blended with the prior: the mean arm's order, or the prior while they sleep."""
        learned = [
            k
            for k, expert in enumerate(self.experts)
            if expert.learned and self._awake[k] and k not in (self._mean, self._explore)
        ]
        if not learned:
            return self.prior.score
        consensus = self._percentiles[self._mean] if self._mean is not None else self._percentiles[learned].mean(axis=0)
        weight = n_labels / (n_labels + self.config.half_life)
        return np.asarray(weight * consensus + (1 - weight) * self.prior.score)

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
            if not expert.learned or k in (self._mean, self._explore):
                continue
            raw = expert.scores(order, y)
            self._awake[k] = raw is not None
            if raw is not None:
                self._percentiles[k] = percentile(raw)
                fitted.append(k)
        if self._mean is not None:
            self._awake[self._mean] = bool(fitted)
            if fitted:
                self._percentiles[self._mean] = percentile(self._percentiles[fitted].mean(axis=0))
        if self._explore is not None and self.model is not None:
            self._awake[self._explore] = bool(fitted)
            if fitted:
                consensus = self._percentiles[fitted].mean(axis=0) - 2.0 * ~self.model.would_exclude()
                self._percentiles[self._explore] = percentile(consensus)

    def weights(self, n_labels: int) -> dict[str, float]:
        """Each ranker's share of the order now: the zero-shot prior, then every arm (0 while it sleeps).

        Under Thompson sampling the model's arm shows its own order, not blended with the
        prior, so its share is its chance of being drawn; every other arm's chance is split
        between it and the prior as the blend weighs them.
        """
        learning = self.weight_of_learning(n_labels)
        combined = self._combiner_weights() if self._awake.any() else np.zeros(len(self.names))
        own = np.zeros(len(self.names), dtype=bool)
        if self.config.combiner == "thompson" and self._model_arm is not None and not self.config.model.blend:
            own[self._model_arm] = True
        blended = float(combined[~own].sum())
        shares = {
            "zero-shot-prior": (1 - learning) * blended if own.any() else 1 - learning,
            **{
                n: float(w) if own[k] else learning * float(w)
                for k, (n, w) in enumerate(zip(self.names, combined, strict=True))
            },
        }
        return {name: round(share, 6) for name, share in shares.items()}

    def answers_in_learners(self) -> dict[str, float]:
        """How much of each sighted learner's last scores came from the model's answers (0 to 1)."""
        return {
            e.name: round(float(share), 6)
            for e in self.experts
            if (share := getattr(e, "answers_share", None)) is not None
        }

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
    model: ModelAnswers | None = None

    def ranker(self, seed: int = 0, config: RankerConfig | None = None) -> Ranker:
        """A ranker over these inputs: the default settings unless ``config`` says otherwise."""
        return Ranker(self.features, self.prior, seed=seed, config=config or RankerConfig(), model=self.model)


def ranking_inputs(
    records: Sequence[Record],
    protocol: LoadedProtocol,
    *,
    model: ModelAnswers | None = None,
    embeddings: EmbeddingChoice = "auto",
    on_embed_progress: Callable[[int], None] | None = None,
) -> RankingInputs:
    """Features and the zero-shot prior for these records under this protocol, and a model's answers if given."""
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
    prior = zero_shot_prior(features, embedding_similarity=DEFAULT_EMBEDDING_PRIOR)
    return RankingInputs(features=features, prior=prior, embeddings_note=note, model=model)
