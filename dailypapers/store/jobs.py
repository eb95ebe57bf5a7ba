"""The work queue: jobs in the database, claimed by any number of worker processes on any machines.

:func:`enqueue` adds a job inside the caller's transaction (so a job exists exactly when the change
that needs it is committed — an outbox). :func:`claim` takes the oldest due job as a lease: on
PostgreSQL with ``SELECT … FOR UPDATE SKIP LOCKED``, so concurrent workers never take the same job and
never wait on each other; on SQLite the write transaction (``BEGIN IMMEDIATE``) already admits one
claimer at a time. A worker that dies leaves a lease that runs out, and the job is claimed again.
:func:`run_jobs` is the loop behind ``dailypapers worker``; handlers are plain functions by kind.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from dailypapers.store.db import Database
from dailypapers.store.models import Job, utcnow

LEASE = timedelta(minutes=30)
MAX_ATTEMPTS = 5
Handler = Callable[[Database, dict[str, Any]], dict[str, Any] | None]


def worker_name() -> str:
    """This process's name on the jobs it claims: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue(
    session: Session,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    run_after: datetime | None = None,
) -> Job | None:
    """Queue a job in the caller's transaction. With ``key``, nothing is queued while a job with that
    key is still waiting (returns ``None``): "index new papers" queued by ten imports runs once."""
    if key is not None:
        waiting = session.scalar(select(Job.id).where(Job.key == key, Job.status == "queued").limit(1))
        if waiting is not None:
            return None
    job = Job(
        kind=kind,
        payload=dict(payload or {}),
        key=key,
        status="queued",
        attempts=0,
        run_after=run_after or utcnow(),
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


@dataclass
class Claimed:
    """A job taken by a worker: its id, kind, payload and which try this is."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def claim(
    db: Database,
    *,
    worker: str | None = None,
    kinds: tuple[str, ...] = (),
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> Claimed | None:
    """Take the oldest due job (queued and due, or running with its lease run out) for ``lease``."""
    now = now or utcnow()
    due = or_(
        and_(Job.status == "queued", Job.run_after <= now),
        and_(Job.status == "running", Job.locked_until < now),
    )
    query = select(Job).where(due)
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    query = query.order_by(Job.run_after, Job.id).limit(1).with_for_update(skip_locked=True)
    with db.transaction() as session:
        job = session.scalars(query).first()
        if job is None:
            return None
        job.status = "running"
        job.attempts += 1
        job.locked_by = worker or worker_name()
        job.locked_until = now + lease
        return Claimed(job.id, job.kind, dict(job.payload or {}), job.attempts)


def complete(db: Database, job_id: int, result: Mapping[str, Any] | None = None) -> None:
    """Mark job ``job_id`` done with ``result``, in a transaction of its own."""
    with db.transaction() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status="done", finished_at=utcnow(), locked_until=None, result=dict(result or {}))
        )


def fail(
    db: Database,
    job_id: int,
    error: str,
    *,
    attempts: int,
    max_attempts: int = MAX_ATTEMPTS,
    now: datetime | None = None,
) -> str:
    """Record a failure: queued again after a backoff (1, 4, 16… minutes), or ``failed`` for good after
    ``max_attempts``. Returns the new status."""
    now = now or utcnow()
    status = "failed" if attempts >= max_attempts else "queued"
    values: dict[str, Any] = {"status": status, "last_error": error[-4000:], "locked_until": None}
    if status == "queued":
        values["run_after"] = now + timedelta(minutes=4 ** (attempts - 1))
    else:
        values["finished_at"] = now
    with db.transaction() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))
    return status


@dataclass
class WorkerSummary:
    """Counts of one :func:`run_jobs` loop: jobs done, failed for good, queued again; done by kind."""

    done: int = 0
    failed: int = 0
    retried: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def run_jobs(
    db: Database,
    handlers: Mapping[str, Handler],
    *,
    once: bool = False,
    max_jobs: int | None = None,
    idle_sleep: float = 2.0,
    stop: Callable[[], bool] = lambda: False,
    on_job: Callable[[Claimed, str], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> WorkerSummary:
    """Claim and run jobs of the kinds in ``handlers`` until ``stop()``; with ``once``, until none is
    due; at most ``max_jobs``. A handler's exception fails that job (retried later), never the loop.
    ``tick()`` runs before each look at the queue (the periodic schedule queues its jobs there)."""
    summary = WorkerSummary()
    worker = worker_name()
    while not stop() and (max_jobs is None or summary.done + summary.failed + summary.retried < max_jobs):
        if tick is not None:
            tick()
        job = claim(db, worker=worker, kinds=tuple(handlers))
        if job is None:
            if once:
                break
            time.sleep(idle_sleep)
            continue
        try:
            result = handlers[job.kind](db, job.payload)
        except Exception as exc:  # noqa: BLE001 - one bad job never stops the worker
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            status = fail(db, job.id, f"{error}\n{traceback.format_exc(limit=5)}", attempts=job.attempts)
            if status == "failed":
                summary.failed += 1
            else:
                summary.retried += 1
            if on_job:
                on_job(job, f"{status}: {error}")
            continue
        complete(db, job.id, result)
        summary.done += 1
        summary.by_kind[job.kind] = summary.by_kind.get(job.kind, 0) + 1
        if on_job:
            on_job(job, "done")
    return summary
