"""Read-side repository functions: what the pages, the API and the feeds ask of the store. They take a
session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from dailypapers.store import categories
from dailypapers.store.models import (
    DailyEntry,
    LinkedRepo,
    LinkedRepoCount,
    Organization,
    Paper,
    PaperVersion,
)

EntrySort = Literal["upvotes", "publishedAt", "stars"]


def latest_day(session: Session, on_or_before: date | None = None) -> date | None:
    """The most recent list day that has papers (on or before ``on_or_before``)."""
    query = select(func.max(DailyEntry.day))
    if on_or_before is not None:
        query = query.where(DailyEntry.day <= on_or_before)
    return session.scalar(query)


def adjacent_days(session: Session, day: date, last: date | None = None) -> tuple[date | None, date | None]:
    """The list days with papers just before ``day`` and just after ``last`` (default: ``day``; a week's
    or month's last day) — weekends have none."""
    before = session.scalar(select(func.max(DailyEntry.day)).where(DailyEntry.day < day))
    after = session.scalar(select(func.min(DailyEntry.day)).where(DailyEntry.day > (last or day)))
    return before, after


def has_code(column: Any = None) -> Any:
    """The condition "the paper has a code repository" (on ``Paper.code_url`` unless given)."""
    column = Paper.code_url if column is None else column
    return (column.is_not(None)) & (column != "")


@dataclass(frozen=True)
class PaperFilter:
    """What a list page, a feed or the API narrows papers to: with a code repository, in an arXiv
    category (or one of its subcategories: ``cs`` takes ``cs.CL``), first published on arXiv in a range of
    years (inclusive, open ends allowed). The category is checked by the caller (letters, digits, dots,
    hyphens)."""

    code: bool = False
    category: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    def __bool__(self) -> bool:
        return self.code or bool(self.category) or self.year_from is not None or self.year_to is not None

    def conditions(self) -> list[Any]:
        """SQL conditions on :class:`Paper` (empty when the filter takes everything)."""
        where: list[Any] = []
        if self.code:
            where.append(has_code())
        if self.category:  # the categories index holds each category and its archive, lower-cased
            index = categories.TABLE
            where.append(
                Paper.id.in_(select(index.c.paper_id).where(index.c.category == self.category.lower()))
            )
        if self.year_from is not None:
            where.append(Paper.published_at >= datetime(self.year_from, 1, 1, tzinfo=UTC))
        if self.year_to is not None and self.year_to < date.max.year:
            where.append(Paper.published_at < datetime(self.year_to + 1, 1, 1, tzinfo=UTC))
        return where

    def years(self) -> str:
        """The year range as the ``year`` parameter spells it ("2025", "2020..2024", "2023..")."""
        lo, hi = self.year_from, self.year_to
        if lo is None and hi is None:
            return ""
        if lo == hi:
            return str(lo)
        return f"{lo or ''}..{hi or ''}"

    def params(self) -> list[tuple[str, str]]:
        """The request parameters that ask for this filter (none for the defaults)."""
        pairs = [("has_code", "true")] if self.code else []
        if self.category:
            pairs.append(("category", self.category))
        if self.years():
            pairs.append(("year", self.years()))
        return pairs

    def label(self) -> str:
        """ " · with code · cs.CL · 2025": what a title adds for the filter ("" for none)."""
        parts = ["with code"] if self.code else []
        if self.category:
            parts.append(self.category)
        if self.years():
            parts.append(f"published {self.years()}")
        return "".join(f" · {part}" for part in parts)

    def matches(self, paper: Paper) -> bool:
        """The same test in Python, for papers already loaded."""
        if self.code and not paper.code_url:
            return False
        if self.category and self.category.lower() not in categories.names(paper.categories):
            return False
        if self.year_from is not None or self.year_to is not None:
            year = paper.published_at.year if paper.published_at else None
            if year is None:
                return False
            if self.year_from is not None and year < self.year_from:
                return False
            if self.year_to is not None and year > self.year_to:
                return False
        return True


NO_FILTER = PaperFilter()


def _entries_query(
    start: date,
    end: date,
    submitter: str | None,
    organization_id: int | None,
    filters: PaperFilter = NO_FILTER,
) -> Select:
    query = select(DailyEntry).where(DailyEntry.day >= start, DailyEntry.day <= end)
    if submitter:
        query = query.where(DailyEntry.submitter_name == submitter)
    if organization_id is not None or filters:
        query = query.join(Paper, Paper.id == DailyEntry.paper_id)
    if organization_id is not None:
        query = query.where(Paper.organization_id == organization_id)
    return query.where(*filters.conditions())


def list_entries(
    session: Session,
    start: date,
    end: date,
    *,
    sort: EntrySort = "upvotes",
    submitter: str | None = None,
    organization_id: int | None = None,
    filters: PaperFilter = NO_FILTER,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DailyEntry], int]:
    """Daily entries listed from ``start`` to ``end`` (inclusive), one page of them and the total, of the
    papers ``filters`` takes.

    ``upvotes``: most upvoted first (the daily page's order); ``publishedAt``: newest paper first;
    ``stars``: most GitHub stars first.
    """
    base = _entries_query(start, end, submitter, organization_id, filters)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    query = base.options(joinedload(DailyEntry.paper).joinedload(Paper.organization))
    if organization_id is None and not filters:
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
    session: Session,
    organization_id: int,
    *,
    filters: PaperFilter = NO_FILTER,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Paper], int]:
    """An organization's papers (those ``filters`` takes), newest first, with their listings loaded."""
    base = select(Paper).where(Paper.organization_id == organization_id, *filters.conditions())
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    query = (
        base.options(joinedload(Paper.organization), selectinload(Paper.entries))
        .order_by(Paper.published_at.desc().nulls_last(), Paper.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query).unique()), total


