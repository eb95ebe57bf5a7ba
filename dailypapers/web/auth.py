"""Sessions, CSRF protection and who is asking, for every request.

Sessions live in the database (:mod:`dailypapers.community.sessions`): the cookie (``dp_session``:
HttpOnly, SameSite=Lax, Secure when the site is served over HTTPS) carries a random token, signed with
the site's key; the database keeps only the token's SHA-256. Nothing is kept in worker memory, so any
worker can serve any request, and deleting the row (log out, a password change or reset, "log out
everywhere") ends the session for every copy of the cookie.

CSRF: every POST, PUT, PATCH and DELETE made with a session cookie must carry the session's token (an
HMAC of the session token) in the ``X-CSRF-Token`` header (htmx and API clients) or a ``csrf_token`` form
field.
Anonymous forms (log in, register, reset, subscribe) carry the token of a short-lived ``dp_form``
cookie; anonymous JSON calls need none, as a cross-site page cannot send ``application/json`` without
a CORS preflight, which this app never grants; nor do the mailed links whose URL carries a signed token
(``TOKEN_PATHS``: confirming and ending a digest subscription). :class:`AuthMiddleware` enforces it
before any route runs, so no state-changing route can forget it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from http.cookies import SimpleCookie
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs

import anyio
from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dailypapers.community import sessions as user_sessions
from dailypapers.config import Settings
from dailypapers.errors import Unauthorized
from dailypapers.store.db import Database
from dailypapers.store.models import User
from dailypapers.web.deps import parts_of

SESSION_COOKIE = "dp_session"
FORM_COOKIE = "dp_form"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
FORM_COOKIE_AGE = 2 * 3600
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Actions whose URL carries a signed, unguessable token (mailed links): what they do is bound to that
# token, not to a cookie, so a forged cross-site request cannot name one; mail clients POST to them
# without any cookie (RFC 8058 one-click unsubscribe).
TOKEN_PATHS = ("/digest/unsubscribe/", "/digest/confirm/")


class Issued(NamedTuple):
    """A new session: the ``dp_session`` cookie value, its CSRF token and the session's id."""

    cookie: str
    csrf_token: str
    session_id: int


