"""An upvote asked for while logged out: the button leads to the log-in page, which comes back to a
page whose button (a POST with the reader's fresh token) casts the vote and returns to the list. A GET
never votes."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from dailypapers.store.importer import Importer
from dailypapers.store.models import Vote
from tests.support.community import PAPER, PASSWORD, clients, community_settings, load_papers, make_users

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _votes(db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Vote)) or 0


def test_a_logged_out_upvote_is_cast_after_logging_in_with_one_click(settings, db):
    load_papers(db)
    make_users(db, ["alice"])
    with clients(community_settings(settings), db) as made:
        reader = made.new().client
        home = reader.get("/?sort=stars").text
        link = re.search(rf'href="(/papers/{PAPER}/upvote\?[^"]+)"', home)
        assert link is not None and "log in to upvote" in home
        assert parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query) == {"back": ["/?sort=stars"]}
        to_login = reader.get(link.group(1).replace("&amp;", "&"), follow_redirects=False)
        assert to_login.status_code == 303
        login_url = to_login.headers["location"]
        assert login_url.startswith("/account/login?next=")
        page = reader.get(login_url)
        assert "Log in to upvote" in page.text
        nxt = re.search(r'name="next" value="([^"]+)"', page.text)
        assert nxt is not None
        assert _votes(db) == 0
        logged = reader.post(
            "/account/login",
            data={
                "csrf_token": TOKEN.findall(page.text)[0],
                "login": "alice",
                "password": PASSWORD,
                "next": nxt.group(1).replace("&amp;", "&"),
            },
            follow_redirects=False,
        )
        assert logged.status_code == 303 and logged.headers["location"].startswith(f"/papers/{PAPER}/upvote?")
        confirm = reader.get(logged.headers["location"])
        assert confirm.status_code == 200 and "Upvote this paper?" in confirm.text
        assert _votes(db) == 0  # coming back (a GET) cast nothing
        token = TOKEN.findall(confirm.text)[0]
        assert 'name="back" value="/?sort=stars"' in confirm.text
        cast = reader.post(
            f"/papers/{PAPER}/vote",
            data={"csrf_token": token, "vote": "add", "back": "/?sort=stars"},
            follow_redirects=False,
        )
        assert cast.status_code == 303 and cast.headers["location"] == f"/?sort=stars#card-{PAPER}"
        assert _votes(db) == 1
        assert "You upvoted this paper already." in reader.get(f"/papers/{PAPER}/upvote?back=/").text
        # a form without the token is refused, and a foreign "back" never leaves the site
        forged = reader.post(f"/papers/{PAPER}/vote", data={"vote": "remove"}, follow_redirects=False)
        assert forged.status_code == 403 and _votes(db) == 1
        away = reader.post(
            f"/papers/{PAPER}/vote",
            data={"csrf_token": token, "vote": "remove", "back": "//evil.example/x"},
            follow_redirects=False,
        )
        assert away.headers["location"] == f"/#card-{PAPER}" and _votes(db) == 0
        off = reader.get(f"/papers/{PAPER}/upvote?back=https://evil.example/")
        assert 'name="back" value="/"' in off.text


def test_the_way_back_from_a_card_loaded_by_more_papers_is_the_list_up_to_its_page(settings, db):
    from tests.test_pages import _extra_records

    Importer(db).run(_extra_records())
    with clients(community_settings(settings), db) as made:
        reader = made.new().client
        more = {"HX-Request": "true", "HX-Target": "cards"}
        fragment = reader.get("/papers/date/2025-03-03?sort=stars&p=1", headers=more).text
        backs = {
            parse_qs(urlsplit(link.replace("&amp;", "&")).query)["back"][0]
            for link in re.findall(r'href="(/papers/[^"]+/upvote\?[^"]+)"', fragment)
        }
        assert backs == {"/papers/date/2025-03-03?sort=stars&upto=1"}
