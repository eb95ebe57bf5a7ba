"""Paper vectors in the database: ``paper_vectors`` rows and, on PostgreSQL, their pgvector column.

A vector is stored per (paper, model) as a float16 blob with its dimension, the hash of the text
embedded and when it was embedded. On PostgreSQL each row also fills the ``embedding`` column (pgvector)
that a per-model HNSW index (:func:`ensure_vector_index`) searches (:func:`pg_nearest`). Everything that
reads or writes these rows is here; what to embed and how to search lives in :mod:`dailypapers.search`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from dailypapers.store.db import Database, is_postgres
from dailypapers.store.models import Paper, PaperVector, utcnow

_MODEL_NAME = re.compile(r"[A-Za-z0-9._/+-]{1,100}")


def to_blob(vector: np.ndarray) -> bytes:
    """A vector as the float16 little-endian bytes a row keeps."""
    return np.asarray(vector, dtype="<f2").tobytes()


def from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stored blobs of ``dim`` values each as one float32 matrix (a row per blob)."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), dim).astype(np.float32)


def pg_vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector, at the float16 precision the blob keeps."""
    return "[" + ",".join(f"{x:.5g}" for x in np.asarray(vector, dtype=np.float32).tolist()) + "]"


def _model_literal(model: str) -> str:
    if not _MODEL_NAME.fullmatch(model):
        raise ValueError(f"not a model name: {model!r}")
    return "'" + model + "'"


# --- writing ----------------------------------------------------------------------------------------


def insert_vectors(
    session: Session,
    model: str,
    ids: Sequence[int],
    digests: Sequence[str],
    vectors: np.ndarray,
    *,
    now: datetime | None = None,
) -> None:
    """New ``paper_vectors`` rows: the float16 blob everywhere, and on PostgreSQL the pgvector
    ``embedding`` column too (what its HNSW index searches)."""
    now = now or utcnow()
    dim = int(vectors.shape[1])
    rows = [
        {
            "paper_id": int(paper_id),
            "model": model,
            "dim": dim,
            "vector": to_blob(vector),
            "text_hash": digest,
            "embedded_at": now,
        }
        for paper_id, digest, vector in zip(ids, digests, vectors, strict=True)
    ]
    if not rows:
        return
    if not is_postgres(session):
        session.execute(PaperVector.__table__.insert(), rows)
        return
    for row, vector in zip(rows, vectors, strict=True):
        row["embedding"] = pg_vector_literal(vector)
    table = PaperVector.__table__
    session.execute(
        text(
            "INSERT INTO paper_vectors (paper_id, model, dim, vector, text_hash, embedded_at, embedding) "
            "VALUES (:paper_id, :model, :dim, :vector, :text_hash, :embedded_at, CAST(:embedding AS vector))"
        ).bindparams(
            bindparam("embedded_at", type_=table.c.embedded_at.type),
            bindparam("vector", type_=table.c.vector.type),
        ),
        rows,
    )


def replace_vectors(
    session: Session, model: str, ids: Sequence[int], digests: Sequence[str], vectors: np.ndarray
) -> None:
    """The vectors of papers ``ids`` under ``model``, in place of any stored before."""
    session.query(PaperVector).filter(PaperVector.model == model, PaperVector.paper_id.in_(ids)).delete(
        synchronize_session=False
    )
    insert_vectors(session, model, ids, digests, vectors)


def _model_digest(model: str) -> str:
    return hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:12]


def vector_index_name(model: str) -> str:
    """The name of the HNSW index over one model's vectors on PostgreSQL (half precision)."""
    return "ix_paper_vectors_hnsw_" + _model_digest(model) + "_h"


def _full_precision_index_name(model: str) -> str:
    # 0.1.0 indexed ``embedding::vector(dim)``: twice the memory for the same ranking
    return "ix_paper_vectors_hnsw_" + _model_digest(model)


def ensure_vector_index(db: Database, model: str, dim: int) -> bool:
    """On PostgreSQL: the HNSW index (cosine) over one model's pgvector embeddings, made if missing.

    It is an expression index on ``embedding::halfvec(dim)`` for that model's rows: half the memory of
    a full-precision index (what must stay in shared buffers), and the vectors were float16 to begin
    with (the blob SQLite searches is float16 too). A full-precision index left by an older release is
    dropped once the new one exists. Returns whether an index was made now; a no-op on SQLite, whose
    index lives in the process."""
    if not db.is_postgres:
        return False
    name = vector_index_name(model)
    with db.transaction() as session:
        exists = session.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar_one()
        if not exists:
            session.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS {name} ON paper_vectors USING hnsw "
                    f"((embedding::halfvec({int(dim)})) halfvec_cosine_ops) "
                    f"WITH (m = 16, ef_construction = 64) WHERE model = {_model_literal(model)}"
                )
            )
        session.execute(text(f"DROP INDEX IF EXISTS {_full_precision_index_name(model)}"))
    return not exists


# --- reading ----------------------------------------------------------------------------------------


def stale_papers(
    session: Session, model: str, after_id: int, limit: int
) -> list[tuple[int, str, str | None, str | None]]:
    """(id, title, abstract, stored text hash or None) of up to ``limit`` papers after ``after_id``, in
    id order, with the hash of their vector under ``model`` (the caller compares it with the text's)."""
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


def count_vectors(session: Session, model: str) -> int:
    """How many papers have a vector under ``model``."""
    return (
        session.scalar(select(func.count()).select_from(PaperVector).where(PaperVector.model == model)) or 0
    )


def newest_embedded_at(session: Session, model: str) -> datetime | None:
    """When the newest vector under ``model`` was embedded (None when there is none)."""
    return session.scalar(select(func.max(PaperVector.embedded_at)).where(PaperVector.model == model))


def iter_vectors(
    session: Session, model: str, *, since: datetime | None = None, batch: int = 20_000
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
    """One paper's vector under ``model`` (None when it has none)."""
    row = session.execute(
        select(PaperVector.dim, PaperVector.vector).where(
            PaperVector.paper_id == paper_id, PaperVector.model == model
        )
    ).first()
    return None if row is None else from_blobs([row.vector], row.dim)[0]


def pg_nearest(
    session: Session, model: str, vector: np.ndarray, k: int, *, ef_search: int = 100
) -> list[tuple[int, float]]:
    """On PostgreSQL: the ``k`` papers whose ``model`` vectors are nearest ``vector`` (cosine), as
    (paper id, similarity), through the model's HNSW index."""
    dim = int(np.asarray(vector).shape[-1])
    cast = f"embedding::halfvec({dim})"  # the expression the HNSW index is built on
    sql = (
        f"SELECT paper_id, 1 - ({cast} <=> CAST(:q AS halfvec({dim}))) AS similarity "  # nosec B608 # bound parameters
        f"FROM paper_vectors WHERE model = {_model_literal(model)} AND embedding IS NOT NULL "
        f"ORDER BY {cast} <=> CAST(:q AS halfvec({dim})) LIMIT :k"
    )
    # HNSW returns at most ef_search rows: ask for at least k
    session.execute(text(f"SET LOCAL hnsw.ef_search = {max(ef_search, min(int(k), 1000))}"))
    rows = session.execute(text(sql), {"q": pg_vector_literal(vector), "k": int(k)})
    return [(int(r.paper_id), float(r.similarity)) for r in rows]
