"""The list pages a reader uses every morning, in a real browser (Debian's Chromium through Playwright,
a real uvicorn on 127.0.0.1): Back after "More papers" keeps the loaded cards and the place, saving to a
collection answers in place, the header and long author lists fit a phone, and an upvote asked for while
logged out is cast after logging in (with a click on a page carrying a fresh token).

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dailypapers.demo import load_demo
from dailypapers.store.importer import Importer
from tests.support.browser import MATH_ID, live_server, math_entry, screenshot


@pytest.fixture
def site(settings, db) -> Iterator[str]:
    load_demo(db)
    Importer(db).run([math_entry()])
    with live_server(settings, db) as url:
        yield url


def _errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and errors.append(f"console: {msg.text}"))
    return errors


def test_back_after_more_papers_restores_the_cards_and_the_place(site, browser):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = _errors(page)
    page.goto(site + "/papers/month/2026-06")
    expect(page.locator("#cards > li.card")).to_have_count(50)
    page.get_by_role("link", name="More papers").click()
    expect(page.locator("#cards > li.card")).to_have_count(100)
    expect(page).to_have_url(site + "/papers/month/2026-06?upto=1")
    target = page.locator("#cards > li.card").nth(80)
    target.scroll_into_view_if_needed()
    page.mouse.wheel(0, 1)  # a scroll the browser records for the history entry
    page.wait_for_timeout(100)
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 3000
    title = target.locator(".card-title a")
    arxiv_id = (title.get_attribute("href") or "").removeprefix("/papers/")
    title.click()
    page.wait_for_url(site + f"/papers/{arxiv_id}")
    page.go_back()
    page.wait_for_url(site + "/papers/month/2026-06?upto=1")
    expect(page.locator("#cards > li.card")).to_have_count(100)  # the extra cards are there
    expect(page.locator(f"[id='card-{arxiv_id.replace('/', '-')}']")).to_be_in_viewport()
    assert abs(page.evaluate("window.scrollY") - scrolled) < 200  # and so is the place
    # loading more from there goes on from page 2
    page.get_by_role("link", name="More papers").click()
    expect(page.locator("#cards > li.card")).to_have_count(150)
    expect(page).to_have_url(site + "/papers/month/2026-06?upto=2")
    loaded = [page.locator("#cards > li.card").nth(i).get_attribute("id") for i in range(150)]
    page.reload()  # the address renders the same list, page by page
    assert [page.locator("#cards > li.card").nth(i).get_attribute("id") for i in range(150)] == loaded
    assert errors == []
    context.close()
