"""Serving benchmark: requests/s and latency of the JSON API and the home page, whole HF dump loaded.

    .venv/bin/python bench/serve.py [--shared ../shared/data] [--rounds 3] [--duration 3]
                                    [--connections 50] [--client auto|wrk|python] [--only LABEL]

Imports all of ``hf_daily_papers`` (9,126 entries) into a fresh SQLite file, then starts
``dailypapers serve`` on 127.0.0.1 in several configurations, one after the other: response cache off
and on, 1 and 2 worker processes, access log on, clients that accept gzip, and a write (a vote) every
second. For each it loads ``/api/daily_papers`` and ``/`` with a bounded load generator (wrk if
installed, else the asyncio one below; both stop by themselves after ``--duration`` seconds), with
keep-alive and ``--connections`` at once, after a short warm-up. The configurations are run round-robin
``--rounds`` times so that background load on the machine falls on all of them alike; it prints the
median requests/s, p50 and p99 latency, the worst p99 of a round and all errors side by side, the ratios
between configurations, and the verdict against the target (>= 1,500 req/s, p99 <= 100 ms, no errors,
at 50 connections, on this 2-core machine). The load generator runs on the same machine and takes CPU
from the server, as it would in any single-box measurement.

Logged-in readers (``logged in, 2 workers``: 50 sessions, each request the next reader's cookie) load the
home page, a week, trending and a paper page, ``--logged-in-duration`` seconds each (10: in a 3-second
run the 50 connections opening at once decide the p99). Beside them, the floor: bench/floor_app.py, a
bare ASGI app under the same uvicorn, 2 workers and load generator, answering with as many bytes as each
page had: what the machine and the load generator give any page of that size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from dailypapers.ingest import hf_daily
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import DailyEntry

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("/api/daily_papers", "/")
TARGET_RPS, TARGET_P99_MS = 1500.0, 100.0


@dataclass(frozen=True)
class Config:
    label: str
    cache: bool
    workers: int
    access_log: bool = False
    gzip: bool = False
    writes_per_s: float = 0.0
    logged_in: bool = False  # every connection a different reader's session (never cached)

    @property
    def paths(self) -> tuple[str, ...]:
        return LOGGED_IN_PATHS if self.logged_in else PATHS


CONFIGS = (
    Config("no cache, 1 worker", cache=False, workers=1),
    Config("no cache, 2 workers", cache=False, workers=2),
    Config("cache, 1 worker", cache=True, workers=1),
    Config("cache, 2 workers", cache=True, workers=2),
    Config("cache, 2 workers, access log", cache=True, workers=2, access_log=True),
    Config("cache, 2 workers, gzip clients", cache=True, workers=2, gzip=True),
    Config("cache, 2 workers, 1 vote/s", cache=True, workers=2, writes_per_s=1.0),
    Config("logged in, 2 workers", cache=True, workers=2, logged_in=True),
)
# what a logged-in reader opens: home, a week's list, trending (filled in once the data is loaded)
LOGGED_IN_PATHS: list[str] = ["/", "/papers/trending"]
READERS = 50
LOGGED_IN_TARGET_RPS = 400.0
READER_COOKIES: list[str] = []  # "dp_session=…" of each reader
OWN_VOTE: dict[str, str] = {}  # cookie -> the one paper that reader upvoted


def make_readers(db: Database, data_dir: Path) -> None:
    """``READERS`` accounts with a session each (signed with the key the server will use), each having
    upvoted one paper of the latest day; adds the latest week's list to what they open."""
    from dailypapers.community.actions import set_vote
    from dailypapers.config import Settings, resolve_secret_key
    from dailypapers.store.models import Paper, User, utcnow
    from dailypapers.web.auth import SESSION_COOKIE, Sessions

    with db.session() as s:
        day = s.scalar(select(func.max(DailyEntry.day)))
        listed = s.scalars(
            select(Paper.arxiv_id)
            .join(DailyEntry, DailyEntry.paper_id == Paper.id)
            .where(DailyEntry.day == day)
            .order_by(DailyEntry.upvotes.desc())
        ).all()
    iso = day.isocalendar()
    # the day's first paper's page: its related papers are found when its shared copy is rendered
    LOGGED_IN_PATHS[:] = [
        "/",
        f"/papers/week/{iso.year}-W{iso.week:02d}",
        "/papers/trending",
        f"/papers/{listed[0]}",
    ]
    settings = resolve_secret_key(Settings(data_dir=data_dir, _env_file=None))
    sessions = Sessions(settings, db)
    now = utcnow()
    with db.transaction() as s:
        readers = [
            User(
                username=f"reader{i}",
                email=f"reader{i}@example.org",
                display_name=f"Reader {i}",
                password_hash="x",
                role="user",
                email_verified_at=now,
                created_at=now,
            )
            for i in range(READERS)
        ]
        s.add_all(readers)
    for i, reader in enumerate(readers):
        set_vote(db, reader, listed[i % len(listed)], True)
        cookie = f"{SESSION_COOKIE}={sessions.issue(reader).cookie}"
        READER_COOKIES.append(cookie)
        OWN_VOTE[cookie] = listed[i % len(listed)]


