"""A response cache in front of the app: anonymous GETs of listings, paper pages, feeds and the JSON API
are rendered once per data version and then answered from memory.

:class:`CacheMiddleware` is plain ASGI, so a hit never reaches FastAPI's routing, the thread pool or the
database. A stored response is valid while the data version (:mod:`dailypapers.store.state`, bumped in
the same transaction as every change) is the one it was rendered under and for at most ``max_age``
seconds (trending scores and "the latest day" move with the clock). Each worker process reads the
version from the database at most once per ``check_interval`` seconds, so N stateless workers agree
within that interval without sharing memory; a write (POST, PUT, PATCH, DELETE) through a worker makes
that worker read it again on its next request. Concurrent misses of one key render it once: the first
request renders while the others wait for its answer, or, if the key holds the page of an older data
version, get that one at once (stale while revalidating), so a change never stalls a crowd of readers
behind one render. A change thus shows within ``check_interval`` plus one render.

What is cached: GET answers with status 200 on :data:`CACHED_PATHS`, keyed by scheme, host, path,
query string (the Link header holds absolute URLs) and the request headers of :data:`KEY_HEADERS` (htmx
asks for fragments of the same URL with them). Never: a request with a session cookie, a ``dp_lsn``
cookie (a write of its own that the read replica may not have yet: :mod:`dailypapers.web.replica`) or an
Authorization header, any other status, a response that sets a cookie, says ``no-store`` or ``private``,
varies on a request header the key does not hold, or is already encoded. A handler that reads another request
header to choose what it renders must add it to :data:`KEY_HEADERS`. Every cached answer carries an
ETag (the app's own, else a hash of the body: the same in every worker) and gets a 304 for a matching
``If-None-Match``; text is also kept gzipped and sent so to clients that accept it. The memory bound
(bytes and entries) is kept by evicting the least recently used entries.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from dailypapers.web import auth
from dailypapers.web.guards import report_unavailable
from dailypapers.web.replica import LSN_COOKIE

log = logging.getLogger("dailypapers.web.cache")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A path is cached if it is one of these or lies below one of them (``/papers`` and ``/papers/...``).
CACHED_PATHS = ("/papers", "/organizations", "/api/daily_papers", "/api/papers", "/feeds")
# Request headers a page may vary on; their values are part of the key.
KEY_HEADERS = (b"hx-request", b"hx-target", b"hx-history-restore-request", b"hx-boosted")
# A request carrying this cookie is a logged-in one: never answered from the cache (other cookies,
# such as an anonymous form's CSRF cookie, do not change what a page shows).
SESSION_COOKIE = (auth.SESSION_COOKIE + "=").encode()
# Nor one carrying this: its own latest write may not be on the read replica yet (its pages come from the
# primary until it is).
OWN_WRITE_COOKIE = (LSN_COOKIE + "=").encode()
# A response may say it varies on these (cookies and credentials never reach a cached answer).
SAFE_VARY = frozenset({b"accept-encoding", b"cookie", b"authorization", *KEY_HEADERS})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_GZIP_BYTES = 1024
ENTRY_OVERHEAD = 512  # bytes counted per entry for its key, headers and bookkeeping
DROPPED_HEADERS = frozenset({b"content-length", b"etag", b"x-cache"})


def is_cached_path(path: str, cached_paths: tuple[str, ...] = CACHED_PATHS) -> bool:
    """Whether responses for ``path`` may be cached (the home page and everything under
    :data:`CACHED_PATHS`)."""
    if path == "/":
        return True
    return any(path == p or path.startswith(p + "/") for p in cached_paths)


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    """Whether an ``Accept-Encoding`` header value accepts gzip (``gzip`` or ``*`` with q > 0)."""
    if not accept_encoding:
        return False
    for part in accept_encoding.decode("latin-1").lower().split(","):
        name, _, params = part.partition(";")
        if name.strip() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        return q > 0
    return False


def etag_matches(if_none_match: bytes, *etags: bytes) -> bool:
    """Weak comparison of an ``If-None-Match`` value (a list of tags, or ``*``) with our ETags."""
    wanted = set()
    for tag in if_none_match.split(b","):
        tag = tag.strip()
        if tag == b"*":
            return True
        wanted.add(tag[2:] if tag.startswith(b"W/") else tag)
    return any(e in wanted for e in etags)


@dataclass(slots=True)
class CachedResponse:
    """One stored 200 answer: its body (and gzip variant) and the headers to send with each."""

    version: int
    stored_at: float
    status: int
    body: bytes
    gzip_body: bytes | None
    etag: bytes
    gzip_etag: bytes
    headers: list[tuple[bytes, bytes]]  # the identity answer, without X-Cache
    gzip_headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]
    size: int
    route: Any = None  # the route that rendered it (metrics name a hit by its route template)


def _compressible(content_type: bytes) -> bool:
    ct = content_type.lower()
    return ct.startswith(b"text/") or any(k in ct for k in (b"json", b"xml", b"javascript"))


def make_entry(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, version: int, key: str, now: float
) -> CachedResponse | None:
    """A :class:`CachedResponse` for an answer, or ``None`` if that answer must not be cached.

    Pure and CPU-bound (hashing and gzip): the middleware runs it on a worker thread."""
    base: list[tuple[bytes, bytes]] = []
    content_type = b""
    etag = b""
    vary: list[bytes] = []
    for name, value in headers:
        name = name.lower()
        if name in (b"set-cookie", b"content-encoding"):
            return None
        if name == b"cache-control" and (b"no-store" in value.lower() or b"private" in value.lower()):
            return None
        if name == b"vary":
            names = [v.strip() for v in value.split(b",") if v.strip()]
            if any(n.lower() not in SAFE_VARY for n in names):
                return None
            vary += [n for n in names if n.lower() != b"accept-encoding"]
            continue
        if name == b"content-type":
            content_type = value
        elif name == b"etag":
            etag = value.strip()
        if name in DROPPED_HEADERS:
            continue
        base.append((name, value))
    if not etag.endswith(b'"'):
        etag = b'"' + hashlib.blake2b(body, digest_size=10).hexdigest().encode() + b'"'
    gzip_etag = etag[:-1] + b'-gz"'
    gzip_body = None
    if len(body) >= MIN_GZIP_BYTES and _compressible(content_type):
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        if len(packed) < len(body) * 0.9:
            gzip_body = packed
            vary.append(b"Accept-Encoding")
    vary = [(b"vary", b", ".join(vary))] if vary else []
    identity = base + [(b"content-length", str(len(body)).encode()), (b"etag", etag)] + vary
    packed_headers: list[tuple[bytes, bytes]] = []
    if gzip_body is not None:
        packed_headers = (
            base
            + [
                (b"content-length", str(len(gzip_body)).encode()),
                (b"etag", gzip_etag),
                (b"content-encoding", b"gzip"),
            ]
            + vary
        )
    kept = (b"cache-control", b"expires", b"content-location", b"link")
    not_modified = [(n, v) for n, v in base if n in kept] + vary
    size = len(body) + len(gzip_body or b"") + len(key) + ENTRY_OVERHEAD
    return CachedResponse(
        version, now, status, body, gzip_body, etag, gzip_etag, identity, packed_headers, not_modified, size
    )


@dataclass
class CacheStats:
    """Counters of one cache (one worker process)."""

    hits: int = 0
    stale: int = 0
    misses: int = 0
    stores: int = 0
    not_modified: int = 0
    bypasses: int = 0
    invalidations: int = 0
    evictions: int = 0
    version_reads: int = 0


@dataclass
class ResponseCache:
    """The stored responses of one process (LRU, bounded in bytes and entries) and the data version
    they belong to. ``read_version`` reads the version from the database (blocking; run on a thread).

    ``check_interval``: seconds between two version reads (0: every request). ``max_age``: seconds an
    entry lives at most (0: no limit). ``max_bytes``: memory bound; one entry may use an eighth of it.
    """

    read_version: Callable[[], int]
    check_interval: float = 1.0
    max_bytes: int = 64 * 1024 * 1024
    max_entries: int = 10_000
    max_age: float = 60.0
    cached_paths: tuple[str, ...] = CACHED_PATHS
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self.bytes = 0
        self.version: int | None = None
        self._next_check = 0.0
        self._check: asyncio.Future[int | None] | None = None
        self._latest_read = 0.0  # time.monotonic() when the latest reading of the version began
        self._inflight: dict[str, asyncio.Future[CachedResponse | None]] = {}

    @property
    def max_entry_bytes(self) -> int:
        return self.max_bytes // 8

    def __len__(self) -> int:
        return len(self._entries)

    # --- the store ---------------------------------------------------------------------------------

    def get(self, key: str, version: int, now: float) -> CachedResponse | None:
        """The entry for ``key`` if it belongs to ``version``, else ``None``."""
        entry = self.lookup(key, now)
        return entry if entry is not None and entry.version == version else None

    def lookup(self, key: str, now: float) -> CachedResponse | None:
        """The entry for ``key`` of any data version (the caller compares), unless it is older than
        ``max_age``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.max_age and now - entry.stored_at >= self.max_age:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CachedResponse) -> bool:
        """Store ``entry`` unless it is too big or its version is no longer current."""
        if entry.size > self.max_entry_bytes or entry.version != self.version:
            return False
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self.bytes += entry.size
        self.stats.stores += 1
        while self._entries and (self.bytes > self.max_bytes or len(self._entries) > self.max_entries):
            self._drop(next(iter(self._entries)))
            self.stats.evictions += 1
        return True

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    # --- the data version --------------------------------------------------------------------------

    def recheck_soon(self) -> None:
        """Read the version again on the next request (this process just wrote something): a reading
        under way began before the write, so the next request starts its own."""
        self._next_check = 0.0
        self._check = None

    async def current_version(self) -> int | None:
        """The data version, read from the database at most once per ``check_interval``; ``None`` if
        it cannot be read (the cache then stays out of the way). Once half the interval has passed, the
        next reading starts in the background and requests go on with the version they have: only when
        it is not back by the end of the interval (or after a write here) do requests wait for it. (They
        all waited for it at the end of every interval before, on a busy worker 100–200 ms.)"""
        now = time.monotonic()
        if now < self._next_check:
            if self.check_interval > 0 and now >= self._next_check - self.check_interval / 2:
                self._reading()
            return self.version
        return await asyncio.shield(self._reading())

    def _reading(self) -> asyncio.Future[int | None]:
        """The reading of the version under way, or a new one."""
        loop = asyncio.get_running_loop()
        check = self._check
        if check is None or check.done() or check.get_loop() is not loop:
            check = self._check = loop.create_task(self._read())
        return check

    async def _read(self) -> int | None:
        started = time.monotonic()
        self._latest_read = started
        self.stats.version_reads += 1
        try:
            version = await asyncio.get_running_loop().run_in_executor(None, self.read_version)
            if started < self._latest_read:  # a later reading began meanwhile (after a write): it decides
                return version
        except Exception as exc:
            if not report_unavailable(exc, "reading the data version"):  # (an outage: one line a minute)
                log.warning("cannot read the data version; not caching", exc_info=True)
            self.version = None
            self.clear()
            self._next_check = started + self.check_interval
            return None
        if version != self.version:
            if self._entries:
                self.stats.invalidations += 1  # every entry is stale now; each is replaced when next asked
            self.version = version
        self._next_check = started + self.check_interval
        return version


