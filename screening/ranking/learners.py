"""Learners that see the records differently, each kept and scored on its own.

Every learner turns the labels so far into one score per record; only the order
of those scores matters, because the combiners (``screening/ranking/bandit.py``,
``screening/ranking/hedge.py``) work on within-corpus percentiles. A learner that cannot
score yet (one class labelled) returns ``None`` and sleeps until it can.

The learned ones differ in what they look at and how they generalise:

- ``tfidf-svm``: a linear SVM with C = 0.11 and includes weighted 9.8:1 on TF-IDF
  1-2-grams (ASReview's default classifier and balance, ``elas_u4``);
- ``joint-svm``: the same SVM on TF-IDF with the MiniLM sentence embeddings beside it,
  so it can match records that say the same thing in other words;
- ``tfidf-logistic`` and ``joint-logistic``: logistic regression (C = 1, includes 10:1)
  on the same two feature sets (``tfidf-logistic`` was winnow's ranker until issue 15);
- ``tfidf-bayes``: multinomial naive Bayes, alpha 3.822 (ASReview's earlier default),
  which ranks by term evidence rather than a margin;
- ``embedding-logistic``: logistic regression on the MiniLM embeddings alone,
  standardised;
- ``mean-of-learners``: the others' mean percentile, as one more ranker to choose.

The defaults (``screening/ranking/ranker.py``) are ``tfidf-svm``, ``joint-svm`` and their mean;
the rest were measured against them (docs/benchmarks.md, 8.1 and 8.2).
The fixed ones are the zero-shot prior and, with ``--from-run``, a model's answers. Those
answers (its score and criterion verdicts) can also sit beside a linear learner's own
features (``side``), so that the learner weighs them from the labels, and
``ModelExcluded`` shows the learners' order among the records the model would exclude.

A linear learner can also be given the protocol's own text as one more include (the
"seed document" of Cormack and Grossman's Baseline Model Implementation, 2015,
arXiv:1504.06868). While includes are few it is a large share of what the model knows
of an include, so the protocol keeps steering the model after the zero-shot prior's
weight has faded; as real includes arrive it is one among many.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Protocol

import numpy as np
import sklearn
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import ThreadpoolController


class Learner(Protocol):
    """Scores every record from the labels so far; ``None`` while it cannot."""

    name: str
    learned: bool

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None: ...


def include_heavy_weights(y: np.ndarray, ratio: float) -> np.ndarray:
    """Sample weights giving the includes ``ratio`` times the total weight of the excludes.

    Includes are rare and missing one costs far more than reading one more
    exclude; weighting them up makes the model recall-oriented.
    """
    n_include = int(y.sum())
    n_exclude = len(y) - n_include
    weights = np.where(y == 1, 1.0, n_include / (ratio * max(n_exclude, 1)))
    return np.asarray(weights * (len(y) / weights.sum()))


@lru_cache(maxsize=1)
def _threadpools() -> ThreadpoolController:
    # Built once: threadpoolctl scans the loaded libraries on every construction (26 ms a fit, measured).
    return ThreadpoolController()


def one_thread() -> Any:
    return _threadpools().limit(limits=1)


def both_classes(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < len(y)


@dataclass
class Fixed:
    """A score that labels do not change: the zero-shot prior or the LLM's P(include)."""

    name: str
    values: np.ndarray
    learned: bool = field(default=False, init=False)

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        return self.values


