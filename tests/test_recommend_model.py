"""The recommendation model on synthetic unit vectors: clusters of liked papers, turned-down papers, cold
start, reasons, edge cases, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from dailypapers.recommend import model

DIM = 384


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def around(direction: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.6) -> np.ndarray:
    """``n`` unit vectors scattered around ``direction`` (cosine to it ~0.85 with the default spread)."""
    return unit(direction + spread * rng.standard_normal((n, DIM)) / np.sqrt(DIM))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def random_background(n: int, rng: np.random.Generator) -> np.ndarray:
    return unit(rng.standard_normal((n, DIM)))


@pytest.mark.parametrize("method", sorted(model.METHODS))
def test_candidates_near_the_likes_rank_first(method: str, rng: np.random.Generator) -> None:
    topic = unit(rng.standard_normal(DIM))
    positives = around(topic, 20, rng)
    near = around(topic, 10, rng)
    candidates = np.vstack([random_background(1500, rng), near])  # the near ones are rows 1500..1509
    rec = model.recommend(positives, candidates, k=10, method=method)
    assert rec.method == method
    assert sorted(rec.top.tolist()) == list(range(1500, 1510))
    assert rec.scores.shape == (1510,) and rec.scores.dtype == np.float32
    assert np.all(np.diff(rec.top_scores) <= 0)


@pytest.mark.parametrize("method", [None, "similarity", "logreg"])
def test_negatives_push_similar_candidates_down(method: str | None, rng: np.random.Generator) -> None:
    liked_a, liked_b = unit(rng.standard_normal(DIM)), unit(rng.standard_normal(DIM))
    positives = np.vstack([around(liked_a, 10, rng), around(liked_b, 10, rng)])
    near_a, near_b = around(liked_a, 10, rng), around(liked_b, 10, rng)
    candidates = np.vstack([random_background(1000, rng), near_a, near_b])
    a_rows, b_rows = set(range(1000, 1010)), set(range(1010, 1020))

    without = model.recommend(positives, candidates, k=20, method=method)
    assert set(without.top.tolist()) == a_rows | b_rows
    assert a_rows & set(without.top[:10].tolist()) and b_rows & set(without.top[:10].tolist())

    # The reader turned down five papers of topic b: its candidates fall behind topic a's.
    negatives = around(liked_b, 5, rng)
    with_neg = model.recommend(positives, candidates, negatives=negatives, k=10, method=method)
    assert set(with_neg.top.tolist()) == a_rows
    if method == "similarity":  # the other scores are on a new scale after refitting
        b = sorted(b_rows)
        assert with_neg.scores[b].mean() < without.scores[b].mean() - 0.1


@pytest.mark.parametrize("n_seeds", [1, 2, 3])
def test_a_few_seed_papers_are_enough_for_a_cold_start(n_seeds: int, rng: np.random.Generator) -> None:
    """A new reader is represented by 1-3 seed papers on different topics: the papers near each seed
    come first, each with its own seed as the reason."""
    seeds = unit(rng.standard_normal((n_seeds, DIM)))
    near = [around(seed, 3, rng) for seed in seeds]
    candidates = np.vstack([random_background(2000, rng), *near])  # seed i: rows 2000+3i .. 2002+3i
    for method in sorted(model.METHODS):
        rec = model.recommend(seeds, candidates, k=3 * n_seeds, method=method)
        assert sorted(rec.top.tolist()) == list(range(2000, 2000 + 3 * n_seeds)), method
        assert rec.nearest_positive.tolist() == [(row - 2000) // 3 for row in rec.top.tolist()], method
    assert model.recommend(seeds[0], candidates, k=1).method == model.DEFAULT_METHOD  # one 1-d vector


def test_a_side_interest_is_not_averaged_away(rng: np.random.Generator) -> None:
    """Sixty likes on one topic and one on another: the blend keeps the second topic's close papers in
    the top 10, where the logistic regression alone fills it with the first topic's."""
    main, side = unit(rng.standard_normal(DIM)), unit(rng.standard_normal(DIM))
    positives = np.vstack([around(main, 60, rng, spread=1.0), around(side, 1, rng, spread=0.3)])
    candidates = np.vstack(
        [random_background(2000, rng), around(main, 30, rng, spread=1.0), around(side, 3, rng, spread=0.3)]
    )  # the side topic's: rows 2030..2032
    side_rows = {2030, 2031, 2032}
    assert side_rows <= set(model.recommend(positives, candidates, k=10).top.tolist())
    assert not side_rows & set(model.recommend(positives, candidates, k=10, method="logreg").top.tolist())


