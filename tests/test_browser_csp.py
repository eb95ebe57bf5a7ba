"""The Content-Security-Policy in a real browser (Debian's Chromium through Playwright, a real uvicorn on
127.0.0.1): math still typesets, htmx still swaps (upvote in place, "More papers", live search), no page
reports a single policy violation, the API docs pages (vendored Swagger UI and ReDoc) render without a
request to any other host, and no other origin can frame the site.

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from dailypapers.community import accounts
from tests.support.browser import MATH_ID, log_in, screenshot
from tests.support.local_server import LocalServer, Reply

PASSWORD = "correct horse battery staple"
# Runs before any script of the page (Playwright's init scripts are not subject to the page's policy).
WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":"
                    + e.lineNumber);
});
"""
POLICY_WORDS = re.compile(r"Content Security Policy|Content-Security-Policy|Permissions-Policy|Refused to")
KATEX_STYLES_APPLIED = """() => {
  const boxes = Array.from(document.querySelectorAll(".abstract-text .katex .vlist"));
  return boxes.length > 0 &&
    boxes.every(b => b.style.height !== "" && parseFloat(getComputedStyle(b).height) > 0);
}"""


@pytest.fixture
def site(demo_site: str) -> str:
    return demo_site


class Policed:
    """A page whose policy violations (events and console lines) are collected across navigations."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.page.add_init_script(WATCH_VIOLATIONS)
        self.console: list[str] = []
        self.page.on("console", lambda msg: POLICY_WORDS.search(msg.text) and self.console.append(msg.text))

    def open(self, url: str) -> Any:
        """Go to ``url``; its answer must carry the site's strict policy."""
        response = self.page.goto(url)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self';" in policy, (url, policy)
        return response

    def violations(self) -> list[str]:
        """What the current document reported so far (after letting pending reports arrive)."""
        self.page.wait_for_load_state("load")
        return self.page.evaluate("new Promise(done => setTimeout(() => done(window.__csp), 100))")

    def assert_clean(self, where: str) -> None:
        assert self.violations() == [], where
        assert self.console == [], where


def test_math_htmx_and_every_page_work_without_a_policy_violation(site, browser, db):
    from playwright.sync_api import expect  # waits in Playwright itself: page.wait_for_function needs eval

    accounts.register(db, username="reader", email="r@example.org", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    policed = Policed(context)
    page = policed.page

    for path in (
        "/",
        "/papers/trending",
        "/account/login",
        "/account/register",
        "/account/reset",
        "/no/such/page",
    ):
        policed.open(site + path)
        policed.assert_clean(path)

    policed.open(f"{site}/papers/{MATH_ID}")
    page.wait_for_selector(".abstract-text .katex")
    assert page.locator(".abstract-text .katex").count() >= 3  # $…$, \(…\) and $$…$$
    assert page.locator(".abstract-text .katex-display").count() == 1
    assert page.evaluate(KATEX_STYLES_APPLIED)  # KaTeX's sizes are set through the DOM, not style=""
    policed.assert_clean("paper page")
    screenshot(page, "csp-paper-with-math")

    policed.open(site + "/papers?q=energy")
    page.fill("#q", "Mass-Energy Equivalence")  # live results (htmx)
    expect(page.locator("#results .count").first).to_contain_text("Mass-Energy Equivalence")
    assert page.locator(f"#results [id='card-{MATH_ID}'] .katex").count() >= 1
    policed.assert_clean("search")

    policed.open(site + "/papers/month/2026-06")
    assert page.locator(".cards > li.card").count() == 50
    page.get_by_role("link", name="More papers").click()
    expect(page.locator("#cards > li.card")).to_have_count(100)
    expect(page).to_have_url(site + "/papers/month/2026-06?upto=1")  # appended in place; Back restores it
    policed.assert_clean("more papers")

    log_in(page, site, "reader")
    policed.open(f"{site}/papers/date/2026-06-29")
    card = page.locator(f"[id='card-{MATH_ID}']")
    page.evaluate("window.__stay = 'same page'")
    card.locator("button.vote-button").click()
    page.wait_for_selector(f"[id='card-{MATH_ID}'] button.vote-button.voted")
    assert page.evaluate("window.__stay") == "same page"  # htmx swapped the button; no navigation
    assert card.locator(".votes-n").inner_text() == "1.0k"
    policed.assert_clean("upvote")

    for path in (
        "/account",
        "/account/upvotes",
        "/account/submissions",
        "/collections",
        "/submit",
        "/for-you",
        "/subscribe",
        f"/papers/{MATH_ID}",
    ):
        policed.open(site + path)
        policed.assert_clean(path)

    # the watch itself works: an image from elsewhere is refused and reported
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"https://example.org/x.png\">')")
    assert policed.violations()[0].startswith("img-src https://example.org/x.png")
    context.close()


