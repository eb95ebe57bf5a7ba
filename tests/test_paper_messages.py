"""What a reader sees on paper pages and cards: comment links and math, the Hugging Face comment count
told apart from the comments here, refused comments explained on the page (htmx and plain forms),
trending details only where they mean something, math in titles, and a page for a valid arXiv id that
is not stored here (with a form that adds it). Real database, both backends; arXiv is a LocalServer."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import func, select

from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.importer import Importer
from dailypapers.store.models import Comment, Paper
from tests.support.community import (
    PAPER,
    arxiv_responder,
    clients,
    community_settings,
    load_papers,
)
from tests.support.browser import free_port
from tests.support.local_server import LocalServer

OLD_PAPER = "2405.21060"  # listed on 2024-06-03 with 3 comments on Hugging Face
HTMX = {"HX-Request": "true", "HX-Target": "comments"}
CARD_ID = "2606.99101"
MATH_TITLE = r"DR^{3}: Fast $\mathcal{O}(n<m)$ Retrieval <b>now</b>"


@pytest.fixture
def papers_db(db):
    return load_papers(db)


@pytest.fixture
def arxiv():
    """A local arXiv API that knows one recent paper."""
    new = "2606.99001"
    papers = {
        new: {
            "id": new,
            "title": "A Paper Nobody Listed",
            "published": datetime.now(timezone.utc) - timedelta(days=3),
        }
    }
    with LocalServer(arxiv_responder(papers)) as server:
        yield server


@pytest.fixture
def people(settings, papers_db, arxiv):
    changed = community_settings(settings, arxiv_api_url=arxiv.url + "/api/query", cache_check_interval=0.0)
    with clients(changed, papers_db) as made:
        yield made


def comments_section(html: str) -> str:
    found = re.search(r'<section class="comments" id="comments".*?</section>', html, re.S)
    assert found, html[:500]
    return found.group(0)


def form_post(api, url: str, data: dict[str, str], headers: dict[str, str] | None = None):
    """A form sent the way the page sends it: the CSRF token as a field."""
    return api.client.post(
        url, data={"csrf_token": api.csrf, **data}, headers=headers or {}, follow_redirects=False
    )


# --- comments ----------------------------------------------------------------------------------------


def test_a_comment_shows_its_links_and_keeps_its_math_for_katex(people, papers_db):
    alice = people.account(papers_db, "alice")
    body = (
        "See [the proof](https://example.org/p?a=1&b=2), not [this](javascript:alert(1)); $a*b*c < d$ holds."
    )
    assert form_post(alice, f"/papers/{PAPER}/comments", {"body": body}).status_code == 303
    section = comments_section(alice.get(f"/papers/{PAPER}").text)
    assert '<div class="comment-body tex">' in section  # typeset by KaTeX like an abstract
    assert (
        '<a href="https://example.org/p?a=1&amp;b=2" rel="nofollow ugc noopener noreferrer">the proof</a>'
        in (section)
    )
    assert "[this](javascript:alert(1))" in section and 'href="javascript' not in section
    assert "$a*b*c &lt; d$" in section  # whole: no <em> inside the math, its < escaped


def test_the_hugging_face_count_is_labelled_linked_and_apart_from_the_comments_here(people, papers_db):
    reader = people.new()
    page = reader.get(f"/papers/{OLD_PAPER}").text
    section = comments_section(page)
    hf = f'href="https://huggingface.co/papers/{OLD_PAPER}#community"'
    assert re.search(hf + r' rel="noopener noreferrer">3 comments on Hugging Face</a>', section)
    assert "No comments here yet" in section
    # a comment posted here counts here; the Hugging Face count stays what it is
    alice = people.account(papers_db, "alice")
    form_post(alice, f"/papers/{OLD_PAPER}/comments", {"body": "first here"})
    section = comments_section(reader.get(f"/papers/{OLD_PAPER}").text)
    assert "(1 comment here)" in section and "3 comments on Hugging Face" in section
    # a card: the count says where it is and links there
    home = reader.get("/").text
    card = re.search(rf'<li class="card" id="card-{PAPER}">.*?</li>', home, re.S).group(0)
    assert f'href="https://huggingface.co/papers/{PAPER}#community"' in card
    assert 'title="2 comments on Hugging Face"' in card
    assert '2 on HF<span class="visually-hidden"> (2 comments on Hugging Face)</span></a>' in card


@pytest.mark.parametrize("htmx", [False, True])
def test_a_refused_comment_is_explained_on_the_page(people, papers_db, htmx):
    alice = people.account(papers_db, "alice")
    headers = HTMX if htmx else {}
    empty = form_post(alice, f"/papers/{PAPER}/comments", {"body": "  \n "}, headers)
    assert empty.status_code == 400
    assert "Your comment is empty" in empty.text and 'role="alert"' in empty.text
    too_long = form_post(alice, f"/papers/{PAPER}/comments", {"body": "x" * 5001}, headers)
    assert too_long.status_code == 400
    assert "Your comment is too long: at most 5000 characters, and this one has 5001." in too_long.text
    assert "x" * 5001 in too_long.text  # what was typed stays in the box
    if htmx:  # the section alone, and the word that has htmx swap it in although it is a 400
        assert empty.text.lstrip().startswith('<section class="comments"')
        assert empty.headers["X-Swap-Error"] == "true"
    else:  # the paper's whole page, the reason above the form
        assert "<h1" in empty.text and "LiveEdit" in empty.text and "X-Swap-Error" not in empty.headers
    with papers_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0


@pytest.mark.parametrize("htmx", [False, True])
def test_too_many_comments_are_explained(settings, papers_db, htmx):
    limited = community_settings(settings, rate_limits="comment=1/hour")
    headers = HTMX if htmx else {}
    with clients(limited, papers_db) as made:
        alice = made.account(papers_db, "alice")
        assert form_post(alice, f"/papers/{PAPER}/comments", {"body": "one"}, headers).status_code in (
            200,
            303,
        )
        second = form_post(alice, f"/papers/{PAPER}/comments", {"body": "two"}, headers)
        assert second.status_code == 429 and int(second.headers["Retry-After"]) > 0
        assert "You are commenting faster than this site allows. Please wait" in unescape(second.text)
        assert "TooManyRequests" not in second.text and "two</textarea>" in second.text
    with papers_db.session() as session:
        assert session.scalars(select(Comment.body)).all() == ["one"]


def test_a_comment_after_the_session_ended_is_explained(people, papers_db):
    alice = people.account(papers_db, "alice")
    page = alice.get(f"/papers/{PAPER}").text
    assert 'class="comment-form"' in page
    assert alice.post("/api/auth/logout").status_code == 204  # in another tab
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    plain = form_post(alice, f"/papers/{PAPER}/comments", {"body": "hello"}, browser)
    assert plain.status_code == 403 and plain.headers["content-type"].startswith("text/html")
    assert "This form has expired, or you are no longer logged in" in unescape(plain.text)
    assert 'class="error-message"' in plain.text
    # htmx (static/app.js shows the JSON error next to the form) and API clients get JSON
    for headers in (HTMX, {}):
        r = form_post(alice, f"/papers/{PAPER}/comments", {"body": "hello"}, headers)
        assert r.status_code == 403 and "no longer logged in" in r.json()["error"]
    with papers_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0


def test_a_refused_edit_is_explained_too(people, papers_db):
    alice = people.account(papers_db, "alice")
    form_post(alice, f"/papers/{PAPER}/comments", {"body": "kept"})
    with papers_db.session() as session:
        comment_id = session.scalar(select(Comment.id))
    r = form_post(alice, f"/comments/{comment_id}/edit", {"body": " "}, HTMX)
    assert r.status_code == 400 and "Your comment is empty" in r.text and r.headers["X-Swap-Error"] == "true"
    with papers_db.session() as session:
        assert session.scalar(select(Comment.body)) == "kept"


# --- trending details --------------------------------------------------------------------------------


def test_trending_details_only_where_they_mean_something(people):
    reader = people.new()
    old = reader.get(f"/papers/{OLD_PAPER}").text  # listed two years before the newest day
    assert "Why it trends" not in old and "0.000" not in old and "hours after" not in old
    recent = reader.get(f"/papers/{PAPER}").text
    assert "Why it trends" in recent
    assert re.search(r"57 upvotes, \d{1,2} hours? after it was listed", recent)


def test_an_age_past_two_days_is_told_in_days(people, papers_db):
    Importer(papers_db).run(
        [
            DailyEntryRecord(
                paper=PaperRecord(arxiv_id="2606.99102", title="Five Days Old"),
                day=date(2026, 6, 25),
                upvotes=400,
            )
        ]
    )
    page = people.new().get("/papers/2606.99102").text
    assert "Why it trends" in page and re.search(r"400 upvotes, [56] days after it was listed", page)


# --- titles ------------------------------------------------------------------------------------------


def test_titles_keep_their_math_and_write_bare_powers_as_superscripts(people, papers_db):
    Importer(papers_db).run(
        [
            DailyEntryRecord(
                paper=PaperRecord(arxiv_id=CARD_ID, title=MATH_TITLE), day=date(2026, 6, 30), upvotes=1
            )
        ]
    )
    reader = people.new()
    shown = r"DR<sup>3</sup>: Fast $\mathcal{O}(n&lt;m)$ Retrieval &lt;b&gt;now&lt;/b&gt;"
    page = reader.get(f"/papers/{CARD_ID}").text
    assert f'<h1 class="tex">{shown}</h1>' in page
    assert f"<title>{MATH_TITLE.replace('<', '&lt;').replace('>', '&gt;')}" in page  # plain text there
    home = reader.get("/").text
    assert f'<a href="/papers/{CARD_ID}">{shown}</a></h2>' in home
    assert "<b>now</b>" not in page + home


# --- a valid arXiv id that is not here ---------------------------------------------------------------


def test_a_valid_id_not_stored_gets_a_page_that_links_to_arxiv(people):
    r = people.new().get("/papers/2501.00001")
    assert r.status_code == 404
    assert '<a href="https://arxiv.org/abs/2501.00001" rel="noopener noreferrer">' in r.text
    assert "Paper 2501.00001 is not on this site yet" in r.text
    assert 'action="/papers/add"' not in r.text  # logged out: a link to log in instead
    assert 'href="/account/login?next=/papers/2501.00001"' in r.text
    invalid = people.new().get("/papers/not-an-id")
    assert invalid.status_code == 404 and "arxiv.org/abs" not in invalid.text


def test_a_logged_in_reader_adds_the_missing_paper(people, papers_db, arxiv):
    alice = people.account(papers_db, "alice")
    new = "2606.99001"
    page = alice.get(f"/papers/{new}")
    assert page.status_code == 404
    form = re.search(
        r'<form class="add-paper stack" method="post" action="/papers/add">.*?</form>', page.text, re.S
    )
    assert form, page.text
    assert f'name="csrf_token" value="{alice.csrf}"' in form.group(0)
    assert f'name="paper" value="{new}"' in form.group(0)
    # without the token the form is refused before anything is fetched
    assert alice.client.post("/papers/add", data={"paper": new}, follow_redirects=False).status_code == 403
    added = form_post(alice, "/papers/add", {"paper": new})
    assert added.status_code == 303 and added.headers["location"] == f"/papers/{new}"
    shown = alice.get(f"/papers/{new}")
    assert shown.status_code == 200 and "A Paper Nobody Listed" in shown.text
    assert [req.arg("id_list") for req in arxiv.requests] == [new]
    with papers_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Paper).where(Paper.arxiv_id == new)) == 1
    # arXiv has no such paper: the page again, saying so
    unknown = form_post(alice, "/papers/add", {"paper": "2606.99002"})
    assert unknown.status_code == 404 and "arXiv has no paper 2606.99002" in unknown.text
    assert "https://arxiv.org/abs/2606.99002" in unknown.text


def test_arxiv_down_is_said_without_an_exception_name(settings, papers_db):
    down = f"http://127.0.0.1:{free_port()}/api/query"
    with clients(community_settings(settings, arxiv_api_url=down, http_retries=0), papers_db) as made:
        alice = made.account(papers_db, "alice")
        for r in (
            form_post(alice, "/papers/add", {"paper": "2606.99003"}),
            form_post(alice, "/submit", {"paper": "2606.99003"}),
            alice.post("/api/papers/index", json={"arxivId": "2606.99003"}),
        ):
            assert r.status_code == 503, r.text
            text = unescape(r.text)
            assert "arXiv did not answer when we asked for 2606.99003. Please try again in a minute." in text
            assert not re.search(r"\b[A-Z][a-z]+(Error|Exception)\b", text), text
