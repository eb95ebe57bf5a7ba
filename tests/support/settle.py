"""Waiting for what an app does beside its requests, before a test counts the statements they run."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.testclient import TestClient


def settled(client: TestClient, timeout: float = 120.0) -> TestClient:
    """``client`` once its app's warm-up (the model and the vector index, loaded on a thread of their own
    at start-up) has finished, so its statements never land among those a test counts."""
    application = client.app.state.parts.application  # type: ignore[attr-defined]
    assert application.warmed.wait(timeout), "the app's warm-up did not finish"
    return client


def eventually(check: Callable[[], bool], within: float = 5.0) -> bool:
    """Whether ``check()`` holds within ``within`` seconds (asked every 50 ms): for what another process
    changed, which a worker learns within an interval of its settings."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
