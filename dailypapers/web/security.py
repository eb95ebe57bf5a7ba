"""Security headers on every response, and a limit on the size of request bodies.

:func:`install` puts two plain ASGI layers around the app:

- :class:`SecurityHeaders` wraps the whole middleware stack, outside Starlette's ServerErrorMiddleware, so
  every answer carries the headers: pages, API, feeds, static files, errors (an unexpected 500 too), 304s,
  answers from the response cache and the CSRF middleware's 403. A header the app set itself is kept.
  The policy (:data:`SITE_CSP`) allows scripts, styles, fonts and images from this site only and no inline
  script; the API docs pages (:mod:`dailypapers.web.api_docs`: Swagger UI and ReDoc, vendored) get
  :data:`DOCS_CSP`, which is the same but for the inline styles both set, ``data:`` images (Swagger UI's
  icons) and ReDoc's search worker, made from a ``blob:``. No other host, and no inline script, either way.
- :class:`BodyLimit`, the outermost added middleware: a request whose ``Content-Length`` exceeds
  ``max_body_bytes`` gets a 413 before anything reads it or any route runs; a body without one (chunked) is
  counted as the app reads it, and the read that would pass the limit raises :class:`BodyTooLarge`
  instead of handing over the bytes, which ends in a 413. A 413 closes the connection, so the rest of the
  body is never read.
"""

from __future__ import annotations

import json
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
# What the API docs pages need beyond SITE_CSP: the style attributes and <style> elements Swagger UI and
# ReDoc write, Swagger UI's data: icons, ReDoc's search worker (made from a blob). Still no other host.
DOCS_SOURCES = {
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "worker-src": "blob:",
}


def _with_sources(policy: str, sources: dict[str, str]) -> str:
    """``policy`` with the directives in ``sources`` replaced (or added at the end)."""
    extra = dict(sources)
    parts = []
    for part in policy.split("; "):
        name = part.split(" ", 1)[0]
        parts.append(f"{name} {extra.pop(name)}" if name in extra else part)
    return "; ".join(parts + [f"{name} {value}" for name, value in extra.items()])


DOCS_CSP = _with_sources(SITE_CSP, DOCS_SOURCES)
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


def _with_headers(message: Message, extra: Iterable[tuple[bytes, bytes]]) -> Message:
    headers = list(message.get("headers", []))
    present = {bytes(name).lower() for name, _ in headers}
    headers += [(name, value) for name, value in extra if name not in present]
    return {**message, "headers": headers}


class SecurityHeaders:
    """Adds :func:`security_headers` and a Content-Security-Policy to every HTTP response: :data:`DOCS_CSP`
    on ``docs_paths``, :data:`SITE_CSP` everywhere else."""

    def __init__(
        self, app: ASGIApp, *, headers: list[tuple[bytes, bytes]], docs_paths: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.headers = headers + [(b"content-security-policy", SITE_CSP.encode())]
        self.docs_headers = headers + [(b"content-security-policy", DOCS_CSP.encode())]
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.docs_headers if scope["path"] in self.docs_paths else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_headers(message, extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


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


def install(app: Any, settings: Settings, *, docs_paths: Iterable[str] = ()) -> None:
    """Put :class:`BodyLimit` outside every middleware added so far and :class:`SecurityHeaders` around
    the whole stack of ``app`` (a FastAPI app), with :data:`DOCS_CSP` on ``docs_paths``; call it after the
    last ``add_middleware``."""
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes)
    headers = security_headers(settings)
    build_stack = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build_stack(), headers=headers, docs_paths=docs_paths)

    # Starlette builds its stack with ServerErrorMiddleware outermost; the headers go around even that.
    app.build_middleware_stack = build_with_headers
