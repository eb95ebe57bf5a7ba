"""Digest benchmark: 10,000 subscribers, each with a personal "For you" section, composed into the outbox
and delivered to a local SMTP server, timed end to end (target <= 60 s on this 2-core machine).

    .venv/bin/python bench/digest.py [--subscribers 10000] [--connections 4]
                                     [--method similarity|blend|logreg] [--database-url URL]

Setup (not timed): a fresh SQLite database (or ``--database-url``, e.g. PostgreSQL) with the bundled demo
corpus (1,712 real Hugging Face papers with their MiniLM vectors), N accounts with 5–20 upvotes each on
papers of 1–3 random topics (a topic = the papers nearest a random paper), and N confirmed daily
subscriptions with both sections. The SMTP server is aiosmtpd on 127.0.0.1 in a separate process (so it
does not share the sender's interpreter), counting what it receives.

Timed: ``dailypapers digest send --edition 2026-06-30``'s work (the same function) — compose every
(subscriber, edition) into the outbox (recommendations among the edition's candidate papers for each
reader, templates, MIME) while ``--connections`` SMTP connections send what is already composed. Prints
compose and send times, mails per second, the total against the target, and checks that the server
received exactly N mails with N distinct recipients.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dailypapers.community.accounts import hash_password  # noqa: E402
from dailypapers.config import Settings, resolve_secret_key  # noqa: E402
from dailypapers.demo import load_demo  # noqa: E402
from dailypapers.digest.compose import Composer  # noqa: E402
from dailypapers.digest.run import run_digests  # noqa: E402
from dailypapers.recommend.service import DIGEST_METHOD, CandidatePool, digest_picks  # noqa: E402
from dailypapers.search.embed import MINILM_NAME  # noqa: E402
from dailypapers.store.db import Database  # noqa: E402
from dailypapers.store.models import Paper, Subscription, User, Vote, utcnow  # noqa: E402

TARGET_SECONDS = 60.0
EDITION = date(2026, 6, 30)


def smtp_server(port: int, ready: multiprocessing.Event, stop: multiprocessing.Event, counts: dict) -> None:
    from aiosmtpd.controller import Controller

    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            received.extend(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts["cpu"] = usage.ru_utime + usage.ru_stime
    counts["messages"] = len(received)
    counts["distinct"] = len(set(received))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(db: Database, n: int, seed: int = 7) -> None:
    load_demo(db)
    rng = random.Random(seed)
    pool = CandidatePool(db, MINILM_NAME).refresh()
    ids, vectors = pool.ids, pool.vectors
    password = hash_password("bench password 123")
    now = utcnow()
    users = [
        {
            "username": f"reader{i:05d}",
            "email": f"reader{i:05d}@example.org",
            "display_name": f"Reader {i}",
            "password_hash": password,
            "role": "user",
            "email_verified_at": now,
            "created_at": now,
        }
        for i in range(n)
    ]
    with db.transaction() as session:
        session.execute(insert(User), users)
        user_ids = session.execute(select(User.id).order_by(User.id)).scalars().all()
    votes = []
    for user_id in user_ids:
        chosen: set[int] = set()
        for _ in range(rng.randint(1, 3)):
            center = vectors[rng.randrange(len(ids))]
            near = np.argsort(-(vectors @ center))[:40]
            chosen.update(int(ids[i]) for i in rng.sample(list(near), rng.randint(2, 7)))
        votes += [{"user_id": user_id, "paper_id": p, "created_at": now} for p in list(chosen)[:20]]
    with db.transaction() as session:
        for start in range(0, len(votes), 5000):
            session.execute(insert(Vote), votes[start : start + 5000])
        counted = select(func.count()).where(Vote.paper_id == Paper.id).scalar_subquery()
        session.execute(update(Paper).values(community_upvotes=counted))
        session.execute(
            insert(Subscription),
            [
                {
                    "email": f"reader{i:05d}@example.org",
                    "user_id": uid,
                    "frequency": "daily",
                    "trending": True,
                    "for_you": True,
                    "categories": [],
                    "organizations": [],
                    "timezone": "America/New_York",
                    "send_hour": 7,
                    "confirmed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, uid in enumerate(user_ids)
            ],
        )
    print(
        f"setup: {len(ids)} papers with vectors, {n:,} readers, {len(votes):,} upvotes, {n:,} subscriptions"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--method",
        default=None,
        help="recommendation method: similarity (the digests' default), blend or logreg",
    )
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--embeddings-only",
        action="store_true",
        help="the personal sections without words and co-authors (the recommender before them)",
    )
    args = parser.parse_args()
    print("command: " + " ".join([".venv/bin/python", "bench/digest.py", *sys.argv[1:]]))

    tmp = Path(tempfile.mkdtemp(prefix="dailypapers-bench-digest-"))
    port = free_port()
    settings = Settings(
        data_dir=tmp,
        database_url=args.database_url,
        load_demo=False,
        embedding_backend="minilm",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        site_url="https://papers.example.org",
        _env_file=None,
    )
    settings = resolve_secret_key(settings)  # signs the unsubscribe links
    db = Database.from_settings(settings)
    db.migrate()
    setup(db, args.subscribers)

    manager = multiprocessing.Manager()
    counts = manager.dict()
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    server = multiprocessing.Process(target=smtp_server, args=(port, ready, stop, counts), daemon=True)
    server.start()
    ready.wait(20)

    import resource

    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    composer = Composer(
        db,
        settings,
        digest_picks(
            db,
            CandidatePool(db, MINILM_NAME),
            method=args.method or DIGEST_METHOD,
            **({"lexical_weight": 0.0, "coauthor_weight": 0.0} if args.embeddings_only else {}),
        ),
    )
    result = run_digests(db, settings, edition=EDITION, connections=args.connections, composer=composer)
    total = time.perf_counter() - started
    composed, sent = result["composed"], result["sent"]
    stop.set()
    server.join(30)

    print(
        f"compose: {composed['composed']:,} mails ({composed['papers']:,} paper items) "
        f"in {composed['seconds']:.1f} s "
        f"= {composed['composed'] / composed['seconds']:,.0f} mails/s (sending runs alongside)"
    )
    print(
        f"send:    {sent['sent']:,} sent, {sent['retried']} retried, {sent['failed']} failed, "
        f"{sent['bounced']} bounced over {args.connections} connections in {sent['seconds']:.1f} s "
        f"= {sent['sent'] / max(sent['seconds'], 1e-9):,.0f} mails/s"
    )
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"server:  received {counts.get('messages', 0):,} mails, "
        f"{counts.get('distinct', 0):,} distinct recipients; "
        f"CPU seconds: SMTP server {counts.get('cpu', 0):.1f}, "
        f"sender {usage.ru_utime + usage.ru_stime - cpu_before:.1f} "
        "(composing runs in a forked process beside it)"
    )
    ok = counts.get("messages") == counts.get("distinct") == args.subscribers == sent["sent"]
    print(
        f"total:   {total:.1f} s for {args.subscribers:,} subscribers with personal sections "
        f"(target <= {TARGET_SECONDS:.0f} s: {'met' if total <= TARGET_SECONDS else 'MISSED'}, "
        f"{total / TARGET_SECONDS:.2f}x); every subscriber exactly once: {'yes' if ok else 'NO'}"
    )


if __name__ == "__main__":
    main()
