"""Browser-test support: a real uvicorn on 127.0.0.1 and Debian's Chromium driven by Playwright.

Only the ``playwright`` Python package is used, never ``playwright install``: the browser is the
system Chromium (``apt-get install chromium``). When either is missing the test is skipped with the
reason locally, and fails under CI (``CI`` set), where nothing may be skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from dailypapers.config import Settings
from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord, Submitter
from dailypapers.store.db import Database
from dailypapers.web.app import create_app
from tests.support.community import PASSWORD

CHROMIUM = Path(os.environ.get("DAILYPAPERS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

MATH_ID = "2606.99001"
MATH_ORG = Organization("mass-energy-lab", "Mass Energy Lab")


def math_entry(day: date = date(2026, 6, 29), upvotes: int = 999) -> DailyEntryRecord:
    """A paper with inline and display math in its title and abstract, listed on ``day`` on top."""
    paper = PaperRecord(
        arxiv_id=MATH_ID,
        title="Why $E=mc^2$ Still Matters: Mass-Energy Equivalence for Transformers",
        abstract=(
            r"We revisit $E=mc^2$ and show that attention obeys \(a^2+b^2=c^2\). "
            r"The main identity is $$\int_0^1 x^2\,dx = \frac{1}{3}$$ and it holds for all layers."
        ),
        authors=["Ada Lovelace", "Albert Einstein"],
        published_at=datetime(2026, 6, 28, tzinfo=UTC),
        code_url="https://github.com/example/emc2",
        github_stars=4242,
        ai_summary="A playful check that $E=mc^2$ renders in summaries too.",
        ai_keywords=["mass-energy", "attention"],
        organization=MATH_ORG,
        upvotes=upvotes,
    )
    submitted = datetime(2026, 6, 29, 12, tzinfo=UTC)
    return DailyEntryRecord(
        paper=paper,
        day=day,
        upvotes=upvotes,
        num_comments=3,
        submitter=Submitter("ak", "AK"),
        submitted_at=submitted,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(settings: Settings, db: Database, port: int | None = None) -> Iterator[str]:
    """Serve the app on 127.0.0.1 (``port``, else a free one) in a thread; yields the base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, database=db), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the browser test: {reason}")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless system Chromium through Playwright (skip locally / fail under CI if absent)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (.venv/bin/pip install playwright)")
    if not CHROMIUM.exists() and not shutil.which(str(CHROMIUM)):
        _missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save ``test-artifacts/screenshots/<name>.png`` and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def log_in(page: Any, site: str, login: str, password: str = PASSWORD) -> None:
    """Log ``login`` in through the login form, as a person would; returns on the home page."""
    page.goto(site + "/account/login")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(site + "/")
