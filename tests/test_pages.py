"""The HTML pages through FastAPI's in-process client on a real database: the fixtures of
tests/data/hf_daily plus a few records of our own (hostile text, math, an old-style id, a long day)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord
from dailypapers.periods import month_period, today
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from dailypapers.web.pages import PAGE_SIZE
from tests.conftest import TEST_DATA
from tests.support.settle import settled
from tests.support.browser import MATH_ID, math_entry

STATIC = Path(__file__).resolve().parent.parent / "dailypapers" / "web" / "static"
EVIL_ID = "2506.00666"
OLD_ID = "hep-th/9901001"
LONG_DAY = date(2025, 3, 3)
LONG_COUNT = PAGE_SIZE + 7


def _extra_records() -> list:
    evil = PaperRecord(
        arxiv_id=EVIL_ID,
        title="<script>alert('title')</script> Robust attention",
        abstract='Robust attention <img src=x onerror="alert(1)"> with <b>bold</b> claims.',
        authors=["Mallory <b>Evil</b>", "Trent"],
        published_at=datetime(2026, 6, 28, tzinfo=UTC),
        organization=Organization("evil<lab>", "Evil <i>Lab</i>"),
    )
    old = PaperRecord(
        arxiv_id=OLD_ID,
        title="Old-style strings",
        abstract="A 1999 paper about strings.",
        authors=["A. Physicist"],
        categories=["hep-th", "gr-qc"],
        primary_category="hep-th",
        published_at=datetime(1999, 1, 4, tzinfo=UTC),
        version=2,
    )
    bulk = [
        DailyEntryRecord(
            paper=PaperRecord(
                arxiv_id=f"2503.{i:05d}",
                title=f"Bulk paper number {i}",
                abstract="Filler text.",
                authors=["Someone"],
            ),
            day=LONG_DAY,
            upvotes=1000 - i,
        )
        for i in range(1, LONG_COUNT + 1)
    ]
    return [math_entry(), DailyEntryRecord(paper=evil, day=date(2026, 6, 29), upvotes=3), old, *bulk]


@pytest.fixture
def settings(settings):
    # the hashing backend: semantic and hybrid search without loading a model
    return settings.model_copy(update={"embedding_backend": "hashing"})


@pytest.fixture
def client(settings, db):
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    Importer(db).run(_extra_records())
    with TestClient(create_app(settings, database=db)) as c:
        yield c


class _Links(HTMLParser):
    """Collects hrefs, <link rel=alternate> and the ids of elements."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.alternates: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"] or "")
        if tag == "link" and a.get("rel") == "alternate":
            self.alternates.append(a)


def links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def atom_links(html: str) -> list[str]:
    return [a["href"] or "" for a in links(html).alternates if a.get("type") == "application/atom+xml"]


def card_html(html: str, arxiv_id: str) -> str:
    start = html.index(f'id="card-{arxiv_id.replace("/", "-")}"')
    return html[start : html.index("</li>", start)]


# --- listings and navigation ---------------------------------------------------------------------


