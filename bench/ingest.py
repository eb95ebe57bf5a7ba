"""Ingest benchmark: the whole Hugging Face dump and the ~110k arXiv listing rows into fresh SQLite.

    .venv/bin/python bench/ingest.py [--shared ../shared/data] [--repeat 1]

Prints, for each corpus, records/s of a first import into an empty database, and of the same import
run again (everything unchanged), against the targets (HF dump <= 5 s, 110k listings <= 30 s on 2 cores).
Metadata and indexes only, no embeddings.

``--categories-index``: instead, the first import of the listings with the rows of ``paper_categories``
(migration 0021) written and without them, in turn (with, without, with, without), in one run: what the
categories index costs an import.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from dailypapers.ingest import hf_daily, listings
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer

ROOT = Path(__file__).resolve().parent.parent


def run(label: str, make_records, target_s: float, batch_size: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="dp-bench-"))
    try:
        db = Database(f"sqlite:///{tmp / 'bench.db'}")
        db.migrate()
        rows = []
        for attempt in ("first import", "again (unchanged)"):
            start = time.perf_counter()
            summary = Importer(db, batch_size=batch_size).run(make_records())
            elapsed = time.perf_counter() - start
            rate = summary.read / elapsed
            verdict = (
                ""
                if attempt != "first import"
                else (
                    f"{'meets' if elapsed <= target_s else 'MISSES'} target <= {target_s:.0f} s "
                    f"({elapsed / target_s:.2f}x of budget)"
                )
            )
            rows.append(
                f"{label:<22} {attempt:<18} {summary.read:>8,} rec {elapsed:>7.2f} s "
                f"{rate:>9,.0f} rec/s  new={summary.new:,} unchanged={summary.unchanged:,} "
                f"rejected={summary.rejected:,}  {verdict}"
            )
            print(rows[-1], flush=True)
        db.dispose()
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def first_import(make_records, batch_size: int, *, index: bool) -> float:
    from dailypapers.store import categories

    tmp = Path(tempfile.mkdtemp(prefix="dp-bench-"))
    write = categories.write
    try:
        db = Database(f"sqlite:///{tmp / 'bench.db'}")
        db.migrate()
        if not index:  # the import as it was before the index
            categories.write = lambda *args, **kwargs: None
        start = time.perf_counter()
        Importer(db, batch_size=batch_size).run(make_records())
        elapsed = time.perf_counter() - start
        db.dispose()
        return elapsed
    finally:
        categories.write = write
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--categories-index", action="store_true", help="the categories triggers' cost")
    args = parser.parse_args()
    hf_dir = args.shared / "hf_daily_papers"
    files = [args.shared / "arxiv_listings" / n for n in ("cs_2025.jsonl.gz", "math_2007_2026.jsonl.gz")]
    if not hf_dir.is_dir() or not all(f.exists() for f in files):
        print(f"shared data not found under {args.shared}", file=sys.stderr)
        return 2
    print(f"python {sys.version.split()[0]}, SQLite file database, WAL, batch transactions")
    if args.categories_index:
        times: dict[bool, list[float]] = {True: [], False: []}
        for index in (True, False, True, False):
            elapsed = first_import(
                lambda: (r for f in files for r in listings.iter_listings(f)), 2000, index=index
            )
            times[index].append(elapsed)
            shown = "written " if index else "left out"
            print(f"listings first import, categories index {shown}: {elapsed:.2f} s")
        on, off = min(times[True]), min(times[False])
        print(f"best of two: with {on:.2f} s, without {off:.2f} s: the index costs {on / off - 1:+.1%}")
        return 0
    run("HF daily dump", lambda: hf_daily.iter_path(hf_dir), 5.0, 1000)
    run("arXiv listings (2)", lambda: (r for f in files for r in listings.iter_listings(f)), 30.0, 2000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