def test_the_reason_is_the_closest_liked_paper(rng: np.random.Generator) -> None:
    topics = unit(rng.standard_normal((3, DIM)))
    positives = np.vstack([around(t, 1, rng, spread=0.2) for t in topics])  # positive i is about topic i
    groups = [around(t, 4, rng) for t in topics]
    candidates = np.vstack([random_background(800, rng), *groups])  # topic i: rows 800+4i .. 803+4i
    rec = model.recommend(positives, candidates, k=12)
    assert sorted(rec.top.tolist()) == list(range(800, 812))
    assert rec.nearest_positive.tolist() == [(row - 800) // 4 for row in rec.top.tolist()]
    expected = np.einsum("ij,ij->i", candidates[rec.top], positives[rec.nearest_positive])
    np.testing.assert_allclose(rec.nearest_similarity, expected, rtol=1e-5, atol=1e-6)


def test_a_heavier_like_wins_over_a_lighter_one(rng: np.random.Generator) -> None:
    heavy, light = unit(rng.standard_normal(DIM)), unit(rng.standard_normal(DIM))
    positives = np.vstack([around(heavy, 3, rng), around(light, 3, rng)])
    candidates = np.vstack([random_background(500, rng), around(light, 5, rng), around(heavy, 5, rng)])
    weights = np.array([5, 5, 5, 1, 1, 1], dtype=np.float32)
    for method in ("similarity", "logreg", model.DEFAULT_METHOD):
        rec = model.recommend(positives, candidates, positive_weights=weights, k=5, method=method)
        assert sorted(rec.top.tolist()) == list(range(505, 510)), method


@pytest.mark.parametrize("method", sorted(model.METHODS))
def test_no_candidates(method: str, rng: np.random.Generator) -> None:
    rec = model.recommend(
        random_background(4, rng), np.zeros((0, DIM), dtype=np.float32), k=10, method=method
    )
    assert rec.scores.shape == (0,) and rec.top.shape == (0,) and rec.nearest_positive.shape == (0,)


def test_fewer_candidates_than_k(rng: np.random.Generator) -> None:
    positives = random_background(5, rng)
    rec = model.recommend(positives, random_background(3, rng), k=50)
    assert sorted(rec.top.tolist()) == [0, 1, 2]


def test_no_positives_is_an_error(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError):
        model.recommend(np.zeros((0, DIM), dtype=np.float32), random_background(10, rng))
    with pytest.raises(ValueError):
        model.recommend(random_background(3, rng), random_background(10, rng), method="nope")


@pytest.mark.parametrize("method", sorted(model.METHODS))
def test_deterministic(method: str) -> None:
    def once() -> model.Recommendation:
        rng = np.random.default_rng(3)
        topic = unit(rng.standard_normal(DIM))
        return model.recommend(
            around(topic, 12, rng, spread=3.0),
            random_background(1000, rng),
            k=30,
            method=method,
            seed=5,
            n_background=300,
        )  # a sample of the candidates

    first, second = once(), once()
    np.testing.assert_array_equal(first.scores, second.scores)
    np.testing.assert_array_equal(first.top, second.top)
    np.testing.assert_array_equal(first.nearest_positive, second.nearest_positive)


def test_background_sample_is_seeded_and_distinct() -> None:
    a = model.sample_background(10_000, 500, seed=1)
    assert np.array_equal(a, model.sample_background(10_000, 500, seed=1))
    assert not np.array_equal(a, model.sample_background(10_000, 500, seed=2))
    assert len(np.unique(a)) == 500 and a.min() >= 0 and a.max() < 10_000
    assert np.array_equal(model.sample_background(7, 500), np.arange(7))


def test_top_k_order_and_ties() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.5, 0.5, -1.0], dtype=np.float32)
    assert model.top_k(scores, 3).tolist() == [1, 3, 2]
    assert model.top_k(scores, 4).tolist() == [1, 3, 2, 4]
    assert model.top_k(scores, 100).tolist() == [1, 3, 2, 4, 5, 0, 6]
    assert model.top_k(scores, 0).tolist() == []
    many_ties = np.zeros(5000, dtype=np.float32)
    many_ties[4321] = 1.0
    assert model.top_k(many_ties, 4).tolist() == [4321, 0, 1, 2]


def test_weighted_centroid() -> None:
    vectors = np.eye(3, DIM, dtype=np.float32)
    expected = np.zeros(DIM)
    expected[:3] = [1, 1, 1]
    np.testing.assert_allclose(model.centroid(vectors), unit(expected), rtol=1e-6)
    expected[:3] = [2, 1, 0]
    np.testing.assert_allclose(model.centroid(vectors, [2, 1, 0]), unit(expected), rtol=1e-6)


def test_many_positives_are_compared_in_blocks(rng: np.random.Generator, monkeypatch) -> None:
    monkeypatch.setattr(model, "_BLOCK", 64)  # several blocks of candidates
    positives = random_background(40, rng)
    candidates = random_background(300, rng)
    best, which = model.max_similarity(positives, candidates)
    sims = candidates @ positives.T
    np.testing.assert_allclose(best, sims.max(axis=1), rtol=1e-5, atol=1e-6)
    assert np.array_equal(which, sims.argmax(axis=1))


def test_past_the_neighbour_limit_the_heaviest_then_latest_likes_count(
    rng: np.random.Generator, monkeypatch
) -> None:
    monkeypatch.setattr(model, "MAX_NEIGHBOURS", 4)
    topics = unit(rng.standard_normal((6, DIM)))
    positives = np.vstack([around(t, 1, rng, spread=0.2) for t in topics])
    candidates = np.vstack([random_background(300, rng), *[around(t, 1, rng) for t in topics]])
    rows = {i: 300 + i for i in range(6)}  # the candidate near positive i
    plain = model.similarity_scores(positives, candidates, centroid_weight=0.0)
    # Unweighted: the four latest positives (2..5) count; 0 and 1 lose their closest-positive score.
    assert min(plain[rows[i]] for i in (2, 3, 4, 5)) > max(plain[rows[i]] for i in (0, 1)) + 0.2
    weighted = model.similarity_scores(
        positives, candidates, centroid_weight=0.0, positive_weights=[3, 3, 1, 1, 1, 1]
    )
    # Weighted: 0 and 1 are the heaviest and count, with the two latest (4, 5).
    assert min(weighted[rows[i]] for i in (0, 1)) > max(weighted[rows[i]] for i in (2, 3)) + 0.2
    assert min(weighted[rows[i]] for i in (4, 5)) > max(weighted[rows[i]] for i in (2, 3)) + 0.1
    # The reason still looks at every positive.
    rec = model.recommend(positives, candidates, k=len(candidates), method="similarity")
    reason = dict(zip(rec.top.tolist(), rec.nearest_positive.tolist()))
    assert [reason[rows[i]] for i in range(6)] == list(range(6))
