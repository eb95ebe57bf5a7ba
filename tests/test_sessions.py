"""Sessions kept in the database: logging out ends every copy of a cookie, the account lists its
sessions and ends one or all of them, a password change ends the others and a reset all of them, a
deleted account leaves none; the middleware finds session and account in one query and records visits
only every few minutes."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, func, select, update

from dailypapers.community import accounts
from dailypapers.community.sessions import SEEN_EVERY, device_label, may_end_sessions
from dailypapers.store.db import Database
from dailypapers.store.models import User, UserSession, utcnow
from dailypapers.web.auth import SESSION_COOKIE
from tests.support.settle import eventually
from tests.support.community import PASSWORD, Api, Clients, clients, community_settings, make_users

NEW_PASSWORD = "a brand new passphrase 42"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def site(settings, db):
    make_users(db, ["alice", "bob"])
    with clients(community_settings(settings), db) as made:
        yield made


def device(made: Clients, user_agent: str = FIREFOX, login: str = "alice", password: str = PASSWORD) -> Api:
    """A client logged in through ``POST /api/auth/login`` from a browser saying ``user_agent``."""
    api = made.new()
    api.client.headers["User-Agent"] = user_agent
    r = api.login(login, password)
    assert r.status_code == 200, r.text
    return api


def copy_of(made: Clients, api: Api) -> Api:
    """Another client holding the same cookie (a stolen or synced copy)."""
    return with_cookie(made, api.client.cookies.get(SESSION_COOKIE), api.csrf)


def with_cookie(made: Clients, cookie: str, csrf: str | None = None) -> Api:
    other = made.new()
    other.client.cookies.set(SESSION_COOKIE, cookie)
    other.csrf = csrf
    return other


def logged_in(api: Api) -> bool:
    r = api.get("/api/me")
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def user_id(db, username: str) -> int:
    with db.session() as session:
        return session.scalar(select(User.id).where(User.username == username))


def session_rows(db, username: str) -> int:
    with db.session() as session:
        query = (
            select(func.count())
            .select_from(UserSession)
            .join(User, User.id == UserSession.user_id)
            .where(User.username == username)
        )
        return session.scalar(query) or 0


def test_logging_out_ends_the_session_for_every_copy_of_its_cookie(site, db):
    laptop = device(site)
    stolen = copy_of(site, laptop)
    assert logged_in(stolen)
    assert laptop.post("/api/auth/logout").status_code == 204
    assert not logged_in(stolen)
    assert stolen.patch("/api/me", json={"displayName": "Mallory"}).status_code in (401, 403)
    assert session_rows(db, "alice") == 0
    # the same from the page's log-out form
    browser = device(site)
    synced = copy_of(site, browser)
    out = browser.client.post("/account/logout", data={"csrf_token": browser.csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert not logged_in(synced) and not logged_in(browser)
    with db.session() as session:
        assert session.scalar(select(User.display_name).where(User.username == "alice")) == "alice"


def test_log_out_everywhere_ends_every_session(site, db):
    here, phone, tablet = device(site), device(site, IPHONE), device(site)
    bob = device(site, login="bob")
    r = here.post("/api/me/sessions/revoke-all", json={"keepCurrent": True})
    assert r.status_code == 200 and r.json() == {"ended": 2}
    assert not logged_in(phone) and not logged_in(tablet)
    assert logged_in(here) and logged_in(bob)
    copy = copy_of(site, here)
    r = here.post("/api/me/sessions/revoke-all")
    assert r.status_code == 200 and r.json() == {"ended": 1}
    assert re.search(r"dp_session=(\"\")?;.*max-age=0", r.headers["set-cookie"], re.I)
    assert not logged_in(copy)
    assert session_rows(db, "alice") == 0 and logged_in(bob)
    # from the account page: both buttons
    desk, laptop, phone = device(site), device(site), device(site, IPHONE)
    others = desk.client.post(
        "/account/sessions/revoke-all",
        data={"csrf_token": desk.csrf, "keep_current": "1"},
        follow_redirects=False,
    )
    assert others.status_code == 303
    assert logged_in(desk) and not logged_in(laptop) and not logged_in(phone)
    copy = copy_of(site, desk)
    everywhere = desk.client.post(
        "/account/sessions/revoke-all", data={"csrf_token": desk.csrf}, follow_redirects=False
    )
    assert everywhere.status_code == 303 and not logged_in(copy)
    assert session_rows(db, "alice") == 0 and logged_in(bob)


def test_the_session_list_and_revoking_one(site, db):
    laptop, phone = device(site, FIREFOX), device(site, IPHONE)
    bob = device(site, login="bob")
    listed = laptop.get("/api/me/sessions")
    assert listed.status_code == 200 and listed.headers["cache-control"] == "private, no-store"
    rows = listed.json()
    assert sorted(r["device"] for r in rows) == ["Firefox on Linux", "Safari on iPhone"]
    assert [r["device"] for r in rows if r["current"]] == ["Firefox on Linux"]
    assert all(r["createdAt"] and r["lastSeenAt"] and r["expiresAt"] > r["createdAt"] for r in rows)
    assert all(r["address"] == "testclient" for r in rows)
    phone_id = next(r["id"] for r in rows if not r["current"])
    bob_id = bob.get("/api/me/sessions").json()[0]["id"]
    assert [r["id"] for r in bob.get("/api/me/sessions").json()] == [bob_id]  # only one's own

    assert laptop.delete(f"/api/me/sessions/{bob_id}").status_code == 404  # not hers: nothing happens
    assert logged_in(bob)
    assert laptop.delete(f"/api/me/sessions/{phone_id}").status_code == 204
    assert not logged_in(phone) and logged_in(laptop)
    assert [r["device"] for r in laptop.get("/api/me/sessions").json()] == ["Firefox on Linux"]
    assert site.new().get("/api/me/sessions").status_code == 401

    # the account page lists them and ends one with a form
    tablet = device(site, IPHONE)
    page = laptop.get("/account")
    assert page.status_code == 200
    assert "Firefox on Linux" in page.text and "Safari on iPhone" in page.text and "this session" in page.text
    tablet_id = next(r["id"] for r in laptop.get("/api/me/sessions").json() if not r["current"])
    assert f'action="/account/sessions/{tablet_id}/revoke"' in page.text
    r = laptop.client.post(
        f"/account/sessions/{tablet_id}/revoke", data={"csrf_token": laptop.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert not logged_in(tablet) and logged_in(laptop)
    refused = laptop.client.post(f"/account/sessions/{bob_id}/revoke", data={"csrf_token": laptop.csrf})
    assert refused.status_code == 404 and logged_in(bob)


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(site, db):
    laptop, phone = device(site), device(site, IPHONE)
    cookie = laptop.client.cookies.get(SESSION_COOKIE)
    changed = laptop.post("/api/me/password", json={"current": PASSWORD, "new": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    assert changed.json()["csrfToken"] == laptop.csrf  # the same session goes on, with the same token
    assert laptop.client.cookies.get(SESSION_COOKIE) == cookie and logged_in(laptop)
    assert not logged_in(phone)
    assert session_rows(db, "alice") == 1
    # from the account page
    phone = device(site, IPHONE, password=NEW_PASSWORD)
    form = {"csrf_token": laptop.csrf, "current": NEW_PASSWORD, "new": "yet another passphrase 7"}
    r = laptop.client.post("/account/password", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account?done=password")
    assert logged_in(laptop) and not logged_in(phone)
    assert session_rows(db, "alice") == 1


def test_a_password_reset_ends_every_session(site, db):
    laptop, phone = device(site), device(site, IPHONE)
    bob = device(site, login="bob")
    with db.session() as session:
        alice = session.scalar(select(User).where(User.username == "alice"))
    token = accounts.reset_token(site.app.state.parts.application.settings, alice)
    done = site.new().client.post("/api/auth/reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    assert not logged_in(laptop) and not logged_in(phone)
    assert session_rows(db, "alice") == 0 and logged_in(bob)


def test_a_deleted_accounts_sessions_are_gone(site, db):
    laptop, phone = device(site), device(site, IPHONE)
    with db.session() as session:
        alice_id = session.scalar(select(User.id).where(User.username == "alice"))
    assert laptop.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    with db.session() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(UserSession).where(UserSession.user_id == alice_id)
            )
            == 0
        )
    assert not logged_in(phone) and not logged_in(laptop)


def test_an_expired_session_is_refused_and_purged_at_the_next_login(site, db):
    laptop = device(site)
    with db.transaction() as session:
        session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = laptop.get("/api/me")
    assert r.status_code == 401
    assert re.search(r"dp_session=(\"\")?;.*max-age=0", r.headers["set-cookie"], re.I)
    assert session_rows(db, "alice") == 1  # still stored, opening nothing
    device(site, login="bob")
    assert session_rows(db, "alice") == 0 and session_rows(db, "bob") == 1


@pytest.mark.parametrize("interval", [0.0, 60.0])
def test_the_middleware_finds_a_session_in_one_query_and_records_visits_rarely(settings, db, interval):
    make_users(db, ["alice"])
    with clients(community_settings(settings, session_check_interval=interval), db) as made:
        laptop = device(made)
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(" ".join(statement.split()).lower())

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            for _ in range(3):
                assert laptop.get("/api/me").status_code == 200
            reads = [s for s in statements if "user_sessions" in s]
            # asked once per request, or once while the worker keeps what it found
            assert len(reads) == (3 if interval == 0 else 1), reads
            assert all(s.startswith("select") and "join users" in s for s in reads), reads
            assert not [s for s in statements if s.startswith("update")]
            with db.transaction() as session:  # the last visit was a while ago
                long_ago = utcnow() - SEEN_EVERY - timedelta(seconds=9)
                session.execute(update(UserSession).values(last_seen_at=long_ago))
            made.app.state.parts.sessions.resumer.forget()  # (a visit is never recorded behind its back)
            statements.clear()
            for _ in range(3):
                assert laptop.get("/api/me").status_code == 200
            updates = [s for s in statements if s.startswith("update")]
            assert len(updates) == 1 and "user_sessions" in updates[0], statements
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    with db.session() as session:
        seen = session.scalar(select(UserSession.last_seen_at))
    assert utcnow() - seen < SEEN_EVERY


def test_a_session_ended_by_another_process_stops_opening_pages_within_the_interval(settings, db):
    """Another process (another worker, the CLI) writes through its own engine: this worker learns of
    it when what it kept of the session is older than ``session_check_interval``; its own writes at
    once."""
    make_users(db, ["alice", "bob"])
    with clients(community_settings(settings, session_check_interval=0.5), db) as made:
        alice, bob = device(made), device(made, login="bob")
        assert logged_in(alice) and logged_in(bob)
        other = Database(str(db.url))  # another process's engine: nothing here hears its writes
        try:
            with other.transaction() as session:
                session.execute(delete(UserSession).where(UserSession.user_id == user_id(db, "alice")))
        finally:
            other.dispose()
        assert eventually(lambda: not logged_in(alice), within=3.0)
        assert logged_in(bob)
        synced = copy_of(made, bob)
        assert logged_in(synced)
        assert bob.post("/api/auth/logout").status_code == 204  # this process's own write: no wait
        assert not logged_in(synced)


def test_a_worker_reads_one_number_per_interval_and_each_login_again_only_once_it_moves(settings, db):
    make_users(db, ["alice", "bob"])
    with clients(community_settings(settings, session_check_interval=0.2), db) as made:
        alice, bob = device(made), device(made, login="bob")
        assert logged_in(alice) and logged_in(bob)
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(" ".join(statement.split()).lower())

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            for _ in range(3):  # intervals pass; nothing that may end a login happens
                time.sleep(0.25)
                assert logged_in(alice) and logged_in(bob)
            logins = [s for s in statements if "from user_sessions" in s]
            numbers = [s for s in statements if "sessions_version" in s and s.startswith("select")]
            assert logins == [] and 1 <= len(numbers) <= 6, statements
            statements.clear()
            other = Database(str(db.url))  # another process changes bob's name: the number moves
            try:
                with other.transaction() as session:
                    session.execute(update(User).where(User.username == "bob").values(display_name="Robert"))
            finally:
                other.dispose()
            assert eventually(lambda: bob.get("/api/me").json().get("fullname") == "Robert", within=3.0)
            assert logged_in(alice)
            logins = [s for s in statements if "from user_sessions" in s]
            assert 1 <= len(logins) <= 4, logins  # each login read again (once per worker, at most twice)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    "agent, label",
    [
        (FIREFOX, "Firefox on Linux"),
        (IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
            "Safari/537.36 Edg/126.0",
            "Edge on Windows",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
        ("", "unknown device"),
        ("x" * 500, "x" * 100),
    ],
)
def test_device_labels(agent, label):
    assert device_label(agent) == label


def test_the_cli_ends_every_session_of_one_account_or_of_everyone(site, db, database_env):
    from typer.testing import CliRunner

    from dailypapers.cli import app

    alice, alice_phone, bob = device(site), device(site, IPHONE), device(site, login="bob")
    runner = CliRunner()
    one = runner.invoke(app, ["user", "logout-all", "alice"], catch_exceptions=False)
    assert one.exit_code == 0 and "2 sessions ended" in one.output
    # another process: seen once what the site kept of the sessions is older than session_check_interval
    assert eventually(lambda: not logged_in(alice) and not logged_in(alice_phone))
    assert logged_in(bob)
    unknown = runner.invoke(app, ["user", "logout-all", "nobody"], catch_exceptions=False)
    assert unknown.exit_code == 1 and "no such account" in unknown.output
    again = device(site)
    everyone = runner.invoke(app, ["user", "logout-all"], catch_exceptions=False)
    assert everyone.exit_code == 0 and "2 sessions ended" in everyone.output
    assert eventually(lambda: not logged_in(again) and not logged_in(bob))


@pytest.mark.parametrize(
    "sql, ends",
    [
        ("DELETE FROM user_sessions WHERE user_sessions.id = ?", True),
        ("DELETE FROM user_sessions", True),  # everyone's
        ("DELETE FROM users_archive WHERE id = 3", False),
        ('DELETE FROM "users" WHERE id = 3', True),
        ("UPDATE users SET role=? WHERE users.id = ?", True),
        ("UPDATE users SET display_name=%(display_name)s WHERE users.id = %(id_1)s", True),
        ("UPDATE users SET last_login_at=? WHERE users.id = ?", False),
        ("UPDATE user_sessions SET last_seen_at=? WHERE user_sessions.id = ?", False),
        ("UPDATE user_sessions SET expires_at=? WHERE user_sessions.id = ?", True),
        ("INSERT INTO user_sessions (token_hash, user_id) VALUES (?, ?)", False),
        ("SELECT * FROM user_sessions", False),
        ("DELETE FROM votes WHERE user_id = ?", False),
    ],
)
def test_which_writes_make_a_worker_forget_the_sessions_it_kept(sql, ends):
    assert may_end_sessions(sql) is ends
