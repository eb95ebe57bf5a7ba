""" "More papers" leaves ``?upto=N`` in the address bar, and that address renders every page up to N, so
that Back (or a reload) shows the cards that were loaded; logged-in readers get it from the shared copy."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest import hf_daily
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from dailypapers.web.pages import MAX_UPTO, PAGE_SIZE
from tests.conftest import TEST_DATA
from tests.support.community import clients, community_settings
from tests.test_pages import LONG_COUNT, _extra_records

DAY = "/papers/date/2025-03-03"


def _ids(html: str) -> list[str]:
    return re.findall(r'<li class="card[^"]*" id="card-([^"]+)"', html)


@pytest.fixture
def client(settings, db):
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    Importer(db).run(_extra_records())
    with TestClient(create_app(settings, database=db)) as c:
        yield c


def test_the_address_more_papers_leaves_renders_the_list_up_to_that_page(client):
    first = client.get(DAY).text
    assert f'hx-get="{DAY}?p=1"' in first and f'hx-push-url="{DAY}?upto=1"' in first
    pages = _ids(first) + _ids(client.get(f"{DAY}?p=1").text)
    assert len(pages) == LONG_COUNT
    both = client.get(f"{DAY}?upto=1")
    assert both.status_code == 200 and both.text.startswith("<!doctype html>")
    assert _ids(both.text) == pages  # every card loaded so far, in order
    assert "More papers" not in both.text and f'href="{DAY}"' in both.text  # the end; the first page
    # with filters kept, the next page and its address
    sorted_ = client.get(f"{DAY}?sort=stars").text
    assert f'hx-get="{DAY}?sort=stars&amp;p=1"' in sorted_
    assert f'hx-push-url="{DAY}?sort=stars&amp;upto=1"' in sorted_
    assert _ids(client.get(f"{DAY}?sort=stars&upto=1").text)[:PAGE_SIZE] == _ids(sorted_)
    # htmx restoring that address from history asks for the whole page
    history = {"HX-Request": "true", "HX-Target": "cards", "HX-History-Restore-Request": "true"}
    assert _ids(client.get(f"{DAY}?upto=1", headers=history).text) == pages
    # upto=0 is the first page; far pages render alone; nonsense is a 400 page
    assert _ids(client.get(f"{DAY}?upto=0").text) == _ids(first)
    assert _ids(client.get(f"{DAY}?upto={MAX_UPTO + 1}").text) == []
    for bad, says in (("x", "upto must be a number"), ("-1", "upto must be between")):
        r = client.get(f"{DAY}?upto={bad}")
        assert r.status_code == 400 and says in r.text


def test_logged_in_readers_get_the_list_up_to_a_page_from_the_shared_copy(settings, db):
    Importer(db).run(_extra_records())
    with clients(community_settings(settings), db) as made:
        alice = made.account(db, "alice")
        anonymous = made.new()
        copies = made.app.state.parts.shared_copies
        renders = copies.renders
        mine = alice.client.get(f"{DAY}?upto=1").text
        assert copies.renders == renders + 1 and "<!--dp:" not in mine
        assert _ids(mine) == _ids(anonymous.client.get(f"{DAY}?upto=1").text)
        assert len(_ids(mine)) == LONG_COUNT
