"""Papers a reader marked (read, not interested) on every list: dimmed for that reader alone, or hidden
when they chose so on their account page — from the copies every logged-in reader shares as well as
from the pages rendered for one reader."""

from __future__ import annotations

import re

from dailypapers.store.models import User
from tests.support.community import LATEST_DAY, OTHER_PAPER, PAPER, clients, community_settings, load_papers
from dailypapers.web.personal_cache import WROTE_COOKIE
from tests.test_personal_pages import _forget_write

CARD = re.compile(r'<li class="card([^"]*)" id="card-([^"]+)"')


def _cards(html: str) -> dict[str, set[str]]:
    """arXiv id -> the extra classes of its card on the page."""
    return {m.group(2): set(m.group(1).split()) for m in CARD.finditer(html)}


LISTS = [
    "/",
    f"/papers/date/{LATEST_DAY}",
    "/papers/week/2026-W27",
    "/papers/month/2026-06",
    "/papers/trending",
]


def test_marked_papers_are_dimmed_on_shared_lists_for_their_reader_alone(settings, db):
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        bob = made.account(db, "bob")
        assert alice.put(f"/api/papers/{PAPER}/marks/read").status_code == 200
        assert alice.put(f"/api/papers/{OTHER_PAPER}/marks/not_interested").status_code == 200
        _forget_write(made, alice)
        copies = made.app.state.parts.shared_copies
        for url in LISTS:
            renders = copies.renders
            for _ in range(2):
                mine, theirs = alice.client.get(url), bob.client.get(url)
                assert mine.status_code == theirs.status_code == 200
                assert "<!--dp:" not in mine.text + theirs.text
                cards, others = _cards(mine.text), _cards(theirs.text)
                assert PAPER in cards, url
                assert cards[PAPER] == {"card-marked", "card-read"}, url
                if OTHER_PAPER in cards:
                    assert cards[OTHER_PAPER] == {"card-marked", "card-not-interested"}
                assert {k for k, v in cards.items() if v} <= {PAPER, OTHER_PAPER}
                assert not any(others.values()), url  # bob marked nothing
                assert "✓ Read" in mine.text and "✓ Read" not in theirs.text
            assert copies.renders == renders + 1, url  # one copy for both readers
        # taking a mark back shows at once (the write's pages are the reader's own for a few seconds),
        # and in the shared copy once the kept login is read anew
        assert alice.delete(f"/api/papers/{PAPER}/marks/read").status_code in (200, 204)
        assert _cards(alice.client.get("/").text)[PAPER] == set()
        _forget_write(made, alice)
        assert _cards(alice.client.get("/").text)[PAPER] == set()


def test_hiding_marked_papers_is_an_account_preference(settings, db):
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        bob = made.account(db, "bob")
        assert alice.put(f"/api/papers/{PAPER}/marks/read").status_code == 200
        assert bob.put(f"/api/papers/{PAPER}/marks/read").status_code == 200
        page = alice.client.get("/account")
        assert 'name="hide_marked" value="0" checked' in page.text
        saved = alice.client.post(
            "/account/preferences",
            data={"csrf_token": alice.csrf, "hide_marked": "1"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        with db.session() as session:
            assert {u.username: u.hide_marked for u in session.query(User)} == {"alice": True, "bob": False}
        assert 'name="hide_marked" value="1" checked' in alice.client.get("/account").text
        _forget_write(made, alice, bob)
        for url in LISTS:
            assert "card-hidden" in _cards(alice.client.get(url).text)[PAPER], url
            assert _cards(bob.client.get(url).text)[PAPER] == {"card-marked", "card-read"}, url
        # pages rendered for one reader (a collection) follow the same preference
        box = alice.post("/api/collections", json={"name": "Shelf"}).json()
        assert alice.put(f"/api/collections/{box['id']}/papers/{PAPER}").status_code in (200, 204)
        assert "card-hidden" in _cards(alice.client.get(f"/collections/{box['id']}").text)[PAPER]
        # the API sets it too
        assert alice.put("/api/me/preferences", json={"hideMarked": False}).json() == {"hideMarked": False}
        assert alice.client.get("/api/me").json()["hideMarked"] is False
        _forget_write(made, alice)
        assert _cards(alice.client.get("/").text)[PAPER] == {"card-marked", "card-read"}


def test_marked_papers_are_dimmed_on_lists_rendered_for_one_reader(settings, db):
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        bob = made.account(db, "bob")
        assert alice.put(f"/api/papers/{PAPER}/marks/not_interested").status_code == 200
        box = alice.post("/api/collections", json={"name": "Shelf", "public": True}).json()
        assert alice.put(f"/api/collections/{box['id']}/papers/{PAPER}").status_code in (200, 204)
        _forget_write(made, alice)
        title = alice.client.get(f"/api/papers/{PAPER}").json()["title"]
        word = re.findall(r"[A-Za-z]{5,}", title)[0]
        # an organization's list is a shared copy too; an author's page and the following page are not
        assert alice.put("/api/me/follows/author/Xinyu Wang").status_code in (200, 201, 204)
        _forget_write(made, alice)
        for url in (
            f"/collections/{box['id']}",
            f"/papers?q={word}",
            "/organizations/Tsinghua",
            "/authors/Xinyu Wang",
            "/following",
        ):
            cards = _cards(alice.client.get(url).text)
            assert cards[PAPER] == {"card-marked", "card-not-interested"}, url
            if url != "/following":  # bob follows nothing
                assert _cards(bob.client.get(url).text)[PAPER] == set(), url


def test_a_mark_shows_on_the_shared_lists_once_the_write_is_seconds_old_while_the_login_is_kept(settings, db):
    load_papers(db)
    with clients(community_settings(settings, session_check_interval=60.0), db) as made:
        alice = made.account(db, "alice")
        assert _cards(alice.client.get("/").text)[PAPER] == set()  # kept: PAPER is not marked
        assert alice.put(f"/api/papers/{PAPER}/marks/read").status_code == 200
        alice.client.cookies.delete(WROTE_COOKIE)  # the write's few seconds pass; the login stays kept
        copies = made.app.state.parts.shared_copies
        hits = copies.hits
        assert _cards(alice.client.get("/").text)[PAPER] == {"card-marked", "card-read"}
        assert copies.hits == hits + 1  # from the shared copy, with her marks read anew
        # and again when she takes it back (every worker reads her marks anew under the new cookie)
        assert alice.delete(f"/api/papers/{PAPER}/marks/read").status_code in (200, 204)
        alice.client.cookies.delete(WROTE_COOKIE)
        assert _cards(alice.client.get("/").text)[PAPER] == set()
