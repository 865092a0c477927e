"""Variants of the default ranker that the product cannot run, measured on 5 seeds of all 17 sets.

    python bench/prioritise/variants.py select    # every variant, 17 sets x 5 seeds, read to 95 % recall
    python bench/prioritise/variants.py report    # per-set WSS@95 against ASReview -> bench/results JSON
    python bench/prioritise/variants.py prior-auc # the zero-shot priors' ROC AUC per set (TF-IDF, BM25)
    python bench/prioritise/variants.py embed-chunked  # once, before `x-qp-c5-chunked`: MiniLM over whole texts

Issue 15's third session asked whether the default (`ts-svm-jsvm-mean`, docs/benchmarks.md
8.2) could be lifted past 0.56 without losing a set to ASReview. Each idea here is a small
change patched into the product's `Ranker` for this script only: a learner with the MiniLM
block scaled or another C, a learner that is itself the mean of two, refitting after every
label, a handicap on the joint arm's starting counts, a tempered posterior. None beat the
default, so none went into the product, and they are not in `learners_loo.py`'s
leave-one-out grid (that grid is what the product can run). The fourth session added other
views of the records (the nearest labelled includes, character n-grams, title words) and
the TF-IDF SVM alone with the protocol as an include (what winnow runs without the
embeddings extra); the protocol-as-include settings themselves went into the product and
the grid (docs/benchmarks.md, 8.3). The fifth session tried the zero-shot prior as a
Thompson arm, BM25 against the protocol in the prior, a CombMAX arm and MiniLM over whole
texts (8.4). The figures here are 5-seed
means in hindsight over all 17 sets, the same runs `learners_loo.py select` makes (reading
stops at 95 % recall; WSS@95 on winnow's rows), beside ASReview's 5 seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from scipy.stats import norm
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.metrics import roc_auc_score
from sklearn.svm import LinearSVC

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import learners_loo as loo  # noqa: E402

from winnow.protocol import load_protocol  # noqa: E402
from winnow.records import read_records  # noqa: E402
from winnow.screening.ranking import bandit, learners  # noqa: E402
from winnow.screening.ranking import ranker as ranking  # noqa: E402

SEEDS = 5
Maker = Callable[[csr_matrix, np.ndarray, int], Any]


def scaled_joint(name: str, alpha: float, c: float = 0.11) -> Maker:
    """``joint-svm`` with the unit-norm MiniLM block multiplied by ``alpha`` (1 is the product's)."""

    def make(tfidf: csr_matrix, vectors: np.ndarray, seed: int) -> Any:
        matrix = hstack([tfidf, csr_matrix(alpha * np.asarray(vectors, dtype=np.float64))], format="csr")
        return learners.LinearLearner(name, matrix, partial(LinearSVC, C=c, random_state=seed), 9.8)

    return make


def svm_c(c: float) -> Maker:
    return lambda tfidf, vectors, seed: learners.LinearLearner(
        f"svm-c{c}", tfidf, partial(LinearSVC, C=c, random_state=seed), 9.8
    )


@dataclass
class MeanOf:
    """One learner that is the mean percentile of two: the mean arm without its parts as arms."""

    name: str
    parts: list[Any]
    learned: bool = field(default=True, init=False)

    weights: tuple[float, ...] | None = None

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        outs = [p.scores(labelled, y) for p in self.parts]
        if any(o is None for o in outs):
            return None
        return np.average([ranking.percentile(o) for o in outs], axis=0, weights=self.weights)


def mixed(w: float) -> Maker:
    """The mean arm, weighted ``w`` to the TF-IDF SVM and ``1 - w`` to the joint one."""
    return lambda tfidf, vectors, seed: MeanOf(
        f"mix-svm-jsvm-{w}", [learners.tfidf_svm(tfidf, seed), learners.joint_svm(tfidf, vectors, seed)], (w, 1 - w)
    )


@dataclass
class NearestIncludes:
    """Mean cosine similarity to the ``k`` most similar labelled includes: a non-linear, local ranker."""

    name: str
    rows: Any  # unit-length rows, dense or sparse
    k: int = 1
    learned: bool = field(default=True, init=False)

    def scores(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        if not learners.both_classes(y):
            return None
        sims = self.rows @ self.rows[np.asarray(labelled)[np.asarray(y) == 1]].T
        dense = np.asarray(sims.toarray() if hasattr(sims, "toarray") else sims)
        return np.sort(dense, axis=1)[:, -min(self.k, dense.shape[1]) :].mean(axis=1)


# The dataset whose features were loaded last in this process: the character n-grams are built from its text.
_LOADED: dict[str, str] = {}
_load = loo.load


def char_features(kind: str) -> tuple[csr_matrix, csr_matrix]:
    """Character 3-5-grams within words (``char``) or title words (``title``), and the protocol in the same space."""
    return _char_features(_LOADED["name"], kind)


@lru_cache(maxsize=2)
def _records_and_query(name: str) -> tuple[list[Any], str]:
    """The set's records in CSV order (the cached features' rows) and its protocol's zero-shot query."""
    records = list(read_records(loo.get(name).csv, merge_duplicates=False).records)
    return records, ranking.protocol_query(load_protocol(HERE / "protocols" / f"{name.lower()}.yaml").protocol)


@lru_cache(maxsize=4)
def _char_features(name: str, kind: str) -> tuple[csr_matrix, csr_matrix]:
    # Cached: a config with two character learners (`qp-wc`, `qp-jwc`) would read and vectorise the set twice.
    records, query = _records_and_query(name)
    if kind == "title":
        texts = [r.title or "" for r in records]
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_df=0.95)
    else:
        texts = [ranking.record_text(r) for r in records]
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2, max_df=0.95)
    matrix = vectorizer.fit_transform([*texts, query]).tocsr()
    return matrix[:-1], matrix[-1:]


