"""The response cache and the data version: what is served from memory, when it goes stale, what is
never cached. Behaviour only (hit counters, query counts, headers), no timings."""

from __future__ import annotations

import asyncio
import gzip
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, event

from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import SiteState
from dailypapers.store.state import bump_version, current_version
from dailypapers.web.app import create_app
from dailypapers.web.cache import CacheMiddleware, ResponseCache, accepts_gzip, etag_matches, is_cached_path
from tests.conftest import TEST_DATA
from tests.support.settle import settled

HF_FILES = sorted((TEST_DATA / "hf_daily").glob("*.json"))  # the last one is the latest day, 2026-06-30


def import_files(db: Database, files) -> None:
    Importer(db).run(rec for f in files for rec in hf_daily.iter_file(f))


def version(db: Database) -> int:
    with db.session() as s:
        return current_version(s)


def ids(response) -> list[str]:
    return [item["paper"]["id"] for item in response.json()]


class QueryCounter:
    """Records the SQL statements an engine runs (``BEGIN`` and the like left out)."""

    def __init__(self, db: Database) -> None:
        self.statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.statements.append(statement)

    @property
    def n(self) -> int:
        return len(self.statements)


@pytest.fixture
def app_settings(settings):
    return settings.model_copy(update={"cache_check_interval": 0.0})


@pytest.fixture
def loaded_db(db):
    import_files(db, HF_FILES)
    return db


@pytest.fixture
def client(app_settings, loaded_db):
    with TestClient(create_app(app_settings, database=loaded_db)) as c:
        yield c


# --- the data version ------------------------------------------------------------------------------


def test_imports_bump_the_version_only_when_they_change_something(db):
    assert version(db) == 0
    import_files(db, HF_FILES)
    first = version(db)
    assert first > 0
    import_files(db, HF_FILES)  # everything unchanged
    assert version(db) == first
    record = PaperRecord(arxiv_id="2606.26740", title="LiveEdit", upvotes=10_000)
    Importer(db).run([record])
    assert version(db) == first + 1


def test_bump_version_counts_up_in_the_callers_transaction_and_recreates_a_missing_row(db):
    with db.transaction() as s:
        bump_version(s)
        bump_version(s)
    assert version(db) == 2
    with pytest.raises(RuntimeError), db.transaction() as s:
        bump_version(s)
        raise RuntimeError("rolled back")
    assert version(db) == 2
    with db.transaction() as s:
        s.execute(delete(SiteState))
    assert version(db) == 0
    with db.transaction() as s:
        bump_version(s)
    assert version(db) == 1


# --- the cache in front of the real app ------------------------------------------------------------


def test_a_cached_page_is_served_from_memory_without_touching_the_data(settings, loaded_db):
    app = create_app(settings.model_copy(update={"cache_check_interval": 3600.0}), database=loaded_db)
    with TestClient(app) as c:
        settled(c)
        queries = QueryCounter(loaded_db)
        for path in ("/api/daily_papers", "/api/daily_papers?date=2024-06-03", "/api/papers/2606.26740"):
            first = c.get(path)
            assert first.status_code == 200 and first.headers["x-cache"] == "MISS"
            before = queries.n
            second = c.get(path)
            assert second.headers["x-cache"] == "HIT"
            assert queries.n == before  # no SQL at all: not even the version (read once an hour here)
            assert second.content == first.content
            assert second.headers["etag"] == first.headers["etag"]
        assert app.state.parts.response_cache.stats.hits == 3


def test_with_interval_0_each_hit_reads_only_the_version(client, loaded_db):
    settled(client).get("/api/daily_papers")
    queries = QueryCounter(loaded_db)
    assert client.get("/api/daily_papers").headers["x-cache"] == "HIT"
    assert queries.n == 1 and "site_state" in queries.statements[0]


def test_an_import_that_changes_data_shows_on_the_next_request(app_settings, db):
    import_files(db, HF_FILES[:-1])
    with TestClient(create_app(app_settings, database=db)) as c:
        older = c.get("/api/daily_papers")
        assert c.get("/api/daily_papers").headers["x-cache"] == "HIT"
        import_files(db, HF_FILES[-1:])
        newer = c.get("/api/daily_papers")
        assert newer.headers["x-cache"] == "MISS"
        assert ids(newer) == ["2606.26740", "2606.30616", "2606.28480", "2606.24256"]
        assert ids(newer) != ids(older)
        # a vote-like change to one count is seen too
        Importer(db).run(
            [
                DailyEntryRecord(
                    paper=PaperRecord(arxiv_id="2606.24256", title="x"), day=date(2026, 6, 30), upvotes=10_000
                )
            ]
        )
        assert ids(c.get("/api/daily_papers"))[0] == "2606.24256"


