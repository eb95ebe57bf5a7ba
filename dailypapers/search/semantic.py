"""Semantic search: paper vectors in the database, an in-memory index over them, and the backfill.

Vectors are stored per (paper, model) as float16 with the hash of the text embedded, so a changed
abstract is embedded again and a change of model re-embeds instead of mixing spaces.
:func:`embed_missing` is the backfill behind ``dailypapers index``: it embeds papers without a current
vector in batches, committing each batch, so a killed run resumes where it stopped.
:class:`VectorSearch` keeps an index (exact below 20,000 vectors, HNSW above) per process, loaded from
the database on first use and topped up with vectors added since.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from dailypapers.search.embed import EmbeddingBackend, paper_text
from dailypapers.search.vectors import EXACT_BELOW, AnnIndex, ExactIndex, ann_available, build_index
from dailypapers.store.db import Database, is_postgres
from dailypapers.store.models import Paper, PaperVector, utcnow


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f2").tobytes()


def from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), dim).astype(np.float32)


@dataclass
class IndexSummary:
    """Counts of one backfill run."""

    considered: int = 0
    embedded: int = 0
    skipped: int = 0  # already had a current vector


def _stale_papers(session: Session, model: str, after_id: int, limit: int) -> list[tuple[int, str, str | None, str | None]]:
    """Papers after ``after_id`` whose vector under ``model`` is missing (or for another text)."""
    query = (
        select(Paper.id, Paper.title, Paper.abstract, PaperVector.text_hash)
        .outerjoin(PaperVector, and_(PaperVector.paper_id == Paper.id, PaperVector.model == model))
        .where(Paper.id > after_id)
        .order_by(Paper.id)
        .limit(limit)
    )
    return [(r.id, r.title, r.abstract, r.text_hash) for r in session.execute(query)]


def count_missing(session: Session, model: str) -> int:
    """Papers with no vector under ``model`` (changed texts are found while the backfill runs)."""
    have = select(PaperVector.paper_id).where(PaperVector.model == model)
    return session.scalar(select(func.count()).select_from(Paper).where(Paper.id.not_in(have))) or 0


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
            rows = _stale_papers(session, backend.name, after, batch_size * 8)
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
            chunk = todo[start:start + batch_size]
            if limit is not None:
                chunk = chunk[: max(0, limit - summary.embedded)]
                if not chunk:
                    break
            vectors = backend.embed([t for _, t, _ in chunk], batch_size=batch_size)
            _save_vectors(db, backend, chunk, vectors)
            summary.embedded += len(chunk)
            if on_progress:
                on_progress(len(chunk))
    if summary.embedded:
        ensure_vector_index(db, backend.name, backend.dim)
    return summary


def _save_vectors(db: Database, backend: EmbeddingBackend, chunk: list[tuple[int, str, str]],
                  vectors: np.ndarray) -> None:
    with db.transaction() as session:
        ids = [paper_id for paper_id, _, _ in chunk]
        session.query(PaperVector).filter(PaperVector.model == backend.name,
                                          PaperVector.paper_id.in_(ids)).delete(synchronize_session=False)
        insert_vectors(session, backend.name, ids, [digest for _, _, digest in chunk], vectors)


def insert_vectors(session: Session, model: str, ids: Sequence[int], digests: Sequence[str],
                   vectors: np.ndarray, *, now: datetime | None = None) -> None:
    """New ``paper_vectors`` rows: the float16 blob everywhere, and on PostgreSQL the pgvector
    ``embedding`` column too (what its HNSW index searches)."""
    now = now or utcnow()
    dim = int(vectors.shape[1])
    rows = [{"paper_id": int(paper_id), "model": model, "dim": dim, "vector": to_blob(vector),
             "text_hash": digest, "embedded_at": now}
            for paper_id, digest, vector in zip(ids, digests, vectors, strict=True)]
    if not rows:
        return
    if not is_postgres(session):
        session.execute(PaperVector.__table__.insert(), rows)
        return
    for row, vector in zip(rows, vectors, strict=True):
        row["embedding"] = pg_vector_literal(vector)
    table = PaperVector.__table__
    session.execute(text(
        "INSERT INTO paper_vectors (paper_id, model, dim, vector, text_hash, embedded_at, embedding) "
        "VALUES (:paper_id, :model, :dim, :vector, :text_hash, :embedded_at, CAST(:embedding AS vector))"
    ).bindparams(bindparam("embedded_at", type_=table.c.embedded_at.type),
                 bindparam("vector", type_=table.c.vector.type)), rows)


def pg_vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector, at the float16 precision the blob keeps."""
    return "[" + ",".join(f"{x:.5g}" for x in np.asarray(vector, dtype=np.float32).tolist()) + "]"


_MODEL_NAME = re.compile(r"[A-Za-z0-9._/+-]{1,100}")


