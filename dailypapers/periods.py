"""Calendar periods of the daily lists: a day (``2026-06-30``), an ISO week (``2026-W27``) or a month
(``2026-06``). Parsing, date ranges, labels and neighbours, pure. Days are calendar dates; "today" is
taken in America/New_York."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dailypapers.errors import BadRequest

NEW_YORK = ZoneInfo("America/New_York")
Kind = Literal["day", "week", "month"]
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Years a listing can ask for: wide enough for every paper, far enough from date.min/max that a
# week or a month around them never leaves the calendar.
MIN_YEAR, MAX_YEAR = 1000, 9998


def today(now: datetime | None = None) -> date:
    """The New York calendar day of ``now`` (default: this instant)."""
    return (now or datetime.now(NEW_YORK)).astimezone(NEW_YORK).date()


@dataclass(frozen=True, slots=True)
class Period:
    """A day, ISO week or month, as its first and last (inclusive) calendar days."""

    kind: Kind
    start: date
    end: date  # inclusive

    @property
    def key(self) -> str:
        """The period as it is written in URLs: ``2026-06-30``, ``2026-W27``, ``2026-06``."""
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def label(self) -> str:
        if self.kind == "day":
            return f"{self.start:%A, %B} {self.start.day}, {self.start.year}"
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"Week {week}, {year} ({self.start:%b} {self.start.day} – {self.end:%b} {self.end.day})"
        return f"{self.start:%B %Y}"

    def shifted(self, steps: int) -> Period:
        """The period ``steps`` periods later (earlier if negative); itself at the edge of the calendar."""
        try:
            moved = self._shifted(steps)
        except (OverflowError, ValueError):
            return self
        return moved if MIN_YEAR <= moved.start.year <= MAX_YEAR else self

    def _shifted(self, steps: int) -> Period:
        if self.kind == "day":
            return day_period(self.start + timedelta(days=steps))
        if self.kind == "week":
            return week_period(self.start + timedelta(weeks=steps))
        month_index = self.start.year * 12 + self.start.month - 1 + steps
        return month_period(date(month_index // 12, month_index % 12 + 1, 1))


def day_period(day: date) -> Period:
    """The period of the single day ``day``."""
    return Period("day", day, day)


def week_period(day: date) -> Period:
    """The ISO week (Monday to Sunday) holding ``day``."""
    start = day - timedelta(days=day.weekday())
    return Period("week", start, start + timedelta(days=6))


def month_period(day: date) -> Period:
    """The calendar month holding ``day``."""
    last = calendar.monthrange(day.year, day.month)[1]
    return Period("month", date(day.year, day.month, 1), date(day.year, day.month, last))


def _check_year(year: int, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadRequest(f"{text!r} is out of range: years {MIN_YEAR} to {MAX_YEAR}")


def parse_day(text: str) -> Period:
    """The day written ``YYYY-MM-DD``; :class:`BadRequest` when malformed or out of range."""
    if not _DAY.fullmatch(text or ""):
        raise BadRequest(f"invalid date {text!r}: expected YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"invalid date {text!r}: {exc}") from exc
    _check_year(day.year, text)
    return day_period(day)


def parse_week(text: str) -> Period:
    """The ISO week written ``YYYY-Www``; :class:`BadRequest` when malformed or out of range."""
    m = _WEEK.fullmatch(text or "")
    if not m:
        raise BadRequest(f"invalid week {text!r}: expected YYYY-Www, e.g. 2026-W09")
    _check_year(int(m[1]), text)
    try:
        return week_period(date.fromisocalendar(int(m[1]), int(m[2]), 1))
    except ValueError as exc:
        raise BadRequest(f"invalid week {text!r}: {exc}") from exc


def parse_month(text: str) -> Period:
    """The month written ``YYYY-MM``; :class:`BadRequest` when malformed or out of range."""
    m = _MONTH.fullmatch(text or "")
    if not m or not 1 <= int(m[2]) <= 12:
        raise BadRequest(f"invalid month {text!r}: expected YYYY-MM")
    _check_year(int(m[1]), text)
    return month_period(date(int(m[1]), int(m[2]), 1))
