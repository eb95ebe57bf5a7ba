"""Kill an import with SIGKILL part-way, run it again: no duplicates, nothing lost, database sound."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import TEST_DATA

# SQLite's own durability (WAL, whole transactions) under SIGKILL, checked with its integrity pragmas
pytestmark = pytest.mark.sqlite_only

N = 30_000


def _make_input(path):
    entries = json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())
    with path.open("w") as fh:
        for i in range(N):
            e = json.loads(json.dumps(entries[i % len(entries)]))
            e["paper"]["id"] = f"2501.{i:05d}"
            e["paper"]["submittedOnDailyAt"] = f"2025-01-{1 + i % 28:02d}T01:00:00.000Z"
            fh.write(json.dumps(e) + "\n")


def _count(db_path, sql="select count(*) from daily_entries"):
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql).fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def _run(tmp_path, source):
    env = dict(os.environ, DAILYPAPERS_DATA_DIR=str(tmp_path / "data"))
    env.pop("DAILYPAPERS_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dailypapers.cli", "ingest", "hf-daily", str(source), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_sigkill_mid_import_then_rerun(tmp_path):
    source = tmp_path / "big.jsonl"
    _make_input(source)
    db_path = tmp_path / "data" / "dailypapers.db"

    proc = _run(tmp_path, source)
    deadline = time.monotonic() + 120
    while _count(db_path) < 2000 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = _count(db_path)
    assert 0 < partial < N, "the kill must land mid-way"
    assert partial % 1000 == 0  # whole batches only: a transaction is all or nothing

    proc = _run(tmp_path, source)
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    summary = json.loads(stdout[stdout.index("{") :])
    assert summary["read"] == N and summary["unchanged"] == partial and summary["new"] == N - partial

    assert _count(db_path) == N
    assert _count(db_path, "select count(*) from papers") == N
    assert _count(db_path, "select count(distinct arxiv_id) from papers") == N
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
