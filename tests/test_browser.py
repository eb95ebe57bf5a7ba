"""The pages in a real browser: Debian's Chromium through Playwright, against a real uvicorn on 127.0.0.1
serving the demo corpus plus one paper with math. Screenshots go to test-artifacts/screenshots/.

Skipped locally (with the reason) when Chromium or the playwright package is missing; failed under CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

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


class Watch:
    """Records page errors, console errors and every host the page talks to."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
        page.on("request", lambda req: self.hosts.add(urlsplit(req.url).hostname or req.url))


def test_reader_journey(site, browser):
    from playwright.sync_api import expect  # waits in Playwright itself: the site's policy forbids eval

    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = context.new_page()
    watch = Watch(page)

    page.goto(site + "/")
    assert page.locator("h1").inner_text() == "Daily Papers"
    assert page.locator(".period-label").inner_text() == "Jun 30, 2026"
    assert page.locator(".cards > li.card").count() == 34
    screenshot(page, "01-home-desktop-light")

    page.locator(".period-nav a[rel=prev]").click()
    page.wait_for_url(site + "/papers/date/2026-06-29")
    assert page.locator(".period-label").inner_text() == "Jun 29, 2026"
    first_card = page.locator(".cards > li.card").first
    assert first_card.locator(".katex").count() >= 2  # title and AI summary typeset in the list too
    screenshot(page, "02-previous-day")

    first_card.locator(".card-title a").click()
    page.wait_for_url(site + f"/papers/{MATH_ID}")
    page.wait_for_selector("h1 .katex")
    assert page.locator("h1 .katex").count() == 1
    assert page.locator(".abstract-text .katex").count() >= 3  # $…$, \(…\) and $$…$$
    assert page.locator(".abstract-text .katex-display").count() == 1
    assert "$E=mc^2$" not in page.locator("h1").inner_text()
    screenshot(page, "03-paper-with-math")

    page.locator(".author-list a", has_text="Albert Einstein").click()  # every author name is a link
    page.wait_for_url(site + "/authors/Albert%20Einstein")
    assert page.locator("h1").inner_text() == "Albert Einstein"
    assert page.locator(f".cards [id='card-{MATH_ID}']").count() == 1
    assert page.locator(".author-links a", has_text="Ada Lovelace").count() == 1  # the co-author
    screenshot(page, "03b-author")
    page.go_back()
    page.wait_for_url(site + f"/papers/{MATH_ID}")

    page.fill("#site-q", "mass energy")
    page.press("#site-q", "Enter")
    page.wait_for_url("**/papers?q=mass+energy")
    assert page.locator(f"[id='card-{MATH_ID}']").count() == 1
    page.fill("#q", "Mass-Energy Equivalence")  # live results as you type (htmx)
    expect(page.locator("#results .count").first).to_contain_text("Mass-Energy Equivalence")
    assert page.locator(f"#results [id='card-{MATH_ID}']").count() == 1
    assert "/papers?q=Mass-Energy" in page.url  # the address follows the query
    screenshot(page, "04-search")

    page.locator(f"[id='card-{MATH_ID}'] a.org").click()
    page.wait_for_url(site + "/organizations/mass-energy-lab")
    assert page.locator("h1").inner_text() == "Mass Energy Lab"
    screenshot(page, "05-organization")

    page.goto(site + "/papers/month/2026-06")
    assert page.locator(".cards > li.card").count() == 50
    page.get_by_role("link", name="More papers").click()
    expect(page.locator("#cards > li.card")).to_have_count(100)
    expect(page).to_have_url(site + "/papers/month/2026-06?upto=1")  # appended in place; Back restores it
    focused_new_card = page.locator("#cards > li").nth(50).locator(":focus")
    expect(focused_new_card).to_have_count(1, timeout=5000)  # keyboard users continue at the first new card
    assert page.get_by_role("link", name="More papers").count() == 1  # the next button came with the cards

    page.goto(site + "/papers/trending")
    assert page.locator(".trend").first.is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    assert watch.errors == []
    assert watch.hosts == {"127.0.0.1"}  # no CDN, no outside request
    context.close()


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_phone_layout_in_both_colour_schemes(site, browser, scheme):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        color_scheme=scheme,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    watch = Watch(page)
    for name, path in (
        ("home", "/"),
        ("paper", f"/papers/{MATH_ID}"),
        ("trending", "/papers/trending"),
        ("error", "/papers/date/2026-13-45"),
    ):
        page.goto(site + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        screenshot(page, f"phone-{scheme}-{name}", full_page=False)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(11, 15, 25)" if scheme == "dark" else "rgb(255, 255, 255)")
    assert [e for e in watch.errors if "400" not in e] == []  # the error page itself answers 400
    context.close()