def test_a_reimport_that_changes_nothing_keeps_the_cache(client, loaded_db):
    client.get("/api/daily_papers")
    import_files(loaded_db, HF_FILES)
    assert client.get("/api/daily_papers").headers["x-cache"] == "HIT"
    assert client.app.state.parts.response_cache.stats.invalidations == 0


def test_two_workers_on_one_database_both_see_a_change(app_settings, db):
    import_files(db, HF_FILES[:-1])
    url = str(db.url)
    one, two, writer = (Database(url) for _ in range(3))
    try:
        with (
            TestClient(create_app(app_settings, database=one)) as a,
            TestClient(create_app(app_settings, database=two)) as b,
        ):
            for c in (a, b):
                c.get("/api/daily_papers")
                assert c.get("/api/daily_papers").headers["x-cache"] == "HIT"
            import_files(writer, HF_FILES[-1:])
            for c in (a, b):
                r = c.get("/api/daily_papers")
                assert r.headers["x-cache"] == "MISS" and ids(r)[0] == "2606.26740"
    finally:
        for d in (one, two, writer):
            d.dispose()


def test_a_write_through_the_app_makes_that_worker_read_the_version_again(settings, loaded_db):
    app = create_app(settings.model_copy(update={"cache_check_interval": 3600.0}), database=loaded_db)
    with TestClient(app) as c:
        c.get("/api/daily_papers")
        Importer(loaded_db).run(
            [
                DailyEntryRecord(
                    paper=PaperRecord(arxiv_id="2606.24256", title="x"), day=date(2026, 6, 30), upvotes=10_000
                )
            ]
        )
        assert c.get("/api/daily_papers").headers["x-cache"] == "HIT"  # stale within the interval
        c.post("/api/daily_papers")  # any write goes through (405 here) and triggers a re-read
        fresh = c.get("/api/daily_papers")
        assert fresh.headers["x-cache"] == "MISS" and ids(fresh)[0] == "2606.24256"


def test_requests_with_a_session_cookie_or_credentials_bypass_the_cache(client):
    anonymous = client.get("/api/daily_papers")
    assert anonymous.headers["x-cache"] == "MISS"
    # other cookies (an anonymous form's CSRF cookie, a proxy's) do not make a request personal
    assert client.get("/api/daily_papers", headers={"Cookie": "dp_form=x; lb=7"}).headers["x-cache"] == "HIT"
    for headers in ({"Cookie": "lb=7; dp_session=abc"}, {"Authorization": "Bearer x"}):
        r = client.get("/api/daily_papers", headers=headers)
        assert r.status_code == 200 and "x-cache" not in r.headers
    stats = client.app.state.parts.response_cache.stats
    assert stats.bypasses == 2 and stats.stores == 1
    # and what they got was never stored: the next anonymous request is still the first entry
    assert client.get("/api/daily_papers").headers["x-cache"] == "HIT"


