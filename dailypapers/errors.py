"""One error hierarchy for every room: each error carries the HTTP status it maps to.

The web layer has one handler that renders these as JSON for the API and feeds, and as a friendly page
for HTML; the CLI prints the message. A user never sees a traceback.
"""

from __future__ import annotations


class DailyPapersError(Exception):
    """Base class: ``status`` is the HTTP status, ``message`` what the user is told."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (``Retry-After`` for a rate limit)."""
        return {}


class BadRequest(DailyPapersError):
    """The request itself is wrong: a bad date, an out-of-range limit, an unknown sort."""

    status = 400


class NotFound(DailyPapersError):
    """No such paper, organization or page."""

    status = 404


class Unauthorized(DailyPapersError):
    """Not logged in (or the login was wrong)."""

    status = 401


class Forbidden(DailyPapersError):
    """Logged in, but not allowed to do this (a missing CSRF token, another user's comment)."""

    status = 403


class Conflict(DailyPapersError):
    """The request clashes with what is stored: a taken username, a paper already listed."""

    status = 409


class TooManyRequests(DailyPapersError):
    """A rate limit or the login throttle; ``retry_after`` is in seconds."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(DailyPapersError):
    """Something we depend on (the mail server, arXiv) did not answer."""

    status = 503


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot take the request now: locked or busy (``kind`` ``busy``) or out of disk space
    (``full``). Answered 503 with ``Retry-After``; nothing of the request was stored."""

    RETRY_AFTER = {"busy": 5, "full": 60}
    MESSAGES = {
        "busy": "the database is busy right now; nothing was changed, try again in a few seconds",
        "full": "the server is out of disk space; nothing was changed, try again later",
    }

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(self.MESSAGES[kind])
        self.kind = kind
        self.detail = detail
        self.retry_after = self.RETRY_AFTER[kind]

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


# SQLite primary result codes (the low byte of an extended code) and PostgreSQL SQLSTATEs that mean "not
# now" rather than "wrong": a lock or a full pool clears, and so, once an admin acts, does a full disk.
_SQLITE_CODES = {5: "busy", 6: "busy", 13: "full"}  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL
_SQLSTATES = {"55P03": "busy", "53300": "busy", "57P03": "busy", "53100": "full"}
_MESSAGES = (
    ("database is locked", "busy"),
    ("database is busy", "busy"),
    ("database table is locked", "busy"),
    ("database or disk is full", "full"),
    ("too many clients", "busy"),
    ("too many connections", "busy"),
    ("statement timeout", "busy"),
    ("lock timeout", "busy"),
)


def _kind_of(exc: BaseException) -> str | None:
    """``busy``, ``full`` or None for one exception (not its causes)."""
    import errno
    import sqlite3

    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):  # every pooled connection is taken and none came back in time
        return "busy"
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_CODES:
            return _SQLITE_CODES[code & 0xFF]
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate in _SQLSTATES:
        return _SQLSTATES[sqlstate]
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "full"
    if isinstance(exc, sqlite3.OperationalError) or type(exc).__module__.startswith("psycopg"):
        text = str(exc).lower()
        for needle, kind in _MESSAGES:
            if needle in text:
                return kind
    return None


def database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """A :class:`DatabaseUnavailable` if ``exc`` (or the driver error under it) says the database is
    locked, busy, out of connections or out of disk space; else None (a real bug stays a 500)."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen or len(seen) > 20:
            continue
        seen.add(id(current))
        kind = _kind_of(current)
        if kind is not None:
            return DatabaseUnavailable(kind, first_line(current))
        todo += [
            e for e in (getattr(current, "orig", None), current.__cause__) if isinstance(e, BaseException)
        ]
        todo += [e for e in getattr(current, "exceptions", ()) if isinstance(e, BaseException)]
    return None


def first_line(exc: BaseException) -> str:
    """The first line of what the database driver (or any error) said: for one-line messages."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