def char_svm(name: str, kind: str, *, words: bool = False, joint: bool = False, seeded: bool = False) -> Maker:
    """An SVM (the product's settings) on character n-grams, optionally beside the words and MiniLM vectors."""

    def make(tfidf: csr_matrix, vectors: np.ndarray, seed: int) -> Any:
        matrix, query = char_features(kind)
        if words:
            matrix = hstack([tfidf, matrix], format="csr")
            query = hstack([_QUERY_TFIDF[0], query], format="csr")
        if joint:
            matrix = learners.joint_features(matrix, vectors)
            query = learners.joint_features(query, np.asarray(_QUERY_EMB[0])[None, :])
        model = partial(LinearSVC, C=0.11, random_state=seed)
        return learners.LinearLearner(name, matrix, model, 9.8, seed_include=query if seeded else None)

    return make


# The protocol's TF-IDF row and MiniLM vector of the dataset being built, set by `build_with_extra`.
_QUERY_TFIDF: list[Any] = [None]
_QUERY_EMB: list[Any] = [None]


EXTRA: dict[str, Maker] = {
    **{f"jsvm-a{a}": scaled_joint(f"jsvm-a{a}", a) for a in (0.25, 0.5, 0.7, 1.5)},
    **{f"jsvm-c{c}": scaled_joint(f"jsvm-c{c}", 1.0, c) for c in (0.03, 0.3, 1.0)},
    **{f"svm-c{c}": svm_c(c) for c in (0.03, 0.3, 1.0)},
    "emb-svm": lambda t, v, s: learners.LinearLearner(
        "emb-svm", np.asarray(v, dtype=np.float64), partial(LinearSVC, C=0.11, random_state=s), 9.8
    ),
    "mean-svm-jsvm": lambda t, v, s: MeanOf("mean-svm-jsvm", [learners.tfidf_svm(t, s), learners.joint_svm(t, v, s)]),
    **{f"mix-svm-jsvm-{w}": mixed(w) for w in (0.67, 0.8)},
    # Fourth session: other views of the records.
    "knn-emb": lambda t, v, s: NearestIncludes("knn-emb", np.asarray(v, dtype=np.float64), 1),
    "knn3-emb": lambda t, v, s: NearestIncludes("knn3-emb", np.asarray(v, dtype=np.float64), 3),
    "knn-tfidf": lambda t, v, s: NearestIncludes("knn-tfidf", t, 1),
    "char-svm": char_svm("char-svm", "char"),
    "title-svm": char_svm("title-svm", "title"),
    "qp-char": char_svm("qp-char", "char", seeded=True),
    "qp-wc": char_svm("qp-wc", "char", words=True, seeded=True),
    "qp-jwc": char_svm("qp-jwc", "char", words=True, joint=True, seeded=True),
    # The product's SVMs without the protocol as an include, beside seeded ones in one config.
    "svm-plain": lambda t, v, s: learners.tfidf_svm(t, s),
    "jsvm-plain": lambda t, v, s: learners.joint_svm(t, v, s),
}
_build = learners.build_learners


