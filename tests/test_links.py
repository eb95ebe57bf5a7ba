"""Outside links (project pages, code repositories, avatars, thumbnails, media) are only ever absolute
http(s) URLs: the importers drop and count any other, and the pages, the API and the feeds show no
other even when a row in the database holds one."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings as hypothesis_settings, strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from dailypapers.cli import app as cli_app
from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord, Submitter
from dailypapers.store.importer import Importer
from dailypapers.store.models import DailyEntry, Paper
from dailypapers.urls import MAX_URL_LENGTH, safe_http_url
from dailypapers.web.app import create_app
from tests.support.cli_output import summary_table
from tests.support.local_server import LocalServer, Reply

DAY = date(2026, 6, 29)
HOSTILE_ID = "2606.90001"
CLEAN_ID = "2606.90002"
# Each of these runs script, loads something that is not a web page, or points somewhere the record
# did not mean, when it becomes an href or src.
HOSTILE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " JaVa\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/relative/path",
    "relative/path",
    "http:evil.example",
    "https:///evil.example",
    "https://user:secret@evil.example/",
    "https://evil.example/\u202egnp.exe",
    "https://evil.example/a b",
    "https://example.org\\@evil.example/",
    "https://" + "a" * MAX_URL_LENGTH + ".example/",
]
NOT_TEXT = [12345, {"href": "javascript:alert(1)"}, ["javascript:alert(1)"], True]
SAFE = [
    "https://github.com/example/project",
    "http://example.org",
    "HTTPS://Example.org/Page?q=1&r=2#top",
    "https://bücher.example/ä",
    "https://[2001:db8::1]:8443/x",
    "http://127.0.0.1:8000/papers",
]


# --- the validator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE + NOT_TEXT + [None, "", "   "])
def test_safe_http_url_refuses_everything_but_absolute_http_links(value):
    assert safe_http_url(value) is None


@pytest.mark.parametrize("value", SAFE)
def test_safe_http_url_keeps_absolute_http_links_as_they_are(value):
    assert safe_http_url(value) == value
    assert safe_http_url(f"  {value}\n") == value


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda scheme, rest: scheme + rest,
            st.sampled_from(["http://", "https://", "HTTP://", "javascript:", "//", " http://", "data:"]),
            st.text(max_size=40),
        ),
    )
)
def test_whatever_safe_http_url_accepts_is_an_http_link_a_browser_reads_the_same(value):
    url = safe_http_url(value)
    if url is None:
        return
    assert re.match(r"https?://[^/?#]", url, re.IGNORECASE)
    assert not any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url)
    assert "@" not in urlsplit(url).netloc
    assert safe_http_url(url) == url


# --- importers ---------------------------------------------------------------------------------------


def hf_entry(arxiv_id: str, link: object, *, other_links: object = None, title: str = "A paper") -> dict:
    """A Hugging Face daily-papers entry whose projectPage and githubRepo are ``link`` (and, given
    ``other_links``, its avatars, thumbnail and first media URL too)."""
    paper = {
        "id": arxiv_id,
        "title": title,
        "summary": "An abstract without links.",
        "authors": [{"name": "Ada Lovelace"}],
        "publishedAt": "2026-06-28T00:00:00.000Z",
        "submittedOnDailyAt": "2026-06-29T12:00:00.000Z",
        "upvotes": 7,
        "githubStars": 3,
        "projectPage": link,
        "githubRepo": link,
    }
    entry = {"paper": paper, "numComments": 2, "title": title}
    if other_links is not None:
        paper["organization"] = {"name": "lab", "fullname": "The Lab", "avatar": other_links}
        paper["submittedOnDailyBy"] = {"user": "someone", "fullname": "Some One", "avatarUrl": other_links}
        paper["mediaUrls"] = [other_links, "https://cdn.example/ok.png"]
        entry["thumbnail"] = other_links
    return entry


def write_day(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / f"{DAY.isoformat()}.json"
    path.write_text(json.dumps(entries))
    return path


def stored(db, arxiv_id: str) -> tuple[Paper, DailyEntry]:
    with db.session() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == arxiv_id))
        entry = session.scalar(select(DailyEntry).where(DailyEntry.paper_id == paper.id))
        _ = paper.organization
        session.expunge_all()
        return paper, entry


@pytest.mark.parametrize("link", HOSTILE + NOT_TEXT, ids=lambda v: repr(v)[:40])
def test_hf_import_drops_an_unsafe_project_page_and_repository_and_keeps_the_record(db, tmp_path, link):
    clean = "https://github.com/example/clean"
    path = write_day(
        tmp_path,
        [hf_entry(HOSTILE_ID, link, title="Hostile links"), hf_entry(CLEAN_ID, clean, title="Clean links")],
    )
    summary = Importer(db).run(hf_daily.iter_path(path))
    assert (summary.read, summary.new, summary.rejected, summary.unsafe_links) == (2, 2, 0, 2)
    assert summary.as_dict()["unsafe_links"] == 2
    paper, entry = stored(db, HOSTILE_ID)
    assert (paper.code_url, paper.project_page) == (None, None)
    assert (paper.title, paper.abstract, paper.authors, paper.upvotes, paper.github_stars) == (
        "Hostile links",
        "An abstract without links.",
        ["Ada Lovelace"],
        7,
        3,
    )
    assert (entry.day, entry.num_comments) == (DAY, 2)
    paper, _ = stored(db, CLEAN_ID)
    assert (paper.code_url, paper.project_page) == (clean, clean)


def test_hf_import_drops_unsafe_avatars_thumbnails_and_media_too(db, tmp_path):
    path = write_day(
        tmp_path, [hf_entry(HOSTILE_ID, "javascript:alert(1)", other_links="javascript:alert(2)")]
    )
    summary = Importer(db).run(hf_daily.iter_path(path))
    assert (summary.new, summary.rejected, summary.unsafe_links) == (1, 0, 6)
    paper, entry = stored(db, HOSTILE_ID)
    assert paper.organization.name == "lab" and paper.organization.avatar_url is None
    assert entry.submitter_name == "someone" and entry.submitter_avatar_url is None
    assert entry.thumbnail is None
    assert entry.media_urls == ["https://cdn.example/ok.png"]


def test_hugging_face_avatar_paths_become_links_on_huggingface_co(db, tmp_path):
    path = write_day(tmp_path, [hf_entry(HOSTILE_ID, None, other_links="/avatars/abc.svg")])
    summary = Importer(db).run(hf_daily.iter_path(path))
    assert summary.unsafe_links == 2  # the thumbnail and media paths; the avatars are Hugging Face's own
    paper, entry = stored(db, HOSTILE_ID)
    assert entry.submitter_avatar_url == "https://huggingface.co/avatars/abc.svg"
    assert paper.organization.avatar_url == "https://huggingface.co/avatars/abc.svg"


def test_a_stored_unsafe_link_gives_way_to_the_next_safe_one(db):
    record = PaperRecord(arxiv_id=HOSTILE_ID, title="Links", project_page="https://old.example/")
    Importer(db).run([record])
    with db.transaction() as session:  # written before links were checked
        session.scalar(select(Paper).where(Paper.arxiv_id == HOSTILE_ID)).project_page = "javascript:alert(1)"
    # not a first-hand capture (no stars): it would only fill a blank, and an unsafe link is one
    summary = Importer(db).run(
        [PaperRecord(arxiv_id=HOSTILE_ID, title="Links", project_page="https://new.example/")]
    )
    assert summary.updated == 1
    assert stored_paper_link(db) == "https://new.example/"
    Importer(db).run([PaperRecord(arxiv_id=HOSTILE_ID, title="Links", project_page="https://other.example/")])
    assert stored_paper_link(db) == "https://new.example/"  # a safe link stays, as before


def stored_paper_link(db) -> str | None:
    with db.session() as session:
        return session.scalar(select(Paper.project_page).where(Paper.arxiv_id == HOSTILE_ID))


def test_mirroring_another_instance_drops_unsafe_links_and_counts_them(database_env, db, tmp_path):
    body = json.dumps(
        [
            hf_entry(HOSTILE_ID, " JaVa\tscript:alert(1)", other_links="/avatars/abc.svg"),
            hf_entry(CLEAN_ID, "https://clean.example/"),
        ]
    )

    def respond(req):
        if req.path == "/api/daily_papers" and req.arg("date") == DAY.isoformat() and req.arg("p") == "0":
            return Reply(200, body, content_type="application/json")
        return Reply(200, "[]", content_type="application/json")

    with LocalServer(respond) as server:
        result = CliRunner().invoke(
            cli_app,
            [
                "ingest",
                "hf-daily",
                "--api",
                server.url,
                "--since",
                DAY.isoformat(),
                "--until",
                DAY.isoformat(),
                "--min-interval",
                "0",
                "--no-index",
                "--json",
            ],
            catch_exceptions=False,
        )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    # projectPage and githubRepo; from another instance no path is a link: the two avatars, the
    # thumbnail and the first media URL
    assert summary == {
        "read": 2,
        "new": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "deleted": 0,
        "unsafe_links": 6,
    }
    paper, entry = stored(db, HOSTILE_ID)
    assert (paper.code_url, paper.project_page, entry.submitter_avatar_url) == (None, None, None)
    assert stored(db, CLEAN_ID)[0].project_page == "https://clean.example/"


def test_the_cli_summary_table_shows_the_count(database_env, tmp_path):
    path = write_day(tmp_path, [hf_entry(HOSTILE_ID, "javascript:alert(1)")])
    result = CliRunner().invoke(
        cli_app, ["ingest", "hf-daily", str(path), "--no-index"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert summary_table(result.stdout)["unsafe_links"] == 2  # its project page and its code link


# --- what is shown, for rows already in the database ---------------------------------------------------

UNSAFE_ROW = {
    "code_url": " JaVa\tscript:alert(1)",
    "project_page": "javascript:alert(2)",
    "org_avatar": "javascript:alert(3)",
    "thumbnail": "data:text/html,<script>alert(4)</script>",
    "media_urls": ["javascript:alert(5)", "https://cdn.example/ok.png"],
    "submitter_avatar_url": "//evil.example/a.png",
}


def store_unsafe_row(db) -> None:
    """A listed paper whose links are made unsafe afterwards, straight in the database."""
    paper = PaperRecord(
        arxiv_id=HOSTILE_ID,
        title="Hostile links",
        abstract="An abstract.",
        authors=["Ada Lovelace"],
        published_at=datetime(2026, 6, 28, tzinfo=UTC),
        code_url="https://github.com/example/x",
        project_page="https://x.example/",
        github_stars=5,
        organization=Organization("lab", "The Lab", "https://x.example/a.png"),
    )
    clean = PaperRecord(
        arxiv_id=CLEAN_ID,
        title="Clean links",
        abstract="Another abstract.",
        authors=["Alan Turing"],
        published_at=datetime(2026, 6, 28, tzinfo=UTC),
        code_url="https://github.com/example/clean",
        project_page="https://clean.example/",
    )
    Importer(db).run(
        [
            DailyEntryRecord(
                paper=paper,
                day=DAY,
                upvotes=9,
                submitter=Submitter("someone", "Some One"),
                submitted_at=datetime(2026, 6, 29, 12, tzinfo=UTC),
            ),
            DailyEntryRecord(paper=clean, day=DAY, upvotes=3),
        ]
    )
    with db.transaction() as session:
        row = session.scalar(select(Paper).where(Paper.arxiv_id == HOSTILE_ID))
        row.code_url, row.project_page = UNSAFE_ROW["code_url"], UNSAFE_ROW["project_page"]
        row.organization.avatar_url = UNSAFE_ROW["org_avatar"]
        entry = session.scalar(select(DailyEntry).where(DailyEntry.paper_id == row.id))
        entry.thumbnail, entry.media_urls = UNSAFE_ROW["thumbnail"], UNSAFE_ROW["media_urls"]
        entry.submitter_avatar_url = UNSAFE_ROW["submitter_avatar_url"]


class _Urls(HTMLParser):
    """Every URL-valued attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("href", "src", "action", "hx-get", "hx-post")]


