"""Prometheus metrics, shared by every process of one site (web workers, ``dailypapers worker``, imports).

With ``DAILYPAPERS_METRICS`` on (the default), :func:`configure` puts the Prometheus client in
multi-process mode: each process writes its counters and histograms to memory-mapped files in
``DAILYPAPERS_METRICS_DIR`` (default ``DATA_DIR/metrics``), and ``/metrics`` (:mod:`dailypapers.web.metrics`)
sums the files of all of them, so ``serve --workers N``, the worker and the import commands on the same
machine appear as one site. What the database knows for everyone (jobs and digest outbox by state) is read
at scrape time. Off, every function here does nothing.

The names (all prefixed ``dailypapers_``):

- ``http_requests_total`` (counter): requests by ``method``, ``route`` (the route template; ``unmatched``
  for none) and ``status``.
- ``http_request_duration_seconds`` (histogram): time to the end of the answer, by ``method`` and
  ``route``.
- ``response_cache_total`` (counter): cacheable answers by ``result``, ``hit`` or ``miss``.
- ``db_pool_connections`` (gauge): the web processes' database pools by ``state``, ``in_use`` or
  ``idle`` (summed over live processes).
- ``jobs`` (gauge): the work queue by ``status`` (queued, running, done, failed).
- ``jobs_finished_total`` (counter): jobs a worker finished, by ``kind`` and ``status`` (done, retry,
  failed).
- ``digest_outbox`` (gauge): digest mails by ``status``.
- ``ingest_records_total`` (counter): imported records by ``outcome`` (new, updated, unchanged,
  rejected, deleted, unsafe_links).
- ``embedded_papers_total`` and ``embedding_seconds_total`` (counters): papers embedded for semantic
  search and the seconds it took (throughput: the ratio of their rates).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dailypapers.config import Settings

PREFIX = "dailypapers_"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_metrics: dict[str, Any] = {}
_directory: list[Path] = []


def metrics_dir(settings: Settings) -> Path:
    """Where the processes of this site keep their metric files."""
    return Path(settings.metrics_dir) if settings.metrics_dir else settings.data_dir / "metrics"


def enabled() -> bool:
    """Whether :func:`configure` turned metrics on in this process."""
    return bool(_metrics)


def configure(settings: Settings) -> None:
    """Turn metrics on for this process when ``settings.metrics`` says so (idempotent per directory)."""
    if not settings.metrics:
        return
    directory = metrics_dir(settings)
    if _directory and _directory[0] == directory and _metrics:
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    from prometheus_client import Counter, Gauge, Histogram, values

    values.ValueClass = values.MultiProcessValue()  # files in this directory from now on
    _directory[:] = [directory]
    _metrics.clear()
    _metrics.update(
        requests=Counter(
            PREFIX + "http_requests_total", "HTTP requests.", ["method", "route", "status"], registry=None
        ),
        latency=Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        ),
        cache=Counter(
            PREFIX + "response_cache_total", "Cacheable answers by result.", ["result"], registry=None
        ),
        pool=Gauge(
            PREFIX + "db_pool_connections",
            "Database pool connections of the web processes.",
            ["state"],
            multiprocess_mode="livesum",
            registry=None,
        ),
        jobs_finished=Counter(
            PREFIX + "jobs_finished_total", "Jobs finished by a worker.", ["kind", "status"], registry=None
        ),
        ingest=Counter(
            PREFIX + "ingest_records_total", "Imported records by outcome.", ["outcome"], registry=None
        ),
        embedded=Counter(PREFIX + "embedded_papers_total", "Papers embedded.", registry=None),
        embedding_seconds=Counter(
            PREFIX + "embedding_seconds_total", "Seconds spent embedding.", registry=None
        ),
    )


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    if _metrics:
        _metrics["requests"].labels(method, route, str(status)).inc()
        _metrics["latency"].labels(method, route).observe(seconds)


def count_cache(result: str) -> None:
    """Count one cacheable answer: ``hit`` or ``miss``."""
    if _metrics:
        _metrics["cache"].labels(result).inc()


def set_pool(in_use: int, idle: int) -> None:
    """This process's database pool, as of now."""
    if _metrics:
        _metrics["pool"].labels("in_use").set(in_use)
        _metrics["pool"].labels("idle").set(idle)


def count_job(kind: str, status: str) -> None:
    """Count a job a worker finished (``done``, ``retry``, ``failed``)."""
    if _metrics:
        _metrics["jobs_finished"].labels(kind, status).inc()


def count_import(counts: dict[str, int]) -> None:
    """Count the records of one import by outcome (an :class:`ImportSummary`'s ``as_dict()``)."""
    if _metrics:
        for outcome in ("new", "updated", "unchanged", "rejected", "deleted", "unsafe_links"):
            if counts.get(outcome):
                _metrics["ingest"].labels(outcome).inc(counts[outcome])


def count_embedded(papers: int, seconds: float) -> None:
    """Count papers embedded and the time it took."""
    if _metrics and papers:
        _metrics["embedded"].inc(papers)
        _metrics["embedding_seconds"].inc(seconds)


def process_exited(pid: int | None = None) -> None:
    """Drop the live gauges of a process that ends (its counters stay in the sums)."""
    if _metrics:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), str(_directory[0]))


def forget_dead_processes(settings: Settings) -> int:
    """Remove the live-gauge files of processes that no longer run (at ``serve`` start); returns how many."""
    directory = metrics_dir(settings)
    removed = 0
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
