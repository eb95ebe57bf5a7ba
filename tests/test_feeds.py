"""Atom feeds: every feed parses (feedparser, and strictly with ElementTree), says what the database holds
in the order the listings use, links where it should, caches with ETags, fails with JSON errors, and
survives hostile titles and abstracts."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from fastapi.testclient import TestClient

from dailypapers.config import Settings
from dailypapers.ingest import hf_daily
from dailypapers.periods import today
from dailypapers.rank import trending
from dailypapers.store import queries
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import DailyEntry, Paper
from dailypapers.store.state import bump_version
from dailypapers.web.app import create_app
from tests.conftest import TEST_DATA

SITE = "https://papers.example.org"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A trailing slash on purpose: feeds must not write "//papers".
    return settings.model_copy(update={"site_url": SITE + "/", "embedding_backend": "hashing"})


@pytest.fixture
def loaded_db(db: Database) -> Database:
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    return db


@pytest.fixture
def client(settings: Settings, loaded_db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database=loaded_db)) as c:
        yield c


def fetch(client: TestClient, url: str) -> Any:
    """GET a feed, check the HTTP side and that it parses both strictly and with feedparser."""
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.headers["etag"].startswith('"') and r.headers["etag"].endswith('"')
    root = ET.fromstring(r.content)  # well-formed XML, or this raises
    assert root.tag == f"{ATOM}feed"
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def links(item: Any) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in item.links}


def utc(value: datetime) -> tuple[int, ...]:
    return tuple(value.astimezone(timezone.utc).timetuple())[:6]


def parsed(value: Any) -> tuple[int, ...]:
    return tuple(value)[:6]


def expected_updated(paper: Paper, entry: DailyEntry | None) -> datetime:
    times = [t for t in (paper.updated_at, paper.published_at) if t is not None]
    if entry is not None:
        times.append(trending.listed_at(entry))
    return max(times)


def check_entries(feed: Any, pairs: list[tuple[Paper, DailyEntry | None]]) -> None:
    """Each feed entry says what the database holds about its paper, in the same order."""
    assert [e.id for e in feed.entries] == [f"{SITE}/papers/{p.arxiv_id}" for p, _ in pairs]
    for item, (paper, entry) in zip(feed.entries, pairs, strict=True):
        assert item.title == " ".join(paper.title.split())
        assert links(item) == {
            "alternate": f"{SITE}/papers/{paper.arxiv_id}",
            "related": f"https://arxiv.org/abs/{paper.arxiv_id}",
        }
        assert parsed(item.published_parsed) == utc(paper.published_at)
        assert parsed(item.updated_parsed) == utc(expected_updated(paper, entry))
        names = [a["name"] for a in item.authors]
        if len(paper.authors) > 20:
            assert names == paper.authors[:20] + ["et al."]
        else:
            assert names == paper.authors
        assert [t["term"] for t in item.get("tags", [])] == paper.categories
        assert item.summary == (paper.ai_summary or paper.abstract).strip()
        content = item.content[0]
        assert content["type"] == "text/plain"
        votes = entry.upvotes if entry is not None else paper.upvotes
        footer = f"▲ {votes} upvotes" + (f" · code: {paper.code_url}" if paper.code_url else "")
        assert content["value"] == f"{paper.abstract.strip()}\n\n{footer}"
    if pairs:
        newest = max(expected_updated(p, e) for p, e in pairs)
        assert parsed(feed.feed.updated_parsed) == utc(newest)


def check_head(feed: Any, self_path: str, html_path: str, title: str) -> None:
    assert feed.feed.id == f"{SITE}{self_path}"
    assert feed.feed.title == title
    assert links(feed.feed) == {"self": f"{SITE}{self_path}", "alternate": f"{SITE}{html_path}"}
    assert feed.feed.generator == "dailypapers"


# --- every feed says what the database holds ---------------------------------------------------------


def test_daily_feed_is_the_latest_day_by_upvotes(client: TestClient, loaded_db: Database) -> None:
    feed = fetch(client, "/feeds/daily.atom")
    with loaded_db.session() as s:
        day = queries.latest_day(s, today())
        entries, _ = queries.list_entries(s, day, day)
    assert day == date(2026, 6, 30)
    check_head(feed, "/feeds/daily.atom", "/", "Daily Papers — June 30, 2026")
    check_entries(feed, [(e.paper, e) for e in entries])
    assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == [
        "2606.26740",
        "2606.30616",
        "2606.28480",
        "2606.24256",
    ]
    first = feed.entries[0]
    assert first.summary.startswith("A novel streaming video editing framework")  # the AI summary
    assert first.content[0]["value"].endswith("▲ 57 upvotes · code: https://github.com/cp-cp/LiveEdit")
    fifty = feed.entries[1]
    assert len(fifty.authors) == 21 and fifty.authors[-1]["name"] == "et al."


@pytest.mark.parametrize(
    ("url", "html", "title", "start", "end"),
    [
        (
            "/feeds/date/2024-06-03.atom",
            "/papers/date/2024-06-03",
            "Daily Papers — June 3, 2024",
            date(2024, 6, 3),
            date(2024, 6, 3),
        ),
        (
            "/feeds/week/2024-W23.atom",
            "/papers/week/2024-W23",
            "Daily Papers — Week 23, 2024 (Jun 3 – Jun 9)",
            date(2024, 6, 3),
            date(2024, 6, 9),
        ),
        (
            "/feeds/month/2026-06.atom",
            "/papers/month/2026-06",
            "Daily Papers — June 2026",
            date(2026, 6, 1),
            date(2026, 6, 30),
        ),
        (
            "/feeds/month/2025-01.atom",
            "/papers/month/2025-01",
            "Daily Papers — January 2025",
            date(2025, 1, 1),
            date(2025, 1, 31),
        ),
    ],
)
def test_period_feeds_by_upvotes(
    client: TestClient, loaded_db: Database, url: str, html: str, title: str, start: date, end: date
) -> None:
    feed = fetch(client, url)
    with loaded_db.session() as s:
        entries, total = queries.list_entries(s, start, end)
    assert total == len(entries) > 0
    check_head(feed, url, html, title)
    check_entries(feed, [(e.paper, e) for e in entries])
    votes = [int(e.content[0]["value"].rsplit("▲ ", 1)[1].split()[0]) for e in feed.entries]
    assert votes == sorted(votes, reverse=True)


def test_the_api_and_the_feeds_list_the_same_papers(client: TestClient) -> None:
    for query, feed_url in [
        ("", "/feeds/daily.atom"),
        ("?date=2024-12-11", "/feeds/date/2024-12-11.atom"),
        ("?week=2025-W02", "/feeds/week/2025-W02.atom"),
        ("?month=2026-06", "/feeds/month/2026-06.atom"),
    ]:
        api = [i["paper"]["id"] for i in client.get(f"/api/daily_papers{query}").json()]
        feed = fetch(client, feed_url)
        assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == api, feed_url


def test_an_empty_period_is_an_empty_feed(client: TestClient) -> None:
    feed = fetch(client, "/feeds/date/2024-06-04.atom")
    assert feed.entries == []
    check_head(feed, "/feeds/date/2024-06-04.atom", "/papers/date/2024-06-04", "Daily Papers — June 4, 2024")
    # RFC 4287 still wants an <updated>: the start of the day in New York.
    assert parsed(feed.feed.updated_parsed) == (2024, 6, 4, 4, 0, 0)


def test_trending_feed_in_trending_order(client: TestClient, loaded_db: Database) -> None:
    feed = fetch(client, "/feeds/trending.atom")
    with loaded_db.session() as s:
        scored, _ = trending.trending_entries(s, limit=50)
    assert scored
    check_head(feed, "/feeds/trending.atom", "/papers/trending", "Trending papers")
    check_entries(feed, [(e.paper, e) for e, _ in scored])
    api = [i["paper"]["id"] for i in client.get("/api/daily_papers?sort=trending").json()]
    assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == api


def test_organization_feed(client: TestClient, loaded_db: Database) -> None:
    feed = fetch(client, "/feeds/organizations/Tsinghua.atom")
    with loaded_db.session() as s:
        org = queries.organization_by_name(s, "Tsinghua")
        assert org is not None
        papers, _ = queries.organization_papers(s, org.id)
    check_head(
        feed, "/feeds/organizations/Tsinghua.atom", "/organizations/Tsinghua", "Papers by Tsinghua University"
    )
    check_entries(feed, [(p, p.entries[-1] if p.entries else None) for p in papers])
    assert [e.id for e in feed.entries] == [f"{SITE}/papers/2606.26740"]
    meta = fetch(client, "/feeds/organizations/facebook.atom")
    assert meta.feed.title == "Papers by AI at Meta"


def test_search_feed(client: TestClient, loaded_db: Database) -> None:
    feed = fetch(client, "/feeds/search.atom?q=diffusion")
    with loaded_db.session() as s:
        results = client.app.state.parts.application.search.search(s, "diffusion", limit=50)
        papers = [results.papers[h.paper_id] for h in results.hits]
        latest = queries.latest_entries_for(s, [p.id for p in papers])
    assert len(papers) >= 2
    check_head(feed, "/feeds/search.atom?q=diffusion", "/papers?q=diffusion", "Search: diffusion")
    check_entries(feed, [(p, latest.get(p.id)) for p in papers])
    api = [i["paper"]["id"] for i in client.get("/api/papers/search?q=diffusion").json()]
    assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == api
    words = fetch(client, "/feeds/search.atom?q=video%20editing%20%26%20more")
    assert words.feed.title == "Search: video editing & more"
    assert links(words.feed)["alternate"] == f"{SITE}/papers?q=video+editing+%26+more"
    assert fetch(client, "/feeds/search.atom?q=zzzzqqq").entries == []


# --- caching --------------------------------------------------------------------------------------------


def test_etag_and_if_none_match(client: TestClient) -> None:
    first = client.get("/feeds/month/2026-06.atom")
    etag = first.headers["etag"]
    assert client.get("/feeds/month/2026-06.atom").headers["etag"] == etag  # stable
    assert client.get("/feeds/month/2025-01.atom").headers["etag"] != etag
    for header in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
        again = client.get("/feeds/month/2026-06.atom", headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "public, max-age=300"
    stale = client.get("/feeds/month/2026-06.atom", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_the_feeds_own_etag_without_the_response_cache(settings: Settings, loaded_db: Database) -> None:
    """The ETag and the 304 come from the feed itself, not only from a cache in front of it."""
    plain = settings.model_copy(update={"site_url": SITE, "response_cache": False})
    with TestClient(create_app(plain, database=loaded_db)) as c:
        first = c.get("/feeds/trending.atom")
        etag = first.headers["etag"]
        assert etag == '"' + hashlib.sha256(first.content).hexdigest()[:32] + '"'
        again = c.get("/feeds/trending.atom", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["cache-control"] == "public, max-age=300"
        assert c.get("/feeds/trending.atom", headers={"If-None-Match": '"x"'}).status_code == 200


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/feeds/date/2024-13-01.atom", 400),
        ("/feeds/date/yesterday.atom", 400),
        ("/feeds/date/2024-6-3.atom", 400),
        ("/feeds/week/2024-W60.atom", 400),
        ("/feeds/week/2024-23.atom", 400),
        ("/feeds/week/9999-W52.atom", 400),  # ends in the year 10000
        ("/feeds/month/2024-00.atom", 400),
        ("/feeds/month/2024-13.atom", 400),
        ("/feeds/search.atom", 400),
        ("/feeds/search.atom?q=", 400),
        ("/feeds/search.atom?q=%25%25%20%20", 400),
        ("/feeds/organizations/nobody.atom", 404),
        ("/feeds/organizations/tsinghua.atom", 404),
        ("/feeds/nothing.atom", 404),
    ],
)
def test_errors_are_json(client: TestClient, url: str, status: int) -> None:
    r = client.get(url)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json()["error"], str) and r.json()["error"]


def test_error_messages_say_what_is_wrong(client: TestClient) -> None:
    assert client.get("/feeds/date/yesterday.atom").json() == {
        "error": "invalid date 'yesterday': expected YYYY-MM-DD"
    }
    assert client.get("/feeds/organizations/nobody.atom").json() == {"error": "no organization 'nobody'"}
    assert client.get("/feeds/search.atom?q=").json() == {
        "error": "the search needs at least one word or filter"
    }


# --- hostile data -----------------------------------------------------------------------------------------


def test_markup_and_control_characters_are_escaped_and_stripped(
    client: TestClient, loaded_db: Database
) -> None:
    nul = "\x00" if loaded_db.is_sqlite else ""  # PostgreSQL stores no NUL (the importer drops them)
    title = f"<script>alert('x')</script> Evil{nul} & \x07Co\x1b ]]> \ufffe"
    abstract = 'An abstract with <b>tags</b>, \x0bvertical tabs\x0c, a\x01 bell & "quotes".'
    with loaded_db.transaction() as s:
        paper = Paper(
            arxiv_id="2606.99999",
            title=title,
            abstract=abstract,
            authors=["Ada <img src=x onerror=alert(1)>", "\x02", "Bob & Co"],
            categories=["cs.LG", "cs.<CL>"],
            published_at=datetime(2026, 6, 29, 12, tzinfo=timezone.utc),
            code_url="https://example.org/?a=1&b=<2>",
        )
        s.add(paper)
        s.flush()
        s.add(
            DailyEntry(
                paper_id=paper.id,
                day=date(2026, 6, 30),
                upvotes=99,
                submitted_at=datetime(2026, 6, 30, 1, tzinfo=timezone.utc),
            )
        )
        bump_version(s)
    for url in ("/feeds/daily.atom", "/feeds/search.atom?q=evil", "/feeds/trending.atom"):
        raw = client.get(url).content
        assert b"<script>" not in raw and b"&lt;script&gt;" in raw
        assert not any(ch in raw for ch in (b"\x00", b"\x01", b"\x02", b"\x07", b"\x0b", b"\x0c", b"\x1b"))
        feed = fetch(client, url)
        item = next(e for e in feed.entries if e.id == f"{SITE}/papers/2606.99999")
        assert item.title == "<script>alert('x')</script> Evil & Co ]]>"
        assert item.summary == 'An abstract with <b>tags</b>, vertical tabs, a bell & "quotes".'
        assert item.content[0]["value"].endswith("▲ 99 upvotes · code: https://example.org/?a=1&b=<2>")
        assert [a["name"] for a in item.authors] == ["Ada <img src=x onerror=alert(1)>", "Bob & Co"]
        assert [t["term"] for t in item.tags] == ["cs.LG", "cs.<CL>"]
    # The hostile paper has the most votes of the day: the daily feed leads with it.
    assert fetch(client, "/feeds/daily.atom").entries[0].id == f"{SITE}/papers/2606.99999"


def test_a_hostile_search_query_is_escaped_in_the_feed_head(client: TestClient) -> None:
    r = client.get("/feeds/search.atom?q=" + quote("diffusion <script>\x07"))
    assert b"<script>" not in r.content and b"\x07" not in r.content
    feed = fetch(client, "/feeds/search.atom?q=" + quote("diffusion <script>\x07"))
    assert feed.feed.title == "Search: diffusion <script>"
    assert links(feed.feed)["self"] == f"{SITE}/feeds/search.atom?q=diffusion+%3Cscript%3E%07"


def test_papers_with_and_without_optional_fields(client: TestClient, loaded_db: Database) -> None:
    with loaded_db.transaction() as s:
        bare = Paper(
            arxiv_id="2606.99998",
            title="  A   bare\n paper ",
            abstract=None,
            authors=[],
            categories=[],
            published_at=None,
        )
        s.add(bare)
        s.flush()
        s.add(DailyEntry(paper_id=bare.id, day=date(2026, 6, 30), upvotes=1))
        bump_version(s)
    feed = fetch(client, "/feeds/date/2026-06-30.atom")
    item = next(e for e in feed.entries if e.id == f"{SITE}/papers/2606.99998")
    assert item.title == "A bare paper"
    assert [a["name"] for a in item.authors] == ["Unknown"]
    assert "published_parsed" not in item
    assert parsed(item.updated_parsed) == (2026, 6, 30, 4, 0, 0)  # listed: the day's start in New York
    assert item.content[0]["value"] == "▲ 1 upvotes"


@pytest.mark.parametrize(
    "url",
    [
        "/feeds/daily.atom",
        "/feeds/date/2024-06-03.atom",
        "/feeds/week/2024-W23.atom",
        "/feeds/month/2026-06.atom",
        "/feeds/trending.atom",
        "/feeds/organizations/Tsinghua.atom",
        "/feeds/search.atom?q=diffusion",
    ],
)
def test_alternate_links_are_pages_of_this_site(client: TestClient, url: str) -> None:
    feed = fetch(client, url)
    for href in [links(feed.feed)["alternate"]] + [links(e)["alternate"] for e in feed.entries[:3]]:
        assert href.startswith(SITE + "/")
        page = client.get(href.removeprefix(SITE))
        assert page.status_code == 200, href
        assert page.headers["content-type"].startswith("text/html")
