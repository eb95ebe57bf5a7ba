"""Fusion of ranked lists (dailypapers.search.fusion): RRF and the convex combination hybrid search uses,
by hand-computed examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dailypapers.search.fusion import convex_fusion, get_fusion, reciprocal_rank_fusion, relative_score_fusion


def test_rrf_by_hand() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=60)
    assert [key for key, _ in fused] == ["b", "a", "d", "c"]
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["d"] == pytest.approx(1 / 62)
    assert scores["c"] == pytest.approx(1 / 63)


def test_rrf_weights_and_k() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=0, weights=[2.0, 1.0])
    assert fused == [("a", pytest.approx(2 / 1 + 1 / 2)), ("b", pytest.approx(2 / 2 + 1 / 1))]
    assert reciprocal_rank_fusion([["a"], ["b"]], weights=[0.0, 1.0])[0][0] == "b"


def test_rrf_edge_cases() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    assert reciprocal_rank_fusion([[1, 1, 2]]) == [(1, pytest.approx(1 / 61)), (2, pytest.approx(1 / 63))]
    assert [k for k, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]  # tie: first seen
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[-1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], k=-1)


def test_relative_score_fusion() -> None:
    keyword = [("a", 12.0), ("b", 8.0), ("c", 2.0)]
    semantic = [("c", 0.9), ("d", 0.5)]
    fused = dict(relative_score_fusion([keyword, semantic], weights=[1.0, 1.0]))
    assert fused == {"a": 1.0, "b": pytest.approx(0.6), "c": 1.0, "d": 0.0}
    assert relative_score_fusion([[("x", 3.0), ("y", 3.0)]]) == [("x", 1.0), ("y", 1.0)]
    assert relative_score_fusion([[], []]) == []


def test_convex_fusion_by_hand() -> None:
    keyword = [("a", 12.0), ("b", 6.0), ("c", 3.0)]
    semantic = [("c", 0.8), ("d", 0.4), ("a", 0.2)]
    fused = convex_fusion([keyword, semantic], weights=[0.3, 0.7])
    # each list divided by its best (12 and 0.8), then 0.3 keyword + 0.7 semantic
    assert [k for k, _ in fused] == ["c", "a", "d", "b"]
    assert dict(fused) == {
        "a": pytest.approx(0.3 * 1.0 + 0.7 * 0.25),
        "b": pytest.approx(0.3 * 0.5),
        "c": pytest.approx(0.3 * 0.25 + 0.7 * 1.0),
        "d": pytest.approx(0.7 * 0.5),
    }
    # unlike rank fusion, a gap counts: a far better keyword match stays ahead of a close second
    gap = convex_fusion([[("x", 20.0), ("y", 1.0)], [("y", 0.6), ("x", 0.55)]], weights=[0.3, 0.7])
    assert gap[0][0] == "x"
    assert [k for k, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]], weights=[0.3, 0.7])][0] == "y"


def test_convex_fusion_edge_cases() -> None:
    assert convex_fusion([]) == [] and convex_fusion([[], []]) == []
    # negative scores count as 0, a repeated key at its best, NaN as nothing; a list of zeros adds nothing
    assert convex_fusion([[("a", -3.0), ("b", 2.0), ("b", 4.0), ("c", float("nan"))]]) == [
        ("b", 1.0),
        ("a", 0.0),
        ("c", 0.0),
    ]
    assert convex_fusion([[("a", 0.0)], [("b", 0.5)]]) == [("b", 1.0), ("a", 0.0)]
    with pytest.raises(ValueError):
        convex_fusion([[("a", 1.0)]], weights=[-1.0])
    with pytest.raises(ValueError):
        convex_fusion([[("a", 1.0)]], weights=[1.0, 1.0])


SCORED = st.lists(
    st.lists(st.tuples(st.integers(0, 30), st.floats(-5, 100, allow_nan=False)), max_size=20), max_size=3
)


@given(SCORED, st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_convex_fusion_properties(scored: list[list[tuple[int, float]]], weights: list[float]) -> None:
    weights = weights[: len(scored)]
    fused = convex_fusion(scored, weights=weights)
    assert sorted(k for k, _ in fused) == sorted({k for r in scored for k, _ in r})  # every key once
    values = [v for _, v in fused]
    assert values == sorted(values, reverse=True)
    assert all(0.0 <= v <= sum(weights) + 1e-9 for v in values)
    if len(scored) == 1 and weights and weights[0] > 0:  # one list: ordered by its best score per key
        best: dict[int, float] = {}
        for k, v in scored[0]:
            best[k] = max(best.get(k, 0.0), max(v, 0.0))
        assert [k for k, _ in fused] == sorted(best, key=lambda k: -best[k])


def test_hybrid_keeps_the_keyword_sides_order() -> None:
    """Every-word matches come before any-word ones in the keyword list even when an any-word match
    scores higher: fused, a later keyword hit never counts more than an earlier one."""
    from dailypapers.search.fulltext import KeywordHit
    from dailypapers.search.hybrid import SEMANTIC_WEIGHT, fuse

    keyword = [KeywordHit(1, 4.0, "", ""), KeywordHit(2, 9.0, "", ""), KeywordHit(3, 1.0, "", "")]
    fused = dict(fuse(keyword, []))
    assert fused[1] == pytest.approx(1 - SEMANTIC_WEIGHT) and fused[2] == pytest.approx(1 - SEMANTIC_WEIGHT)
    assert fused[3] == pytest.approx((1 - SEMANTIC_WEIGHT) / 4)
    assert [k for k, _ in fuse(keyword, [(3, 0.9), (4, 0.45)])] == [3, 4, 1, 2]  # 0.79, 0.36, 0.28, 0.28


def test_registry() -> None:
    assert get_fusion("rrf") is reciprocal_rank_fusion
    assert get_fusion("convex") is convex_fusion
    with pytest.raises(ValueError, match="rrf"):
        get_fusion("borda")


RANKINGS = st.lists(st.lists(st.integers(0, 30), max_size=20), max_size=4)


@given(RANKINGS)
def test_rrf_properties(rankings: list[list[int]]) -> None:
    fused = reciprocal_rank_fusion(rankings)
    keys = [k for k, _ in fused]
    assert sorted(keys) == sorted({k for r in rankings for k in r})  # every key once
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= len(rankings) / 61 for s in scores)
    if len(rankings) == 1:  # one list: its order (first occurrences) survives
        assert keys == list(dict.fromkeys(rankings[0]))


@given(RANKINGS)
def test_rrf_ignores_list_order_up_to_ties(rankings: list[list[int]]) -> None:
    forward = dict(reciprocal_rank_fusion(rankings))
    backward = dict(reciprocal_rank_fusion(rankings[::-1]))
    assert forward.keys() == backward.keys()
    assert all(forward[k] == pytest.approx(backward[k]) for k in forward)


@given(st.lists(st.integers(0, 50), min_size=2, max_size=20, unique=True), st.data())
def test_a_key_first_in_every_list_wins(keys: list[int], data) -> None:
    lists = [[keys[0]] + data.draw(st.permutations(keys[1:])) for _ in range(3)]
    assert reciprocal_rank_fusion(lists)[0][0] == keys[0]