def filter_ids(session: Session, ids: Sequence[int], filters: PaperFilter) -> list[int]:
    """``ids`` (in their order) less the papers ``filters`` leaves out."""
    if not filters or not ids:
        return list(ids)
    kept: set[int] = set()
    for start in range(0, len(ids), 5000):
        chunk = list(ids[start : start + 5000])
        kept.update(session.scalars(select(Paper.id).where(Paper.id.in_(chunk), *filters.conditions())))
    return [i for i in ids if i in kept]


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


@dataclass(frozen=True, slots=True)
class BuiltOn:
    """What was built on a paper: the stored Hugging Face models, datasets and Spaces (each in the
    source's order) and the source's totals, which may be more than it listed."""

    models: list[LinkedRepo]
    datasets: list[LinkedRepo]
    spaces: list[LinkedRepo]
    totals: dict[str, int]

    @property
    def any(self) -> bool:
        return any(self.totals.values()) or bool(self.models or self.datasets or self.spaces)


def built_on(session: Session, paper_id: int) -> BuiltOn:
    """The linked repositories of one paper (empty lists and zero totals when no source said any)."""
    rows = session.scalars(
        select(LinkedRepo).where(LinkedRepo.paper_id == paper_id).order_by(LinkedRepo.position)
    ).all()
    by_kind: dict[str, list[LinkedRepo]] = {"model": [], "dataset": [], "space": []}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    count = session.get(LinkedRepoCount, paper_id)
    totals = {
        "model": max(count.models if count else 0, len(by_kind["model"])),
        "dataset": max(count.datasets if count else 0, len(by_kind["dataset"])),
        "space": max(count.spaces if count else 0, len(by_kind["space"])),
    }
    return BuiltOn(by_kind["model"], by_kind["dataset"], by_kind["space"], totals)


GITHUB_WINDOW_DAYS = 7


def github_trending(
    session: Session,
    *,
    filters: PaperFilter = NO_FILTER,
    limit: int = 50,
    offset: int = 0,
    days: int = GITHUB_WINDOW_DAYS,
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
        *filters.conditions(),
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
