"""Category and year filters on every list page (day, week, month, trending, Trending on GitHub,
organization and author pages), their feeds and ``GET /api/daily_papers``, on either backend."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord
from dailypapers.store.importer import Importer
from dailypapers.store import queries
from dailypapers.store.models import Paper
from dailypapers.store.queries import PaperFilter
from dailypapers.web.app import create_app

DAY = date(2026, 5, 5)
LAB = Organization("fieldlab", "Field Lab")


def _entry(
    arxiv_id: str, categories: list[str], year: int, upvotes: int, *, stars: int | None = None
) -> DailyEntryRecord:
    return DailyEntryRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            title=f"Filtered lists paper {arxiv_id[-2:]}",
            abstract="A paper that only a filter tells apart.",
            authors=["Emmy Noether"],
            categories=categories,
            primary_category=categories[0] if categories else None,
            published_at=datetime(year, 3, 1, 8, tzinfo=UTC),
            code_url="https://github.com/example/filtered" if stars is not None else None,
            github_stars=stars,
            organization=LAB,
        ),
        day=DAY,
        upvotes=upvotes,
    )


ENTRIES = [
    _entry("2605.00031", ["cs.CL"], 2026, 60, stars=10),
    _entry("2605.00032", ["cs.LG", "cs.CL"], 2025, 50),  # cross-listed into cs.CL
    _entry("2605.00033", ["math.AG"], 2026, 40),
    _entry("2605.00034", ["cs.CV"], 2019, 30, stars=3),  # an old paper listed again
    _entry("2605.00035", [], 2026, 20),  # Hugging Face gives no categories
    _entry("2605.00036", ["math-ph"], 2026, 10),  # "math" is not "math-ph"
]


@pytest.fixture
def site(settings, db):
    Importer(db).run(ENTRIES)
    app = create_app(settings.model_copy(update={"cache_check_interval": 0.0}), database=db)
    with TestClient(app) as client:
        yield client


def api(site: TestClient, query: str) -> list[str]:
    response = site.get(f"/api/daily_papers?date={DAY}&{query}")
    assert response.status_code == 200, response.text
    return [item["paper"]["id"] for item in response.json()]


def cards(html: str) -> list[str]:
    return re.findall(r'id="card-([^"]+)"', html)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=cs.CL", ["2605.00031", "2605.00032"]),
        ("category=CS.cl", ["2605.00031", "2605.00032"]),  # categories ignore case
        ("category=cs", ["2605.00031", "2605.00032", "2605.00034"]),  # an archive takes its categories
        ("category=cs.C", []),  # not a prefix match
        ("category=math", ["2605.00033"]),
        ("year=2026", ["2605.00031", "2605.00033", "2605.00035", "2605.00036"]),
        ("year=2019..2025", ["2605.00032", "2605.00034"]),
        ("year=<2025", ["2605.00034"]),
        ("year=2025..", ["2605.00031", "2605.00032", "2605.00033", "2605.00035", "2605.00036"]),
        ("category=cs&year=2026", ["2605.00031"]),
        ("category=cs&has_code=true", ["2605.00031", "2605.00034"]),
        ("category=&year=", [f"2605.0003{i}" for i in range(1, 7)]),  # empty means no filter
    ],
)
def test_the_api_filters_a_day_by_category_and_year(site, query, expected):
    assert api(site, query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("category=cs.CL%25", "category must be an arXiv category"),
        ("category=cs_CL", "category must be an arXiv category"),
        ("year=20x5", "year must be a year"),
        ("year=99999", "year must be a year"),
    ],
)
def test_a_bad_category_or_year_is_a_400_naming_it(site, query, message):
    response = site.get(f"/api/daily_papers?date={DAY}&{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]
    page = site.get(f"/papers/date/{DAY}?{query}")
    assert page.status_code == 400
    assert message in page.text


def test_trending_and_the_trending_api_take_the_filters(site):
    assert cards(site.get("/papers/trending?category=cs.CL").text) == ["2605.00031", "2605.00032"]
    trending = site.get("/api/daily_papers?sort=trending&year=2026&category=math").json()
    assert [item["paper"]["id"] for item in trending] == ["2605.00033"]


def test_every_list_page_filters_and_keeps_the_filter_on_its_links(site):
    pages = {
        f"/papers/date/{DAY}": ["2605.00031", "2605.00032"],
        "/papers/week/2026-W19": ["2605.00031", "2605.00032"],
        "/papers/month/2026-05": ["2605.00031", "2605.00032"],
        "/": ["2605.00031", "2605.00032"],
        "/organizations/fieldlab": ["2605.00031", "2605.00032"],
        "/authors/Emmy%20Noether": ["2605.00031", "2605.00032"],
    }
    for path, expected in pages.items():
        response = site.get(f"{path}?category=cs.CL&year=2025..2026")
        assert response.status_code == 200, path
        assert sorted(cards(response.text)) == expected, path
        html = response.text
        # the form shows what is asked, and a way back to everything
        assert 'name="category" value="cs.CL"' in html, path
        assert 'name="year" value="2025..2026"' in html, path
        assert f'href="{path}">Clear</a>' in html, path
        # the feed of the page is the feed of the same papers
        feed_link = re.search(r'type="application/atom\+xml"[^>]*', html)[0]
        assert "category=cs.CL&amp;year=2025..2026" in feed_link
    week = site.get("/papers/week/2026-W18?category=cs&has_code=true&sort=stars").text
    # the week with papers after this empty one and the "With code"/"All" links keep the category and the
    # order
    assert re.search(r'href="/papers/week/2026-W19\?has_code=true&amp;category=cs&amp;sort=stars"', week)
    assert 'href="/papers/week/2026-W18?category=cs&amp;sort=stars"' in week  # "All" drops has_code only
    # the form sends the other choices along
    assert '<input type="hidden" name="has_code" value="true">' in week
    assert '<input type="hidden" name="sort" value="stars">' in week


def test_an_empty_filtered_list_says_what_it_was_filtered_by(site):
    html = site.get(f"/papers/date/{DAY}?category=q-bio").text
    assert cards(html) == []
    assert "No papers · q-bio were listed this day." in html
    author = site.get("/authors/Emmy%20Noether?year=2001").text
    assert "No papers · published 2001 by Emmy Noether." in author


def test_feeds_take_the_filters(site):
    feed = feedparser.parse(site.get(f"/feeds/date/{DAY}.atom?category=math").content)
    assert [e.link.rsplit("/", 1)[-1] for e in feed.entries] == ["2605.00033"]
    assert feed.feed.title.endswith("· math")
    trending = feedparser.parse(site.get("/feeds/trending.atom?year=2019").content)
    assert [e.link.rsplit("/", 1)[-1] for e in trending.entries] == ["2605.00034"]
    org = feedparser.parse(site.get("/feeds/organizations/fieldlab.atom?category=cs&has_code=1").content)
    assert sorted(e.link.rsplit("/", 1)[-1] for e in org.entries) == ["2605.00031", "2605.00034"]
    author = feedparser.parse(site.get("/feeds/authors/Emmy%20Noether.atom?year=2025").content)
    assert [e.link.rsplit("/", 1)[-1] for e in author.entries] == ["2605.00032"]
    assert site.get("/feeds/daily.atom?category=%3Cb%3E").status_code == 400


def test_the_filter_in_python_agrees_with_the_filter_in_sql(db):
    Importer(db).run(ENTRIES)
    filters = [
        PaperFilter(category="cs"),
        PaperFilter(category="math"),
        PaperFilter(category="cs.lg"),
        PaperFilter(year_from=2020),
        PaperFilter(year_to=2025, code=True),
        PaperFilter(category="cs", year_from=2026, year_to=2026),
    ]
    with db.session() as session:
        papers = list(session.scalars(select(Paper)))
        ids = [p.id for p in papers]
        for f in filters:
            in_sql = set(queries.filter_ids(session, ids, f))
            assert in_sql == {p.id for p in papers if f.matches(p)}, f
            assert in_sql, f  # each filter takes something here, so the comparison means something


def test_trending_on_github_takes_the_filters(db, settings):
    Importer(db).run(ENTRIES)
    later = [
        _entry("2605.00031", ["cs.CL"], 2026, 60, stars=50),
        _entry("2605.00034", ["cs.CV"], 2019, 30, stars=40),
    ]
    Importer(db).run(later)
    app = create_app(settings.model_copy(update={"cache_check_interval": 0.0}), database=db)
    with TestClient(app) as site:
        assert cards(site.get("/papers/trending/github").text) == ["2605.00031", "2605.00034"]  # +40, +37
        html = site.get("/papers/trending/github?category=cs.CL").text
        assert cards(html) == ["2605.00031"]
        assert 'name="category" value="cs.CL"' in html
        assert cards(site.get("/papers/trending/github?year=2019").text) == ["2605.00034"]
        assert "No paper · math has gained stars" in site.get("/papers/trending/github?category=math").text