class Sessions:
    """Opens sessions and signs their cookies, finds the session a cookie names, signs form cookies, and
    derives CSRF tokens.

    Signs with the last of ``settings.signing_keys`` and accepts all of them (key rotation)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.max_age = settings.session_days * 86400
        keys = settings.signing_keys
        self._session = URLSafeTimedSerializer(keys, salt="dailypapers.session")
        self._form = URLSafeTimedSerializer(keys, salt="dailypapers.form")
        self._csrf_keys = [hashlib.sha256(("csrf:" + key).encode()).digest() for key in keys]
        self.resumer = user_sessions.Resumer(db, settings.session_check_interval)

    def issue(self, user: User, *, user_agent: str | None = None, address: str | None = None) -> Issued:
        """Open a new session of ``user`` (a database row) and sign its cookie."""
        started = user_sessions.start(
            self.db, user.id, days=self.settings.session_days, user_agent=user_agent, address=address
        )
        return Issued(self._session.dumps(started.token), self.csrf(started.token), started.session_id)

    def read(self, value: str) -> str | None:
        """The session token a cookie value carries, if this site signed it within ``session_days``."""
        try:
            token = self._session.loads(value, max_age=self.max_age)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def kept(self, token: str) -> user_sessions.Resumed | None | Literal[False]:
        """:meth:`resume`'s answer when it needs no database (a session found within
        ``session_check_interval`` seconds), else False; never blocks."""
        return self.resumer.kept(token)

    def resume(self, token: str) -> user_sessions.Resumed | None:
        """The live session of ``token`` and its account, or None (one database query, none for a
        session found within ``session_check_interval`` seconds)."""
        return self.resumer.resume(token)

    def csrf(self, nonce: str) -> str:
        """The CSRF token of a session token or form nonce, under the current key."""
        return self._hmac(self._csrf_keys[-1], nonce)

    def csrf_accepted(self, nonce: str) -> list[str]:
        """The CSRF tokens of ``nonce`` under every accepted key (a page rendered before a key rotation)."""
        return [self._hmac(key, nonce) for key in self._csrf_keys]

    @staticmethod
    def _hmac(key: bytes, nonce: str) -> str:
        return hmac.new(key, nonce.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:40]

    def new_form(self) -> tuple[str, str]:
        """A ``dp_form`` cookie value for an anonymous form, and the token the form carries."""
        nonce = secrets.token_urlsafe(16)
        return self._form.dumps(nonce), self.csrf("form:" + nonce)

    def form_nonce(self, value: str) -> str | None:
        """The nonce of a ``dp_form`` cookie this site signed within two hours."""
        try:
            return str(self._form.loads(value, max_age=FORM_COOKIE_AGE))
        except BadSignature:
            return None

    def form_token(self, value: str) -> str | None:
        """The current CSRF token of a ``dp_form`` cookie value, or None if it is not valid."""
        nonce = self.form_nonce(value)
        return None if nonce is None else self.csrf("form:" + nonce)

    def secure(self, request_scheme: str) -> bool:
        return request_scheme == "https" or self.settings.site_url.startswith("https://")


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 — a malformed cookie header is ignored
                return {}
            return {k: m.value for k, m in jar.items()}
    return {}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class AuthMiddleware:
    """Puts the logged-in :class:`User` (or None) and its CSRF token on ``request.state`` and refuses
    unsafe requests without a valid CSRF token (403) before they reach a route."""

    def __init__(self, app: Any, db: Database, sessions: Sessions) -> None:
        self.app = app
        self.db = db
        self.sessions = sessions
        self._ahead: asyncio.Future[None] | None = None  # the sessions version being read ahead

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        state = scope.setdefault("state", {})
        state["user"] = None
        state["csrf_token"] = None
        state["session_id"] = None
        stale_session = False
        accepted: list[str] = []
        found: user_sessions.Resumed | None = None
        raw = cookies.get(SESSION_COOKIE)
        if raw:
            token = self.sessions.read(raw)
            # a session kept a moment ago is answered right here; only one to read from the database
            # goes to a thread
            found = self.sessions.kept(token) if token else None
            if found is False:
                found = await anyio.to_thread.run_sync(self.sessions.resume, token)
            elif self.sessions.resumer.claim_reading_ahead():  # in the background: nobody waits for it
                resumer = self.sessions.resumer
                self._ahead = asyncio.get_running_loop().run_in_executor(None, resumer.read_ahead)
            if token is None or found is None:
                stale_session = True
            else:
                state["user"] = found.user
                state["session_id"] = found.session_id
                state["csrf_token"] = self.sessions.csrf(token)
                accepted = self.sessions.csrf_accepted(token)
        if scope["method"] in UNSAFE:
            receive, problem = await self._check_csrf(scope, receive, cookies, state, accepted)
            if problem:
                if _wants_page(scope):  # a browser's form sent without JavaScript: the error page
                    await _refusal_page(scope, problem)(scope, receive, send)
                    return
                body = json.dumps({"error": problem}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        logged_in = state["user"] is not None

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if logged_in and b"cache-control" not in names:
                    headers.append((b"cache-control", b"private, no-store"))
                if stale_session:  # an expired or revoked session: forget the cookie
                    headers.append(
                        (
                            b"set-cookie",
                            f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax".encode(),
                        )
                    )
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_wrapper)
        if found is not None and found.seen_long_ago:  # after the response: no reader waits for this write
            await anyio.to_thread.run_sync(user_sessions.touch, self.db, found.session_id)

    async def _check_csrf(
        self,
        scope: dict[str, Any],
        receive: Any,
        cookies: dict[str, str],
        state: dict[str, Any],
        accepted: list[str],
    ) -> tuple[Any, str | None]:
        if scope["path"].startswith(TOKEN_PATHS):
            return receive, None  # the signed token in the URL is the authority (RFC 8058 one-click POSTs)
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        given = _header(scope, CSRF_HEADER.encode())
        expected: list[str] | None
        if state["user"] is not None:
            expected = accepted
        else:
            if given is None and content_type == "application/json":
                return receive, None  # anonymous JSON: cross-site pages cannot send it without CORS
            form = cookies.get(FORM_COOKIE)
            nonce = self.sessions.form_nonce(form) if form else None
            expected = self.sessions.csrf_accepted("form:" + nonce) if nonce is not None else None
        if given is None and content_type == "application/x-www-form-urlencoded":
            body, receive = await _read_body(receive, self.sessions.settings.max_body_bytes)
            if body is None:
                return receive, "request body too large"
            values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
            given = values[0] if values else None
        if expected is None:
            return receive, (
                "This form has expired, or you are no longer logged in: reload the page (and log in "
                "again if asked), then try again."
                if state["user"] is None
                else "CSRF token missing"
            )
        if given is None or not any(
            hmac.compare_digest(given.encode("utf-8", "surrogateescape"), e.encode()) for e in expected
        ):
            return receive, (
                "This page is out of date (its form does not match your session): reload it and try again."
            )
        return receive, None


def _wants_page(scope: dict[str, Any]) -> bool:
    """Whether a refused request came from a page of the site in a browser (it asks for HTML and is
    neither an API call nor htmx's): such a reader gets the error page, everyone else JSON."""
    path = scope["path"]
    if path.startswith(("/api/", "/feeds/", "/mcp")) or path.endswith((".json", ".atom")):
        return False
    if _header(scope, b"hx-request") == "true":
        return False
    return "text/html" in (_header(scope, b"accept") or "")


def _refusal_page(scope: dict[str, Any], problem: str) -> Response:
    templates = scope["app"].state.parts.templates
    context = {"status": 403, "message": problem}
    return templates.TemplateResponse(Request(scope), "error.html", context, status_code=403)


async def _read_body(receive: Any, limit: int) -> tuple[bytes | None, Any]:
    """Read the whole request body (at most ``limit`` bytes: the ``max_body_bytes`` setting, which
    :class:`dailypapers.web.security.BodyLimit` enforces before this) and a ``receive`` that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, receive
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (never another site: ``//evil`` or ``https://…`` become
    ``/``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --- helpers for routes ------------------------------------------------------------------------------


def current_user(request: Request) -> User | None:
    """The logged-in user of this request (None when logged out)."""
    return getattr(request.state, "user", None)


def require_user(request: Request) -> User:
    """The logged-in user; :class:`Unauthorized` (a 401, or the log-in page for HTML) when logged out."""
    user = current_user(request)
    if user is None:
        raise Unauthorized("log in first")
    return user


def client_key(request: Request) -> str:
    """Who a rate limit counts: the account when logged in, else the client's address."""
    user = current_user(request)
    if user is not None:
        return f"user:{user.id}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


def rate_limit(request: Request, action: str) -> None:
    """Count one ``action`` of this client; :class:`TooManyRequests` beyond the configured limit."""
    parts_of(request).application.limiter.hit(action, client_key(request))


def current_session_id(request: Request) -> int | None:
    """The id of the session this request came with (None when logged out)."""
    return getattr(request.state, "session_id", None)


def log_in(request: Request, response: Response, user: User) -> str:
    """Open a new session for ``user`` (ending the one the request came with, if any) and set its cookie
    on ``response``; returns the session's CSRF token."""
    sessions = parts_of(request).sessions
    previous = current_session_id(request)
    if previous is not None:
        user_sessions.end(sessions.db, previous)
    issued = sessions.issue(
        user,
        user_agent=request.headers.get("user-agent"),
        address=request.client.host if request.client else None,
    )
    response.set_cookie(
        SESSION_COOKIE,
        issued.cookie,
        max_age=sessions.max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=sessions.secure(request.url.scheme),
    )
    response.delete_cookie(FORM_COOKIE, path="/")
    request.state.user = user
    request.state.csrf_token = issued.csrf_token
    request.state.session_id = issued.session_id
    return issued.csrf_token


def forget_session(request: Request, response: Response) -> None:
    """Delete the session cookie on ``response`` (the session itself is ended elsewhere)."""
    sessions = parts_of(request).sessions
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=sessions.secure(request.url.scheme)
    )


def log_out(request: Request, response: Response) -> None:
    """End the request's session in the database (every copy of its cookie) and delete the cookie."""
    session_id = current_session_id(request)
    if session_id is not None:
        user_sessions.end(parts_of(request).sessions.db, session_id)
        request.state.session_id = None
    forget_session(request, response)


def form_token(request: Request, response: Response) -> str:
    """The CSRF token for a form on this page: the session's when logged in, else a ``dp_form`` cookie's
    (set on ``response``, reused while valid)."""
    user_token = getattr(request.state, "csrf_token", None)
    if user_token:
        return user_token
    sessions = parts_of(request).sessions
    existing = request.cookies.get(FORM_COOKIE)
    token = sessions.form_token(existing) if existing else None
    if token:
        return token
    value, token = sessions.new_form()
    response.set_cookie(
        FORM_COOKIE,
        value,
        max_age=FORM_COOKIE_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=sessions.secure(request.url.scheme),
    )
    return token
