"""A database that cannot take a request (locked, busy, out of connections, out of disk space) is a 503
with ``Retry-After`` and a message (JSON for the API, a page for HTML), logged once rather than as a
traceback per request, and the failed requests do not count against the client's rate limits."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import event, exc as sa_exc, func, select
from sqlalchemy.engine import make_url

from dailypapers.errors import DatabaseUnavailable, database_unavailable
from dailypapers.store.db import Database
from dailypapers.store.models import RateCounter
from dailypapers.web import guards
from tests.support.community import (
    GENEROUS_LIMITS,
    PAPER,
    PASSWORD,
    clients,
    community_settings,
    load_papers,
    make_user,
    vote_rows,
)


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no outage reported yet (the once-a-minute log line is per process)."""
    monkeypatch.setattr(guards, "_reports", guards._Reports())


@pytest.fixture
def papers_db(db: Database) -> Database:
    return load_papers(db)


def impatient(settings: Any, **changes: Any) -> Any:
    """Settings whose statements give up on a lock quickly: SQLite's busy timeout, and on PostgreSQL a
    ``lock_timeout`` in the URL (as an admin would set for the site's role)."""
    if settings.database_url:
        url = make_url(settings.database_url).update_query_dict({"options": "-c lock_timeout=300"})
        changes["database_url"] = url.render_as_string(hide_password=False)
    return community_settings(settings, sqlite_busy_timeout_ms=100, **changes)


@contextmanager
def writer_holding_the_lock(db: Database) -> Iterator[None]:
    """Another connection in a write transaction that holds SQLite's one write lock (``BEGIN
    IMMEDIATE``); on PostgreSQL it locks every table against writes (reads go on, as with SQLite's WAL)."""
    with db.write_connection() as connection:
        if db.is_postgres:
            tables = ", ".join(f'"{name}"' for name in db.table_names() if name != "alembic_version")
            connection.exec_driver_sql(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        yield


@contextmanager
def driver_raises(db: Database, error: Any, when: Any = lambda statement: True) -> Iterator[None]:
    """The database driver raises ``error()`` for each statement ``when`` accepts: an outage simulated at
    the DB-API edge, where a real one would surface."""

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if when(statement):
            raise error()

    event.listen(db.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", fail)


def disk_full(db: Database) -> Any:
    if db.is_postgres:
        return lambda: psycopg.errors.DiskFull(
            'could not extend file "base/16384/16385": No space left on device'
        )
    return lambda: sqlite3.OperationalError("database or disk is full")


def locked(db: Database) -> Any:
    if db.is_postgres:
        return lambda: psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")
    return lambda: sqlite3.OperationalError("database is locked")


def is_write(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))


def assert_unavailable(response: Any, kind: str, *, html: bool = False) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    if html:
        assert response.headers["content-type"].startswith("text/html")
        assert DatabaseUnavailable.MESSAGES[kind].split(";")[0] in response.text
    else:
        assert response.json() == {"error": DatabaseUnavailable.MESSAGES[kind]}


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("dailypapers") and r.levelno >= logging.WARNING]


def newest_count(db: Database, action: str) -> int:
    with db.session() as session:
        return (
            session.scalar(
                select(RateCounter.count)
                .where(RateCounter.key.like(f"{action}:%"))
                .order_by(RateCounter.window_start.desc())
                .limit(1)
            )
            or 0
        )


def test_a_writer_holding_the_lock_gets_503_for_upvotes_and_logins(settings, papers_db, caplog):
    caplog.set_level(logging.WARNING)
    alice = make_user(papers_db, "alice")
    app_settings = impatient(settings, rate_limits=GENEROUS_LIMITS + ",login=2/minute")
    app_db = Database.from_settings(app_settings)
    try:
        with clients(app_settings, app_db) as made:
            voter = made.session(alice)
            anonymous = made.new()
            browser = made.new().client
            form_cookie, form_token = made.app.state.parts.sessions.new_form()
            browser.cookies.set("dp_form", form_cookie)
            with writer_holding_the_lock(papers_db):
                upvote = voter.put(f"/api/papers/{PAPER}/upvote")
                logins = [anonymous.login("alice") for _ in range(3)]
                page = browser.post(
                    "/account/login", data={"login": "alice", "password": PASSWORD, "csrf_token": form_token}
                )
            for response in [upvote, *logins]:
                assert_unavailable(response, "busy")
            assert_unavailable(page, "busy", html=True)
            lines = outage_lines(caplog)
            assert len(lines) == 1 and "busy" in lines[0].getMessage(), [r.getMessage() for r in lines]
            assert lines[0].exc_info is None
            # four refused logins against a limit of two a minute: none of them counted
            assert anonymous.login("alice").status_code == 200
            assert newest_count(papers_db, "login") == 1
            assert voter.put(f"/api/papers/{PAPER}/upvote").status_code == 200
            assert vote_rows(papers_db, PAPER) == 1
    finally:
        app_db.dispose()


