"""Fusion of ranked lists (dailypapers.search.fusion): RRF by hand-computed examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dailypapers.search.fusion import get_fusion, reciprocal_rank_fusion, relative_score_fusion


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


def test_registry() -> None:
    assert get_fusion("rrf") is reciprocal_rank_fusion
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
