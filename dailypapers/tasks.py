"""What ``dailypapers worker`` can do: one handler per job kind (see :mod:`dailypapers.store.jobs`), and
the periodic schedule that queues some of them.

- ``index``: embed every paper lacking a current vector (``{"backend": "minilm"}``), queued after an
  ingest when ``DAILYPAPERS_INDEX_IN_WORKER`` is on, and periodically.
- ``sync``: import the daily papers of yesterday and today from ``DAILYPAPERS_SYNC_URL``.
- ``digest``: compose the due digest editions into the outbox and send it.

Periods come from ``DAILYPAPERS_WORKER_SCHEDULE`` (``sync=1h,index=10m,digest=5m``). When each task is
next due is kept in the database (``schedules``): a worker that restarts does not run a period twice or
skip one, and several workers queue each period once (the row is taken with ``FOR UPDATE SKIP LOCKED``;
SQLite admits one writer at a time).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from dailypapers.store.db import Database, upsert
from dailypapers.store.jobs import Handler, enqueue
from dailypapers.store.models import Schedule, utcnow

_PERIOD = re.compile(r"^\s*([a-z_]+)\s*=\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def index_job(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    from dailypapers.search.embed import get_backend
    from dailypapers.search.semantic import embed_missing

    backend = get_backend(str(payload.get("backend") or _settings().embedding_backend))
    summary = embed_missing(db, backend, batch_size=int(payload.get("batch_size", 64)))
    return {
        "backend": backend.name,
        "embedded": summary.embedded,
        "considered": summary.considered,
        "skipped": summary.skipped,
    }


def _settings() -> Any:
    from dailypapers.config import Settings

    return Settings()


def sync_job(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    from dailypapers.ingest import hf_daily
    from dailypapers.ingest.http import client_from_settings
    from dailypapers.periods import today
    from dailypapers.store.importer import Importer

    settings = _settings()
    if not settings.sync_url:
        return {"skipped": "no sync_url"}
    last = today()
    first = last - timedelta(days=int(payload.get("days", 2)) - 1)
    with client_from_settings(settings, min_interval=1.0) as client:
        summary = Importer(db).run(hf_daily.harvest_api(client, settings.sync_url, first, last))
    return summary.as_dict()


def digest_job(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    from dailypapers.config import resolve_secret_key
    from dailypapers.digest.run import run_digests

    return run_digests(db, resolve_secret_key(_settings()))  # its mails carry signed links


HANDLERS: dict[str, Handler] = {"index": index_job, "sync": sync_job, "digest": digest_job}


def index_job_key(backend: str) -> str:
    return f"index:{backend}"


def parse_schedule(spec: str) -> dict[str, timedelta]:
    """``"sync=1h,index=10m,digest=5m"`` as periods; a bad spec or an unknown task is a ValueError."""
    periods: dict[str, timedelta] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        match = _PERIOD.match(part)
        if not match:
            raise ValueError(f"bad schedule entry {part!r}: write task=N with s, m or h, e.g. digest=5m")
        name, number, unit = match.groups()
        if name not in HANDLERS:
            raise ValueError(f"unknown periodic task {name!r} (known: {', '.join(HANDLERS)})")
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
