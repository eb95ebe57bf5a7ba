"""Concurrent work on a paper page and ``GET /api/papers/{id}/concurrent``: papers published within 14
days whose vectors are at least ``CONCURRENT_SIMILARITY`` close, on either backend. The vectors are
written to the database with the similarities wanted; the index the site builds from them is real."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.search.embed import paper_text
from dailypapers.search.hybrid import CONCURRENT_SIMILARITY
from dailypapers.search.semantic import text_hash
from dailypapers.store.importer import Importer
from dailypapers.store.models import Paper
from dailypapers.store.vectors import insert_vectors
from dailypapers.web.app import create_app

DIM = 64  # the hashing backend's default
PUBLISHED = datetime(2026, 4, 10, 9, tzinfo=UTC)
# arXiv id -> (days after the paper, cosine similarity to it)
OTHERS = {
    "2604.00102": (3, 0.90),  # concurrent
    "2604.00103": (-13, 0.84),  # concurrent, published before it
    "2604.00104": (20, 0.95),  # closest of all, but three weeks later: related, not concurrent
    "2604.00105": (-5, 0.75),  # the same weeks, not close enough
    "2604.00106": (1, 0.10),  # unrelated
}
PAPER = "2604.00101"


def _record(arxiv_id: str, published: datetime) -> DailyEntryRecord:
    return DailyEntryRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            title=f"Concurrent paper {arxiv_id}",
            abstract=f"Abstract of {arxiv_id}.",
            authors=["Sofia Kovalevskaya"],
            published_at=published,
        ),
        day=date(2026, 4, 28),
        upvotes=1,
    )


@pytest.fixture
def site(settings, db):
    records = [_record(PAPER, PUBLISHED)] + [
        _record(arxiv_id, PUBLISHED + timedelta(days=days)) for arxiv_id, (days, _) in OTHERS.items()
    ]
    Importer(db).run(records)
    vectors = np.zeros((len(records), DIM), dtype=np.float32)
    vectors[0, 0] = 1.0
    for row, (_, similarity) in enumerate(OTHERS.values(), 1):
        vectors[row, 0] = similarity
        vectors[row, row] = math.sqrt(1 - similarity**2)  # its own direction, away from the others
    with db.session() as session:
        papers = {p.arxiv_id: p for p in session.query(Paper)}
        ordered = [papers[r.paper.arxiv_id] for r in records]
        digests = [text_hash(paper_text(p.title, p.abstract)) for p in ordered]
        insert_vectors(session, f"hashing-{DIM}", [p.id for p in ordered], digests, vectors)
        session.commit()
    app = create_app(
        settings.model_copy(update={"embedding_backend": "hashing", "cache_check_interval": 0.0}), database=db
    )
    with TestClient(app) as client:
        yield client


def test_the_threshold_is_the_one_chosen_on_real_data():
    assert CONCURRENT_SIMILARITY == pytest.approx(0.82)  # bench/concurrent_work.py; README says why


def test_the_api_gives_concurrent_work_closest_first_with_the_days_apart(site):
    body = site.get(f"/api/papers/{PAPER}/concurrent").json()
    assert [item["paper"]["id"] for item in body] == ["2604.00102", "2604.00103"]
    assert [item["daysApart"] for item in body] == [3, -13]
    assert body[0]["similarity"] == pytest.approx(0.90, abs=2e-3)
    assert body[1]["similarity"] == pytest.approx(0.84, abs=2e-3)
    assert [i["paper"]["id"] for i in site.get(f"/api/papers/{PAPER}/concurrent?limit=1").json()] == [
        "2604.00102"
    ]
    # seen from a concurrent paper, the paper itself is concurrent to it (the others are not close enough)
    back = site.get("/api/papers/2604.00102/concurrent").json()
    assert [item["paper"]["id"] for item in back] == [PAPER]
    assert back[0]["daysApart"] == -3
    assert site.get("/api/papers/2604.99999/concurrent").status_code == 404
    assert site.get(f"/api/papers/{PAPER}/concurrent?limit=50").status_code == 400


def test_the_paper_page_shows_concurrent_work_and_keeps_it_out_of_related(site):
    html = site.get(f"/papers/{PAPER}").text
    concurrent = html.split('id="concurrent-h"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'href="/papers/([^"]+)"', concurrent) == ["2604.00102", "2604.00103"]
    assert "3 days after" in concurrent and "13 days before" in concurrent
    assert "similarity 0.90" in concurrent
    related = html.split('id="related-h"', 1)[1].split("</section>", 1)[0]
    shown = re.findall(r'href="/papers/([^"]+)"', related)
    assert shown[0] == "2604.00104"  # the closest, three weeks later
    assert not {"2604.00102", "2604.00103"} & set(shown)


def test_a_paper_with_no_close_paper_of_its_time_shows_no_section(site):
    html = site.get("/papers/2604.00106").text
    assert "Concurrent work" not in html
    assert site.get("/api/papers/2604.00106/concurrent").json() == []
