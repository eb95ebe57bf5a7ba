"""Rate limits shared by every worker process: counters live in the database (``rate_counters``).

A limit is ``N`` requests of one action by one client (a user id, else an IP address) per fixed window
of ``period`` seconds. :func:`hit` counts a request with one upsert (``INSERT … ON CONFLICT DO UPDATE …
RETURNING count``, atomic on SQLite and PostgreSQL) in its own transaction, so a refused or failed
request still counts, and raises :class:`~dailypapers.errors.TooManyRequests` with the seconds until the
window ends once the count passes ``N``.

A request that fails because the database is unavailable (locked, busy, out of disk space) must not
count: while :func:`counting` is active (one request), :meth:`RateLimiter.hit` notes each hit it
committed, and :meth:`RateLimiter.refund` takes such a hit back. The refund is kept in memory and applied
in the transaction of the next hit this process makes (the database is not writable right then).

Login throttling (:func:`charge`, :func:`forgive`) is not a window but a count of failed logins with the
time of the last one (``login_failures``), under three keys: the name typed from one client address, the
client address, and the name from everywhere. Past a number of failures, each next try must wait 1, 2,
4… seconds after the last failure (:class:`ThrottleRules`); nobody is ever locked out for good, and a
known device is not held back by the name's overall count.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.errors import TooManyRequests
from dailypapers.store.db import Database, is_postgres, upsert
from dailypapers.store.models import LoginFailure, RateCounter, UTCDateTime

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` actions per ``period`` seconds (``0``: the action is off); shown as ``10/minute``."""

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
    "verify": Limit(5, 3600),  # mails about an account's address: a new address, a resent confirmation
    "mcp": Limit(120, 60),  # requests to the MCP transport at /mcp (each tool call is one)
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


Counted = list[tuple["RateLimiter", str, int, int]]  # (limiter, key, window start, end) of committed hits
_counted: ContextVar[Counted | None] = ContextVar("dailypapers_rate_hits", default=None)
MAX_REFUNDS = 10_000  # kept in memory per limiter at most (one per failed request)


@contextmanager
def counting() -> Iterator[Counted]:
    """The hits committed while the block runs (one request, including the threads it runs code on)."""
    hits: Counted = []
    token = _counted.set(hits)
    try:
        yield hits
    finally:
        _counted.reset(token)


