"""Health checks for load balancers and orchestrators, cheap and never cached or rate-limited.

``GET /healthz``: the process answers (no database read). ``GET /readyz``: the database answers, its
schema is at this version's newest migration and the search index is loaded; 200 when all hold, 503 with
what is wrong otherwise (:meth:`dailypapers.application.Application.readiness`). With a read replica,
``replica`` reports it too (reachable, lag); it never makes the site unready, as the primary serves the
reads while the replica is down.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dailypapers.web.deps import App

router = APIRouter(tags=["health"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> JSONResponse:
    """``{"status": "ok"}`` whenever the process can answer at all."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz", summary="Readiness: database, schema and search index", response_model=None)
def readyz(app: App) -> Any:
    """200 ``{"status": "ready", "checks": {...}}`` when the site can serve; 503 with the failing checks.
    With a read replica, ``replica`` says how it is, whatever the status."""
    checks = app.readiness()
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    replica = app.replica_status()
    if replica is not None:
        body["replica"] = replica
    return JSONResponse(body, status_code=200 if ready else 503, headers=NO_STORE)
