"""Fusing ranked lists (keyword and semantic results) into one: pure functions, data in, data out.

:func:`reciprocal_rank_fusion` is the default: it needs only ranks, so the scales of BM25 and cosine
scores never meet. :func:`relative_score_fusion` (min-max normalized scores, weighted sum) is the
candidate to measure against it; :data:`FUSIONS` / :func:`get_fusion` is the hook a better method plugs
into once measured.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

Fusion = Callable[..., list[tuple[K, float]]]


def _check_weights(count: int, weights: Sequence[float] | None) -> Sequence[float]:
    if weights is None:
        return [1.0] * count
    if len(weights) != count:
        raise ValueError(f"{len(weights)} weights for {count} rankings")
    if any(not w >= 0 for w in weights):  # (also refuses NaN)
        raise ValueError("weights must be >= 0")
    return weights


def _best_per_key(results: Sequence[tuple[K, float]], value: Callable[[float], float]) -> dict[K, float]:
    """Each key's best ``value(score)`` in one list (a key may be listed twice), in first-seen order."""
    best: dict[K, float] = {}
    for key, score in results:
        score = value(score)
        if key not in best or score > best[key]:
            best[key] = score
    return best


def _at_least_zero(score: float) -> float:
    score = float(score)
    return max(score, 0.0) if score == score else 0.0  # NaN counts as nothing


def _sorted(scores: dict[K, float]) -> list[tuple[K, float]]:
    # dicts keep first-seen order, and sorted() is stable: ties go to the key seen first
    return sorted(scores.items(), key=lambda item: -item[1])


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """RRF (Cormack et al. 2009): each key scores ``sum(w_i / (k + rank_i))`` over the lists that hold it,
    ranks counted from 1; a key repeated within one list counts at its best rank. Best first; ties keep
    the order in which keys were first seen (list by list)."""
    if k < 0:
        raise ValueError("k must be >= 0")
    weights = _check_weights(len(rankings), weights)
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights):
        seen: set[K] = set()
        for rank, key in enumerate(ranking, start=1):
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return _sorted(scores)


def relative_score_fusion(
    scored: Sequence[Sequence[tuple[K, float]]], weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Each list's scores min-max normalized to [0, 1] (all equal: 1), then summed with weights; a key
    missing from a list gets 0 there. Unlike RRF it keeps how far apart results are. Best first."""
    weights = _check_weights(len(scored), weights)
    fused: dict[K, float] = {}
    for results, weight in zip(scored, weights):
        best = _best_per_key(results, float)
        if not best:
            continue
        lo, hi = min(best.values()), max(best.values())
        for key, score in best.items():
            norm = (score - lo) / (hi - lo) if hi > lo else 1.0
            fused[key] = fused.get(key, 0.0) + weight * norm
    return _sorted(fused)


def convex_fusion(
    scored: Sequence[Sequence[tuple[K, float]]], weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Each list's scores divided by the list's best score (a score below 0 counts as 0, its theoretical
    minimum for BM25 and for the cosine of related texts), then summed with weights; a key missing from a
    list gets 0 there, and a key repeated within a list counts at its best. Best first; ties keep the
    order in which keys were first seen."""
    weights = _check_weights(len(scored), weights)
    fused: dict[K, float] = {}
    for results, weight in zip(scored, weights):
        best = _best_per_key(results, _at_least_zero)
        top = max(best.values(), default=0.0)
        for key, score in best.items():
            fused[key] = fused.get(key, 0.0) + (weight * score / top if top > 0 else 0.0)
    return _sorted(fused)


FUSIONS: dict[str, Fusion] = {
    "rrf": reciprocal_rank_fusion,
    "relative_score": relative_score_fusion,
    "convex": convex_fusion,
}


def get_fusion(name: str) -> Fusion:
    """A fusion method by name (``rrf`` takes ranked keys; ``relative_score`` and ``convex`` take
    ``(key, score)`` lists)."""
    try:
        return FUSIONS[name]
    except KeyError:
        raise ValueError(f"unknown fusion {name!r}; choose from {', '.join(sorted(FUSIONS))}") from None