@dataclass
class LinearLearner:
    """A linear model's margin, fitted with includes weighted ``ratio``:1.

    ``seed_include`` is the protocol's text in the same feature space, fitted as one
    more include when given; it never counts as a label (the learner still sleeps
    until the reviewer has labelled both classes). ``answers`` are the columns that hold
    a model's answers, if any, and those columns' values: after each fit ``answers_share``
    says how much of the spread of the scores comes from them (0: the learner ignores the model).
    """

    name: str
    matrix: csr_matrix | np.ndarray
    model: Callable[[], Any]
    ratio: float = 10.0
    seed_include: csr_matrix | None = None
    answers: tuple[slice, np.ndarray] | None = None
    answers_share: float | None = field(default=None, init=False)
    learned: bool = field(default=True, init=False)

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        if not both_classes(y):
            return None
        x = self.matrix[labelled]
        if self.seed_include is not None:
            x = vstack([csr_matrix(x), self.seed_include], format="csr")
            y = np.append(y, 1)
        model = self.model()
        # One BLAS thread: on a busy two-core machine, threads spinning against each
        # other made each fit 25 times slower (1.4 s against 57 ms, measured). The inputs
        # are built here, finite and of known types, so sklearn's checks are skipped: they
        # took about 40 % of each fit (profiled on a simulation, docs/benchmarks.md 16).
        with one_thread(), sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            model.fit(x, y, sample_weight=include_heavy_weights(y, self.ratio))
        weights = model.coef_.ravel()
        margin = np.asarray(self.matrix @ weights)
        if self.answers is not None:
            columns, values = self.answers
            from_answers = values @ weights[columns]
            spread = float(np.std(from_answers)), float(np.std(margin - from_answers))
            self.answers_share = spread[0] / sum(spread) if sum(spread) > 0 else 0.0
        return margin + model.intercept_[0]


def tfidf_logistic(matrix: csr_matrix, seed: int = 0, query: csr_matrix | None = None) -> LinearLearner:
    """winnow's ranker until issue 15: C = 1, includes 10:1."""
    model = partial(LogisticRegression, C=1.0, solver="liblinear", random_state=seed)
    return LinearLearner("tfidf-logistic", matrix, model, seed_include=query)


def tfidf_svm(matrix: csr_matrix, seed: int = 0, query: csr_matrix | None = None) -> LinearLearner:
    """ASReview's default classifier and balance (``elas_u4``): C = 0.11, includes 9.8:1."""
    model = partial(LinearSVC, C=0.11, random_state=seed)
    return LinearLearner("tfidf-svm", matrix, model, ratio=9.8, seed_include=query)


def embedding_logistic(embeddings: np.ndarray, seed: int = 0) -> LinearLearner:
    """Its own model on the 384 standardised dense dimensions, so they never compete with 100,000 sparse ones."""
    model = partial(LogisticRegression, C=0.1, solver="liblinear", random_state=seed)
    return LinearLearner("embedding-logistic", standardised(embeddings), model)


def joint_features(matrix: csr_matrix, embeddings: np.ndarray) -> csr_matrix:
    """TF-IDF and the unit-length MiniLM vectors side by side: both have norm 1 per record, neither drowns the other."""
    return hstack([matrix, csr_matrix(np.asarray(embeddings, dtype=np.float64))], format="csr")


def joint_logistic(
    matrix: csr_matrix, embeddings: np.ndarray, seed: int = 0, query: csr_matrix | None = None
) -> LinearLearner:
    """``tfidf-logistic``'s model on the joint features."""
    model = partial(LogisticRegression, C=1.0, solver="liblinear", random_state=seed)
    return LinearLearner("joint-logistic", joint_features(matrix, embeddings), model, seed_include=query)


def joint_svm(
    matrix: csr_matrix, embeddings: np.ndarray, seed: int = 0, query: csr_matrix | None = None
) -> LinearLearner:
    """``tfidf-svm``'s model (ASReview's settings) on the joint features."""
    model = partial(LinearSVC, C=0.11, random_state=seed)
    return LinearLearner("joint-svm", joint_features(matrix, embeddings), model, ratio=9.8, seed_include=query)


@dataclass
class TfidfBayes:
    """Multinomial naive Bayes, written out: sklearn's checks cost more than the two sparse products."""

    matrix: csr_matrix
    alpha: float = 3.822
    ratio: float = 10.0
    name: str = "tfidf-bayes"
    learned: bool = field(default=True, init=False)

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        if not both_classes(y):
            return None
        weights = include_heavy_weights(y, self.ratio)
        x = self.matrix[labelled]
        log_word = []
        log_class = []
        for cls in (0, 1):
            w = np.where(y == cls, weights, 0.0)
            counts = np.asarray(x.T @ w).ravel() + self.alpha
            log_word.append(np.log(counts) - np.log(counts.sum()))
            log_class.append(np.log(w.sum()))
        return np.asarray(self.matrix @ (log_word[1] - log_word[0]) + (log_class[1] - log_class[0]))


