"""Rate limits shared by every worker process: counters live in the database (``rate_counters``).

A limit is ``N`` requests of one action by one client (a user id, else an IP address) per fixed window
of ``period`` seconds. :func:`hit` counts a request with one upsert (``INSERT … ON CONFLICT DO UPDATE …
RETURNING count``, atomic on SQLite and PostgreSQL) in its own transaction, so a refused or failed
request still counts, and raises :class:`~dailypapers.errors.TooManyRequests` with the seconds until the
window ends once the count passes ``N``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete

from dailypapers.errors import TooManyRequests
from dailypapers.store.db import Database, upsert
from dailypapers.store.models import RateCounter

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    period: int  # seconds

    def __str__(self) -> str:
        for unit, seconds in reversed(UNITS.items()):
            if self.period == seconds:
                return f"{self.count}/{unit}"
        return f"{self.count}/{self.period}s"


# Per client (user when logged in, else IP address). "write" covers the other changes (collections,
# marks, edits, account changes).
DEFAULT_LIMITS: dict[str, Limit] = {
    "login": Limit(10, 60),
    "register": Limit(5, 3600),
    "reset": Limit(5, 3600),
    "submit": Limit(20, 3600),
    "vote": Limit(120, 60),
    "comment": Limit(10, 60),
    "write": Limit(120, 60),
    "subscribe": Limit(10, 3600),
}
_SPEC = re.compile(r"^\s*([a-z_]+)\s*=\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")


def parse_limits(spec: str) -> dict[str, Limit]:
    """The default limits with the overrides in ``spec`` (``"login=10/minute, vote=300/hour"``;
    ``5/10minute`` means 5 per 10 minutes; ``0/minute`` turns an action off). A bad spec is a ValueError."""
    limits = dict(DEFAULT_LIMITS)
    for part in filter(None, (p.strip() for p in spec.split(","))):
        match = _SPEC.match(part)
        if not match:
            raise ValueError(f"bad rate limit {part!r}: write action=N/unit, e.g. login=10/minute")
        action, count, many, unit = match.groups()
        if action not in DEFAULT_LIMITS:
            raise ValueError(f"unknown rate-limited action {action!r} (known: {', '.join(DEFAULT_LIMITS)})")
        limits[action] = Limit(int(count), int(many or 1) * UNITS[unit])
    return limits


class RateLimiter:
    """Counts requests per (action, client) in the database and refuses those over the limit."""

    def __init__(self, db: Database, limits: dict[str, Limit], clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.limits = limits
        self.clock = clock

    def hit(self, action: str, client: str) -> None:
        """Count one request; :class:`TooManyRequests` if it is over the action's limit."""
        limit = self.limits[action]
        now = self.clock()
        window = int(now // limit.period * limit.period)
        key = f"{action}:{client}"[:300]
        with self.db.transaction() as session:
            statement = upsert(RateCounter, self.db.is_postgres).values(key=key, window_start=window, count=1,
                                                   expires_at=window + limit.period)
            statement = statement.on_conflict_do_update(
                index_elements=["key", "window_start"], set_={"count": RateCounter.count + 1}
            ).returning(RateCounter.count)
            count = session.execute(statement).scalar_one()
            if random.random() < 0.01:  # now and then, forget windows that are over
                session.execute(delete(RateCounter).where(RateCounter.expires_at < int(now)))
        if count > limit.count:
            retry = window + limit.period - now
            raise TooManyRequests(f"too many {action} requests: at most {limit}; try again in "
                                  f"{max(1, int(retry + 0.999))} s", retry)
