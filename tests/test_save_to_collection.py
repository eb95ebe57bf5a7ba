"""Saving a paper to a collection from its page: in place with htmx (the control again, saying where the
paper is now), back to the same spot of the same page without JavaScript, and "already saved" shown."""

from __future__ import annotations

from tests.support.community import PAPER, clients, community_settings, load_papers
from tests.test_personal_pages import _forget_write


def test_saving_answers_in_place_and_says_where_the_paper_is(settings, db):
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        first = alice.post("/api/collections", json={"name": "To <read>"}).json()
        second = alice.post("/api/collections", json={"name": "Survey"}).json()
        page = alice.client.get(f"/papers/{PAPER}").text
        assert 'hx-post="/collections/add"' in page and 'hx-target="#personal"' in page
        assert "Saved in" not in page
        htmx = {"HX-Request": "true", "HX-Target": "personal", "X-CSRF-Token": alice.csrf}
        answer = alice.client.post(
            "/collections/add", data={"paper": PAPER, "collection": str(first["id"])}, headers=htmx
        )
        assert answer.status_code == 200
        html = answer.text
        assert html.lstrip().startswith('<div class="paper-personal" id="personal">')
        assert "<html" not in html and "Saved to “To &lt;read&gt;”." in html
        assert f'<a href="/collections/{first["id"]}">To &lt;read&gt;</a>' in html
        assert "To &lt;read&gt; ✓ saved" in html and "Survey ✓" not in html
        again = alice.client.post(
            "/collections/add", data={"paper": PAPER, "collection": str(first["id"])}, headers=htmx
        ).text
        assert "Already in “To &lt;read&gt;”." in again
        # without JavaScript: back to the page the form was on, at the control
        plain = alice.client.post(
            "/collections/add",
            data={"paper": PAPER, "collection": str(second["id"]), "csrf_token": alice.csrf},
            headers={"Referer": f"http://testserver/papers/{PAPER}?x=1"},
            follow_redirects=False,
        )
        assert plain.status_code == 303
        assert plain.headers["location"] == f"/papers/{PAPER}?x=1#personal"
        _forget_write(made, alice)
        shown = alice.client.get(f"/papers/{PAPER}").text
        assert "Survey ✓ saved" in shown and "To &lt;read&gt; ✓ saved" in shown
        assert f'<a href="/collections/{second["id"]}">Survey</a>' in shown
        # another reader sees none of it
        bob = made.account(db, "bob")
        assert "Saved in" not in bob.client.get(f"/papers/{PAPER}").text
