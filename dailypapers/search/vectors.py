"""Nearest-neighbour search over unit-length float32 vectors with integer ids (paper ids).

Two indexes behind one interface (``add``, ``search``, ``save``, ``load``, ``len``); the score is the inner
product (the cosine, for unit vectors), best first; adding an id that is already there replaces its vector.

- :class:`ExactIndex`: one numpy matmul and ``argpartition``. Exact, no build; fast while small.
- :class:`AnnIndex`: an HNSW graph in hnswlib (M=16, efConstruction=100, ef=64). ``bench/ann.py`` on the
  110,675 real MiniLM vectors, libraries timed query by query in turn: hnswlib and faiss HNSW tie (ef=32:
  recall@10 0.96, p50 0.21 / 0.20 ms, p99 0.33 / 0.31 ms), usearch took 2.3x as long per query and 3.5x
  as long to build. hnswlib wins the tie as it takes our ids as labels and replaces a vector in place
  (faiss HNSW only appends). At ef=64: recall@10 0.985, p50 0.35 ms. (hnswlib 0.8.0 is an sdist on PyPI:
  installing it needs a C++ compiler.)

:func:`build_index` picks exact below ``EXACT_BELOW`` vectors (exact single-thread p50: 1.2 ms at 10k,
3.1 ms at 20k, 7.9 ms at 50k, 18 ms at 110k) and HNSW above. An index is saved as a folder
(``meta.json`` + data), and :func:`load_index` reads either kind back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

EXACT_BELOW = 20_000
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 100
DEFAULT_EF = 64
META = "meta.json"


@runtime_checkable
class VectorIndex(Protocol):
    """What search needs from a vector index."""

    kind: str
    dim: int

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None: ...

    def search(self, vector: np.ndarray, k: int = 10) -> list[tuple[int, float]]: ...

    def save(self, path: str | Path) -> None: ...

    def __len__(self) -> int: ...


def _batch(ids: Sequence[int] | np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked ids (int64 >= 0) and vectors (float32, n x dim); an id repeated in the batch keeps its last."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {vectors.shape}")
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    if len(ids) and ids.min() < 0:
        raise ValueError("ids must be >= 0")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors must be finite")
    if len(np.unique(ids)) != len(ids):
        last = len(ids) - 1 - np.unique(ids[::-1], return_index=True)[1]
        keep = np.sort(last)
        ids, vectors = ids[keep], vectors[keep]
    return ids, np.ascontiguousarray(vectors)


def _query(vector: np.ndarray, dim: int) -> np.ndarray:
    q = np.asarray(vector, dtype=np.float32).reshape(-1)
    if q.shape[0] != dim:
        raise ValueError(f"expected a query of dimension {dim}, got {q.shape[0]}")
    return q


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _read_meta(path: Path, kind: str) -> dict[str, Any]:
    meta = json.loads((path / META).read_text(encoding="utf-8"))
    if meta.get("kind") != kind:
        raise ValueError(f"{path} holds a {meta.get('kind')!r} index, not {kind!r}")
    return meta


class ExactIndex:
    """Brute force: every vector scored by one matrix-vector product; the top k by ``argpartition``."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.zeros((0, dim), dtype=np.float32)  # capacity grows by doubling
        self._ids = np.zeros(0, dtype=np.int64)
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._row)

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ``ids``; an id already present gets the new vector."""
        ids, vectors = _batch(ids, vectors, self.dim)
        known = np.array([i in self._row for i in ids.tolist()], dtype=bool)
        for i, v in zip(ids[known].tolist(), vectors[known]):
            self._vectors[self._row[i]] = v
        new_ids, new_vectors = ids[~known], vectors[~known]
        n, end = len(self), len(self) + len(new_ids)
        if end > len(self._vectors):
            capacity = max(end, 2 * len(self._vectors), 1024)
            grown = np.zeros((capacity, self.dim), dtype=np.float32)
            grown[:n] = self._vectors[:n]
            self._vectors = grown
            self._ids = np.concatenate([self._ids[:n], np.zeros(capacity - n, dtype=np.int64)])
        self._vectors[n:end] = new_vectors
        self._ids[n:end] = new_ids
        self._row.update(zip(new_ids.tolist(), range(n, end)))

    def search(self, vector: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` best ``(id, score)`` pairs, best first."""
        q = _query(vector, self.dim)
        n = len(self)
        k = min(k, n)
        if k <= 0:
            return []
        scores = self._vectors[:n] @ q
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return list(zip(self._ids[top].tolist(), scores[top].tolist()))

    def save(self, path: str | Path) -> None:
        """Write the index to folder ``path``."""
        path = Path(path)
        _write_meta(path, {"kind": self.kind, "dim": self.dim, "count": len(self)})
        np.save(path / "vectors.npy", self._vectors[: len(self)])
        np.save(path / "ids.npy", self._ids[: len(self)])

    @classmethod
    def load(cls, path: str | Path) -> ExactIndex:
        """Read an index written by :meth:`save`."""
        path = Path(path)
        meta = _read_meta(path, cls.kind)
        index = cls(int(meta["dim"]))
        index.add(np.load(path / "ids.npy"), np.load(path / "vectors.npy"))
        return index