class CacheMiddleware:
    """The ASGI side of :class:`ResponseCache`: decides what may be cached, answers hits, captures and
    stores misses."""

    def __init__(self, app: ASGIApp, *, cache: ResponseCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        cache = self.cache
        if method not in SAFE_METHODS:
            try:
                await self.app(scope, receive, send)
            finally:
                cache.recheck_soon()
            return
        if method == "OPTIONS" or not is_cached_path(scope["path"], cache.cached_paths):
            await self.app(scope, receive, send)
            return
        host = if_none_match = accept_encoding = None
        variant: list[str] = []
        for name, value in scope["headers"]:
            if (
                name == b"cookie" and (SESSION_COOKIE in value or OWN_WRITE_COOKIE in value)
            ) or name == b"authorization":
                cache.stats.bypasses += 1
                await self.app(scope, receive, send)
                return
            if name == b"host":
                host = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"accept-encoding":
                accept_encoding = value
            elif name in KEY_HEADERS:
                variant.append(f"{name.decode('latin-1')}={value.decode('latin-1')}")
        version = await cache.current_version()
        if version is None:
            cache.stats.bypasses += 1
            await self.app(scope, receive, send)
            return
        key = (
            f"{scope.get('scheme', 'http')}://{(host or b'').decode('latin-1')}{scope['path']}"
            f"?{scope['query_string'].decode('latin-1')}"
        )
        if variant:
            key += "\n" + "\n".join(sorted(variant))
        entry = cache.lookup(key, time.monotonic())
        if entry is not None and entry.version != version:
            stale, entry = entry, None
        else:
            stale = None
        if entry is None:
            pending = cache._inflight.get(key)
            if pending is not None and pending.get_loop() is asyncio.get_running_loop():
                if stale is not None:  # someone is rendering the new one: the old one meanwhile
                    cache.stats.stale += 1
                    scope["route"] = stale.route
                    await self._answer(stale, method, if_none_match, accept_encoding, b"STALE", send)
                    return
                entry = await asyncio.shield(pending)  # someone is rendering it: wait for theirs
                if entry is not None and entry.version != version:
                    entry = None
        if entry is not None:
            cache.stats.hits += 1
            scope["route"] = entry.route
            await self._answer(entry, method, if_none_match, accept_encoding, b"HIT", send)
            return
        if method != "GET":
            await self.app(scope, receive, send)
            return
        cache.stats.misses += 1
        await self._render(scope, receive, send, key, version, if_none_match, accept_encoding)

    async def _render(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: str,
        version: int,
        if_none_match: bytes | None,
        accept_encoding: bytes | None,
    ) -> None:
        """Run the app, holding its answer back; store it if it may be cached, then send it."""
        cache = self.cache
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[CachedResponse | None] = loop.create_future()
        cache._inflight[key] = pending
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        streaming = False  # not cacheable after all: what the app sends goes straight out
        complete = False

        async def capture(message: Message) -> None:
            nonlocal start, size, streaming, complete
            if streaming:
                await send(message)
                return
            kind = message["type"]
            if kind == "http.response.debug":  # a test client's view of the template: not the answer
                await send(message)
                return
            if kind == "http.response.start":
                start = message
                if message["status"] != 200:
                    streaming = True
                    await send(message)
                return
            if kind != "http.response.body" or start is None:
                streaming = True
                if start is not None:
                    await send(start)
                await send(message)
                return
            body = message.get("body", b"")
            chunks.append(body)
            size += len(body)
            if not message.get("more_body", False):
                complete = True
            elif size > cache.max_entry_bytes:
                streaming = True
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
                chunks.clear()

        entry = None
        try:
            await self.app(scope, receive, capture)
            if streaming or not complete or start is None:
                return
            body = b"".join(chunks)
            headers = [(bytes(n), bytes(v)) for n, v in start.get("headers", [])]
            entry = await loop.run_in_executor(
                None,
                functools.partial(
                    make_entry, start["status"], headers, body, version=version, key=key, now=time.monotonic()
                ),
            )
            if entry is None:
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            entry.route = scope.get("route")
            cache.put(key, entry)
            await self._answer(entry, "GET", if_none_match, accept_encoding, b"MISS", send)
        finally:
            if cache._inflight.get(key) is pending:
                del cache._inflight[key]
            if not pending.done():
                pending.set_result(entry)

    async def _answer(
        self,
        entry: CachedResponse,
        method: str,
        if_none_match: bytes | None,
        accept_encoding: bytes | None,
        state: bytes,
        send: Send,
    ) -> None:
        if if_none_match is not None and etag_matches(if_none_match, entry.etag, entry.gzip_etag):
            self.cache.stats.not_modified += 1
            packed = entry.gzip_body is not None and accepts_gzip(accept_encoding)
            headers = entry.not_modified_headers + [
                (b"etag", entry.gzip_etag if packed else entry.etag),
                (b"x-cache", state),
            ]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if entry.gzip_body is not None and accepts_gzip(accept_encoding):
            headers, body = entry.gzip_headers, entry.gzip_body
        else:
            headers, body = entry.headers, entry.body
        await send(
            {
                "type": "http.response.start",
                "status": entry.status,
                "headers": headers + [(b"x-cache", state)],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