def test_home_is_the_latest_day_with_tabs_and_navigation(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "Daily Papers" in html and "Jun 30, 2026" in html
    ids = re.findall(r'id="card-([^"]+)"', html)
    assert ids == ["2606.26740", "2606.30616", "2606.28480", "2606.24256"]  # most upvoted first
    hrefs = links(html).hrefs
    tabs = ("/papers/date/2026-06-30", "/papers/week/2026-W27", "/papers/month/2026-06", "/papers/trending")
    for tab in tabs:
        assert tab in hrefs, tab
    assert 'rel="prev"' in html and "/papers/date/2026-06-29" in hrefs  # the previous day with papers
    assert 'rel="next"' not in html  # nothing after the latest day
    assert 'aria-current="page">Daily' in html
    assert "Get trending papers in your email inbox!" in html and 'href="/subscribe"' in html
    assert client.get("/papers").text.count('class="card"') == 4  # /papers alone is the home page


def test_day_navigation_uses_the_days_that_have_papers(client):
    html = client.get("/papers/date/2025-01-10").text
    assert re.search(r'href="/papers/date/2024-12-11" rel="prev"', html)
    assert re.search(r'href="/papers/date/2025-03-03" rel="next"', html)
    empty = client.get("/papers/date/2026-06-28")  # a Sunday: no papers, still navigable
    assert empty.status_code == 200 and "No papers were listed this day." in empty.text
    assert "/papers/date/2026-06-26" not in empty.text and "/papers/date/2026-06-29" in empty.text


def test_week_and_month_arrows_lead_to_the_nearest_periods_with_papers(client):
    week = client.get("/papers/week/2024-W23")  # the first week with papers
    assert week.status_code == 200 and week.text.count('class="card"') == 3
    assert (
        'rel="prev"' not in week.text
        and '<span class="arrow disabled" aria-hidden="true">‹</span>' in week.text
    )
    assert 'href="/papers/week/2024-W50" rel="next"' in week.text  # the weeks between have none
    assert 'aria-current="page">Weekly' in week.text
    month = client.get("/papers/month/2025-01")
    assert month.status_code == 200 and month.text.count('class="card"') == 3
    assert 'href="/papers/month/2024-12" rel="prev"' in month.text
    assert 'href="/papers/month/2025-03" rel="next"' in month.text  # February has none
    empty = client.get("/papers/month/2024-09").text  # an empty period still leads to both sides
    assert (
        'href="/papers/month/2024-06" rel="prev"' in empty
        and 'href="/papers/month/2024-12" rel="next"' in empty
    )
    last = client.get("/papers/week/2026-W27").text
    assert 'rel="next"' not in last and 'href="/papers/week/2025-W10" rel="prev"' in last
    current = client.get(f"/papers/month/{month_period(today()).key}").text
    assert 'rel="next"' not in current  # no link into the future


def test_every_link_on_the_main_pages_leads_somewhere(client):
    """Crawl three levels from the main pages: every internal page answers 200 (never a 500)."""
    seen: dict[str, int] = {}
    frontier = ["/", "/papers/trending", "/papers/2606.26740", "/papers?q=video"]
    for _ in range(3):
        found = []
        for url in frontier:
            if url in seen:
                continue
            response = client.get(url)
            seen[url] = response.status_code
            found += [h.split("#")[0] for h in links(response.text).hrefs if h.startswith("/")]
        frontier = [
            h
            for h in dict.fromkeys(found)
            if h and not h.startswith(("/feeds/", "/subscribe", "/static/")) and h not in seen
        ]
    assert len(seen) > 40
    assert {u: s for u, s in seen.items() if s != 200} == {}


def test_card_shows_what_the_hf_card_shows(client):
    raw = json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())[0]
    card = card_html(client.get("/").text, "2606.26740")
    assert 'href="/papers/2606.26740"' in card and "LiveEdit: Towards Real-Time" in card
    assert raw["paper"]["ai_summary"][:60] in card  # the AI summary in front …
    assert "<details" in card and "<summary>Abstract</summary>" in card  # … the abstract one click away
    assert raw["paper"]["summary"][:60] in card
    assert 'href="/organizations/Tsinghua"' in card and "Tsinghua University" in card
    assert 'datetime="2026-06-25"' in card and "Jun 25, 2026" in card
    assert '<span class="votes-n">57</span>' in card
    assert 'href="https://github.com/cp-cp/LiveEdit"' in card and "★ 12" in card
    assert f'href="{raw["paper"]["projectPage"]}"' in card and "Project page" in card
    assert "2 comments on Hugging Face" in card
    assert "Submitted by" in card and "Jack Ma" in card
    no_org = card_html(client.get("/papers/date/2024-06-03").text, "2405.21060")
    assert "/organizations/" not in no_org
    assert '<a href="/authors/Tri%20Dao">Tri Dao</a>, <a href="/authors/Albert%20Gu">Albert Gu</a>' in no_org


def test_trending_page_explains_scores(client):
    page = client.get("/papers/trending")
    assert page.status_code == 200 and 'aria-current="page">Trending' in page.text
    ids = re.findall(r'id="card-([^"]+)"', page.text)
    assert ids[0] == MATH_ID and "2606.26740" in ids
    assert "Trending score" in page.text
    assert 'title="score = upvotes / (hours since listed + 2)^1.8"' in page.text


# --- paging and the htmx fragment ------------------------------------------------------------------


