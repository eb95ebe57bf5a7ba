"""Logins kept in the database: start one, find it again, list, revoke, end all. One function per action.

A session is a :class:`~dailypapers.store.models.UserSession` row holding the SHA-256 of a random 32-byte
token; the token itself lives only in the visitor's cookie (see :mod:`dailypapers.web.auth`). Deleting
the row ends the session for every copy of the cookie, on every worker at once. Finding a session is
one indexed query (session and account together); ``last_seen_at`` is written at most once every
:data:`SEEN_EVERY` (:func:`touch`, which the middleware calls once the response is sent), not on every
request. Expired rows are purged whenever someone logs in.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, delete, event, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from dailypapers.errors import NotFound
from dailypapers.store.db import SHORT_READ, Database
from dailypapers.store.state import ONLY_EXPIRED as ONLY_EXPIRED
from dailypapers.store.state import ends_sessions, sessions_version
from dailypapers.store.state import may_end_sessions as may_end_sessions
from dailypapers.store.models import User, UserSession, utcnow

log = logging.getLogger("dailypapers.community.sessions")

TOKEN_BYTES = 32
SEEN_EVERY = timedelta(minutes=5)  # how stale ``last_seen_at`` may get before a request writes it
DEVICE_LENGTH = 100
ADDRESS_LENGTH = 64

_BROWSERS = (
    ("Edg/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)


@dataclass(frozen=True, slots=True)
class Started:
    """A new session: the token for the cookie (never stored) and the row's id."""

    token: str
    session_id: int


@dataclass(frozen=True, slots=True)
class Resumed:
    """The session a cookie's token names, its account, and whether its last visit is older than
    :data:`SEEN_EVERY` (then :func:`touch` records this one)."""

    session_id: int
    user: User
    seen_long_ago: bool


def hash_token(token: str) -> str:
    """The hex SHA-256 of a session token: what the database keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def device_label(user_agent: str | None) -> str:
    """A short name for the device of a ``User-Agent`` ("Firefox on Linux"), for the session list."""
    agent = user_agent or ""
    browser = next((name for mark, name in _BROWSERS if mark in agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in agent), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    first = re.sub(r"[^\x21-\x7e]", "", agent.split(" ", 1)[0])  # e.g. curl/8.5.0, python-httpx/0.28
    return first[:DEVICE_LENGTH] or "unknown device"


def start(
    db: Database,
    user_id: int,
    *,
    days: int,
    user_agent: str | None = None,
    address: str | None = None,
    now: datetime | None = None,
) -> Started:
    """Open a session of ``user_id`` valid for ``days``; everyone's expired sessions are purged too."""
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = UserSession(
        token_hash=hash_token(token),
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=days),
        device=device_label(user_agent),
        address=(address or "")[:ADDRESS_LENGTH],
    )
    with db.transaction() as session:
        session.execute(
            delete(UserSession).where(UserSession.expires_at <= now).execution_options(**ONLY_EXPIRED)
        )
        session.add(row)
        session.flush()
        return Started(token, row.id)


def resume(db: Database, token: str, now: datetime | None = None) -> Resumed | None:
    """The live session of ``token`` and its account (one query, no write), or None when it is unknown,
    revoked or expired."""
    now = now or utcnow()
    with db.session() as session:
        row = session.execute(
            select(UserSession.id, UserSession.expires_at, UserSession.last_seen_at, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == hash_token(token))
        ).first()
    if row is None or row.expires_at <= now:
        return None
    return Resumed(row.id, row.User, now - row.last_seen_at >= SEEN_EVERY)


COMMIT_GRACE = 2.0  # seconds after such a write begins to commit during which nothing found is kept
_FORGET = "dailypapers.resumer.forget"  # in Connection.info while its transaction may end a session
# the longest a login found is kept while the sessions version stands still: a change made in the
# database by hand (not through dailypapers, so the version did not move) shows within this
KEEP_AT_MOST = 60.0


@dataclass(slots=True)
class _Kept:
    session_id: int
    user: User
    expires_at: datetime
    last_seen_at: datetime
    until: float  # time.monotonic() after which the database is asked again
    version: int  # the sessions version read before this login was


