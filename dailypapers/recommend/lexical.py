"""What a paper's words say, for the recommender: tf-idf over a vocabulary kept between refits.

Embeddings place papers by topic; readers also follow wording (a method's name, a dataset, a phrase
their own papers use), which a 384-d sentence vector blurs. ``bench/recommend.py`` measured it: the
arxiv-sanity recipe, tf-idf + a linear SVM, beat the embedding-only recommender, and the two together
beat both.

- :class:`Lexicon`: the vocabulary, fitted on the corpus (words and word pairs of title + abstract,
  stopwords out; the ``MAX_TERMS`` present in the most papers among those in at least ``MIN_DF`` papers
  and at most ``MAX_DF`` of them) with each term's idf. It is kept: a paper that arrives later is
  described with the kept vocabulary (its words the vocabulary lacks are left out), so every paper's
  features stay comparable until the next refit (``dailypapers index --refit-terms``, and the worker's
  schedule), which re-describes every paper.
- :meth:`Lexicon.features`: a paper's ``WIDTH`` heaviest terms (sublinear tf x idf, unit length), as
  term numbers and weights; stored per paper (:func:`pack`: 4 bytes a term).
- :class:`TermMatrix`: many papers' features as two fixed-width matrices (the ELL sparse layout), so
  that a linear model scores 100k papers in one gather and a sum, in numpy.
- :func:`fit_terms`: a reader's weight per term, by the same L2-regularised logistic regression as the
  embedding side (:func:`dailypapers.recommend.model.fit_logistic`), liked papers against background
  papers; :func:`top_terms` says which words made a paper score (the reason shown).

Numpy only, like :mod:`.model`: no database, no scikit-learn.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dailypapers.search.marks import PG_STOPWORDS

MAX_TERMS = 20_000
MIN_DF = 5
MAX_DF = 0.1  # share of papers
WIDTH = 64  # terms kept per paper (a title + abstract has ~70 distinct vocabulary terms)
MAX_VOCABULARY = 65_535  # term numbers are stored as 16-bit

_TOKEN = re.compile(r"\b[a-z_][a-z0-9_]+\b")
# English function words (PostgreSQL's english.stop, as search uses) and the words of any abstract
STOPWORDS = PG_STOPWORDS | frozenset(
    """
also may might must would could shall us via within without upon among whether either neither yet thus
hence however therefore although though whereas well even much many one two three new based using used
use show shows shown paper propose proposed present approach method methods results result
""".split()
)


def tokens(text: str) -> list[str]:
    """The terms of ``text``: its words (accents stripped, lower case, two characters or more, stopwords
    out) and each pair of neighbouring words as a phrase ``"word word"``."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    words = [w for w in _TOKEN.findall(folded) if w not in STOPWORDS]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass(frozen=True)
class Lexicon:
    """A fitted vocabulary: ``terms`` (sorted) and their ``idf``; ``papers`` it was fitted on."""

    terms: tuple[str, ...]
    idf: np.ndarray
    papers: int
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.terms) > MAX_VOCABULARY:
            raise ValueError(f"a lexicon holds at most {MAX_VOCABULARY} terms, got {len(self.terms)}")
        if len(self.idf) != len(self.terms):
            raise ValueError("one idf per term")
        object.__setattr__(self, "index", {t: i for i, t in enumerate(self.terms)})

    def __len__(self) -> int:
        return len(self.terms)

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        max_terms: int = MAX_TERMS,
        min_df: int = MIN_DF,
        max_df: float = MAX_DF,
    ) -> Lexicon:
        """The vocabulary of ``texts`` (one per paper): terms in at least ``min_df`` papers and at most
        ``max_df`` of them, the ``max_terms`` in the most papers (ties alphabetical), with the smoothed
        idf ``ln((1 + n) / (1 + df)) + 1``."""
        df: Counter[str] = Counter()
        n = 0
        for text in texts:
            df.update(set(tokens(text)))
            n += 1
        ceiling = max_df * n
        kept = sorted(((c, t) for t, c in df.items() if min_df <= c <= ceiling), key=lambda x: (-x[0], x[1]))
        chosen = sorted(kept[: min(max_terms, MAX_VOCABULARY)], key=lambda x: x[1])
        idf = np.array([np.log((1 + n) / (1 + c)) + 1.0 for c, _ in chosen], dtype=np.float32)
        return cls(tuple(t for _, t in chosen), idf, n)

    def features(self, text: str, width: int = WIDTH) -> tuple[np.ndarray, np.ndarray]:
        """(term numbers, weights) of ``text``'s ``width`` heaviest vocabulary terms: ``(1 + ln tf) x
        idf``, unit length over the kept terms; empty arrays for a text with none."""
        counts = Counter(i for i in map(self.index.get, tokens(text)) if i is not None)
        if not counts:
            return np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.float32)
        ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        weights = (1.0 + np.log(tf)) * self.idf[ids]
        if len(ids) > width:
            keep = np.argsort(-weights, kind="stable")[:width]
            ids, weights = ids[keep], weights[keep]
        order = np.argsort(ids)
        ids, weights = ids[order], weights[order]
        return ids.astype(np.uint16), (weights / np.linalg.norm(weights)).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({"papers": self.papers, "terms": list(self.terms), "idf": self.idf.tolist()})

    @classmethod
    def from_json(cls, text: str) -> Lexicon:
        data = json.loads(text)
        return cls(tuple(data["terms"]), np.asarray(data["idf"], dtype=np.float32), int(data["papers"]))


