"""Search through the web: the API's extras and errors, related papers, the search page (highlights,
filters, escaping), the paper page's related papers, the feed, and a property: no text in ``q`` ever
gives a 5xx."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from dailypapers.config import Settings
from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.search.embed import HashingBackend
from dailypapers.search.semantic import embed_missing
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app, highlight
from tests.test_search_engine import CORPUS

EVIL = DailyEntryRecord(
    paper=PaperRecord(
        arxiv_id="2501.00099",
        title="<script>alert(1)</script> diffusion \x02trick\x03",
        abstract='Diffusion <img src=x onerror="alert(2)"> abstract.',
        authors=["M"],
    ),
    day=CORPUS[0].day,
    upvotes=1,
)


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"embedding_backend": "hashing", "response_cache": False})


@pytest.fixture
def client(settings, db):
    Importer(db).run([*CORPUS, EVIL])
    app = create_app(settings, database=db)
    embed_missing(db, app.state.parts.application.search.backend)
    with TestClient(app) as c:
        yield c


def test_the_app_has_one_lazy_engine(settings, db):
    app = create_app(settings, database=db)
    assert isinstance(app.state.parts.application.search.backend, HashingBackend)
    minilm = create_app(Settings(**{**settings.model_dump(), "embedding_backend": "minilm"}), database=db)
    backend = minilm.state.parts.application.search.backend
    assert backend.threads == 1 and not backend.loaded  # nothing loads before the first query
    none = create_app(Settings(**{**settings.model_dump(), "embedding_backend": "none"}), database=db)
    assert none.state.parts.application.search.vectors is None


def api(client, query):
    r = client.get("/api/papers/search?" + query)
    assert r.status_code == 200, r.text
    return [item["paper"]["id"] for item in r.json()]


def test_api_search_modes_sorts_and_filters(client):
    assert set(api(client, "q=diffusion&mode=keyword")) == {
        "2501.00002",
        "2501.00003",
        "2501.00004",
        "2501.00099",
    }
    hybrid = api(client, "q=robot")
    assert hybrid[0] == "2501.00006" and len(hybrid) > 1  # semantic neighbours join the keyword match
    assert api(client, "q=zzzzqqq&mode=keyword") == []
    assert api(client, "q=protein%20folding&mode=semantic")[0] == "2501.00002"
    assert api(client, "q=diffusion&mode=keyword&sort=upvotes&limit=2") == ["2501.00004", "2501.00003"]
    assert api(client, "q=diffusion&mode=keyword&from=2025-01-01&to=2025-12-31") == api(
        client, "q=diffusion&mode=keyword&from=2025-01-01&to=2025-12-31&sort=relevance"
    )
    assert set(api(client, "q=diffusion&mode=keyword&from=2025-01-01&to=2025-12-31")) <= {
        "2501.00002",
        "2501.00003",
        "2501.00099",
    }
    assert set(api(client, "q=diffusion&mode=keyword&category=cs.CV")) == {"2501.00003", "2501.00004"}
    # repeated categories: a paper must be in all of them (organizations: in any of them)
    assert api(client, "q=diffusion&mode=keyword&category=cs.CV&category=cs.LG") == ["2501.00004"]
    assert api(client, "q=diffusion&mode=keyword&category=cs.CV,%20cs.LG") == ["2501.00004"]
    assert set(api(client, "q=models&organization=deepmind&mode=keyword")) == {"2501.00002", "2501.00005"}
    assert api(client, "category=cs.RO") == ["2501.00006"]  # filters alone
    item = client.get("/api/papers/search?q=robot&mode=keyword").json()[0]
    assert {"paper", "publishedAt", "title", "summary", "numComments"} <= set(item)


@pytest.mark.parametrize(
    "query",
    [
        "q=a&mode=fuzzy",
        "q=a&sort=random",
        "q=a&from=yesterday",
        "q=a&to=2025-13-01",
        "q=a&from=2025-02-01&to=2025-01-01",
        "q=",
        "q=%25%25",
        "q=a&limit=0",
        "q=a&limit=x",
    ],
)
def test_api_search_bad_values_are_400_json(client, query):
    r = client.get("/api/papers/search?" + query)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json") and r.json()["error"]


def test_related_api(client):
    r = client.get("/api/papers/2501.00003/related?limit=3")
    assert r.status_code == 200
    items = r.json()
    assert 1 <= len(items) <= 3
    assert "2501.00003" not in [i["paper"]["id"] for i in items]
    assert all(isinstance(i["similarity"], float) and {"paper", "title", "summary"} <= set(i) for i in items)
    assert client.get("/api/papers/arXiv:2501.00003v2/related").status_code == 200
    assert client.get("/api/papers/2501.09999/related").status_code == 404
    assert client.get("/api/papers/not-an-id/related").status_code == 404
    assert client.get("/api/papers/2501.00003/related?limit=999").status_code == 400
    assert client.get("/api/papers/2501.00003").json()["id"] == "2501.00003"  # the paper route still works


def test_search_page_highlights_and_explains(client):
    html = client.get("/papers?q=protein&mode=keyword").text
    assert "<mark>" in html and "matches your words" in html
    semantic = client.get("/papers?q=protein%20folding&mode=semantic").text
    assert "similar in meaning" in semantic
    # the filter form keeps what was asked
    form = client.get("/papers?q=diffusion&mode=keyword&sort=upvotes&from=2025-01-01&category=cs.CV").text
    assert '<option value="keyword" selected>' in form and '<option value="upvotes" selected>' in form
    assert 'name="from" value="2025-01-01"' in form and 'value="cs.CV"' in form
    assert client.get("/papers?q=a&mode=fuzzy").status_code == 400
    assert client.get("/papers?q=a&from=nope").status_code == 400


def test_search_page_escapes_titles_before_marking(client):
    html = client.get("/papers?q=diffusion&mode=keyword").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    assert str(highlight("<b>\x02x\x03</b>\x02")) == "&lt;b&gt;<mark>x</mark>&lt;/b&gt;"


def test_paper_page_shows_related_papers(client):
    html = client.get("/papers/2501.00003").text
    assert "Related papers" in html
    assert 'href="/papers/2501.00003"' not in html.split("Related papers", 1)[1]


def test_search_feed_uses_the_engine(client):
    r = client.get("/feeds/search.atom?q=robot&mode=keyword")
    assert r.status_code == 200 and "2501.00006" in r.text
    assert client.get("/feeds/search.atom?q=robot&sort=nope").status_code == 400


ODD = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            '"unbalanced',
            "NEAR(a b",
            "*",
            "^",
            "a*",
            "OR",
            "AND NOT",
            '"',
            "-",
            "--x",
            "(",
            ")",
            "author:",
            'org:"',
            "year:9999..0",
            "date:2025-99",
            "cat:.",
            "\x00",
            "\x02\x03",
            "🚀🔥",
            "x" * 10_240,
            "ü" * 6000,
            "\ud800",
        ]
    ),
    st.lists(
        st.sampled_from(
            [
                '"',
                "NEAR(",
                "*",
                "^",
                "-",
                ":",
                "author:",
                "diffusion",
                "🚀",
                "\x07",
                " ",
                "OR",
                "year:",
                "(",
                "'",
            ]
        ),
        max_size=30,
    ).map("".join),
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=ODD)
def test_any_query_text_is_answered_without_a_server_error(client, q):
    for path in ("/api/papers/search", "/papers"):
        r = client.get(path, params={"q": q.encode("utf-8", "surrogatepass").decode("utf-8", "replace")})
        assert r.status_code < 500, (path, q, r.text[:300])
    r = client.get("/api/papers/search?q=" + quote(q.encode("utf-8", "surrogatepass"), safe=""))
    assert r.status_code < 500, (q, r.text[:300])


def test_control_characters_in_filters_are_dropped_not_a_server_error(client):
    for url in (
        "/feeds/search.atom?q=attention&organization=a%00b",
        "/api/papers/search?q=attention&category=cs%00.CL",
        "/papers?q=attention&organization=%00",
    ):
        assert client.get(url).status_code == 200, url


def test_did_you_mean_on_the_page_and_in_the_api(client):
    page = client.get("/papers?q=protien+folding")
    assert page.status_code == 200
    assert (
        'Did you mean <a href="/papers?q=protein+folding&amp;mode=hybrid" rel="nofollow">protein folding</a>?'
        in page.text
    )
    r = client.get("/api/papers/search?q=protien+folding&mode=keyword")
    assert r.headers["x-did-you-mean"] == "protein folding"
    assert isinstance(r.json(), list)  # the body is still Hugging Face's list
    right = client.get("/api/papers/search?q=protein+folding&mode=keyword")
    assert "x-did-you-mean" not in right.headers and right.json()
    assert "Did you mean" not in client.get("/papers?q=protein+folding").text


def test_an_empty_result_says_why_and_offers_the_search_without_filters(client):
    page = client.get("/papers?q=protein+folding&mode=keyword&from=2030-01-01")
    assert page.status_code == 200
    assert "No paper matches" in page.text
    assert "without them, 1 paper matches" in page.text
    assert 'href="/papers?q=protein+folding&amp;mode=keyword">Search without the filters' in page.text
    in_query = client.get("/papers?q=protein+folding+year%3A2030&mode=keyword")
    assert "Search without the filters" in in_query.text
    nonsense = client.get("/papers?q=xqzvwkjj+plorf&mode=keyword")  # (the hashing model has no floor)
    assert "No paper matches" in nonsense.text and "Check the spelling" in nonsense.text
    assert "Search without the filters" not in nonsense.text and "Did you mean" not in nonsense.text


def test_the_category_filter_is_offered_only_where_papers_have_categories(settings, db):
    Importer(db).run([EVIL])  # a paper from Hugging Face's lists: no categories
    with TestClient(create_app(settings, database=db)) as c:
        assert 'name="category"' not in c.get("/papers?q=diffusion").text
        assert 'name="category"' in c.get("/papers?q=diffusion&category=cs.CL").text  # asked: kept
        assert 'name="category"' not in c.get("/").text
        Importer(db).run(CORPUS[:1])  # one paper with a category
        assert 'name="category"' in c.get("/papers?q=diffusion").text


def test_the_search_page_documents_the_syntax(client):
    text = client.get("/papers?q=").text
    assert "<code>author:Tri Dao</code>" in text and "Filters only ever narrow the results" in text
