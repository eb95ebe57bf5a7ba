"""Score candidate papers for one reader from the embeddings of the papers they liked and turned down.

Pure functions over numpy arrays: no database, no web. Every vector is a unit-length float32 paper
embedding (all-MiniLM-L6-v2, 384-d), so a dot product is a cosine similarity.

Inputs, for one reader:

- ``positives`` (m x d): papers they upvoted or collected, optionally with ``positive_weights`` (say more
  for a collected paper, less for an old like). For a new reader with no likes yet, the caller passes the
  vectors of the seed papers picked from their categories, authors or organizations.
- ``negatives`` (j x d, may be empty): papers they marked "not interested", optionally weighted.
- ``candidates`` (n x d, up to ~110k rows): the papers to rank.

Methods (each returns one float32 score per candidate, higher is better; scores of different methods or
readers are not on one scale):

- :func:`logreg_scores`: logistic regression on the embeddings, positives against explicit negatives plus
  randomly sampled background papers (the Scholar Inbox approach; the baseline to beat).
- :func:`similarity_scores`: no training; the cosine to the (weighted) centroid of the positives mixed
  with the cosine to the closest positive (a kNN with k=1, which keeps a reader's separate interests
  apart), less a penalty for being close to a negative.
- :func:`blend_scores`: logistic regression plus the closest-positive cosine, each standardised over the
  candidates.

:func:`recommend` is the entry point: it picks the method (``DEFAULT_METHOD``, or the similarity method
while there are fewer than ``MIN_POSITIVES_FOR_CLASSIFIER`` positives), ranks, and says for each of the
top ``k`` which positive it is closest to (for a "close to <paper you liked>" reason).

Measured by ``bench/recommend.py`` (arXiv math authors: earlier papers liked, later papers held out):
see the figures in the module's constants below and in that script's docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Logistic regression: sampled background papers and inverse regularisation strength.
N_BACKGROUND = 2000
LOGREG_C = 1.0
# Similarity: weight of the centroid cosine (the rest goes to the closest-positive cosine) and the weight
# of the penalty for a candidate's cosine to its closest negative.
CENTROID_WEIGHT = 0.5
NEGATIVE_PENALTY = 0.5
# Blend: weight of the standardised closest-positive cosine next to the standardised logistic score.
BLEND_KNN_WEIGHT = 1.0
# Below this many positives the classifier methods fall back to similarity (cold start).
MIN_POSITIVES_FOR_CLASSIFIER = 3
DEFAULT_METHOD = "blend"
DEFAULT_K = 50
_CHUNK = 8192  # candidate rows per block when comparing with every positive (bounds memory)

@dataclass(frozen=True)
class Recommendation:
    """A ranked result for one reader.

    ``scores[i]`` is candidate ``i``'s score (higher is better). ``top`` holds the indices of the best
    ``k`` candidates, best first; ``top_scores`` their scores; ``nearest_positive[r]`` the index (a row of
    ``positives``) of the liked paper closest to ``top[r]`` and ``nearest_similarity[r]`` that cosine.
    ``method`` names the scorer that ran.
    """

    scores: np.ndarray
    top: np.ndarray
    top_scores: np.ndarray
    nearest_positive: np.ndarray
    nearest_similarity: np.ndarray
    method: str


def as_matrix(vectors: np.ndarray | None, dim: int | None = None) -> np.ndarray:
    """``vectors`` as a C-contiguous float32 (n x d) matrix (no copy when it already is one); None or an
    empty sequence gives a (0 x dim) matrix."""
    if vectors is None or (not isinstance(vectors, np.ndarray) and len(vectors) == 0):
        return np.zeros((0, dim or 0), dtype=np.float32)
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out.reshape(1, -1) if out.size else np.zeros((0, dim or 0), dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D matrix of vectors, got shape {out.shape}")
    if dim is not None and len(out) and out.shape[1] != dim:
        raise ValueError(f"expected {dim}-d vectors, got {out.shape[1]}-d")
    return out


def _weights(weights: np.ndarray | None, n: int, name: str) -> np.ndarray:
    if weights is None:
        return np.ones(n, dtype=np.float32)
    out = np.asarray(weights, dtype=np.float32).reshape(-1)
    if len(out) != n:
        raise ValueError(f"{name}: {len(out)} weights for {n} vectors")
    if np.any(out < 0) or not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: weights must be finite and >= 0")
    return out


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def centroid(vectors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The unit-length (weighted) mean of ``vectors``."""
    vectors = as_matrix(vectors)
    w = _weights(weights, len(vectors), "weights")
    if not len(vectors) or float(w.sum()) <= 0:
        raise ValueError("centroid of no vectors")
    return _unit((w @ vectors) / w.sum()).astype(np.float32)


