"""`dailypapers db copy`: a whole instance moved between real SQLite and PostgreSQL databases, every way,
verified by counts and checksums, and still searchable and writable afterwards."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from dailypapers.cli import app
from dailypapers.ingest import hf_daily, hf_papers
from dailypapers.ingest.records import PaperRecord
from dailypapers.search.embed import HashingBackend
from dailypapers.search.hybrid import SearchEngine
from dailypapers.recommend.terms import update_terms
from dailypapers.search.semantic import embed_missing, vector_index_name
from dailypapers.store.copy import CopyError, checksums, copy_database
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import Base, DailyEntry, IngestCheckpoint, Job, Organization, Paper, PaperVector
from dailypapers.store.state import bump_version, current_version
from tests.conftest import TEST_DATA

pytestmark = pytest.mark.both_backends  # SQLite files are the copy's source or target on either run

BACKEND = HashingBackend(dim=64)
TABLES = [t.name for t in Base.metadata.sorted_tables]


def fill(db: Database) -> None:
    """The test papers, what was built on one, their vectors and term features, a checkpoint, a job and
    a raised data version."""
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    Importer(db).run(hf_papers.iter_file(TEST_DATA / "hf_papers" / "2405.21060.json"))
    embed_missing(db, BACKEND)
    update_terms(db)  # a lexicon and each paper's (here empty: too few papers) term features
    with db.transaction() as session:
        # vectors embedded at other moments: each row keeps its own time
        first = session.scalars(select(PaperVector).order_by(PaperVector.paper_id).limit(3)).all()
        for n, vector in enumerate(first):
            vector.embedded_at = datetime(2025, 1, 1, 12, 0, n, 123456, tzinfo=UTC)
        session.add(
            IngestCheckpoint(
                key="oai:cs:2026-06-01:2026-06-02",
                done=False,
                state={"token": "6960524|1001", "zürich": [1.5, None, True], "a": {"z": 1}},
            )
        )
        for key in ("B", "a", "_z", "Äb"):  # keys a locale collation would sort otherwise than bytes
            session.add(IngestCheckpoint(key=key, state={}, done=True))
        session.add(
            Job(
                kind="index",
                key="index",
                payload={"backend": BACKEND.name},
                run_after=datetime(2026, 7, 1, tzinfo=UTC) + timedelta(microseconds=7),
            )
        )
        bump_version(session)
        bump_version(session)


@pytest.fixture
def sqlite_source(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'source.db'}")
    db.migrate()
    fill(db)
    yield db
    db.dispose()


@pytest.fixture
def new_postgres(postgres):
    """Makes new, migrated PostgreSQL databases, dropped afterwards."""
    made: list[tuple[Database, str]] = []

    def make() -> Database:
        url = postgres.new_database()
        made.append((Database(url), url))
        return made[-1][0]

    yield make
    for db, url in made:
        db.dispose()
        postgres.drop_database(url)


@pytest.fixture
def other_database(db, tmp_path, new_postgres):
    """An empty database of the other backend than the run's (`db`)."""
    if db.backend == "postgresql":
        other = Database(f"sqlite:///{tmp_path / 'other.db'}")
        yield other
        other.dispose()
    else:
        yield new_postgres()


def ids(db: Database) -> list[tuple[int, str]]:
    with db.session() as session:
        return [tuple(r) for r in session.execute(select(Paper.id, Paper.arxiv_id).order_by(Paper.id))]


def category_rows(db: Database) -> set[tuple[str, str]]:
    with db.session() as session:
        found = session.execute(
            text("SELECT c.category, p.arxiv_id FROM paper_categories c JOIN papers p ON p.id = c.paper_id")
        )
        return {(category, arxiv_id) for category, arxiv_id in found}


def assert_searchable(db: Database) -> None:
    engine = SearchEngine(db, BACKEND)
    with db.session() as session:
        keyword = engine.search(session, "Kaleido", mode="keyword")
        assert [p.arxiv_id for p in keyword.papers.values()] == ["2405.21048"]
        semantic = engine.search(session, "Kaleido Diffusion conditional diffusion models", mode="semantic")
        assert semantic.hits and semantic.papers[semantic.hits[0].paper_id].arxiv_id == "2405.21048"