def build_with_extra(
    names: Any, *, tfidf: csr_matrix, embeddings: np.ndarray | None, seed: int, query: Any = None
) -> list[Any]:
    built: list[Any] = []
    if query is not None:
        _QUERY_TFIDF[0], _QUERY_EMB[0] = query.tfidf, query.embedding
    for name in names:
        if name in EXTRA:
            built.append(EXTRA[name](tfidf, embeddings, seed))  # type: ignore[arg-type]
        else:
            built.extend(_build([name], tfidf=tfidf, embeddings=embeddings, seed=seed, query=query))
    return built


def bm25(name: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 of each record against the protocol's query words (Robertson & Zaragoza 2009, FnTIR 3:333)."""
    records, query = _records_and_query(name)
    vectorizer = CountVectorizer()
    counts = vectorizer.fit_transform([ranking.record_text(r) for r in records]).tocsc()
    terms = [vectorizer.vocabulary_[w] for w in set(vectorizer.build_analyzer()(query)) if w in vectorizer.vocabulary_]
    n = counts.shape[0]
    length = np.asarray(counts.sum(axis=1)).ravel()
    tf = counts[:, terms].toarray()
    df = (tf > 0).sum(axis=0)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    saturation = k1 * (1 - b + b * length / length.mean())
    return np.asarray((idf * tf * (k1 + 1) / (tf + saturation[:, None])).sum(axis=1))


# Which zero-shot prior and which MiniLM vectors the next job loads (`patched` sets them from the
# variant's name): "chunked" are the vectors of `chunked_embeddings`, over the whole text.
_PRIOR: dict[str, str] = {"kind": "tfidf", "vectors": "first-256"}


def chunked_embeddings(limit: int = 250) -> None:
    """MiniLM over each record's whole text -> ``NAME.emb-chunked.npz`` beside the other features.

    all-MiniLM-L6-v2 reads 256 word pieces and drops the rest: 71-88 % of the records of the Cohen
    sets and Nagtegaal are longer. Here the text is cut at sentence ends into pieces of at most
    ``limit`` word pieces, each piece is embedded (through winnow's cache), and the record's vector
    is their mean weighted by length, at unit length again.
    """
    from winnow import embeddings

    tokenizer = embeddings._model().tokenizer

    def pieces(text: str) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        current: list[str] = []
        size = 0
        for sentence in (s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()):
            k = len(tokenizer.tokenize(sentence))
            if current and size + k > limit:
                out.append((" ".join(current), size))
                current, size = [], 0
            current.append(sentence)
            size += k
        return [*out, (" ".join(current), size)] if current else [(text, 1)]

    def pooled(texts: list[str]) -> np.ndarray:
        split = [pieces(t) for t in texts]
        vectors = embeddings.embed([p for ps in split for p, _ in ps])
        rows, at = [], 0
        for ps in split:
            weights = np.array([max(n, 1) for _, n in ps], dtype=np.float64)
            row = (vectors[at : at + len(ps)] * weights[:, None]).sum(axis=0)
            rows.append(row / np.linalg.norm(row))
            at += len(ps)
        return np.vstack(rows).astype(np.float32)

    for dataset in sorted(loo.DATASETS, key=lambda d: d.name):
        out = loo.FEATURES / f"{dataset.name}.emb-chunked.npz"
        if not out.is_file():
            records, query = _records_and_query(dataset.name)
            vectors = pooled([ranking.record_text(r) for r in records])
            np.savez(out, embeddings=vectors, query_embedding=pooled([query])[0])
            print(f"{dataset.name}: {len(records)} records embedded in chunks", file=sys.stderr, flush=True)


def load_and_remember(name: str, embedding_prior: bool, need_embeddings: bool) -> Any:
    _LOADED["name"] = name
    ids, truth, priors, features, prior = _load(name, embedding_prior, need_embeddings)
    if _PRIOR["vectors"] == "chunked" and features.embeddings is not None:
        dense = np.load(loo.FEATURES / f"{name}.emb-chunked.npz")
        features = replace(features, embeddings=dense["embeddings"], query_embedding=dense["query_embedding"])
    if _PRIOR["kind"] == "bm25mix":
        score = np.mean([ranking.percentile(bm25(name)), prior.score], axis=0)
        prior = ranking.Prior(score=score, components=("bm25", "tfidf-similarity"))
    return ids, truth, priors, features, prior


def prior_auc() -> None:
    """How well each zero-shot prior separates a set's includes, before any label (ROC AUC)."""
    rows = []
    for dataset in sorted(loo.DATASETS, key=lambda d: d.name):
        _, truth, _, _, prior = _load(dataset.name, False, False)
        bm = ranking.percentile(bm25(dataset.name))
        rows.append([roc_auc_score(truth, s) for s in (prior.score, bm, (prior.score + bm) / 2)])
        print(f"{dataset.name}: TF-IDF {rows[-1][0]:.3f}, BM25 {rows[-1][1]:.3f}, mean of both {rows[-1][2]:.3f}")
    print("mean over the sets: TF-IDF {:.3f}, BM25 {:.3f}, mean of both {:.3f}".format(*np.mean(rows, axis=0)))


class PriorArm(ranking.Ranker):
    """The zero-shot prior as one more Thompson arm, credited for its own picks like a learner.

    It goes in as the product's fixed arm (the slot ``--from-run`` gives the LLM's P(include)),
    so the review's labels decide how long the protocol leads instead of the h/(labels + h) schedule alone.
    """

    def __post_init__(self) -> None:
        self.prior = replace(self.prior, llm=self.prior.score)
        super().__post_init__()


class EveryLabel(ranking.Ranker):
    """Refit after every label, as ASReview does, instead of every 2 % of labels after the first 100."""

    def refit_due(self, n_labels: int, include_since_fit: bool = False) -> bool:
        return n_labels != self._fitted_at


class MaxArm(ranking.Ranker):
    """The mean arm replaced by the learners' largest percentile (CombMAX, Fox & Shaw 1994): their tops interleaved."""

    def _refit(self, order: np.ndarray, y: np.ndarray) -> None:
        super()._refit(order, y)
        fitted = [k for k in range(len(self.experts) - 1) if self._awake[k] and self.experts[k].learned]
        if isinstance(self.experts[-1], learners.MeanOfLearners) and fitted:
            self._percentiles[-1] = ranking.percentile(self._percentiles[fitted].max(axis=0))


def handicapped(misses: float, who: tuple[str, ...]) -> type[ranking.Ranker]:
    """The named arms start with ``misses`` misses: the TF-IDF SVM is trusted first."""

    class Handicapped(ranking.Ranker):
        def __post_init__(self) -> None:
            super().__post_init__()
            for i, name in enumerate(self.arms.names):
                if name in who:
                    self.arms.misses[i] += misses

    return Handicapped


_choose = bandit.ThompsonArms.choose


def tempered(k: float) -> Callable[..., int]:
    """Draw from Beta(1 + k hits, 1 + k misses): k > 1 explores less, k < 1 more."""

    def choose(self: bandit.ThompsonArms, awake: np.ndarray, seed: Any) -> int:
        draws = np.random.default_rng(list(seed)).beta(1 + k * self.hits, 1 + k * self.misses)
        return int(np.argmax(np.where(np.asarray(awake, dtype=bool), draws, -1.0)))

    return choose


DEFAULT = loo.CONFIGS["ts-svm-jsvm-mean"]
QP_C5 = loo.CONFIGS["ts-svm-jsvm-mean-qp-c5"]
T = loo.THOMPSON
# name -> (config, what the Ranker is, the draw); the names are the cache folders.
VARIANTS: dict[str, dict[str, Any]] = {
    "x-svm": {**T, "learners": ("tfidf-svm",)},
    "x-jsvm": {**T, "learners": ("joint-svm",)},
    "x-mean2": {**loo.BASE, "learners": ("tfidf-svm", "joint-svm"), "eta": 0.0},
    **{f"x-jsvm-a{a}": {**T, "learners": (f"jsvm-a{a}",)} for a in (0.25, 0.5, 0.7, 1.5)},
    **{f"x-jsvm-c{c}": {**T, "learners": (f"jsvm-c{c}",)} for c in (0.03, 0.3, 1.0)},
    **{f"x-svm-c{c}": {**T, "learners": (f"svm-c{c}",)} for c in (0.03, 0.3, 1.0)},
    "x-embsvm": {**T, "learners": ("emb-svm",)},
    "x-m-only": {**T, "learners": ("mean-svm-jsvm",)},
    "x-svm+m": {**T, "learners": ("tfidf-svm", "mean-svm-jsvm")},
    "x-ts-a025": {**T, "learners": ("tfidf-svm", "jsvm-a0.25")},
    "x-ts-a025-mean": {**T, "learners": ("tfidf-svm", "jsvm-a0.25"), "mean_arm": True},
    "x-ts-a05-mean": {**T, "learners": ("tfidf-svm", "jsvm-a0.5"), "mean_arm": True},
    "x-ts-3-mean": {**T, "learners": ("tfidf-svm", "jsvm-a0.25", "joint-svm"), "mean_arm": True},
    **{f"x-ts-mix{w}": {**T, "learners": ("tfidf-svm", "joint-svm", f"mix-svm-jsvm-{w}")} for w in (0.67, 0.8)},
    "x-svm-r1": {**T, "learners": ("tfidf-svm",)},
    "x-default-r1": DEFAULT,
    **{f"x-def-hc{h}": DEFAULT for h in (3, 10, 30)},
    "x-def-hc10m": DEFAULT,
    **{f"x-def-tk{k}": DEFAULT for k in (0.5, 3.0)},
    # Fourth session: nearest-include and character n-gram arms.
    "x-svm-qp": {**T, "learners": ("tfidf-svm",), "query_as_include": True},
    "x-knn3-only": {**T, "learners": ("knn3-emb",)},
    "x-def+knn": {**DEFAULT, "learners": ("tfidf-svm", "joint-svm", "knn-emb")},
    "x-def+knn3": {**DEFAULT, "learners": ("tfidf-svm", "joint-svm", "knn3-emb")},
    "x-def+knnt": {**DEFAULT, "learners": ("tfidf-svm", "joint-svm", "knn-tfidf")},
    "x-svm+knn3": {**DEFAULT, "learners": ("tfidf-svm", "knn3-emb")},
    "x-char-only": {**T, "learners": ("char-svm",)},
    "x-def+char": {**DEFAULT, "learners": ("tfidf-svm", "joint-svm", "char-svm")},
    "x-svm-char": {**DEFAULT, "learners": ("tfidf-svm", "char-svm")},
    "x-def+title": {**DEFAULT, "learners": ("tfidf-svm", "joint-svm", "title-svm")},
    "x-qp-char-only": {**T, "learners": ("qp-char",), "query_as_include": True},
    "x-qp-wc-only": {**T, "learners": ("qp-wc",), "query_as_include": True},
    "x-qp-wc-jwc": {**DEFAULT, "learners": ("qp-wc", "qp-jwc"), "query_as_include": True},
    "x-qp-wc-jsvm": {**DEFAULT, "learners": ("qp-wc", "joint-svm"), "query_as_include": True},
    # The new default (-qp-c5) with the protocol in one SVM only, or an unseeded SVM as a fourth arm.
    "x-qp-c5+svm": {**QP_C5, "learners": ("tfidf-svm", "joint-svm", "svm-plain")},
    "x-qp-c5-svm-only": {**QP_C5, "learners": ("tfidf-svm", "jsvm-plain")},
    "x-qp-c5-jsvm-only": {**QP_C5, "learners": ("svm-plain", "joint-svm")},
    # Fifth session: the prior as an arm; BM25 against the protocol as the prior or half of it.
    "x-qp-c5-parm": QP_C5,
    "x-qp-c5-parm-h0": {**QP_C5, "half_life": 1e-9},
    "x-qp-c5-bm25mix": QP_C5,
    "x-qp-c5-max": QP_C5,
    "x-qp-c5-chunked": QP_C5,
}
DESCRIBED = {
    "x-svm": "tfidf-svm alone (with the zero-shot prior, h = 10)",
    "x-jsvm": "joint-svm alone",
    "x-mean2": "the mean of tfidf-svm and joint-svm percentiles, no bandit",
    "x-jsvm-a{a}": "joint-svm alone, MiniLM block scaled by a",
    "x-jsvm-c{c}": "joint-svm alone with C = c",
    "x-svm-c{c}": "tfidf-svm alone with C = c",
    "x-embsvm": "the SVM on the MiniLM vectors alone",
    "x-m-only": "the mean of the two SVMs as the only learner",
    "x-svm+m": "Thompson over tfidf-svm and the mean (joint-svm not an arm)",
    "x-ts-a025": "Thompson over tfidf-svm and joint-svm with the MiniLM block at 0.25",
    "x-ts-a025-mean": "the same with the mean arm",
    "x-ts-a05-mean": "the same at 0.5",
    "x-ts-3-mean": "Thompson over tfidf-svm, joint-svm at 0.25 and at 1, and their mean",
    "x-ts-mix{w}": "the default with the mean arm weighted w to tfidf-svm and 1 - w to joint-svm",
    "x-svm-r1": "tfidf-svm alone, refit after every label",
    "x-default-r1": "the default, refit after every label",
    "x-def-hc{h}": "the default, joint-svm starting with h misses",
    "x-def-hc10m": "the default, joint-svm and the mean arm starting with 10 misses",
    "x-def-tk{k}": "the default, posterior counts multiplied by k in the draw",
    "x-svm-qp": "tfidf-svm alone, the protocol as one more include (winnow without the embeddings extra)",
    "x-knn3-only": "the mean cosine similarity (MiniLM) to the 3 nearest labelled includes, alone",
    "x-def+knn": "the default plus the MiniLM similarity to the nearest labelled include as an arm",
    "x-def+knn3": "the same with the 3 nearest",
    "x-def+knnt": "the default plus the TF-IDF similarity to the nearest labelled include as an arm",
    "x-svm+knn3": "Thompson over tfidf-svm, the 3-nearest-includes arm and their mean",
    "x-char-only": "an SVM on character 3-5-grams alone",
    "x-def+char": "the default plus the character n-gram SVM as an arm",
    "x-svm-char": "Thompson over tfidf-svm, the character n-gram SVM and their mean",
    "x-def+title": "the default plus an SVM on title words as an arm",
    "x-qp-char-only": "the character n-gram SVM with the protocol as one more include, alone",
    "x-qp-wc-only": "an SVM on words and character n-grams side by side, protocol as an include, alone",
    "x-qp-wc-jwc": "Thompson over that SVM, the same with MiniLM beside it, and their mean (protocol as an include)",
    "x-qp-wc-jsvm": "Thompson over the words+characters SVM and joint-svm, and their mean (protocol as an include)",
    "x-qp-c5+svm": "the fourth session's default plus tfidf-svm without the protocol as a fourth arm",
    "x-qp-c5-svm-only": "the fourth session's default with the protocol as an include in tfidf-svm only",
    "x-qp-c5-jsvm-only": "the fourth session's default with the protocol as an include in joint-svm only",
    "x-qp-c5-parm": "the fourth session's default with the zero-shot prior also a Thompson arm",
    "x-qp-c5-parm-h0": "the same, the prior an arm only (not blended into the learners' orders)",
    "x-qp-c5-bm25mix": "the fourth session's default, the prior the mean percentile of BM25 and the TF-IDF similarity",
    "x-qp-c5-max": "the fourth session's default with the mean arm's mean percentile replaced by the largest (CombMAX)",
    "x-qp-c5-chunked": "the fourth session's default with MiniLM over the whole text (250-token chunks, mean)",
}


def patched(name: str) -> None:
    """Point learners_loo at this variant's learners, Ranker and draw (each worker, per job)."""
    hc = re.search(r"-hc(\d+)(m?)$", name)
    tk = re.search(r"-tk([0-9.]+)$", name)
    if hc:
        who = ("joint-svm", "mean-of-learners") if hc.group(2) else ("joint-svm",)
        loo.Ranker = handicapped(float(hc.group(1)), who)  # type: ignore[misc]
    elif name.endswith("-r1"):
        loo.Ranker = EveryLabel  # type: ignore[misc]
    elif "-parm" in name:
        loo.Ranker = PriorArm  # type: ignore[misc]
    elif name.endswith("-max"):
        loo.Ranker = MaxArm  # type: ignore[misc]
    else:
        loo.Ranker = ranking.Ranker  # type: ignore[misc]
    bandit.ThompsonArms.choose = tempered(float(tk.group(1))) if tk else _choose  # type: ignore[method-assign]
    _PRIOR["kind"] = "bm25mix" if name.endswith("-bm25mix") else "tfidf"
    _PRIOR["vectors"] = "chunked" if name.endswith("-chunked") else "first-256"


def select(job: tuple[str, str, int]) -> dict[str, Any]:
    patched(job[0])
    return loo.select_one(job)


def report() -> None:
    asr = {}
    for run in json.loads(loo.ASREVIEW.read_text())["figures"]["runs"]:
        asr.setdefault(run["dataset"], {})[run["seed"]] = run["wss95"]
    names = sorted(asr)
    # The third session's default (which the variants were built on) and the fourth session's.
    defaults = ("ts-svm-jsvm-mean", "ts-svm-jsvm-mean-qp-c5")
    columns = [*defaults, *VARIANTS]
    table: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, list[float]]] = {}
    for config in columns:
        paths = {n: [loo.SELECT / config / f"{n}__seed{s}.json" for s in range(SEEDS)] for n in names}
        if not all(p.is_file() for ps in paths.values() for p in ps):
            raise SystemExit(f"{config}: select runs missing; run `select` first")
        runs[config] = {n: [json.loads(p.read_text())["wss_95"] for p in paths[n]] for n in names}
        table[config] = {n: float(np.mean(runs[config][n])) for n in names}
    asreview = {n: float(np.mean([asr[n][s] for s in range(SEEDS)])) for n in names}
    # How far a set's 5-seed mean difference moves by chance: the standard error of the
    # seed-paired differences (same seed, same two prior records) for each default.
    paired_se = {
        c: {n: float(np.std([runs[c][n][s] - asr[n][s] for s in range(SEEDS)], ddof=1) / np.sqrt(SEEDS)) for n in names}
        for c in defaults
    }
    # What the "no set lower by more than 0.01" target asks, given that noise (normal approximation,
    # each set's standard error taken as the default's): the chance that no set falls below by chance
    # if the ranker truly leads ASReview by `lead` on every set.
    se_now = np.array(list(paired_se[defaults[-1]].values()))
    no_set_below = {
        f"{lead:g}": float(np.prod(1 - norm.cdf((-0.01 - lead) / se_now))) for lead in (0.0, 0.01, 0.02, 0.03)
    }
    expected_below_if_tied = float(norm.cdf(-0.01 / se_now).sum())
    summary = {
        c: {
            "mean_wss95": float(np.mean(list(table[c].values()))),
            "sets_lower_by_more_than_0.01": {
                n: round(table[c][n] - asreview[n], 4) for n in names if table[c][n] - asreview[n] < -0.01
            },
        }
        for c in columns
    }
    loo.write_results(
        "prioritise_variants",
        {
            "seeds": SEEDS,
            "asreview_mean_wss95": float(np.mean(list(asreview.values()))),
            "variants": {c: VARIANTS.get(c, loo.CONFIGS[c]) for c in columns},
            "described": DESCRIBED,
            "summary": summary,
            "per_set_wss95": table,
            "asreview_per_set_wss95": asreview,
            "default_minus_asreview_paired_se": paired_se,
            "default_minus_asreview_paired_se_median": {
                c: float(np.median(list(se.values()))) for c, se in paired_se.items()
            },
            "chance_no_set_lower_by_0.01_given_true_lead": no_set_below,
            "expected_sets_lower_by_0.01_if_tied": expected_below_if_tied,
        },
    )
    print("| variant | mean WSS@95 | sets lower than ASReview by > 0.01 |")
    print("|---|---|---|")
    for c in columns:
        lower = summary[c]["sets_lower_by_more_than_0.01"]
        print(f"| `{c}` | {summary[c]['mean_wss95']:.4f} | {len(lower)} |")
    for c, se in paired_se.items():
        print(f"{c} - ASReview per set, seed-paired standard error: median {np.median(list(se.values())):.3f}")
    print(f"sets lower by > 0.01 expected by chance if tied on every set: {expected_below_if_tied:.2f}")
    print(f"chance that no set is lower by > 0.01, by the true lead on every set: {no_set_below}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["select", "report", "prior-auc", "embed-chunked"])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.action == "report":
        report()
        return
    if args.action == "prior-auc":
        prior_auc()
        return
    if args.action == "embed-chunked":
        chunked_embeddings()
        return
    names = sorted((d.name for d in loo.DATASETS), key=lambda n: -(loo.FEATURES / f"{n}.tfidf.npz").stat().st_size)
    jobs = [(v, n, s) for s in range(SEEDS) for v in args.variants for n in names]
    with loo.Pool(args.jobs) as pool:
        for record in pool.imap_unordered(select, jobs):
            line = f"{record['config']} {record['dataset']} seed {record['seed']}: {record['wss_95']:.3f}"
            print(line, file=sys.stderr)


# Patched at import, so every worker (fork or spawn) sees the extra learners and configs.
ranking.build_learners = build_with_extra  # type: ignore[assignment]
loo.load = load_and_remember  # type: ignore[assignment]
loo.CONFIGS.update(VARIANTS)
loo.EMBEDDED = (*loo.EMBEDDED, *(n for n in EXTRA if not n.startswith("svm-")))  # type: ignore[assignment]

if __name__ == "__main__":
    main()
