"""Score candidate papers for one reader from the embeddings of the papers they liked and turned down.

Pure functions over numpy arrays (numpy only: no database, no web, no scikit-learn). Every vector is a
unit-length float32 paper embedding (all-MiniLM-L6-v2, 384-d), so a dot product is a cosine similarity.

Inputs, for one reader:

- ``positives`` (m x d, m >= 1): papers they upvoted or collected, optionally with ``positive_weights``
  (say more for a collected paper, less for an old like). A new reader with no likes yet (cold start)
  is represented by the vectors of the seed papers picked from their categories, authors or
  organizations: one is enough.
- ``negatives`` (j x d, may be empty): papers they marked "not interested", optionally weighted.
- ``candidates`` (n x d, up to ~110k rows): the papers to rank.

Scorers (each gives one float32 score per candidate, higher is better; scores of different scorers or
readers are not on one scale):

- :func:`logreg_scores`: logistic regression on the embeddings, the positives against the explicit
  negatives plus randomly sampled background papers (the Scholar Inbox approach; the bar to beat).
- :func:`similarity_scores`: no training; the cosine to the (weighted) centroid of the positives mixed
  with the cosine to the closest positive (a kNN with k=1, which keeps a reader's separate interests
  apart), less a penalty for being close to a negative.
- :func:`blend_scores` (the default): the logistic score plus twice the closest-positive cosine, each
  standardised over the candidates. The classifier knows what sets the reader's papers apart from the
  rest; the closest-positive term keeps a small side interest from being averaged away.

The logistic background is sampled (seeded) from the candidates themselves, which stand for the corpus;
for a small candidate set (a single day's listing, say) pass ``background=`` a sample of the whole
corpus. An explicit negative weighs as much as an average positive in the regression; the penalty for
closeness to a negative (``NEGATIVE_PENALTY``) is a judgement, not a measurement: the benchmark has no
"not interested" marks.

:func:`recommend` runs one (``DEFAULT_METHOD`` unless told), ranks, and says for each of the top ``k``
which positive it is closest to (for a "close to <paper you liked>" reason).

``bench/recommend.py`` measured the choice: arXiv math authors stand in for readers, their earlier
papers liked and their later papers held out among every paper listed since (108,874 candidates at
most). On 300 authors, nDCG@20 0.283 for the blend against 0.244 for logistic regression alone (the
paired 95% interval of the gain: +0.025..+0.053) and 0.259 for similarity alone; hit rate@20 0.79
against 0.75. With only each author's latest 3 likes: 0.266 against 0.245 (similarity 0.251); with one
like the three are level (0.185..0.192), so a new reader's seed papers go through the same blend. A
linear SVM in place of the logistic regression scored the same (0.248). Latency for 20 likes against
108,874 candidates on 2 shared cores (load average 2): p50 43 ms, p95 44 ms (logistic regression alone
21 ms); 106 ms for 100 likes and 120 ms for 300 (the cost grows with the positives in the
closest-positive term, hence ``MAX_NEIGHBOURS``). The settings (``LOGREG_C`` the best of 3, 10, 30
alone; a flat optimum of the blend over C 3..30 and weights 1.5..3; ``CENTROID_WEIGHT`` the best of
0..1) were picked on 300 other authors.

On the same task the arXiv-sanity baseline, tf-idf + linear SVM on the text, scored higher (0.317), and
the blend plus half its standardised score higher still (0.337): authors reuse their own wording. That
needs tf-idf features, which this model does not take.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Logistic regression: background papers sampled, and the inverse regularisation strength (with the
# sample weights summing to the number of rows, as scikit-learn's class_weight="balanced" does).
N_BACKGROUND = 2000
LOGREG_C = 10.0
# Similarity: weight of the centroid cosine (the rest goes to the closest-positive cosine), and of the
# penalty for a candidate's cosine to its closest negative.
CENTROID_WEIGHT = 0.25
NEGATIVE_PENALTY = 0.5
# Blend: weight of the standardised closest-positive cosine next to the standardised logistic score.
BLEND_KNN_WEIGHT = 2.0
# The closest-positive term looks at this many positives at most (the heaviest, then the latest).
MAX_NEIGHBOURS = 128
# Words (:mod:`.lexical`), when the caller passes term features: the weight of the standardised score of
# a logistic regression on them in the blend, and its inverse regularisation strength.
# Measured on 150 other authors of bench/recommend.py, with the author feature in: the liked papers'
# mean term weights (no training) at weight 0.25 scored nDCG@20 0.476 against 0.450 without words, 0.447
# at 0.5 and 0.405 at 1 (with 3 likes 0.446 against 0.448; with 1 like 0.289 against 0.302); a logistic
# regression on the terms (C 1 or 10, weight 0.5) scored 0.458 and costs ~0.4 s a reader. So no training.
LEXICAL_WEIGHT = 0.25
LEXICAL_C = 1.0
LEXICAL_TRAINED = False
SHORTLIST = 2000  # candidates the words re-rank, the best by embeddings and co-authors
# Authors (:mod:`.coauthors`), when the caller passes each candidate's co-author score: its weight,
# unstandardised (one liked co-author adds 2 x ln 2 ~ 1.4 standard deviations of the rest). The best
# of 0.5, 1, 2, 3 on the same authors (3: 0.438 with all likes, 0.448 with 3, 0.323 with 1; 2: 0.450,
# 0.448, 0.302).
COAUTHOR_WEIGHT = 2.0
DEFAULT_METHOD = "blend"
DEFAULT_K = 50
_BLOCK = 8192  # candidate rows per block when comparing with every positive (bounds memory)


@dataclass(frozen=True)
class Recommendation:
    """A ranked result for one reader.

    ``scores[i]`` is candidate ``i``'s score (higher is better). ``top`` holds the indices of the best
    ``k`` candidates, best first, and ``top_scores`` their scores; ``nearest_positive[r]`` is the index
    (a row of ``positives``) of the liked paper closest to ``top[r]``, ``nearest_similarity[r]`` that
    cosine. ``method`` names the scorer that ran.
    """

    scores: np.ndarray
    top: np.ndarray
    top_scores: np.ndarray
    nearest_positive: np.ndarray
    nearest_similarity: np.ndarray
    method: str
    words: list[list[str]] | None = None  # per top candidate, the terms that raised its score most


@dataclass(frozen=True)
class Terms:
    """The papers' term features (:class:`~dailypapers.recommend.lexical.TermMatrix`), row for row with
    the vectors passed beside them: the positives, the candidates, the background the classifier
    learns against and the explicit negatives; ``lexicon`` names the terms (for the reasons)."""

    positives: Any
    candidates: Any
    background: Any
    negatives: Any = None
    lexicon: Any = None


def as_matrix(vectors: np.ndarray | Sequence | None, dim: int | None = None) -> np.ndarray:
    """``vectors`` as a C-contiguous float32 (n x d) matrix (no copy when it already is one); one vector
    becomes one row; None or an empty sequence gives a (0 x dim) matrix."""
    if vectors is None or (not isinstance(vectors, np.ndarray) and len(vectors) == 0):
        return np.zeros((0, dim or 0), dtype=np.float32)
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out.reshape(1, -1) if out.size else np.zeros((0, dim or 0), dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"expected a matrix of vectors, got shape {out.shape}")
    if dim is not None and len(out) and out.shape[1] != dim:
        raise ValueError(f"expected {dim}-d vectors, got {out.shape[1]}-d")
    return out


def _weights(weights: np.ndarray | Sequence | None, n: int, name: str) -> np.ndarray:
    if weights is None:
        return np.ones(n, dtype=np.float32)
    out = np.asarray(weights, dtype=np.float32).reshape(-1)
    if len(out) != n:
        raise ValueError(f"{name}: {len(out)} weights for {n} vectors")
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ValueError(f"{name}: weights must be finite and >= 0")
    return out


def _relative(weights: np.ndarray | Sequence | None, n: int, name: str) -> np.ndarray | None:
    """Weights over the largest weight (None for no weights)."""
    if weights is None:
        return None
    w = _weights(weights, n, name)
    top = float(w.max()) if n else 0.0
    return w / top if top > 0 else np.ones_like(w)


def centroid(vectors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The unit-length (weighted) mean of ``vectors``."""
    vectors = as_matrix(vectors)
    w = _weights(weights, len(vectors), "weights")
    if not len(vectors) or float(w.sum()) <= 0:
        raise ValueError("centroid of no vectors")
    mean = (w @ vectors) / w.sum()
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def _scan(
    candidates: np.ndarray,
    groups: Sequence[tuple[np.ndarray, np.ndarray | None]],
    linear: np.ndarray | None = None,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray | None]:
    """One pass over the candidates, block by block (the matrix is read once, the cost of a scorer).

    For each ``(vectors, scale)`` group: every candidate's largest cosine to one of the vectors, each
    cosine times that vector's ``scale`` (if any), and that vector's index. And ``candidates @ linear``.
    """
    n = len(candidates)
    columns = [g[0].T for g in groups] + ([linear.reshape(-1, 1)] if linear is not None else [])
    matrix = np.ascontiguousarray(np.hstack(columns), dtype=np.float32)
    bounds = np.cumsum([0] + [len(g[0]) for g in groups])
    found = [(np.empty(n, dtype=np.float32), np.empty(n, dtype=np.int64)) for _ in groups]
    projected = np.empty(n, dtype=np.float32) if linear is not None else None
    for start in range(0, n, _BLOCK):
        block = candidates[start : start + _BLOCK] @ matrix
        rows = np.arange(len(block))
        for (vectors, scale), (best, which), lo, hi in zip(groups, found, bounds[:-1], bounds[1:]):
            sims = block[:, lo:hi]
            if scale is not None:
                sims = sims * scale
            idx = sims.argmax(axis=1)
            which[start : start + len(block)] = idx
            best[start : start + len(block)] = sims[rows, idx]
        if projected is not None:
            projected[start : start + len(block)] = block[:, -1]
    return found, projected