def test_sqlite_file_to_postgresql_is_lossless_searchable_and_writable(sqlite_source, new_postgres):
    target = new_postgres()
    steps: dict[str, int] = {}
    report = copy_database(
        sqlite_source,
        target,
        batch_size=5,
        on_progress=lambda step, n, total: steps.__setitem__(step, steps.get(step, 0) + n),
    )
    assert report.ok and report.differing == []
    assert [t.table for t in report.tables] == TABLES
    counts = {t.table: t.target_rows for t in report.tables}
    assert counts == {
        "organizations": 4,
        "papers": 12,
        "daily_entries": 12,
        "paper_vectors": 12,
        "lexicons": 1,
        "paper_terms": 12,
        "ingest_checkpoints": 5,
        "jobs": 1,
        "site_state": 1,
        "users": 0,
        "votes": 0,
        "comments": 0,
        "collections": 0,
        "collection_items": 0,
        "paper_marks": 0,
        "paper_versions": 0,
        "linked_repos": 4,
        "linked_repo_counts": 1,
        "paper_texts": 0,
        "follows": 0,
        "follow_feeds": 0,
        "rate_counters": 0,
        "user_interests": 0,
        "subscriptions": 0,
        "digest_deliveries": 0,
        "schedules": 0,
        "user_sessions": 0,
        "login_failures": 0,
    }
    assert steps["copy papers"] == 12 and steps["verify"] == report.rows == 65
    assert checksums(target) == checksums(sqlite_source)
    assert ids(target) == ids(sqlite_source)
    with sqlite_source.session() as session:
        version = current_version(session)
    with target.session() as session:
        # the two imports, the indexing, the vectors' new times and fill's two bumps
        assert current_version(session) == version == 6
        assert session.scalar(text("SELECT count(*) FROM paper_vectors WHERE embedding IS NOT NULL")) == 12
        assert session.scalar(text("SELECT count(*) FROM papers WHERE search_tsv IS NOT NULL")) == 12
        assert session.scalar(
            text("SELECT to_regclass(:n) IS NOT NULL"), {"n": vector_index_name(BACKEND.name)}
        )
    assert_searchable(target)

    # the sequences were moved past the copied ids: new rows get new ones
    with target.transaction() as session:
        org = Organization(name="new-lab")
        paper = Paper(arxiv_id="2607.00001", title="A paper written after the move", organization=org)
        session.add(DailyEntry(paper=paper, day=date(2026, 7, 1)))
        session.add(Job(kind="index"))
        session.flush()
        assert org.id == 5 and paper.id == 13 and paper.entries[0].id == 13
    with target.session() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 13


def test_postgresql_back_to_sqlite_round_trip(sqlite_source, new_postgres, tmp_path):
    middle = new_postgres()
    assert copy_database(sqlite_source, middle).ok
    back = Database(f"sqlite:///{tmp_path / 'back.db'}")
    try:
        report = copy_database(middle, back)
        assert report.ok
        assert checksums(back) == checksums(middle) == checksums(sqlite_source)
        assert_searchable(back)  # FTS5 filled by its triggers, vectors from the blobs
    finally:
        back.dispose()


def test_from_the_run_database_to_the_other_backend_and_back(db, other_database, new_postgres, tmp_path):
    fill(db)
    categorized = PaperRecord(arxiv_id="2606.00777", title="Categorized", categories=["cs.CL", "stat.ML"])
    Importer(db).run([categorized])
    assert copy_database(db, other_database, batch_size=7).ok
    assert checksums(other_database) == checksums(db)
    assert_searchable(other_database)
    assert category_rows(other_database) == category_rows(db) != set()  # the derived index, made again
    # and to a database of the run's own backend
    same = new_postgres() if db.backend == "postgresql" else Database(f"sqlite:///{tmp_path / 'same.db'}")
    try:
        assert copy_database(other_database, same).ok
        assert checksums(same) == checksums(db)
    finally:
        same.dispose()


