"""Links from imported data in a real browser (Debian's Chromium through Playwright, a real uvicorn on
127.0.0.1): a paper row whose project page and code links are ``javascript:`` URLs, written straight into
the database, shows no such link, and clicking where the links would be runs nothing.

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.importer import Importer
from dailypapers.store.models import Paper
from tests.support.browser import live_server, screenshot

DAY = date(2026, 6, 29)
HOSTILE_ID = "2606.90011"
CLEAN_ID = "2606.90012"
# each sets window.__xss (or opens a dialog) if it ever runs
CODE_URL = " JaVa\tscript:void(window.__xss='code')"
PROJECT_PAGE = "javascript:alert('project');void(window.__xss='project')"

# Every element whose href, src, action or formaction is not an http(s) URL once the browser reads it.
NOT_HTTP = """() => Array.from(document.querySelectorAll('[href], [src], [action], [formaction]'))
  .flatMap(el => ['href', 'src', 'action', 'formaction'].filter(a => el.hasAttribute(a))
    .map(a => [a, el.getAttribute(a), new URL(el.getAttribute(a), document.baseURI).protocol]))
  .filter(([, , protocol]) => protocol !== 'http:' && protocol !== 'https:')
  .map(([a, value]) => a + '=' + value)"""


@pytest.fixture
def site(settings, db) -> Iterator[str]:
    def listed(arxiv_id: str, title: str, upvotes: int) -> DailyEntryRecord:
        paper = PaperRecord(
            arxiv_id=arxiv_id,
            title=title,
            abstract="An abstract.",
            authors=["Ada Lovelace"],
            published_at=datetime(2026, 6, 28, tzinfo=UTC),
            github_stars=12,
            code_url=f"https://github.com/example/{arxiv_id}",
            project_page=f"https://{arxiv_id.replace('.', '-')}.example/",
        )
        return DailyEntryRecord(paper=paper, day=DAY, upvotes=upvotes)

    Importer(db).run([listed(HOSTILE_ID, "Hostile links", 50), listed(CLEAN_ID, "Clean links", 10)])
    with db.transaction() as session:  # as an older import, or another writer, could have left it
        row = session.scalar(select(Paper).where(Paper.arxiv_id == HOSTILE_ID))
        row.code_url, row.project_page = CODE_URL, PROJECT_PAGE
    with live_server(settings.model_copy(update={"embedding_backend": "hashing"}), db) as url:
        yield url


def click_right_of(page: Any, locator: Any, offsets: tuple[float, ...]) -> None:
    """Click where the next chips of a row of chips would be drawn, ``offsets`` pixels right of it."""
    box = locator.bounding_box()
    for offset in offsets:
        page.mouse.click(box["x"] + box["width"] + offset, box["y"] + box["height"] / 2)


def test_javascript_links_in_a_stored_row_are_not_links_and_clicking_there_runs_nothing(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{site}/papers/date/{DAY.isoformat()}")
    card = page.locator(f"[id='card-{HOSTILE_ID}']")
    assert card.locator(".card-title").inner_text() == "Hostile links"  # the paper itself is listed
    assert page.evaluate(NOT_HTTP) == []
    assert page.locator("a[href*='script:' i]").count() == 0
    assert card.locator("a.chip").count() == 0
    clean = page.locator(f"[id='card-{CLEAN_ID}']")
    assert clean.locator("a.chip").count() == 2  # safe links are still links
    click_right_of(page, card.locator(".meta .date"), (40, 180))  # the code chip, the project page chip
    page.wait_for_timeout(200)
    assert page.url == f"{site}/papers/date/{DAY.isoformat()}"
    assert page.evaluate("window.__xss") is None
    screenshot(page, "links-hostile-card", full_page=False)

    page.goto(f"{site}/papers/{HOSTILE_ID}")
    actions = page.locator(".paper-actions")
    assert page.evaluate(NOT_HTTP) == []
    # (logged out, "Follow" leads to the log-in page; it comes before the paper's own links)
    assert [a.inner_text() for a in actions.locator("a.chip").all()] == ["Follow", "arXiv page", "View PDF"]
    pdf = actions.locator("a.chip", has_text="View PDF")
    click_right_of(page, pdf, (40, 160))
    page.wait_for_timeout(200)
    assert page.url == f"{site}/papers/{HOSTILE_ID}"
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    screenshot(page, "links-hostile-paper", full_page=False)
    context.close()