def max_similarity(
    vectors: np.ndarray, candidates: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate, the largest (weighted) cosine to one of ``vectors`` and that vector's index.

    With weights, a vector's cosines are scaled by its weight over the largest weight, so a light
    positive (an old like, say) has to be closer to win.
    """
    vectors = as_matrix(vectors)
    candidates = as_matrix(candidates, vectors.shape[1] if len(vectors) else None)
    if not len(vectors):
        raise ValueError("max_similarity needs at least one vector")
    if not len(candidates):
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    [(best, which)], _ = _scan(candidates, [(vectors, _relative(weights, len(vectors), "weights"))])
    return best, which


def nearest_positives(positives: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``vectors``: the index of the closest positive (plain cosine) and that cosine."""
    best, which = max_similarity(positives, vectors)
    return which, best


def sample_background(n_candidates: int, size: int, seed: int = 0) -> np.ndarray:
    """``size`` distinct candidate indices in increasing order (all of them if there are fewer), drawn
    with ``seed``."""
    if size >= n_candidates:
        return np.arange(n_candidates)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_candidates, size=size, replace=False))


def _check(positives: np.ndarray, candidates: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    positives = as_matrix(positives)
    if not len(positives):
        raise ValueError(f"{what} needs at least one positive (a liked or seed paper)")
    return positives, as_matrix(candidates, positives.shape[1])


def _heaviest(
    vectors: np.ndarray, weights: np.ndarray | None, name: str, limit: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows and relative weights of at most ``limit`` vectors: the heaviest, later rows first among
    equals (callers pass likes oldest first)."""
    scale = _relative(weights, len(vectors), name)
    if len(vectors) <= limit:
        return vectors, scale
    order = np.arange(len(vectors))
    keep = np.sort(np.lexsort((-order, -(scale if scale is not None else np.ones(len(vectors)))))[:limit])
    return vectors[keep], (scale[keep] if scale is not None else None)


def _neighbours(
    positives: np.ndarray,
    candidates: np.ndarray,
    negatives: np.ndarray | None,
    positive_weights: np.ndarray | None,
    negative_weights: np.ndarray | None,
    negative_penalty: float,
    linear: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The (weighted) cosine to the closest positive less ``negative_penalty`` x the (weighted) cosine to
    the closest negative (clipped at zero: being unlike every negative earns nothing), and
    ``candidates @ linear``, in one pass. Past ``MAX_NEIGHBOURS`` positives (or negatives) only the
    heaviest, then latest, count here: the pass costs time in proportion to their number."""
    negatives = as_matrix(negatives, positives.shape[1])
    groups = [_heaviest(positives, positive_weights, "positive_weights", MAX_NEIGHBOURS)]
    if len(negatives) and negative_penalty > 0:
        groups.append(_heaviest(negatives, negative_weights, "negative_weights", MAX_NEIGHBOURS))
    found, projected = _scan(candidates, groups, linear)
    near = found[0][0]
    if len(found) > 1:
        near = near - negative_penalty * np.maximum(found[1][0], 0.0)
    return near, projected


def similarity_scores(
    positives: np.ndarray,
    candidates: np.ndarray,
    *,
    negatives: np.ndarray | None = None,
    positive_weights: np.ndarray | None = None,
    negative_weights: np.ndarray | None = None,
    centroid_weight: float = CENTROID_WEIGHT,
    negative_penalty: float = NEGATIVE_PENALTY,
    **_: Any,
) -> np.ndarray:
    """``centroid_weight`` x the cosine to the weighted centroid of the positives + the rest x the
    (weighted) cosine to the closest positive, less ``negative_penalty`` x the (weighted) cosine to the
    closest negative when that is positive. No training, no randomness."""
    positives, candidates = _check(positives, candidates, "similarity")
    if not len(candidates):
        return np.zeros(0, dtype=np.float32)
    mean = centroid(positives, positive_weights)
    near, to_mean = _neighbours(
        positives, candidates, negatives, positive_weights, negative_weights, negative_penalty, mean
    )
    return (centroid_weight * to_mean + (1.0 - centroid_weight) * near).astype(np.float32)


def training_set(
    positives: np.ndarray,
    candidates: np.ndarray,
    negatives: np.ndarray | None,
    positive_weights: np.ndarray | None,
    negative_weights: np.ndarray | None,
    background: np.ndarray | None,
    n_background: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, labels and sample weights: positives (label 1) against explicit negatives and background
    papers (label 0). The background is ``background`` if given, else ``n_background`` candidates drawn
    with ``seed``. The positives (by their weights) and the background (evenly) carry equal shares; each
    explicit negative adds as much as an average positive. The weights sum to the number of rows."""
    dim = positives.shape[1]
    negatives = as_matrix(negatives, dim)
    if background is None:
        background = candidates[sample_background(len(candidates), n_background, seed)]
    background = as_matrix(background, dim)
    pw = _weights(positive_weights, len(positives), "positive_weights")
    nw = _weights(negative_weights, len(negatives), "negative_weights")
    if float(pw.sum()) <= 0:
        raise ValueError("positive_weights are all zero")
    pw = pw / pw.sum()
    unit = 1.0 / len(positives)
    nw = nw * unit
    bw = np.full(len(background), 1.0 / max(len(background), 1), dtype=np.float32)
    rows = np.vstack([positives, negatives, background])
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives) + len(background))]
    weights = np.r_[pw, nw, bw].astype(np.float64)
    weights *= len(rows) / weights.sum()  # the scale of scikit-learn's class_weight="balanced"
    return rows, labels, weights


def fit_logistic(
    rows: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    C: float,
    *,
    max_iter: int = 100,
    tol: float = 1e-4,
    memory: int = 10,
    dim: int | None = None,
) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by L-BFGS, in numpy: minimises
    ``0.5 |w|^2 + C sum_i weights_i log(1 + exp(-t_i (rows_i . w + b)))`` with ``t_i`` = +1 for a true
    label and -1 for a false one, and an unpenalised intercept ``b``. Returns ``(w, b)``.

    The optimum of scikit-learn's ``LogisticRegression(C=C).fit(rows, labels, sample_weight=weights)``
    (``bench/recommend.py`` checks the two agree); stops when the largest gradient entry has fallen to
    ``tol`` times its value at the start, or after ``max_iter`` steps.

    ``rows`` may be anything with ``rows @ w`` and ``rows.T @ r`` (a
    :class:`~dailypapers.recommend.lexical.TermMatrix`), with its number of columns as ``dim``.
    """
    if dim is None:
        # the rows' products in float32 (the optimiser's own arithmetic stays float64): the passes over
        # the rows are what a fit costs, and half the bytes halve it; the weights differ by ~1e-6
        X = np.asarray(rows, dtype=np.float32)
        d = X.shape[1]

        def times(w: np.ndarray) -> np.ndarray:
            return X @ w.astype(np.float32)

        def transposed_times(r: np.ndarray) -> np.ndarray:
            return X.T @ r.astype(np.float32)
    else:
        d = int(dim)

        def times(w: np.ndarray) -> np.ndarray:
            return rows @ w

        def transposed_times(r: np.ndarray) -> np.ndarray:
            return rows.T @ r

    sign = np.where(np.asarray(labels) > 0, 1.0, -1.0)
    cw = C * np.asarray(weights, dtype=np.float64)

    def value_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        margin = sign * (times(w) + b)
        value = 0.5 * float(w @ w) + float(cw @ np.logaddexp(0.0, -margin))
        r = -cw * sign * np.exp(-np.logaddexp(0.0, margin))  # loss'(margin) = -sigmoid(-margin)
        return value, np.r_[w + transposed_times(r), r.sum()]

    theta = np.zeros(d + 1)
    value, grad = value_and_gradient(theta)
    stop = tol * max(1.0, float(np.abs(grad).max()))
    steps: list[np.ndarray] = []
    diffs: list[np.ndarray] = []
    for _ in range(max_iter):
        if float(np.abs(grad).max()) <= stop:
            break
        # Two-loop recursion: the direction is minus the inverse-Hessian estimate times the gradient.
        direction = -grad
        alphas = []
        for s, y in zip(reversed(steps), reversed(diffs)):
            alpha = float(s @ direction) / float(y @ s)
            alphas.append(alpha)
            direction = direction - alpha * y
        if steps:
            direction = direction * (float(steps[-1] @ diffs[-1]) / float(diffs[-1] @ diffs[-1]))
        else:
            direction = direction / float(np.linalg.norm(grad))
        for (s, y), alpha in zip(zip(steps, diffs), reversed(alphas)):
            direction = direction + (alpha - float(y @ direction) / float(y @ s)) * s
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            direction, slope = -grad, -float(grad @ grad)
            steps.clear()
            diffs.clear()
        step = 1.0
        while True:  # backtracking line search (Armijo)
            trial = theta + step * direction
            trial_value, trial_grad = value_and_gradient(trial)
            if trial_value <= value + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = trial - theta, trial_grad - grad
        if float(s @ y) > 1e-12:
            steps.append(s)
            diffs.append(y)
            if len(steps) > memory:
                steps.pop(0)
                diffs.pop(0)
        theta, value, grad = trial, trial_value, trial_grad
    return theta[:d].astype(np.float32), float(theta[d])


@contextlib.contextmanager
def one_blas_thread():
    """Holds BLAS to one thread (this process), when threadpoolctl is installed: a fit this small runs
    several times slower with two threads contending for two busy cores, and BLAS threads waiting for
    work spin on cores that other processes (a digest run's senders) need."""
    global _controller
    try:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with _controller.limit(limits=1):
        yield


_controller: Any = None


def _logistic_direction(
    positives: np.ndarray,
    candidates: np.ndarray,
    negatives: np.ndarray | None,
    positive_weights: np.ndarray | None,
    negative_weights: np.ndarray | None,
    background: np.ndarray | None,
    n_background: int,
    C: float,
    seed: int,
) -> np.ndarray:
    rows, labels, weights = training_set(
        positives, candidates, negatives, positive_weights, negative_weights, background, n_background, seed
    )
    with one_blas_thread():
        coef, _ = fit_logistic(rows, labels, weights, C)
    return coef


def logreg_scores(
    positives: np.ndarray,
    candidates: np.ndarray,
    *,
    negatives: np.ndarray | None = None,
    positive_weights: np.ndarray | None = None,
    negative_weights: np.ndarray | None = None,
    background: np.ndarray | None = None,
    n_background: int = N_BACKGROUND,
    C: float = LOGREG_C,
    seed: int = 0,
    **_: Any,
) -> np.ndarray:
    """Logistic regression (:func:`fit_logistic`) of the positives against the explicit negatives plus
    background papers (``background``, or ``n_background`` candidates sampled with ``seed``); the score
    is the decision function less its intercept (which shifts every score alike)."""
    positives, candidates = _check(positives, candidates, "logistic regression")
    if not len(candidates):
        return np.zeros(0, dtype=np.float32)
    coef = _logistic_direction(
        positives,
        candidates,
        negatives,
        positive_weights,
        negative_weights,
        background,
        n_background,
        C,
        seed,
    )
    return candidates @ coef


def _standardise(scores: np.ndarray) -> np.ndarray:
    centred = scores - scores.mean()
    std = float(centred.std())
    return centred / std if std > 0 else centred


def blend_scores(
    positives: np.ndarray,
    candidates: np.ndarray,
    *,
    negatives: np.ndarray | None = None,
    positive_weights: np.ndarray | None = None,
    negative_weights: np.ndarray | None = None,
    background: np.ndarray | None = None,
    n_background: int = N_BACKGROUND,
    C: float = LOGREG_C,
    knn_weight: float = BLEND_KNN_WEIGHT,
    negative_penalty: float = NEGATIVE_PENALTY,
    seed: int = 0,
    **_: Any,
) -> np.ndarray:
    """The standardised :func:`logreg_scores` + ``knn_weight`` x the standardised cosine to the closest
    positive, less the closest-negative penalty of :func:`similarity_scores` (one pass over the
    candidates for both)."""
    positives, candidates = _check(positives, candidates, "blend")
    if not len(candidates):
        return np.zeros(0, dtype=np.float32)
    coef = _logistic_direction(
        positives,
        candidates,
        negatives,
        positive_weights,
        negative_weights,
        background,
        n_background,
        C,
        seed,
    )
    near, linear = _neighbours(
        positives, candidates, negatives, positive_weights, negative_weights, negative_penalty, coef
    )
    return (_standardise(linear) + knn_weight * _standardise(near)).astype(np.float32)


METHODS: dict[str, Callable[..., np.ndarray]] = {
    "logreg": logreg_scores,
    "similarity": similarity_scores,
    "blend": blend_scores,
}


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first; ties go to the lower index (deterministic)."""
    scores = np.asarray(scores)
    n = len(scores)
    k = max(0, min(int(k), n))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        part = np.argpartition(-scores, k - 1)[:k]
        # argpartition keeps an arbitrary few of the candidates tied with the k-th score: take them all,
        # then the lowest indices among them.
        part = np.union1d(part, np.flatnonzero(scores == scores[part].min()))
    else:
        part = np.arange(n)
    order = np.lexsort((part, -scores[part]))
    return part[order][:k].astype(np.int64)


def recommend(
    positives: np.ndarray,
    candidates: np.ndarray,
    *,
    negatives: np.ndarray | None = None,
    positive_weights: np.ndarray | None = None,
    negative_weights: np.ndarray | None = None,
    k: int = DEFAULT_K,
    method: str | None = None,
    seed: int = 0,
    terms: Terms | None = None,
    lexical_weight: float = LEXICAL_WEIGHT,
    lexical_C: float = LEXICAL_C,
    lexical_trained: bool = LEXICAL_TRAINED,
    coauthors: np.ndarray | None = None,
    coauthor_weight: float = COAUTHOR_WEIGHT,
    **options: Any,
) -> Recommendation:
    """Score every candidate for one reader with ``method`` (default ``DEFAULT_METHOD``) and rank the
    top ``k``, each with the positive it is closest to.

    ``positives`` needs at least one row; one seed paper is enough for a new reader (from one like on,
    the blend does at least as well as plain similarity: see the module docstring). Pass likes oldest
    first (past ``MAX_NEIGHBOURS`` the latest count). ``options`` go to the scorer (``C``,
    ``n_background``, ``background``, ``knn_weight``, ``centroid_weight``, ``negative_penalty``). The
    same inputs and ``seed`` give the same result.

    With ``terms`` (the same papers' term features), the words count too: the scorer's standardised
    score plus ``lexical_weight`` x the standardised score of :func:`lexical_direction` (a logistic
    regression on the terms, or for ``similarity`` the positives' mean term weights), and each of the
    top ``k`` carries the words that raised it most (``words``). With ``coauthors`` (one score per
    candidate, :meth:`~dailypapers.recommend.coauthors.AuthorIndex.scores`), ``coauthor_weight`` x that
    score is added to the standardised sum.
    """
    name = method or DEFAULT_METHOD
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; one of {sorted(METHODS)}")
    positives, candidates = _check(positives, candidates, "recommend")
    scores = np.asarray(
        METHODS[name](
            positives,
            candidates,
            negatives=negatives,
            positive_weights=positive_weights,
            negative_weights=negative_weights,
            seed=seed,
            **options,
        ),
        dtype=np.float32,
    )
    coef = None
    if terms is not None and lexical_weight > 0 and len(candidates):
        if len(terms.candidates) != len(candidates) or len(terms.positives) != len(positives):
            raise ValueError("terms: one row per positive and per candidate")
        coef = lexical_direction(
            terms, positive_weights, trained=lexical_trained and name != "similarity", C=lexical_C
        ).astype(np.float32)
    use_authors = coauthors is not None and coauthor_weight > 0 and len(candidates)
    if use_authors and len(coauthors) != len(candidates):
        raise ValueError("coauthors: one score per candidate")
    if coef is not None or use_authors:
        combined = _standardise(scores)
        if use_authors:
            combined = combined + coauthor_weight * np.asarray(coauthors, dtype=np.float32)
        if coef is not None:
            # the words re-rank a shortlist (scoring every term of 100k papers would cost more than the
            # rest together); standardised against a sample of the corpus (the background) when there
            # is one, else against the shortlist
            shortlist = top_k(combined, SHORTLIST) if len(combined) > SHORTLIST else np.arange(len(combined))
            words_score = terms.candidates[shortlist] @ coef
            reference = terms.background @ coef if terms.background is not None else words_score
            std = float(reference.std())
            combined = combined.copy()
            combined[shortlist] += (
                lexical_weight * (words_score - reference.mean()) / (std if std > 0 else 1.0)
            )
        scores = combined.astype(np.float32)
    top = top_k(scores, k)
    which, sims = nearest_positives(positives, candidates[top])
    words = None
    if coef is not None and terms.lexicon is not None:
        from dailypapers.recommend.lexical import top_terms

        chosen = terms.candidates[top]
        words = [top_terms(terms.lexicon, coef, chosen.ids[r], chosen.weights[r]) for r in range(len(top))]
    return Recommendation(
        scores=scores,
        top=top,
        top_scores=scores[top],
        nearest_positive=which,
        nearest_similarity=sims,
        method=name,
        words=words,
    )


def lexical_direction(
    terms: Terms, positive_weights: np.ndarray | None, *, trained: bool, C: float = LEXICAL_C
) -> np.ndarray:
    """A reader's weight per term: logistic regression of the positives' terms against the background's
    and the negatives' (``trained``), or the positives' weighted mean term weights less half the
    negatives' (no training: ~0.1 ms, for a digest of many readers)."""
    from dailypapers.recommend.lexical import fit_terms

    pw = _weights(positive_weights, len(terms.positives), "positive_weights")
    if trained:
        with one_blas_thread():
            return fit_terms(
                terms.positives, terms.background, negatives=terms.negatives, positive_weights=pw, C=C
            )
    pos = terms.positives
    coef = np.bincount(pos.ids.ravel(), weights=(pos.weights * pw[:, None]).ravel(), minlength=pos.size)
    coef /= max(float(pw.sum()), 1e-12)
    neg = terms.negatives
    if neg is not None and len(neg):
        coef -= (
            NEGATIVE_PENALTY
            * np.bincount(neg.ids.ravel(), weights=neg.weights.ravel(), minlength=neg.size)
            / len(neg)
        )
    return coef
