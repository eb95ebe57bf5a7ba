"""The paper page's "Built on this paper" and "Read" in a real browser (Debian's Chromium through
Playwright, a real uvicorn on 127.0.0.1): the linked repositories shown with their links, and the full
text read with its math typeset by KaTeX, markup in it shown as text, without a policy violation.

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dailypapers.application import Application
from dailypapers.ingest import hf_daily, hf_papers
from dailypapers.store.importer import Importer
from tests.conftest import TEST_DATA
from tests.support.browser import live_server, screenshot
from tests.test_browser_csp import Policed

PAPER = "2405.21060"


@pytest.fixture
def site(settings, db) -> Iterator[str]:
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    Importer(db).run(hf_papers.iter_file(TEST_DATA / "hf_papers" / f"{PAPER}.json"))
    Application(settings, database=db).load_full_texts(TEST_DATA / "arxiv_html")
    with live_server(settings.model_copy(update={"cache_check_interval": 0.0}), db) as url:
        yield url


def test_built_on_and_read_in_a_browser(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    policed = Policed(context)
    page = policed.page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    policed.open(f"{site}/papers/{PAPER}")
    built = page.locator(".built-on")
    assert built.locator("h3").all_inner_texts() == ["Models 5", "Spaces 1"]
    links = built.locator(".repos a")
    assert links.count() == 4
    assert links.first.get_attribute("href") == "https://huggingface.co/state-spaces/mamba2-2.7b"
    assert "All 5 models on Hugging Face" in built.inner_text()
    assert built.bounding_box()["width"] < 500  # in the side column, not across the page
    screenshot(page, "paper-built-on")
    policed.assert_clean("paper page")

    page.click("a.chip:has-text('Read')")
    page.wait_for_selector(".read-body .katex-display")
    body = page.locator(".read-body")
    assert body.locator(".katex").count() >= 4 and "\\mathbb" not in body.inner_text()
    assert body.locator("h2").all_inner_texts()[:2] == ["Abstract", "1 Introduction"]
    assert "<script>alert(1)</script> stays text" in body.inner_text()
    assert body.locator("table").count() == 1 and body.locator("img").count() == 0
    width = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert width, "the page scrolls sideways"
    screenshot(page, "paper-read")
    policed.assert_clean("read page")
    assert errors == []
    context.close()