class AnnIndex:
    """HNSW (hnswlib, inner product): approximate, sub-millisecond at 110k vectors. ``m`` and
    ``ef_construction`` shape the graph; ``ef`` trades query time for recall (a search for k > ef raises
    it to k)."""

    kind = "hnswlib"

    def __init__(
        self,
        dim: int,
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef: int = DEFAULT_EF,
        threads: int = 0,
        capacity: int = 1024,
        _index: Any = None,
    ) -> None:
        import hnswlib

        self.dim, self.m, self.ef_construction, self.ef = dim, m, ef_construction, ef
        self.threads = threads  # for add(); 0: all cores. A search uses one thread.
        if _index is None:
            _index = hnswlib.Index(space="ip", dim=dim)
            _index.init_index(max_elements=max(1, capacity), ef_construction=ef_construction, M=m)
        self._index = _index
        self._index.set_ef(ef)

    def __len__(self) -> int:
        return int(self._index.get_current_count())

    def set_ef(self, ef: int) -> None:
        """Change the search breadth (higher: better recall, slower)."""
        self.ef = ef
        self._index.set_ef(ef)

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ``ids``; an id already present gets the new vector. Single writer."""
        ids, vectors = _batch(ids, vectors, self.dim)
        if not len(ids):
            return
        needed = len(self) + len(ids)
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))
        self._index.add_items(vectors, ids.astype(np.uint64), num_threads=self.threads or -1)

    def search(self, vector: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` (approximately) best ``(id, score)`` pairs, best first."""
        q = _query(vector, self.dim)
        k = min(k, len(self))
        if k <= 0:
            return []
        if k > self._index.ef:  # hnswlib needs ef >= k; raised for good, so no search lowers it under another
            self._index.set_ef(k)
        try:
            labels, distances = self._index.knn_query(q, k=k, num_threads=1)
        except RuntimeError:  # fewer than k reachable in the graph (seen on tiny, much-updated graphs)
            return self._brute_force(q, k)
        return [(int(i), 1.0 - float(d)) for i, d in zip(labels[0], distances[0])]

    def _brute_force(self, q: np.ndarray, k: int) -> list[tuple[int, float]]:
        ids = np.asarray(self._index.get_ids_list(), dtype=np.int64)
        exact = ExactIndex(self.dim)
        exact.add(ids, np.asarray(self._index.get_items(ids.astype(np.uint64), return_type="numpy")))
        return exact.search(q, k)

    def save(self, path: str | Path) -> None:
        """Write the index to folder ``path``."""
        path = Path(path)
        _write_meta(
            path,
            {
                "kind": self.kind,
                "dim": self.dim,
                "count": len(self),
                "m": self.m,
                "ef_construction": self.ef_construction,
                "ef": self.ef,
                "space": "ip",
            },
        )
        self._index.save_index(str(path / "index.bin"))

    @classmethod
    def load(cls, path: str | Path, *, ef: int | None = None) -> AnnIndex:
        """Read an index written by :meth:`save` (``ef`` overrides the saved one)."""
        import hnswlib

        path = Path(path)
        meta = _read_meta(path, cls.kind)
        index = hnswlib.Index(space="ip", dim=int(meta["dim"]))
        index.load_index(str(path / "index.bin"), max_elements=max(int(meta["count"]), 1024))
        return cls(
            int(meta["dim"]),
            m=int(meta["m"]),
            ef_construction=int(meta["ef_construction"]),
            ef=ef or int(meta["ef"]),
            _index=index,
        )


def ann_available() -> bool:
    """Whether hnswlib can be imported."""
    try:
        import hnswlib  # noqa: F401 (only probing)
    except ImportError:
        return False
    return True


def build_index(
    ids: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    *,
    exact_below: int = EXACT_BELOW,
    **ann_options: Any,
) -> ExactIndex | AnnIndex:
    """An index holding ``vectors``: exact below ``exact_below`` of them (or without hnswlib), else HNSW."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {vectors.shape}")
    index: ExactIndex | AnnIndex
    if len(vectors) < exact_below:
        index = ExactIndex(vectors.shape[1])
    elif not ann_available():
        log.warning("hnswlib is not installed: exact search over %d vectors", len(vectors))
        index = ExactIndex(vectors.shape[1])
    else:
        index = AnnIndex(vectors.shape[1], **ann_options)
    index.add(ids, vectors)
    return index


def empty_index(
    dim: int, expected: int, *, exact_below: int = EXACT_BELOW, **ann_options: Any
) -> ExactIndex | AnnIndex:
    """An empty index of the kind :func:`build_index` picks for ``expected`` vectors, made room for:
    vectors streamed into it in batches never have to be held all at once besides it."""
    if expected >= exact_below and ann_available():
        return AnnIndex(dim, capacity=expected, **ann_options)
    return ExactIndex(dim)


def load_index(path: str | Path) -> ExactIndex | AnnIndex:
    """Read an index saved by either kind's ``save``."""
    kind = json.loads((Path(path) / META).read_text(encoding="utf-8")).get("kind")
    if kind == ExactIndex.kind:
        return ExactIndex.load(path)
    if kind == AnnIndex.kind:
        return AnnIndex.load(path)
    raise ValueError(f"unknown index kind {kind!r} in {path}")
