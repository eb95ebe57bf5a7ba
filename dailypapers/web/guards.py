"""The outermost layer of the app: bounded query strings, and a 503 instead of a crash when the database
cannot take a request.

:class:`RequestGuard` wraps everything else (the response cache, sessions and CSRF, every route), so what
goes wrong anywhere below it is answered the same way:

- A query string longer than :data:`MAX_QUERY_BYTES` is a 414, and a parameter given more than
  :data:`MAX_VALUES_PER_PARAMETER` times a 400 naming it, before anything else runs: no user input
  multiplies the size of an SQL statement, and a cache key stays small.
- A database that is locked or busy (SQLite's ``database is locked``, a PostgreSQL lock timeout, no
  connection left in the pool or on the server) or out of disk space is a 503 with ``Retry-After`` and a
  message, as JSON for the API and feeds and as a page for HTML. It is logged as one line per kind per
  minute (:func:`report_unavailable`), never as a traceback per request, and the request's rate-limit
  hits are refunded (:mod:`dailypapers.community.ratelimit`): a client is not punished for our outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from dailypapers.community.ratelimit import counting
from dailypapers.errors import DatabaseUnavailable, database_unavailable

log = logging.getLogger("dailypapers.web.guards")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Render = Callable[[Request, int, str], Response]

MAX_QUERY_BYTES = 8 * 1024
MAX_VALUES_PER_PARAMETER = 20
REPORT_EVERY = 60.0  # seconds: one log line per kind of outage at most this often, per process


def query_problem(query_string: bytes) -> tuple[int, str] | None:
    """``(status, message)`` if a query string is refused: a parameter repeated more than
    :data:`MAX_VALUES_PER_PARAMETER` times (400), or more than :data:`MAX_QUERY_BYTES` bytes (414)."""
    if not query_string:
        return None
    names = Counter(part.split(b"=", 1)[0] for part in query_string.split(b"&") if part)
    name, count = names.most_common(1)[0]
    if count > MAX_VALUES_PER_PARAMETER:
        shown = unquote_plus(name.decode("latin-1"))[:40]
        return 400, f"{shown}: at most {MAX_VALUES_PER_PARAMETER} values, got {count}"
    if len(query_string) > MAX_QUERY_BYTES:
        return (
            414,
            f"the query string is too long: at most {MAX_QUERY_BYTES:,} bytes, got {len(query_string):,}",
        )
    return None


class _Reports:
    """When each kind of outage was last logged, and how often it happened since."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}
        self.quiet: Counter[str] = Counter()


_reports = _Reports()


def report_unavailable(
    exc: BaseException, where: str, *, clock: Callable[[], float] = time.monotonic
) -> bool:
    """Log an unavailable database (one line per kind per :data:`REPORT_EVERY` seconds, saying how many
    more happened meanwhile); returns whether ``exc`` was such an error (False: not reported)."""
    error = database_unavailable(exc)
    if error is None:
        return False
    now = clock()
    with _reports.lock:
        last = _reports.last.get(error.kind)
        if last is not None and now - last < REPORT_EVERY:
            _reports.quiet[error.kind] += 1
            return True
        _reports.last[error.kind] = now
        since = _reports.quiet.pop(error.kind, 0)
    more = f"; {since} more since the last report" if since else ""
    log.warning(
        "database %s (%s), seen at %s: requests that need it get 503, Retry-After %d s%s",
        "busy" if error.kind == "busy" else "out of disk space",
        error.detail,
        where,
        error.retry_after,
        more,
    )
    return True


class RequestGuard:
    """Pure ASGI middleware, added last so it wraps every other layer; ``render(request, status,
    message)`` makes the answer (JSON or a page, as the app's own error handler does)."""

    def __init__(self, app: ASGIApp, *, render: Render) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = query_problem(scope.get("query_string", b""))
        if problem is not None:
            await self._answer(scope, receive, send, *problem)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with counting() as hits:
            try:
                await self.app(scope, receive, watch)
            except Exception as exc:
                error = database_unavailable(exc)
                if error is None:
                    raise
                for limiter, key, window, expires_at in hits:
                    limiter.refund(key, window, expires_at)
                report_unavailable(error, f"{scope['method']} {scope['path']}")
                if started:  # too late to answer otherwise
                    raise
                await self._answer(scope, receive, send, error.status, error.message, error)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        message: str,
        error: DatabaseUnavailable | None = None,
    ) -> None:
        response = self.render(Request(scope, receive), status, message)
        if error is not None:
            response.headers.update(error.headers)
            response.headers["Cache-Control"] = "no-store"
        await response(scope, receive, send)
