"""Lists for logged-in readers, fast: one rendering shared by every reader, made personal per request.

A list page (home, a day, week or month, trending, an organization) shows a logged-in reader the same
papers as anyone else; only a few spots are theirs: their name in the header, the CSRF token of their
forms, and whether each upvote button is pressed. :class:`PersonalPages` (inside the session check) renders
such a page once per data version, role and URL with *markers* in those spots — HTML comments, which no
escaped data can contain — and keeps it; every request then fills the markers in for its reader: the
token and name from their session, the pressed buttons from one query of their votes among the page's
papers (kept per reader and copy: a vote raises the data version, which is in the copy's key). The copy
is kept cut at its markers, so filling it in is one join. Nothing of one reader is ever in the kept copy,
so no reader can be shown another's name or votes. Other pages, other methods, anonymous requests, a
reader whose own write is a few seconds old (``dp_wrote``, set by their write: another worker may read
the data version up to ``cache_check_interval`` late) or that the replica has not replayed yet, and a
site without a response cache pass straight through.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from markupsafe import Markup, escape

from dailypapers.community.actions import marks_of, voted_ids
from dailypapers.community.follows import followed_ids
from dailypapers.store.db import SHORT_READ, Database
from dailypapers.web.auth import UNSAFE
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
_LIST_PATHS = re.compile(
    r"^/(?:papers/(?:date|week|month)/[^/]+|papers/trending|papers|organizations/[^/]+)?$"
)
# a paper's page (``/papers/2406.12345``, ``/papers/hep-th/9901001``), not its Markdown, its citation
# files or a list
_PAPER_PATH = re.compile(
    r"^/papers/(?!(?:date|week|month)/|trending$)[A-Za-z0-9.\-]+(?:/[0-9]{7})?(?:v[0-9]+)?"
    r"(?<!\.md)(?<!\.bib)(?<!\.ris)(?<!\.json)$"
)
WROTE_COOKIE = "dp_wrote"  # a reader's own write is a few seconds old: their pages are not shared copies
WROTE = (WROTE_COOKIE + "=").encode()
# changes with each of a reader's own writes (a number of no meaning): what a worker kept of theirs (their
# marks on list papers, their blocks on paper pages) under another value is read anew, in every worker
MINE_COOKIE = "dp_mine"
_MINE = re.compile(rb"(?:^|;)\s*dp_mine=([0-9]{1,24})(?:;|$)")
_BLOCKS_PER_LOGIN = 256  # personal blocks kept for one login (a reader opens a few papers a second at most)
_MARKS_PER_LOGIN = 4096  # papers whose marks are kept for one login (a few list pages)
_VARIANT_HEADERS = (b"hx-request", b"hx-target", b"hx-history-restore-request", b"hx-boosted")


def vote_marker(paper_id: int) -> Markup:
    """Where a paper's upvote button begins in the shared copy: the pressed form follows, then
    :data:`VOTE_ELSE` and the unpressed one, then :data:`VOTE_END`."""
    return Markup(f"<!--dp:v:{int(paper_id)}-->")  # nosec B704 # an int in a fixed comment


VOTE_ELSE = Markup("<!--dp:ve-->")
VOTE_END = Markup("<!--dp:vz-->")


def own_marker(user_id: int) -> Markup:
    """Where something of account ``user_id``'s begins in the shared copy (a comment's edit button, a
    comment only its author still sees): what its author is shown follows, then :data:`OWN_ELSE` and
    what everyone else is shown, then :data:`OWN_END`."""
    return Markup(f"<!--dp:o:{int(user_id)}-->")  # nosec B704 # an int in a fixed comment


OWN_ELSE = Markup("<!--dp:oe-->")
OWN_END = Markup("<!--dp:oz-->")


_FOLLOW_KINDS = {"organization": "f", "paper": "g"}


def follow_marker(kind: str, ident: int) -> Markup:
    """Where a follow button begins in the shared copy (``kind``: organization or paper, by id): the
    "Following" form follows, then :func:`follow_else` and the "Follow" form, then :func:`follow_end`."""
    return Markup(f"<!--dp:{_FOLLOW_KINDS[kind]}:{int(ident)}-->")  # nosec B704 # fixed letters, an int


def follow_else(kind: str) -> Markup:
    """Between the two forms of a follow button (see :func:`follow_marker`)."""
    return Markup(f"<!--dp:{_FOLLOW_KINDS[kind]}e-->")  # nosec B704 # a fixed letter


def follow_end(kind: str) -> Markup:
    """After the two forms of a follow button (see :func:`follow_marker`)."""
    return Markup(f"<!--dp:{_FOLLOW_KINDS[kind]}z-->")  # nosec B704 # a fixed letter


def personal_marker(paper_id: int) -> Markup:
    """Where a paper page's block of the reader's own (their marks, their collections) goes: rendered
    per request by the ``block`` function :class:`PersonalPages` was given."""
    return Markup(f"<!--dp:p:{int(paper_id)}-->")  # nosec B704 # an int in a fixed comment


def mark_marker(paper_id: int) -> Markup:
    """Where a card's classes end in the shared copy (inside its ``class`` attribute): filled in with
    ``card-marked`` and the kinds of the reader's marks on the paper (``card-hidden`` too, when they hide
    marked papers), or nothing."""
    return Markup(f"<!--dp:m:{int(paper_id)}-->")  # nosec B704 # an int in a fixed comment


def mark_label_marker(paper_id: int) -> Markup:
    """Where a card says how the reader marked the paper ("Read", "Not interested"), in the shared copy."""
    return Markup(f"<!--dp:k:{int(paper_id)}-->")  # nosec B704 # an int in a fixed comment


MARK_LABELS = {"read": "Read", "not_interested": "Not interested"}


def mark_classes(marks: frozenset[str] | set[str], hide: bool) -> str:
    """The classes a card of a paper the reader marked with ``marks`` gets (" card-marked card-read…"),
    "" without marks."""
    if not marks:
        return ""
    kinds = "".join(f" card-{kind.replace('_', '-')}" for kind in sorted(marks))
    return " card-marked" + kinds + (" card-hidden" if hide else "")


def mark_label(marks: frozenset[str] | set[str]) -> Markup:
    """What a card says of the reader's marks on its paper: a small chip, or nothing."""
    if not marks:
        return Markup("")
    text = " · ".join(MARK_LABELS[k] for k in sorted(marks) if k in MARK_LABELS)
    return Markup('<span class="chip chip-plain mark-chip">✓ {}</span>').format(text)


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


