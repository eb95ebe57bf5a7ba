"""Community pages in a real browser (Debian's Chromium through Playwright, a real uvicorn on 127.0.0.1):
user-written payloads never run, and upvotes and comments update in place without a page load.

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from dailypapers.community import accounts
from dailypapers.store.models import Collection, Comment, Vote
from tests.support.browser import MATH_ID, log_in, screenshot

PASSWORD = "correct horse battery staple"
# each payload sets window.__xss (or opens a dialog) if it ever runs as code
DISPLAY_NAME = '<img src=x onerror="window.__xss=1">Mallory'
COMMENT = (
    '<script>window.__xss=2</script> look <img src=x onerror="window.__xss=3;alert(3)"> '
    'and javascript:window.__xss=4 and https://example.org/"onmouseover="window.__xss=5'
)
COLLECTION = '<svg onload="window.__xss=6"></svg><b>Reading</b>'


@pytest.fixture
def site(demo_site: str) -> str:
    return demo_site


def shown_count(card: Any) -> int:
    """The upvote count a card shows (the button's title carries it unabbreviated)."""
    title = card.locator("button.vote-button").get_attribute("title")
    return int(re.search(r"\((\d+) upvotes\)", title).group(1))


def test_payloads_in_a_comment_a_collection_name_and_a_display_name_never_run(site, browser, db):
    accounts.register(
        db, username="mallory", email="m@example.org", password=PASSWORD, display_name=DISPLAY_NAME
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, site, "mallory")

    page.goto(f"{site}/papers/{MATH_ID}")
    page.fill("#comment-body", COMMENT)
    page.click(".comment-form button[type=submit]")
    page.wait_for_selector(".comment-list .comment")
    page.goto(f"{site}/collections")
    page.fill("#name", COLLECTION)
    page.check("input[name=public]")
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{site}/collections/*")
    collection_url = page.url
    page.goto(f"{site}/papers/{MATH_ID}")
    page.select_option("#save-to-collection", label=" ".join(COLLECTION.split()))
    page.click(".save-to button[type=submit]")

    with db.session() as session:  # what was stored is the raw text: escaping happens when it is shown
        assert session.scalar(select(Comment.body)) == COMMENT
        assert session.scalar(select(Collection.name)) == COLLECTION

    for path in (
        f"/papers/{MATH_ID}",
        collection_url.removeprefix(site),
        "/users/mallory",
        "/account",
        "/collections",
        "/",
    ):
        page.goto(site + path)
        page.wait_for_load_state("load")
        page.mouse.move(5, 5)
        for link in page.locator(".comment-body a").all():
            link.hover()
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("script:not([src])").count() == 0, path  # no inline script anywhere
    # and the text is shown as text
    page.goto(f"{site}/papers/{MATH_ID}")
    assert "<script>window.__xss=2</script>" in page.locator(".comment-body").inner_text()
    assert page.locator(".comment-head .who").inner_text() == DISPLAY_NAME
    assert page.locator(".me-name").inner_text() == DISPLAY_NAME
    links = page.locator(".comment-body a")
    assert links.count() == 1 and links.get_attribute("href").startswith("https://example.org/")
    assert "nofollow" in links.get_attribute("rel")
    page.goto(collection_url)
    assert page.locator("h1").inner_text() == COLLECTION
    assert page.locator(".cards > li.card").count() == 1
    screenshot(page, "community-xss-collection")
    assert dialogs == []
    assert page.evaluate("window.__xss") is None
    context.close()


def test_upvote_and_comment_without_a_page_load(site, browser, db):
    accounts.register(db, username="reader", email="r@example.org", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    log_in(page, site, "reader")

    page.goto(f"{site}/papers/date/2026-06-29")
    card = page.locator(f"[id='card-{MATH_ID}']")
    before = shown_count(card)
    page.evaluate("window.__stay = 'same page'")
    card.locator("button.vote-button").click()
    page.wait_for_selector(f"[id='card-{MATH_ID}'] button.vote-button.voted")
    assert page.evaluate("window.__stay") == "same page"  # htmx swapped the button; no navigation
    assert shown_count(card) == before + 1 and card.locator(".votes-n").inner_text() == "1.0k"
    assert card.locator("button.vote-button").get_attribute("aria-pressed") == "true"
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 1
    screenshot(page, "community-voted-card", full_page=False)

    card.locator("button.vote-button").click()  # take it back
    page.wait_for_selector(f"[id='card-{MATH_ID}'] button.vote-button:not(.voted)")
    assert shown_count(card) == before and card.locator(".votes-n").inner_text() == "999"
    assert page.evaluate("window.__stay") == "same page"
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 0

    page.goto(f"{site}/papers/{MATH_ID}")
    page.evaluate("window.__stay = 'paper page'")
    page.fill("#comment-body", "Nice result, see `eq. 3` and **Table 2**.")
    page.click(".comment-form button[type=submit]")
    page.wait_for_selector(".comment-list .comment")
    assert page.evaluate("window.__stay") == "paper page"
    body = page.locator(".comment-body")
    assert body.locator("code").inner_text() == "eq. 3" and body.locator("strong").inner_text() == "Table 2"
    page.reload()
    assert page.locator(".comment-list .comment").count() == 1  # stored, not just shown
    assert errors == []
    # logged in on a phone: the longer header still fits, no page scrolls sideways
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", f"/papers/{MATH_ID}", "/for-you", "/collections", "/account", "/subscribe"):
        page.goto(site + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone when logged in"
    screenshot(page, "community-phone-account", full_page=False)
    context.close()


def test_follow_an_author_then_a_new_paper_of_theirs_is_on_following(site, browser, db):
    from datetime import date

    from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
    from dailypapers.store.importer import Importer

    accounts.register(db, username="reader", email="r@example.org", password=PASSWORD, display_name="Reader")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, site, "reader")
    page.goto(f"{site}/papers/{MATH_ID}")
    page.locator(".author-list a", has_text="Ada Lovelace").click()
    page.wait_for_url(f"{site}/authors/Ada%20Lovelace")
    page.get_by_role("button", name="Follow").click()
    page.wait_for_url(f"{site}/authors/Ada%20Lovelace")
    assert page.get_by_role("button", name="Following · unfollow").count() == 1

    Importer(db).run(  # a new day with a new paper of hers
        [
            DailyEntryRecord(
                paper=PaperRecord(
                    arxiv_id="2607.01234",
                    title="Notes on a new engine",
                    abstract="The engine weaves algebraic patterns.",
                    authors=["Charles Babbage", "Ada Lovelace"],
                ),
                day=date(2026, 7, 1),
                upvotes=2,
            )
        ]
    )
    page.get_by_role("link", name="Following").click()
    page.wait_for_url(f"{site}/following")
    cards = page.locator("#cards > li.card")
    assert cards.first.get_attribute("id") == "card-2607.01234"
    assert page.locator("#cards > li.card-reason").first.inner_text() == "by Ada Lovelace"
    assert page.locator(f"[id='card-{MATH_ID}']").count() == 1  # her earlier paper, further down
    screenshot(page, "following")
    context.close()


def test_a_logged_in_header_keeps_its_search_box_and_every_link_in_view(site, browser, db):
    accounts.register(
        db, username="header", email="header@example.org", password=PASSWORD, display_name="Header Reader"
    )
    for width in (1280, 1024, 800, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        log_in(page, site, "header")
        page.goto(f"{site}/papers/trending?category=cs")
        screenshot(page, f"header-logged-in-{width}", full_page=False)
        search = page.locator("#site-q").bounding_box()
        assert search is not None and search["width"] >= 160, (width, search)
        if width <= 600:  # a phone: the links are in the menu
            page.locator(".site-menu > summary").click()
        for link in page.locator(".site-nav a, .site-nav button").all():
            assert link.is_visible(), (width, link)
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, link)
        context.close()
