"""Which server answers a request's reads: a streaming replica for what may be a moment old, the primary
for a reader's own writes.

With a replica (``database_replica_url``), a GET or HEAD reads from it: routes receive its view of the
database through the ``DB`` dependency (:func:`reads_for`), so they need no change of their own. Every
other method reads and writes on the primary, and never touches the replica. A reader always sees their
own writes: :class:`ReadRouting` gives the answer to a request that committed a write a signed cookie
(``dp_lsn``) holding the primary's WAL position after that write, and that reader's next GET reads from
the replica only once it has replayed past that position. It waits for it up to
``database_replica_wait`` seconds, then reads from the primary instead. The first answer that finds the
replica past the position deletes the cookie; until then the response cache does not answer that
reader (:mod:`dailypapers.web.cache`). How far the replica has replayed is asked at most every 50 ms per
process, and a replica that fails sends every read to the primary (:mod:`dailypapers.store.replica`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection

from dailypapers.config import Settings
from dailypapers.store.db import Database
from dailypapers.store.replica import noting_commits

log = logging.getLogger("dailypapers.web.replica")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LSN_COOKIE = "dp_lsn"
# Seconds the cookie lives: a replica further behind than this is broken, not lagging (and /readyz says so).
LSN_COOKIE_AGE = 600
READ_METHODS = frozenset({"GET", "HEAD"})
READS = "dailypapers.reads"  # the request's RequestReads, in the ASGI scope


class LsnCookies:
    """Signs and reads the ``dp_lsn`` cookie (with the site's keys: a forged one is ignored)."""

    def __init__(self, settings: Settings) -> None:
        self._signer = URLSafeTimedSerializer(settings.signing_keys, salt="dailypapers.lsn")
        self._https_site = settings.site_url.startswith("https://")

    def position(self, value: str) -> int | None:
        """The WAL position a cookie value carries, if this site signed it within the cookie's life."""
        try:
            position = self._signer.loads(value, max_age=LSN_COOKIE_AGE)
        except BadSignature:
            return None
        return position if type(position) is int and position >= 0 else None

    def set_header(self, position: int, scheme: str | None) -> bytes:
        """A ``Set-Cookie`` value carrying ``position``."""
        return self._header(self._signer.dumps(position), LSN_COOKIE_AGE, scheme)

    def delete_header(self, scheme: str | None) -> bytes:
        """A ``Set-Cookie`` value that deletes the cookie."""
        return self._header("", 0, scheme)

    def _header(self, value: str, max_age: int, scheme: str | None) -> bytes:
        parts = [f"{LSN_COOKIE}={value}", f"Max-Age={max_age}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if scheme == "https" or self._https_site:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")


@dataclass
class RequestReads:
    """What the routing knows of one request: the WAL position of the reader's latest write (from the
    cookie; None without one), whether a cookie came at all, how long to wait for the replica, and, once
    chosen, the database its reads go to."""

    pending: int | None
    cookie_sent: bool
    wait: float
    chosen: Database | None = None
    caught_up: bool = False  # the replica has replayed past ``pending``: the cookie can go


class ReadRouting:
    """ASGI middleware: notes the request's commits on the primary and sets or deletes the ``dp_lsn``
    cookie on its answer; :func:`reads_for` chooses where its reads go."""

    def __init__(self, app: ASGIApp, *, db: Database, settings: Settings) -> None:
        self.app = app
        self.db = db
        self.cookies = LsnCookies(settings)
        self.wait = settings.database_replica_wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.db.replica is None:
            await self.app(scope, receive, send)
            return
        raw = HTTPConnection(scope).cookies.get(LSN_COOKIE)
        reads = RequestReads(self.cookies.position(raw) if raw else None, raw is not None, self.wait)
        scope[READS] = reads
        may_write = scope["method"] not in READ_METHODS
        with noting_commits() as commits:

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    header = await self._cookie(scope, reads, wrote=may_write and commits.count > 0)
                    if header is not None:
                        message = dict(
                            message, headers=[*message.get("headers", []), (b"set-cookie", header)]
                        )
                await send(message)

            await self.app(scope, receive, send_with_cookie)

    async def _cookie(self, scope: Scope, reads: RequestReads, *, wrote: bool) -> bytes | None:
        scheme = scope.get("scheme")
        if wrote:
            try:
                position = await anyio.to_thread.run_sync(self.db.wal_position)
            except SQLAlchemyError as exc:  # the write is in; only the hint to wait for it is lost
                log.warning("cannot read the primary's WAL position after a write: %s", type(exc).__name__)
                return None
            return self.cookies.set_header(max(position, reads.pending or 0), scheme)
        if reads.cookie_sent and (reads.caught_up or reads.pending is None):
            return self.cookies.delete_header(scheme)  # replayed (or a cookie this site did not sign)
        return None


async def reads_for(connection: HTTPConnection, db: Database) -> Database:
    """The database this request reads through: the view of the replica (:meth:`Database.on_replica`)
    for a GET or HEAD whose reader has no write the replica has not replayed yet (waiting up to
    ``database_replica_wait`` seconds for it); otherwise ``db`` itself (the primary). Chosen once per
    request."""
    reads: RequestReads | None = connection.scope.get(READS)
    if db.replica is None or reads is None or connection.scope["method"] not in READ_METHODS:
        return db
    if reads.chosen is None:
        reads.chosen = await _choose(db, reads)
    return reads.chosen


async def _choose(db: Database, reads: RequestReads) -> Database:
    replica = db.replica
    if replica is None:
        return db
    pending = reads.pending
    deadline = anyio.current_time() + (reads.wait if pending is not None else 0.0)
    while True:
        position = replica.position() if replica.fresh() else await anyio.to_thread.run_sync(replica.position)
        if position is None:  # unreachable, or not a replica
            return db
        if pending is None or position >= pending:
            reads.caught_up = True
            # behind the floor (the data version was last read on the primary): the primary, at once
            return db.on_replica() if position >= replica.floor else db
        if anyio.current_time() >= deadline:
            return db
        await anyio.sleep(replica.freshness)