class Resumer:
    """Finds sessions like :func:`resume`, keeping each one found so that a reader's next requests ask
    the database nothing.

    Every write that may end a session or change an account (a logout, a revocation, a role, name or
    password changed, an account deleted: :func:`~dailypapers.store.state.may_end_sessions`) raises the
    sessions version in its transaction, whichever process makes it. This process reads that one number
    at most once per ``ttl`` seconds and keeps every login it found while the number stands still (up to
    :data:`KEEP_AT_MOST`); when it moves, each login is read again. So a revocation in another process
    (another worker, the CLI) takes effect here within ``ttl``, and one in this process when it commits
    (all that was kept is forgotten then). ``ttl`` 0: every request asks the database."""

    def __init__(self, db: Database, ttl: float, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl = ttl
        self.max_entries = max_entries
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._quiet_until = 0.0  # nothing is kept before: a write that may end sessions is committing
        self._version = -1  # the sessions version last read
        self._version_until = 0.0  # time.monotonic() until which it is trusted
        self._version_lock = threading.Lock()
        self._reading_ahead = False
        if ttl > 0:
            event.listen(db.engine, "begin", self._begin)
            event.listen(db.engine, "before_cursor_execute", self._look)
            event.listen(db.engine, "commit", self._commit)

    def forget(self) -> None:
        """Drop everything kept (a finding under way is not kept either)."""
        with self._lock:
            self._generation += 1
            self._kept.clear()

    def kept(self, token: str, now: datetime | None = None) -> Resumed | None | Literal[False]:
        """What :meth:`resume` answers for ``token`` when that needs no database: the session kept (or
        None, when it expired since), else False. Never blocks (no lock, no I/O): the event loop asks
        this first, and goes to a thread for :meth:`resume` only when it answers False."""
        if self.ttl <= 0:
            return False
        kept = self._kept.get(hash_token(token))  # one dict read: atomic under the GIL
        moment = time.monotonic()
        if (
            kept is None
            or moment >= kept.until
            or moment >= self._version_until
            or kept.version != self._version
        ):
            return False
        now = now or utcnow()
        if kept.expires_at <= now:
            return None
        seen_long_ago = now - kept.last_seen_at >= SEEN_EVERY
        if seen_long_ago:
            kept.last_seen_at = now  # this request records the visit (two at once: both write it, harmless)
        return Resumed(kept.session_id, kept.user, seen_long_ago)

    def resume(self, token: str, now: datetime | None = None) -> Resumed | None:
        """The live session of ``token`` and its account, or None (see :func:`resume`)."""
        if self.ttl <= 0:
            return resume(self.db, token, now)
        now = now or utcnow()
        key = hash_token(token)
        found = self.kept(token, now)
        if found is not False:
            return found
        with self._lock:
            generation = self._generation
        version = self._current_version()
        found = self.kept(token, now)  # the number stood still: what was kept holds
        if found is not False:
            return found
        with self.db.session() as session:
            session.connection(execution_options=SHORT_READ)
            row = session.execute(
                select(UserSession.id, UserSession.expires_at, UserSession.last_seen_at, User)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.token_hash == key)
            ).first()
        if row is None or row.expires_at <= now:
            return None
        seen_long_ago = now - row.last_seen_at >= SEEN_EVERY
        with self._lock:
            if generation == self._generation and time.monotonic() >= self._quiet_until:
                self._kept[key] = _Kept(
                    row.id,
                    row.User,
                    row.expires_at,
                    now if seen_long_ago else row.last_seen_at,
                    # spread over the second half: sessions found together (a restart) are not all
                    # read again at the same instant
                    time.monotonic() + KEEP_AT_MOST * (0.5 + random.random() / 2),  # nosec B311 # not a secret
                    version,
                )
                self._kept.move_to_end(key)
                while len(self._kept) > self.max_entries:
                    self._kept.popitem(last=False)
        return Resumed(row.id, row.User, seen_long_ago)

    def _current_version(self, *, ahead: bool = False) -> int:
        """The sessions version, read again when the last reading is older than ``ttl`` (one thread
        reads; the others wait for its answer); ``ahead``: already once it is older than half of it."""
        early = self.ttl / 2 if ahead else 0.0
        if time.monotonic() < self._version_until - early:
            return self._version
        with self._version_lock:
            if time.monotonic() < self._version_until - early:
                return self._version
            started = time.monotonic()
            with self.db.session() as session:
                session.connection(execution_options=SHORT_READ)
                version = sessions_version(session)
            self._version = version
            self._version_until = started + self.ttl
            return version

    def claim_reading_ahead(self) -> bool:
        """Whether the sessions version should be read again soon (half the interval has passed) and no
        one is reading it yet; if so the caller has claimed the reading and runs :meth:`read_ahead` on a
        thread, while kept logins go on being answered: no request waits for that reading (otherwise
        every request of the instant the interval ends would, on a thread each). Called from one thread
        (the event loop)."""
        if self.ttl <= 0 or self._reading_ahead:
            return False
        if time.monotonic() < self._version_until - self.ttl / 2:
            return False
        self._reading_ahead = True
        return True

    def read_ahead(self) -> None:
        """Read the sessions version now (blocking: on a thread), as claimed by
        :meth:`claim_reading_ahead`."""
        try:
            self._current_version(ahead=True)
        except SQLAlchemyError:  # the next request that needs the version reads it, and reports
            log.debug("reading the sessions version ahead failed", exc_info=True)
        finally:
            self._reading_ahead = False

    def _begin(self, connection: Connection) -> None:
        connection.info.pop(_FORGET, None)

    def _look(
        self, connection: Connection, _cursor: Any, statement: str, _params: Any, context: Any, *_args: Any
    ) -> None:
        # (an expired session's purge is marked ONLY_EXPIRED: it ends what no request is let in by)
        if not connection.info.get(_FORGET) and ends_sessions(statement, context):
            connection.info[_FORGET] = True

    def _commit(self, connection: Connection) -> None:
        # before the database commits: what is read until it has must not be kept either
        if connection.info.pop(_FORGET, False):
            with self._lock:
                self._quiet_until = time.monotonic() + COMMIT_GRACE
            self.forget()