@dataclass
class MeanOfLearners:
    """The other learners' mean percentile, as one more ranker to choose.

    Averaging rankers that err differently is often steadier than any one of
    them; as its own arm, the combiner can pick the average where it ranks this
    review best. The ranker fills it in from the others after each refit.
    """

    name: str = "mean-of-learners"
    learned: bool = field(default=True, init=False)

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        return None


@dataclass
class ModelExcluded:
    """The learners' order over the records a model would exclude, as one more ranker to choose.

    A model that misreads a criterion, or misses a topic, puts a whole group of includes
    at the bottom of its scale; the labels can only show that if some of those records
    are read. The ranker fills it in from the other learners after each refit.
    """

    name: str = "model-excluded"
    learned: bool = field(default=True, init=False)

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        return None


def with_side(matrix: csr_matrix, side: np.ndarray | None) -> csr_matrix:
    """Dense columns (a model's answers) beside a learner's features; the matrix unchanged without them."""
    if side is None:
        return matrix
    return hstack([matrix, csr_matrix(np.asarray(side, dtype=np.float64))], format="csr")


def standardised(vectors: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per dimension over the whole record set (no labels used)."""
    x = np.asarray(vectors, dtype=np.float64)
    spread = x.std(axis=0)
    spread[spread == 0] = 1.0
    return np.asarray((x - x.mean(axis=0)) / spread)


@dataclass(frozen=True)
class Query:
    """The protocol's text in the learners' feature spaces, for ``seed_include``."""

    tfidf: csr_matrix
    embedding: np.ndarray | None = None

    def joint(self) -> csr_matrix | None:
        return None if self.embedding is None else joint_features(self.tfidf, np.asarray(self.embedding)[None, :])


# The learners that can see a model's answers beside their own features (``side``).
SIGHTED = frozenset({"tfidf-logistic", "tfidf-svm", "joint-logistic", "joint-svm"})


def build_learners(
    names: Sequence[str],
    *,
    tfidf: csr_matrix,
    embeddings: np.ndarray | None,
    seed: int,
    query: Query | None = None,
    side: np.ndarray | None = None,
) -> list[Learner]:
    """The learned learners asked for; one that needs embeddings is left out when there are none.

    With ``query``, the linear learners on TF-IDF and on the joint features fit the
    protocol's text as one more include; naive Bayes and the MiniLM-only learner do not.
    With ``side``, those linear learners also see these columns (a model's answers,
    ``ModelUse.features``) beside the TF-IDF ones; the protocol's row has zeros there.
    """
    plain = tfidf
    if side is not None:
        tfidf = with_side(tfidf, side)
        if query is not None:
            query = Query(with_side(query.tfidf, np.zeros((1, side.shape[1]))), query.embedding)
    q_tfidf = None if query is None else query.tfidf
    q_joint = None if query is None else query.joint()
    makers: dict[str, Callable[[], Learner | None]] = {
        "tfidf-logistic": lambda: tfidf_logistic(tfidf, seed, q_tfidf),
        "tfidf-svm": lambda: tfidf_svm(tfidf, seed, q_tfidf),
        "tfidf-bayes": lambda: TfidfBayes(plain),
        "embedding-logistic": lambda: None if embeddings is None else embedding_logistic(embeddings, seed),
        "joint-logistic": lambda: None if embeddings is None else joint_logistic(tfidf, embeddings, seed, q_joint),
        "joint-svm": lambda: None if embeddings is None else joint_svm(tfidf, embeddings, seed, q_joint),
    }
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise ValueError(f"unknown learner(s): {', '.join(unknown)}; known: {', '.join(makers)}")
    built = [b for b in (makers[n]() for n in names) if b is not None]
    if side is not None:
        for learner in built:
            if isinstance(learner, LinearLearner) and learner.name in SIGHTED:
                learner.answers = (slice(plain.shape[1], plain.shape[1] + side.shape[1]), np.asarray(side))
    return built