def test_more_papers_works_with_and_without_javascript(client):
    first = client.get("/papers/date/2025-03-03")
    assert first.text.count('class="card"') == PAGE_SIZE
    assert f"{LONG_COUNT} papers" in first.text
    assert 'href="/papers/date/2025-03-03?p=1" hx-get="/papers/date/2025-03-03?p=1"' in first.text
    assert 'hx-target="#cards" hx-swap="beforeend"' in first.text

    plain = client.get("/papers/date/2025-03-03?p=1")  # no JavaScript: a whole page
    assert plain.text.startswith("<!doctype html>")
    assert plain.text.count('class="card"') == LONG_COUNT - PAGE_SIZE
    assert "Back to the first page" in plain.text and "?p=2" not in plain.text
    assert re.findall(r'id="card-([^"]+)"', plain.text)[0] == f"2503.{PAGE_SIZE + 1:05d}"

    fragment = client.get("/papers/date/2025-03-03?p=1", headers={"HX-Request": "true", "HX-Target": "cards"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "<header" not in fragment.text
    assert fragment.text.count('class="card"') == LONG_COUNT - PAGE_SIZE
    assert 'id="more" class="more" hx-swap-oob="true"' in fragment.text and "More papers" not in fragment.text
    assert "HX-Request" in fragment.headers["vary"]
    history = {"HX-Request": "true", "HX-Target": "cards", "HX-History-Restore-Request": "true"}
    restore = client.get("/papers/date/2025-03-03?p=1", headers=history)
    assert restore.text.startswith("<!doctype html>")
    beyond = client.get("/papers/date/2025-03-03?p=9")
    assert beyond.status_code == 200 and "Back to the first page" in beyond.text


@pytest.mark.parametrize(
    ("p", "says"),
    [
        ("x", "page must be a number"),
        ("1.5", "page must be a number"),
        ("-1", "page must be between 0 and"),
        ("99999999", "page must be between 0 and"),
    ],
)
def test_a_bad_page_number_is_a_400_page(client, p, says):
    r = client.get(f"/papers/date/2025-03-03?p={p}")
    assert r.status_code == 400 and says in r.text and 'href="/"' in r.text


# --- one paper -------------------------------------------------------------------------------------


def test_paper_page_shows_everything_we_know(client):
    raw = json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())[0]["paper"]
    page = client.get("/papers/2606.26740")
    assert page.status_code == 200
    html = page.text
    names = [a["name"] for a in raw["authors"]]
    positions = [html.index(f'<li><a href="/authors/{quote(n, safe="")}">{n}</a></li>') for n in names]
    assert positions == sorted(positions)  # authors in order
    assert raw["summary"][-80:] in html and raw["ai_summary"] in html
    assert all(f"<li>{k}</li>" in html for k in raw["ai_keywords"])
    assert 'href="/organizations/Tsinghua"' in html
    assert 'href="https://arxiv.org/abs/2606.26740"' in html
    assert 'href="https://arxiv.org/pdf/2606.26740"' in html
    assert 'href="https://github.com/cp-cp/LiveEdit"' in html and "★ 12" in html
    assert f'href="{raw["projectPage"]}"' in html
    assert 'href="/papers/date/2026-06-30"' in html  # the day it was listed
    assert "Upvotes <strong>57</strong>" in html
    assert "Why it trends" in html and "trending score" in html and "57 upvotes" in html
    assert 'href="/papers/2606.26740.md"' in html


def test_versions_and_old_style_ids(client):
    assert client.get("/papers/2606.26740v2").status_code == 200
    versioned = client.get("/papers/2606.26740v2").text
    assert 'rel="canonical" href="http://127.0.0.1:8000/papers/2606.26740"' in versioned
    old = client.get(f"/papers/{OLD_ID}")
    assert old.status_code == 200 and "Old-style strings" in old.text and "<li>gr-qc</li>" in old.text
    assert client.get(f"/papers/{OLD_ID}v2").status_code == 200
    assert "Old-style strings" in client.get(f"/papers/{OLD_ID}.md").text


def test_markdown_page(client):
    r = client.get("/papers/2606.26740.md")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    text = r.text
    assert text.startswith("# LiveEdit: Towards Real-Time Diffusion-Based Streaming Video Editing\n")
    assert "**Authors:** Xinyu Wang, Chongbo Zhao" in text and "## Abstract" in text
    assert "https://arxiv.org/abs/2606.26740" in text
    assert "https://github.com/cp-cp/LiveEdit (12 stars)" in text
    assert client.get("/papers/2606.26740v2.md").text == text
    assert client.get("/papers/2601.99999.md").status_code == 404


def test_huggingface_hub_reads_the_markdown_page(settings, db, monkeypatch):
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    # loading the local model earlier in this process put the Hub library offline; this server is local
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    from tests.support.browser import live_server

    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    with live_server(settings, db) as url:
        api = HfApi(endpoint=url, token=False)
        assert api.read_paper("2606.26740").startswith("# LiveEdit")
        with pytest.raises(HfHubHTTPError):
            api.read_paper("2601.99999")


# --- safety, math, errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/papers/date/2026-06-29",
        f"/papers/{EVIL_ID}",
        "/papers?q=robust+attention",
        "/organizations/evil%3Clab%3E",
        "/papers/trending",
    ],
)
def test_hostile_text_is_escaped_everywhere(client, url):
    r = client.get(url)
    assert r.status_code == 200
    html = r.text
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>bold</b>" not in html and "<i>Lab</i>" not in html
    assert "&lt;img src=x onerror=" in html and "Evil &lt;i&gt;Lab&lt;/i&gt;" in html
    if url == f"/papers/{EVIL_ID}":
        link = '<a href="/authors/Mallory%20%3Cb%3EEvil%3C%2Fb%3E">Mallory &lt;b&gt;Evil&lt;/b&gt;</a>'
        assert link in html