def max_similarity(vectors: np.ndarray, candidates: np.ndarray,
                   weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate, the largest (weighted) cosine to one of ``vectors`` and that vector's index.

    With weights, a vector's cosines are scaled by its weight over the largest weight, so a light
    positive (an old like, say) has to be closer to win. Computed in blocks of candidates.
    """
    vectors, candidates = as_matrix(vectors), as_matrix(candidates)
    n = len(candidates)
    best = np.full(n, -np.inf, dtype=np.float32)
    which = np.zeros(n, dtype=np.int64)
    if not len(vectors) or not n:
        return best, which
    scale = None
    if weights is not None:
        w = _weights(weights, len(vectors), "weights")
        top = float(w.max())
        scale = (w / top if top > 0 else np.ones_like(w)).astype(np.float32)
    for start in range(0, n, _CHUNK):
        sims = candidates[start:start + _CHUNK] @ vectors.T
        if scale is not None:
            sims *= scale
        idx = sims.argmax(axis=1)
        which[start:start + len(sims)] = idx
        best[start:start + len(sims)] = sims[np.arange(len(sims)), idx]
    return best, which


def nearest_positives(positives: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``vectors``: the index of the closest positive (plain cosine) and that cosine."""
    best, which = max_similarity(positives, vectors)
    return which, best


def sample_background(n_candidates: int, size: int, seed: int = 0) -> np.ndarray:
    """``size`` distinct candidate indices (all of them if there are fewer), drawn with ``seed``."""
    if size >= n_candidates:
        return np.arange(n_candidates)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_candidates, size=size, replace=False))


def similarity_scores(positives: np.ndarray, candidates: np.ndarray, *,
                      negatives: np.ndarray | None = None,
                      positive_weights: np.ndarray | None = None,
                      negative_weights: np.ndarray | None = None,
                      centroid_weight: float = CENTROID_WEIGHT,
                      negative_penalty: float = NEGATIVE_PENALTY, **_: Any) -> np.ndarray:
    """``centroid_weight`` x cosine to the weighted centroid of the positives + the rest x the
    (weighted) cosine to the closest positive - ``negative_penalty`` x the (weighted) cosine to the
    closest negative, clipped at zero (a candidate unlike every negative is not rewarded).

    Works from one positive on (the cold-start path). No training and no randomness.
    """
    positives = as_matrix(positives)
    candidates = as_matrix(candidates, positives.shape[1] if len(positives) else None)
    if not len(positives):
        raise ValueError("similarity needs at least one positive")
    if not len(candidates):
        return np.zeros(0, dtype=np.float32)
    pw = _weights(positive_weights, len(positives), "positive_weights")
    scores = np.zeros(len(candidates), dtype=np.float32)
    if centroid_weight > 0:
        scores += centroid_weight * (candidates @ centroid(positives, pw))
    if centroid_weight < 1:
        best, _ = max_similarity(positives, candidates, pw)
        scores += (1.0 - centroid_weight) * best
    negatives = as_matrix(negatives, positives.shape[1])
    if len(negatives) and negative_penalty > 0:
        nw = _weights(negative_weights, len(negatives), "negative_weights")
        close, _ = max_similarity(negatives, candidates, nw)
        scores -= negative_penalty * np.maximum(close, 0.0)
    return scores