def test_a_full_disk_answers_503_and_refunds_the_rate_limit(settings, papers_db, caplog):
    caplog.set_level(logging.WARNING)
    alice = make_user(papers_db, "alice")
    with clients(
        community_settings(settings, rate_limits=GENEROUS_LIMITS + ",vote=2/minute"), papers_db
    ) as made:
        voter = made.session(alice)
        # every write fails but the rate counter's: the hit is committed, then the vote cannot be stored
        with driver_raises(
            papers_db, disk_full(papers_db), lambda sql: is_write(sql) and "rate_counters" not in sql
        ):
            answers = [voter.put(f"/api/papers/{PAPER}/upvote") for _ in range(3)]
        for response in answers:
            assert_unavailable(response, "full")
        assert vote_rows(papers_db, PAPER) == 0
        assert len(outage_lines(caplog)) == 1
        # three failed upvotes against a limit of two a minute: all taken back
        assert voter.put(f"/api/papers/{PAPER}/upvote").status_code == 200
        assert newest_count(papers_db, "vote") == 1
        assert vote_rows(papers_db, PAPER) == 1


def test_sessions_and_the_response_cache_answer_503_when_reads_fail(settings, papers_db, caplog):
    caplog.set_level(logging.WARNING)
    alice = make_user(papers_db, "alice")
    with clients(community_settings(settings, response_cache=True), papers_db) as made:
        reader = made.session(alice)
        anonymous = made.new()
        assert anonymous.get("/api/daily_papers").status_code == 200
        with driver_raises(papers_db, locked(papers_db)):
            me = reader.get("/api/me")  # the session is loaded before any route runs
            home = reader.get("/")
            listed = anonymous.get("/api/daily_papers?date=2026-06-29")  # the cache reads the data version
            page = anonymous.get("/papers/trending")
        assert_unavailable(me, "busy")
        assert_unavailable(home, "busy", html=True)
        assert_unavailable(listed, "busy")
        assert_unavailable(page, "busy", html=True)
        lines = outage_lines(caplog)
        assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in lines]
        assert reader.get("/api/me").status_code == 200


def test_an_outage_is_logged_once_a_minute_with_a_count(caplog):
    caplog.set_level(logging.WARNING)
    now = [1000.0]
    error = sa_exc.OperationalError("UPDATE votes", {}, sqlite3.OperationalError("database is locked"))
    for moment in (0, 1, 30, 59):
        now[0] = 1000.0 + moment
        assert guards.report_unavailable(error, "PUT /x", clock=lambda: now[0])
    assert len(outage_lines(caplog)) == 1
    now[0] = 1061.0
    guards.report_unavailable(error, "PUT /x", clock=lambda: now[0])
    full = OSError(errno.ENOSPC, "No space left on device")
    guards.report_unavailable(full, "POST /y", clock=lambda: now[0])
    lines = [r.getMessage() for r in outage_lines(caplog)]
    assert len(lines) == 3
    assert "3 more since the last report" in lines[1] and "disk space" in lines[2]
    assert not guards.report_unavailable(ValueError("a bug"), "GET /z")


def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    return sa_exc.OperationalError("SELECT 1", {}, orig)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (wrapped(sqlite3.OperationalError("database is locked")), "busy"),
        (wrapped(sqlite3.OperationalError("database or disk is full")), "full"),
        (wrapped(psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")), "busy"),
        (wrapped(psycopg.errors.TooManyConnections("sorry, too many clients already")), "busy"),
        (
            wrapped(psycopg.OperationalError('connection failed: FATAL:  too many connections for role "x"')),
            "busy",
        ),
        (wrapped(psycopg.errors.DiskFull("could not extend file")), "full"),
        (sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out"), "busy"),
        (OSError(errno.ENOSPC, "No space left on device"), "full"),
        (wrapped(sqlite3.IntegrityError("UNIQUE constraint failed: users.username")), None),
        (wrapped(psycopg.errors.UniqueViolation("duplicate key value")), None),
        (wrapped(sqlite3.OperationalError("no such table: papers")), None),
        (OSError(errno.ENOENT, "No such file or directory"), None),
        (RuntimeError("database is locked"), None),  # only what a driver says counts
    ],
)
def test_what_counts_as_an_unavailable_database(error, kind):
    found = database_unavailable(error)
    assert (found.kind if found else None) == kind
    if found:
        assert found.status == 503 and int(found.headers["Retry-After"]) >= 1


@pytest.mark.sqlite_only
def test_a_real_sqlite_lock_is_recognised(settings, db):
    other = Database(settings.resolved_database_url, busy_timeout_ms=50)
    try:
        with db.write_connection(), pytest.raises(sa_exc.OperationalError) as raised:
            with other.write_connection() as connection:
                connection.execute(select(func.count()).select_from(RateCounter))
        found = database_unavailable(raised.value)
        assert found is not None and found.kind == "busy"
    finally:
        other.dispose()
