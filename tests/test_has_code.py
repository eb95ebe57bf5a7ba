"""``has_code`` and ``sort=stars`` on the lists, trending, search, feeds and the API, on either backend."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import feedparser
import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.search.semantic import embed_missing
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app

DAY = date(2026, 5, 5)
BEFORE = date(2026, 5, 4)


def _entry(arxiv_id: str, day: date, upvotes: int, stars: int | None, code: bool) -> DailyEntryRecord:
    return DailyEntryRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            title=f"Sparse routing for mixture models {arxiv_id[-2:]}",
            abstract="Routing tokens to experts in sparse mixture models.",
            authors=["Ada Lovelace"],
            published_at=datetime(day.year, day.month, day.day, 8, tzinfo=UTC),
            code_url=f"https://github.com/example/repo{arxiv_id[-2:]}" if code else None,
            github_stars=stars,
        ),
        day=day,
        upvotes=upvotes,
    )


ENTRIES = [
    _entry("2605.00011", DAY, 50, None, False),  # most upvoted, no code
    _entry("2605.00012", DAY, 40, 10, True),
    _entry("2605.00013", DAY, 30, 900, True),  # most stars
    _entry("2605.00014", DAY, 20, None, True),  # code, stars unknown
    _entry("2605.00015", BEFORE, 10, 5, True),
    _entry("2605.00016", BEFORE, 60, None, False),
]
WITH_CODE = ["2605.00012", "2605.00013", "2605.00014"]


@pytest.fixture
def site(settings, db):
    Importer(db).run(ENTRIES)
    app = create_app(
        settings.model_copy(update={"embedding_backend": "hashing", "cache_check_interval": 0.0}), database=db
    )
    embed_missing(db, app.state.parts.application.search.backend)  # the vectors semantic search reads
    with TestClient(app) as client:
        yield client


def ids(items: list[dict]) -> list[str]:
    return [(item.get("paper") or item)["id"] for item in items]


def cards(html: str) -> list[str]:
    return re.findall(r'id="card-([^"]+)"', html)


def test_the_api_lists_only_papers_with_code_and_sorts_by_stars(site):
    day = DAY.isoformat()
    assert ids(site.get(f"/api/daily_papers?date={day}").json()) == [
        "2605.00011",
        "2605.00012",
        "2605.00013",
        "2605.00014",
    ]
    assert ids(site.get(f"/api/daily_papers?date={day}&has_code=true").json()) == WITH_CODE
    by_stars = site.get(f"/api/daily_papers?date={day}&sort=stars&has_code=1").json()
    assert ids(by_stars) == ["2605.00013", "2605.00012", "2605.00014"]
    assert [item["paper"].get("githubRepo") for item in by_stars][0] == "https://github.com/example/repo13"
    week = site.get("/api/daily_papers?week=2026-W19&has_code=true&sort=stars").json()
    assert ids(week) == ["2605.00013", "2605.00012", "2605.00015", "2605.00014"]
    assert ids(site.get(f"/api/daily_papers?date={day}&has_code=false").json())[0] == "2605.00011"
    bad = site.get(f"/api/daily_papers?date={day}&has_code=maybe")
    assert bad.status_code == 400 and "has_code" in bad.json()["error"]


def test_search_narrows_to_papers_with_code_in_every_mode(site):
    for mode in ("keyword", "semantic", "hybrid"):
        everything = ids(site.get(f"/api/papers/search?q=sparse routing&mode={mode}").json())
        with_code = ids(site.get(f"/api/papers/search?q=sparse routing&mode={mode}&has_code=true").json())
        assert with_code and set(with_code) <= set(everything), mode
        assert set(with_code) == {"2605.00012", "2605.00013", "2605.00014", "2605.00015"} & set(everything)
    by_stars = ids(site.get("/api/papers/search?q=sparse routing&mode=keyword&sort=stars").json())
    assert by_stars[:3] == ["2605.00013", "2605.00012", "2605.00015"]
    html = site.get("/papers?q=sparse+routing&mode=keyword&has_code=true").text
    assert set(cards(html)) == {"2605.00012", "2605.00013", "2605.00014", "2605.00015"}
    assert 'name="has_code" value="true" checked' in html
    assert "has_code=true" in re.search(r'href="(/feeds/search\.atom[^"]*)"', html).group(1)


def test_list_pages_filter_sort_and_keep_the_choice_on_their_links(site):
    html = site.get(f"/papers/date/{DAY.isoformat()}?has_code=true&sort=stars").text
    assert cards(html) == ["2605.00013", "2605.00012", "2605.00014"]
    assert 'href="/papers/date/2026-05-04?has_code=true&amp;sort=stars" rel="prev"' in html
    assert 'href="/feeds/date/2026-05-05.atom?has_code=true"' in html
    assert re.search(r'<a href="/papers/date/2026-05-05\?sort=stars">All</a>', html)
    plain = site.get(f"/papers/date/{DAY.isoformat()}").text
    assert cards(plain) == ["2605.00011", "2605.00012", "2605.00013", "2605.00014"]
    assert re.search(r'<a href="/papers/date/2026-05-05\?has_code=true">With code</a>', plain)
    assert site.get(f"/papers/date/{DAY.isoformat()}?sort=nonsense").status_code == 400
    assert site.get(f"/papers/date/{DAY.isoformat()}?has_code=perhaps").status_code == 400
    empty = site.get("/papers/date/2026-05-04?has_code=true&sort=stars")
    assert cards(empty.text) == ["2605.00015"]


def test_trending_and_feeds_take_has_code(site):
    trending = site.get("/papers/trending?has_code=true").text
    assert set(cards(trending)) == {"2605.00012", "2605.00013", "2605.00014", "2605.00015"}
    api = ids(site.get("/api/daily_papers?sort=trending&has_code=true").json())
    assert set(api) == set(cards(trending))
    feed = feedparser.parse(site.get(f"/feeds/date/{DAY.isoformat()}.atom?has_code=true").content)
    assert not feed.bozo and feed.feed.title.endswith("· with code")
    assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == WITH_CODE
    trending_feed = feedparser.parse(site.get("/feeds/trending.atom?has_code=true").content)
    assert {e.id.rsplit("/", 1)[1] for e in trending_feed.entries} == set(cards(trending))
    assert site.get("/feeds/trending.atom?has_code=2").status_code == 400


def test_trending_on_github_ranks_the_stars_gained_between_two_imports(site, db):
    def again(entry, stars):
        return DailyEntryRecord(paper=_with_stars(entry.paper, stars), day=entry.day, upvotes=entry.upvotes)

    assert site.get("/api/papers/trending/github").json() == []  # no import raised stars yet
    assert "stars have risen between two imports yet" in site.get("/papers/trending/github").text
    by_id = {e.paper.arxiv_id: e for e in ENTRIES}
    Importer(db).run(
        [
            again(by_id["2605.00012"], 40),  # 10 -> 40: +30
            again(by_id["2605.00013"], 905),  # 900 -> 905: +5
            again(by_id["2605.00015"], 4),  # 5 -> 4: stars never go down, nothing gained
            again(by_id["2605.00014"], 50),  # unknown -> 50: a first count, not a gain
        ]
    )
    items = site.get("/api/papers/trending/github").json()
    assert [(i["paper"]["id"], i["starsGained"]) for i in items] == [("2605.00012", 30), ("2605.00013", 5)]
    html = site.get("/papers/trending/github").text
    assert cards(html) == ["2605.00012", "2605.00013"]
    assert "+30 stars (now 40)" in html and "+5 stars (now 905)" in html
    assert 'href="/papers/trending/github"' in site.get("/papers/trending").text


def _with_stars(paper: PaperRecord, stars: int) -> PaperRecord:
    import dataclasses

    return dataclasses.replace(paper, github_stars=stars)
