"""Author pages and feeds: an author's papers newest first, matched by name key on either backend."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import quote

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord
from dailypapers.search.authors import author_profile
from dailypapers.store.importer import Importer
from dailypapers.store.models import Paper
from dailypapers.web.app import create_app


def _paper(arxiv_id: str, authors: list[str], day: int, org: Organization | None = None) -> DailyEntryRecord:
    return DailyEntryRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            title=f"Analytical engines, part {arxiv_id[-1]}",
            abstract="On the engine and its programs.",
            authors=authors,
            published_at=datetime(2026, 6, day, 9, tzinfo=UTC),
            organization=org,
        ),
        day=date(2026, 6, day),
        upvotes=day,
    )


PAPERS = [
    _paper(
        "2606.00001", ["Ada Lovelace", "Charles Babbage"], 1, Organization("analytical", "Analytical Society")
    ),
    _paper("2606.00002", ["ADA LOVELACE", "Mary Somerville", "Charles Babbage"], 10),
    _paper("2606.00003", ["Grace Ada", "Lovelace Smith"], 12),  # the words, across two authors: not her
    _paper("2606.00004", ["Ada Byron"], 13),
    _paper(
        "2606.00005", ["Zoë Ångström", "Ada  Lovelace"], 5, Organization("analytical", "Analytical Society")
    ),
    _paper("2606.00006", ["Mallory <b>Evil</b>", "AC/DC"], 6),
]


@pytest.fixture
def site(settings, db):
    Importer(db).run(PAPERS)
    with TestClient(
        create_app(settings.model_copy(update={"embedding_backend": "hashing"}), database=db)
    ) as c:
        yield c


def cards(html: str) -> list[str]:
    return re.findall(r'id="card-([^"]+)"', html)


def test_an_author_page_lists_their_papers_newest_first_and_only_theirs(site):
    r = site.get("/authors/Ada Lovelace")
    assert r.status_code == 200, r.text
    assert cards(r.text) == ["2606.00002", "2606.00005", "2606.00001"]
    assert "<h1>Ada Lovelace</h1>" in r.text and "3 papers" in r.text
    # another spelling of the same key is the same page; another person is not
    assert cards(site.get("/authors/ada lovelace").text) == cards(r.text)
    assert cards(site.get("/authors/ADA%20LOVELACE").text) == cards(r.text)
    assert cards(site.get("/authors/Grace Ada").text) == ["2606.00003"]
    # co-authors by the papers shared, each a link; the organization of her papers
    assert re.search(
        r'<a href="/authors/Charles%20Babbage">Charles Babbage</a> <span class="muted">2</span>', r.text
    )
    assert 'href="/authors/Mary%20Somerville"' in r.text and "Grace Ada" not in r.text
    assert 'href="/organizations/analytical"' in r.text
    assert '<link rel="alternate" type="application/atom+xml"' in r.text
    assert 'href="/feeds/authors/Ada%20Lovelace.atom"' in r.text


def test_the_profile_counts_coauthors_and_organizations(db):
    Importer(db).run(PAPERS)
    with db.session() as session:
        profile = author_profile(session, "Charles Babbage")
        assert profile is not None and profile.total == 2
        assert dict(profile.coauthors) == {"Ada Lovelace": 2, "Mary Somerville": 1}  # the most used spelling
        assert [(o.name, n) for o, n in profile.organizations] == [("analytical", 1)]
        assert author_profile(session, "Nobody Here") is None
        assert author_profile(session, "   ") is None
        assert author_profile(session, "x" * 100_000) is None


def test_paper_pages_link_every_author(site):
    html = site.get("/papers/2606.00006").text
    assert '<a href="/authors/Mallory%20%3Cb%3EEvil%3C%2Fb%3E">Mallory &lt;b&gt;Evil&lt;/b&gt;</a>' in html
    assert '<a href="/authors/AC%2FDC">AC/DC</a>' in html
    page = site.get("/authors/AC%2FDC")
    assert page.status_code == 200 and cards(page.text) == ["2606.00006"]
    evil = site.get("/authors/" + quote("Mallory <b>Evil</b>", safe=""))
    assert evil.status_code == 200 and "<b>Evil</b>" not in evil.text
    assert "Mallory &lt;b&gt;Evil&lt;/b&gt;" in evil.text


def test_an_unknown_author_is_a_404_with_a_message(site):
    r = site.get("/authors/Nobody Here")
    assert r.status_code == 404 and "no paper by an author named" in r.text
    assert site.get("/feeds/authors/Nobody%20Here.atom").status_code == 404


def test_an_author_feed_parses_and_lists_their_papers(site):
    r = site.get("/feeds/authors/Ada%20Lovelace.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Papers by Ada Lovelace"
    assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == ["2606.00002", "2606.00005", "2606.00001"]
    slash = feedparser.parse(site.get("/feeds/authors/AC%2FDC.atom").content)
    assert [e.id.rsplit("/", 1)[1] for e in slash.entries] == ["2606.00006"]


def test_a_claimed_name_shows_its_hugging_face_account_on_the_page_and_in_the_api(settings, db):
    claimed = _paper("2606.00001", ["Ada Lovelace", "Charles Babbage"], 1)
    claimed.paper.author_users = {"Ada Lovelace": "ada-l"}
    Importer(db).run([*PAPERS, claimed])
    Importer(db).run([_paper("2606.00001", ["Ada Lovelace", "Charles Babbage"], 1)])  # a capture without it
    with db.session() as session:
        profile = author_profile(session, "Ada Lovelace")
        assert profile is not None and profile.handle == "ada-l"
        assert author_profile(session, "Charles Babbage").handle is None
    app = create_app(settings.model_copy(update={"embedding_backend": "hashing"}), database=db)
    with TestClient(app) as site:
        html = site.get("/authors/Ada Lovelace").text
        assert (
            'claimed by <a href="https://huggingface.co/ada-l" rel="noopener noreferrer">@ada-l</a>' in html
        )
        authors = site.get("/api/papers/2606.00001").json()["authors"]
        assert authors[0]["name"] == "Ada Lovelace" and authors[0]["user"]["user"] == "ada-l"
        assert "user" not in authors[1]


def _card(html: str, arxiv_id: str) -> str:
    start = html.index(f'id="card-{arxiv_id}"')
    return html[start : html.index("</li>", html.index('class="meta"', start))]


def test_cards_link_their_authors_and_fold_a_long_list(site, db):
    many = [f"Author Number{i}" for i in range(1, 8)]
    Importer(db).run([_paper("2606.00007", many, 6)])
    html = site.get("/papers/date/2026-06-06").text
    evil = _card(html, "2606.00006")
    assert '<a href="/authors/Mallory%20%3Cb%3EEvil%3C%2Fb%3E">Mallory &lt;b&gt;Evil&lt;/b&gt;</a>' in evil
    assert '<a href="/authors/AC%2FDC">AC/DC</a>' in evil and "<b>Evil</b>" not in evil
    long = _card(html, "2606.00007")
    linked = re.findall(r'<a href="/authors/([^"]+)">', long)
    assert linked == [quote(name, safe="") for name in many[:3]]
    assert '<a class="authors-more" href="/papers/2606.00007#authors">and 4 more</a>' in long
    assert 'id="authors"' in site.get("/papers/2606.00007").text
    assert site.get("/authors/" + linked[0]).status_code == 200


def test_initial_keys():
    from dailypapers.names import initial_keys

    assert initial_keys("john ronald smith") == ("j r smith", "j smith")
    assert initial_keys("ada lovelace") == ("a lovelace",)
    assert initial_keys("j smith") == () and initial_keys("plato") == () and initial_keys("") == ()


def test_initials_join_the_full_name_only_with_a_coauthor_in_common(site, db):
    from dailypapers.search.authors import newest_paper_ids

    Importer(db).run(
        [
            _paper("2606.00008", ["A. Lovelace", "Charles Babbage"], 14),  # her co-author: her
            _paper("2606.00009", ["A. Lovelace", "Alan Turing"], 15),  # nobody she wrote with: not known
        ]
    )
    page = site.get("/authors/Ada Lovelace")
    assert cards(page.text) == ["2606.00008", "2606.00002", "2606.00005", "2606.00001"]
    assert "<h1" in page.text and "Ada Lovelace" in page.text  # the page keeps the full name
    assert "2606.00009" not in page.text
    # the initials keep their own page with both of their papers
    assert cards(site.get("/authors/A. Lovelace").text) == ["2606.00009", "2606.00008"]
    with db.session() as session:
        newest = newest_paper_ids(session, "Ada Lovelace")
        arxiv = dict(session.execute(select(Paper.id, Paper.arxiv_id).where(Paper.id.in_(newest))).all())
    assert newest == sorted(newest, reverse=True)  # the most recently imported first
    assert {arxiv[i] for i in newest} == set(cards(page.text))  # what a follow brings: the page's papers
    feed = feedparser.parse(site.get("/feeds/authors/Ada%20Lovelace.atom").content)
    assert any("2606.00008" in e.link for e in feed.entries)
    assert not any("2606.00009" in e.link for e in feed.entries)