def test_checksums_see_a_changed_value_but_not_json_key_order(sqlite_source, tmp_path):
    copy = Database(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        assert copy_database(sqlite_source, copy).ok
        with copy.transaction() as session:
            checkpoint = session.get(IngestCheckpoint, "oai:cs:2026-06-01:2026-06-02")
            checkpoint.state = dict(reversed(list(checkpoint.state.items())))
        assert checksums(copy) == checksums(sqlite_source)
        with copy.transaction() as session:
            session.execute(text("UPDATE daily_entries SET upvotes = upvotes + 1 WHERE id = 3"))
        changed = {name for name, sums in checksums(copy).items() if sums != checksums(sqlite_source)[name]}
        assert changed == {"daily_entries", "site_state"}  # the write raised the data version too
    finally:
        copy.dispose()


def test_a_copy_that_stops_says_so_and_exits_1(sqlite_source, new_postgres):
    with sqlite_source.transaction() as session:  # PostgreSQL text cannot hold NUL: the copy stops there
        session.execute(text("UPDATE papers SET comments = 'a' || char(0) || 'b' WHERE id = 12"))
    target = new_postgres()
    result = copy_cli(
        "--from",
        str(sqlite_source.url),
        "--to",
        target.url.render_as_string(hide_password=False),
        "--batch-size",
        "5",
    )
    assert result.exit_code == 1
    assert "error: copying papers failed" in result.stderr and "NUL" in result.stderr
    assert "holds part of the data" in result.stderr
    with target.session() as session:  # the batches before the failing one were committed
        assert session.scalar(select(func.count()).select_from(Paper)) == 10


def test_a_target_with_rows_is_refused_and_left_alone(sqlite_source, db):
    with db.transaction() as session:
        session.add(IngestCheckpoint(key="mine", state={"kept": True}))
    before = checksums(db)
    with pytest.raises(CopyError, match="not empty: table ingest_checkpoints has rows") as refused:
        copy_database(sqlite_source, db)
    assert not refused.value.partial
    assert checksums(db) == before


def test_copying_twice_into_the_same_target_is_refused(sqlite_source, new_postgres):
    target = new_postgres()
    assert copy_database(sqlite_source, target).ok
    with pytest.raises(CopyError, match="not empty: table"):
        copy_database(sqlite_source, target)


def test_a_source_behind_the_code_is_refused(tmp_path, db):
    old = Database(f"sqlite:///{tmp_path / 'old.db'}")
    old.migrate("0004")
    try:
        with pytest.raises(CopyError, match="revision 0004.*dailypapers db upgrade"):
            copy_database(old, db)
    finally:
        old.dispose()


def test_a_database_is_not_copied_onto_itself(sqlite_source, tmp_path):
    again = Database(f"sqlite:///{tmp_path / '.' / 'source.db'}")
    try:
        with pytest.raises(CopyError, match="same database"):
            copy_database(sqlite_source, again)
    finally:
        again.dispose()


# --- the command ------------------------------------------------------------------------------------


def copy_cli(*args: str):
    return CliRunner().invoke(app, ["db", "copy", *args])


def test_cli_copies_and_prints_the_summary(sqlite_source, new_postgres):
    target = new_postgres()
    url = target.url.render_as_string(hide_password=False)
    result = copy_cli("--from", str(sqlite_source.url), "--to", url)
    assert result.exit_code == 0, result.output
    assert "copy sqlite → postgresql" in result.stdout
    for name in TABLES:
        assert name in result.stdout
    assert result.stdout.count("match") == len(TABLES) and "differs" not in result.stdout
    assert "65 rows in 28 tables copied" in result.stdout
    assert "copy papers" in result.stderr  # the progress bars
    assert checksums(target) == checksums(sqlite_source)

    again = copy_cli("--from", str(sqlite_source.url), "--to", url)
    assert again.exit_code == 2
    assert "error: the target database is not empty" in again.stderr


def test_cli_json_summary(sqlite_source, tmp_path):
    result = copy_cli("--from", str(sqlite_source.url), "--to", f"sqlite:///{tmp_path / 'copy.db'}", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["rows"] == 65
    assert summary["tables"]["papers"]["source_rows"] == summary["tables"]["papers"]["target_rows"] == 12
    assert all(t["match"] for t in summary["tables"].values())
    assert list(summary["tables"]) == TABLES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to", "not a url"), "--to: not a database URL"),
        (("--to", "postgresql+psycopg://nobody@127.0.0.1:9/nothing"), "--to: cannot connect to"),
        (("--to", "mysql://nobody@localhost/nothing"), "only sqlite:/// and postgresql+psycopg://"),
    ],
)
def test_cli_bad_target_url_is_one_line_and_exit_2(sqlite_source, args, message):
    result = copy_cli("--from", str(sqlite_source.url), *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_missing_source_file_is_not_created(tmp_path):
    missing = tmp_path / "nothing" / "here.db"
    result = copy_cli("--from", f"sqlite:///{missing}", "--to", f"sqlite:///{tmp_path / 'copy.db'}")
    assert result.exit_code == 2 and f"no SQLite database at {missing}" in result.stderr
    assert not missing.parent.exists() and not (tmp_path / "copy.db").exists()
