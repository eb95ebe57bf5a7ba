"""List pages and paper pages for logged-in readers: one shared rendering, filled in per reader — their
name, their CSRF token, their pressed upvote buttons, their own comments' buttons, their marks and
collections, and nobody else's."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from dailypapers.store.models import DailyEntry, Paper
from dailypapers.web.personal_cache import WROTE_COOKIE
from tests.support.community import PAPER, clients, community_settings, load_papers

VOTE = re.compile(r'action="/papers/([^"/]+)/vote".*?class="votes vote-button[^"]*?( voted)?"', re.S)
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def _pressed(html: str) -> set[str]:
    return {m.group(1) for m in VOTE.finditer(html) if m.group(2)}


def _live(who, made) -> bool:
    """Whether the reader's next list page is rendered for them alone (their write is seconds old); then
    forgets that write's cookie, as its few seconds pass."""
    copies = made.app.state.parts.shared_copies
    used = (copies.renders, copies.hits)
    cookie = who.client.cookies.get(WROTE_COOKIE)
    page = who.client.get("/")
    who.client.cookies.delete(WROTE_COOKIE)
    return cookie == "1" and page.status_code == 200 and (copies.renders, copies.hits) == used


def _latest(db) -> list[str]:
    with db.session() as session:
        day = session.scalar(select(DailyEntry.day).order_by(DailyEntry.day.desc()).limit(1))
        return list(
            session.scalars(
                select(Paper.arxiv_id).join(DailyEntry).where(DailyEntry.day == day).order_by(Paper.id)
            )
        )