def touch(db: Database, session_id: int, now: datetime | None = None) -> None:
    """Record a visit of the session (unless another request did within :data:`SEEN_EVERY`). Best effort:
    on a busy database the visit is recorded by a later request."""
    now = now or utcnow()
    try:
        with db.write_connection() as connection:
            connection.execute(
                update(UserSession)
                .where(UserSession.id == session_id, UserSession.last_seen_at < now - SEEN_EVERY)
                .values(last_seen_at=now)
            )
    except OperationalError:
        pass


def end(db: Database, session_id: int) -> None:
    """End one session (log out): its cookie opens nothing any more, wherever it was copied."""
    with db.transaction() as session:
        session.execute(delete(UserSession).where(UserSession.id == session_id))


def active(db: Database, user_id: int, now: datetime | None = None) -> list[UserSession]:
    """The account's sessions that have not expired, most recently seen first."""
    now = now or utcnow()
    with db.session() as session:
        return list(
            session.scalars(
                select(UserSession)
                .where(UserSession.user_id == user_id, UserSession.expires_at > now)
                .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
            )
        )


def revoke(db: Database, user_id: int, session_id: int) -> None:
    """End one of the account's own sessions; :class:`NotFound` for any other id."""
    with db.transaction() as session:
        gone = session.execute(
            delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user_id)
        ).rowcount
    if not gone:
        raise NotFound("no such session")


def end_all(session: Session, user_id: int, *, keep: int | None = None) -> int:
    """In the caller's unit of work: end every session of the account but ``keep``; how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    return session.execute(query).rowcount or 0


def end_every_session(db: Database, user_id: int | None = None) -> int:
    """End every session of one account, or of every account when ``user_id`` is None (after a leaked
    secret key, say); how many sessions ended."""
    with db.transaction() as session:
        query = delete(UserSession)
        if user_id is not None:
            query = query.where(UserSession.user_id == user_id)
        return session.execute(query).rowcount or 0


def revoke_all(db: Database, user_id: int, *, keep: int | None = None) -> int:
    """Log the account out everywhere (but the session ``keep``, when given); how many sessions ended."""
    with db.transaction() as session:
        return end_all(session, user_id, keep=keep)
