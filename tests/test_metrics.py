"""``/metrics``: what Prometheus scrapes, counted across processes, shown only to allowed addresses."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from dailypapers.application import Application
from dailypapers.ingest.records import PaperRecord
from dailypapers.store.jobs import enqueue
from dailypapers.web.app import create_app
from dailypapers.web.metrics import allowed
from tests.support.community import community_settings, load_papers


def _value(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


def _client(settings, db, **changes):
    site = community_settings(settings, metrics_dir=settings.data_dir / "metrics", **changes)
    return TestClient(create_app(site, database=db), client=("127.0.0.1", 50000))


def test_requests_cache_queue_and_imports_are_counted(settings, db):
    load_papers(db)
    with _client(settings, db) as client:
        for _ in range(3):
            assert client.get("/papers/trending").status_code == 200
        assert client.get("/api/papers/2606.99999").status_code == 404
        assert client.get("/no/such/page/12345").status_code == 404
        with db.transaction() as session:
            enqueue(session, "index", {"backend": "hashing"})
        # another process of the site (an import command) writes to the same folder
        Application(
            community_settings(settings, metrics_dir=settings.data_dir / "metrics"), database=db
        ).ingest([PaperRecord(arxiv_id="2607.00001", title="Counted")])
        page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert _value(text, "dailypapers_http_requests_total", route="/papers/trending", status="200") == 3
    assert (
        _value(text, "dailypapers_http_requests_total", route="/api/papers/{arxiv_id:path}", status="404")
        == 1
    )
    assert _value(text, "dailypapers_http_requests_total", route="unmatched", status="404") == 1
    assert "/no/such/page" not in text  # a path never becomes a label
    assert _value(text, "dailypapers_http_request_duration_seconds_count", route="/papers/trending") == 3
    assert _value(text, "dailypapers_response_cache_total", result="miss") == 1
    assert _value(text, "dailypapers_response_cache_total", result="hit") == 2
    assert _value(text, "dailypapers_jobs", status="queued") == 1
    assert _value(text, "dailypapers_ingest_records_total", outcome="new") == 1
    assert "dailypapers_db_pool_connections" in text


def test_metrics_answer_allowed_addresses_only(settings, db):
    with _client(settings, db) as client:
        assert client.get("/metrics").status_code == 200
    site = community_settings(settings, metrics_dir=settings.data_dir / "metrics")
    with TestClient(create_app(site, database=db), client=("203.0.113.9", 50000)) as outsider:
        assert outsider.get("/metrics").status_code == 404
    with _client(settings, db, metrics=False) as client:
        assert client.get("/metrics").status_code == 404


def test_the_allow_list_reads_addresses_and_networks():
    assert allowed("127.0.0.1", "127.0.0.1,::1") and allowed("::1", "127.0.0.1,::1")
    assert allowed("10.1.2.3", "10.0.0.0/8") and not allowed("11.1.2.3", "10.0.0.0/8")
    assert allowed("198.51.100.7", "*") and not allowed(None, "127.0.0.1")
    assert not allowed("not-an-address", "127.0.0.1") and not allowed("127.0.0.1", "garbage")