def test_math_is_left_for_katex(client):
    for url in ("/papers/date/2026-06-29", f"/papers/{MATH_ID}"):
        html = client.get(url).text
        assert re.search(r'class="[^"]*\btex\b[^"]*"[^>]*>(<a [^>]*>)?Why \$E=mc\^2\$ Still Matters', html)
        assert "/static/vendor/katex/katex.min.js" in html
        assert "/static/vendor/katex/auto-render.min.js" in html
        assert "/static/vendor/katex/katex.min.css" in html and "/static/app.js" in html
    html = client.get(f"/papers/{MATH_ID}").text
    assert r"attention obeys \(a^2+b^2=c^2\)" in html and r"$$\int_0^1 x^2\,dx = \frac{1}{3}$$" in html


def test_vendored_assets_are_served_and_small(client):
    for path in (
        "vendor/katex/katex.min.js",
        "vendor/katex/auto-render.min.js",
        "vendor/katex/katex.min.css",
        "vendor/katex/fonts/KaTeX_Main-Regular.woff2",
        "vendor/htmx/htmx.min.js",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui.css",
        "vendor/redoc/redoc.standalone.js",
        "api-docs.js",
        "app.js",
        "style.css",
        "favicon.svg",
    ):
        assert client.get(f"/static/{path}").status_code == 200, path
    vendor = STATIC / "vendor"
    for package in ("katex", "htmx", "swagger-ui", "redoc"):
        assert (vendor / package / "LICENSE").exists(), package

    def size(*packages: str) -> int:
        return sum(f.stat().st_size for p in packages for f in (vendor / p).rglob("*") if f.is_file())

    assert size("katex", "htmx") < 800_000  # what the site's pages load
    assert size("swagger-ui", "redoc") < 3_500_000  # the API docs pages' alone
    assert not (vendor / "axe-core").exists() and not list(STATIC.rglob("axe*.js"))  # the tests' alone
    css = (vendor / "katex" / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert fonts and all((vendor / "katex" / f).exists() for f in fonts)


@pytest.mark.parametrize(
    "url, status",
    [
        ("/papers/2501.99999", 404),
        ("/papers/not-an-id", 404),
        ("/papers/%3Cscript%3E", 404),
        ("/papers/2501.99999.md", 404),
        ("/organizations/nobody", 404),
        ("/organizations/", 404),
        ("/papers/date/2026-13-01", 400),
        ("/papers/date/yesterday", 400),
        ("/papers/date/2026-02-30", 400),
        ("/papers/week/2026-W60", 400),
        ("/papers/week/2026-27", 400),
        ("/papers/month/2026-00", 400),
        ("/papers/month/june", 400),
        ("/papers/date/", 404),
        ("/no/such/page", 404),
    ],
)
def test_errors_are_friendly_pages_never_500(client, url, status):
    r = client.get(url)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert 'href="/"' in r.text and "Back to today" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize(
    "url",
    [
        "/papers/date/9999-12-31",
        "/papers/date/0001-01-01",
        "/papers/week/9999-W52",
        "/papers/week/0001-W01",
        "/papers/month/9999-12",
        "/papers/month/0001-01",
        "/papers/month/0000-01",
        "/papers/week/2026-W00",
    ],
)
def test_the_ends_of_the_calendar_never_give_a_500(client, url):
    r = client.get(url)
    assert r.status_code in (200, 400) and 'href="/"' in r.text


# --- search, organizations, feeds -----------------------------------------------------------------


def test_search_page(client):
    r = client.get("/papers?q=streaming video editing")
    assert r.status_code == 200
    assert re.findall(r'id="card-([^"]+)"', r.text)[0] == "2606.26740"
    assert 'value="streaming video editing"' in r.text and 'hx-target="#results"' in r.text
    assert 'for="q"' in r.text  # the input is labelled
    assert "No paper matches “zzzzqqq”." in client.get("/papers?q=zzzzqqq").text
    live = client.get("/papers?q=video", headers={"HX-Request": "true", "HX-Target": "results"})
    assert live.text.lstrip().startswith('<div id="results"') and "<html" not in live.text


@pytest.mark.parametrize(
    ("q", "hint"),
    [
        ("", "Type a few words"),
        ("   ", "Type a few words"),
        ("%25%25", "no words to look for"),
        ("*", "no words to look for"),
        ('""', "no words to look for"),
    ],
)
def test_a_search_without_words_gets_a_hint_not_an_error(client, q, hint):
    r = client.get(f"/papers?q={q}")
    assert r.status_code == 200
    assert hint in r.text
    assert 'class="card"' not in r.text


def test_organization_page(client):
    r = client.get("/organizations/Tsinghua")
    assert r.status_code == 200
    assert "<h1>Tsinghua University</h1>" in r.text and "1 paper" in r.text
    assert re.findall(r'id="card-([^"]+)"', r.text) == ["2606.26740"]


def test_listing_pages_advertise_their_atom_feed(client):
    expected = {
        "/": "/feeds/daily.atom",
        "/papers/date/2024-06-03": "/feeds/date/2024-06-03.atom",
        "/papers/week/2024-W23": "/feeds/week/2024-W23.atom",
        "/papers/month/2024-06": "/feeds/month/2024-06.atom",
        "/papers/trending": "/feeds/trending.atom",
        "/organizations/Tsinghua": "/feeds/organizations/Tsinghua.atom",
        "/organizations/evil%3Clab%3E": "/feeds/organizations/evil%3Clab%3E.atom",
        "/papers?q=video editing": "/feeds/search.atom?q=video+editing",
    }
    for url, feed in expected.items():
        html = client.get(url).text
        assert atom_links(html) == [feed], url
        assert re.search(r'<link rel="alternate" type="application/atom\+xml" title="[^"]+" href=', html)


def test_pages_have_landmarks_and_labels(client):
    html = client.get("/").text
    assert '<html lang="en">' in html and '<main id="main"' in html
    assert "<header" in html and "<footer" in html
    assert 'href="#main"' in html  # skip link
    assert '<label for="site-q"' in html and 'id="site-q"' in html
    assert 'aria-label="Main"' in html and 'aria-label="Listings"' in html


@pytest.mark.parametrize(
    "small, large",
    [
        ("/papers/date/2024-06-03", "/papers/date/2025-03-03"),
        ("/papers?q=Transformers", "/papers?q=bulk"),
        ("/organizations/Tsinghua", "/organizations/mass-energy-lab"),
    ],
)
def test_queries_per_page_do_not_grow_with_the_cards(settings, db, small, large):
    from sqlalchemy import event

    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    Importer(db).run(_extra_records())
    uncached = settings.model_copy(update={"response_cache": False})  # every request renders
    client = TestClient(create_app(uncached, database=db)).__enter__()

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    settled(client).get(small)  # warm up: the first request opens the connection (pragmas)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        client.get(small)
        few = len(statements)
        statements.clear()
        client.get(large)
        many = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        client.__exit__(None, None, None)
    assert few > 0 and many <= few, (
        few,
        many,
    )  # more cards never mean more queries (a search may add one fallback)