def _model_literal(model: str) -> str:
    if not _MODEL_NAME.fullmatch(model):
        raise ValueError(f"not a model name: {model!r}")
    return "'" + model + "'"


def vector_index_name(model: str) -> str:
    return "ix_paper_vectors_hnsw_" + hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:12]


def ensure_vector_index(db: Database, model: str, dim: int) -> bool:
    """On PostgreSQL: the HNSW index (cosine) over one model's pgvector embeddings, made if missing
    (an expression index on ``embedding::vector(dim)`` for that model's rows). Returns whether it was
    made now; a no-op on SQLite, whose index lives in the process."""
    if not db.is_postgres:
        return False
    name = vector_index_name(model)
    with db.transaction() as session:
        exists = session.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar_one()
        if exists:
            return False
        session.execute(text(
            f"CREATE INDEX IF NOT EXISTS {name} ON paper_vectors USING hnsw "
            f"((embedding::vector({int(dim)})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
            f"WHERE model = {_model_literal(model)}"))
    return True


def iter_vectors(session: Session, model: str, *, since: datetime | None = None, batch: int = 20_000
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) of ``model`` in id order, ``batch`` rows at a time; only those embedded after
    ``since`` if given."""
    after_id = 0
    while True:
        query = (
            select(PaperVector.paper_id, PaperVector.dim, PaperVector.vector)
            .where(PaperVector.model == model, PaperVector.paper_id > after_id)
            .order_by(PaperVector.paper_id)
            .limit(batch)
        )
        if since is not None:
            query = query.where(PaperVector.embedded_at > since)
        rows = session.execute(query).all()
        if not rows:
            return
        dim = rows[0].dim
        ids = np.fromiter((r.paper_id for r in rows), dtype=np.int64, count=len(rows))
        yield ids, from_blobs([r.vector for r in rows], dim)
        after_id = int(ids[-1])


def vector_of(session: Session, paper_id: int, model: str) -> np.ndarray | None:
    row = session.execute(
        select(PaperVector.dim, PaperVector.vector).where(PaperVector.paper_id == paper_id,
                                                          PaperVector.model == model)
    ).first()
    return None if row is None else from_blobs([row.vector], row.dim)[0]


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
    the vectors embedded since (checked at most every ``refresh_every`` seconds)."""

    def __init__(self, db: Database, backend: EmbeddingBackend, *, exact_below: int = EXACT_BELOW,
                 refresh_every: float = 5.0, recount_every: float = 300.0) -> None:
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
                newest = session.scalar(select(func.max(PaperVector.embedded_at))
                                        .where(PaperVector.model == model))
                if (self._index is not None and newest == indexed_newest
                        and now - self._counted < self.recount_every):
                    self._checked = now
                    return self._index
                count = session.scalar(select(func.count()).select_from(PaperVector)
                                       .where(PaperVector.model == model)) or 0
                self._counted = now
                grew_past_exact = (isinstance(self._index, ExactIndex) and count >= self.exact_below
                                   and ann_available())
                if self._index is None or count < indexed_count or grew_past_exact:
                    chunks = list(iter_vectors(session, model))
                    if chunks:
                        ids = np.concatenate([c[0] for c in chunks])
                        vectors = np.concatenate([c[1] for c in chunks])
                        self._index = build_index(ids, vectors, exact_below=self.exact_below)
                elif (count, newest) != (indexed_count, indexed_newest):
                    for ids, vectors in iter_vectors(session, model, since=indexed_newest):
                        self._index.add(ids, vectors)
                self._state = (count, newest)
            self._checked = now
            return self._index

    def search_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        index = self._refresh()
        return index.search(vector, k) if index is not None and len(index) else []

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
        dim = int(np.asarray(vector).shape[-1])
        cast = f"embedding::vector({dim})"
        sql = (f"SELECT paper_id, 1 - ({cast} <=> CAST(:q AS vector({dim}))) AS similarity "
               f"FROM paper_vectors WHERE model = {_model_literal(self.backend.name)} AND embedding IS NOT NULL "
               f"ORDER BY {cast} <=> CAST(:q AS vector({dim})) LIMIT :k")  # nosec B608 # values are bound parameters
        with self.db.session() as session:
            # HNSW returns at most ef_search rows: ask for at least k
            session.execute(text(f"SET LOCAL hnsw.ef_search = {max(self.ef_search, min(int(k), 1000))}"))
            rows = session.execute(text(sql), {"q": pg_vector_literal(vector), "k": int(k)})
            return [(int(r.paper_id), float(r.similarity)) for r in rows]

    def __len__(self) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count()).select_from(PaperVector)
                                  .where(PaperVector.model == self.backend.name)) or 0


def make_vector_search(db: Database, backend: EmbeddingBackend) -> VectorSearch | PgVectorSearch:
    """pgvector on PostgreSQL; an in-process index (exact or HNSW) on SQLite."""
    return PgVectorSearch(db, backend) if db.is_postgres else VectorSearch(db, backend)