def test_each_reader_gets_their_own_name_token_and_votes_from_one_shared_rendering(settings, db):
    load_papers(db)
    listed = _latest(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice", display_name="Alice <b>A.</b>")
        bob = made.account(db, "bob", display_name="Bob")
        # the first rendering of a page (its templates compiled, the shared copy made) can take a second
        # on a busy machine: done before the writes, whose cookie lives whole seconds only
        assert alice.client.get("/").status_code == 200 and bob.client.get("/").status_code == 200
        assert alice.put(f"/api/papers/{listed[0]}/upvote").status_code == 200
        assert bob.put(f"/api/papers/{listed[1]}/upvote").status_code == 200
        for who in (alice, bob):  # a write's next pages are rendered anew for a few seconds
            assert _live(who, made)
        copies = made.app.state.parts.shared_copies
        renders = copies.renders
        for _ in range(3):
            for who, own, name, other in (
                (alice, listed[0], "Alice &lt;b&gt;A.&lt;/b&gt;", "Bob"),
                (bob, listed[1], "Bob", "Alice"),
            ):
                page = who.client.get("/")
                assert page.status_code == 200
                html = page.text
                assert "<!--dp:" not in html  # every marker filled in
                assert _pressed(html) == {own}
                assert f'<span class="me-name">{name}</span>' in html and other not in html
                assert set(TOKEN.findall(html)) == {who.csrf}
                assert page.headers["content-length"] == str(len(page.content))
        assert copies.renders == renders + 1 and copies.hits >= 5  # rendered once for both readers
        # a vote changes the data: a new copy, with alice's new vote pressed and the new count
        assert alice.put(f"/api/papers/{listed[1]}/upvote").status_code == 200
        html = alice.client.get("/").text
        assert _pressed(html) == {listed[0], listed[1]}
        assert _live(alice, made)
        assert _pressed(html) == {listed[0], listed[1]}
        assert _pressed(bob.client.get("/").text) == {listed[1]}
        # a form posted with the filled-in token is accepted (the token is the reader's own)
        token = TOKEN.findall(html)[0]
        taken = alice.client.post(f"/papers/{listed[1]}/vote", data={"csrf_token": token, "vote": "remove"})
        assert taken.status_code in (200, 303)
        assert _pressed(alice.client.get("/").text) == {listed[0]}


def test_other_pages_and_anonymous_readers_are_not_shared(settings, db):
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        copies = made.app.state.parts.shared_copies
        before = copies.renders
        assert alice.client.get("/for-you").status_code in (200, 303)  # personal through and through
        assert alice.client.get("/papers?q=attention").status_code == 200  # a search
        assert made.new().client.get("/").status_code == 200  # anonymous: the response cache's
        assert copies.renders == before
        assert alice.client.get("/papers/trending").status_code == 200
        assert copies.renders == before + 1


def _forget_write(made, *readers) -> None:
    """The few seconds after a reader's write pass: the ``dp_wrote`` cookie is gone, and so are the logins
    the workers kept (re-read every ``session_check_interval``, less than the cookie lasts)."""
    for who in readers:
        who.client.cookies.delete(WROTE_COOKIE)
    made.app.state.parts.sessions.resumer.forget()


def test_a_paper_page_is_shared_and_each_reader_sees_only_their_own_comments_marks_and_collections(
    settings, db
):
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice", display_name="Alice")
        bob = made.account(db, "bob", display_name="Bob")
        carol = made.account(db, "carol", display_name="Carol")
        mod = made.account(db, "mod", role="moderator", display_name="Mo")
        mine = alice.post(f"/api/papers/{PAPER}/comments", json={"body": "alice was here"}).json()
        bobs = bob.post(f"/api/papers/{PAPER}/comments", json={"body": "bob says hi"}).json()
        assert mod.post(f"/api/comments/{bobs['id']}/hide", json={"hidden": True}).status_code == 200
        assert alice.put(f"/api/papers/{PAPER}/marks/read").status_code == 200
        box = alice.post("/api/collections", json={"name": "Alice's private shelf"}).json()
        assert alice.put(f"/api/collections/{box['id']}/papers/{PAPER}").status_code in (200, 204)
        assert alice.put(f"/api/papers/{PAPER}/upvote").status_code == 200
        _forget_write(made, alice, bob, mod)
        copies = made.app.state.parts.shared_copies
        renders = copies.renders
        pages = {}
        for _ in range(2):
            for name, who in (("alice", alice), ("bob", bob), ("carol", carol)):
                page = who.client.get(f"/papers/{PAPER}")
                assert page.status_code == 200 and "<!--dp:" not in page.text
                assert set(TOKEN.findall(page.text)) == {who.csrf}
                pages[name] = page.text
        assert copies.renders == renders + 1  # one rendering for the three readers (one role)
        alice_page, bob_page, carol_page = pages["alice"], pages["bob"], pages["carol"]
        # edit buttons on one's own comments only
        assert f'action="/comments/{mine["id"]}/edit"' in alice_page
        assert f'action="/comments/{mine["id"]}/edit"' not in bob_page + carol_page
        assert f'action="/comments/{bobs["id"]}/edit"' in bob_page
        # a hidden comment: its author still sees it; nobody else does
        assert "bob says hi" in bob_page and "hidden by a moderator" in bob_page
        assert "bob says hi" not in alice_page and "bob says hi" not in carol_page
        # marks, collections and the upvote: alice's alone
        assert "✓ Read" in alice_page and "✓ Read" not in bob_page + carol_page
        assert "Alice&#39;s private shelf" in alice_page
        assert "private shelf" not in bob_page + carol_page
        assert _pressed(alice_page) == {PAPER} and _pressed(bob_page) == _pressed(carol_page) == set()
        # a moderator's copy is another one: the hidden comment, with a button to show it again
        mod_page = mod.client.get(f"/papers/{PAPER}").text
        assert "bob says hi" in mod_page and f'action="/comments/{bobs["id"]}/hide"' in mod_page
        assert f'action="/comments/{mine["id"]}/edit"' not in mod_page
        assert copies.renders == renders + 2
        # a mark changes no data version: her next page shows it all the same (rendered for her alone
        # while the write is fresh), and so does the shared copy once her kept login is read anew
        assert alice.delete(f"/api/papers/{PAPER}/marks/read").status_code in (200, 204)
        fresh = alice.client.get(f"/papers/{PAPER}").text
        assert "✓ Read" not in fresh and "Mark as read" in fresh
        _forget_write(made, alice)
        again = alice.client.get(f"/papers/{PAPER}").text
        assert "✓ Read" not in again and "Mark as read" in again


@pytest.mark.parametrize("interval", [0.0, 60.0])
def test_a_readers_block_on_a_paper_page_is_read_once_per_kept_login(settings, db, interval):
    load_papers(db)
    with clients(community_settings(settings, session_check_interval=interval), db) as made:
        bob = made.account(db, "bob", display_name="Bob")
        assert bob.put(f"/api/papers/{PAPER}/marks/read").status_code == 200
        _forget_write(made, bob)
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(" ".join(statement.split()).lower())

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            pages = [bob.client.get(f"/papers/{PAPER}").text for _ in range(3)]
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert all("✓ Read" in page for page in pages)
        marks = [s for s in statements if "paper_marks" in s]
        # every request reads it without kept logins; with them, once while the login is kept
        assert len(marks) == (3 if interval == 0 else 1), marks


def test_follow_buttons_on_shared_organization_and_paper_pages_are_each_readers_own(settings, db):
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        bob = made.account(db, "bob")
        assert alice.put("/api/me/follows/organization/Tsinghua").status_code == 200
        assert alice.put(f"/api/me/follows/paper/{PAPER}").status_code == 200
        alice.client.cookies.delete(WROTE_COOKIE)  # the write's few seconds have passed
        copies = made.app.state.parts.shared_copies
        for path in ("/organizations/Tsinghua", f"/papers/{PAPER}"):
            renders = copies.renders
            for _ in range(2):
                for who, following in ((alice, True), (bob, False), (alice, True)):
                    html = who.client.get(path).text
                    assert "<!--dp:" not in html, path
                    button = re.search(r'<form class="inline follow".*?</form>', html, re.S).group(0)
                    assert ("Following · unfollow" in button) is following, (path, who)
                    assert (">Follow</button>" in button) is not following, (path, who)
                    assert set(TOKEN.findall(button)) == {who.csrf}
            assert copies.renders == renders + 1, path  # one rendering for both readers
        # unfollowing shows at once (the write's cookie), and still once its seconds have passed
        assert alice.delete("/api/me/follows/organization/Tsinghua").status_code == 204
        assert ">Follow</button>" in alice.client.get("/organizations/Tsinghua").text
        alice.client.cookies.delete(WROTE_COOKIE)
        assert ">Follow</button>" in alice.client.get("/organizations/Tsinghua").text
        assert "Following · unfollow" in alice.client.get(f"/papers/{PAPER}").text