def page_urls(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    return parser.urls


def harmless(url: str) -> bool:
    """A link of ours (a path on this site, a fragment) or an absolute http(s) link."""
    return bool(re.match(r"/(?![/\\])|#", url)) or safe_http_url(url) == url


@pytest.fixture
def client(settings, db):
    store_unsafe_row(db)
    with TestClient(
        create_app(settings.model_copy(update={"embedding_backend": "hashing"}), database=db)
    ) as c:
        yield c


def test_pages_show_no_link_for_an_unsafe_stored_url(client):
    for path in (f"/papers/date/{DAY.isoformat()}", f"/papers/{HOSTILE_ID}", "/organizations/lab"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "Hostile links" in page.text, path  # the paper itself is shown
        urls = page_urls(page.text)
        assert [u for u in urls if not harmless(u)] == [], path
        assert not any("script" in u.lower() for u in urls), path
    card = client.get(f"/papers/date/{DAY.isoformat()}").text
    hostile = card[card.index(f'id="card-{HOSTILE_ID}"') :]
    hostile = hostile[: hostile.index("</li>")]
    assert "Code" not in hostile and "Project page" not in hostile
    assert 'href="https://github.com/example/clean"' in card  # safe links still shown
    paper = client.get(f"/papers/{HOSTILE_ID}").text
    assert ">Project page<" not in paper and "★" not in paper
    assert 'href="https://arxiv.org/abs/2606.90001"' in paper


def test_the_markdown_page_writes_no_unsafe_stored_url(client):
    hostile = client.get(f"/papers/{HOSTILE_ID}.md")
    assert hostile.status_code == 200 and "# Hostile links" in hostile.text
    assert "- Code:" not in hostile.text and "- Project page:" not in hostile.text
    assert "script" not in hostile.text.lower()
    clean = client.get(f"/papers/{CLEAN_ID}.md").text
    assert "- Code: https://github.com/example/clean" in clean


def test_the_api_writes_no_unsafe_stored_url(client):
    one = client.get(f"/api/papers/{HOSTILE_ID}").json()
    assert one.get("githubRepo") is None and one.get("projectPage") is None
    assert one["organization"]["avatar"] is None
    daily = client.get("/api/daily_papers", params={"date": DAY.isoformat()}).json()
    item = next(i for i in daily if i["paper"]["id"] == HOSTILE_ID)
    assert item["paper"].get("githubRepo") is None and item["paper"].get("projectPage") is None
    assert item.get("thumbnail") is None
    assert item["mediaUrls"] == item["paper"]["mediaUrls"] == ["https://cdn.example/ok.png"]
    assert (
        item["submittedBy"]["avatarUrl"] is None and item["paper"]["submittedOnDailyBy"]["avatarUrl"] is None
    )
    assert item["organization"]["avatar"] is None
    clean = next(i for i in daily if i["paper"]["id"] == CLEAN_ID)
    assert clean["paper"]["githubRepo"] == "https://github.com/example/clean"
    for text in (json.dumps(one), json.dumps(daily)):
        assert "script" not in text.lower() and "//evil.example" not in text


def test_feeds_carry_no_unsafe_stored_url(client):
    for path in (f"/feeds/date/{DAY.isoformat()}.atom", "/feeds/daily.atom", "/feeds/organizations/lab.atom"):
        feed = client.get(path)
        assert feed.status_code == 200, path
        assert "script" not in feed.text.lower(), path
        root = ET.fromstring(feed.content)
        hrefs = [link.get("href") for link in root.iter("{http://www.w3.org/2005/Atom}link")]
        assert hrefs and all(safe_http_url(h) == h for h in hrefs), path
    body = client.get(f"/feeds/date/{DAY.isoformat()}.atom").text
    assert "code: https://github.com/example/clean" in body