def test_etag_and_304_and_gzip(client):
    plain = client.get("/api/daily_papers", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    etag = plain.headers["etag"]
    r = client.get("/api/daily_papers", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"]
    assert client.get("/api/daily_papers", headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get("/api/daily_papers", headers={"If-None-Match": '"other"'}).status_code == 200
    packed = client.get("/api/daily_papers", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in packed.headers["vary"].lower()
    assert packed.headers["etag"] != etag
    assert packed.json() == plain.json()
    again = client.get("/api/daily_papers", headers={"If-None-Match": packed.headers["etag"]})
    assert again.status_code == 304


def test_errors_are_not_cached(client):
    for path in ("/api/papers/2601.99999", "/api/daily_papers?limit=0", "/no/such/page"):
        for _ in range(2):
            r = client.get(path)
            assert r.status_code in (400, 404) and "x-cache" not in r.headers
    assert client.app.state.parts.response_cache.stats.stores == 0


def test_the_cache_can_be_switched_off(settings, loaded_db):
    no_cache = settings.model_copy(update={"response_cache": False})
    with TestClient(create_app(no_cache, database=loaded_db)) as c:
        assert c.app.state.parts.response_cache is None
        assert "x-cache" not in c.get("/api/daily_papers").headers


# --- the middleware with a toy app -----------------------------------------------------------------


class Toy:
    """An ASGI app that answers each request with ``respond(scope)`` and counts its calls."""

    def __init__(self, respond) -> None:
        self.respond = respond
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        status, headers, body = self.respond(scope)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})


def toy_client(respond, **cache_options) -> tuple[TestClient, Toy, ResponseCache]:
    toy = Toy(respond)
    state = cache_options.pop("state", {"version": 1})
    cache = ResponseCache(lambda: state["version"], check_interval=0, **cache_options)
    return TestClient(CacheMiddleware(toy, cache=cache)), toy, cache


def test_a_server_error_or_an_unsafe_response_is_never_cached():
    answers = iter(
        [
            (500, {}, b"boom"),
            (200, {"set-cookie": "a=b"}, b"with a cookie"),
            (200, {"cache-control": "no-store"}, b"no store"),
            (200, {"cache-control": "private, max-age=10"}, b"private"),
            (200, {"vary": "Accept-Language"}, b"varies on language"),
            (200, {"content-type": "text/plain"}, b"fine"),
        ]
    )
    c, toy, cache = toy_client(lambda scope: next(answers))
    got = []
    for _ in range(6):
        got.append(c.get("/papers/x"))
        c.cookies.clear()  # the client keeps the cookie it was given, and would bypass the cache
    assert [r.status_code for r in got] == [500, 200, 200, 200, 200, 200]
    assert [r.text for r in got][-1] == "fine" and got[-1].headers["x-cache"] == "MISS"
    assert cache.stats.stores == 1 and len(cache) == 1
    assert c.get("/papers/x").text == "fine" and toy.calls == 6


def test_only_listing_paper_feed_and_api_paths_are_cached():
    for path in (
        "/",
        "/papers",
        "/papers/2401.00001",
        "/papers/date/2024-01-02",
        "/organizations/x",
        "/api/daily_papers",
        "/api/papers",
        "/api/papers/search",
        "/feeds/daily.atom",
    ):
        assert is_cached_path(path), path
    for path in (
        "/login",
        "/static/app.js",
        "/api/votes",
        "/paperscissors",
        "/docs",
        "/api/daily_papersx",
        "/settings",
        "/api/me",
    ):
        assert not is_cached_path(path), path
    c, toy, cache = toy_client(lambda scope: (200, {}, b"x"))
    for _ in range(2):
        assert "x-cache" not in c.get("/login").headers
    assert toy.calls == 2 and len(cache) == 0


def test_htmx_fragments_are_keyed_apart_from_the_page():
    def respond(scope):
        headers = dict(scope["headers"])
        fragment = headers.get(b"hx-request") == b"true"
        return 200, {"vary": "HX-Request, HX-Target"}, b"fragment" if fragment else b"whole page"

    c, toy, cache = toy_client(respond)
    assert c.get("/papers?p=1").text == "whole page"
    assert c.get("/papers?p=1", headers={"HX-Request": "true", "HX-Target": "cards"}).text == "fragment"
    assert c.get("/papers?p=1").text == "whole page"
    hit = c.get("/papers?p=1", headers={"HX-Request": "true", "HX-Target": "cards"})
    assert hit.text == "fragment" and hit.headers["x-cache"] == "HIT"
    assert "HX-Request" in hit.headers["vary"]
    assert toy.calls == 2


def test_the_memory_bound_holds_and_evicts_least_recently_used():
    body = b"x" * 2000
    c, toy, cache = toy_client(lambda scope: (200, {"content-type": "image/png"}, body), max_bytes=40_000)
    for i in range(40):
        assert c.get(f"/papers/{i}").content == body
        c.get("/papers/0")  # keep this one in use
        assert cache.bytes <= cache.max_bytes
    assert 0 < len(cache) < 40 and cache.stats.evictions > 0
    assert c.get("/papers/0").headers["x-cache"] == "HIT"
    assert c.get("/papers/1").headers["x-cache"] == "MISS"


def test_a_response_bigger_than_an_entry_may_be_is_sent_whole_and_not_stored():
    big = bytes(range(256)) * 400  # 102,400 bytes; an entry may use an eighth of 200,000
    c, toy, cache = toy_client(lambda scope: (200, {}, big), max_bytes=200_000)
    for _ in range(2):
        assert c.get("/papers/big").content == big
    assert len(cache) == 0 and toy.calls == 2


def test_entries_expire_after_max_age_even_if_the_data_did_not_change():
    c, toy, cache = toy_client(lambda scope: (200, {}, b"x"), max_age=60)
    c.get("/papers")
    key = next(iter(cache._entries))
    entry = cache._entries[key]
    assert cache.get(key, entry.version, entry.stored_at + 59) is entry
    assert cache.get(key, entry.version, entry.stored_at + 61) is None


def test_a_version_change_makes_entries_stale_and_a_failing_read_bypasses_the_cache():
    state = {"version": 1}
    c, toy, cache = toy_client(lambda scope: (200, {}, f"v{state['version']}".encode()), state=state)
    assert c.get("/papers").text == "v1" and c.get("/papers").headers["x-cache"] == "HIT"
    state["version"] = 2
    r = c.get("/papers")
    assert r.text == "v2" and r.headers["x-cache"] == "MISS" and cache.stats.invalidations == 1
    state["version"] = None  # reading fails: TypeError below, the app answers every request itself
    cache.read_version = lambda: 1 / 0
    for _ in range(2):
        r = c.get("/papers")
        assert r.status_code == 200 and "x-cache" not in r.headers
    assert len(cache) == 0


def test_concurrent_misses_of_one_page_render_it_once():
    release = asyncio.Event()
    calls = 0

    async def slow(scope, receive, send):
        nonlocal calls
        calls += 1
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"rendered once"})

    cache = ResponseCache(lambda: 7, check_interval=0)
    app = CacheMiddleware(slow, cache=cache)

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
            requests = [asyncio.create_task(client.get("/api/daily_papers")) for _ in range(5)]
            while calls == 0:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            release.set()
            return await asyncio.gather(*requests)

    responses = asyncio.run(main())
    assert [r.text for r in responses] == ["rendered once"] * 5
    assert calls == 1 and cache.stats.misses == 1 and cache.stats.hits == 4


