"""A read replica (``DAILYPAPERS_DATABASE_REPLICA_URL``): GETs read from a real streaming replica, writes
and a writer's next pages use the primary, and a replica that is down or behind never costs an answer.

The PostgreSQL tests run a primary and its streaming replica of their own (tests/support/replica.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event
from typer.testing import CliRunner

from dailypapers.cli import app as cli_app
from dailypapers.config import Settings, resolve_secret_key
from dailypapers.store.db import Database
from dailypapers.store.replica import data_version
from dailypapers.store.state import current_version
from dailypapers.web.replica import LSN_COOKIE
from tests.support.community import PAPER, clients, community_settings, load_papers, make_user
from tests.support import settle
from tests.support.replica import StreamingPair

CATCH_UP_SECONDS = 30  # the longest a test waits for the replica to show what the primary has


@pytest.fixture(scope="session")
def pair() -> Iterator[StreamingPair]:
    """A PostgreSQL primary and its streaming replica, for the whole session."""
    servers = StreamingPair()
    try:
        yield servers.start()
    finally:
        servers.close()


@pytest.fixture
def replicated(pair: StreamingPair, tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    """Settings naming a new database on the primary and the replica, and that database, open, with the
    12 recorded papers and the account ``ada`` (already replayed by the replica)."""
    name = pair.new_database()
    base = Settings(
        data_dir=tmp_path / "data",
        load_demo=False,
        _env_file=None,
        database_url=pair.url("primary", name),
        database_replica_url=pair.url("replica", name),
        database_replica_wait=0.2,
    )
    settings = community_settings(resolve_secret_key(base))
    db = Database.from_settings(settings)
    load_papers(db)
    make_user(db, "ada")
    pair.wait_for_replay()
    try:
        yield settings, db
    finally:
        db.dispose()
        pair.drop_database(name)


@contextmanager
def touches(db: Database) -> Iterator[list[str]]:
    """The statements run, and the connections taken, on the replica's engine during the block."""
    assert db.replica is not None
    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    def checkout(*_args: Any) -> None:
        seen.append("(a connection taken from the pool)")

    event.listen(db.replica.engine, "before_cursor_execute", statement)
    event.listen(db.replica.engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(db.replica.engine, "before_cursor_execute", statement)
        event.remove(db.replica.engine, "checkout", checkout)


def eventually(check: Callable[[], bool]) -> bool:
    """Whether ``check`` holds within :data:`CATCH_UP_SECONDS` (asked again every 50 ms)."""
    return settle.eventually(check, within=CATCH_UP_SECONDS)


@pytest.mark.postgres_only
def test_anonymous_reads_come_from_the_replica_while_a_voter_sees_their_own_vote(pair, replicated):
    settings, db = replicated
    settings = settings.model_copy(update={"response_cache": False})  # every answer read anew
    with clients(settings, db) as made:
        anonymous = made.new()
        voter = made.session(make_user(db, "grace"))
        pair.wait_for_replay()
        before = anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"]
        with touches(db) as on_replica:
            assert anonymous.get(f"/api/papers/{PAPER}").status_code == 200
        assert any("papers" in sql for sql in on_replica)  # read on the replica

        with pair.replay_paused():
            with touches(db) as on_replica:
                voted = voter.put(f"/api/papers/{PAPER}/upvote")
            assert voted.status_code == 200, voted.text
            assert voted.json()["upvotes"] == before + 1
            assert on_replica == []  # a write request never touches the replica
            assert LSN_COOKIE in voted.cookies

            # the voter's next pages come from the primary: the replica cannot replay the vote now
            assert voter.get(f"/api/papers/{PAPER}").json()["upvotes"] == before + 1
            assert [p["id"] for p in voter.get("/api/me/upvotes").json()] == [PAPER]
            page = voter.get(f"/papers/{PAPER}")
            assert page.status_code == 200 and f'<strong class="votes-n">{before + 1}</strong>' in page.text
            # everyone else reads the replica, which has not applied the vote yet
            assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == before
            assert LSN_COOKIE in voter.client.cookies  # kept until the replica has the vote

        assert eventually(lambda: anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == before + 1)
        # once the replica has the vote, the voter reads from it again and the cookie goes
        with touches(db) as on_replica:
            assert voter.get(f"/api/papers/{PAPER}").json()["upvotes"] == before + 1
        assert on_replica != []
        assert LSN_COOKIE not in voter.client.cookies


@pytest.mark.postgres_only
def test_the_response_cache_follows_the_replica(pair, replicated):
    settings, db = replicated
    settings = settings.model_copy(update={"cache_check_interval": 0.0})
    with clients(settings, db) as made:
        anonymous = made.new()
        voter = made.session(make_user(db, "grace"))
        pair.wait_for_replay()
        before = anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"]
        with pair.replay_paused():
            assert voter.put(f"/api/papers/{PAPER}/upvote").status_code == 200
            assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == before
            # the data version is read on the replica too: what is stored is never older than its version
            with db.on_replica().session() as session:
                replica_version = current_version(session)
            with db.session() as session:
                assert current_version(session) == replica_version + 1
            assert data_version(db) == replica_version
        assert eventually(lambda: anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == before + 1)


@pytest.mark.postgres_only
def test_a_version_read_on_the_primary_keeps_an_older_replica_out(pair, replicated):
    settings, db = replicated
    replica = db.replica
    assert replica is not None
    with clients(settings.model_copy(update={"response_cache": False}), db) as made:
        anonymous = made.new()
        voter = made.session(make_user(db, "grace"))
        pair.wait_for_replay()
        before = anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"]
        with pair.replay_paused():
            assert voter.put(f"/api/papers/{PAPER}/upvote").status_code == 200
            with db.session() as session:
                newest = current_version(session)
            # the replica fails once: the version is read on the primary, past the paused replica
            now = [time.monotonic()]
            replica.clock = lambda: now[0]
            replica.mark_down("failed once")
            assert data_version(db) == newest
            now[0] += replica.retry_after  # then it is asked again
            assert replica.position() is not None  # it answers again, but it is behind that version
            with db.on_replica().session() as session:
                assert current_version(session) == newest  # so reads stay on the primary
            assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == before + 1
        pair.wait_for_replay()
        now[0] += 1  # its replay position is asked again
        with touches(db) as on_replica:
            assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == before + 1
        assert on_replica != []  # caught up: back on the replica


@pytest.mark.postgres_only
def test_a_replica_that_is_down_costs_no_answer(pair, replicated):
    settings, db = replicated
    with clients(settings, db) as made:
        anonymous = made.new()
        voter = made.session(make_user(db, "grace"))
        assert anonymous.get(f"/api/papers/{PAPER}").status_code == 200  # pooled replica connections
        up = anonymous.get("/readyz")
        assert up.status_code == 200, up.text
        assert up.json()["replica"]["status"] == "ok" and up.json()["replica"]["reachable"] is True
        assert up.json()["replica"]["lag_bytes"] >= 0

        with pair.replica_down():
            for path in (
                "/",
                f"/papers/{PAPER}",
                f"/api/papers/{PAPER}",
                "/api/daily_papers",
                "/feeds/daily.atom",
            ):
                assert anonymous.get(path).status_code == 200, path
            assert voter.put(f"/api/papers/{PAPER}/upvote").status_code == 200
            assert voter.get("/api/me/upvotes").status_code == 200
            ready = anonymous.get("/readyz")
            assert ready.status_code == 200, ready.text
            body = ready.json()
            assert body["status"] == "ready"
            assert body["replica"]["reachable"] is False and body["replica"]["reads"] == "primary"
            assert body["replica"]["status"].startswith("unreachable")

        back = anonymous.get("/readyz").json()["replica"]
        assert back["status"] == "ok" and back["reads"] == "replica"


# --- the setting ---------------------------------------------------------------------------------------


def test_a_replica_needs_a_postgresql_primary(tmp_path):
    with pytest.raises(ValidationError, match="needs a PostgreSQL primary, but DAILYPAPERS_DATABASE_URL is"):
        Settings(
            data_dir=tmp_path, _env_file=None, database_replica_url="postgresql+psycopg://replica/dailypapers"
        )


@pytest.mark.sqlite_only
def test_a_database_of_sqlite_refuses_a_replica(tmp_path):
    with pytest.raises(ValueError, match="needs a PostgreSQL primary"):
        Database(f"sqlite:///{tmp_path / 'x.db'}", replica_url="postgresql+psycopg://replica/dailypapers")
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("url", ["sqlite:///replica.db", "mysql://replica/dailypapers", "not a url"])
def test_a_replica_url_must_be_postgresql(tmp_path, url):
    with pytest.raises(ValidationError, match="DAILYPAPERS_DATABASE_REPLICA_URL"):
        Settings(
            data_dir=tmp_path,
            _env_file=None,
            database_url="postgresql+psycopg://primary/dailypapers",
            database_replica_url=url,
        )


def test_a_command_refuses_a_replica_of_sqlite_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAILYPAPERS_DATABASE_URL", raising=False)
    monkeypatch.setenv("DAILYPAPERS_DATABASE_REPLICA_URL", "postgresql+psycopg://replica/dailypapers")
    result = CliRunner().invoke(cli_app, ["db", "upgrade"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DAILYPAPERS_DATABASE_REPLICA_URL needs a PostgreSQL primary" in lines[0]
    assert not (tmp_path / "data" / "dailypapers.db").exists()
