"""Lists for logged-in readers, fast: one rendering shared by every reader, made personal per request.

A list page (home, a day, week or month, trending, an organization) shows a logged-in reader the same
papers as anyone else; only a few spots are theirs: their name in the header, the CSRF token of their
forms, and whether each upvote button is pressed. :class:`PersonalPages` (inside the session check) renders
such a page once per data version, role and URL with *markers* in those spots — HTML comments, which no
escaped data can contain — and keeps it; every request then fills the markers in for its reader: the
token and name from their session, the pressed buttons from one query of their votes among the page's
papers. Nothing of one reader is ever in the kept copy, so no reader can be shown another's name or votes.
Other pages, other methods, anonymous requests, a reader whose own write the replica has not replayed
yet, and a site without a response cache pass straight through.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio
from markupsafe import Markup, escape

from dailypapers.community.actions import voted_ids
from dailypapers.store.db import Database
from dailypapers.web.cache import OWN_WRITE_COOKIE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

GENERIC = "generic_viewer"  # in the request's state while the shared copy renders
CSRF = Markup("<!--dp:csrf-->")
NAME = Markup("<!--dp:name-->")
INITIAL = Markup("<!--dp:initial-->")
HUE = Markup("<!--dp:hue-->")
_VOTES = re.compile(r"<!--dp:v:(\d+)-->(.*?)<!--dp:e-->(.*?)<!--dp:z-->", re.DOTALL)
_SPOTS = re.compile(r"<!--dp:(csrf|name|initial|hue)-->")
_VOTE_IDS = re.compile(rb"<!--dp:v:(\d+)-->")
_LIST_PATHS = re.compile(
    r"^/(?:papers/(?:date|week|month)/[^/]+|papers/trending|papers|organizations/[^/]+)?$"
)
_VARIANT_HEADERS = (b"hx-request", b"hx-target", b"hx-history-restore-request", b"hx-boosted")


def vote_marker(paper_id: int) -> Markup:
    """Where a paper's upvote button begins in the shared copy: the pressed form follows, then
    :data:`VOTE_ELSE` and the unpressed one, then :data:`VOTE_END`."""
    return Markup(f"<!--dp:v:{int(paper_id)}-->")  # nosec B704 # an int in a fixed comment


VOTE_ELSE = Markup("<!--dp:e-->")
VOTE_END = Markup("<!--dp:z-->")


@dataclass
class GenericViewer:
    """The reader as the shared copy knows them: logged in, with their role, nothing that names them."""

    role: str

    @property
    def display_name(self) -> Markup:
        """A marker, filled in per request."""
        return NAME

    @property
    def is_moderator(self) -> bool:
        """Whether the role moderates (part of the copy's key)."""
        return self.role in ("moderator", "admin")


def is_list_page(path: str, query: bytes) -> bool:
    """Whether ``path`` is a list page whose papers do not depend on the reader (``/papers?q=`` is a search:
    not one of them)."""
    if not _LIST_PATHS.match(path):
        return False
    return not (path == "/papers" and re.search(rb"(?:^|&)q=", query))


def personalize(body: str, *, csrf: str, name: str, voted: set[int]) -> str:
    """The shared copy filled in for one reader."""
    spots = {
        "csrf": str(escape(csrf)),
        "name": str(escape(name)),
        "initial": str(escape(name[:1].upper())),
        "hue": str(len(name) % 8),
    }
    chosen = _VOTES.sub(lambda m: m.group(2) if int(m.group(1)) in voted else m.group(3), body)
    return _SPOTS.sub(lambda m: spots[m.group(1)], chosen)


@dataclass
class _Copy:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: str
    paper_ids: list[int]


class SharedCopies:
    """The shared copies of one process (LRU), keyed by path, query, htmx variant, role and data version;
    ``hits`` and ``renders`` count how they were used."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self.copies: OrderedDict[tuple[Any, ...], _Copy] = OrderedDict()
        self.hits = self.renders = 0
        # a copy being rendered: the other readers asking for it meanwhile wait for it (one render, not many)
        self.inflight: dict[tuple[Any, ...], asyncio.Future[_Copy | None]] = {}

    def get(self, key: tuple[Any, ...]) -> _Copy | None:
        """The copy under ``key`` (marked recently used), or None."""
        copy = self.copies.get(key)
        if copy is not None:
            self.copies.move_to_end(key)
            self.hits += 1
        return copy

    def put(self, key: tuple[Any, ...], copy: _Copy) -> None:
        """Keep ``copy``, dropping the least recently used beyond ``max_entries``."""
        self.copies[key] = copy
        while len(self.copies) > self.max_entries:
            self.copies.popitem(last=False)


class PersonalPages:
    """ASGI middleware serving list pages to logged-in readers from :class:`SharedCopies` (the data
    version: ``version()``, the response cache's)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        db: Database,
        version: Callable[[], Awaitable[int | None]],
        copies: SharedCopies,
    ) -> None:
        self.app = app
        self.db = db
        self.version = version
        self.store = copies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        user = state.get("user")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or user is None
            or not is_list_page(scope["path"], scope["query_string"])
            or any(n == b"cookie" and OWN_WRITE_COOKIE in v for n, v in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        version = await self.version()
        if version is None:
            await self.app(scope, receive, send)
            return
        variant = tuple(v for n, v in scope["headers"] if n in _VARIANT_HEADERS)
        key = (scope["path"], scope["query_string"], variant, user.role, version)
        copy = self.store.get(key)
        pending = self.store.inflight.get(key)
        if copy is None and pending is not None and pending.get_loop() is asyncio.get_running_loop():
            copy = await asyncio.shield(pending)
        if copy is None:
            future: asyncio.Future[_Copy | None] = asyncio.get_running_loop().create_future()
            self.store.inflight[key] = future
            try:
                copy = await self._render(scope, receive)
                if copy is not None and copy.status == 200:
                    self.store.put(key, copy)
            finally:
                if self.store.inflight.get(key) is future:
                    del self.store.inflight[key]
                if not future.done():
                    future.set_result(copy if copy is not None and copy.status == 200 else None)
            if copy is None:  # not a page to keep after all (streamed, or not text): rendered normally
                await self.app(scope, receive, send)
                return
        voted: set[int] = set()
        if copy.paper_ids:
            voted = await anyio.to_thread.run_sync(self._voted, user.id, copy.paper_ids)
        body = personalize(
            copy.body, csrf=state.get("csrf_token") or "", name=user.display_name or "", voted=voted
        ).encode()
        headers = [(n, v) for n, v in copy.headers if n != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": copy.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _voted(self, user_id: int, paper_ids: list[int]) -> set[int]:
        with self.db.session() as session:
            return voted_ids(session, user_id, paper_ids)

    async def _render(self, scope: Scope, receive: Receive) -> _Copy | None:
        """The shared copy of this page: the app renders it with markers for the reader's spots."""
        scope["state"][GENERIC] = True
        start: Message | None = None
        chunks: list[bytes] = []
        usable = True

        async def capture(message: Message) -> None:
            nonlocal start, usable
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    usable = False

        try:
            await self.app(scope, receive, capture)
        finally:
            scope["state"][GENERIC] = False
        if start is None or not usable:
            return None
        headers = [(bytes(n).lower(), bytes(v)) for n, v in start.get("headers", [])]
        if any(n in (b"set-cookie", b"content-encoding") for n, _ in headers):
            return None
        content_type = next((v for n, v in headers if n == b"content-type"), b"")
        if not content_type.startswith(b"text/html"):
            return None
        raw = b"".join(chunks)
        self.store.renders += 1
        ids = sorted({int(i) for i in _VOTE_IDS.findall(raw)})
        return _Copy(start["status"], headers, raw.decode("utf-8"), ids)
