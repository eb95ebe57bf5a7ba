"""Writes 0011_email_verification.json.gz: a small database of the release whose schema is at Alembic
revision 0011, made through the product's own functions on a fresh SQLite database and dumped table by
table.

Run once, from the repository root: ``.venv/bin/python tests/data/upgrade/make.py``. Never again: the dump
is the old release's data, and later code would write later data (see README.md here).
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from dailypapers.community import accounts, actions, sessions  # noqa: E402
from dailypapers.config import Settings, resolve_secret_key  # noqa: E402
from dailypapers.demo import DEMO_FILE  # noqa: E402
from dailypapers.digest import subscriptions  # noqa: E402
from dailypapers.digest.compose import Composer  # noqa: E402
from dailypapers.errors import Unauthorized  # noqa: E402
from dailypapers.ingest import hf_daily  # noqa: E402
from dailypapers.ingest.records import Checkpoint  # noqa: E402
from dailypapers.recommend.service import set_interests  # noqa: E402
from dailypapers.search.embed import HashingBackend  # noqa: E402
from dailypapers.search.semantic import embed_missing  # noqa: E402
from dailypapers.store.copy import head_revision  # noqa: E402
from dailypapers.store.db import Database  # noqa: E402
from dailypapers.store.importer import Importer, save_checkpoint  # noqa: E402
from dailypapers.store.jobs import enqueue  # noqa: E402
from dailypapers.store.models import User  # noqa: E402
from dailypapers.tasks import queue_due  # noqa: E402
from tests.support.upgrade import DUMP_PASSWORD, UPGRADE_DATA, dump_database  # noqa: E402

REVISION = "0011"
OUT = UPGRADE_DATA / "0011_email_verification.json.gz"  # named like the migration
DEMO_DAY = date(2026, 6, 29)  # the demo corpus's day before tests/data/hf_daily's latest (2026-06-30)
PAPER = "2606.26740"  # tests/data/hf_daily, 2026-06-30
OTHER_PAPER = "2606.30616"  # tests/data/hf_daily, 2026-06-30
DEMO_PAPER = "2606.28128"  # the demo corpus, 2026-06-29 (nvidia)


def build(db: Database, settings: Settings) -> None:
    """Papers, accounts and what they did, queued work and a harvest's checkpoint."""
    Importer(db).run(hf_daily.iter_path(ROOT / "tests" / "data" / "hf_daily"))
    Importer(db).run(r for r in hf_daily.iter_file(DEMO_FILE) if getattr(r, "day", None) == DEMO_DAY)
    embed_missing(db, HashingBackend())

    def account(name: str, display_name: str, role: str = "user", confirmed: bool = True) -> User:
        user = accounts.register(
            db,
            username=name,
            email=f"{name}@example.org",
            password=DUMP_PASSWORD,
            display_name=display_name,
            role=role,
        )
        if confirmed:
            user = accounts.confirm_email(
                db, settings, accounts.email_token(settings, user, f"{name}@example.org")
            )
        return user

    alice = account("alice", "Alice Admin", role="admin")
    bob = account("bob", "Bob Reader")
    carol = account("carol", "Carol Newcomer", confirmed=False)

    for user, arxiv_id in [(alice, PAPER), (bob, PAPER), (bob, OTHER_PAPER), (carol, DEMO_PAPER)]:
        actions.set_vote(db, user, arxiv_id, True)
    actions.add_comment(db, bob, PAPER, "The ablation in section 4 is **convincing**; code at `github`.")
    spam = actions.add_comment(db, carol, PAPER, "Cheap followers at https://spam.example/offer")
    actions.hide_comment(db, alice, spam.id)
    reading = actions.create_collection(db, bob, "Reading list", "To read this week", public=True)
    for arxiv_id in (PAPER, DEMO_PAPER):
        actions.set_in_collection(db, bob, reading.id, arxiv_id, True)
    notes = actions.create_collection(db, alice, "Private notes", public=False)
    actions.set_in_collection(db, alice, notes.id, OTHER_PAPER, True)
    actions.set_mark(db, bob, OTHER_PAPER, "read", True)
    set_interests(db, bob, {"organization": ["nvidia"], "paper": [DEMO_PAPER]})

    prefs = subscriptions.Preferences(frequency="daily", trending=True)
    subscribed = subscriptions.subscribe(db, "bob@example.org", prefs, user=bob)
    token = subscriptions.confirm_token(settings, subscribed.subscription, subscribed.to_confirm)
    subscriptions.confirm(db, settings, token)
    Composer(db, settings).compose(edition_date=date(2026, 6, 30))  # one mail in the outbox

    queue_due(db, {"sync": timedelta(hours=1)})  # the worker's schedule and its queued sync
    with db.transaction() as session:
        enqueue(session, "index", {"backend": "hashing"}, key="index:hashing")
        save_checkpoint(
            session,
            Checkpoint(
                key="hf-daily:https://huggingface.co:2026-06-29:2026-07-01",
                state={"next_day": "2026-07-01"},
                done=False,
            ),
        )

    accounts.authenticate(db, settings, "alice", DUMP_PASSWORD, client="192.0.2.10")
    try:
        accounts.authenticate(db, settings, "carol", "not her password", client="198.51.100.4")
    except Unauthorized:
        pass  # counted in login_failures
    sessions.start(
        db,
        bob.id,
        days=30,
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        address="203.0.113.7",
    )


def main() -> None:
    """Build the database in a temporary folder and write its dump."""
    if OUT.exists():
        sys.exit(f"{OUT} exists: it is the old release's data and is never made again")
    if head_revision() != REVISION:
        sys.exit(f"this code's schema is at {head_revision()}, not {REVISION}")
    with tempfile.TemporaryDirectory() as folder:
        settings = resolve_secret_key(
            Settings(data_dir=Path(folder), load_demo=False, embedding_backend="none", _env_file=None)
        )
        db = Database.from_settings(settings)
        db.migrate()
        build(db, settings)
        dump = dump_database(db)
        db.dispose()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(OUT, "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(dump, f, ensure_ascii=False, separators=(",", ":"))
    counts = {name: len(t["rows"]) for name, t in dump["tables"].items()}
    print(f"{OUT}: revision {dump['revision']}, {OUT.stat().st_size:,} bytes, rows {counts}")


if __name__ == "__main__":
    main()
