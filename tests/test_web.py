"""The minimal pages, through FastAPI's in-process client on a real database."""

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from tests.conftest import TEST_DATA


@pytest.fixture
def client(settings, db):
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    with TestClient(create_app(settings, database=db)) as c:
        yield c


def test_home_lists_the_latest_day_most_upvoted_first(client, db):
    # the last paper of the day's file (the fewest votes there) overtakes the others
    Importer(db).run(
        [
            DailyEntryRecord(
                paper=PaperRecord(arxiv_id="2606.24256", title=""), day=date(2026, 6, 30), upvotes=60
            )
        ]
    )
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "Jun 30, 2026" in html
    assert re.findall(r'id="card-([^"]+)"', html) == ["2606.24256", "2606.26740", "2606.30616", "2606.28480"]
    assert "LiveEdit: Towards Real-Time Diffusion-Based Streaming Video Editing" in html
    assert "Transformers are SSMs" not in html  # an older day
    assert "Tsinghua University" in html and "★ 12" in html


def test_paper_page_and_unknown_ids(client):
    page = client.get("/papers/2606.26740v2")
    assert page.status_code == 200
    assert (
        '<li><a href="/authors/Xinyu%20Wang">Xinyu Wang</a></li>'
        '<li><a href="/authors/Chongbo%20Zhao">Chongbo Zhao</a></li>'
    ) in page.text
    assert client.get("/papers/2501.99999").status_code == 404
    assert client.get("/papers/<script>").status_code == 404


def test_first_start_loads_the_demo(settings, db):
    settings.load_demo = True
    with TestClient(create_app(settings, database=db)) as c:
        assert c.get("/").status_code == 200
    from sqlalchemy import func, select

    from dailypapers.store.models import Paper

    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Paper)) > 1000


def test_text_is_escaped(client, db):
    from dailypapers.ingest.records import PaperRecord

    Importer(db).run([PaperRecord(arxiv_id="2501.00001", title="<script>alert(1)</script>", abstract="a<b")])
    html = client.get("/papers/2501.00001").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
