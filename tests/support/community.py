"""Helpers for the tests of accounts and community actions: an API client that keeps its session and
CSRF token, users made quickly, recorded-style arXiv Atom answers for submissions, and a look at
what the database holds."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.settle import settled
from sqlalchemy import func, select

from dailypapers.community import accounts
from dailypapers.config import Settings
from dailypapers.ingest import hf_daily
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import Base, Paper, User, Vote, utcnow
from dailypapers.web.app import create_app
from dailypapers.web.auth import SESSION_COOKIE
from tests.conftest import TEST_DATA
from tests.support.local_server import Reply, Request

PASSWORD = "correct horse battery staple"
# high enough that no test trips a limit it is not about
GENEROUS_LIMITS = (
    "login=10000/hour,register=10000/hour,reset=10000/hour,submit=10000/hour,"
    "vote=10000/hour,comment=10000/hour,write=10000/hour"
)
# a paper of tests/data/hf_daily, listed on 2026-06-30 (the latest day there)
PAPER = "2606.26740"
OTHER_PAPER = "2606.30616"
LATEST_DAY = "2026-06-30"
ATOM = "application/atom+xml; charset=utf-8"


def community_settings(settings: Settings, **changes: Any) -> Settings:
    """The test's settings with no model, no demo, and rate limits out of the way (unless changed)."""
    base: dict[str, Any] = {
        "embedding_backend": "none",
        "load_demo": False,
        "rate_limits": GENEROUS_LIMITS,
        "http_min_interval": 0.0,
    }
    base.update(changes)
    return settings.model_copy(update=base)


def load_papers(db: Database) -> Database:
    """The 12 small recorded Hugging Face daily papers (four days, the latest 2026-06-30)."""
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    return db


@dataclass
class Api:
    """A TestClient that remembers the CSRF token its login returned and sends it on every change."""

    client: TestClient
    csrf: str | None = None
    user: dict[str, Any] = field(default_factory=dict)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.csrf and "X-CSRF-Token" not in out:
            out["X-CSRF-Token"] = self.csrf
        return out

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.post(url, json=json, headers=self._headers(headers), **kw)

    def put(self, url: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.put(url, json=json, headers=self._headers(headers), **kw)

    def patch(self, url: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.patch(url, json=json, headers=self._headers(headers), **kw)

    def delete(self, url: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.request("DELETE", url, json=json, headers=self._headers(headers), **kw)

    def register(
        self,
        username: str,
        email: str | None = None,
        password: str = PASSWORD,
        display_name: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "username": username,
            "email": email or f"{username}@example.org",
            "password": password,
        }
        if display_name is not None:
            body["displayName"] = display_name
        response = self.client.post("/api/auth/register", json=body)
        if response.status_code == 201:
            self.user = response.json()
            self.csrf = self.user["csrfToken"]
        return response

    def login(self, login: str, password: str = PASSWORD) -> Any:
        response = self.client.post("/api/auth/login", json={"login": login, "password": password})
        if response.status_code == 200:
            self.user = response.json()
            self.csrf = self.user["csrfToken"]
        return response


class Clients:
    """Several API clients on one app (each its own cookie jar: several people, or several devices)."""

    def __init__(self, app: FastAPI, base_url: str = "http://testserver") -> None:
        self.app = app
        self.base_url = base_url
        self._stack = ExitStack()

    def new(self, base_url: str | None = None, *, address: str | None = None) -> Api:
        """A client of its own (cookie jar), seen by the app as coming from ``address`` if given."""
        extra: dict[str, Any] = {"client": (address, 50000)} if address else {}
        client = self._stack.enter_context(TestClient(self.app, base_url=base_url or self.base_url, **extra))
        return Api(settled(client))

    def user(self, username: str, *, password: str = PASSWORD) -> Api:
        """A client logged in as the existing account ``username`` through ``POST /api/auth/login``."""
        api = self.new()
        response = api.login(username, password)
        assert response.status_code == 200, response.text
        return api

    def session(self, user: User) -> Api:
        """A client holding a session of ``user``: the cookie and CSRF token a login would give, made
        without checking the password again (argon2 is slow on purpose)."""
        api = self.new()
        issued = self.app.state.parts.sessions.issue(user)
        api.csrf = issued.csrf_token
        api.client.cookies.set(SESSION_COOKIE, issued.cookie)
        api.user = {"name": user.username}
        return api

    def account(
        self, db: Database, username: str, role: str = "user", display_name: str | None = None
    ) -> Api:
        """A new account ``username`` and a client logged in as it."""
        return self.session(make_user(db, username, role=role, display_name=display_name))

    def close(self) -> None:
        self._stack.close()


@contextmanager
def clients(settings: Settings, db: Database, base_url: str = "http://testserver") -> Iterator[Clients]:
    """Clients of one new app on ``db`` (over HTTPS with ``base_url="https://testserver"``: a site whose
    URL is https sets Secure cookies, which clients send back over HTTPS only)."""
    made = Clients(create_app(settings, database=db), base_url)
    try:
        yield made
    finally:
        made.close()


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """The argon2 hash of ``password``, computed once per test run (argon2 is slow on purpose)."""
    return accounts.hash_password(password)


def make_users(
    db: Database,
    names: list[str],
    *,
    role: str = "user",
    password: str = PASSWORD,
    display_name: str | None = None,
) -> list[User]:
    """Accounts stored directly, all with one precomputed hash of ``password`` and a confirmed address
    (``name@example.org``)."""
    with db.transaction() as session:
        users = [
            User(
                username=n,
                email=f"{n}@example.org",
                email_verified_at=utcnow(),
                display_name=display_name or n,
                password_hash=password_hash(password),
                role=role,
            )
            for n in names
        ]
        session.add_all(users)
        session.flush()
        return users


def make_user(
    db: Database,
    username: str,
    *,
    role: str = "user",
    password: str = PASSWORD,
    display_name: str | None = None,
) -> User:
    return make_users(db, [username], role=role, password=password, display_name=display_name)[0]


# --- what the database holds -------------------------------------------------------------------------


def paper_row(db: Database, arxiv_id: str) -> tuple[int, int]:
    """(source upvotes, community upvotes) of a paper."""
    with db.session() as session:
        row = session.execute(
            select(Paper.upvotes, Paper.community_upvotes).where(Paper.arxiv_id == arxiv_id)
        ).one()
        return int(row.upvotes or 0), int(row.community_upvotes or 0)


def vote_rows(db: Database, arxiv_id: str) -> int:
    with db.session() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Vote)
                .join(Paper, Paper.id == Vote.paper_id)
                .where(Paper.arxiv_id == arxiv_id)
            )
            or 0
        )


