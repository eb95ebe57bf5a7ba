"""What ``dailypapers worker`` can do: one handler per job kind (see :mod:`dailypapers.store.jobs`).

- ``index``: embed every paper lacking a current vector (``{"backend": "minilm"}``), queued after an
  ingest when ``DAILYPAPERS_INDEX_IN_WORKER`` is on, so a big machine (or a GPU box) does the embedding
  while the ingesting and serving machines stay light.
"""

from __future__ import annotations

from typing import Any

from dailypapers.store.db import Database
from dailypapers.store.jobs import Handler


def index_job(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    from dailypapers.search.embed import get_backend
    from dailypapers.search.semantic import embed_missing

    backend = get_backend(str(payload.get("backend", "minilm")))
    summary = embed_missing(db, backend, batch_size=int(payload.get("batch_size", 64)))
    return {"backend": backend.name, "embedded": summary.embedded, "considered": summary.considered,
            "skipped": summary.skipped}


HANDLERS: dict[str, Handler] = {"index": index_job}


def index_job_key(backend: str) -> str:
    return f"index:{backend}"
