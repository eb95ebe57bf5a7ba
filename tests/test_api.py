"""The JSON API: shape, parameters, errors, pagination; and the real huggingface_hub client against
a live server on 127.0.0.1."""

import json
import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from dailypapers.ingest import hf_daily
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from tests.conftest import TEST_DATA


@pytest.fixture
def settings(settings):
    # the hashing backend: semantic and hybrid search without loading a model
    return settings.model_copy(update={"embedding_backend": "hashing"})


@pytest.fixture
def loaded_db(db):
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    return db


@pytest.fixture
def client(settings, loaded_db):
    with TestClient(create_app(settings, database=loaded_db)) as c:
        yield c


def test_daily_papers_latest_day_in_hf_shape(client):
    r = client.get("/api/daily_papers")
    assert r.status_code == 200
    items = r.json()
    assert [i["paper"]["id"] for i in items] == ["2606.26740", "2606.30616", "2606.28480", "2606.24256"]
    first = items[0]
    raw = json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())[0]
    for key in (
        "id",
        "title",
        "summary",
        "upvotes",
        "githubRepo",
        "githubStars",
        "projectPage",
        "ai_summary",
        "ai_keywords",
        "submittedOnDailyAt",
        "publishedAt",
    ):
        assert first["paper"][key] == raw["paper"][key], key
    assert [a["name"] for a in first["paper"]["authors"]] == [a["name"] for a in raw["paper"]["authors"]]
    assert first["paper"]["organization"]["name"] == "Tsinghua"
    assert first["paper"]["submittedOnDailyBy"]["user"] == "YueMafighting"
    assert first["numComments"] == raw["numComments"]
    assert first["organization"]["fullname"] == "Tsinghua University"


def test_daily_papers_by_date_week_month_and_submitter(client):
    assert [i["paper"]["id"] for i in client.get("/api/daily_papers?date=2024-06-03").json()] == [
        "2405.21060",
        "2405.21075",
        "2405.21048",
    ]
    assert client.get("/api/daily_papers?date=2024-06-04").json() == []
    assert len(client.get("/api/daily_papers?week=2024-W23").json()) == 3
    assert len(client.get("/api/daily_papers?month=2025-01").json()) == 3
    assert len(client.get("/api/daily_papers?month=2026-06&submitter=YueMafighting").json()) == 1


def test_sorts(client):
    by_votes = [i["paper"]["upvotes"] for i in client.get("/api/daily_papers?month=2026-06").json()]
    assert by_votes == sorted(by_votes, reverse=True)
    by_date = [
        i["paper"]["publishedAt"]
        for i in client.get("/api/daily_papers?month=2026-06&sort=publishedAt").json()
    ]
    assert by_date == sorted(by_date, reverse=True)
    trending = client.get("/api/daily_papers?sort=trending").json()
    assert trending and trending[0]["paper"]["id"] == "2606.26740"


def test_pagination_with_link_header(client):
    first = client.get("/api/daily_papers?month=2026-06&limit=3")
    assert len(first.json()) == 3
    link = first.headers["link"]
    assert link.endswith('>; rel="next"') and "p=1" in link
    url = link[1 : link.index(">")]
    second = client.get(url)
    assert [i["paper"]["id"] for i in second.json()] == ["2606.24256"]
    assert "link" not in second.headers


@pytest.mark.parametrize(
    "query",
    [
        "date=2024-13-01",
        "date=yesterday",
        "week=2024-W60",
        "month=2024-00",
        "limit=0",
        "limit=101",
        "p=-1",
        "p=x",
        "sort=random",
        "date=2024-06-03&month=2024-06",
    ],
)
def test_bad_parameters_are_400_with_a_message(client, query):
    r = client.get(f"/api/daily_papers?{query}")
    assert r.status_code == 400
    assert r.json()["error"]


def test_paper_by_id_and_404(client):
    r = client.get("/api/papers/2606.26740")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "2606.26740" and body["title"].startswith("LiveEdit")
    assert body["listedOn"] == ["2026-06-30"] and body["trending"]["upvotes"] == 57
    assert client.get("/api/papers/2606.26740v3").json()["id"] == "2606.26740"
    assert client.get("/api/papers/2601.99999").status_code == 404
    assert client.get("/api/papers/nonsense").status_code == 404
    assert client.get("/api/papers/nonsense").json() == {"error": "no paper 'nonsense'"}


def test_search(client):
    items = client.get("/api/papers/search?q=streaming video editing").json()
    assert items[0]["paper"]["id"] == "2606.26740"
    assert client.get("/api/papers/search?q=zzzzqqq").json() == []
    assert client.get("/api/papers/search?q=%25%25").status_code == 400


def test_list_papers_with_cursor(client):
    seen, url = [], "/api/papers?limit=5"
    while url:
        r = client.get(url)
        assert r.status_code == 200
        seen += [p["id"] for p in r.json()]
        link = r.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    assert len(seen) == len(set(seen)) == 12
    assert client.get("/api/papers?cursor=!!!").status_code == 400


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    assert "/api/daily_papers" in spec["paths"]
    assert client.get("/docs").status_code == 200


# --- the real client ---------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_url(settings, loaded_db):
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database=loaded_db), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_huggingface_hub_client_reads_what_the_database_holds(live_url):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=live_url, token=False)
    latest = list(api.list_daily_papers())
    assert [p.id for p in latest] == ["2606.26740", "2606.30616", "2606.28480", "2606.24256"]
    assert latest[0].title.startswith("LiveEdit") and latest[0].upvotes == 57
    assert latest[0].organization.name == "Tsinghua"
    assert latest[0].submitted_by.username == "YueMafighting"
    assert [a.name for a in latest[0].authors][:2] == ["Xinyu Wang", "Chongbo Zhao"]
    assert [p.id for p in api.list_daily_papers(date="2024-06-03")] == [
        "2405.21060",
        "2405.21075",
        "2405.21048",
    ]
    assert len(list(api.list_daily_papers(week="2024-W23"))) == 3
    assert len(list(api.list_daily_papers(month="2026-06", sort="publishedAt"))) == 4
    assert len(list(api.list_daily_papers(sort="trending", limit=2))) == 2
    info = api.paper_info("2405.21060")
    assert info.id == "2405.21060" and info.upvotes == 27 and info.authors[0].name == "Tri Dao"
    found = list(api.list_papers(query="state space duality"))
    assert found[0].id == "2405.21060"  # the paper with every word first; looser matches after it
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError):
        api.paper_info("2601.99999")


@pytest.mark.parametrize(
    "query",
    [
        "week=9999-W52",
        "date=0999-01-01",
        "month=0001-01",
        "date=２０２４-06-03",
        "cursor=MjAyNC0wMS0wMVQwMDowMDowMHw1",
    ],
)
def test_out_of_range_and_odd_values_are_400_not_500(client, query):
    path = "/api/papers" if query.startswith("cursor") else "/api/daily_papers"
    assert client.get(f"{path}?{query}").status_code == 400
