"""The JSON API of accounts and community actions, end to end through the app (TestClient) on a real
database: accounts, votes, marks, comments, collections, submissions (arXiv served by a LocalServer),
export, account deletion, and roles given on the command line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dailypapers.cli import app as cli_app
from dailypapers.community import accounts
from dailypapers.periods import today
from dailypapers.store.models import Collection, Comment, DailyEntry, Paper, PaperMark, User, Vote
from tests.support.browser import free_port
from tests.support.settle import eventually
from tests.support.community import (
    LATEST_DAY,
    OTHER_PAPER,
    PAPER,
    PASSWORD,
    arxiv_responder,
    clients,
    community_settings,
    load_papers,
    make_user,
    paper_row,
    snapshot,
    vote_rows,
)
from tests.support.local_server import LocalServer

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def papers_db(db):
    return load_papers(db)


@pytest.fixture
def people(settings, papers_db):
    with clients(community_settings(settings), papers_db) as made:
        yield made


def users_count(db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def listed_upvotes(api, arxiv_id: str, day: str = LATEST_DAY) -> int:
    items = api.get(f"/api/daily_papers?date={day}").json()
    found = [i for i in items if i["paper"]["id"] == arxiv_id]
    assert len(found) == 1, items
    return found[0]["paper"]["upvotes"]


def fresh_id(n: int) -> str:
    """A new-style arXiv id of this month (so it is plausible for a paper published days ago)."""
    return f"{datetime.now(timezone.utc):%y%m}.{90000 + n:05d}"


# --- accounts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "A b", "email": "ab@example.org", "password": PASSWORD}, "username"),
        ({"username": "x", "email": "x1@example.org", "password": PASSWORD}, "username"),
        ({"username": "admin", "email": "adm@example.org", "password": PASSWORD}, "username"),
        ({"username": "carol", "email": "not-an-address", "password": PASSWORD}, "email"),
        ({"username": "carol", "email": "carol@example.org", "password": "short"}, "password"),
        ({"username": "carolinexyz", "email": "c@example.org", "password": "carolinexyz"}, "password"),
        (
            {
                "username": "carol",
                "email": "carol@example.org",
                "password": PASSWORD,
                "displayName": "x" * 101,
            },
            "display name",
        ),
        ({"username": "carol", "email": "carol@example.org"}, "password"),
        ({"username": "carol", "password": PASSWORD}, "email"),
    ],
)
def test_register_refuses_bad_input_with_400_and_a_message(people, papers_db, body, field):
    api = people.new()
    r = api.client.post("/api/auth/register", json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]
    assert "dp_session" not in r.headers.get("set-cookie", "")
    assert users_count(papers_db) == 0


def test_register_refuses_a_taken_username_with_409_and_never_tells_of_an_address(people, papers_db):
    first = people.new().register("alice", "alice@example.org", display_name="Alice Liddell")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["name"] == "alice" and body["fullname"] == "Alice Liddell"
    assert body["email"] is None and body["pendingEmail"] == "alice@example.org"  # until the link is followed
    assert body["role"] == "user" and len(body["csrfToken"]) >= 20
    assert "password" not in json.dumps(body).lower()
    taken = people.new().client.post(
        "/api/auth/register", json={"username": " ALICE", "email": "other@example.org", "password": PASSWORD}
    )
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]
    same_address = people.new().register("bob", " Alice@Example.ORG ")
    assert same_address.status_code == 201, same_address.text
    assert same_address.json()["pendingEmail"] == "alice@example.org"
    assert users_count(papers_db) == 2


def test_register_logs_in_and_logout_ends_the_session(people):
    api = people.new()
    r = api.register("alice")
    assert "dp_session=" in r.headers["set-cookie"]
    me = api.get("/api/me")
    assert me.status_code == 200
    assert me.json()["name"] == "alice" and me.json()["pendingEmail"] == "alice@example.org"
    assert me.json()["csrfToken"] == api.csrf
    assert me.headers["cache-control"] == "private, no-store"
    assert api.post("/api/auth/logout").status_code == 204
    gone = api.get("/api/me")
    assert gone.status_code == 401 and gone.json()["error"]


def test_registration_can_be_closed(settings, papers_db):
    with clients(community_settings(settings, registration_open=False), papers_db) as made:
        r = made.new().register("alice")
        assert r.status_code == 403 and r.json()["error"]
        assert "dp_session" not in r.headers.get("set-cookie", "")
    assert users_count(papers_db) == 0


def test_login_by_name_or_address_and_wrong_passwords(people, papers_db):
    make_user(papers_db, "alice")
    api = people.new()
    assert api.get("/api/me").status_code == 401
    wrong = api.login("alice", "not the password at all")
    assert wrong.status_code == 401 and wrong.json()["error"]
    assert "dp_session" not in wrong.headers.get("set-cookie", "")
    unknown = api.login("nobody", PASSWORD)
    assert unknown.status_code == 401 and unknown.json()["error"] == wrong.json()["error"]
    assert api.get("/api/me").status_code == 401
    assert api.login("Alice").status_code == 200
    assert api.get("/api/me").json()["name"] == "alice"
    other = people.new()
    assert other.login("ALICE@example.org").status_code == 200
    assert other.get("/api/me").json()["name"] == "alice"
    with papers_db.session() as session:
        assert session.scalar(select(User.last_login_at).where(User.username == "alice")) is not None


def test_change_password_ends_the_other_sessions(people, papers_db):
    laptop = people.account(papers_db, "alice")
    phone = people.user("alice")  # logged in before the change, on another device
    assert phone.get("/api/me").status_code == 200
    wrong = laptop.post("/api/me/password", json={"current": "not my password!", "new": NEW_PASSWORD})
    assert wrong.status_code == 400 and wrong.json()["error"]
    weak = laptop.post("/api/me/password", json={"current": PASSWORD, "new": "short"})
    assert weak.status_code == 400 and "password" in weak.json()["error"]
    assert phone.get("/api/me").status_code == 200  # nothing changed yet
    changed = laptop.post("/api/me/password", json={"current": PASSWORD, "new": NEW_PASSWORD})
    assert changed.status_code == 200, changed.text
    laptop.csrf = changed.json()["csrfToken"]
    assert laptop.get("/api/me").status_code == 200  # the session that changed it goes on
    assert phone.get("/api/me").status_code == 401  # every other one ends
    assert phone.put(f"/api/papers/{PAPER}/upvote").status_code in (401, 403)
    assert vote_rows(papers_db, PAPER) == 0
    assert people.new().login("alice", PASSWORD).status_code == 401
    assert people.new().login("alice", NEW_PASSWORD).status_code == 200


def test_profile_change(people, papers_db):
    make_user(papers_db, "bob")
    alice = people.account(papers_db, "alice")
    r = alice.patch(
        "/api/me",
        json={"displayName": "  Alice Liddell ", "email": "Liddell@Example.org", "password": PASSWORD},
    )
    assert r.status_code == 200, r.text
    assert r.json()["fullname"] == "Alice Liddell" and r.json()["pendingEmail"] == "liddell@example.org"
    me = alice.get("/api/me").json()
    assert me["fullname"] == "Alice Liddell" and me["email"] == "alice@example.org"  # until the link
    taken = alice.patch("/api/me", json={"email": "bob@example.org", "password": PASSWORD})
    assert taken.status_code == 200 and taken.json()["pendingEmail"] == "bob@example.org"
    bad = alice.patch("/api/me", json={"email": "nope", "password": PASSWORD})
    assert bad.status_code == 400 and "email" in bad.json()["error"]
    empty = alice.patch("/api/me", json={"displayName": "   "})
    assert empty.status_code == 400
    assert alice.get("/api/me").json()["email"] == "alice@example.org"
    assert people.new().login("alice@example.org").status_code == 200
    assert people.new().patch("/api/me", json={"displayName": "x"}).status_code == 401


# --- votes and marks ---------------------------------------------------------------------------------


def test_upvote_moves_the_count_by_exactly_one_everywhere(people, papers_db):
    anonymous = people.new()
    listed = listed_upvotes(anonymous, PAPER)
    single = anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"]
    assert listed == single
    source, community = paper_row(papers_db, PAPER)
    assert (source, community) == (single, 0)
    alice = people.account(papers_db, "alice")
    for _ in range(2):  # twice is once
        r = alice.put(f"/api/papers/{PAPER}/upvote")
        assert r.status_code == 200, r.text
        assert r.json() == {"id": PAPER, "upvoted": True, "upvotes": single + 1}
    assert vote_rows(papers_db, PAPER) == 1
    assert paper_row(papers_db, PAPER) == (source, 1)
    assert listed_upvotes(anonymous, PAPER) == single + 1
    assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == single + 1
    assert listed_upvotes(alice, PAPER) == single + 1
    other = listed_upvotes(anonymous, OTHER_PAPER)
    assert other == paper_row(papers_db, OTHER_PAPER)[0]  # the other paper did not move
    for _ in range(2):
        r = alice.delete(f"/api/papers/{PAPER}/upvote")
        assert r.status_code == 200
        assert r.json() == {"id": PAPER, "upvoted": False, "upvotes": single}
    assert vote_rows(papers_db, PAPER) == 0
    assert paper_row(papers_db, PAPER) == (source, 0)
    assert listed_upvotes(anonymous, PAPER) == single
    assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == single


def test_upvote_needs_a_login_and_a_known_paper(people, papers_db):
    r = people.new().client.put(f"/api/papers/{PAPER}/upvote", json={})
    assert r.status_code == 401 and r.json()["error"]
    alice = people.account(papers_db, "alice")
    assert alice.put("/api/papers/2601.00001/upvote").status_code == 404
    assert alice.put("/api/papers/not-a-paper/upvote").status_code == 404
    assert vote_rows(papers_db, PAPER) == 0


def test_marks_read_and_not_interested(people, papers_db):
    alice = people.account(papers_db, "alice")
    for kind in ("read", "not_interested"):
        for _ in range(2):
            r = alice.put(f"/api/papers/{PAPER}/marks/{kind}")
            assert r.status_code == 200, r.text
            assert r.json() == {"id": PAPER, "mark": kind, "on": True}
    with papers_db.session() as session:
        assert sorted(session.scalars(select(PaperMark.kind))) == ["not_interested", "read"]
    bad = alice.put(f"/api/papers/{PAPER}/marks/liked")
    assert bad.status_code == 400 and "kind" in bad.json()["error"]
    assert alice.put("/api/papers/2601.00001/marks/read").status_code == 404
    taken_back = alice.delete(f"/api/papers/{PAPER}/marks/read")
    assert taken_back.json() == {"id": PAPER, "mark": "read", "on": False}
    with papers_db.session() as session:
        assert list(session.scalars(select(PaperMark.kind))) == ["not_interested"]
    assert people.new().client.put(f"/api/papers/{PAPER}/marks/read", json={}).status_code == 401


# --- comments ----------------------------------------------------------------------------------------


def bodies(api, arxiv_id: str = PAPER) -> list[str]:
    r = api.get(f"/api/papers/{arxiv_id}/comments")
    assert r.status_code == 200, r.text
    return [c["body"] for c in r.json()]


def test_comments_add_edit_delete_and_hide(people, papers_db):
    alice, bob, anonymous = people.account(papers_db, "alice"), people.account(papers_db, "bob"), people.new()
    moderator = people.account(papers_db, "mod", role="moderator")

    added = alice.post(f"/api/papers/{PAPER}/comments", json={"body": "  A fine paper.\r\nTruly.  "})
    assert added.status_code == 201, added.text
    comment = added.json()
    assert comment["body"] == "A fine paper.\nTruly." and comment["paper"] == PAPER
    assert comment["author"]["name"] == "alice" and comment["hidden"] is False and comment["editedAt"] is None
    assert "email" not in comment["author"]
    second = bob.post(f"/api/papers/{PAPER}/comments", json={"body": "I disagree."}).json()
    assert bodies(anonymous) == ["A fine paper.\nTruly.", "I disagree."]

    edited = alice.patch(f"/api/comments/{comment['id']}", json={"body": "A fine paper, edited."})
    assert edited.status_code == 200 and edited.json()["body"] == "A fine paper, edited."
    assert edited.json()["editedAt"] is not None
    assert bob.patch(f"/api/comments/{comment['id']}", json={"body": "hijacked"}).status_code == 403
    assert moderator.patch(f"/api/comments/{comment['id']}", json={"body": "hijacked"}).status_code == 403
    assert bob.delete(f"/api/comments/{comment['id']}").status_code == 403
    assert bodies(anonymous) == ["A fine paper, edited.", "I disagree."]

    for empty in ("", "   \n\t "):
        r = alice.post(f"/api/papers/{PAPER}/comments", json={"body": empty})
        assert r.status_code == 400 and "comment" in r.json()["error"]
    too_long = alice.post(f"/api/papers/{PAPER}/comments", json={"body": "x" * 5001})
    assert too_long.status_code == 400 and "5000" in too_long.json()["error"]
    assert alice.post(f"/api/papers/{PAPER}/comments", json={"body": "x" * 5000}).status_code == 201
    assert alice.patch(f"/api/comments/{comment['id']}", json={"body": " "}).status_code == 400
    assert alice.post("/api/papers/2601.00001/comments", json={"body": "hello"}).status_code == 404
    assert anonymous.client.post(f"/api/papers/{PAPER}/comments", json={"body": "hello"}).status_code == 401
    assert alice.patch("/api/comments/999999", json={"body": "hello"}).status_code == 404

    assert bob.post(f"/api/comments/{comment['id']}/hide", json={"hidden": True}).status_code == 403
    hidden = moderator.post(f"/api/comments/{comment['id']}/hide", json={"hidden": True})
    assert hidden.status_code == 200 and hidden.json()["hidden"] is True
    assert "A fine paper, edited." not in bodies(anonymous)
    assert "A fine paper, edited." not in bodies(bob)
    assert "A fine paper, edited." in bodies(alice)
    assert "A fine paper, edited." in bodies(moderator)
    shown = moderator.post(f"/api/comments/{comment['id']}/hide", json={"hidden": False})
    assert shown.status_code == 200 and "A fine paper, edited." in bodies(anonymous)

    assert alice.delete(f"/api/comments/{comment['id']}").status_code == 204
    assert "A fine paper, edited." not in bodies(alice)
    assert alice.delete(f"/api/comments/{comment['id']}").status_code == 404
    assert moderator.delete(f"/api/comments/{second['id']}").status_code == 204  # moderators may delete
    assert bodies(anonymous) == ["x" * 5000]


# --- collections -------------------------------------------------------------------------------------


@pytest.mark.parametrize("row_id", [2**31, -(2**31) - 1, 10**20])
def test_an_id_beyond_any_row_is_refused_not_a_server_error(people, papers_db, row_id):
    alice = people.account(papers_db, "alice")
    for method, path in [
        ("get", f"/api/collections/{row_id}"),
        ("delete", f"/api/collections/{row_id}"),
        ("put", f"/api/collections/{row_id}/papers/{PAPER}"),
        ("delete", f"/api/comments/{row_id}"),
        ("delete", f"/api/me/sessions/{row_id}"),
    ]:
        r = getattr(alice, method)(path)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:200])
    assert 400 <= alice.client.get(f"/collections/{row_id}").status_code < 500


def test_collections_of_one_owner(people, papers_db):
    alice, bob, anonymous = people.account(papers_db, "alice"), people.account(papers_db, "bob"), people.new()
    private = alice.post("/api/collections", json={"name": "  To   read ", "description": "later"})
    assert private.status_code == 201, private.text
    private = private.json()
    assert private["name"] == "To read" and private["public"] is False
    public = alice.post("/api/collections", json={"name": "Best of June", "public": True}).json()
    assert public["public"] is True
    assert alice.post("/api/collections", json={"name": "  "}).status_code == 400
    assert anonymous.client.post("/api/collections", json={"name": "x"}).status_code == 401

    for _ in range(2):
        r = alice.put(f"/api/collections/{private['id']}/papers/{PAPER}")
        assert r.status_code == 200 and r.json()["present"] is True
    alice.put(f"/api/collections/{private['id']}/papers/{OTHER_PAPER}")
    alice.put(f"/api/collections/{public['id']}/papers/{PAPER}")
    assert alice.put(f"/api/collections/{private['id']}/papers/2601.00001").status_code == 404
    got = alice.get(f"/api/collections/{private['id']}")
    assert got.status_code == 200
    assert sorted(p["id"] for p in got.json()["papers"]) == sorted([PAPER, OTHER_PAPER])
    assert got.json()["numPapers"] == 2 and got.json()["owner"]["name"] == "alice"
    removed = alice.delete(f"/api/collections/{private['id']}/papers/{OTHER_PAPER}")
    assert removed.status_code == 200 and removed.json()["present"] is False
    assert [p["id"] for p in alice.get(f"/api/collections/{private['id']}").json()["papers"]] == [PAPER]
    renamed = alice.patch(f"/api/collections/{private['id']}", json={"name": "Reading list"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Reading list"
    mine = alice.get("/api/collections").json()
    assert {c["name"]: c["numPapers"] for c in mine} == {"Reading list": 1, "Best of June": 1}

    before = snapshot(papers_db)
    for client in (bob, anonymous):
        assert client.get(f"/api/collections/{private['id']}").status_code == 404
    assert bob.patch(f"/api/collections/{private['id']}", json={"name": "mine now"}).status_code == 404
    assert bob.put(f"/api/collections/{private['id']}/papers/{OTHER_PAPER}").status_code == 404
    assert bob.delete(f"/api/collections/{private['id']}/papers/{PAPER}").status_code == 404
    assert bob.delete(f"/api/collections/{private['id']}").status_code == 404
    # the public one: anyone reads it, only its owner changes it
    for client in (bob, anonymous):
        r = client.get(f"/api/collections/{public['id']}")
        assert r.status_code == 200 and [p["id"] for p in r.json()["papers"]] == [PAPER]
    assert bob.patch(f"/api/collections/{public['id']}", json={"name": "mine now"}).status_code in (403, 404)
    assert bob.put(f"/api/collections/{public['id']}/papers/{OTHER_PAPER}").status_code in (403, 404)
    assert bob.delete(f"/api/collections/{public['id']}/papers/{PAPER}").status_code in (403, 404)
    assert bob.delete(f"/api/collections/{public['id']}").status_code in (403, 404)
    assert snapshot(papers_db) == before
    assert [c["name"] for c in bob.get("/api/users/alice/collections").json()] == ["Best of June"]
    assert [c["name"] for c in anonymous.get("/api/users/alice/collections").json()] == ["Best of June"]
    assert bob.get("/api/collections").json() == []

    assert alice.delete(f"/api/collections/{private['id']}").status_code == 204
    assert alice.get(f"/api/collections/{private['id']}").status_code == 404
    with papers_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Collection)) == 1


# --- submissions -------------------------------------------------------------------------------------


@pytest.fixture
def arxiv():
    """A local arXiv API knowing three papers: two recent, one published 20 days ago."""
    now = datetime.now(timezone.utc)
    known = [
        (1, "Fresh Results on Sparse Attention", timedelta(days=2)),
        (2, "Another Recent Paper", timedelta(days=13)),
        (3, "A Third Recent Paper", timedelta(hours=5)),
        (4, "A Fourth Recent Paper", timedelta(days=1)),
        (9, "An Old Paper", timedelta(days=20)),
    ]
    papers = {
        fresh_id(n): {"id": fresh_id(n), "title": title, "published": now - age} for n, title, age in known
    }
    papers[fresh_id(1)]["authors"] = ["Ada Lovelace", "Alan Turing"]
    with LocalServer(arxiv_responder(papers)) as server:
        yield server


@pytest.fixture
def submitters(settings, papers_db, arxiv):
    s = community_settings(settings, arxiv_api_url=arxiv.url + "/api/query", submit_daily_cap=2)
    with clients(s, papers_db) as made:
        yield made


def test_submit_a_paper_unknown_here_fetches_it_from_arxiv(submitters, papers_db, arxiv):
    alice = submitters.account(papers_db, "alice", display_name="Alice Liddell")
    new = fresh_id(1)
    r = alice.post("/api/papers/submit", json={"paper": f"https://arxiv.org/abs/{new}v1"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["paper"]["id"] == new and body["title"] == "Fresh Results on Sparse Attention"
    assert [a["name"] for a in body["paper"]["authors"]] == ["Ada Lovelace", "Alan Turing"]
    assert body["submittedBy"]["name"] == "alice" and body["submittedBy"]["fullname"] == "Alice Liddell"
    assert body["paper"]["upvotes"] == 1  # the submitter's own upvote
    assert [req.arg("id_list") for req in arxiv.requests] == [new]

    day = today().isoformat()
    listed = submitters.new().get(f"/api/daily_papers?date={day}").json()
    assert [i["paper"]["id"] for i in listed] == [new]
    assert listed[0]["submittedBy"]["name"] == "alice"
    assert listed[0]["paper"]["submittedOnDailyBy"]["name"] == "alice"
    assert listed[0]["paper"]["upvotes"] == 1
    assert vote_rows(papers_db, new) == 1
    assert submitters.new().get(f"/api/papers/{new}").json()["listedOn"] == [day]

    mine = alice.get("/api/me/submissions").json()
    assert [i["paper"]["id"] for i in mine] == [new]
    # a new display name shows on what the account submitted
    assert alice.patch("/api/me", json={"displayName": "Alice P. Liddell"}).status_code == 200
    listed = submitters.new().get(f"/api/daily_papers?date={day}").json()
    assert listed[0]["submittedBy"]["fullname"] == "Alice P. Liddell"
    assert [p["id"] for p in alice.get("/api/me/upvotes").json()] == [new]

    again = alice.post("/api/papers/submit", json={"paper": new})
    assert again.status_code == 409 and again.json()["error"]
    assert len(arxiv.requests) == 1  # known now: not fetched again
    bob = submitters.account(papers_db, "bob")
    assert bob.post("/api/papers/submit", json={"paper": f"arXiv:{new}"}).status_code == 409
    with papers_db.session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(DailyEntry)
                .join(Paper, Paper.id == DailyEntry.paper_id)
                .where(Paper.arxiv_id == new)
            )
            == 1
        )


def test_submit_refusals(submitters, papers_db, arxiv):
    anonymous = submitters.new()
    r = anonymous.client.post("/api/papers/submit", json={"paper": fresh_id(1)})
    assert r.status_code == 401
    alice = submitters.account(papers_db, "alice")
    for bad in ("not a paper", "2613.00001", "", "https://example.org/abs/1"):
        r = alice.post("/api/papers/submit", json={"paper": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]
    old = alice.post("/api/papers/submit", json={"paper": fresh_id(9)})
    assert old.status_code == 400 and "14 days" in old.json()["error"]
    listed_already = alice.post("/api/papers/submit", json={"paper": PAPER})  # from June: too old as well
    assert listed_already.status_code in (400, 409)
    unknown = alice.post("/api/papers/submit", json={"paper": fresh_id(7)})
    assert unknown.status_code == 404
    # the daily cap (2 in these settings)
    assert alice.post("/api/papers/submit", json={"paper": fresh_id(1)}).status_code == 201
    assert alice.post("/api/papers/submit", json={"paper": fresh_id(2)}).status_code == 201
    capped = alice.post("/api/papers/submit", json={"paper": fresh_id(3)})
    assert capped.status_code == 409 and "limit" in capped.json()["error"]
    day = today().isoformat()
    listed = {i["paper"]["id"] for i in submitters.new().get(f"/api/daily_papers?date={day}").json()}
    assert listed == {fresh_id(1), fresh_id(2)}
    assert fresh_id(3) not in {req.arg("id_list") for req in arxiv.requests}  # refused before fetching
    # another user has a cap of their own
    bob = submitters.account(papers_db, "bob")
    assert bob.post("/api/papers/submit", json={"paper": fresh_id(3)}).status_code == 201
    # a link to the paper's page on this site, or on Hugging Face, names it as well
    site = submitters.app.state.parts.application.settings.site_url
    r = bob.post("/api/papers/submit", json={"paper": f"{site}/papers/{fresh_id(4)}"})
    assert r.status_code == 201 and r.json()["paper"]["id"] == fresh_id(4)
    assert (
        bob.post(
            "/api/papers/submit", json={"paper": f"https://huggingface.co/papers/{fresh_id(4)}"}
        ).status_code
        == 409
    )


def test_submit_answers_503_when_arxiv_cannot_be_reached(settings, papers_db):
    down = f"http://127.0.0.1:{free_port()}/api/query"
    with clients(community_settings(settings, arxiv_api_url=down), papers_db) as made:
        alice = made.account(papers_db, "alice")
        r = alice.post("/api/papers/submit", json={"paper": fresh_id(1)})
        assert r.status_code == 503, r.text
        assert "arXiv" in r.json()["error"]
    with papers_db.session() as session:
        stored = select(func.count()).select_from(Paper).where(Paper.arxiv_id == fresh_id(1))
        assert session.scalar(stored) == 0


def test_my_upvotes_most_recent_first(people, papers_db):
    alice = people.account(papers_db, "alice")
    assert alice.get("/api/me/upvotes").json() == []
    alice.put(f"/api/papers/{PAPER}/upvote")
    alice.put(f"/api/papers/{OTHER_PAPER}/upvote")
    assert [p["id"] for p in alice.get("/api/me/upvotes").json()] == [OTHER_PAPER, PAPER]
    alice.delete(f"/api/papers/{OTHER_PAPER}/upvote")
    assert [p["id"] for p in alice.get("/api/me/upvotes").json()] == [PAPER]
    assert alice.get("/api/me/submissions").json() == []
    anonymous = people.new()
    assert anonymous.get("/api/me/upvotes").status_code == 401
    assert anonymous.get("/api/me/submissions").status_code == 401


# --- export and deletion -----------------------------------------------------------------------------


def act(api, tag: str, paper: str) -> dict:
    """Vote, comment, collect and mark, each with ``tag`` somewhere to recognise it."""
    assert api.put(f"/api/papers/{paper}/upvote").status_code == 200
    comment = api.post(f"/api/papers/{paper}/comments", json={"body": f"comment by {tag}"}).json()
    collection = api.post("/api/collections", json={"name": f"list of {tag}", "public": True}).json()
    assert api.put(f"/api/collections/{collection['id']}/papers/{paper}").status_code == 200
    assert api.put(f"/api/papers/{paper}/marks/read").status_code == 200
    return {"comment": comment, "collection": collection}


def test_export_holds_my_data_and_nothing_else(people, papers_db):
    alice = people.account(papers_db, "alice", display_name="Alice Liddell")
    bob = people.account(papers_db, "bob", display_name="Robert Bobson")
    act(alice, "alice-tag", PAPER)
    act(bob, "bob-tag", OTHER_PAPER)
    bob.put(f"/api/papers/{PAPER}/upvote")
    r = alice.get("/api/me/export")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"] and "alice" in r.headers["content-disposition"]
    data = r.json()
    assert data["account"]["username"] == "alice" and data["account"]["email"] == "alice@example.org"
    assert [v["paper"] for v in data["upvotes"]] == [PAPER]
    assert [c["body"] for c in data["comments"]] == ["comment by alice-tag"]
    assert [c["name"] for c in data["collections"]] == ["list of alice-tag"]
    assert [p["paper"] for p in data["collections"][0]["papers"]] == [PAPER]
    assert [(m["paper"], m["kind"]) for m in data["marks"]] == [(PAPER, "read")]
    assert data["submissions"] == [] and data["interests"] == [] and data["subscription"] == []
    assert alice.put("/api/me/interests", json={"category": ["cs.CL"]}).status_code == 200
    assert alice.post("/api/subscriptions", json={"frequency": "weekly"}).status_code == 202
    data = alice.get("/api/me/export").json()
    assert [(i["kind"], i["value"]) for i in data["interests"]] == [("category", "cs.CL")]
    assert [(s["email"], s["frequency"]) for s in data["subscription"]] == [("alice@example.org", "weekly")]
    text = r.text.lower()
    for secret in ("password", "argon2", "$argon", "bob", "robert", OTHER_PAPER):
        assert secret not in text, secret
    assert people.new().get("/api/me/export").status_code == 401


def test_delete_account_removes_what_it_wrote_and_keeps_submitted_papers(submitters, papers_db):
    alice = submitters.account(papers_db, "alice", display_name="Alice Liddell")
    bob, anonymous = submitters.account(papers_db, "bob"), submitters.new()
    source, _ = paper_row(papers_db, PAPER)
    act(alice, "alice-tag", PAPER)
    act(bob, "bob-tag", PAPER)
    bob.put(f"/api/papers/{OTHER_PAPER}/upvote")
    new = fresh_id(1)
    assert alice.post("/api/papers/submit", json={"paper": new}).status_code == 201
    assert bob.put(f"/api/papers/{new}/upvote").status_code == 200
    assert paper_row(papers_db, PAPER) == (source, 2)
    assert paper_row(papers_db, new)[1] == 2

    before = snapshot(papers_db)
    wrong = alice.delete("/api/me", json={"password": "not my password!"})
    assert wrong.status_code == 400 and wrong.json()["error"]
    assert snapshot(papers_db) == before
    assert alice.get("/api/me").status_code == 200

    gone = alice.delete("/api/me", json={"password": PASSWORD})
    assert gone.status_code == 204, gone.text
    assert alice.get("/api/me").status_code == 401
    assert submitters.new().login("alice").status_code == 401
    assert paper_row(papers_db, PAPER) == (source, 1)  # bob's vote stays
    assert anonymous.get(f"/api/papers/{PAPER}").json()["upvotes"] == source + 1
    assert paper_row(papers_db, new)[1] == 1
    assert bodies(anonymous) == ["comment by bob-tag"]
    day = today().isoformat()
    listed = anonymous.get(f"/api/daily_papers?date={day}").json()
    assert [i["paper"]["id"] for i in listed] == [new]
    assert "submittedBy" not in listed[0] and "submittedOnDailyBy" not in listed[0]["paper"]
    assert "alice" not in json.dumps(listed).lower()
    assert listed[0]["paper"]["upvotes"] == 1
    with papers_db.session() as session:
        assert session.scalar(select(User.id).where(User.username == "alice")) is None
        names = set(session.scalars(select(User.username)))
        assert names == {"bob"}
        assert session.scalar(select(func.count()).select_from(Vote)) == 3  # bob's three
        assert session.scalar(select(func.count()).select_from(Comment)) == 1
        assert list(session.scalars(select(Collection.name))) == ["list of bob-tag"]
        assert session.scalar(select(func.count()).select_from(PaperMark)) == 1
    # the name is free again
    assert submitters.new().register("alice").status_code == 201


def test_a_moderator_who_hid_comments_can_delete_their_account(people, papers_db):
    bob = people.account(papers_db, "bob")
    moderator = people.account(papers_db, "mod", role="moderator")
    comment = bob.post(f"/api/papers/{PAPER}/comments", json={"body": "off topic"}).json()
    assert moderator.post(f"/api/comments/{comment['id']}/hide", json={"hidden": True}).status_code == 200
    assert moderator.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    assert bodies(people.new()) == []  # still hidden
    assert bodies(bob) == ["off topic"]
    with papers_db.session() as session:
        assert session.scalar(select(Comment.hidden_by_id)) is None


# --- roles from the command line ---------------------------------------------------------------------


def test_cli_user_create_and_role_give_moderation_rights(database_env, settings, db):
    runner = CliRunner()

    def cli(*args: str, stdin: str | None = None):
        return runner.invoke(cli_app, list(args), input=stdin, catch_exceptions=False)

    created = cli(
        "user",
        "create",
        "chief",
        "--email",
        "chief@example.org",
        "--admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    assert "admin" in created.stdout and "chief" in created.stdout
    assert (
        cli(
            "user",
            "create",
            "mod",
            "--email",
            "mod@example.org",
            "--moderator",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        ).exit_code
        == 0
    )
    assert (
        cli(
            "user",
            "create",
            "plain",
            "--email",
            "plain@example.org",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        ).exit_code
        == 0
    )
    dup = runner.invoke(
        cli_app,
        ["user", "create", "chief", "--email", "x@example.org", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert dup.exit_code != 0 and "taken" in dup.output
    short = runner.invoke(
        cli_app, ["user", "create", "weak", "--email", "w@example.org", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "password" in short.output
    listing = json.loads(cli("user", "list", "--json").stdout)
    assert {(u["username"], u["role"]) for u in listing} == {
        ("chief", "admin"),
        ("mod", "moderator"),
        ("plain", "user"),
    }

    load_papers(db)
    with clients(community_settings(settings), db) as made:
        chief = made.user("chief")  # the password given on standard input works
        with db.session() as session:
            mod, plain = (made.session(accounts.user_by_name(session, n)) for n in ("mod", "plain"))
        assert chief.get("/api/me").json()["role"] == "admin"
        comment = plain.post(f"/api/papers/{PAPER}/comments", json={"body": "spam spam spam"}).json()
        assert plain.post(f"/api/comments/{comment['id']}/hide", json={"hidden": True}).status_code == 403
        assert mod.post(f"/api/comments/{comment['id']}/hide", json={"hidden": True}).status_code == 200
        assert chief.post(f"/api/comments/{comment['id']}/hide", json={"hidden": False}).status_code == 200
        other = chief.post(f"/api/papers/{PAPER}/comments", json={"body": "an admin's note"}).json()
        assert plain.post(f"/api/comments/{other['id']}/hide", json={"hidden": True}).status_code == 403

        assert cli("user", "role", "plain", "moderator").exit_code == 0
        # another process: the site learns of it within session_check_interval
        assert eventually(lambda: plain.get("/api/me").json()["role"] == "moderator")
        assert plain.post(f"/api/comments/{other['id']}/hide", json={"hidden": True}).status_code == 200
        assert "an admin's note" in bodies(plain)  # moderators see hidden comments
        assert cli("user", "role", "plain", "user").exit_code == 0
        assert eventually(lambda: plain.get("/api/me").json()["role"] == "user")
        assert "an admin's note" not in bodies(plain)
        assert plain.post(f"/api/comments/{other['id']}/hide", json={"hidden": False}).status_code == 403
        bad = runner.invoke(cli_app, ["user", "role", "plain", "superuser"])
        assert bad.exit_code != 0


def test_index_a_paper_as_hugging_face_does_fetches_it_without_listing_it(submitters, papers_db, arxiv):
    new = fresh_id(4)
    anonymous = submitters.new()
    assert anonymous.post("/api/papers/index", json={"arxivId": new}).status_code == 401
    alice = submitters.account(papers_db, "alice")
    r = alice.post("/api/papers/index", json={"arxivId": f"https://arxiv.org/abs/{new}"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == new and r.json()["title"] == "A Fourth Recent Paper"
    assert [req.arg("id_list") for req in arxiv.requests] == [new]
    assert anonymous.get(f"/api/papers/{new}").json()["listedOn"] == []  # stored, listed nowhere
    again = alice.post("/api/papers/index", json={"arxivId": new})
    assert again.status_code == 200 and len(arxiv.requests) == 1  # stored already: not fetched again
    assert alice.post("/api/papers/index", json={"arxivId": "not an id"}).status_code == 400
    assert alice.post("/api/papers/index", json={"paper": new}).status_code == 400  # no arxivId
    missing = alice.post("/api/papers/index", json={"arxivId": fresh_id(7)})
    assert missing.status_code == 404 and fresh_id(7) in missing.json()["error"]