def _mine(scope: Scope) -> bytes:
    """The request's ``dp_mine`` cookie (b"" without one)."""
    for name, value in scope["headers"]:
        if name == b"cookie":
            found = _MINE.search(value)
            if found:
                return found.group(1)
    return b""


def is_list_page(path: str, query: bytes) -> bool:
    """Whether ``path`` is a list page whose papers do not depend on the reader (``/papers?q=`` is a search:
    not one of them)."""
    if not _LIST_PATHS.match(path):
        return False
    return not (path == "/papers" and re.search(rb"(?:^|&)q=", query))


def is_shared_page(path: str, query: bytes) -> bool:
    """Whether ``path`` is a page a shared copy serves: a list page or a paper's page (not a list's
    citation file, ``?format=bib``)."""
    if re.search(rb"(?:^|&)format=", query):
        return False
    return is_list_page(path, query) or bool(_PAPER_PATH.match(path))


# A shared copy cut at its markers, once, when it is kept: literal bytes, a spot's name, a vote's paper
# id with its pressed and unpressed forms, an account's id with what it sees and what others see (pieces
# again: a form carries the CSRF token), or a paper page's personal block; filling it in is then one join,
# whatever the page's size.
Part = bytes | str
Piece = Part | tuple[str, int, list[Part], list[Part]] | tuple[str, int]
_BLOCK = re.compile(
    rb"<!--dp:(v|o|f|g):(\d+)-->(.*?)<!--dp:\1e-->(.*?)<!--dp:\1z-->|<!--dp:([pmk]):(\d+)-->", re.S
)
_SPOT = re.compile(rb"<!--dp:(csrf|name|initial|hue)-->")


