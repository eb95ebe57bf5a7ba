"""Read-side repository functions: what the pages and the API ask of the store. They take a session
and never commit."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from dailypapers.store.models import DailyEntry, Paper


def latest_day(session: Session, on_or_before: date | None = None) -> date | None:
    """The most recent list day that has papers (on or before ``on_or_before``)."""
    query = select(func.max(DailyEntry.day))
    if on_or_before is not None:
        query = query.where(DailyEntry.day <= on_or_before)
    return session.scalar(query)


def entries_for_day(session: Session, day: date, *, limit: int = 100, offset: int = 0) -> list[DailyEntry]:
    """The daily entries of ``day``, most upvoted first, with their papers and organizations loaded."""
    query = (
        select(DailyEntry)
        .where(DailyEntry.day == day)
        .options(joinedload(DailyEntry.paper).joinedload(Paper.organization))
        .order_by(DailyEntry.upvotes.desc(), DailyEntry.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query).unique())


def paper_by_arxiv_id(session: Session, arxiv_id: str) -> Paper | None:
    query = (
        select(Paper)
        .where(Paper.arxiv_id == arxiv_id)
        .options(joinedload(Paper.organization), joinedload(Paper.entries))
    )
    return session.scalars(query).unique().first()
