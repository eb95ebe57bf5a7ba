"""Security headers on every response, and a limit on the size of request bodies.

:func:`install` puts two plain ASGI layers around the app:

- :class:`SecurityHeaders` wraps the whole middleware stack, outside Starlette's ServerErrorMiddleware, so
  every answer carries the headers: pages, API, feeds, static files, errors (an unexpected 500 too), 304s,
  answers from the response cache and the CSRF middleware's 403. A header the app set itself is kept.
  The policy (:data:`SITE_CSP`) allows scripts, styles, fonts and images from this site only and no inline
  script; the API docs pages (FastAPI's Swagger UI and ReDoc, which load their code from a CDN and start it
  with an inline script) get :func:`docs_csp`, which allows that CDN and exactly the inline scripts the
  page carries (by their SHA-256), nothing else.
- :class:`BodyLimit`, the outermost added middleware: a request whose ``Content-Length`` exceeds
  ``max_body_bytes`` gets a 413 before anything reads it or any route runs; a body without one (chunked) is
  counted as the app reads it, and the read that would pass the limit raises :class:`BodyTooLarge`
  instead of handing over the bytes, which ends in a 413. A 413 closes the connection, so the rest of the
  body is never read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from dailypapers.config import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SITE_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "font-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
# Where FastAPI's docs pages load their code, styles, fonts and icons from.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_SOURCES = {
    "style-src": "'self' https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'",
    "font-src": "'self' https://fonts.gstatic.com data:",
    "img-src": "'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "connect-src": "'self'",
    "worker-src": "blob:",
}
# Browser features the site never uses.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "sync-xhr",
        "usb",
        "xr-spatial-tracking",
    )
)
HSTS = "max-age=31536000"
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers every response gets (without the Content-Security-Policy, chosen per path)."""
    headers = [
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", PERMISSIONS_POLICY.encode()),
    ]
    if settings.site_url.lower().startswith("https://"):
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def docs_csp(page: bytes) -> str:
    """The policy of an API docs page: :data:`SITE_CSP` plus the CDN its code comes from, the inline
    scripts of ``page`` (by hash), its inline styles and fonts, and ReDoc's worker."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(page)
    )
    directives = {"script-src": f"'self' {DOCS_CDN} {hashes}".strip(), **DOCS_SOURCES}
    parts = []
    for part in SITE_CSP.split("; "):
        name = part.split(" ", 1)[0]
        parts.append(f"{name} {directives.pop(name)}" if name in directives else part)
    parts += [f"{name} {value}" for name, value in directives.items()]
    return "; ".join(parts)


def _with_headers(message: Message, extra: Iterable[tuple[bytes, bytes]]) -> Message:
    headers = list(message.get("headers", []))
    present = {bytes(name).lower() for name, _ in headers}
    headers += [(name, value) for name, value in extra if name not in present]
    return {**message, "headers": headers}


class SecurityHeaders:
    """Adds :func:`security_headers` and a Content-Security-Policy to every HTTP response."""

    def __init__(
        self, app: ASGIApp, *, headers: list[tuple[bytes, bytes]], docs_paths: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.common = headers
        self.headers = headers + [(b"content-security-policy", SITE_CSP.encode())]
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs_page(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_headers(message, self.headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold a docs page back until its body is complete, then send it with :func:`docs_csp`."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                policy = (b"content-security-policy", docs_csp(body).encode())
                await send(_with_headers(start, [*self.common, policy]))
                await send({"type": "http.response.body", "body": body})
                start = None
                return
            await send(message)

        await self.app(scope, receive, hold)


class BodyTooLarge(HTTPException):
    """A request body passed the limit while the app read it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: at most {limit} bytes are accepted")


class BodyLimit:
    """Answers 413 to a request whose body is larger than ``max_body_bytes``, before reading more of it."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.strip().isdigit() and int(value) > limit:
                    await self._refuse(send)
                    return
                break
        received = 0
        passed = False  # the body passed the limit: whatever the app answers, the answer is a 413
        started = False  # a response went out
        held_back = False  # the app answered something else after the limit passed: dropped

        async def counting_receive() -> Message:
            nonlocal received, passed
            if passed:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    passed = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, held_back
            if passed and not started:
                if message["type"] == "http.response.start" and message["status"] == 413:
                    message = _with_headers(message, [(b"connection", b"close")])
                else:
                    held_back = True
            if held_back:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if started:
                return
            passed = True
        if passed and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": BodyTooLarge(self.max_body_bytes).detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install(app: Any, settings: Settings) -> None:
    """Put :class:`BodyLimit` outside every middleware added so far and :class:`SecurityHeaders` around
    the whole stack of ``app`` (a FastAPI app); call it after the last ``add_middleware``."""
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)
    docs_paths = [p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p]
    headers = security_headers(settings)
    build_stack = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build_stack(), headers=headers, docs_paths=docs_paths)

    # Starlette builds its stack with ServerErrorMiddleware outermost; the headers go around even that.
    app.build_middleware_stack = build_with_headers
