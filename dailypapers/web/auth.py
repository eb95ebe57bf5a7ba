"""Sessions, CSRF protection and who is asking, for every request.

Sessions are signed cookies (``dp_session``: HttpOnly, SameSite=Lax, Secure when the site is served
over HTTPS) holding the account id, the account's ``session_epoch`` and a random nonce; nothing is kept
in worker memory, so any worker can serve any request. Changing or resetting a password raises the
epoch, which ends every older session of the account.

CSRF: every POST, PUT, PATCH and DELETE made with a session cookie must carry the session's token (an
HMAC of its nonce) in the ``X-CSRF-Token`` header (htmx and API clients) or a ``csrf_token`` form field.
Anonymous forms (log in, register, reset, subscribe) carry the token of a short-lived ``dp_form``
cookie; anonymous JSON calls need none, as a cross-site page cannot send ``application/json`` without
a CORS preflight, which this app never grants; nor do the mailed links whose URL carries a signed token
(``TOKEN_PATHS``: confirming and ending a digest subscription). :class:`AuthMiddleware` enforces it before any route
runs, so no state-changing route can forget it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import anyio
from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dailypapers.config import Settings
from dailypapers.errors import Unauthorized
from dailypapers.store.db import Database
from dailypapers.store.models import User

SESSION_COOKIE = "dp_session"
FORM_COOKIE = "dp_form"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
FORM_COOKIE_AGE = 2 * 3600
MAX_FORM_BODY = 1024 * 1024
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Actions whose URL carries a signed, unguessable token (mailed links): what they do is bound to that
# token, not to a cookie, so a forged cross-site request cannot name one; mail clients POST to them
# without any cookie (RFC 8058 one-click unsubscribe).
TOKEN_PATHS = ("/digest/unsubscribe/", "/digest/confirm/")


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: int
    epoch: int
    nonce: str
    born: int  # the account's creation time (µs): an id reused by a newer account never matches


def account_stamp(user: User) -> int:
    return int(user.created_at.timestamp() * 1_000_000)


class Sessions:
    """Signs and reads session and form cookies, and derives CSRF tokens from their nonces."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.max_age = settings.session_days * 86400
        self._session = URLSafeTimedSerializer(settings.secret_key, salt="dailypapers.session")
        self._form = URLSafeTimedSerializer(settings.secret_key, salt="dailypapers.form")
        self._key = hashlib.sha256(("csrf:" + settings.secret_key).encode()).digest()

    def issue(self, user: User) -> tuple[str, str]:
        """A new session cookie value for ``user`` and its CSRF token."""
        nonce = secrets.token_urlsafe(16)
        payload = {"u": user.id, "e": user.session_epoch, "n": nonce, "b": account_stamp(user)}
        return self._session.dumps(payload), self.csrf(nonce)

    def read(self, value: str) -> SessionData | None:
        try:
            data = self._session.loads(value, max_age=self.max_age)
            return SessionData(int(data["u"]), int(data["e"]), str(data["n"]), int(data["b"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def csrf(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:40]

    def new_form(self) -> tuple[str, str]:
        """A ``dp_form`` cookie value for an anonymous form, and the token the form carries."""
        nonce = secrets.token_urlsafe(16)
        return self._form.dumps(nonce), self.csrf("form:" + nonce)

    def form_token(self, value: str) -> str | None:
        try:
            nonce = self._form.loads(value, max_age=FORM_COOKIE_AGE)
        except BadSignature:
            return None
        return self.csrf("form:" + str(nonce))

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

    def _load(self, data: SessionData) -> User | None:
        with self.db.session() as session:
            user = session.get(User, data.user_id)
            if user is None or user.session_epoch != data.epoch or account_stamp(user) != data.born:
                return None
            return user

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        state = scope.setdefault("state", {})
        state["user"] = None
        state["csrf_token"] = None
        stale_session = False
        raw = cookies.get(SESSION_COOKIE)
        if raw:
            data = self.sessions.read(raw)
            user = await anyio.to_thread.run_sync(self._load, data) if data else None
            if user is None:
                stale_session = True
            else:
                state["user"] = user
                state["csrf_token"] = self.sessions.csrf(data.nonce)  # type: ignore[union-attr]
        if scope["method"] in UNSAFE:
            receive, problem = await self._check_csrf(scope, receive, cookies, state)
            if problem:
                body = json.dumps({"error": problem}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
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
                    headers.append((b"set-cookie", f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; "
                                                   "SameSite=Lax".encode()))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _check_csrf(self, scope: dict[str, Any], receive: Any, cookies: dict[str, str],
                          state: dict[str, Any]) -> tuple[Any, str | None]:
        if scope["path"].startswith(TOKEN_PATHS):
            return receive, None  # the signed token in the URL is the authority (RFC 8058 one-click POSTs)
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        given = _header(scope, CSRF_HEADER.encode())
        if state["user"] is not None:
            expected = state["csrf_token"]
        else:
            if given is None and content_type == "application/json":
                return receive, None  # anonymous JSON: cross-site pages cannot send it without CORS
            form = cookies.get(FORM_COOKIE)
            expected = self.sessions.form_token(form) if form else None
        if given is None and content_type == "application/x-www-form-urlencoded":
            body, receive = await _read_body(receive)
            if body is None:
                return receive, "request body too large"
            values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
            given = values[0] if values else None
        if expected is None:
            return receive, ("this form has expired; reload the page and try again" if state["user"] is None
                             else "CSRF token missing")
        if given is None or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
            return receive, "CSRF token missing or wrong; reload the page and try again"
        return receive, None


async def _read_body(receive: Any) -> tuple[bytes | None, Any]:
    """Read the whole request body (at most MAX_FORM_BODY) and a ``receive`` that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BODY:
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
    """A local path to go to after logging in (never another site: ``//evil`` or ``https://…`` become ``/``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --- helpers for routes ------------------------------------------------------------------------------


def current_user(request: Request) -> User | None:
    return getattr(request.state, "user", None)


def require_user(request: Request) -> User:
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
    request.app.state.limiter.hit(action, client_key(request))


def log_in(request: Request, response: Response, user: User) -> str:
    """Set a new session cookie for ``user`` on ``response``; returns the session's CSRF token."""
    sessions: Sessions = request.app.state.sessions
    value, token = sessions.issue(user)
    response.set_cookie(SESSION_COOKIE, value, max_age=sessions.max_age, path="/", httponly=True,
                        samesite="lax", secure=sessions.secure(request.url.scheme))
    response.delete_cookie(FORM_COOKIE, path="/")
    request.state.user = user
    request.state.csrf_token = token
    return token


def log_out(request: Request, response: Response) -> None:
    sessions: Sessions = request.app.state.sessions
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=sessions.secure(request.url.scheme))


def form_token(request: Request, response: Response) -> str:
    """The CSRF token for a form on this page: the session's when logged in, else a ``dp_form`` cookie's
    (set on ``response``, reused while valid)."""
    user_token = getattr(request.state, "csrf_token", None)
    if user_token:
        return user_token
    sessions: Sessions = request.app.state.sessions
    existing = request.cookies.get(FORM_COOKIE)
    token = sessions.form_token(existing) if existing else None
    if token:
        return token
    value, token = sessions.new_form()
    response.set_cookie(FORM_COOKIE, value, max_age=FORM_COOKIE_AGE, path="/", httponly=True,
                        samesite="lax", secure=sessions.secure(request.url.scheme))
    return token