# tables that change by design on any request (request counters, the data version)
NOT_STATE = frozenset({"rate_counters", "site_state"})


def snapshot(db: Database) -> dict[str, Any]:
    """Every row of every table (but :data:`NOT_STATE`), in a comparable form: what any action can change,
    including tables added later."""
    with db.session() as session:
        return {
            table.name: sorted((tuple(row) for row in session.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
            if table.name not in NOT_STATE
        }


# --- the arXiv API, as a LocalServer answers it --------------------------------------------------------


def atom_feed(papers: list[dict[str, Any]]) -> str:
    """An arXiv API answer (current shape) listing ``papers`` (dicts: id, title, published, authors)."""
    entries = []
    for p in papers:
        published = p["published"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        names = p.get("authors", ["A. Author"])
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in names)
        entries.append(f"""
  <entry>
    <id>http://arxiv.org/abs/{p["id"]}v1</id>
    <title>{escape(p["title"])}</title>
    <updated>{published}</updated>
    <link href="https://arxiv.org/abs/{p["id"]}v1" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/{p["id"]}v1" rel="related" type="application/pdf" title="pdf"/>
    <summary>{escape(p.get("abstract", "An abstract long enough to be one."))}</summary>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <published>{published}</published>
    <arxiv:primary_category term="cs.LG"/>
    {authors}
  </entry>""")
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/test</id>
  <title>arXiv Query: id_list</title>
  <updated>{datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}</updated>
  <opensearch:itemsPerPage>{len(papers)}</opensearch:itemsPerPage>
  <opensearch:totalResults>{len(papers)}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>{"".join(entries)}
</feed>
"""


def arxiv_responder(papers: dict[str, dict[str, Any]]) -> Any:
    """A LocalServer handler answering ``id_list=`` queries from ``papers`` (by arXiv id)."""

    def respond(req: Request) -> Reply:
        wanted = [i.strip() for i in (req.arg("id_list") or "").split(",") if i.strip()]
        found = [papers[i] for i in wanted if i in papers]
        return Reply(200, atom_feed(found), content_type=ATOM)

    return respond
