"""Upgrading a database made by an earlier release: its dump (tests/data/upgrade/) is loaded at the schema
revision it was made at, ``dailypapers db upgrade`` brings it to this version's newest, and then every
page and API answer a reader uses shows the old data, and its accounts log in and vote."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, text
from typer.testing import CliRunner

from dailypapers.cli import app as cli_app
from dailypapers.store.copy import head_revision
from dailypapers.store.db import Database
from dailypapers.store.vectors import pg_nearest, pg_vector_literal, vector_index_name, vector_of
from tests.support.community import clients, community_settings
from tests.support.upgrade import UPGRADE_DATA, DUMP_PASSWORD, Dump, load_dump, read_dump, row_counts

# the database of the release whose newest migration was 0011 (see tests/data/upgrade/README.md)
RELEASE_0011 = UPGRADE_DATA / "0011_email_verification.json.gz"
PAPER = "2606.26740"  # listed 2026-06-30, the newest day; upvoted by alice and bob, two comments (one hidden)
OTHER_PAPER = "2606.30616"  # listed 2026-06-30; upvoted by bob, in alice's private collection
DEMO_PAPER = "2606.28128"  # listed 2026-06-29 (nvidia); upvoted by carol, in bob's public collection
NEWEST_DAY = date(2026, 6, 30)
OLDER_DAY = date(2026, 6, 29)
SHOWN_COMMENT = "The ablation in section 4 is"
HIDDEN_COMMENT = "Cheap followers"


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The test's database with no schema at all (the dump's revision is migrated to by the loader):
    on the SQLite run Settings' default file, not made yet; on the PostgreSQL run a new database."""
    if request.config.getoption("--db") != "postgresql":
        yield None
        return
    server = request.getfixturevalue("postgres")
    url = server.new_database(migrated=False)
    yield url
    server.drop_database(url)