def check_own_votes(base: str) -> None:
    """Every reader's home page marks their own upvote and no other: raises if one sees another's."""
    pattern = re.compile(r'action="/papers/([^"/]+)/vote".*?class="votes vote-button[^"]*?( voted)?"', re.S)
    for cookie in READER_COOKIES:
        request = urllib.request.Request(base + "/", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=30) as answer:
            page = answer.read().decode()
        shown = {m.group(1) for m in pattern.finditer(page) if m.group(2)}
        if shown != {OWN_VOTE[cookie]}:
            raise RuntimeError(f"a reader upvoted {OWN_VOTE[cookie]} but the page marks {sorted(shown)}")


RECOMMENDED = "cache, 2 workers"


@dataclass
class Result:
    """One measurement, as the load generator reports it."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    bytes_read: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Figures:
    """The rounds of one configuration and path: medians, the worst p99, every error."""

    rps: float
    p50_ms: float
    p99_ms: float
    worst_p99_ms: float
    errors: int
    kb_per_response: float

    @classmethod
    def of(cls, rounds: list[Result]) -> Figures:
        return cls(
            rps=statistics.median(r.rps for r in rounds),
            p50_ms=statistics.median(r.p50_ms for r in rounds),
            p99_ms=statistics.median(r.p99_ms for r in rounds),
            worst_p99_ms=max(r.p99_ms for r in rounds),
            errors=sum(r.errors for r in rounds),
            kb_per_response=statistics.median(r.bytes_read / max(1, r.requests) / 1024 for r in rounds),
        )

    def verdict(self, target_rps: float = TARGET_RPS) -> str:
        misses = []
        if self.rps < target_rps:
            misses.append(f"req/s {self.rps / target_rps:.2f}x of target")
        if self.p99_ms > TARGET_P99_MS:
            misses.append(f"p99 {self.p99_ms / TARGET_P99_MS:.1f}x over")
        if self.errors:
            misses.append(f"{self.errors} errors")
        return "meets target" if not misses else "MISSES: " + ", ".join(misses)


# --- load generators -------------------------------------------------------------------------------

_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_UNITS_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _percentile_ms(out: str, pct: int) -> float:
    match = re.search(rf"\b{pct}%\s+([\d.]+)([a-z]+)", out)
    if match is None:
        raise RuntimeError(f"no {pct}th percentile in the wrk output:\n{out}")
    return float(match.group(1)) * _UNITS_S[match.group(2)] * 1000


def run_wrk(
    url: str, connections: int, seconds: float, headers: dict[str, str], cookies: list[str] | None = None
) -> Result:
    """wrk, one thread (the other core is the server's), bounded by ``seconds`` (and killed after
    ``seconds + 30`` if it does not stop by itself); with ``cookies``, each request carries the next one."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if cookies:
        script = Path(tempfile.mkdtemp(prefix="dp-wrk-")) / "cookies.lua"
        listed = ", ".join('"' + c.replace('"', "") + '"' for c in cookies)
        script.write_text(
            f"local cookies = {{{listed}}}\nlocal i = 0\nrequest = function()\n  i = i + 1\n"
            '  return wrk.format("GET", nil, {["Cookie"] = cookies[(i % #cookies) + 1]})\nend\n'
        )
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", out)
    if done is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * _UNITS_S[done.group(3)],
        p50_ms=_percentile_ms(out, 50),
        p99_ms=_percentile_ms(out, 99),
        errors=errors + (int(non2xx.group(1)) if non2xx else 0),
        bytes_read=float(done.group(4)) * _UNITS_B[done.group(5)],
    )


