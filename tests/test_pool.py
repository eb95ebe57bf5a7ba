"""Many logged-in readers at once: each request holds at most one pooled connection, so a small pool
never runs dry, and every reader sees their own votes only."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import event, select

from dailypapers.community.actions import set_vote
from dailypapers.store.db import Database
from dailypapers.store.models import DailyEntry, Paper
from dailypapers.web.auth import SESSION_COOKIE, Sessions
from tests.support.browser import live_server
from tests.support.community import community_settings, load_papers, make_users

VOTED = re.compile(r'action="/papers/([^"/]+)/vote".*?class="votes vote-button[^"]*?( voted)?"', re.S)


def test_logged_in_readers_at_once_with_a_small_pool(settings):
    small = community_settings(
        settings, database_pool_size=3, database_max_overflow=0, database_pool_timeout=5, response_cache=True
    )
    db = Database.from_settings(small)
    db.migrate()
    try:
        load_papers(db)
        with db.session() as session:
            newest = session.scalar(select(DailyEntry.day).order_by(DailyEntry.day.desc()).limit(1))
            listed = session.scalars(
                select(Paper.arxiv_id).join(DailyEntry).where(DailyEntry.day == newest).order_by(Paper.id)
            ).all()
        readers = make_users(db, [f"reader{i}" for i in range(len(listed))])
        for reader, arxiv_id in zip(readers, listed, strict=True):
            set_vote(db, reader, arxiv_id, voted=True)  # each reader upvoted one paper of the day
        held: dict[int, int] = {}
        most = [0]

        def checkout(*_: object) -> None:
            me = threading.get_ident()
            held[me] = held.get(me, 0) + 1
            most[0] = max(most[0], held[me])

        def checkin(*_: object) -> None:
            held[threading.get_ident()] = held.get(threading.get_ident(), 1) - 1

        event.listen(db.engine.pool, "checkout", checkout)
        event.listen(db.engine.pool, "checkin", checkin)
        sessions = Sessions(small, db)
        cookies = {r.username: sessions.issue(r).cookie for r in readers}
        own = {r.username: a for r, a in zip(readers, listed, strict=True)}
        with live_server(small, db) as url:

            def visit(n: int) -> tuple[str, int, set[str]]:
                name = readers[n % len(readers)].username
                path = ("/", "/papers/trending")[n % 2]
                answer = httpx.get(url + path, cookies={SESSION_COOKIE: cookies[name]}, timeout=60)
                voted = {m.group(1) for m in VOTED.finditer(answer.text) if m.group(2)}
                return name, answer.status_code, voted

            with ThreadPoolExecutor(max_workers=24) as pool:
                results = list(pool.map(visit, range(96)))
    finally:
        db.dispose()
    assert [status for _, status, _ in results] == [200] * 96
    assert most[0] == 1  # no request held two connections at once
    for name, _, voted in results:
        assert voted == {own[name]}, (name, voted)  # their own upvote, nobody else's