@pytest.fixture
def release_0011(settings, database_env) -> Iterator[tuple[Database, Dump]]:
    """The 0011 release's database, upgraded by ``dailypapers db upgrade``; the dump beside it."""
    dump = read_dump(RELEASE_0011)
    old = Database.from_settings(settings)
    load_dump(old, dump)
    assert old.current_revision() == dump.revision == "0011"
    assert row_counts(old, list(dump.tables)) == dump.counts()
    old.dispose()

    result = CliRunner().invoke(cli_app, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"database at revision {head_revision()}" in result.stdout

    db = Database.from_settings(settings)
    yield db, dump
    db.dispose()


def _title(dump: Dump, arxiv_id: str) -> str:
    return dump.row("papers", arxiv_id=arxiv_id)["title"]


def _total(dump: Dump, arxiv_id: str) -> int:
    """The upvotes a paper shows: the source's count plus the votes cast on the site."""
    paper = dump.row("papers", arxiv_id=arxiv_id)
    return paper["upvotes"] + paper["community_upvotes"]


def _votes(n: int) -> str:
    """How a card or a paper page shows ``n`` upvotes (a card's title, the paper page's link)."""
    return f"{n} upvotes"


def _ok(response: Any) -> str:
    assert response.status_code == 200, (response.request.url, response.status_code, response.text[:300])
    return response.text


def _text(response: Any) -> str:
    """A 200 page with its character references resolved."""
    return html.unescape(_ok(response))


def _words(response: Any) -> str:
    """A 200 page's text without its markup (search results highlight the words matched)."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", _ok(response))).split())


def test_db_upgrade_brings_the_release_to_the_newest_revision_keeping_every_row(release_0011):
    db, dump = release_0011
    assert db.current_revision() == head_revision()
    assert set(dump.tables) <= set(db.table_names())
    assert row_counts(db, list(dump.tables)) == dump.counts()
    # the dump is the release's real state: what the checks below rely on is in it
    assert dump.counts()["paper_vectors"] == dump.counts()["papers"] == 29
    assert [c["hidden"] for c in dump.rows("comments")] == [False, True]
    assert {u["username"]: u["role"] for u in dump.rows("users")} == {
        "alice": "admin",
        "bob": "user",
        "carol": "user",
    }


@pytest.mark.postgres_only
def test_the_upgrade_makes_the_vector_index_half_precision_and_searches_through_it(release_0011):
    db, dump = release_0011
    model = dump.rows("paper_vectors")[0]["model"]
    digest = hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:12]
    with db.session() as session:
        indexes = dict(
            session.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'paper_vectors'")
            ).all()
        )
        hnsw = {name: d for name, d in indexes.items() if "hnsw" in d}
        assert list(hnsw) == [vector_index_name(model)] == [f"ix_paper_vectors_hnsw_{digest}_h"]
        assert "halfvec_cosine_ops" in hnsw[vector_index_name(model)]
        # 29 rows: a scan of the model's rows and a sort costs less; rule it out to see the index can serve
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
        target = dump.rows("paper_vectors")[3]["paper_id"]
        query = vector_of(session, target, model)
        nearest = pg_nearest(session, model, query, 5)
        plan = " ".join(
            session.execute(
                text(
                    "EXPLAIN SELECT paper_id FROM paper_vectors WHERE model = :m AND embedding IS NOT NULL "
                    "ORDER BY embedding::halfvec(64) <=> CAST(:q AS halfvec(64)) LIMIT 5"
                ),
                {"m": model, "q": pg_vector_literal(query)},
            ).scalars()
        )
    assert vector_index_name(model) in plan
    assert nearest[0] == (target, pytest.approx(1.0, abs=1e-3))


def test_every_page_and_api_answer_shows_the_releases_data(release_0011, settings):
    db, dump = release_0011
    newest = [r for r in dump.rows("daily_entries") if r["day"] == NEWEST_DAY.isoformat()]
    older = [r for r in dump.rows("daily_entries") if r["day"] == OLDER_DAY.isoformat()]
    assert len(newest) == 4 and len(older) == 17
    week = "{}-W{:02d}".format(*OLDER_DAY.isocalendar()[:2])
    assert NEWEST_DAY.isocalendar()[:2] == OLDER_DAY.isocalendar()[:2]
    org = dump.row("organizations", name="nvidia")
    org_papers = [p["title"] for p in dump.rows("papers") if p["organization_id"] == org["id"]]
    assert len(org_papers) == 2

    with clients(community_settings(settings, embedding_backend="hashing"), db) as made:
        reader = made.new()

        home = _text(reader.get("/"))
        assert _title(dump, PAPER) in home and f'"{_votes(_total(dump, PAPER))}"' in home
        day = _text(reader.get(f"/papers/date/{OLDER_DAY.isoformat()}"))
        assert _title(dump, DEMO_PAPER) in day and f'"{_votes(_total(dump, DEMO_PAPER))}"' in day
        for listing in (f"/papers/week/{week}", f"/papers/month/{OLDER_DAY:%Y-%m}"):
            page = _text(reader.get(listing))
            assert all(_title(dump, a) in page for a in (PAPER, OTHER_PAPER, DEMO_PAPER)), listing
        trending = _text(reader.get("/papers/trending"))
        assert _title(dump, PAPER) in trending and "Trending score" in trending

        paper = _text(reader.get(f"/papers/{PAPER}"))
        assert _title(dump, PAPER) in paper and f"({_votes(_total(dump, PAPER))})" in paper
        assert SHOWN_COMMENT in paper and HIDDEN_COMMENT not in paper
        assert _title(dump, PAPER) in _text(reader.get(f"/papers/{PAPER}.md"))
        organization = _text(reader.get("/organizations/nvidia"))
        assert all(title in organization for title in org_papers)
        search = _words(reader.get("/papers", params={"q": "PhysisForcing"}))
        assert _title(dump, DEMO_PAPER) in search

        for feed in (
            "/feeds/daily.atom",
            f"/feeds/date/{OLDER_DAY.isoformat()}.atom",
            f"/feeds/week/{week}.atom",
            "/feeds/trending.atom",
            "/feeds/organizations/nvidia.atom",
            "/feeds/search.atom?q=PhysisForcing",
        ):
            answer = reader.get(feed)
            assert answer.status_code == 200, feed
            assert answer.headers["content-type"].startswith("application/atom+xml"), feed
            assert "<entry>" in answer.text, feed
        assert _title(dump, DEMO_PAPER) in _text(reader.get("/feeds/organizations/nvidia.atom"))

        listed = reader.get("/api/daily_papers")
        assert listed.status_code == 200
        by_id = {item["paper"]["id"]: item for item in listed.json()}
        assert len(by_id) == len(newest)
        assert by_id[PAPER]["paper"]["upvotes"] == _total(dump, PAPER)
        assert by_id[PAPER]["title"] == _title(dump, PAPER)
        of_day = reader.get("/api/daily_papers", params={"date": OLDER_DAY.isoformat()})
        assert {item["paper"]["id"] for item in of_day.json()} == {
            p["arxiv_id"] for p in dump.rows("papers") if p["id"] in {e["paper_id"] for e in older}
        }
        one = reader.get(f"/api/papers/{PAPER}")
        assert one.status_code == 200
        assert one.json()["title"] == _title(dump, PAPER) and one.json()["upvotes"] == _total(dump, PAPER)
        for mode, query in (("keyword", "PhysisForcing"), ("semantic", _title(dump, DEMO_PAPER))):
            found = reader.get("/api/papers/search", params={"q": query, "mode": mode})
            assert found.status_code == 200, found.text
            assert found.json()[0]["paper"]["id"] == DEMO_PAPER, mode

        public, private = (dump.row("collections", name=n) for n in ("Reading list", "Private notes"))
        bob = _text(reader.get("/users/bob"))
        assert "Bob Reader" in bob and "Reading list" in bob
        assert "Private notes" not in _text(reader.get("/users/alice"))
        collection = _text(reader.get(f"/collections/{public['id']}"))
        assert _title(dump, PAPER) in collection and _title(dump, DEMO_PAPER) in collection
        assert reader.get(f"/collections/{private['id']}").status_code == 404
        assert [c["name"] for c in reader.get("/api/users/bob/collections").json()] == ["Reading list"]


def test_the_releases_accounts_log_in_and_find_their_votes_collections_and_subscription(
    release_0011, settings
):
    db, dump = release_0011
    public, private = (dump.row("collections", name=n) for n in ("Reading list", "Private notes"))

    with clients(community_settings(settings), db) as made:
        bob = made.user("bob", password=DUMP_PASSWORD)
        account = _text(bob.get("/account"))
        assert "Bob Reader" in account and "bob@example.org" in account
        upvoted = _text(bob.get("/account/upvotes"))
        assert _title(dump, PAPER) in upvoted and _title(dump, OTHER_PAPER) in upvoted
        assert {p["id"] for p in bob.get("/api/me/upvotes").json()} == {PAPER, OTHER_PAPER}
        assert "Reading list" in _text(bob.get("/collections"))
        exported = bob.get("/api/me/export").json()
        assert [(s["email"], s["frequency"]) for s in exported["subscription"]] == [
            ("bob@example.org", "daily")
        ]
        assert {(i["kind"], i["value"]) for i in exported["interests"]} == {
            ("organization", "nvidia"),
            ("paper", DEMO_PAPER),
        }
        assert [(m["paper"], m["kind"]) for m in exported["marks"]] == [(OTHER_PAPER, "read")]

        # a vote works, and what every reader sees follows it
        before = _total(dump, DEMO_PAPER)
        voted = bob.put(f"/api/papers/{DEMO_PAPER}/upvote")
        assert voted.status_code == 200, voted.text
        assert voted.json()["upvotes"] == before + 1
        taken = bob.delete(f"/api/papers/{PAPER}/upvote")
        assert taken.status_code == 200 and taken.json()["upvotes"] == _total(dump, PAPER) - 1
        reader = made.new()
        assert reader.get(f"/api/papers/{DEMO_PAPER}").json()["upvotes"] == before + 1
        assert f"({_votes(before + 1)})" in _text(reader.get(f"/papers/{DEMO_PAPER}"))

        alice = made.user("alice", password=DUMP_PASSWORD)
        assert HIDDEN_COMMENT in _text(alice.get(f"/papers/{PAPER}"))  # moderators see hidden comments
        assert alice.get(f"/api/collections/{private['id']}").status_code == 200
        assert bob.get(f"/api/collections/{private['id']}").status_code == 404
        assert bob.get(f"/api/collections/{public['id']}").json()["name"] == "Reading list"

        carol = made.user("carol", password=DUMP_PASSWORD)
        assert "carol@example.org" in _text(carol.get("/account"))  # still waiting for its link
        assert carol.get("/api/me").json()["email"] is None


@pytest.mark.postgres_only
def test_the_upgrade_brings_each_search_vector_back_into_its_row(postgres):
    """Migration 0015: a paper whose search vector PostgreSQL had moved out of its row (TOAST) has it in
    the row afterwards, and a paper added after the upgrade keeps its own there from the start."""
    from dailypapers.store.models import Paper

    url = postgres.new_database(migrated=False)
    db = Database(url)
    try:
        db.migrate("0014")
        words = " ".join(f"term{i} variant{i * 7} measure{i * 13}" for i in range(160))  # ~2.5 kB vector

        def add(arxiv_id: str) -> None:
            # only the columns the schema of 0014 has (the model has more since)
            with db.transaction() as session:
                session.execute(
                    insert(Paper.__table__).values(
                        arxiv_id=arxiv_id, version=1, title=f"Long {arxiv_id}", abstract=words
                    )
                )

        def out_of_row() -> dict[str, bool]:
            with db.session() as session:
                rows = session.execute(
                    text("SELECT arxiv_id, pg_column_toast_chunk_id(search_tsv) IS NOT NULL FROM papers")
                )
                return {arxiv_id: out for arxiv_id, out in rows}

        add("2501.90001")
        assert out_of_row() == {"2501.90001": True}  # before: in the TOAST relation
        db.migrate()
        add("2501.90002")
        assert out_of_row() == {"2501.90001": False, "2501.90002": False}
        with db.session() as session:
            options = session.scalar(text("SELECT reloptions FROM pg_class WHERE oid = 'papers'::regclass"))
            storage = session.scalar(
                text(
                    "SELECT attstorage FROM pg_attribute WHERE attrelid = 'papers'::regclass "
                    "AND attname = 'search_tsv'"
                )
            )
            # the column's statistics target (keyword search reads word counts from them) survives
            target = session.scalar(
                text(
                    "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'papers'::regclass "
                    "AND attname = 'search_tsv'"
                )
            )
            found = session.execute(
                text("SELECT arxiv_id FROM papers WHERE search_tsv @@ plainto_tsquery('english', 'term42')")
            ).scalars()
            assert sorted(found) == ["2501.90001", "2501.90002"]
        assert "toast_tuple_target=8160" in options and storage == "m" and target == 10000
    finally:
        db.dispose()
        postgres.drop_database(url)
