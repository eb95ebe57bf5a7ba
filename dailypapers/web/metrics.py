"""``/metrics`` for Prometheus, and the middleware that counts every request (names in
:mod:`dailypapers.metrics`).

The middleware sits outside everything else, so a request's time includes the response cache, the guards
and the security headers; its ``route`` label is the route template (``/papers/{arxiv_id}``), never the
path, so scanners asking for random URLs add one ``unmatched`` series, not thousands. ``/metrics`` answers
only the addresses of ``DAILYPAPERS_METRICS_ALLOW`` (loopback by default; a reverse proxy in front passes
the client's own address), and 404 to everyone else.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dailypapers import metrics
from dailypapers.errors import NotFound
from dailypapers.store.db import Database
from dailypapers.store.models import DigestDelivery, Job
from dailypapers.web.deps import DB, AppSettings

router = APIRouter(tags=["health"])


class MetricsMiddleware:
    """Counts each HTTP request by method, route template and status, with its duration; the response
    cache's hits and misses (from its ``X-Cache`` header); this process's database pool after each."""

    def __init__(self, app: ASGIApp, *, pool: Callable[[], Any]) -> None:
        self.app = app
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        cached: bytes | None = None

        async def watch(message: Message) -> None:
            nonlocal status, cached
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-cache":
                        cached = value
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.observe_request(scope["method"], route, status, time.perf_counter() - started)
            if cached is not None:
                metrics.count_cache("hit" if cached in (b"HIT", b"STALE") else "miss")
            pool = self.pool()
            if hasattr(pool, "checkedout"):
                metrics.set_pool(pool.checkedout(), pool.checkedin())


def allowed(address: str | None, allow: str) -> bool:
    """Whether ``address`` may read the metrics under the ``DAILYPAPERS_METRICS_ALLOW`` list (addresses
    and networks, comma-separated; ``*`` for anyone)."""
    entries = [e.strip() for e in allow.split(",") if e.strip()]
    if "*" in entries:
        return True
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in entries:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _by_status(db: Database) -> tuple[dict[str, int], dict[str, int]]:
    with db.session() as session:
        jobs = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        outbox = dict(
            session.execute(select(DigestDelivery.status, func.count()).group_by(DigestDelivery.status)).all()
        )
    return jobs, outbox


@router.get("/metrics", include_in_schema=False)
def metrics_page(request: Request, db: DB, settings: AppSettings) -> Response:
    """The Prometheus text format: every process's metrics summed, and the queue and outbox by state."""
    if (
        not settings.metrics
        or not metrics.enabled()
        or not allowed(request.client.host if request.client else None, settings.metrics_allow)
    ):
        raise NotFound(f"nothing at {request.url.path}")
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
    from prometheus_client.core import GaugeMetricFamily

    jobs, outbox = _by_status(db)

    class Database:
        def collect(self) -> Any:
            family = GaugeMetricFamily(
                metrics.PREFIX + "jobs", "Jobs in the work queue by status.", labels=["status"]
            )
            for state, n in sorted(jobs.items()):
                family.add_metric([state], n)
            yield family
            family = GaugeMetricFamily(
                metrics.PREFIX + "digest_outbox", "Digest mails by status.", labels=["status"]
            )
            for state, n in sorted(outbox.items()):
                family.add_metric([state], n)
            yield family

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(Database())
    return Response(
        generate_latest(registry), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )
