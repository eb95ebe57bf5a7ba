"""Read-side repository functions: what the pages, the API and the feeds ask of the store. They take a
session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from dailypapers.store.models import DailyEntry, Organization, Paper, PaperVersion

EntrySort = Literal["upvotes", "publishedAt", "stars"]


def latest_day(session: Session, on_or_before: date | None = None) -> date | None:
    """The most recent list day that has papers (on or before ``on_or_before``)."""
    query = select(func.max(DailyEntry.day))
    if on_or_before is not None:
        query = query.where(DailyEntry.day <= on_or_before)
    return session.scalar(query)


def adjacent_days(session: Session, day: date) -> tuple[date | None, date | None]:
    """The list days with papers just before and just after ``day`` (weekends have none)."""
    before = session.scalar(select(func.max(DailyEntry.day)).where(DailyEntry.day < day))
    after = session.scalar(select(func.min(DailyEntry.day)).where(DailyEntry.day > day))
    return before, after


def has_code(column: Any = None) -> Any:
    """The condition "the paper has a code repository" (on ``Paper.code_url`` unless given)."""
    column = Paper.code_url if column is None else column
    return (column.is_not(None)) & (column != "")


def _entries_query(
    start: date, end: date, submitter: str | None, organization_id: int | None, code: bool = False
) -> Select:
    query = select(DailyEntry).where(DailyEntry.day >= start, DailyEntry.day <= end)
    if submitter:
        query = query.where(DailyEntry.submitter_name == submitter)
    if organization_id is not None or code:
        query = query.join(Paper, Paper.id == DailyEntry.paper_id)
    if organization_id is not None:
        query = query.where(Paper.organization_id == organization_id)
    if code:
        query = query.where(has_code())
    return query


def list_entries(
    session: Session,
    start: date,
    end: date,
    *,
    sort: EntrySort = "upvotes",
    submitter: str | None = None,
    organization_id: int | None = None,
    code: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DailyEntry], int]:
    """Daily entries listed from ``start`` to ``end`` (inclusive), one page of them and the total;
    ``code``: only papers with a code repository.

    ``upvotes``: most upvoted first (the daily page's order); ``publishedAt``: newest paper first;
    ``stars``: most GitHub stars first.
    """
    base = _entries_query(start, end, submitter, organization_id, code)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    query = base.options(joinedload(DailyEntry.paper).joinedload(Paper.organization))
    if organization_id is None and not code:
        query = query.join(Paper, Paper.id == DailyEntry.paper_id)
    votes = DailyEntry.upvotes + Paper.community_upvotes  # what the card shows (DailyEntry.total_upvotes)
    if sort == "stars":
        query = query.order_by(func.coalesce(Paper.github_stars, 0).desc(), votes.desc(), DailyEntry.id)
    elif sort == "publishedAt":
        query = query.order_by(Paper.published_at.desc(), votes.desc(), DailyEntry.id)
    else:
        query = query.order_by(votes.desc(), DailyEntry.day.desc(), DailyEntry.id)
    entries = list(session.scalars(query.limit(limit).offset(offset)).unique())
    return entries, total


def paper_by_arxiv_id(session: Session, arxiv_id: str) -> Paper | None:
    """The paper stored under exactly ``arxiv_id``, with its organization and listings; or None."""
    query = (
        select(Paper)
        .where(Paper.arxiv_id == arxiv_id)
        .options(joinedload(Paper.organization), selectinload(Paper.entries))
    )
    return session.scalars(query).unique().first()


def organization_by_name(session: Session, name: str) -> Organization | None:
    """The organization whose short name is exactly ``name``, or None."""
    return session.scalars(select(Organization).where(Organization.name == name)).first()


def find_organization(session: Session, name: str) -> Organization | None:
    """The organization whose short name is ``name``, else the one whose short or full name is ``name``
    ignoring case, or None."""
    exact = organization_by_name(session, name)
    if exact is not None:
        return exact
    lowered = name.lower()
    return session.scalars(
        select(Organization)
        .where((func.lower(Organization.name) == lowered) | (func.lower(Organization.fullname) == lowered))
        .order_by(Organization.id)
    ).first()


def organization_papers(
    session: Session, organization_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[Paper], int]:
    """An organization's papers, newest first, with their listings loaded."""
    base = select(Paper).where(Paper.organization_id == organization_id)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    query = (
        base.options(joinedload(Paper.organization), selectinload(Paper.entries))
        .order_by(Paper.published_at.desc().nulls_last(), Paper.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query).unique()), total


def papers_by_ids(session: Session, ids: Sequence[int]) -> dict[int, Paper]:
    """Papers by id, with their organization and listings loaded."""
    if not ids:
        return {}
    rows = session.scalars(
        select(Paper)
        .where(Paper.id.in_(list(ids)))
        .options(joinedload(Paper.organization), selectinload(Paper.entries))
    )
    return {p.id: p for p in rows.unique()}


def papers_page(session: Session, *, after: tuple[datetime | None, int] | None, limit: int) -> list[Paper]:
    """All papers, newest first (published time, then id), keyset-paginated: ``after`` is the
    (published_at, id) of the last paper of the previous page."""
    query = select(Paper).options(joinedload(Paper.organization))
    if after is not None:
        published, paper_id = after
        if published is None:
            query = query.where(Paper.published_at.is_(None), Paper.id < paper_id)
        else:
            query = query.where(
                (Paper.published_at < published)
                | ((Paper.published_at == published) & (Paper.id < paper_id))
                | Paper.published_at.is_(None)
            )
    query = query.order_by(Paper.published_at.desc().nulls_last(), Paper.id.desc()).limit(limit)
    return list(session.scalars(query).unique())


def latest_entries_for(session: Session, paper_ids: Sequence[int]) -> dict[int, DailyEntry]:
    """The most recent daily entry of each paper (for search results and paper lists)."""
    if not paper_ids:
        return {}
    rows = session.scalars(
        select(DailyEntry).where(DailyEntry.paper_id.in_(list(paper_ids))).order_by(DailyEntry.day)
    )
    return {e.paper_id: e for e in rows}


def paper_versions(session: Session, paper_id: int) -> list[PaperVersion]:
    """The arXiv versions of a paper the sources reported, oldest first."""
    return list(
        session.scalars(
            select(PaperVersion).where(PaperVersion.paper_id == paper_id).order_by(PaperVersion.version)
        )
    )


GITHUB_WINDOW_DAYS = 7


def github_trending(
    session: Session, *, limit: int = 50, offset: int = 0, days: int = GITHUB_WINDOW_DAYS
) -> tuple[list[tuple[Paper, int]], int]:
    """ "Trending on GitHub": the papers whose stars rose at their latest import, most stars gained first,
    among those raised in the ``days`` up to the newest such import (an instance whose imports stopped
    shows its last week), with the stars gained; one page, and how many in all."""
    newest = session.scalar(select(func.max(Paper.stars_changed_at)))
    if newest is None:
        return [], 0
    gained = Paper.github_stars - Paper.stars_before
    where = (
        Paper.stars_changed_at >= newest - timedelta(days=days),
        Paper.stars_before.is_not(None),
        Paper.withdrawn.is_(False),
    )
    total = session.scalar(select(func.count()).select_from(Paper).where(*where)) or 0
    rows = session.execute(
        select(Paper, gained.label("gained"))
        .where(*where)
        .options(joinedload(Paper.organization), selectinload(Paper.entries))
        .order_by(gained.desc(), Paper.github_stars.desc(), Paper.id.desc())
        .limit(limit)
        .offset(offset)
    ).unique()
    return [(paper, int(g or 0)) for paper, g in rows], total