class RateLimiter:
    """Counts requests per (action, client) in the database and refuses those over the limit."""

    def __init__(
        self, db: Database, limits: dict[str, Limit], clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.limits = limits
        self.clock = clock
        self._refunds: dict[tuple[str, int], tuple[int, int]] = {}  # (key, window) -> (count, expires_at)
        self._lock = threading.Lock()

    def refund(self, key: str, window: int, expires_at: int) -> None:
        """Take back one committed hit of ``key`` in the window from ``window`` to ``expires_at`` (its
        request failed for want of a database); applied with the next hit."""
        with self._lock:
            count = self._refunds.get((key, window), (0, 0))[0]
            if count or len(self._refunds) < MAX_REFUNDS:
                self._refunds[(key, window)] = (count + 1, expires_at)

    def _take_refunds(self, now: float) -> dict[tuple[str, int], tuple[int, int]]:
        with self._lock:
            due = {k: v for k, v in self._refunds.items() if v[1] > now}
            self._refunds.clear()
        return due

    def _give_back(self, refunds: dict[tuple[str, int], tuple[int, int]]) -> None:
        with self._lock:
            for k, (count, expires) in refunds.items():
                self._refunds[k] = (self._refunds.get(k, (0, expires))[0] + count, expires)

    def hit(self, action: str, client: str) -> None:
        """Count one request; :class:`TooManyRequests` if it is over the action's limit."""
        limit = self.limits[action]
        now = self.clock()
        window = int(now // limit.period * limit.period)
        key = f"{action}:{client}"[:300]
        refunds = self._take_refunds(now)
        try:
            with self.db.transaction() as session:
                for (refund_key, refund_window), (n, _) in refunds.items():
                    session.execute(
                        update(RateCounter)
                        .where(RateCounter.key == refund_key, RateCounter.window_start == refund_window)
                        .values(count=case((RateCounter.count > n, RateCounter.count - n), else_=0))
                    )
                statement = upsert(RateCounter, self.db.is_postgres).values(
                    key=key, window_start=window, count=1, expires_at=window + limit.period
                )
                statement = statement.on_conflict_do_update(
                    index_elements=["key", "window_start"], set_={"count": RateCounter.count + 1}
                ).returning(RateCounter.count)
                count = session.execute(statement).scalar_one()
                if random.random() < 0.01:  # nosec B311 # chance of a cleanup, not a secret; now and then, forget windows that are over
                    session.execute(delete(RateCounter).where(RateCounter.expires_at < int(now)))
        except BaseException:
            self._give_back(refunds)
            raise
        counted = _counted.get()
        if counted is not None:
            counted.append((self, key, window, window + limit.period))
        if count > limit.count:
            retry = window + limit.period - now
            raise TooManyRequests(
                f"too many {action} requests: at most {limit}; try again in {max(1, int(retry + 0.999))} s",
                retry,
            )


# --- login throttling ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """When failed logins make the next try wait: after ``pair_after`` failures of one name from one client
    address, ``client_after`` from one address (any name), or ``account_after`` of one name from anywhere
    (not counted against a known device), each next try waits 1, 2, 4… s after the last failure, at most
    ``max_delay``. A count without a failure for ``forget_after`` seconds starts again from zero."""

    pair_after: int = 3
    client_after: int = 30
    account_after: int = 100
    max_delay: float = 900.0
    forget_after: float = 86400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottleRules:
        """The rules of the ``login_throttle_*`` settings."""
        return cls(
            settings.login_throttle_after,
            settings.login_throttle_client_after,
            settings.login_throttle_account_after,
            settings.login_throttle_max_seconds,
            settings.login_throttle_forget_hours * 3600,
        )

    def wait(self, failures: int, after: int) -> float:
        """Seconds the next try waits after the last of ``failures`` (none for the first ``after``)."""
        if failures < after:
            return 0.0
        return min(self.max_delay, 2.0 ** min(failures - after, 62))


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    """Where one login attempt is counted: the name from this client, the client, the name."""

    pair: str
    client: str
    account: str

    @property
    def all(self) -> list[str]:
        return sorted((self.pair, self.client, self.account))  # one order for every worker: no deadlock


def _mac(secret: str, *parts: str) -> str:
    key = hashlib.sha256(("dailypapers.login-throttle:" + secret).encode()).digest()
    return hmac.new(key, "\x00".join(parts).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def throttle_keys(secret: str, login: str, client: str) -> ThrottleKeys:
    """The keys of the name ``login`` (normalised as typed, whether or not an account has it) tried from the
    address ``client``: HMACs, so the table never holds what was typed (a password in the name field)."""
    return ThrottleKeys(
        _mac(secret, "pair", login, client), _mac(secret, "client", client), _mac(secret, "account", login)
    )


@dataclass(frozen=True, slots=True)
class Charged:
    """A try counted as failed at ``at``, and when each of its counts failed last before it."""

    keys: ThrottleKeys
    at: datetime
    before: dict[str, datetime]


def charge(
    session: Session, rules: ThrottleRules, keys: ThrottleKeys, *, known_device: bool, now: datetime
) -> Charged:
    """In the caller's transaction: refuse the attempt (:class:`TooManyRequests`, nothing written) while
    one of its counts makes it wait, else count it as failed before the password is checked, so that
    tries made in parallel cannot slip past the count; :func:`forgive` takes it back on success.

    Each count's row is claimed first (an upsert that changes nothing, or a new row at zero), in one order
    for every worker: tries that share a count then wait for each other, even its very first ones."""
    postgres = is_postgres(session)
    for key in keys.all:
        claim = upsert(LoginFailure, postgres).values(key=key, failures=0, last_failure_at=now)
        session.execute(
            claim.on_conflict_do_update(index_elements=["key"], set_={"failures": LoginFailure.failures})
        )
    claimed = session.scalars(select(LoginFailure).where(LoginFailure.key.in_(keys.all)))
    rows = {row.key: row for row in claimed}
    cutoff = now - timedelta(seconds=rules.forget_after)
    checks = [(keys.pair, rules.pair_after), (keys.client, rules.client_after)]
    if not known_device:
        checks.append((keys.account, rules.account_after))
    retry = 0.0
    for key, after in checks:
        row = rows[key]
        wait = rules.wait(row.failures, after) if row.last_failure_at > cutoff else 0.0
        if wait > 0:
            retry = max(retry, wait - (now - row.last_failure_at).total_seconds())
    if retry > 0:
        raise TooManyRequests(f"too many failed logins; try again in {max(1, int(retry + 0.999))} s", retry)
    before = {key: row.last_failure_at for key, row in rows.items()}
    for row in rows.values():
        row.failures = 1 if row.last_failure_at <= cutoff else row.failures + 1
        row.last_failure_at = now
    if random.random() < 0.01:  # nosec B311 # chance of a cleanup, not a secret; now and then, forget the counts that went quiet
        session.execute(delete(LoginFailure).where(LoginFailure.last_failure_at <= cutoff))
    return Charged(keys, now, before)


def forgive(session: Session, charged: Charged) -> None:
    """In the caller's transaction, after a successful login: the name's count from this client starts
    again; the client's and the name's overall counts lose the failure :func:`charge` counted (and get
    their last failure's time back, unless another failure came since)."""
    keys = charged.keys
    session.execute(delete(LoginFailure).where(LoginFailure.key == keys.pair))
    for key in (keys.client, keys.account):
        session.execute(
            update(LoginFailure)
            .where(LoginFailure.key == key, LoginFailure.failures > 0)
            .values(
                failures=LoginFailure.failures - 1,
                last_failure_at=case(
                    (
                        LoginFailure.last_failure_at == charged.at,
                        literal(charged.before.get(key, charged.at), UTCDateTime()),
                    ),
                    else_=LoginFailure.last_failure_at,
                ),
            )
        )


def forget_names(session: Session, secret: str, names: list[str]) -> None:
    """In the caller's transaction: clear the overall counts of ``names`` (an account's username and
    addresses, once its owner proved the account by a password reset)."""
    keys = [_mac(secret, "account", name) for name in names]
    session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))
