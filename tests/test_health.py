"""``/healthz`` and ``/readyz``: what a load balancer asks, answered from the live state, never cached."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from dailypapers.web.app import create_app
from tests.support.community import community_settings, load_papers


def _ready(client: TestClient) -> Any:
    """``/readyz`` once it says ready (the index loads beside the first requests), or after a minute."""
    deadline = time.monotonic() + 60
    while True:
        answer = client.get("/readyz")
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer


def test_liveness_answers_without_the_database(settings, db):
    with TestClient(create_app(community_settings(settings), database=db)) as client:
        db.dispose()
        answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert answer.headers["cache-control"] == "no-store"


def test_readiness_follows_the_schema_and_is_never_cached(settings, db):
    load_papers(db)
    app = create_app(community_settings(settings, embedding_backend="hashing"), database=db)
    with TestClient(app) as client:
        ready = _ready(client)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "schema": "ok", "search": "ok"},
        }
        head = db.current_revision()
        with db.transaction() as session:  # as if the code were newer than the database
            session.execute(text("UPDATE alembic_version SET version_num = '0009_digests'"))
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert "run `dailypapers db upgrade`" in behind.json()["checks"]["schema"]
        assert behind.headers["cache-control"] == "no-store"
        with db.transaction() as session:
            session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        assert client.get("/readyz").status_code == 200


def test_readiness_waits_for_the_vector_index(settings, db):
    load_papers(db)
    app = create_app(community_settings(settings, embedding_backend="hashing"), database=db)
    engine = app.state.parts.application.search
    assert engine.vectors is not None
    if db.is_sqlite:  # an index held in this process: not loaded before the start
        assert engine.vectors.loaded is False
    with TestClient(app) as client:
        assert _ready(client).status_code == 200
    assert engine.vectors.loaded