def pack(ids: np.ndarray, weights: np.ndarray) -> bytes:
    """One paper's features as bytes: the term numbers (uint16) then the weights (float16)."""
    if len(ids) != len(weights):
        raise ValueError("one weight per term")
    return np.asarray(ids, dtype="<u2").tobytes() + np.asarray(weights, dtype="<f2").tobytes()


def unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`pack`."""
    if len(blob) % 4:
        raise ValueError(f"packed terms are 4 bytes each, got {len(blob)} bytes")
    n = len(blob) // 4
    return (
        np.frombuffer(blob, dtype="<u2", count=n).astype(np.int32),
        np.frombuffer(blob, dtype="<f2", count=n, offset=2 * n).astype(np.float32),
    )


class TermMatrix:
    """Papers' term features as an (n x width) matrix of term numbers and one of weights (rows padded
    with weight 0), over a vocabulary of ``size`` terms."""

    def __init__(self, ids: np.ndarray, weights: np.ndarray, size: int) -> None:
        if ids.shape != weights.shape or ids.ndim != 2:
            raise ValueError("term numbers and weights must be two matrices of one shape")
        self.ids = ids
        self.weights = weights
        self.size = int(size)

    @classmethod
    def from_rows(
        cls, rows: Sequence[tuple[np.ndarray, np.ndarray]], size: int, width: int = WIDTH
    ) -> TermMatrix:
        ids = np.zeros((len(rows), width), dtype=np.uint16)
        weights = np.zeros((len(rows), width), dtype=np.float32)
        for r, (i, w) in enumerate(rows):
            n = min(len(i), width)
            ids[r, :n] = i[:n]
            weights[r, :n] = w[:n]
        return cls(ids, weights, size)

    @classmethod
    def empty(cls, size: int, width: int = WIDTH) -> TermMatrix:
        return cls(np.zeros((0, width), dtype=np.uint16), np.zeros((0, width), dtype=np.float32), size)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, rows: np.ndarray | slice | list[int]) -> TermMatrix:
        return TermMatrix(self.ids[rows], self.weights[rows], self.size)

    @staticmethod
    def stack(parts: Sequence[TermMatrix]) -> TermMatrix:
        return TermMatrix(
            np.concatenate([p.ids for p in parts]), np.concatenate([p.weights for p in parts]), parts[0].size
        )

    def __matmul__(self, w: np.ndarray) -> np.ndarray:
        """Each row's dot product with the dense vector ``w`` (one weight per term), block by block."""
        w = np.asarray(w)
        out = np.empty(len(self.ids), dtype=np.result_type(w.dtype, np.float32))
        step = 16384
        for start in range(0, len(self.ids), step):
            block = slice(start, start + step)
            out[block] = (w[self.ids[block]] * self.weights[block]).sum(axis=1)
        return out

    @property
    def T(self) -> _Transposed:  # noqa: N802 - the matrix convention fit_logistic uses
        return _Transposed(self)


class _Transposed:
    def __init__(self, matrix: TermMatrix) -> None:
        self.matrix = matrix

    def __matmul__(self, r: np.ndarray) -> np.ndarray:
        m = self.matrix
        return np.bincount(
            m.ids.ravel(), weights=(m.weights * np.asarray(r)[:, None]).ravel(), minlength=m.size
        )


def fit_terms(
    positives: TermMatrix,
    background: TermMatrix,
    *,
    negatives: TermMatrix | None = None,
    positive_weights: np.ndarray | None = None,
    C: float,
) -> np.ndarray:
    """A reader's weight per term (float32, one per vocabulary term): logistic regression of the liked
    papers' terms against the background's and the explicit negatives', weighted as the embedding
    side's training set is (:func:`dailypapers.recommend.model.training_set`)."""
    from dailypapers.recommend import model

    negatives = (
        negatives if negatives is not None else TermMatrix.empty(positives.size, positives.ids.shape[1])
    )
    pw = (
        np.ones(len(positives))
        if positive_weights is None
        else np.asarray(positive_weights, dtype=np.float64)
    )
    if float(pw.sum()) <= 0:
        raise ValueError("positive_weights are all zero")
    pw = pw / pw.sum()
    nw = np.full(len(negatives), 1.0 / len(positives))
    bw = np.full(len(background), 1.0 / max(len(background), 1))
    rows = TermMatrix.stack([positives, negatives, background])
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives) + len(background))]
    weights = np.r_[pw, nw, bw]
    weights *= len(labels) / weights.sum()
    coef, _ = model.fit_logistic(rows, labels, weights, C, dim=positives.size)
    return coef


def top_terms(
    lexicon: Lexicon, coef: np.ndarray, ids: np.ndarray, weights: np.ndarray, n: int = 3
) -> list[str]:
    """The ``n`` terms of one paper (its term numbers and weights) that raise its score the most."""
    contribution = coef[ids] * weights
    order = np.argsort(-contribution, kind="stable")[:n]
    return [lexicon.terms[int(ids[i])] for i in order if contribution[i] > 0]
