"""The data version moves by construction: every transaction that writes what a page may show raises it
once, inside itself, whoever wrote and however (ORM, Core statement, raw SQL, a Core connection);
writes that no page shows, reads and rolled-back transactions leave it alone. And a cached search
answer is renewed as soon as indexing commits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text, update

from dailypapers.community import accounts, actions, sessions
from dailypapers.community.ratelimit import RateLimiter, parse_limits
from dailypapers.ingest.records import PaperRecord
from dailypapers.search.embed import get_backend
from dailypapers.search.semantic import embed_missing
from dailypapers.store import jobs
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import Comment, Paper, Schedule, UserSession, utcnow
from dailypapers.store.state import changes_what_readers_see, current_version
from dailypapers.web.app import create_app
from tests.support.community import OTHER_PAPER, PAPER, PASSWORD, load_papers, make_user
from tests.test_search_engine import CORPUS


def version(db: Database) -> int:
    with db.session() as s:
        return current_version(s)


class Moves:
    """``with Moves(db) as moved: ...`` then ``moved.by``: how far the data version went."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.by: int | None = None

    def __enter__(self) -> Moves:
        self.start = version(self.db)
        return self

    def __exit__(self, *exc: object) -> None:
        self.by = version(self.db) - self.start


@pytest.fixture
def loaded(db):
    return load_papers(db)


# --- which statements count ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "counts"),
    [
        ("INSERT INTO papers (arxiv_id, title) VALUES (?, ?)", True),
        ("\n    insert into paper_vectors (paper_id, model) VALUES (:paper_id, :model)", True),
        ('UPDATE "daily_entries" SET upvotes=%(upvotes)s WHERE daily_entries.id = %(id)s', True),
        ("DELETE FROM votes WHERE votes.user_id = ? AND votes.paper_id = ? RETURNING votes.paper_id", True),
        ("INSERT OR REPLACE INTO comments (body) VALUES (?)", True),
        (
            "WITH gone AS (DELETE FROM collection_items WHERE paper_id = 1 RETURNING 1) "
            "SELECT count(*) FROM gone",
            True,
        ),
        ("UPDATE users SET display_name=? WHERE users.id = ?", True),
        ("UPDATE users SET last_login_at=?, display_name=? WHERE users.id = ?", True),
        ("INSERT INTO users (username, display_name) VALUES (?, ?)", True),
        ("UPDATE users SET last_login_at=? WHERE users.id = ?", False),
        (
            "UPDATE users SET password_hash=%(password_hash)s, last_login_at=%(last_login_at)s "
            "WHERE users.id = %(users_id)s",
            False,
        ),
        ("SELECT papers.id FROM papers WHERE papers.arxiv_id = ?", False),
        ("SELECT jobs.id FROM jobs ORDER BY jobs.run_after LIMIT 1 FOR UPDATE SKIP LOCKED", False),
        ("WITH recent AS (SELECT id FROM papers) SELECT count(*) FROM recent", False),
        (
            "INSERT INTO rate_counters (key, window_start, count) VALUES (?, ?, ?) "
            "ON CONFLICT (key, window_start) DO UPDATE SET count = (rate_counters.count + 1)",
            False,
        ),
        ("UPDATE user_sessions SET last_seen_at=? WHERE user_sessions.id = ?", False),
        ("DELETE FROM login_failures WHERE login_failures.key IN (?, ?)", False),
        ("UPDATE site_state SET version=(site_state.version + 1) WHERE site_state.id = ?", False),
        ("INSERT INTO papers_fts(papers_fts) VALUES ('optimize')", True),
        ("BEGIN IMMEDIATE", False),
    ],
)
def test_which_statements_change_what_readers_see(sql, counts):
    assert changes_what_readers_see(sql) is counts


# --- the unit of work --------------------------------------------------------------------------------