def training_set(positives: np.ndarray, candidates: np.ndarray, negatives: np.ndarray | None,
                 positive_weights: np.ndarray | None, negative_weights: np.ndarray | None,
                 background: np.ndarray | None, n_background: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, labels and sample weights: positives (label 1) against explicit negatives and background
    papers (label 0). The background is ``background`` if given, else ``n_background`` candidates drawn
    with ``seed``. Positives sum to half the total weight; an explicit negative weighs as much as an
    average positive and the background shares the other half."""
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
    weights *= len(rows) / weights.sum()  # the scale of sklearn's class_weight="balanced"
    return rows, labels, weights


def fit_logistic(rows: np.ndarray, labels: np.ndarray, weights: np.ndarray, C: float, *,
                 max_iter: int = 100, tol: float = 1e-4, memory: int = 10) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by L-BFGS, in numpy: minimises
    ``0.5 |w|^2 + C sum_i weights_i log(1 + exp(-t_i (rows_i . w + b)))`` with ``t_i`` = +1 for a true
    label and -1 for a false one, and an unpenalised intercept ``b``. Returns ``(w, b)``.

    The optimum of scikit-learn's ``LogisticRegression(C=C).fit(rows, labels, sample_weight=weights)``
    (``bench/recommend.py`` checks the two agree); stops when the largest gradient entry has fallen to
    ``tol`` times its value at the start, or after ``max_iter`` steps.
    """
    X = np.asarray(rows, dtype=np.float64)
    n, d = X.shape
    sign = np.where(np.asarray(labels) > 0, 1.0, -1.0)
    cw = C * np.asarray(weights, dtype=np.float64)

    def value_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        margin = sign * (X @ w + b)
        value = 0.5 * float(w @ w) + float(cw @ np.logaddexp(0.0, -margin))
        r = -cw * sign * np.exp(-np.logaddexp(0.0, margin))  # loss'(margin) = -sigmoid(-margin)
        return value, np.r_[w + X.T @ r, r.sum()]

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


def logreg_scores(positives: np.ndarray, candidates: np.ndarray, *,
                  negatives: np.ndarray | None = None,
                  positive_weights: np.ndarray | None = None,
                  negative_weights: np.ndarray | None = None,
                  background: np.ndarray | None = None,
                  n_background: int = N_BACKGROUND, C: float = LOGREG_C, seed: int = 0,
                  **_: Any) -> np.ndarray:
    """Logistic regression (:func:`fit_logistic`) of the positives against explicit negatives plus
    background papers (``background``, or ``n_background`` candidates sampled with ``seed``); the score
    is the decision function without its intercept (which shifts every score alike)."""
    positives = as_matrix(positives)
    if not len(positives):
        raise ValueError("logistic regression needs at least one positive")
    candidates = as_matrix(candidates, positives.shape[1])
    if not len(candidates):
        return np.zeros(0, dtype=np.float32)
    rows, labels, weights = training_set(positives, candidates, negatives, positive_weights,
                                         negative_weights, background, n_background, seed)
    coef, _ = fit_logistic(rows, labels, weights, C)
    return candidates @ coef


def _standardise(scores: np.ndarray) -> np.ndarray:
    std = float(scores.std())
    return (scores - scores.mean()) / std if std > 0 else scores - scores.mean()


def blend_scores(positives: np.ndarray, candidates: np.ndarray, *,
                 negatives: np.ndarray | None = None,
                 positive_weights: np.ndarray | None = None,
                 negative_weights: np.ndarray | None = None,
                 background: np.ndarray | None = None,
                 n_background: int = N_BACKGROUND, C: float = LOGREG_C,
                 knn_weight: float = BLEND_KNN_WEIGHT, seed: int = 0, **_: Any) -> np.ndarray:
    """The standardised :func:`logreg_scores` + ``knn_weight`` x the standardised cosine to the closest
    positive (less the closest-negative penalty of :func:`similarity_scores`)."""
    positives = as_matrix(positives)
    candidates = as_matrix(candidates, positives.shape[1] if len(positives) else None)
    if not len(candidates):
        return np.zeros(0, dtype=np.float32)
    linear = logreg_scores(positives, candidates, negatives=negatives, positive_weights=positive_weights,
                           negative_weights=negative_weights, background=background,
                           n_background=n_background, C=C, seed=seed)
    near = similarity_scores(positives, candidates, negatives=negatives,
                             positive_weights=positive_weights, negative_weights=negative_weights,
                             centroid_weight=0.0)
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
        # Candidates tied with the k-th score may be left out arbitrarily by argpartition: take them all,
        # then keep the lowest indices among the ties.
        cut = scores[part].min()
        part = np.union1d(part, np.flatnonzero(scores == cut))
    else:
        part = np.arange(n)
    order = np.lexsort((part, -scores[part]))
    return part[order][:k].astype(np.int64)


def choose_method(n_positives: int, method: str | None = None) -> str:
    """The method :func:`recommend` runs: ``method`` (default ``DEFAULT_METHOD``), or similarity while
    there are fewer than ``MIN_POSITIVES_FOR_CLASSIFIER`` positives."""
    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {sorted(METHODS)}")
    if method != "similarity" and n_positives < MIN_POSITIVES_FOR_CLASSIFIER:
        return "similarity"
    return method


def recommend(positives: np.ndarray, candidates: np.ndarray, *,
              negatives: np.ndarray | None = None,
              positive_weights: np.ndarray | None = None,
              negative_weights: np.ndarray | None = None,
              k: int = DEFAULT_K, method: str | None = None, seed: int = 0,
              **options: Any) -> Recommendation:
    """Score every candidate for one reader and rank the top ``k``.

    ``positives`` needs at least one row (a new reader's seed papers will do). ``options`` go to the
    scorer (``C``, ``n_background``, ``background``, ``knn_weight``, ``centroid_weight``, ...). The same
    inputs and ``seed`` give the same result.
    """
    positives = as_matrix(positives)
    if not len(positives):
        raise ValueError("recommend needs at least one positive (a liked or seed paper)")
    candidates = as_matrix(candidates, positives.shape[1])
    name = choose_method(len(positives), method)
    scores = np.asarray(METHODS[name](positives, candidates, negatives=negatives,
                                      positive_weights=positive_weights,
                                      negative_weights=negative_weights, seed=seed, **options),
                        dtype=np.float32)
    top = top_k(scores, k)
    which, sims = nearest_positives(positives, candidates[top])
    return Recommendation(scores=scores, top=top, top_scores=scores[top], nearest_positive=which,
                          nearest_similarity=sims, method=name)
