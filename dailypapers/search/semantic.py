"""Semantic search: the backfill that embeds papers, and the vector searches over what it stored.

Vectors are stored per (paper, model) (:mod:`dailypapers.store.vectors`) with the hash of the text
embedded, so a changed abstract is embedded again and a change of model re-embeds instead of mixing spaces.
:func:`embed_missing` is the backfill behind ``dailypapers index``: it embeds papers without a current
vector in batches, committing each batch, so a killed run resumes where it stopped.
:class:`VectorSearch` keeps an index (exact below 20,000 vectors, HNSW above) per process, loaded from
the database on first use and topped up with vectors added since.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dailypapers.search.embed import EmbeddingBackend, paper_text
from dailypapers import malloc
from dailypapers.search.vectors import EXACT_BELOW, AnnIndex, ExactIndex, ann_available, empty_index
from dailypapers.store.db import Database
from dailypapers.store.vectors import (  # count_missing and vector_index_name: the backfill's, named here too
    count_missing as count_missing,
    count_vectors,
    ensure_vector_index,
    iter_vectors,
    newest_embedded_at,
    pg_nearest,
    replace_vectors,
    stale_papers,
    vector_index_name as vector_index_name,
)
from dailypapers.summaries import Summary


def text_hash(text: str) -> str:
    """The digest of an embedded text, kept beside its vector to notice a changed text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass
class IndexSummary(Summary):
    """Counts of one backfill run."""

    considered: int = 0
    embedded: int = 0
    skipped: int = 0  # already had a current vector
    described: int = 0  # papers whose term features were (re)computed (dailypapers.recommend.terms)
    vocabulary: int = 0  # terms in the current lexicon (0 before the first fit)


def embed_missing(
    db: Database,
    backend: EmbeddingBackend,
    *,
    batch_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    limit: int | None = None,
) -> IndexSummary:
    """Embed every paper that lacks a current vector under ``backend``; one transaction per batch."""
    summary = IndexSummary()
    after = 0
    while limit is None or summary.embedded < limit:
        with db.session() as session:
            rows = stale_papers(session, backend.name, after, batch_size * 8)
        if not rows:
            break
        after = rows[-1][0]
        todo = []
        for paper_id, title, abstract, stored_hash in rows:
            summary.considered += 1
            text = paper_text(title, abstract)
            digest = text_hash(text)
            if stored_hash == digest:
                summary.skipped += 1
                continue
            todo.append((paper_id, text, digest))
        todo.sort(key=lambda item: len(item[1]))  # batches of like lengths pad less
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            if limit is not None:
                chunk = chunk[: max(0, limit - summary.embedded)]
                if not chunk:
                    break
            vectors = backend.embed([t for _, t, _ in chunk], batch_size=batch_size)
            with db.transaction() as session:
                replace_vectors(
                    session,
                    backend.name,
                    [paper_id for paper_id, _, _ in chunk],
                    [digest for _, _, digest in chunk],
                    vectors,
                )
            summary.embedded += len(chunk)
            if on_progress:
                on_progress(len(chunk))
    if summary.embedded:
        ensure_vector_index(db, backend.name, backend.dim)
    return summary


class _NearestByText:
    """What both vector searches share: a text's neighbours are its embedding's."""

    backend: EmbeddingBackend

    def search_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        raise NotImplementedError

    def search_text(self, text_: str, k: int) -> list[tuple[int, float]]:
        if not text_.strip():
            return []
        return self.search_vector(self.backend.embed([text_])[0], k)


class VectorSearch(_NearestByText):
    """One process's vector index for one model: built from the database on first use, topped up with
    the vectors embedded since (checked at most every ``refresh_every`` seconds; by default before every
    search, so that an answer rendered after indexing committed, under the new data version that a
    response cache keys it to, finds the new papers)."""

    def __init__(
        self,
        db: Database,
        backend: EmbeddingBackend,
        *,
        exact_below: int = EXACT_BELOW,
        refresh_every: float = 0.0,
        recount_every: float = 300.0,
    ) -> None:
        self.db = db
        self.backend = backend
        self.exact_below = exact_below
        self.refresh_every = refresh_every
        self.recount_every = recount_every
        self._index: ExactIndex | AnnIndex | None = None
        self._state: tuple[int, datetime | None] = (0, None)  # (count, newest embedded_at) indexed
        self._checked = -1e18
        self._counted = -1e18
        self._lock = threading.Lock()

    def _refresh(self) -> ExactIndex | AnnIndex | None:
        """The index, topped up first when the check is due. The check reads the newest ``embedded_at``
        (one index lookup); the vector count (a scan, ~45 ms at 110k on SQLite) is read only when that
        moved, or every ``recount_every`` seconds to notice deleted papers."""
        now = time.monotonic()
        if now - self._checked < self.refresh_every:
            return self._index
        with self._lock:
            if now - self._checked < self.refresh_every:
                return self._index
            model = self.backend.name
            with self.db.session() as session:
                indexed_count, indexed_newest = self._state
                newest = newest_embedded_at(session, model)
                if (
                    self._index is not None
                    and newest == indexed_newest
                    and now - self._counted < self.recount_every
                ):
                    self._checked = now
                    return self._index
                count = count_vectors(session, model)
                self._counted = now
                grew_past_exact = (
                    isinstance(self._index, ExactIndex) and count >= self.exact_below and ann_available()
                )
                if self._index is None or count < indexed_count or grew_past_exact:
                    # batch by batch into an index sized for them all: never two copies of the vectors
                    index: ExactIndex | AnnIndex | None = None
                    for ids, vectors in iter_vectors(session, model):
                        if index is None:
                            index = empty_index(vectors.shape[1], count, exact_below=self.exact_below)
                        index.add(ids, vectors)
                    if index is not None:
                        self._index = index
                    malloc.trim()  # the batches' memory, back to the system
                elif (count, newest) != (indexed_count, indexed_newest):
                    for ids, vectors in iter_vectors(session, model, since=indexed_newest):
                        self._index.add(ids, vectors)
                self._state = (count, newest)
            self._checked = now
            return self._index

    def search_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        index = self._refresh()
        return index.search(vector, k) if index is not None and len(index) else []

    @property
    def loaded(self) -> bool:
        """Whether the index was read from the database at least once (the first search would not wait)."""
        return self._checked > -1e18

    def __len__(self) -> int:
        index = self._refresh()
        return len(index) if index is not None else 0


class PgVectorSearch(_NearestByText):
    """The vector search on PostgreSQL: pgvector's HNSW index in the database, shared by every worker
    process (nothing is held in memory). Same interface as :class:`VectorSearch`."""

    def __init__(self, db: Database, backend: EmbeddingBackend, *, ef_search: int = 100) -> None:
        self.db = db
        self.backend = backend
        self.ef_search = ef_search

    def search_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        with self.db.session() as session:
            return pg_nearest(session, self.backend.name, vector, k, ef_search=self.ef_search)

    def __len__(self) -> int:
        with self.db.session() as session:
            return count_vectors(session, self.backend.name)

    @property
    def loaded(self) -> bool:
        """Always: the index lives in the database."""
        return True


def make_vector_search(db: Database, backend: EmbeddingBackend) -> VectorSearch | PgVectorSearch:
    """pgvector on PostgreSQL; an in-process index (exact or HNSW) on SQLite."""
    return PgVectorSearch(db, backend) if db.is_postgres else VectorSearch(db, backend)