def test_one_transaction_with_many_kinds_of_writes_raises_the_version_once(loaded):
    with Moves(loaded) as moved, loaded.transaction() as s:
        paper = s.scalar(select(Paper).where(Paper.arxiv_id == PAPER))
        paper.github_stars = 12345  # an ORM change, flushed at commit
        s.execute(update(Paper).where(Paper.arxiv_id == OTHER_PAPER).values(code_url="https://example.org"))
        s.execute(
            text("UPDATE papers SET project_page = 'https://example.org' WHERE arxiv_id = :a"), {"a": PAPER}
        )
        s.connection().execute(
            update(Paper.__table__).where(Paper.__table__.c.arxiv_id == PAPER).values(ai_summary="shorter")
        )
    assert moved.by == 1
    with loaded.session() as s:
        assert s.scalar(select(Paper.github_stars).where(Paper.arxiv_id == PAPER)) == 12345


def test_reads_rollbacks_and_writes_no_page_shows_leave_the_version_alone(loaded):
    with Moves(loaded) as moved:
        with loaded.transaction() as s:
            s.scalars(select(Paper)).all()
        with pytest.raises(RuntimeError), loaded.transaction() as s:
            s.execute(update(Paper).values(github_stars=1))
            raise RuntimeError("rolled back")
        with loaded.transaction() as s:
            s.add(Schedule(name="nightly", next_run_at=utcnow()))
    assert moved.by == 0
    with loaded.session() as s:  # the rolled-back write is gone, and it was not counted
        assert s.scalar(select(Paper.github_stars).where(Paper.arxiv_id == PAPER)) != 1


def test_a_core_write_connection_raises_the_version_only_for_what_readers_see(loaded):
    user = make_user(loaded, "ada")
    started = sessions.start(loaded, user.id, days=1)
    with Moves(loaded) as moved:
        with loaded.write_connection() as connection:
            connection.execute(
                update(UserSession)
                .where(UserSession.id == started.session_id)
                .values(last_seen_at=utcnow() + timedelta(minutes=1))
            )
    assert moved.by == 0
    with Moves(loaded) as moved:
        with loaded.write_connection() as connection:
            connection.execute(update(Paper).where(Paper.arxiv_id == PAPER).values(github_stars=7))
            connection.execute(update(Paper).where(Paper.arxiv_id == OTHER_PAPER).values(github_stars=8))
    assert moved.by == 1


# --- each kind of write ------------------------------------------------------------------------------


def test_an_import_raises_the_version_once_per_batch_that_changed_something(db):
    records = [PaperRecord(arxiv_id=f"2501.0010{i}", title=f"Paper {i}") for i in range(5)]
    with Moves(db) as moved:
        Importer(db, batch_size=2).run(records)
    assert moved.by == 3  # three transactions: 2 + 2 + 1 papers
    with Moves(db) as moved:
        Importer(db, batch_size=2).run(records)
    assert moved.by == 0  # nothing changed, nothing written


def test_votes_comments_and_moderation_raise_the_version_once_each(loaded):
    ada = make_user(loaded, "ada")
    mod = make_user(loaded, "mod", role="moderator")
    with Moves(loaded) as moved:
        actions.set_vote(loaded, ada, PAPER, True)
    assert moved.by == 1
    with Moves(loaded) as moved:
        actions.set_vote(loaded, ada, PAPER, False)
    assert moved.by == 1
    with Moves(loaded) as moved:
        comment = actions.add_comment(loaded, ada, PAPER, "A clear paper.")
    assert moved.by == 1
    with Moves(loaded) as moved:
        actions.edit_comment(loaded, ada, comment.id, "A very clear paper.")
    assert moved.by == 1
    with Moves(loaded) as moved:
        actions.hide_comment(loaded, mod, comment.id)
    assert moved.by == 1
    with Moves(loaded) as moved:
        actions.hide_comment(loaded, mod, comment.id)  # already hidden: nothing written
        actions.edit_comment(loaded, ada, comment.id, "A very clear paper.")  # the same text
    assert moved.by == 0
    with Moves(loaded) as moved:
        actions.delete_comment(loaded, mod, comment.id)
    assert moved.by == 1
    with loaded.session() as s:
        assert s.get(Comment, comment.id) is None


