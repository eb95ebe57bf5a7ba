"""Reads from a streaming replica of the PostgreSQL primary, and how fresh they are.

A :class:`Replica` is the second engine of a :class:`~dailypapers.store.db.Database` built with a
``replica_url`` (the ``database_replica_url`` setting). Only reads go there: PostgreSQL itself refuses a
write on a server in recovery. Freshness is measured in positions of the primary's write-ahead log
(numbers that only grow): the replica holds every transaction that committed before a position once its
replay position has passed it. That replay position is read at most once per ``freshness`` seconds per
process, so asking is cheap. A replica that does not answer, or is not in recovery, is left alone for
``retry_after`` seconds and reads go to the primary meanwhile: a replica's failure never takes the site
down, it only moves its load to the primary.

Two positions say how fresh a read must be. A reader who just wrote needs the primary's position after
their write (:func:`noting_commits` tells the caller that something committed;
:meth:`Database.wal_position <dailypapers.store.db.Database.wal_position>` reads the position); the web
layer carries it in a cookie. And :attr:`Replica.floor` holds for the whole process: when the data
version had to be read from the primary (:func:`data_version`), the replica serves reads again only
once it has replayed past the position of that read, so no page is rendered from a replica older than
the data version it is stored under.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from dailypapers.store.db import Database

log = logging.getLogger("dailypapers.store.replica")

FRESHNESS = 0.05  # seconds a replay position read from the replica is trusted
RETRY_AFTER = 5.0  # seconds a replica that failed is left alone
CONNECT_TIMEOUT = 2  # seconds to connect to the replica (unless its URL says otherwise)
_POSITION_SQL = text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
_STATUS_SQL = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
)


def lsn_number(lsn: str) -> int:
    """A PostgreSQL WAL position (``pg_lsn`` text such as ``16/B374D848``) as one comparable number."""
    high, slash, low = lsn.strip().partition("/")
    if not slash:
        raise ValueError(f"not a WAL position: {lsn!r}")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass
class Commits:
    """How many transactions committed on the primary inside a :func:`noting_commits` block."""

    count: int = 0


_COMMITS: ContextVar[Commits | None] = ContextVar("dailypapers.commits", default=None)


@contextmanager
def noting_commits() -> Iterator[Commits]:
    """Count the commits on the primary of a database with a replica made inside the block (also on the
    worker threads it starts, which copy its context): the caller then knows whether to hand its reader
    the primary's new position."""
    commits = Commits()
    token = _COMMITS.set(commits)
    try:
        yield commits
    finally:
        _COMMITS.reset(token)


def note_commits(engine: Engine) -> None:
    """Make every commit on ``engine`` count in the :func:`noting_commits` block around it, if any."""

    @event.listens_for(engine, "commit")
    def _committed(_connection: Any) -> None:
        commits = _COMMITS.get()
        if commits is not None:
            commits.count += 1