def _spots(text: bytes) -> list[Part]:
    pieces: list[Part] = []
    at = 0
    for match in _SPOT.finditer(text):
        pieces += [text[at : match.start()], match.group(1).decode()]
        at = match.end()
    pieces.append(text[at:])
    return pieces


def split(body: bytes) -> list[Piece]:
    """``body`` (a shared copy) cut into the pieces :func:`fill` joins."""
    pieces: list[Piece] = []
    at = 0
    for match in _BLOCK.finditer(body):
        pieces += _spots(body[at : match.start()])
        if match.group(5) is not None:
            pieces.append((match.group(5).decode(), int(match.group(6))))
        else:
            kind = match.group(1).decode()
            pieces.append((kind, int(match.group(2)), _spots(match.group(3)), _spots(match.group(4))))
        at = match.end()
    pieces += _spots(body[at:])
    return pieces


def fill(
    pieces: list[Piece],
    *,
    csrf: str,
    name: str,
    voted: set[int] | frozenset[int],
    user_id: int | None = None,
    blocks: dict[int, bytes] | None = None,
    followed: dict[str, set[int]] | None = None,
    marks: dict[int, frozenset[str]] | None = None,
    hide_marked: bool = False,
) -> bytes:
    """The page of one reader: the pieces of a shared copy with their token, name, pressed buttons, what
    is theirs (``user_id``), their personal ``blocks`` (by paper id), the follow buttons of what they
    follow (``followed``: ``f`` organization ids, ``g`` paper ids) and the cards of the papers they
    marked (``marks``: dimmed, or hidden with ``hide_marked``)."""
    spots = {
        "csrf": str(escape(csrf)).encode(),
        "name": str(escape(name)).encode(),
        "initial": str(escape(name[:1].upper())).encode(),
        "hue": str(len(name) % 8).encode(),
    }
    out: list[bytes] = []
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(piece)
        elif isinstance(piece, str):
            out.append(spots[piece])
        elif piece[0] == "p":
            out.append((blocks or {}).get(piece[1], b""))
        elif piece[0] == "m":
            out.append(mark_classes((marks or {}).get(piece[1], frozenset()), hide_marked).encode())
        elif piece[0] == "k":
            out.append(str(mark_label((marks or {}).get(piece[1], frozenset()))).encode())
        else:
            kind, number, yes, no = piece  # type: ignore[misc]
            if kind == "v":
                chosen = number in voted
            elif kind == "o":
                chosen = number == user_id
            else:
                chosen = number in (followed or {}).get(kind, ())
            for part in yes if chosen else no:
                out.append(part if isinstance(part, bytes) else spots[part])
    return b"".join(out)


@dataclass
class _Copy:
    status: int
    headers: list[tuple[bytes, bytes]]
    pieces: list[Piece]
    paper_ids: list[int]  # whose upvote buttons it has
    blocks: list[int]  # the papers whose personal block it has
    follows: bool = False  # whether it has follow buttons (each request then reads what its reader follows)
    cards: list[int] = field(default_factory=list)  # the papers whose cards it has (dimmed when marked)