async def _python_load(
    host: str,
    port: int,
    path: str,
    connections: int,
    seconds: float,
    max_requests: int,
    headers: dict[str, str],
    cookies: list[str] | None = None,
) -> Result:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
    requests = [(head + (f"Cookie: {c}\r\n" if c else "") + "\r\n").encode() for c in (cookies or [""])]
    latencies: list[float] = []
    stats = {"errors": 0, "bytes": 0, "sent": 0}
    deadline = time.perf_counter() + seconds

    async def one_connection(n: int) -> None:
        request = requests[n % len(requests)]
        reader = writer = None
        while time.perf_counter() < deadline and stats["sent"] < max_requests:
            stats["sent"] += 1
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if length:
                    body = await asyncio.wait_for(reader.readexactly(int(length.group(1))), 5)
                elif re.search(rb"(?i)\r\ntransfer-encoding: *chunked", head):
                    body = b""
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        body += await reader.readexactly(size + 2)
                        if size == 0:
                            break
                else:
                    body = b""
                latencies.append(time.perf_counter() - started)
                stats["bytes"] += len(head) + len(body)
                if status >= 400:
                    stats["errors"] += 1
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                stats["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection(n) for n in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return Result(len(latencies), elapsed, pct(0.50), pct(0.99), stats["errors"], stats["bytes"])


def run_python(
    url: str, connections: int, seconds: float, headers: dict[str, str], cookies: list[str] | None = None
) -> Result:
    """The asyncio load generator (keep-alive HTTP/1.1), bounded by ``seconds`` and 200,000 requests."""
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    assert match is not None
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    return runner(_python_load(host, port, path, connections, seconds, 200_000, headers, cookies))


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    config: Config
    database_url: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
        env.update(
            DAILYPAPERS_DATABASE_URL=self.database_url,
            DAILYPAPERS_LOAD_DEMO="false",
            DAILYPAPERS_DATA_DIR=str(self.workdir),
            DAILYPAPERS_RESPONSE_CACHE=str(self.config.cache),
        )
        log_option = "--access-log" if self.config.access_log else "--no-access-log"
        cmd = [
            sys.executable,
            "-m",
            "dailypapers.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.config.workers),
            log_option,
        ]
        self.log = self.workdir / f"server-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + PATHS[0], timeout=5) as r:
                    if r.status == 200:
                        self._wait_ready(deadline)
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def _wait_ready(self, deadline: float) -> None:
        """Until ``/readyz`` says the search model and index are loaded (a load balancer waits for it too);
        a version without ``/readyz`` (404) is ready when it answers."""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=5):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return
            except OSError:
                pass
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