class Replica:
    """A streaming replica: its engine (``engine_options``: the pool's sizes), read sessions, and how far
    it has replayed the primary."""

    def __init__(
        self,
        url: str | URL,
        *,
        echo: bool = False,
        freshness: float = FRESHNESS,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
        **engine_options: Any,
    ) -> None:
        self.url = make_url(url)
        if self.url.get_backend_name() != "postgresql":
            raise ValueError(f"a read replica must be PostgreSQL, got a {self.url.get_backend_name()} URL")
        connect_args = {} if "connect_timeout" in self.url.query else {"connect_timeout": CONNECT_TIMEOUT}
        self.engine = create_engine(
            self.url, echo=echo, pool_pre_ping=True, connect_args=connect_args, **engine_options
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.freshness = freshness
        self.retry_after = retry_after
        self.clock = clock
        self.floor = 0  # reads need a replay position at least this far (see the module's docstring)
        self.problem: str | None = None  # why reads do not go to the replica now (None: they may)
        self._lock = threading.Lock()
        self._position: int | None = None
        self._read_at = float("-inf")
        self._down_until = float("-inf")

        @event.listens_for(self.engine, "handle_error")
        def _lost(context: Any) -> None:
            if context.is_disconnect:
                self.mark_down(f"unreachable: {type(context.original_exception).__name__}")

    # --- how far it has replayed ---------------------------------------------------------------------

    def fresh(self) -> bool:
        """Whether :meth:`position` would answer without asking the replica (its last answer is recent, or
        the replica is being left alone after a failure)."""
        now = self.clock()
        return now < self._down_until or now - self._read_at < self.freshness

    def position(self) -> int | None:
        """The replica's replay position, at most ``freshness`` seconds old; None while it is unreachable
        or not a replica (blocking when it has to ask: call it on a worker thread). While one thread asks,
        the others take the last position known: positions only grow, so an older one is on the safe
        side (it may send a read to the primary, never one to a replica that is behind)."""
        now = self.clock()
        if now < self._down_until:
            return None
        if now - self._read_at < self.freshness or not self._lock.acquire(blocking=False):
            return self._position
        try:
            with self.engine.connect() as connection:
                in_recovery, replayed = connection.execute(_POSITION_SQL).one()
        except SQLAlchemyError as exc:
            self.mark_down(f"unreachable: {type(exc).__name__}")
            return None
        finally:
            self._lock.release()
        if not in_recovery or replayed is None:
            self.mark_down("not a replica: the server is not in recovery")
            return None
        return self._answered(replayed)

    def _answered(self, replayed: str) -> int:
        """The replica answered as a replica, at ``replayed``: reads may go to it (again)."""
        if self.problem is not None:
            log.info("the read replica answers again; reads go to it")
        self.problem = None
        self._down_until = float("-inf")
        self._position = lsn_number(replayed)
        self._read_at = self.clock()
        return self._position

    def caught_up(self, need: int = 0) -> bool:
        """Whether the replica may serve a read that must see every write before position ``need`` (and
        :attr:`floor`)."""
        position = self.position()
        return position is not None and position >= max(need, self.floor)

    def raise_floor(self, position: int) -> None:
        """From now on, read from the replica only once it has replayed up to ``position``."""
        self.floor = max(self.floor, position)

    def mark_down(self, problem: str) -> None:
        """Send reads to the primary for ``retry_after`` seconds (the replica failed: ``problem``)."""
        if self.problem is None:  # once per outage
            log.warning("the read replica is not used for now (%s); reads go to the primary", problem)
        self.problem = problem
        self._position = None
        self._down_until = self.clock() + self.retry_after

    # --- reading ---------------------------------------------------------------------------------------

    def open_session(self) -> Session | None:
        """A read session connected to the replica, or None when the replica may not serve reads now (not
        caught up with :attr:`floor`, or unreachable: then it is left alone for a while)."""
        if not self.caught_up():
            return None
        session = self.sessions()
        try:
            session.connection()
        except SQLAlchemyError as exc:
            session.close()
            self.mark_down(f"unreachable: {type(exc).__name__}")
            return None
        return session

    def status(self, primary_position: int | None) -> dict[str, Any]:
        """The replica as ``/readyz`` reports it: ``status`` (``ok`` or what is wrong), ``reachable``,
        ``reads`` (``replica`` or ``primary``: where reads go now), and its lag behind the primary in
        bytes of WAL and seconds (0 when it has replayed everything; None when unknown)."""
        report: dict[str, Any] = {"reachable": False, "lag_bytes": None, "lag_seconds": None}
        try:
            with self.engine.connect() as connection:
                in_recovery, replayed, seconds = connection.execute(_STATUS_SQL).one()
        except SQLAlchemyError as exc:
            self.mark_down(f"unreachable: {type(exc).__name__}")
            return {"status": self.problem, "reads": "primary", **report}
        report["reachable"] = True
        if not in_recovery or replayed is None:
            self.mark_down("not a replica: the server is not in recovery")
            return {"status": self.problem, "reads": "primary", **report}
        position = self._answered(replayed)  # reads may go back to it at once
        if primary_position is not None:
            lag = max(0, primary_position - position)
            report["lag_bytes"] = lag
            report["lag_seconds"] = 0.0 if lag == 0 else (round(seconds, 3) if seconds is not None else None)
        return {"status": "ok", "reads": "replica" if self.caught_up() else "primary", **report}

    def dispose(self) -> None:
        self.engine.dispose()


def data_version(db: Database) -> int:
    """The data version that the pages read through :meth:`Database.on_replica
    <dailypapers.store.db.Database.on_replica>` reflect, for the response cache: read from the replica
    while it serves reads (a page rendered from it later cannot be older: its replay only moves on);
    otherwise from the primary, and then the replica's :attr:`~Replica.floor` rises to the primary's
    position after that read, so that no page stored under this version is rendered from a replica that
    has not replayed it yet."""
    from dailypapers.store.state import current_version

    replica = db.replica
    if replica is not None:
        session = replica.open_session()
        if session is not None:
            with session:
                return current_version(session)
    with db.session() as primary:
        version = current_version(primary)
    if replica is not None:
        replica.raise_floor(db.wal_position())
    return version