# what shows that each docs page rendered the API's operations
DOCS_OPERATIONS = {
    "/docs": "#swagger-ui .opblock .opblock-summary-path",
    "/redoc": "redoc [data-section-id^='operation/']",
}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_pages_render_from_this_site_alone(site, browser, path):
    """Swagger UI and ReDoc run from the vendored copies: the operations render, no request leaves the
    test server (no CDN, no fonts, no logo, no validator), and the page's own policy reports nothing."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    policed = Policed(context)
    page = policed.page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(site + path)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "http" not in policy, policy
    operations = page.locator(DOCS_OPERATIONS[path])
    operations.first.wait_for()
    page.wait_for_load_state("networkidle")
    assert operations.count() >= 20  # the API's routes, not an empty page
    if path == "/docs":
        assert page.locator("#swagger-ui .opblock-summary-path", has_text="/api/daily_papers").count() >= 1
    else:
        assert page.locator("redoc", has_text="/api/daily_papers").count() == 1
    # blob: is ReDoc's search worker and data: the images Swagger UI and ReDoc inline: neither is a host
    elsewhere = [u for u in requests if not u.startswith((site + "/", "data:", "blob:"))]
    assert elsewhere == [], elsewhere
    assert any(u.startswith(site + "/static/vendor/") for u in requests)
    policed.assert_clean(path)
    screenshot(page, f"api-docs-{path.strip('/')}", full_page=False)
    context.close()


def test_another_origin_cannot_frame_the_upvote_page(site, browser, db):
    accounts.register(db, username="reader", email="r@example.org", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, site, "reader")  # the victim is logged in: a framed upvote button would be live
    target = f"{site}/papers/{MATH_ID}"
    framing = (
        f'<!doctype html><title>prize</title><iframe id="victim" src="{target}" width="900" height="700">'
    )
    refusals: list[str] = []
    page.on("console", lambda msg: "frame-ancestors" in msg.text and refusals.append(msg.text))
    with LocalServer(lambda request: Reply(200, framing, content_type="text/html; charset=utf-8")) as other:
        assert other.url.split(":")[-1] != site.split(":")[-1]  # another port: another origin
        page.goto(other.url + "/")
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
        victim = page.frame_locator("#victim")
        assert victim.locator("button.vote-button").count() == 0
        assert victim.locator(".abstract-text").count() == 0
        child = next(f for f in page.frames if f != page.main_frame)
        assert child.url.startswith("chrome-error://"), child.url  # its own error page, not the site
    assert refusals and "frame-ancestors 'none'" in refusals[0]
    context.close()


def test_the_cite_box_copies_bibtex_under_the_policy(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    policed = Policed(context)
    page = policed.page
    policed.open(f"{site}/papers/{MATH_ID}")
    shown = page.input_value("#bibtex")
    assert shown.startswith("@misc{") and f"eprint={{{MATH_ID}}}" in shown
    page.click("[data-copy='#bibtex']")
    page.wait_for_function("document.querySelector('.cite .copied').textContent !== ''")
    assert page.text_content(".cite .copied") == "Copied"
    assert page.evaluate("navigator.clipboard.readText()") == shown
    policed.assert_clean("cite box")
    screenshot(page, "paper-cite-box")
    context.close()
