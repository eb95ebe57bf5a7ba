"""List pages for logged-in readers: one shared rendering, filled in per reader — their name, their
CSRF token, their pressed upvote buttons, and nobody else's."""

from __future__ import annotations

import re

from sqlalchemy import select

from dailypapers.store.models import DailyEntry, Paper
from tests.support.community import clients, community_settings, load_papers

VOTE = re.compile(r'action="/papers/([^"/]+)/vote".*?class="votes vote-button[^"]*?( voted)?"', re.S)
TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def _pressed(html: str) -> set[str]:
    return {m.group(1) for m in VOTE.finditer(html) if m.group(2)}


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
        assert alice.put(f"/api/papers/{listed[0]}/upvote").status_code == 200
        assert bob.put(f"/api/papers/{listed[1]}/upvote").status_code == 200
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
        assert _pressed(bob.client.get("/").text) == {listed[1]}
        # a form posted with the filled-in token is accepted (the token is the reader's own)
        token = TOKEN.findall(html)[0]
        taken = alice.client.post(f"/papers/{listed[1]}/vote", data={"csrf_token": token, "vote": "remove"})
        assert taken.status_code in (200, 303)
        assert _pressed(alice.client.get("/").text) == {listed[0]}


def test_other_pages_and_anonymous_readers_are_not_shared(settings, db):
    load_papers(db)
    listed = _latest(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        copies = made.app.state.parts.shared_copies
        before = copies.renders
        assert alice.client.get(f"/papers/{listed[0]}").status_code == 200  # a paper page: personal
        assert alice.client.get("/papers?q=attention").status_code == 200  # a search
        assert made.new().client.get("/").status_code == 200  # anonymous: the response cache's
        assert copies.renders == before
        assert alice.client.get("/papers/trending").status_code == 200
        assert copies.renders == before + 1
