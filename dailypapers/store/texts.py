"""Papers' full texts (Markdown converted from arXiv's HTML): which to ask arXiv for, and keeping them.

A paper arXiv had no HTML for keeps a row without text, so that it is asked again only after
:data:`RETRY_MISSING` (arXiv converts new versions, and older papers over time); a newer arXiv version of
a paper than the one its text came from asks again at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from dailypapers.store.db import upsert
from dailypapers.store.models import DailyEntry, Paper, PaperText, utcnow

RETRY_MISSING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Wanted:
    """A paper to ask for: its row id, arXiv id and stored version."""

    paper_id: int
    arxiv_id: str
    version: int | None


def wanted(
    session: Session,
    limit: int,
    *,
    listed_since: date | None = None,
    arxiv_ids: Sequence[str] = (),
    now: datetime | None = None,
) -> list[Wanted]:
    """Papers whose full text to ask for, newest listing first: the named ones (whatever they hold), else
    listed papers (since ``listed_since``) with no text yet, a text of an older version, or no HTML at
    arXiv when last asked more than :data:`RETRY_MISSING` ago."""
    now = now or utcnow()
    if arxiv_ids:
        rows = session.execute(
            select(Paper.id, Paper.arxiv_id, Paper.version).where(Paper.arxiv_id.in_(list(arxiv_ids)))
        ).all()
        order = {a: i for i, a in enumerate(arxiv_ids)}
        return sorted((Wanted(*r) for r in rows), key=lambda w: order[w.arxiv_id])[:limit]
    newest = func.max(DailyEntry.day)
    query = (
        select(Paper.id, Paper.arxiv_id, Paper.version)
        .join(DailyEntry, DailyEntry.paper_id == Paper.id)
        .outerjoin(PaperText, PaperText.paper_id == Paper.id)
        .where(
            Paper.withdrawn.is_(False),
            or_(
                PaperText.paper_id.is_(None),
                and_(PaperText.markdown.is_(None), PaperText.fetched_at < now - RETRY_MISSING),
                and_(PaperText.markdown.is_not(None), func.coalesce(PaperText.version, 0) < Paper.version),
            ),
        )
        .group_by(Paper.id, Paper.arxiv_id, Paper.version)
        .order_by(newest.desc(), Paper.id.desc())
        .limit(limit)
    )
    if listed_since is not None:
        query = query.where(DailyEntry.day >= listed_since)
    return [Wanted(*r) for r in session.execute(query)]


def save(
    session: Session,
    paper_id: int,
    markdown: str | None,
    *,
    source_url: str | None,
    version: int | None,
    truncated: bool = False,
    postgres: bool = False,
) -> None:
    """Keep a paper's text (``None``: arXiv had none), replacing what was kept."""
    values = {
        "paper_id": paper_id,
        "markdown": markdown,
        "source_url": source_url,
        "version": version,
        "truncated": truncated,
        "fetched_at": utcnow(),
    }
    statement = upsert(PaperText, postgres).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["paper_id"], set_={k: v for k, v in values.items() if k != "paper_id"}
        )
    )


def full_text(session: Session, paper_id: int) -> str | None:
    """A paper's full text as Markdown, or None when none is kept."""
    return session.scalar(select(PaperText.markdown).where(PaperText.paper_id == paper_id))


def has_text(session: Session, paper_id: int) -> bool:
    """Is a full text kept for the paper?"""
    return (
        session.scalar(
            select(PaperText.paper_id).where(PaperText.paper_id == paper_id, PaperText.markdown.is_not(None))
        )
        is not None
    )


def any_kept(session: Session) -> bool:
    """Is any full text kept (so that searching them is worth offering)?"""
    return (
        session.scalar(select(PaperText.paper_id).where(PaperText.markdown.is_not(None)).limit(1)) is not None
    )