class SharedCopies:
    """The shared copies of one process (LRU), keyed by path, query, htmx variant, role and data version;
    ``hits`` and ``renders`` count how they were used."""

    def __init__(self, max_entries: int = 512, max_readers: int = 8192) -> None:
        self.max_entries = max_entries
        self.max_readers = max_readers
        self.copies: OrderedDict[tuple[Any, ...], _Copy] = OrderedDict()
        # (reader, copy key) -> the reader's votes among the copy's papers (LRU)
        self.voted: OrderedDict[tuple[Any, ...], frozenset[int]] = OrderedDict()
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

    def voted_get(self, key: tuple[Any, ...]) -> frozenset[int] | None:
        """A reader's votes among a copy's papers, as read before under the same data version, or None."""
        voted = self.voted.get(key)
        if voted is not None:
            self.voted.move_to_end(key)
        return voted

    def voted_put(self, key: tuple[Any, ...], voted: frozenset[int]) -> None:
        """Keep a reader's votes among a copy's papers, dropping the least recently used beyond
        ``max_readers``."""
        self.voted[key] = voted
        while len(self.voted) > self.max_readers:
            self.voted.popitem(last=False)

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
        check_interval: float = 1.0,
        block: Callable[[Any, Any, int, str], bytes] | None = None,
    ) -> None:
        self.app = app
        # (read session, reader, paper id, CSRF token) -> the reader's block on that paper's page
        self.block = block
        # a reader's few rows, read right here on SQLite (a local file, WAL: a read never waits for a
        # writer; a millisecond, less than a thread's hand-over costs under load); on PostgreSQL (the
        # network) on a thread
        self.inline = db.is_sqlite
        # after a reader's write, their list pages are rendered anew this long: another worker may go on
        # seeing the data version before it for up to ``check_interval``
        self.fresh_for = math.ceil(check_interval) + 1 if check_interval > 0 else 0
        self._wrote_cookie = (
            f"{WROTE_COOKIE}=1; Max-Age={self.fresh_for}; Path=/; HttpOnly; SameSite=Lax".encode()
        )
        self._mine_cookie = f"{MINE_COOKIE}={{}}; Path=/; HttpOnly; SameSite=Lax"
        self.db = db
        self.version = version
        self.store = copies
        # account object (as the session resumer keeps it) -> (CSRF token, paper id -> personal block)
        self._blocks: weakref.WeakKeyDictionary[Any, tuple[str, dict[int, bytes]]]
        self._blocks = weakref.WeakKeyDictionary()
        # account object -> (``dp_mine``, paper id -> the reader's marks on it, an empty set for none),
        # kept like the blocks
        self._marks: weakref.WeakKeyDictionary[Any, tuple[bytes, dict[int, frozenset[str]]]]
        self._marks = weakref.WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        user = state.get("user")
        if scope["type"] == "http" and user is not None and scope["method"] in UNSAFE and self.fresh_for:
            await self.app(scope, receive, self._marking_writes(send))
            return
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or user is None
            or not is_shared_page(scope["path"], scope["query_string"])
            or any(n == b"cookie" and (OWN_WRITE_COOKIE in v or WROTE in v) for n, v in scope["headers"])
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
        csrf, name = state.get("csrf_token") or "", user.display_name or ""
        # a reader's votes change the data version, which is in the key: kept until it moves on; their
        # marks and collections do not: a personal block is kept with the login it was read under
        # (:meth:`_kept_blocks`)
        voted = self.store.voted_get((user.id, key)) if copy.paper_ids else frozenset()
        mine = _mine(scope)
        kept = self._kept_blocks(user, csrf, mine)
        blocks = {i: kept[i] for i in copy.blocks if i in kept}
        missing = [i for i in copy.blocks if i not in blocks]
        kept_marks = self._kept_marks(user, mine)
        unmarked = [i for i in copy.cards if i not in kept_marks]
        marks = {i: kept_marks[i] for i in copy.cards if i in kept_marks}
        followed: dict[str, set[int]] | None = None
        if voted is None or missing or copy.follows or unmarked:
            wanted = (user, csrf, copy.paper_ids if voted is None else [], missing, copy.follows, unmarked)
            if self.inline:
                read, fresh, followed, marked = self._personal(*wanted)
            else:
                read, fresh, followed, marked = await anyio.to_thread.run_sync(self._personal, *wanted)
            blocks.update(fresh)
            if len(kept) < _BLOCKS_PER_LOGIN:
                kept.update(fresh)
            marks.update(marked)
            if len(kept_marks) < _MARKS_PER_LOGIN:
                kept_marks.update(marked)
            if voted is None:
                voted = frozenset(read)
                self.store.voted_put((user.id, key), voted)
        body = fill(
            copy.pieces,
            csrf=csrf,
            name=name,
            voted=voted,
            user_id=user.id,
            blocks=blocks,
            followed=followed,
            marks=marks,
            hide_marked=bool(getattr(user, "hide_marked", False)),
        )
        headers = [(n, v) for n, v in copy.headers if n != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": copy.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _kept_blocks(self, user: Any, csrf: str, mine: bytes = b"") -> dict[int, bytes]:
        """The personal blocks read for this login (paper id -> block), kept as long as the account
        object is (the session resumer keeps one for a minute at most, less when a login may have
        ended). A reader's own write shows at once all the same: it sets the ``dp_wrote`` cookie, and
        their pages skip the shared copies (and these blocks) for longer than ``check_interval``, and a
        new ``dp_mine`` value, under which every worker reads their blocks anew. Without kept logins
        (interval 0) every request reads its block."""
        key = csrf + "|" + mine.decode()
        blocks = self._blocks.get(user)
        if blocks is None or blocks[0] != key:
            blocks = (key, {})
            self._blocks[user] = blocks
        return blocks[1]

    def _kept_marks(self, user: Any, mine: bytes) -> dict[int, frozenset[str]]:
        """The reader's marks on the papers of the lists they opened (paper id -> kinds), kept as the
        blocks are (:meth:`_kept_blocks`): until the account object goes, or their own write gives
        ``dp_mine`` a new value."""
        marks = self._marks.get(user)
        if marks is None or marks[0] != mine:
            marks = (mine, {})
            self._marks[user] = marks
        return marks[1]

    def _marking_writes(self, send: Send) -> Send:
        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                mine = self._mine_cookie.format(time.time_ns()).encode()
                headers = [
                    *message.get("headers", []),
                    (b"set-cookie", self._wrote_cookie),
                    (b"set-cookie", mine),
                ]
                message = dict(message, headers=headers)
            await send(message)

        return marked

    def _personal(
        self,
        user: Any,
        csrf: str,
        paper_ids: list[int],
        block_ids: list[int],
        follows: bool = False,
        card_ids: list[int] | None = None,
    ) -> tuple[set[int], dict[int, bytes], dict[str, set[int]] | None, dict[int, frozenset[str]]]:
        """The reader's votes among ``paper_ids``, their personal blocks of ``block_ids``, with
        ``follows`` the organizations and papers they follow, and their marks on ``card_ids`` (each of
        them: an empty set for none) — one thread, one read session. What they follow is read on every
        request: a follow changes no data version."""
        with self.db.session() as session:
            session.connection(execution_options=SHORT_READ)
            voted = voted_ids(session, user.id, paper_ids) if paper_ids else set()
            blocks = {i: self.block(session, user, i, csrf) for i in block_ids} if self.block else {}
            followed = None
            if follows:
                organizations, papers = followed_ids(session, user.id)
                followed = {"f": organizations, "g": papers}
            found = marks_of(session, user.id, card_ids) if card_ids else {}
        marks = {i: frozenset(found.get(i, ())) for i in card_ids or ()}
        return voted, blocks, followed, marks

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
        pieces = split(raw)
        marked = [p for p in pieces if isinstance(p, tuple)]
        ids = sorted({p[1] for p in marked if p[0] == "v"})
        blocks = [p[1] for p in marked if p[0] == "p"]
        cards = sorted({p[1] for p in marked if p[0] == "m"})
        follows = any(p[0] in ("f", "g") for p in marked)
        return _Copy(start["status"], headers, pieces, ids, blocks, follows, cards)
