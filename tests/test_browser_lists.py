"""The list pages a reader uses every morning, in a real browser (Debian's Chromium through Playwright,
a real uvicorn on 127.0.0.1): Back after "More papers" keeps the loaded cards and the place, saving to a
collection answers in place, the header and long author lists fit a phone, and an upvote asked for while
logged out is cast after logging in (with a click on a page carrying a fresh token).

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dailypapers.community import accounts, actions
from dailypapers.demo import load_demo
from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.importer import Importer
from tests.support.browser import MATH_ID, live_server, log_in, math_entry, screenshot
from tests.support.community import PASSWORD, make_users

CROWD_ID = "2606.99002"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def crowd_entry() -> DailyEntryRecord:
    """A paper by 40 authors, listed on 2026-06-29."""
    paper = PaperRecord(
        arxiv_id=CROWD_ID,
        title="A Large Collaboration Measures Everything",
        abstract="We measured everything, together. " * 12,
        authors=[f"Author Number{i} Collaborator" for i in range(1, 41)],
        published_at=datetime(2026, 6, 28, tzinfo=UTC),
    )
    return DailyEntryRecord(paper=paper, day=date(2026, 6, 29), upvotes=5)


@pytest.fixture
def site(settings, db) -> Iterator[str]:
    load_demo(db)
    Importer(db).run([math_entry(), crowd_entry()])
    make_users(db, ["reader"])
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


def test_the_header_and_a_long_author_list_fit_a_phone(site, browser):
    from playwright.sync_api import expect

    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = _errors(page)
    for who in ("anonymous", "reader"):
        if who == "reader":
            log_in(page, site, "reader")
        page.goto(site + "/papers/date/2026-06-29")
        header = page.locator("header.site").bounding_box()
        assert header is not None and header["height"] <= 64, (who, header)
        screenshot(page, f"lists-phone-header-{who}", full_page=False)
        menu = page.locator(".site-menu > summary")
        links = page.locator(".site-nav a")
        expect(links.first).to_be_hidden()  # folded into the menu
        menu.click()
        expect(links.first).to_be_visible()
        for link in links.all():
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (who, box)
        screenshot(page, f"lists-phone-menu-{who}", full_page=False)
        menu.click()
        expect(links.first).to_be_hidden()
    # the card names three of the 40 authors and folds the rest into a link in the same line of text
    line = page.locator(f'[id="card-{CROWD_ID}"] .card-authors')
    expect(line.locator("a")).to_have_count(4)
    folded = line.locator("a.authors-more")
    expect(folded).to_have_text("and 37 more")
    assert folded.evaluate("a => getComputedStyle(a).display") == "inline"
    assert folded.evaluate("a => getComputedStyle(a).marginTop") == "0px"
    page.goto(site + f"/papers/{CROWD_ID}")
    more = page.locator(".author-more summary")
    expect(more).to_have_text("and 37 more")
    assert page.locator(".author-list a:visible").count() == 3
    abstract = page.locator(".abstract-text").bounding_box()
    assert abstract is not None and abstract["y"] < 844, abstract  # the abstract starts on the first screen
    screenshot(page, "lists-phone-long-authors", full_page=False)
    more.click()
    expect(page.locator(".author-list a:visible")).to_have_count(40)
    assert page.locator(".author-list a", has_text="Author Number40 Collaborator").is_visible()
    # wide screens: the links stand in the bar, no menu button
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(site + "/")
    expect(page.locator(".site-menu > summary")).to_be_hidden()
    expect(page.locator(".site-nav a", has_text="Trending")).to_be_visible()
    assert errors == []
    context.close()


def test_saving_to_a_collection_and_marks_answer_in_place(site, browser, db):
    from playwright.sync_api import expect

    with db.session() as session:
        reader = accounts.user_by_name(session, "reader")
    actions.create_collection(db, reader, "Reading list")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = _errors(page)
    log_in(page, site, "reader")
    page.goto(site + f"/papers/{MATH_ID}")
    page.evaluate("window.__stay = 'same page'")
    page.select_option("#save-to-collection", label="Reading list")
    page.locator("#save button[type=submit]").click()
    expect(page.locator(".save-status")).to_have_text("Saved to “Reading list”.")
    expect(page.locator(".saved-in a")).to_have_text("Reading list")
    assert page.evaluate("window.__stay") == "same page"  # swapped in place, no reload to the top
    assert "✓ saved" in page.locator("#save-to-collection option").first.inner_text()
    page.locator("#save button[type=submit]").click()
    expect(page.locator(".save-status")).to_have_text("Already in “Reading list”.")
    page.get_by_role("button", name="Mark as read").click()
    page.wait_for_url(site + f"/papers/{MATH_ID}")
    page.goto(site + "/papers/date/2026-06-29")
    card = page.locator(f"[id='card-{MATH_ID}']")
    expect(card).to_have_class("card card-marked card-read")
    other = page.locator("#cards > li.card:not(.card-marked)").first
    title_colour = "el => getComputedStyle(el.querySelector('.card-title a')).color"
    assert card.evaluate(title_colour) != other.evaluate(title_colour)  # dimmed, the others not
    assert card.evaluate("el => getComputedStyle(el).borderTopStyle") == "dashed"
    screenshot(page, "lists-marked-dimmed", full_page=False)
    assert errors == []
    context.close()


def test_an_upvote_asked_for_logged_out_is_cast_after_logging_in(site, browser):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = _errors(page)
    page.goto(site + "/papers/date/2026-06-29")
    card = page.locator(f"[id='card-{MATH_ID}']")
    card.locator("a.vote-login").click()
    page.wait_for_url("**/account/login?next=*")
    expect(page.locator(".form-ok")).to_contain_text("Log in to upvote")
    page.fill("#login", "reader")
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"**/papers/{MATH_ID}/upvote?*")
    page.get_by_role("button", name="Upvote").click()
    page.wait_for_url(site + f"/papers/date/2026-06-29#card-{MATH_ID}")
    expect(card.locator("button.vote-button")).to_have_class("votes vote-button voted")
    assert errors == []
    context.close()