def test_a_submission_raises_the_version_once(db, settings):
    now = utcnow()
    Importer(db).run(
        [PaperRecord(arxiv_id="2501.00200", title="Fresh", published_at=now - timedelta(days=1))]
    )
    ada = make_user(db, "ada")

    def no_fetch(arxiv_id: str) -> PaperRecord | None:
        raise AssertionError(f"{arxiv_id} is stored: nothing to fetch")

    with Moves(db) as moved:
        entry = actions.submit_paper(db, settings, ada, "2501.00200", no_fetch, now=now)
    assert moved.by == 1 and entry.submitted_by_id == ada.id


def test_account_changes_raise_the_version_only_when_pages_show_them(loaded, settings):
    ada = make_user(loaded, "ada")
    actions.add_comment(loaded, ada, PAPER, "Signed with my name.")
    with Moves(loaded) as moved:
        accounts.authenticate(loaded, settings, "ada", PASSWORD)  # login: a stamp and throttle rows
        sessions.start(loaded, ada.id, days=1)
    assert moved.by == 0
    with Moves(loaded) as moved:
        accounts.update_profile(loaded, ada.id, display_name="Ada L.")  # shown beside the comment
    assert moved.by == 1
    with Moves(loaded) as moved:
        accounts.delete_account(loaded, ada.id, PASSWORD)
    assert moved.by == 1


def test_rate_counters_and_jobs_leave_the_version_alone(db):
    limiter = RateLimiter(db, parse_limits("vote=100/hour"))
    with Moves(db) as moved:
        for _ in range(3):
            limiter.hit("vote", "203.0.113.9")
        with db.transaction() as s:
            jobs.enqueue(s, "index")
        claimed = jobs.claim(db)
        assert claimed is not None
        jobs.complete(db, claimed.id, {"embedded": 0})
    assert moved.by == 0


def test_indexing_raises_the_version_once_per_committed_batch(db):
    Importer(db).run(CORPUS[:3])
    backend = get_backend("hashing")
    with Moves(db) as moved:
        assert embed_missing(db, backend, batch_size=1).embedded == 3
    assert moved.by == 3
    with Moves(db) as moved:
        assert embed_missing(db, backend).embedded == 0  # every vector current: nothing written
    assert moved.by == 0
    with db.transaction() as s:  # a changed abstract is embedded again, in one batch with a new paper
        s.execute(update(Paper).where(Paper.arxiv_id == CORPUS[0].paper.arxiv_id).values(abstract="New."))
        s.execute(
            insert(Paper).values(
                arxiv_id="2501.00300", title="Another", first_seen_at=utcnow(), modified_at=utcnow()
            )
        )
    with Moves(db) as moved:
        assert embed_missing(db, backend).embedded == 2
    assert moved.by == 1


# --- the response cache --------------------------------------------------------------------------------


def test_a_cached_search_answer_is_renewed_right_after_indexing(settings, db):
    Importer(db).run(CORPUS)
    cached = settings.model_copy(
        update={
            "embedding_backend": "hashing",
            "response_cache": True,
            "cache_check_interval": 0.0,
            "cache_max_age": 3600.0,
        }
    )
    app = create_app(cached, database=db)
    url = "/api/papers/search?q=protein%20folding&mode=semantic"
    with TestClient(app) as client:
        before = client.get(url)
        assert before.status_code == 200 and before.json() == []  # nothing indexed yet
        assert client.get(url).headers["x-cache"] == "HIT"
        embed_missing(db, app.state.parts.application.search.backend)
        after = client.get(url)
        assert after.headers["x-cache"] == "MISS"
        assert after.json()[0]["paper"]["id"] == "2501.00002"
        assert client.get(url).headers["x-cache"] == "HIT"


def test_a_cached_listing_is_renewed_right_after_a_vote(settings, loaded):
    cached = settings.model_copy(
        update={
            "embedding_backend": "none",
            "response_cache": True,
            "cache_check_interval": 0.0,
            "cache_max_age": 3600.0,
        }
    )
    ada = make_user(loaded, "ada")
    with TestClient(create_app(cached, database=loaded)) as client:
        url = f"/api/papers/{PAPER}"
        before = client.get(url).json()
        assert client.get(url).headers["x-cache"] == "HIT"
        actions.set_vote(loaded, ada, PAPER, True)  # as another worker would: not through this app
        after = client.get(url)
        assert after.headers["x-cache"] == "MISS"
        assert after.json()["upvotes"] == before["upvotes"] + 1
