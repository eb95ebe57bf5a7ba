"""The recommender's lexicons and papers' term features in the database (``lexicons``, ``paper_terms``).

What the features are is :mod:`dailypapers.recommend.lexical`; here only the rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dailypapers.store.models import Lexicon, Paper, PaperTerms, utcnow


def current_lexicon(session: Session) -> tuple[int, str, int] | None:
    """(id, vocabulary JSON, papers fitted on) of the newest lexicon, None before the first fit."""
    row = session.execute(
        select(Lexicon.id, Lexicon.vocabulary, Lexicon.papers).order_by(Lexicon.id.desc()).limit(1)
    ).first()
    return (row.id, row.vocabulary, row.papers) if row else None


def current_lexicon_id(session: Session) -> int | None:
    """The newest lexicon's id (None before the first fit)."""
    return session.scalar(select(func.max(Lexicon.id)))


def add_lexicon(session: Session, vocabulary: str, papers: int) -> int:
    """Store a newly fitted lexicon (it becomes the current one) and drop the older ones' rows."""
    row = Lexicon(papers=papers, vocabulary=vocabulary, fitted_at=utcnow())
    session.add(row)
    session.flush()
    session.execute(delete(PaperTerms).where(PaperTerms.lexicon_id != row.id))
    session.execute(delete(Lexicon).where(Lexicon.id != row.id))
    return row.id


def count_papers(session: Session) -> int:
    """How many papers there are."""
    return session.scalar(select(func.count()).select_from(Paper)) or 0


def iter_texts(session: Session, batch: int = 5_000) -> Iterator[tuple[int, str, str | None]]:
    """(id, title, abstract) of every paper, in id order."""
    after = 0
    while True:
        rows = session.execute(
            select(Paper.id, Paper.title, Paper.abstract)
            .where(Paper.id > after)
            .order_by(Paper.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from ((r.id, r.title, r.abstract) for r in rows)
        after = rows[-1].id


def stale_papers(
    session: Session, lexicon_id: int, after_id: int, limit: int
) -> list[tuple[int, str, str | None, str | None]]:
    """(id, title, abstract, stored hash or None) of up to ``limit`` papers after ``after_id`` whose
    terms are missing or from another lexicon (the caller compares the hash with the text's)."""
    query = (
        select(Paper.id, Paper.title, Paper.abstract, PaperTerms.text_hash, PaperTerms.lexicon_id)
        .outerjoin(PaperTerms, PaperTerms.paper_id == Paper.id)
        .where(Paper.id > after_id)
        .order_by(Paper.id)
        .limit(limit)
    )
    return [
        (r.id, r.title, r.abstract, r.text_hash if r.lexicon_id == lexicon_id else None)
        for r in session.execute(query)
    ]


def replace_terms(session: Session, lexicon_id: int, rows: Sequence[tuple[int, bytes, str]]) -> None:
    """Store (paper id, packed terms, text hash) rows under ``lexicon_id``, replacing what was there."""
    if not rows:
        return
    ids = [r[0] for r in rows]
    session.execute(delete(PaperTerms).where(PaperTerms.paper_id.in_(ids)))
    session.execute(
        PaperTerms.__table__.insert(),
        [{"paper_id": p, "lexicon_id": lexicon_id, "terms": t, "text_hash": h} for p, t, h in rows],
    )


def iter_terms(
    session: Session, lexicon_id: int, batch: int = 20_000
) -> Iterator[tuple[np.ndarray, list[bytes]]]:
    """(ids, packed terms) under ``lexicon_id`` in id order, ``batch`` rows at a time."""
    after = 0
    while True:
        rows = session.execute(
            select(PaperTerms.paper_id, PaperTerms.terms)
            .where(PaperTerms.lexicon_id == lexicon_id, PaperTerms.paper_id > after)
            .order_by(PaperTerms.paper_id)
            .limit(batch)
        ).all()
        if not rows:
            return
        ids = np.fromiter((r.paper_id for r in rows), dtype=np.int64, count=len(rows))
        yield ids, [bytes(r.terms) for r in rows]
        after = int(ids[-1])


def terms_version(session: Session) -> tuple[int | None, int]:
    """(current lexicon id, papers described under it): moves when a fit or new papers' terms land."""
    lexicon_id = current_lexicon_id(session)
    if lexicon_id is None:
        return None, 0
    count = session.scalar(
        select(func.count()).select_from(PaperTerms).where(PaperTerms.lexicon_id == lexicon_id)
    )
    return lexicon_id, int(count or 0)


__all__ = [
    "add_lexicon",
    "count_papers",
    "current_lexicon",
    "current_lexicon_id",
    "iter_terms",
    "iter_texts",
    "replace_terms",
    "stale_papers",
    "terms_version",
]
