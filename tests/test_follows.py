"""Following authors, organizations, categories and searches: the API, /following, the private feed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import quote

import feedparser
import pytest

from dailypapers.community import follows
from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord
from dailypapers.store.importer import Importer
from dailypapers.store.models import Follow
from tests.support.community import PASSWORD, clients, community_settings


def _entry(arxiv_id: str, authors: list[str], day: int, **paper: object) -> DailyEntryRecord:
    return DailyEntryRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            title=f"Notes on the analytical engine, part {arxiv_id[-2:]}",
            abstract="How a machine may weave algebraic patterns.",
            authors=authors,
            published_at=datetime(2026, 6, day, 9, tzinfo=UTC),
            **paper,
        ),
        day=date(2026, 6, day),
        upvotes=day,
    )


SOCIETY = Organization("analytical", "Analytical Society")
PAPERS = [
    _entry("2606.00101", ["Ada Lovelace", "Charles Babbage"], 1),
    _entry("2606.00102", ["Mary Somerville"], 2, organization=SOCIETY),
    _entry("2606.00103", ["Grace Hopper"], 3, categories=["cs.PL"], primary_category="cs.PL"),
    _entry("2606.00104", ["Alan Turing"], 4),
]
NEW_BY_ADA = _entry("2606.00109", ["Charles Babbage", "ADA LOVELACE"], 9)


@pytest.fixture
def site(settings, db):
    Importer(db).run(PAPERS)
    with clients(community_settings(settings), db) as made:
        yield made


def ids(items: list[dict]) -> list[str]:
    return [item["paper"]["id"] for item in items]


def test_follow_through_the_api_and_read_what_it_brings(site, db):
    reader = site.account(db, "reader")
    assert reader.put("/api/me/follows/author/Ada%20Lovelace").json()["label"] == "by Ada Lovelace"
    assert reader.put("/api/me/follows/organization/Analytical Society").json()["value"] == "analytical"
    assert reader.put("/api/me/follows/category/cs.PL").status_code == 200
    assert reader.put("/api/me/follows/search/" + quote('"weave" -babbage', safe="")).status_code == 200
    assert reader.put("/api/me/follows/author/ada lovelace").json()["value"] == "Ada Lovelace"  # same key
    listed = reader.get("/api/me/follows").json()
    assert sorted((f["kind"], f["value"]) for f in listed) == [
        ("author", "Ada Lovelace"),
        ("category", "cs.PL"),
        ("organization", "analytical"),
        ("search", '"weave" -babbage'),
    ]
    items = reader.get("/api/me/following").json()
    reasons = {item["paper"]["id"]: item["reasons"] for item in items}
    assert reasons["2606.00101"] == ["by Ada Lovelace"]
    assert reasons["2606.00102"] == ["from analytical", 'matches your search “"weave" -babbage”']
    assert reasons["2606.00103"] == ["in cs.PL", 'matches your search “"weave" -babbage”']
    assert "2606.00104" in reasons  # Alan Turing: only the search brings him
    assert ids(items) == ["2606.00104", "2606.00103", "2606.00102", "2606.00101"]  # newest first
    assert items[0]["title"] and "numComments" in items[0]  # the item shape of /api/daily_papers

    # a day with a new paper of a followed author: first on /following, with the reason
    Importer(db).run([NEW_BY_ADA])
    newest = reader.get("/api/me/following?limit=1").json()
    assert ids(newest) == ["2606.00109"] and newest[0]["reasons"] == ["by Ada Lovelace"]

    assert reader.delete("/api/me/follows/author/ADA%20LOVELACE").status_code == 204
    assert "2606.00109" not in ids(reader.get("/api/me/following").json())
    assert [f["kind"] for f in reader.get("/api/me/follows").json()] == ["category", "organization", "search"]


def test_bad_follows_are_refused_with_a_message(site, db):
    reader = site.account(db, "reader")
    cases = {
        "/api/me/follows/person/Ada": (400, "kind must be one of"),
        "/api/me/follows/author/%20%20": (400, "is empty"),
        "/api/me/follows/author/" + "x" * 600: (400, "longer than 500"),
        "/api/me/follows/category/cs.CL%3B%20drop": (400, "not an arXiv category"),
        "/api/me/follows/organization/Nowhere": (404, "no organization named"),
        "/api/me/follows/search/-only": (400, "asks for nothing"),
    }
    for url, (status, message) in cases.items():
        r = reader.put(url)
        assert r.status_code == status, (url, r.text)
        assert message in r.text, url
    anonymous = site.new()
    assert anonymous.get("/api/me/follows").status_code == 401
    assert anonymous.put("/api/me/follows/author/Ada%20Lovelace").status_code in (401, 403)
    assert anonymous.get("/api/me/following").status_code == 401


def test_an_account_follows_at_most_a_limit(site, db, monkeypatch):
    monkeypatch.setattr(follows, "MAX_FOLLOWS", 2)
    reader = site.account(db, "reader")
    assert reader.put("/api/me/follows/author/A%20One").status_code == 200
    assert reader.put("/api/me/follows/author/B%20Two").status_code == 200
    r = reader.put("/api/me/follows/author/C%20Three")
    assert r.status_code == 400 and "at most 2" in r.json()["error"]
    assert reader.put("/api/me/follows/author/a%20one").status_code == 200  # already followed: fine


def test_the_following_page_and_its_private_feed(site, db):
    reader = site.account(db, "reader")
    page = reader.get("/authors/Ada%20Lovelace").text
    assert ">Follow</button>" in page
    r = reader.post(
        "/following",
        data={"kind": "author", "value": "Ada Lovelace", "on": "1", "csrf_token": reader.csrf},
        headers={"referer": "http://testserver/authors/Ada%20Lovelace"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/authors/Ada%20Lovelace"
    assert "Following · unfollow" in reader.get("/authors/Ada%20Lovelace").text
    html = reader.get("/following").text
    assert re.findall(r'id="card-([^"]+)"', html) == ["2606.00101"]
    assert "by Ada Lovelace" in html and 'href="/following" aria-current="page"' in html

    made = reader.post("/following/feed", data={"action": "new", "csrf_token": reader.csrf})
    url = re.search(r'<code class="feed-secret">([^<]+)</code>', made.text).group(1)
    path = url.split("://", 1)[1].split("/", 1)[1]
    Importer(db).run([NEW_BY_ADA])
    stranger = site.new()  # a feed reader: no cookie
    got = stranger.get("/" + path)
    assert got.status_code == 200 and got.headers["cache-control"].startswith("private")
    feed = feedparser.parse(got.content)
    assert not feed.bozo and feed.feed.title == "Following"
    assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == ["2606.00109", "2606.00101"]
    assert feed.entries[0].content[0].value.startswith("by Ada Lovelace")

    again = reader.post("/following/feed", data={"action": "new", "csrf_token": reader.csrf})
    newer = re.search(r'<code class="feed-secret">([^<]+)</code>', again.text).group(1)
    assert newer != url and stranger.get("/" + path).status_code == 404  # the old address is dead
    reader.post("/following/feed", data={"action": "revoke", "csrf_token": reader.csrf})
    assert stranger.get("/" + newer.split("://", 1)[1].split("/", 1)[1]).status_code == 404
    assert stranger.get("/feeds/following/nonsense.atom").status_code == 404


def test_follows_are_exported_and_go_with_the_account(site, db):
    reader = site.account(db, "reader")
    reader.put("/api/me/follows/category/cs.PL")
    exported = reader.get("/api/me/export").json()
    assert [(f["kind"], f["value"]) for f in exported["follows"]] == [("category", "cs.PL")]
    with db.session() as session:
        assert session.query(Follow).count() == 1
    assert reader.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    with db.session() as session:
        assert session.query(Follow).count() == 0


def _real_entry(without_code: bool):
    """The recorded Hugging Face entry of 2606.26740, as captured before its code was out (no
    githubRepo, no projectPage) or as it is."""
    import json

    from dailypapers.ingest import hf_daily
    from tests.conftest import TEST_DATA

    raw = json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())[0]
    if without_code:
        for key in ("githubRepo", "projectPage", "githubStars"):
            raw["paper"].pop(key, None)
        raw["paper"]["summary"] = raw["paper"]["summary"].replace("github.com", "example")
    return hf_daily.parse_entry(raw)


def test_code_released_after_a_reader_upvoted_a_paper_is_news_on_following_and_in_the_feed(site, db):
    first = _real_entry(without_code=True)
    assert first.paper.code_url is None and first.paper.project_page is None
    Importer(db).run([first])
    reader = site.account(db, "reader")
    late = site.account(db, "late")
    assert reader.put("/api/papers/2606.26740/upvote").status_code == 200
    assert reader.get("/api/me/following").json() == []  # nothing released yet

    Importer(db).run([_real_entry(without_code=False)])  # the next capture has the code and the page
    items = reader.get("/api/me/following").json()
    assert ids(items) == ["2606.26740"]
    assert items[0]["reasons"] == ["code released", "project page released"]
    assert items[0]["paper"]["githubRepo"] == "https://github.com/cp-cp/LiveEdit"
    # upvoted after the code came: no news for that reader
    assert late.put("/api/papers/2606.26740/upvote").status_code == 200
    assert late.get("/api/me/following").json() == []
    # the private feed says it too
    made = reader.post("/following/feed", data={"action": "new", "csrf_token": reader.csrf})
    url = re.search(r'<code class="feed-secret">([^<]+)</code>', made.text).group(1)
    feed = feedparser.parse(site.new().get("/" + url.split("://", 1)[1].split("/", 1)[1]).content)
    assert [e.id.rsplit("/", 1)[1] for e in feed.entries] == ["2606.26740"]
    assert feed.entries[0].content[0].value.startswith("code released; project page released")
    # the same capture again changes nothing: no second alert time
    from dailypapers.store.models import Paper

    with db.session() as session:
        before = session.query(Paper.code_added_at).filter(Paper.arxiv_id == "2606.26740").scalar()
    Importer(db).run([_real_entry(without_code=False)])
    with db.session() as session:
        assert session.query(Paper.code_added_at).filter(Paper.arxiv_id == "2606.26740").scalar() == before


def test_a_followed_paper_is_news_when_a_new_version_arrives(site, db):
    import dataclasses

    reader = site.account(db, "reader")
    v1 = dataclasses.replace(PAPERS[0].paper, version=1)
    Importer(db).run([dataclasses.replace(PAPERS[0], paper=v1)])
    assert reader.put("/api/me/follows/paper/arXiv:2606.00101v1").json()["value"] == "2606.00101"
    assert reader.put("/api/me/follows/paper/2606.99999").status_code == 404
    assert reader.put("/api/me/follows/paper/not-an-id").status_code == 400
    html = reader.get("/papers/2606.00101").text
    assert 'name="kind" value="paper"' in html and 'name="value" value="2606.00101"' in html
    assert reader.get("/api/me/following").json() == []  # nothing happened to it yet
    v2 = dataclasses.replace(v1, version=2, abstract="A second version of the notes.")
    Importer(db).run([v2])
    items = reader.get("/api/me/following").json()
    assert ids(items) == ["2606.00101"] and items[0]["reasons"] == ["new version v2"]
    assert reader.delete("/api/me/follows/paper/2606.00101v2").status_code == 204  # any spelling of the id
    assert reader.get("/api/me/follows").json() == []


def test_the_following_forms_need_the_form_token_and_a_session(site, db):
    reader = site.account(db, "reader")
    forged = {"kind": "author", "value": "Ada Lovelace", "on": "1", "csrf_token": "forged"}
    assert reader.post("/following", data=forged, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert (
        reader.post("/following/feed", data={"action": "new"}, headers={"X-CSRF-Token": ""}).status_code
        == 403
    )
    assert reader.get("/api/me/follows").json() == []  # nothing was followed
    stranger = site.new()
    assert stranger.post("/following", data={**forged, "csrf_token": ""}).status_code in (401, 403)


def test_following_takes_the_list_filters(site, db):
    reader = site.account(db, "reader")
    assert reader.put("/api/me/follows/author/Grace%20Hopper").status_code == 200
    assert reader.put("/api/me/follows/author/Alan%20Turing").status_code == 200
    assert ids(reader.get("/api/me/following").json()) == ["2606.00104", "2606.00103"]
    assert ids(reader.get("/api/me/following?category=cs").json()) == ["2606.00103"]
    assert ids(reader.get("/api/me/following?year=2025").json()) == []
    assert reader.get("/api/me/following?category=%25").status_code == 400
    html = reader.get("/following?category=cs.PL").text
    assert re.findall(r'id="card-([^"]+)"', html) == ["2606.00103"]
    assert 'name="category" value="cs.PL"' in html
    assert "No paper · published 2001 from what you follow." in reader.get("/following?year=2001").text
