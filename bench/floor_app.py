"""The floor of bench/serve.py's logged-in figures: a bare ASGI app under the same uvicorn, workers and
load generator, answering every request with ``FLOOR_BYTES`` bytes of HTML at once (no routing, no
database, no template) and, with ``FLOOR_SPIN_MS``, after spending that much CPU. What this machine, its
scheduler and the load generator add to any page of that size: the part of a p99 no server code can
remove.

    FLOOR_BYTES=180000 .venv/bin/python -m uvicorn floor_app:app --app-dir bench --workers 2
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

BODY = b"<!doctype html>" + b"x" * max(0, int(os.environ.get("FLOOR_BYTES", "180000")) - 15)
SPIN_S = float(os.environ.get("FLOOR_SPIN_MS", "0")) / 1000
HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(BODY)).encode())]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    if SPIN_S:
        end = time.perf_counter() + SPIN_S
        while time.perf_counter() < end:
            pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
