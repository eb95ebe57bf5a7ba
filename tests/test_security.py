"""Security of accounts and community actions: CSRF on every state-changing route, no state change on
GET, rate limits shared by workers, who may see and change what, session cookies
(signature, flags, expiry, revocation), the secret key check, and votes under real concurrency (a live
uvicorn)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import itsdangerous.timed
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import delete, func, select

from dailypapers.config import PLACEHOLDER_SECRETS, Settings
from dailypapers.store.models import DailyEntry, Paper, User, UserSession, utcnow
from dailypapers.web import auth
from dailypapers.web.auth import SESSION_COOKIE, Sessions
from tests.support.browser import live_server
from tests.support.local_server import LocalServer
from tests.support.community import (
    LATEST_DAY,
    OTHER_PAPER,
    PAPER,
    PASSWORD,
    Clients,
    arxiv_responder,
    clients,
    community_settings,
    load_papers,
    make_user,
    make_users,
    paper_row,
    snapshot,
    vote_rows,
)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OTHER_SECRET = "another-secret-key-that-is-long-enough-0123456789"
# a body that every JSON route accepts (unknown fields are ignored): a refusal is not a validation error
ANY_BODY = {
    "body": "a comment",
    "name": "a name",
    "description": "d",
    "public": True,
    "password": PASSWORD,
    "current": PASSWORD,
    "new": "a brand new passphrase 42",
    "displayName": "New Name",
    "email": "changed@example.org",
    "paper": PAPER,
    "hidden": True,
    "login": "alice",
    "username": "mallory",
    "token": "x",
}


@pytest.fixture
def papers_db(db):
    return load_papers(db)


@pytest.fixture
def world(settings, papers_db):
    """alice (with a comment, a private and a public collection holding a paper) and bob, logged in."""
    with clients(community_settings(settings), papers_db) as made:
        alice = made.account(papers_db, "alice")
        bob = made.account(papers_db, "bob")
        comment = alice.post(f"/api/papers/{PAPER}/comments", json={"body": "alice's comment"}).json()
        private = alice.post("/api/collections", json={"name": "alice private"}).json()
        public = alice.post("/api/collections", json={"name": "alice public", "public": True}).json()
        for collection in (private, public):
            assert alice.put(f"/api/collections/{collection['id']}/papers/{PAPER}").status_code == 200
        assert alice.put(f"/api/papers/{PAPER}/upvote").status_code == 200
        yield {
            "clients": made,
            "alice": alice,
            "bob": bob,
            "comment": comment["id"],
            "private": private["id"],
            "public": public["id"],
        }


def concrete(path: str, world: dict) -> str:
    """A route's path with its parameters filled in with alice's things."""
    values = {
        "arxiv_id": PAPER,
        "comment_id": str(world["comment"]),
        "collection_id": str(world["private"]),
        "kind": "read",
        "username": "alice",
        "day": LATEST_DAY,
        "week": "2026-W27",
        "month": "2026-06",
        "name": "Tsinghua",
        "token": "x",
    }

    def fill(match: re.Match) -> str:
        name = match.group(1).split(":")[0]
        return values.get(name, "x")

    return re.sub(r"\{([^}]+)\}", fill, path)


def _flatten(routes, prefix: str = ""):
    """(path, methods) of every route, including those of included routers (nested or not, whichever
    way this FastAPI version keeps them)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _flatten(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route.methods


def routes(app, methods: set[str]) -> list[tuple[str, str]]:
    """(method, path) of the app's routes answering one of ``methods``."""
    return sorted({(method, path) for path, known in _flatten(app.routes) for method in known & methods})


def check_retry_after(response: httpx.Response, at_most: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]
    retry = response.headers["retry-after"]
    assert retry.isdigit(), retry
    assert 0 < int(retry) <= at_most


# --- CSRF --------------------------------------------------------------------------------------------


def test_every_unsafe_route_needs_the_sessions_csrf_token(world, papers_db):
    made: Clients = world["clients"]
    alice, bob = world["alice"], world["bob"]
    # the API's, and any page's form posts; not the mailed links whose signed token is the authority
    # (those must do nothing with a made-up token, checked below with the snapshot)
    token_paths = tuple(getattr(auth, "TOKEN_PATHS", ()))
    unsafe = [(m, p) for m, p in routes(made.app, UNSAFE) if not p.startswith(token_paths)]
    by_token = [(m, p) for m, p in routes(made.app, UNSAFE) if p.startswith(token_paths)]
    paths = {p for _, p in unsafe}
    for expected in (
        "/api/papers/{arxiv_id:path}/upvote",
        "/api/papers/{arxiv_id:path}/comments",
        "/api/comments/{comment_id}",
        "/api/collections/{collection_id}",
        "/api/me",
        "/api/me/password",
        "/api/papers/submit",
        "/api/auth/logout",
    ):
        assert expected in paths, expected
    before = snapshot(papers_db)
    client = alice.client  # alice's session cookie on every request
    for method, path in unsafe:
        url = concrete(path, world)
        attempts = {
            "no token": client.request(method, url, json=ANY_BODY),
            "wrong token": client.request(method, url, json=ANY_BODY, headers={"X-CSRF-Token": "0" * 40}),
            "empty token": client.request(method, url, json=ANY_BODY, headers={"X-CSRF-Token": ""}),
            "another session's token": client.request(
                method, url, json=ANY_BODY, headers={"X-CSRF-Token": bob.csrf}
            ),
            "wrong form field": client.request(method, url, data={**ANY_BODY, "csrf_token": "0" * 40}),
            "form without field": client.request(method, url, data=ANY_BODY),
        }
        for what, r in attempts.items():
            assert r.status_code == 403, (method, url, what, r.status_code, r.text)
            assert r.json()["error"]
            assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    for method, path in by_token:
        r = client.request(method, concrete(path, world), json=ANY_BODY)
        assert r.status_code < 500, (method, path, r.status_code)
    assert snapshot(papers_db) == before
    assert alice.get("/api/me").status_code == 200  # still logged in, nothing changed
    # the same requests with the right token do take effect (the refusals above were the token's doing)
    assert alice.put(f"/api/papers/{OTHER_PAPER}/upvote").status_code == 200
    assert (
        client.request(
            "PUT", f"/api/papers/{OTHER_PAPER}/marks/read", data={"csrf_token": alice.csrf}
        ).status_code
        == 200
    )
    assert snapshot(papers_db) != before


def test_anonymous_posts_need_json_or_the_form_cookie(settings, papers_db):
    make_user(papers_db, "alice")
    with clients(community_settings(settings), papers_db) as made:
        anonymous = made.new().client
        form = {"login": "alice", "password": PASSWORD}
        refused = [
            anonymous.post("/api/auth/login", data=form),
            anonymous.post("/api/auth/login", data={**form, "csrf_token": "0" * 40}),
            anonymous.post(
                "/api/auth/login", content=json.dumps(form), headers={"Content-Type": "text/plain"}
            ),
            anonymous.post("/api/auth/login", content=json.dumps(form)),  # no content type at all
            anonymous.post("/api/auth/login", json=form, headers={"X-CSRF-Token": "0" * 40}),
            anonymous.post(
                "/api/auth/register",
                data={"username": "mallory", "email": "m@example.org", "password": PASSWORD},
            ),
            anonymous.post("/api/auth/reset", data={"email": "alice@example.org"}),
        ]
        for r in refused:
            assert r.status_code == 403, r.text
            assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
        # a form cookie signed with another secret is no form cookie
        foreign = Sessions(settings.model_copy(update={"secret_key": OTHER_SECRET}), papers_db)
        foreign_value, foreign_token = foreign.new_form()
        anonymous.cookies.set("dp_form", foreign_value)
        r = anonymous.post("/api/auth/login", data={**form, "csrf_token": foreign_token})
        assert r.status_code == 403
        # this site's own form cookie with its token passes the check (the route then wants JSON)
        value, token = made.app.state.parts.sessions.new_form()
        anonymous.cookies.set("dp_form", value)
        r = anonymous.post("/api/auth/login", data={**form, "csrf_token": token})
        assert r.status_code != 403
        assert anonymous.get("/api/me").status_code == 401
        # anonymous JSON needs no token
        ok = made.new().client.post("/api/auth/login", json=form)
        assert ok.status_code == 200 and SESSION_COOKIE in ok.headers["set-cookie"]
    with papers_db.session() as session:
        assert list(session.scalars(select(User.username))) == ["alice"]


def test_no_get_request_changes_anything(world, papers_db):
    made: Clients = world["clients"]
    alice, anonymous = world["alice"], made.new()
    before = snapshot(papers_db)
    # GET (and HEAD) on the URLs of every state-changing route
    for method, path in routes(made.app, UNSAFE):
        url = concrete(path, world)
        for client in (alice, anonymous):
            for verb in ("GET", "HEAD"):
                r = client.client.request(verb, url)
                assert r.status_code < 500, (verb, url, r.status_code)
    for url in (
        f"/api/papers/{PAPER}/upvote",
        f"/api/papers/{OTHER_PAPER}/upvote",
        f"/api/papers/{PAPER}/marks/read",
        f"/api/comments/{world['comment']}",
        f"/api/comments/{world['comment']}/hide",
        f"/api/collections/{world['private']}/papers/{PAPER}",
        "/api/auth/logout",
        "/api/me/password",
        "/api/papers/submit?paper=" + PAPER,
    ):
        r = alice.get(url)
        assert r.status_code in (404, 405), (url, r.status_code)
    # and every GET route of the app, logged in and not
    for _, path in routes(made.app, {"GET"}):
        url = concrete(path, world)
        for client in (alice, anonymous):
            r = client.get(url)
            assert r.status_code < 500, (url, r.status_code, r.text[:300])
    assert snapshot(papers_db) == before
    assert alice.get("/api/me").status_code == 200  # GET /api/auth/logout did not log out


# --- rate limits -------------------------------------------------------------------------------------


def test_login_and_register_rate_limits(settings, papers_db):
    make_user(papers_db, "alice")
    limited = community_settings(settings, rate_limits="login=3/day,register=2/day")
    with clients(limited, papers_db) as made:
        anonymous = made.new()
        for _ in range(3):
            assert anonymous.login("nobody", "wrong password!!").status_code == 401
        r = anonymous.login("alice")  # the right password, but over the limit
        check_retry_after(r, 86400)
        assert "login" in r.json()["error"]
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
        # refused requests count too: two bad registrations use the limit up
        for _ in range(2):
            assert (
                anonymous.client.post(
                    "/api/auth/register", json={"username": "X Y", "email": "a@b.c", "password": PASSWORD}
                ).status_code
                == 400
            )
        check_retry_after(anonymous.register("carol"), 86400)
    with papers_db.session() as session:
        assert list(session.scalars(select(User.username))) == ["alice"]


def test_submit_vote_and_comment_rate_limits(settings, papers_db):
    limited = community_settings(settings, rate_limits="submit=1/day,vote=2/day,comment=2/day")
    with clients(limited, papers_db) as made:
        alice, bob = made.account(papers_db, "alice"), made.account(papers_db, "bob")
        assert alice.post("/api/papers/submit", json={"paper": "not a paper"}).status_code == 400
        check_retry_after(alice.post("/api/papers/submit", json={"paper": "2611.00001"}), 86400)

        assert alice.put(f"/api/papers/{PAPER}/upvote").status_code == 200
        assert alice.delete(f"/api/papers/{PAPER}/upvote").status_code == 200
        r = alice.put(f"/api/papers/{PAPER}/upvote")
        check_retry_after(r, 86400)
        assert "vote" in r.json()["error"]
        assert vote_rows(papers_db, PAPER) == 0 and paper_row(papers_db, PAPER)[1] == 0
        assert bob.put(f"/api/papers/{PAPER}/upvote").status_code == 200  # a limit per account
        assert vote_rows(papers_db, PAPER) == 1

        for n in range(2):
            r = alice.post(f"/api/papers/{PAPER}/comments", json={"body": f"comment {n}"})
            assert r.status_code == 201
        check_retry_after(alice.post(f"/api/papers/{PAPER}/comments", json={"body": "one more"}), 86400)
        listed = bob.get(f"/api/papers/{PAPER}/comments").json()
        assert [c["body"] for c in listed] == ["comment 0", "comment 1"]


def test_rate_limits_are_shared_by_every_worker(settings, papers_db):
    limited = community_settings(settings, rate_limits="login=3/day,vote=2/day")
    alice_user = make_user(papers_db, "alice")
    with clients(limited, papers_db) as one, clients(limited, papers_db) as two:
        assert one.app is not two.app
        a, b = one.new(), two.new()
        assert a.login("nobody", "wrong password!!").status_code == 401
        assert b.login("nobody", "wrong password!!").status_code == 401
        assert a.login("nobody", "wrong password!!").status_code == 401
        check_retry_after(b.login("alice"), 86400)
        check_retry_after(a.login("alice"), 86400)

        alice_one, alice_two = one.session(alice_user), two.session(alice_user)
        assert alice_one.put(f"/api/papers/{PAPER}/upvote").status_code == 200
        assert alice_two.delete(f"/api/papers/{PAPER}/upvote").status_code == 200
        check_retry_after(alice_one.put(f"/api/papers/{PAPER}/upvote"), 86400)
        check_retry_after(alice_two.put(f"/api/papers/{PAPER}/upvote"), 86400)
    assert vote_rows(papers_db, PAPER) == 0


# --- authorization -----------------------------------------------------------------------------------


def test_other_peoples_things_are_out_of_reach(world, papers_db):
    made: Clients = world["clients"]
    bob, anonymous = world["bob"], made.new()
    private, comment = world["private"], world["comment"]
    before = snapshot(papers_db)
    for client in (bob, anonymous):
        assert client.get(f"/api/collections/{private}").status_code == 404
    for r in (
        bob.patch(f"/api/collections/{private}", json={"name": "mine", "public": True}),
        bob.delete(f"/api/collections/{private}"),
        bob.put(f"/api/collections/{private}/papers/{OTHER_PAPER}"),
        bob.delete(f"/api/collections/{private}/papers/{PAPER}"),
    ):
        assert r.status_code == 404, r.text
        assert "alice" not in r.text
    for r in (
        bob.patch(f"/api/comments/{comment}", json={"body": "edited by bob"}),
        bob.delete(f"/api/comments/{comment}"),
        bob.post(f"/api/comments/{comment}/hide", json={"hidden": True}),
    ):
        assert r.status_code == 403, r.text
    assert [c["name"] for c in bob.get("/api/users/alice/collections").json()] == ["alice public"]
    assert bob.get("/api/collections").json() == []
    me = bob.get("/api/me").json()
    assert me["name"] == "bob" and me["email"] == "bob@example.org"
    export = bob.get("/api/me/export")
    assert export.status_code == 200 and "alice" not in export.text
    for url in ("/api/me", "/api/me/export", "/api/me/upvotes", "/api/me/submissions", "/api/collections"):
        assert anonymous.get(url).status_code == 401, url
    # nothing public shows alice's address
    for url in (
        f"/api/papers/{PAPER}/comments",
        f"/api/collections/{world['public']}",
        "/api/users/alice/collections",
        f"/api/daily_papers?date={LATEST_DAY}",
        f"/api/papers/{PAPER}",
    ):
        for client in (bob, anonymous):
            r = client.get(url)
            assert r.status_code == 200 and "alice@example.org" not in r.text, url
    assert snapshot(papers_db) == before


def _forge(value: str, payload: object) -> str:
    """A session cookie value with ``payload`` put in place of the signed one (the signature kept)."""
    _, rest = value.split(".", 1)
    data = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{data}.{rest}"


def test_foreign_tampered_revoked_and_old_session_cookies_are_ignored(world, papers_db, monkeypatch):
    made: Clients = world["clients"]
    with papers_db.session() as session:
        alice = session.scalar(select(User).where(User.username == "alice"))
    settings = made.app.state.parts.application.settings
    sessions: Sessions = made.app.state.parts.sessions
    value, token, _ = sessions.issue(alice)

    foreign_settings = settings.model_copy(update={"secret_key": OTHER_SECRET})
    foreign_value, foreign_token, _ = Sessions(foreign_settings, papers_db).issue(alice)
    tampered = value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB")
    forged = _forge(value, "a token of my own choosing")
    revoked_value, revoked_token, revoked_id = sessions.issue(alice)
    with papers_db.transaction() as session:  # ended elsewhere (log out, a password change)
        session.execute(delete(UserSession).where(UserSession.id == revoked_id))
    expired_value, expired_token, expired_id = sessions.issue(alice)
    with papers_db.transaction() as session:
        session.get(UserSession, expired_id).expires_at = utcnow() - timedelta(seconds=1)
    fresh_value, fresh_token, _ = sessions.issue(session_user(papers_db, alice.id))
    now = time.time()
    with monkeypatch.context() as patch:  # signed 31 days ago
        patch.setattr(itsdangerous.timed, "time", clock_at(now - 31 * 86400))
        old_value, old_token, _ = sessions.issue(session_user(papers_db, alice.id))

    before = snapshot(papers_db)
    for cookie, csrf in (
        (foreign_value, foreign_token),
        (tampered, token),
        (forged, token),
        (revoked_value, revoked_token),
        (expired_value, expired_token),
        (old_value, old_token),
        ("garbage", token),
    ):
        api = made.new()
        api.client.cookies.set(SESSION_COOKIE, cookie)
        r = api.get("/api/me")
        assert r.status_code == 401, cookie
        assert re.search(r"dp_session=(\"\")?;.*max-age=0", r.headers.get("set-cookie", ""), re.I), r.headers
        vote = api.client.put(f"/api/papers/{OTHER_PAPER}/upvote", headers={"X-CSRF-Token": csrf})
        assert vote.status_code in (401, 403)
        vote = api.client.put(f"/api/papers/{OTHER_PAPER}/upvote", json={})
        assert vote.status_code == 401
    assert snapshot(papers_db) == before
    good = made.new()
    good.client.cookies.set(SESSION_COOKIE, fresh_value)
    assert good.get("/api/me").json()["name"] == "alice"


def test_a_deleted_accounts_session_never_opens_a_newer_account(settings, papers_db):
    """The cookie of a deleted account must stay dead, also when a new account gets stored after it
    (SQLite hands the highest deleted rowid to the next row unless the table says AUTOINCREMENT)."""
    with clients(community_settings(settings), papers_db) as made:
        made.account(papers_db, "bob")
        alice = made.account(papers_db, "alice")  # the newest account
        old_cookie, old_token = alice.client.cookies.get(SESSION_COOKIE), alice.csrf
        assert alice.delete("/api/me", json={"password": PASSWORD}).status_code == 204
        make_user(papers_db, "carol")  # someone registers afterwards
        stolen = made.new()
        stolen.client.cookies.set(SESSION_COOKIE, old_cookie)
        me = stolen.get("/api/me")
        assert me.status_code == 401, f"alice's old cookie opened the account {me.json().get('name')!r}"
        assert stolen.client.put(
            f"/api/papers/{PAPER}/upvote", headers={"X-CSRF-Token": old_token}
        ).status_code in (401, 403)
    assert vote_rows(papers_db, PAPER) == 0


def test_a_non_ascii_csrf_token_is_refused_not_a_server_error(world, papers_db):
    made: Clients = world["clients"]
    cookie = world["alice"].client.cookies.get(SESSION_COOKIE)
    before = snapshot(papers_db)
    with (
        TestClient(made.app, raise_server_exceptions=False) as client,
        TestClient(made.app, raise_server_exceptions=False) as anonymous,
    ):
        client.cookies.set(SESSION_COOKIE, cookie)
        as_form = client.put(f"/api/papers/{OTHER_PAPER}/upvote", data={"csrf_token": "\u00e9" * 40})
        as_header = client.put(
            f"/api/papers/{OTHER_PAPER}/upvote", headers={"X-CSRF-Token": "\u00e9".encode("latin-1") * 40}
        )
        anonymous_form = anonymous.post(
            "/api/auth/login", data={"login": "alice", "password": PASSWORD, "csrf_token": "\u00e9"}
        )
    statuses = {
        "form field": as_form.status_code,
        "header": as_header.status_code,
        "anonymous form field": anonymous_form.status_code,
    }
    assert statuses == {"form field": 403, "header": 403, "anonymous form field": 403}
    assert snapshot(papers_db) == before


def clock_at(timestamp: float) -> type:
    """A stand-in for the ``time`` module as itsdangerous reads it: its clock stopped at ``timestamp``."""
    return type("StoppedClock", (), {"time": staticmethod(lambda: timestamp)})


def session_user(db, user_id: int) -> User:
    with db.session() as session:
        return session.get(User, user_id)


def _cookie_flags(header: str) -> set[str]:
    parts = [p.strip().lower() for p in header.split(";")]
    return {p.split("=")[0] for p in parts[1:]} | {p for p in parts[1:] if p.startswith("samesite")}


@pytest.mark.parametrize(
    "site_url, scheme, secure",
    [
        ("http://127.0.0.1:8000", "http", False),
        ("https://papers.example.org", "http", True),  # TLS ends at a proxy: the site's URL says HTTPS
        ("http://127.0.0.1:8000", "https", True),
    ],
)
def test_session_cookie_flags(settings, papers_db, site_url, scheme, secure):
    make_user(papers_db, "alice")
    with clients(community_settings(settings, site_url=site_url), papers_db) as made:
        api = made.new(base_url=f"{scheme}://testserver")
        r = api.login("alice")
        assert r.status_code == 200
        header = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
        flags = _cookie_flags(header)
        assert "httponly" in flags and "samesite=lax" in flags and "path" in flags
        assert ("secure" in flags) is secure
        assert "domain" not in flags
        if secure and scheme == "http":  # a client sends a Secure cookie back over HTTPS only
            api.client.base_url = "https://testserver"
        out = api.post("/api/auth/logout")
        assert out.status_code == 204
        gone = next(h for h in out.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
        assert "max-age=0" in gone.lower() or "expires=" in gone.lower()


# an empty key is no weak key: it means "generate one"
WEAK_SECRETS = sorted((PLACEHOLDER_SECRETS - {""}) | {"short-but-not-a-placeholder", "x" * 31})


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_settings_refuse_a_weak_secret_outside_development(secret, monkeypatch):
    for name in ("DAILYPAPERS_SECRET_KEY", "DAILYPAPERS_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=secret, _env_file=None)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="staging", secret_key=secret, _env_file=None)
    assert Settings(environment="development", secret_key=secret, _env_file=None).secret_key == secret


def test_settings_need_a_real_secret_in_production_from_the_environment(monkeypatch):
    monkeypatch.setenv("DAILYPAPERS_ENVIRONMENT", "production")
    monkeypatch.setenv("DAILYPAPERS_SECRET_KEY", "dev-insecure-secret-key")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
    monkeypatch.setenv("DAILYPAPERS_SECRET_KEY", "k" * 16 + "Zq3-" * 8)
    assert Settings(_env_file=None).environment == "production"


# --- concurrency (a real server, real HTTP) ----------------------------------------------------------


def _parallel_upvotes(
    base_url: str, sessions: list[tuple[str, str]], method: str = "PUT"
) -> list[httpx.Response]:
    """One request per (cookie, token), all released at once from as many threads."""
    barrier = threading.Barrier(len(sessions))

    def one(session: tuple[str, str]) -> httpx.Response:
        cookie, token = session
        with httpx.Client(base_url=base_url, cookies={SESSION_COOKIE: cookie}, timeout=60) as client:
            barrier.wait()
            return client.request(method, f"/api/papers/{PAPER}/upvote", headers={"X-CSRF-Token": token})

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        return list(pool.map(one, sessions))


def test_fifty_parallel_upvotes_by_one_user_count_once(settings, papers_db):
    config = community_settings(settings)
    make_user(papers_db, "alice")
    source, _ = paper_row(papers_db, PAPER)
    with live_server(config, papers_db) as base_url:
        with httpx.Client(base_url=base_url) as login_client:
            r = login_client.post("/api/auth/login", json={"login": "alice", "password": PASSWORD})
            assert r.status_code == 200, r.text
            cookie, token = login_client.cookies[SESSION_COOKIE], r.json()["csrfToken"]
        answers = _parallel_upvotes(base_url, [(cookie, token)] * 50)
        assert [a.status_code for a in answers] == [200] * 50, {a.status_code: a.text for a in answers}
        assert {a.json()["upvotes"] for a in answers} == {source + 1}
        assert vote_rows(papers_db, PAPER) == 1
        assert paper_row(papers_db, PAPER) == (source, 1)
        with httpx.Client(base_url=base_url) as anonymous:
            assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == source + 1
        removals = _parallel_upvotes(base_url, [(cookie, token)] * 50, method="DELETE")
        assert [a.status_code for a in removals] == [200] * 50
        assert vote_rows(papers_db, PAPER) == 0
        assert paper_row(papers_db, PAPER) == (source, 0)


def test_fifty_parallel_upvotes_by_fifty_users_count_fifty(settings, papers_db):
    config = community_settings(settings)
    users = make_users(papers_db, [f"voter{n:02d}" for n in range(50)])
    source, _ = paper_row(papers_db, PAPER)
    sessions = Sessions(config, papers_db)  # the cookies a login gives (the same secret signs them)
    cookies = [sessions.issue(user)[:2] for user in users]
    with live_server(config, papers_db) as base_url:
        with httpx.Client(base_url=base_url) as client:  # and one of them logs in for real
            r = client.post("/api/auth/login", json={"login": "voter00", "password": PASSWORD})
            assert r.status_code == 200, r.text
            cookies[0] = (client.cookies[SESSION_COOKIE], r.json()["csrfToken"])
        answers = _parallel_upvotes(base_url, cookies)
        assert [a.status_code for a in answers] == [200] * 50, {a.status_code: a.text for a in answers}
        assert sorted(a.json()["upvotes"] for a in answers) == list(range(source + 1, source + 51))
        assert vote_rows(papers_db, PAPER) == 50
        assert paper_row(papers_db, PAPER) == (source, 50)
        with httpx.Client(base_url=base_url) as anonymous:
            assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == source + 50
            listed = anonymous.get(f"/api/daily_papers?date={LATEST_DAY}").json()
            assert next(i for i in listed if i["paper"]["id"] == PAPER)["paper"]["upvotes"] == source + 50
        removals = _parallel_upvotes(base_url, cookies, method="DELETE")
        assert [a.status_code for a in removals] == [200] * 50
        assert vote_rows(papers_db, PAPER) == 0
        assert paper_row(papers_db, PAPER) == (source, 0)


def test_parallel_submissions_of_one_new_paper_list_it_once(settings, papers_db):
    """Ten people submit the same paper, unknown here, at the same instant: one listing, one 201, and a
    409 (never a 500) for everyone else."""
    new = f"{datetime.now(timezone.utc):%y%m}.99001"
    papers = {
        new: {
            "id": new,
            "title": "Everybody Wants This Paper",
            "published": datetime.now(timezone.utc) - timedelta(days=1),
        }
    }
    answer = arxiv_responder(papers)

    everyone_fetching = threading.Barrier(10)

    def together(req):  # arXiv answers once all ten are fetching: they all store the paper at once
        try:
            everyone_fetching.wait(timeout=20)
        except threading.BrokenBarrierError:
            pass
        return answer(req)

    users = make_users(papers_db, [f"fan{n}" for n in range(10)])
    with LocalServer(together) as arxiv:
        config = community_settings(settings, arxiv_api_url=arxiv.url + "/api/query")
        sessions = Sessions(config, papers_db)
        cookies = [sessions.issue(user)[:2] for user in users]
        with live_server(config, papers_db) as base_url:
            barrier = threading.Barrier(len(cookies))

            def submit(session: tuple[str, str]) -> httpx.Response:
                cookie, token = session
                with httpx.Client(base_url=base_url, cookies={SESSION_COOKIE: cookie}, timeout=60) as client:
                    barrier.wait()
                    return client.post(
                        "/api/papers/submit", json={"paper": new}, headers={"X-CSRF-Token": token}
                    )

            with ThreadPoolExecutor(max_workers=len(cookies)) as pool:
                answers = list(pool.map(submit, cookies))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 9, {a.status_code: a.text for a in answers}
    with papers_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Paper).where(Paper.arxiv_id == new)) == 1
        assert (
            session.scalar(
                select(func.count())
                .select_from(DailyEntry)
                .join(Paper, Paper.id == DailyEntry.paper_id)
                .where(Paper.arxiv_id == new)
            )
            == 1
        )
    assert vote_rows(papers_db, new) == 1 and paper_row(papers_db, new)[1] == 1
