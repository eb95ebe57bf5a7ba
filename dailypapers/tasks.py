"""What ``dailypapers worker`` can do: one handler per job kind (see :mod:`dailypapers.store.jobs`), and
the periodic schedule that queues some of them.

- ``index``: embed every paper lacking a current vector (``{"backend": "minilm"}``), queued after an
  ingest when ``DAILYPAPERS_INDEX_IN_WORKER`` is on, and periodically.
- ``sync``: import the daily papers of yesterday and today from ``DAILYPAPERS_SYNC_URL``.
- ``digest``: compose the due digest editions into the outbox and send it.
- ``fulltext``: fetch the full text of the newest listed papers without one from arXiv's HTML
  (``DAILYPAPERS_FULLTEXT_BATCH`` per run; add ``fulltext=1h`` to the schedule to run it).

Periods come from ``DAILYPAPERS_WORKER_SCHEDULE`` (``sync=1h,index=10m,digest=5m``). When each task is
next due is kept in the database (``schedules``): a worker that restarts does not run a period twice or
skip one, and several workers queue each period once (the row is taken with ``FOR UPDATE SKIP LOCKED``;
SQLite admits one writer at a time).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from dailypapers.application import SYNC_DAYS, Application
from dailypapers.store.db import Database, upsert
from dailypapers.store.jobs import Handler, enqueue
from dailypapers.store.models import Schedule, utcnow

_PERIOD = re.compile(r"^\s*([a-z_]+)\s*=\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def index_job(app: Application, payload: dict[str, Any]) -> dict[str, Any]:
    """Embed every paper lacking a current vector under ``payload["backend"]`` (default: the setting), and
    describe their words (:meth:`Application.index`)."""
    name = str(payload.get("backend") or app.settings.embedding_backend)
    summary = app.index(name, batch_size=int(payload.get("batch_size", 64)))
    return {"backend": app.embedding_backend(name).name, **summary.as_dict()}


def sync_job(app: Application, payload: dict[str, Any]) -> dict[str, Any]:
    """Import the daily papers of the last days from ``sync_url`` (:meth:`Application.sync`); a source that
    fails part-way raises, so the job is retried and resumes from its checkpoint."""
    summary = app.sync(days=int(payload.get("days", SYNC_DAYS)))
    if summary is None:
        return {"skipped": "no sync_url"}
    return summary.as_dict()


def fulltext_job(app: Application, payload: dict[str, Any]) -> dict[str, Any]:
    """Fetch the full text of up to ``fulltext_batch`` listed papers from arXiv's HTML
    (:meth:`Application.fetch_full_texts`)."""
    summary = app.fetch_full_texts(int(payload.get("limit", app.settings.fulltext_batch)))
    return {**summary.as_dict(), "failures": summary.failures[:20]}


def digest_job(app: Application, payload: dict[str, Any]) -> dict[str, Any]:
    """Compose the due digest editions and send the outbox."""
    return app.send_digests()


JOBS: dict[str, Callable[[Application, dict[str, Any]], dict[str, Any]]] = {
    "index": index_job,
    "sync": sync_job,
    "digest": digest_job,
    "fulltext": fulltext_job,
}


def handlers(app: Application) -> dict[str, Handler]:
    """The job handlers of one worker, each calling ``app`` (built once, so the embedding model and the
    settings are loaded once per worker, not per job)."""
    return {kind: partial(_run, job, app) for kind, job in JOBS.items()}


def _run(
    job: Callable[[Application, dict[str, Any]], dict[str, Any]],
    app: Application,
    db: Database,
    payload: dict[str, Any],
) -> dict[str, Any]:
    return job(app, payload)


def parse_schedule(spec: str) -> dict[str, timedelta]:
    """``"sync=1h,index=10m,digest=5m"`` as periods; a bad spec or an unknown task is a ValueError."""
    periods: dict[str, timedelta] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        match = _PERIOD.match(part)
        if not match:
            raise ValueError(f"bad schedule entry {part!r}: write task=N with s, m or h, e.g. digest=5m")
        name, number, unit = match.groups()
        if name not in JOBS:
            raise ValueError(f"unknown periodic task {name!r} (known: {', '.join(JOBS)})")
        seconds = float(number) * UNITS[unit]
        if seconds < 10:
            raise ValueError(f"{name}: at least 10 seconds between runs")
        periods[name] = timedelta(seconds=seconds)
    return periods


def queue_due(db: Database, periods: dict[str, timedelta], now: datetime | None = None) -> list[str]:
    """Queue a job for every periodic task that is due; returns their names."""
    now = now or utcnow()
    if not periods:
        return []
    queued = []
    with db.transaction() as session:
        session.execute(
            upsert(Schedule, db.is_postgres).on_conflict_do_nothing(index_elements=["name"]),
            [{"name": name, "next_run_at": now} for name in periods],
        )
        rows = session.scalars(
            select(Schedule)
            .where(Schedule.name.in_(list(periods)), Schedule.next_run_at <= now)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            if enqueue(session, row.name, {}, key=f"periodic:{row.name}") is not None:
                queued.append(row.name)  # (else the previous period's job is still waiting)
            row.last_run_at = now
            row.next_run_at = now + periods[row.name]
    return queued