def test_while_the_new_version_renders_others_get_the_old_one_at_once():
    release = asyncio.Event()
    state = {"version": 1, "calls": 0}

    async def app(scope, receive, send):
        state["calls"] += 1
        if state["version"] == 2:
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": f"v{state['version']}".encode()})

    cache = ResponseCache(lambda: state["version"], check_interval=0)

    async def main():
        transport = httpx.ASGITransport(CacheMiddleware(app, cache=cache))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/")).text == "v1"
            state["version"] = 2
            renderer = asyncio.create_task(client.get("/"))  # sees the change first: renders v2, waits
            while state["calls"] < 2:
                await asyncio.sleep(0.01)
            meanwhile = await client.get("/")
            release.set()
            return meanwhile, await renderer, await client.get("/")

    meanwhile, rendered, after = asyncio.run(main())
    assert (meanwhile.text, meanwhile.headers["x-cache"]) == ("v1", "STALE")
    assert (rendered.text, rendered.headers["x-cache"]) == ("v2", "MISS")
    assert (after.text, after.headers["x-cache"]) == ("v2", "HIT")
    assert state["calls"] == 2 and cache.stats.stale == 1


def test_header_helpers():
    assert accepts_gzip(b"gzip, deflate, br") and accepts_gzip(b"*") and accepts_gzip(b"br;q=1, gzip;q=0.5")
    assert not accepts_gzip(None) and not accepts_gzip(b"gzip;q=0") and not accepts_gzip(b"br")
    assert etag_matches(b'W/"a", "b"', b'"a"') and etag_matches(b"*", b'"z"')
    assert not etag_matches(b'"a-gz"', b'"a"')


def test_the_gzip_variant_is_real_gzip_of_the_body():
    body = b"<p>" + b"daily papers " * 200 + b"</p>"
    c, toy, cache = toy_client(lambda scope: (200, {"content-type": "text/html"}, body))
    c.get("/")
    entry = next(iter(cache._entries.values()))
    assert gzip.decompress(entry.gzip_body) == body
    raw = c.get("/", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip" and raw.content == body
