"""Trending: votes decayed by age since listing, gravity-style (the Hacker News formula).

    score = upvotes / (age_hours + OFFSET_HOURS) ** GRAVITY

``age_hours`` counts from the moment the paper was listed (its ``submittedOnDailyAt`` time, else the
start of its list day in New York) to the reference time. A paper listed on several days counts from
its latest listing. Only listings of the last ``WINDOW_DAYS`` days compete.

The reference time is *now*, except when the newest list day is older than the window (an instance
whose imports stopped, or the demo corpus): then it is the end of the newest list day, so the page shows
what was trending when the data ends instead of nothing. The same function feeds the HTML page, the
API (``sort=trending``) and the explanation on each paper page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from dailypapers.periods import NEW_YORK
from dailypapers.store.models import DailyEntry, Paper
from dailypapers.store.queries import NO_FILTER, PaperFilter

GRAVITY = 1.8
OFFSET_HOURS = 2.0
WINDOW_DAYS = 7


@dataclass(frozen=True, slots=True)
class TrendingExplanation:
    """Why a paper scores what it scores."""

    upvotes: int
    listed_at: datetime
    reference_time: datetime
    age_hours: float
    score: float

    def as_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 6),
            "upvotes": self.upvotes,
            "listedAt": self.listed_at.isoformat().replace("+00:00", "Z"),
            "referenceTime": self.reference_time.isoformat().replace("+00:00", "Z"),
            "ageHours": round(self.age_hours, 2),
            "formula": f"upvotes / (age_hours + {OFFSET_HOURS:g}) ^ {GRAVITY:g}",
        }


def trending_score(upvotes: int, age_hours: float) -> float:
    """The score of ``upvotes`` votes ``age_hours`` after listing. Pure; never negative."""
    return max(upvotes, 0) / (max(age_hours, 0.0) + OFFSET_HOURS) ** GRAVITY


def listed_at(entry: DailyEntry) -> datetime:
    """When an entry was listed: its submitted time, else the start of its day in New York."""
    if entry.submitted_at is not None:
        return entry.submitted_at
    return datetime.combine(entry.day, time(0), NEW_YORK).astimezone(timezone.utc)


def explain(entry: DailyEntry, reference: datetime) -> TrendingExplanation:
    """Why ``entry`` scores what it does at ``reference``: its votes, listing time, age and score."""
    start = listed_at(entry)
    age = max((reference - start).total_seconds() / 3600.0, 0.0)
    votes = entry.total_upvotes
    return TrendingExplanation(votes, start, reference, age, trending_score(votes, age))


def reference_time(session: Session, now: datetime | None = None) -> datetime:
    """Now, or the end of the newest list day when the data stopped more than a window ago."""
    now = now or datetime.now(timezone.utc)
    newest: date | None = session.scalar(select(func.max(DailyEntry.day)))
    if newest is None:
        return now
    end_of_newest = datetime.combine(newest + timedelta(days=1), time(0), NEW_YORK).astimezone(timezone.utc)
    if now - end_of_newest > timedelta(days=WINDOW_DAYS):
        return end_of_newest
    return now


def trending_entries(
    session: Session,
    *,
    now: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    organization_id: int | None = None,
    filters: PaperFilter = NO_FILTER,
) -> tuple[list[tuple[DailyEntry, TrendingExplanation]], int]:
    """The trending listing: (entry, explanation) pairs, best first, and how many compete in all
    (of the papers ``filters`` takes)."""
    reference = reference_time(session, now)
    first_day = (reference.astimezone(NEW_YORK) - timedelta(days=WINDOW_DAYS)).date()
    query = (
        select(DailyEntry)
        .where(DailyEntry.day >= first_day, DailyEntry.day <= reference.astimezone(NEW_YORK).date())
        .options(joinedload(DailyEntry.paper).joinedload(Paper.organization))
    )
    if organization_id is not None or filters:
        query = query.join(Paper)
    if organization_id is not None:
        query = query.where(Paper.organization_id == organization_id)
    query = query.where(*filters.conditions())
    best: dict[int, DailyEntry] = {}
    for entry in session.scalars(query).unique():
        seen = best.get(entry.paper_id)
        if seen is None or entry.day > seen.day:
            best[entry.paper_id] = entry
    scored = [(e, explain(e, reference)) for e in best.values()]
    scored.sort(key=lambda pair: (-pair[1].score, -pair[1].upvotes, pair[0].paper.arxiv_id))
    return scored[offset : offset + limit], len(scored)
