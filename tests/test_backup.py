"""``db backup`` and ``db restore``: a consistent copy taken while votes and imports keep arriving,
restored into a fresh database and verified row by row (the checksums ``db copy`` computes)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dailypapers.application import Application
from dailypapers.cli import app as cli_app
from dailypapers.community.actions import set_vote
from dailypapers.ingest.records import PaperRecord
from dailypapers.store.backup import BackupError, backup, manifest_path, read_manifest, restore
from dailypapers.store.copy import checksums
from dailypapers.store.db import Database
from dailypapers.store.models import Paper, Vote
from tests.support.community import community_settings, load_papers, make_users
from tests.support.postgres import pg_tools


@pytest.fixture
def fresh_url(request, tmp_path):
    """A database without a schema, of the run's backend, to restore into."""
    if request.config.getoption("--db") != "postgresql":
        yield f"sqlite:///{(tmp_path / 'restored' / 'site.db').as_posix()}"
        return
    server = request.getfixturevalue("postgres")
    url = server.new_database(migrated=False)
    yield url
    server.drop_database(url)


@pytest.fixture
def tools(db):
    return pg_tools(db.url.render_as_string(hide_password=False)) if db.is_postgres else None


def _votes_match_counts(db: Database) -> None:
    """In one consistent moment every paper's community upvotes equal its vote rows."""
    with db.session() as session:
        counted = dict(session.execute(select(Vote.paper_id, func.count()).group_by(Vote.paper_id)).all())
        for paper_id, upvotes in session.execute(select(Paper.id, Paper.community_upvotes)):
            assert (upvotes or 0) == counted.get(paper_id, 0), paper_id


def test_a_backup_taken_under_writes_restores_into_a_fresh_database(db, settings, tmp_path, fresh_url, tools):
    load_papers(db)
    users = make_users(db, [f"reader{i}" for i in range(4)])
    with db.session() as session:
        ids = session.scalars(select(Paper.arxiv_id).order_by(Paper.id)).all()
    application = Application(community_settings(settings), database=db)
    written = {"votes": 0, "imports": 0}
    stop = threading.Event()
    errors: list[BaseException] = []

    def stream() -> None:  # bounded: stops when asked, or after 400 writes
        try:
            for n in range(400):
                if stop.is_set():
                    return
                if n % 3 == 0:
                    record = PaperRecord(arxiv_id=f"2601.{n:05d}", title=f"Streamed {n}", abstract="words")
                    application.ingest([record])
                    written["imports"] += 1
                else:
                    set_vote(db, users[n % 4], ids[n % len(ids)], voted=(n // 4) % 2 == 0)
                    written["votes"] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    writer = threading.Thread(target=stream)
    writer.start()
    while written["votes"] + written["imports"] < 20 and writer.is_alive():
        threading.Event().wait(0.01)
    target = tmp_path / "site.backup"
    report = backup(db, target, pg_bin_dir=tools)
    during = written["votes"] + written["imports"]
    stop.set()
    writer.join(timeout=60)
    assert not errors, errors
    assert during >= 20 and report.rows > 0
    manifest = read_manifest(target)
    assert manifest["revision"] == db.current_revision()
    assert manifest["tables"]["papers"]["rows"] == report.tables["papers"][0] >= 12

    fresh = Database(fresh_url)
    try:
        restored = restore(fresh, target, pg_bin_dir=tools)
        assert restored.verified and restored.differing == [] and restored.rows == report.rows
        found = checksums(fresh)
        assert {name: found[name] for name in report.tables} == report.tables
        _votes_match_counts(fresh)
        # the restored site works: its own application can read and write
        assert Application(community_settings(settings), database=fresh).search is not None
        set_vote(fresh, users[0], ids[0], voted=True)
    finally:
        fresh.dispose()


def test_restore_refuses_a_database_that_already_holds_a_site(db, tmp_path, tools):
    load_papers(db)
    target = tmp_path / "site.backup"
    backup(db, target, pg_bin_dir=tools)
    with pytest.raises(BackupError, match="already holds a dailypapers database"):
        restore(db, target, pg_bin_dir=tools)


def test_a_tampered_backup_is_caught_by_its_manifest(db, tmp_path, fresh_url, tools):
    load_papers(db)
    target = tmp_path / "site.backup"
    backup(db, target, pg_bin_dir=tools)
    manifest = json.loads(manifest_path(target).read_text())
    manifest["tables"]["papers"]["sha256"] = "0" * 64
    manifest_path(target).write_text(json.dumps(manifest))
    fresh = Database(fresh_url)
    try:
        with pytest.raises(BackupError, match="differ from the backup's manifest in papers"):
            restore(fresh, target, pg_bin_dir=tools)
    finally:
        fresh.dispose()


def test_the_commands_back_up_and_refuse_to_overwrite(database_env, db, tmp_path, monkeypatch, tools):
    load_papers(db)
    if tools is not None:
        monkeypatch.setenv("DAILYPAPERS_PG_BIN_DIR", str(tools))
    target = tmp_path / "nightly.backup"
    runner = CliRunner()
    first = runner.invoke(cli_app, ["db", "backup", str(target), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout[first.stdout.index("{") :])["rows"] > 0
    again = runner.invoke(cli_app, ["db", "backup", str(target)])
    assert again.exit_code == 1 and "exists: choose another name" in again.stderr
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a backup")
    wrong = runner.invoke(cli_app, ["db", "restore", str(garbage)])
    assert wrong.exit_code == 1 and "neither a SQLite database nor a pg_dump archive" in wrong.stderr


@pytest.mark.postgres_only
def test_a_missing_pg_dump_is_one_clear_line(db, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupError, match=r"no pg_dump in DAILYPAPERS_PG_BIN_DIR"):
        backup(db, tmp_path / "x.backup", pg_bin_dir=Path(tmp_path / "empty"))
    assert not (tmp_path / "x.backup").exists() and not (tmp_path / "x.backup.partial").exists()