class Voter(threading.Thread):
    """Casts ``per_s`` votes a second on the top paper of the latest day through the vote service (the
    one behind the vote button: a vote row, the paper's count, the data version, one transaction), by
    accounts made for it, each voting and then taking the vote back."""

    def __init__(self, db: Database, per_s: float) -> None:
        super().__init__(daemon=True)
        self.db, self.interval, self.stop, self.votes = db, 1.0 / per_s, threading.Event(), 0

    def run(self) -> None:
        from dailypapers.community.accounts import hash_password
        from dailypapers.community.actions import set_vote
        from dailypapers.store.models import Paper, User, utcnow

        with self.db.session() as s:
            day = s.scalar(select(func.max(DailyEntry.day)))
            arxiv_id = s.scalar(
                select(Paper.arxiv_id)
                .join(DailyEntry, DailyEntry.paper_id == Paper.id)
                .where(DailyEntry.day == day)
                .order_by(DailyEntry.upvotes.desc())
            )
        password, now = hash_password("bench voter password"), utcnow()
        with self.db.session() as s:  # made by an earlier round already?
            users = list(s.scalars(select(User).where(User.username.like("voter%")).order_by(User.id)))
        with self.db.transaction() as s:
            for i in range(0 if users else 50):
                user = User(
                    username=f"voter{i}",
                    email=f"voter{i}@example.org",
                    display_name=f"Voter {i}",
                    password_hash=password,
                    role="user",
                    email_verified_at=now,
                    created_at=now,
                )
                s.add(user)
                users.append(user)
        while not self.stop.wait(self.interval):
            user = users[self.votes % len(users)]
            set_vote(self.db, user, arxiv_id, (self.votes // len(users)) % 2 == 0)
            self.votes += 1


# --- the run ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--duration", type=float, default=3.0, help="Seconds measured per path, configuration and round."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Rounds over all configurations (medians).")
    parser.add_argument("--warmup", type=float, default=1.0, help="Seconds of load before each measurement.")
    parser.add_argument(
        "--logged-in-duration",
        type=float,
        default=10.0,
        help="Seconds measured per logged-in path: 50 connections opening at once weigh on a short run's "
        "p99 (see bench/floor_app.py).",
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--only", action="append", help="Run only the configs whose label contains this.")
    args = parser.parse_args()
    hf_dir = args.shared / "hf_daily_papers"
    if not hf_dir.is_dir():
        print(f"shared data not found under {args.shared}", file=sys.stderr)
        return 2
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    load = run_wrk if client == "wrk" else run_python
    configs = [c for c in CONFIGS if not args.only or any(o in c.label for o in args.only)]

    tmp = Path(tempfile.mkdtemp(prefix="dp-bench-serve-"))
    try:
        url = f"sqlite:///{tmp / 'bench.db'}"
        db = Database(url)
        db.migrate()
        started = time.perf_counter()
        summary = Importer(db).run(hf_daily.iter_path(hf_dir))
        elapsed = time.perf_counter() - started
        if any(c.logged_in for c in configs):
            make_readers(db, tmp)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {_load()}; "
            f"imported {summary.new:,} of {summary.read:,} HF entries in {elapsed:.1f} s"
        )
        print(
            f"load generator: {client}, {args.connections} connections, keep-alive, "
            f"{args.duration:g} s per path after {args.warmup:g} s warm-up; "
            f"target >= {TARGET_RPS:,.0f} req/s, p99 <= {TARGET_P99_MS:.0f} ms, 0 errors"
        )
        print()
        samples: dict[tuple[str, str], list[Result]] = {}
        votes: dict[str, int] = {}
        failures: dict[str, str] = {}
        for n in range(1, args.rounds + 1):
            for config in configs:
                try:
                    results, cast = measure(config, url, tmp, db, load, args)
                    if config.logged_in:
                        sizes = {p: r.bytes_read / max(1, r.requests) for p, r in results.items()}
                        seconds = args.logged_in_duration
                        for path, result in measure_floor(sizes, tmp, load, args, seconds).items():
                            samples.setdefault((FLOOR, path), []).append(result)
                except (RuntimeError, subprocess.SubprocessError) as exc:
                    failures[config.label] = str(exc).strip().splitlines()[-1]
                    continue
                votes[config.label] = votes.get(config.label, 0) + cast
                for path, result in results.items():
                    samples.setdefault((config.label, path), []).append(result)
            print(f"round {n}/{args.rounds} done, load average {_load()}", flush=True)
        figures = {key: Figures.of(rounds) for key, rounds in samples.items()}
        print()
        header = (
            f"{'configuration':<32} {'path':<18} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'worst':>7} {'errors':>6} {'KB/resp':>8} {'vs no cache':>11}  verdict"
        )
        print(header)
        print("-" * len(header))
        floor = Config(FLOOR, cache=False, workers=2, logged_in=True)
        for config in [*configs, *([floor] if any(c.logged_in for c in configs) else [])]:
            if config.label in failures:
                print(f"{config.label:<32} FAILED: {failures[config.label]}")
            for path in config.paths:
                f = figures.get((config.label, path))
                if f is None:
                    continue
                base = figures.get(("no cache, 1 worker", path))
                ratio = f"{f.rps / base.rps:,.1f}x" if base and base.rps else "-"
                print(
                    f"{config.label:<32} {path:<18} {f.rps:>8,.0f} {f.p50_ms:>7.1f} {f.p99_ms:>7.1f} "
                    f"{f.worst_p99_ms:>7.1f} {f.errors:>6} {f.kb_per_response:>8.1f} {ratio:>11}  "
                    f"{f.verdict(LOGGED_IN_TARGET_RPS if config.logged_in else TARGET_RPS)}"
                )
        print(
            f"(medians of {args.rounds} interleaved rounds; worst: the highest p99 of a round; errors: all "
            f"rounds; votes cast in the 1 vote/s rounds: {sum(votes.get(c.label, 0) for c in configs)}; "
            f"logged-in paths and their floor measured {args.logged_in_duration:g} s each; {FLOOR}: "
            "bench/floor_app.py, the same number of bytes per answer and nothing else)"
        )
        print()
        _ratios(figures)
        recommended = [figures[(RECOMMENDED, p)] for p in PATHS if (RECOMMENDED, p) in figures]
        if recommended:
            ok = len(recommended) == len(PATHS) and all(r.verdict() == "meets target" for r in recommended)
            print(
                f"\ntarget (>= {TARGET_RPS:,.0f} req/s, p99 <= {TARGET_P99_MS:.0f} ms, 0 errors, "
                f"{args.connections} connections) with `dailypapers serve --workers 2 --no-access-log` "
                f"(response cache on, the default): {'MEETS' if ok else 'MISSES'} it on "
                f"{' and '.join(PATHS)}"
            )
        db.dispose()
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(
    config: Config, url: str, tmp: Path, db: Database, load: Any, args: argparse.Namespace
) -> tuple[dict[str, Result], int]:
    """Start the server in ``config`` and load each path (warm-up, then measured); also the number
    of votes cast meanwhile."""
    headers = {"Accept-Encoding": "gzip"} if config.gzip else {}
    cookies = READER_COOKIES if config.logged_in else None
    results = {}
    seconds = args.logged_in_duration if config.logged_in else args.duration
    with Server(config, url, tmp) as server:
        voter = Voter(db, config.writes_per_s) if config.writes_per_s else None
        if voter:
            voter.start()
        try:
            for path in config.paths:
                load(server.base + path, args.connections, args.warmup, headers, cookies)
                results[path] = load(server.base + path, args.connections, seconds, headers, cookies)
            if config.logged_in:
                check_own_votes(server.base)
        finally:
            if voter:
                voter.stop.set()
                voter.join()
    return results, voter.votes if voter else 0


FLOOR = "floor: bare app, same bodies"


def measure_floor(
    sizes: dict[str, float], tmp: Path, load: Any, args: argparse.Namespace, seconds: float
) -> dict[str, Result]:
    """bench/floor_app.py under the same uvicorn, workers and load, answering with as many bytes as each
    logged-in page had (``sizes``: path -> bytes): what the machine and the load generator alone give."""
    results = {}
    for path, size in sizes.items():
        port = free_port()
        env = dict(os.environ, FLOOR_BYTES=str(round(size)))
        cmd = [
            sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(ROOT / "bench"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
        with (tmp / f"floor-{port}.log").open("wb") as log:
            process = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(base + path, timeout=5):
                        break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("the floor app did not start") from None
                    time.sleep(0.2)
            load(base + path, args.connections, args.warmup, {}, None)
            results[path] = load(base + path, args.connections, seconds, {}, None)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(15)
    return results


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _ratios(results: dict[tuple[str, str], Figures]) -> None:
    """One line per comparison, both paths side by side."""
    pairs = (
        ("response cache (1 worker)", "cache, 1 worker", "no cache, 1 worker"),
        ("2 workers vs 1, no cache", "no cache, 2 workers", "no cache, 1 worker"),
        ("2 workers vs 1, cache", "cache, 2 workers", "cache, 1 worker"),
        ("access log on vs off", "cache, 2 workers, access log", "cache, 2 workers"),
        ("gzip clients vs identity", "cache, 2 workers, gzip clients", "cache, 2 workers"),
        ("1 vote/s vs no writes", "cache, 2 workers, 1 vote/s", "cache, 2 workers"),
    )
    for name, new, old in pairs:
        parts = []
        for path in PATHS:
            a, b = results.get((new, path)), results.get((old, path))
            if a and b and b.rps:
                parts.append(f"{path} {a.rps / b.rps:,.2f}x req/s, p99 {a.p99_ms:,.1f} vs {b.p99_ms:,.1f} ms")
        if parts:
            print(f"{name:<27} " + "; ".join(parts))


if __name__ == "__main__":
    sys.exit(main())
