"""The work queue on a real database (both backends): outbox semantics, leases, retries, concurrent
workers, and `dailypapers worker` running the embedding an ingest queued."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from dailypapers.cli import app
from dailypapers.store.db import Database
from dailypapers.store.jobs import MAX_ATTEMPTS, claim, complete, enqueue, fail, run_jobs
from dailypapers.store.models import Job, PaperVector, utcnow
from tests.conftest import TEST_DATA


def test_enqueue_is_part_of_the_callers_transaction(db):
    with pytest.raises(RuntimeError), db.transaction() as s:
        enqueue(s, "index", {"backend": "hashing"})
        raise RuntimeError("the change that needed the job failed")
    assert claim(db) is None
    with db.transaction() as s:
        enqueue(s, "index", {"backend": "hashing"})
    job = claim(db, worker="w1")
    assert (
        job is not None
        and job.kind == "index"
        and job.payload == {"backend": "hashing"}
        and job.attempts == 1
    )
    assert claim(db) is None  # leased


def test_a_key_queues_once_while_waiting(db):
    with db.transaction() as s:
        first = enqueue(s, "index", key="index:hashing")
        assert enqueue(s, "index", key="index:hashing") is None
    assert first is not None
    claimed = claim(db)
    with db.transaction() as s:  # running: a new one may wait behind it
        assert enqueue(s, "index", key="index:hashing") is not None
    complete(db, claimed.id, {"embedded": 3})
    with db.session() as s:
        statuses = sorted(s.scalars(select(Job.status)))
        assert statuses == ["done", "queued"]
        assert s.scalar(select(Job.result).where(Job.id == claimed.id)) == {"embedded": 3}


def test_oldest_first_and_a_lapsed_lease_is_claimed_again(db):
    with db.transaction() as s:
        ids = [enqueue(s, "k", {"n": n}).id for n in range(3)]
    assert claim(db).id == ids[0]
    assert claim(db).id == ids[1]
    later = utcnow() + timedelta(hours=1)
    again = claim(db, now=later)  # the first lease ran out (30 minutes)
    assert again.id == ids[0] and again.attempts == 2
    assert claim(db, kinds=("other",)) is None


def test_failures_back_off_then_fail_for_good(db):
    with db.transaction() as s:
        job_id = enqueue(s, "k").id
    now = utcnow()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        job = claim(db, now=now + timedelta(days=attempt))
        assert job.id == job_id and job.attempts == attempt
        status = fail(db, job_id, "boom", attempts=job.attempts, now=now + timedelta(days=attempt))
        assert status == ("failed" if attempt == MAX_ATTEMPTS else "queued")
        assert claim(db, now=now + timedelta(days=attempt)) is None  # backing off
    with db.session() as s:
        row = s.get(Job, job_id)
        assert row.status == "failed" and row.last_error == "boom" and row.finished_at is not None


def test_run_jobs_survives_a_bad_job(db):
    with db.transaction() as s:
        for n in (1, 2, 3):
            enqueue(s, "square", {"n": n})
        enqueue(s, "square", {"n": "x"})
    seen = []

    def square(_db, payload):
        seen.append(payload["n"])
        return {"square": payload["n"] ** 2}

    summary = run_jobs(db, {"square": square}, once=True)
    assert (summary.done, summary.retried, summary.failed) == (3, 1, 0)
    assert seen == [1, 2, 3, "x"]
    with db.session() as s:
        results = sorted(r["square"] for r in s.scalars(select(Job.result).where(Job.status == "done")))
        assert results == [1, 4, 9]
        assert "TypeError" in s.scalar(select(Job.last_error).where(Job.status == "queued"))


def test_concurrent_workers_never_share_a_job(db):
    with db.transaction() as s:
        for n in range(60):
            enqueue(s, "k", {"n": n})
    taken: dict[str, list[int]] = {}
    workers = [Database(db.url.render_as_string(hide_password=False)) for _ in range(3)]

    def work(name: str, database: Database) -> None:
        mine = taken.setdefault(name, [])
        while (job := claim(database, worker=name)) is not None:
            mine.append(job.id)
            complete(database, job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}", d)) for i, d in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for d in workers:
        d.dispose()
    every = [i for ids in taken.values() for i in ids]
    assert len(every) == 60 and len(set(every)) == 60
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.status == "done")) == 60


def test_postgres_claims_skip_locked_rows_instead_of_waiting(postgres):
    """A worker holding job 1 (its claim transaction still open) does not block another: it gets job 2."""
    url = postgres.new_database()
    db = Database(url)
    try:
        with db.transaction() as s:
            first, second = enqueue(s, "k").id, enqueue(s, "k").id
        with db.engine.connect() as holder:
            holder.execute(text("BEGIN"))
            holder.execute(text("SELECT id FROM jobs WHERE id = :i FOR UPDATE"), {"i": first})
            got: list = []
            claimer = threading.Thread(target=lambda: got.append(claim(db)), daemon=True)
            claimer.start()
            claimer.join(10)
            assert not claimer.is_alive(), "the claim waited on the locked row"
            assert got[0] is not None and got[0].id == second
            holder.execute(text("ROLLBACK"))
    finally:
        db.dispose()
        postgres.drop_database(url)


def test_ingest_queues_the_embedding_and_the_worker_runs_it(database_env, monkeypatch):
    monkeypatch.setenv("DAILYPAPERS_EMBEDDING_BACKEND", "hashing")
    monkeypatch.setenv("DAILYPAPERS_INDEX_IN_WORKER", "true")
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "hf-daily", str(TEST_DATA / "hf_daily")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "queued for `dailypapers worker`" in result.output
    again = runner.invoke(app, ["ingest", "hf-daily", str(TEST_DATA / "hf_daily")], catch_exceptions=False)
    assert "already queued" in again.output
    from dailypapers.config import Settings

    db = Database.from_settings(Settings(_env_file=None))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PaperVector)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 1
    result = runner.invoke(app, ["worker", "--once", "--no-schedule"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 done, 0 to retry, 0 failed" in result.output
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PaperVector)) == 12
        assert s.scalar(select(Job.result)) == {
            "backend": "hashing-64",
            "embedded": 12,
            "considered": 12,
            "skipped": 0,
            "described": 12,
            "vocabulary": 0,
        }
    db.dispose()
