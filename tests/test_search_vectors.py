"""Vector indexes (dailypapers.search.vectors): exact search by hand, HNSW recall against exact on 5,000
random vectors, replacing vectors, save/load round trips, and the size threshold of build_index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dailypapers.search.vectors import (
    AnnIndex,
    ExactIndex,
    VectorIndex,
    ann_available,
    build_index,
    empty_index,
    load_index,
)
from tests.support.needs import require


@pytest.fixture
def hnswlib_installed() -> None:
    require("hnswlib")


def unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_by_hand() -> None:
    index = ExactIndex(dim=2)
    index.add([10, 20, 30], np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32))
    assert len(index) == 3
    result = index.search(np.array([1.0, 0.0]), k=2)
    assert [i for i, _ in result] == [10, 30]
    assert [s for _, s in result] == pytest.approx([1.0, 0.6])
    assert [i for i, _ in index.search(np.array([0.0, 1.0]), k=10)] == [20, 30, 10]  # k > size: all
    assert index.search(np.array([0.0, 1.0]), k=0) == []
    assert ExactIndex(dim=2).search(np.array([1.0, 0.0])) == []


def test_exact_replaces_an_id_and_grows() -> None:
    index = ExactIndex(dim=2)
    index.add([1, 2], np.array([[1, 0], [0, 1]], dtype=np.float32))
    index.add([1], np.array([[0, -1]], dtype=np.float32))  # id 1 now points down
    assert len(index) == 2
    assert index.search(np.array([0.0, -1.0]), k=1) == [(1, pytest.approx(1.0))]
    index.add([5, 5], np.array([[1, 0], [-1, 0]], dtype=np.float32))  # repeated in one batch: the last wins
    assert index.search(np.array([-1.0, 0.0]), k=1) == [(5, pytest.approx(1.0))]
    many = unit(3000, 2, seed=1)
    index.add(np.arange(100, 3100), many)
    assert len(index) == 3003
    assert index.search(many[1234], k=1)[0][0] == 1334


@pytest.mark.parametrize(
    "bad",
    [
        lambda i: i.add([1, 2], unit(1, 4)),  # ids and rows differ
        lambda i: i.add([1], unit(1, 3)),  # wrong dimension
        lambda i: i.add([-1], unit(1, 4)),  # negative id
        lambda i: i.add([1], np.full((1, 4), np.nan)),
        lambda i: i.search(np.zeros(3)),
    ],
)
def test_bad_input_is_refused(bad) -> None:
    with pytest.raises(ValueError):
        bad(ExactIndex(dim=4))


def test_exact_save_load_round_trip(tmp_path: Path) -> None:
    vectors = unit(500, 16)
    index = build_index(np.arange(1000, 1500), vectors)
    assert isinstance(index, ExactIndex) and isinstance(index, VectorIndex)
    index.save(tmp_path / "exact")
    again = load_index(tmp_path / "exact")
    assert isinstance(again, ExactIndex) and len(again) == 500
    for q in unit(5, 16, seed=3):
        assert again.search(q, k=7) == index.search(q, k=7)


def recall_at_10(ann: AnnIndex, exact: ExactIndex, queries: np.ndarray) -> float:
    hits = 0
    for q in queries:
        truth = {i for i, _ in exact.search(q, 10)}
        hits += len(truth & {i for i, _ in ann.search(q, 10)})
    return hits / (10 * len(queries))


@pytest.mark.usefixtures("hnswlib_installed")
def test_ann_recall_on_5000_random_vectors(tmp_path: Path) -> None:
    dim = 32  # random vectors in many dimensions have no neighbourhoods to find; 32 keeps the test honest
    vectors, queries = unit(5000, dim), unit(100, dim, seed=9)
    ids = np.arange(5000) * 7 + 3  # ids are not positions
    exact = build_index(ids, vectors)
    ann = build_index(ids, vectors, exact_below=1000, ef=64)
    assert isinstance(ann, AnnIndex) and len(ann) == 5000
    assert recall_at_10(ann, exact, queries) >= 0.95
    scores = [s for _, s in ann.search(queries[0], 10)]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0
    top = ann.search(vectors[42], 1)[0]
    assert top[0] == ids[42] and top[1] == pytest.approx(1.0, abs=1e-5)

    ann.save(tmp_path / "ann")
    again = load_index(tmp_path / "ann")
    assert isinstance(again, AnnIndex) and len(again) == 5000 and again.ef == 64
    for q in queries[:10]:
        assert again.search(q, 10) == ann.search(q, 10)
    again.add([10**9], unit(1, dim, seed=5))  # a loaded index still grows
    assert len(again) == 5001 and again.search(unit(1, dim, seed=5)[0], 1)[0][0] == 10**9


@pytest.mark.usefixtures("hnswlib_installed")
def test_ann_replaces_an_id_and_handles_small_and_large_k() -> None:
    vectors = unit(50, 8)
    ann = AnnIndex(dim=8, ef=16)
    assert ann.search(vectors[0], 5) == []
    ann.add(np.arange(50), vectors)
    ann.add([7], -vectors[0:1])  # id 7 now points away from vector 0
    assert ann.search(-vectors[0], 1)[0][0] == 7
    assert len(ann) == 50
    found = ann.search(vectors[3], 100)  # k above size (and above ef): everything
    assert sorted(i for i, _ in found) == list(range(50))
    assert ann.search(vectors[3], 0) == []


def test_build_index_threshold() -> None:
    small = build_index(np.arange(10), unit(10, 4), exact_below=11)
    assert isinstance(small, ExactIndex)
    if ann_available():
        assert isinstance(build_index(np.arange(10), unit(10, 4), exact_below=10), AnnIndex)
    with pytest.raises(ValueError):
        build_index([1], np.zeros(4))


@pytest.mark.usefixtures("hnswlib_installed")
def test_an_index_filled_batch_by_batch_equals_one_built_at_once() -> None:
    dim, n = 32, 3000
    vectors, ids = unit(n, dim), np.arange(n) * 3 + 1
    streamed = empty_index(dim, n, exact_below=1000, ef=64)
    assert isinstance(streamed, AnnIndex) and streamed._index.get_max_elements() == n  # room made once
    for start in range(0, n, 700):
        streamed.add(ids[start : start + 700], vectors[start : start + 700])
    assert len(streamed) == n
    exact = build_index(ids, vectors)
    assert recall_at_10(streamed, exact, unit(50, dim, seed=3)) >= 0.95
    assert isinstance(empty_index(dim, 999, exact_below=1000), ExactIndex)


def test_load_refuses_unknown_folders(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text('{"kind": "annoy"}')
    with pytest.raises(ValueError, match="annoy"):
        load_index(tmp_path)
    with pytest.raises(ValueError):
        ExactIndex.load(tmp_path)
