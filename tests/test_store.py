"""Schema, migrations and SQLite settings."""

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from dailypapers.store.db import Database, include_name
from dailypapers.store.models import Base, DailyEntry, Paper


@pytest.mark.filterwarnings("ignore:Did not recognize type 'vector'")  # pgvector's column, made by raw SQL
def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name}),
            Base.metadata,
        )
    assert diff == []
    assert db.current_revision() is not None


def test_downgrade_to_base_and_back(db):
    from alembic import command

    from dailypapers.store.db import alembic_config

    with db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert "papers" not in db.table_names()
    db.migrate()
    assert {
        "papers",
        "daily_entries",
        "organizations",
        "ingest_checkpoints",
        "paper_vectors",
    } <= set(db.table_names())
    with db.engine.connect() as conn:
        if db.is_sqlite:
            assert "papers_fts" in db.table_names()
        else:  # the weighted tsvector with its trigger and GIN index, and pgvector's column
            columns = {c["name"] for c in inspect(conn).get_columns("papers")}
            assert "search_tsv" in columns
            assert "ix_papers_search_tsv" in {i["name"] for i in inspect(conn).get_indexes("papers")}
            assert (
                conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")).scalar() == 1
            )


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_with_foreign_keys_and_busy_timeout(db):
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_transaction_commits_or_rolls_back_as_a_whole(db):
    with pytest.raises(RuntimeError), db.transaction() as s:
        s.add(Paper(arxiv_id="2501.00001", title="x"))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:
        assert s.query(Paper).count() == 0
    with db.transaction() as s:
        s.add(Paper(arxiv_id="2501.00001", title="x"))
    with db.session() as s:
        assert s.query(Paper).count() == 1


def test_foreign_keys_and_unique_day_are_enforced(db):
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(DailyEntry(paper_id=12345, day=datetime(2025, 1, 1).date()))
    with db.transaction() as s:
        p = Paper(arxiv_id="2501.00001", title="x")
        s.add(p)
        s.flush()
        s.add(DailyEntry(paper_id=p.id, day=datetime(2025, 1, 1).date()))
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(DailyEntry(paper_id=p.id, day=datetime(2025, 1, 1).date()))


def test_datetimes_are_stored_in_utc_and_come_back_aware(db):
    plus_two = datetime(2025, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with db.transaction() as s:
        s.add(Paper(arxiv_id="2501.00001", title="x", published_at=plus_two))
    with db.session() as s:
        got = s.query(Paper).one().published_at
    assert got == plus_two and got.tzinfo == timezone.utc and got.hour == 10
    with pytest.raises(Exception, match="naive"), db.transaction() as s:
        s.add(Paper(arxiv_id="2501.00002", title="x", published_at=datetime(2025, 1, 1)))


@pytest.mark.sqlite_only
def test_default_database_is_a_sqlite_file_under_data_dir(settings):
    assert settings.resolved_database_url == f"sqlite:///{(settings.data_dir / 'dailypapers.db').as_posix()}"
    db = Database.from_settings(settings)
    db.migrate()
    assert (settings.data_dir / "dailypapers.db").exists()
    db.dispose()


def test_production_refuses_a_placeholder_secret():
    from dailypapers.config import Settings

    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production", secret_key="dev-insecure-secret-key", _env_file=None)
    assert Settings(environment="production", secret_key="x" * 40, _env_file=None).environment == "production"


def test_the_categories_index_follows_imports_and_deletes(db):
    """``paper_categories`` (migration 0021): written by the importer with each paper, replaced when a
    newer version brings other categories, gone with the paper, rebuilt whole by ``rebuild``."""
    from datetime import UTC, date, datetime

    from sqlalchemy import delete, text

    from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
    from dailypapers.search.fulltext import newest_in_category
    from dailypapers.store import categories
    from dailypapers.store.importer import Importer
    from dailypapers.store.models import Paper

    def record(arxiv_id: str, cats: list, version: int = 1) -> DailyEntryRecord:
        paper = PaperRecord(
            arxiv_id=arxiv_id,
            title=f"Paper {arxiv_id}",
            categories=cats,
            version=version,
            published_at=datetime(2026, 1, 5, tzinfo=UTC),
        )
        return DailyEntryRecord(paper=paper, day=date(2026, 1, 6))

    Importer(db).run(
        [record("2601.00001", ["cs.CL", "cs.LG"]), record("2601.00002", ["math-ph", 7, "x" * 90])]
    )

    def rows() -> set[tuple[str, str]]:
        with db.session() as session:
            found = session.execute(
                text(
                    "SELECT c.category, p.arxiv_id FROM paper_categories c JOIN papers p ON p.id = c.paper_id"
                )
            )
            return {(category, arxiv_id) for category, arxiv_id in found}

    first = {
        ("cs", "2601.00001"),
        ("cs.cl", "2601.00001"),
        ("cs.lg", "2601.00001"),
        ("math-ph", "2601.00002"),
    }
    assert rows() == first
    Importer(db).run([record("2601.00001", ["q-bio.NC"], version=2)])
    assert rows() == {("q-bio", "2601.00001"), ("q-bio.nc", "2601.00001"), ("math-ph", "2601.00002")}
    with db.session() as session:
        one = session.scalar(text("SELECT id FROM papers WHERE arxiv_id = '2601.00001'"))
        assert newest_in_category(session, "Q-BIO") == [one]
        assert newest_in_category(session, "cs") == []
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM paper_categories"))
        assert categories.rebuild(connection) == 2
    assert rows() == {("q-bio", "2601.00001"), ("q-bio.nc", "2601.00001"), ("math-ph", "2601.00002")}
    with db.transaction() as session:
        session.execute(delete(Paper).where(Paper.arxiv_id == "2601.00001"))
    assert rows() == {("math-ph", "2601.00002")}
