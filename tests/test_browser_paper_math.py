"""Math in a comment and in a title, typeset by KaTeX in a real browser (Debian's Chromium through
Playwright, a real uvicorn on 127.0.0.1), and a refused comment explained in place by htmx.

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.importer import Importer
from tests.support.browser import live_server, log_in, screenshot
from tests.support.community import community_settings, load_papers, make_user

TITLED = "2606.99201"
TITLE = r"DR^{3}: Retrieval in $\mathcal{O}(\log n)$ Time"


@pytest.fixture
def site(settings, db) -> Iterator[str]:
    load_papers(db)
    entry = DailyEntryRecord(
        paper=PaperRecord(arxiv_id=TITLED, title=TITLE, abstract="An abstract."),
        day=date(2026, 6, 30),
        upvotes=99,
    )
    Importer(db).run([entry])
    with live_server(community_settings(settings, cache_check_interval=0.0), db) as url:
        yield url


def test_math_in_a_title_and_a_comment_is_typeset(site, browser, db):
    make_user(db, "reader")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, site, "reader")

    card_title = page.locator(f"[id='t-{TITLED}']")
    card_title.locator(".katex").first.wait_for()
    assert card_title.locator(".katex").count() == 1 and card_title.locator("sup").inner_text() == "3"
    assert "$" not in card_title.inner_text()

    page.goto(f"{site}/papers/{TITLED}")
    page.wait_for_selector("h1 .katex")
    assert page.locator("h1 sup").inner_text() == "3" and "\\mathcal" not in page.locator("h1").inner_text()

    page.evaluate("window.__stay = 'same page'")
    page.fill("#comment-body", "So $x^2 + y^2 = z^2$ holds; see [the proof](https://example.org/proof).")
    page.click(".comment-form button[type=submit]")
    page.wait_for_selector(".comment-body .katex")  # typeset after htmx swapped the section in
    body = page.locator(".comment-body")
    assert body.locator(".katex").count() == 1 and "$x^2" not in body.inner_text()
    link = body.locator("a")
    assert link.inner_text() == "the proof" and link.get_attribute("href") == "https://example.org/proof"
    assert link.get_attribute("rel") == "nofollow ugc noopener noreferrer"
    screenshot(page, "paper-math-comment")

    page.fill("#comment-body", "   ")  # passes the browser's `required`, refused by the site
    page.click(".comment-form button[type=submit]")
    page.wait_for_selector("#comment-error")
    assert "Your comment is empty" in page.locator("#comment-error").inner_text()
    assert page.evaluate("window.__stay") == "same page"  # swapped in place, no page load
    assert page.locator(".comment-list .comment").count() == 1

    context.clear_cookies()  # the session ended (logged out in another tab): the site refuses the form
    page.fill("#comment-body", "Still here?")
    page.click(".comment-form button[type=submit]")
    page.wait_for_selector(".htmx-error")
    assert "no longer logged in" in page.locator(".htmx-error").inner_text()
    assert page.evaluate("window.__stay") == "same page"
    assert page.locator(".comment-list .comment").count() == 1
    assert errors == []
    context.close()
