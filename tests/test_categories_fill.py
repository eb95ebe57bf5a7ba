"""Categories for papers that came without (Hugging Face's daily lists carry none): asked of the arXiv
API, 100 ids a request, through a real local server serving recorded answers (tests/data/arxiv_api), and
imported like any source; on the backend ``--db`` names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dailypapers.application import Application, SourceFailed
from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store import categories
from dailypapers.store.importer import Importer
from dailypapers.store.models import Paper
from dailypapers.web.app import create_app
from tests.support.local_server import LocalServer, Reply, Request

DATA = Path(__file__).parent / "data" / "arxiv_api"
DAY = date(2026, 6, 1)


def hf_entry(arxiv_id: str, title: str, cats: tuple[str, ...] = ()) -> DailyEntryRecord:
    """A paper as Hugging Face's daily list gives it: no categories."""
    return DailyEntryRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            title=title,
            abstract="An abstract.",
            authors=["A. Author"],
            categories=list(cats),
            published_at=datetime(2026, 5, 30, tzinfo=UTC),
        ),
        day=DAY,
        upvotes=3,
    )


@pytest.fixture
def arxiv() -> LocalServer:
    def respond(req: Request) -> Reply:
        ids = set((req.arg("id_list") or "").split(","))
        if ids & {"1706.03762", "hep-th/9711200"}:
            return Reply(200, (DATA / "search_page1.xml").read_bytes(), content_type="application/atom+xml")
        return Reply(200, (DATA / "no_results.xml").read_bytes(), content_type="application/atom+xml")

    with LocalServer(respond) as server:
        yield server


@pytest.fixture
def app(settings, db, arxiv) -> Application:
    local = settings.model_copy(
        update={
            "arxiv_api_url": arxiv.url + "/api/query",
            "http_min_interval": 0.0,
            "cache_check_interval": 0.0,
        }
    )
    application = Application(local, database=db)
    yield application
    application.close()


def test_papers_without_categories_get_them_from_arxiv(app, db, arxiv):
    Importer(db).run(
        [
            hf_entry("2501.00001", "Has one", ("cs.LG",)),
            hf_entry("hep-th/9711200", "The Large N limit"),
            hf_entry("1706.03762", "Attention Is All You Need"),
        ]
    )
    assert app.papers_without_categories(10) == ["1706.03762", "hep-th/9711200"]  # newest first
    summary = app.fill_categories(10)
    assert summary is not None and summary.updated == 2
    assert len(arxiv.requests) == 1  # both ids in one request
    asked = arxiv.requests[0]
    assert set(asked.arg("id_list").split(",")) == {"1706.03762", "hep-th/9711200"}
    assert asked.arg("max_results") == "2"
    with db.session() as session:
        attention = session.scalar(select(Paper).where(Paper.arxiv_id == "1706.03762"))
        assert "cs.CL" in attention.categories
        rows = session.execute(
            select(categories.TABLE.c.category).where(categories.TABLE.c.paper_id == attention.id)
        ).scalars()
        assert {"cs.cl", "cs"} <= set(rows)
    assert app.papers_without_categories(10) == []
    assert app.fill_categories(10) is None and len(arxiv.requests) == 1  # nothing left to ask


def test_the_category_filter_then_matches_and_is_offered(app, db, settings):
    Importer(db).run([hf_entry("1706.03762", "Attention Is All You Need")])
    web = create_app(app.settings, database=db)
    with TestClient(web) as client:
        day = client.get(f"/papers/date/{DAY.isoformat()}")
        assert 'name="category"' not in day.text  # no paper has a category: no filter that cannot match
        app.fill_categories(10)
        filtered = client.get(f"/papers/date/{DAY.isoformat()}?category=cs.CL")
        assert "Attention Is All You Need" in filtered.text
        assert 'name="category"' in client.get(f"/papers/date/{DAY.isoformat()}").text


def test_an_id_arxiv_does_not_know_is_left_and_arxiv_down_loses_nothing(app, db, arxiv):
    Importer(db).run([hf_entry("2605.99999", "Not on arXiv")])
    summary = app.fill_categories(10)
    assert summary is not None and summary.updated == 0
    assert app.papers_without_categories(10) == ["2605.99999"]
    arxiv.respond = lambda req: Reply(503, b"down")
    down = app.settings.model_copy(update={"http_retries": 0})
    broken = Application(down, database=db)
    with pytest.raises(SourceFailed):
        broken.fill_categories(10)
    with db.session() as session:
        assert session.scalar(select(Paper.title).where(Paper.arxiv_id == "2605.99999")) == "Not on arXiv"
