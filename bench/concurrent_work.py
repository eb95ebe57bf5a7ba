"""How close two papers' vectors must be to call them "concurrent work", measured on real arXiv listings.

    .venv/bin/python bench/concurrent_work.py [--shared ../shared/data] [--data cs_2025] [--read 15]

Concurrent work is two papers on the same problem out at the same time. Two papers can be close in
meaning because they share a topic (which lasts for months) or because they answer the same question at
once (which happens within days). So for every pair of papers of the set (the precomputed all-MiniLM-L6-v2
vectors of ``arxiv_listings/{data}``, one per paper: duplicates by arXiv id or by title dropped) the
script counts, at each cosine threshold, the pairs published at most 14 days apart ("near") and the
pairs published 60 to 74 days apart ("far": a window of the same width, away in time). The ratio
near / far says how much more often papers this close appear together in time than by topic alone:
where it is well above 1, most near pairs are there because of the time. It also prints, for each
band of similarity, ``--read`` pairs of near papers drawn at random, to be read.

The shipped threshold (``dailypapers.search.hybrid.CONCURRENT_SIMILARITY``) is marked in the table.
Whole-corpus work (a pass of 46,000 x 46,000 similarities): minutes, not a test.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dailypapers.search.hybrid import CONCURRENT_DAYS, CONCURRENT_SIMILARITY  # noqa: E402

THRESHOLDS = (0.75, 0.78, 0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.88, 0.90)
BANDS = (0.78, 0.80, 0.82, 0.84, 0.86)  # each band is [b, b + 0.02)
FAR = (60, 74)


def _arxiv_id(record: dict) -> str:
    url = record.get("link") or record.get("abs") or record.get("id") or ""
    return re.sub(r"v\d+$", "", url.rsplit("/abs/", 1)[-1])


def _day(record: dict) -> float:
    text = record.get("published") or record.get("_archive_date")
    return datetime.fromisoformat(text[:19]).timestamp() / 86400


def load(shared: Path, name: str) -> tuple[list[dict], np.ndarray]:
    records = [json.loads(line) for line in gzip.open(shared / f"arxiv_listings/{name}.jsonl.gz", "rt")]
    vectors = np.load(shared / f"embeddings/all-MiniLM-L6-v2/{name}.npy")
    keep, seen = [], set()
    for i, record in enumerate(records):
        title = " ".join(record.get("title", "").lower().split())
        key = _arxiv_id(record)
        if key in seen or title in seen:
            continue
        seen.update((key, title))
        keep.append(i)
    return [records[i] for i in keep], vectors[keep].astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--data", default="cs_2025", help="cs_2025 or math_2007_2026")
    parser.add_argument("--read", type=int, default=15, help="near pairs printed per band")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    records, vectors = load(args.shared, args.data)
    days = np.array([_day(r) for r in records])
    titles = [" ".join(r["title"].split()) for r in records]
    n = len(records)
    thresholds = np.array(THRESHOLDS)
    near_pairs = np.zeros(len(thresholds))
    far_pairs = np.zeros(len(thresholds))
    near_any = np.zeros(len(thresholds))
    rng = random.Random(args.seed)
    bands: dict[float, list[tuple[float, int, int]]] = {b: [] for b in BANDS}
    block = 2048
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        sims = vectors[rows] @ vectors.T
        sims[np.arange(len(rows)), rows] = -1.0
        apart = np.abs(days[rows, None] - days[None, :])
        near = apart <= CONCURRENT_DAYS
        far = (apart > FAR[0]) & (apart <= FAR[1])
        for j, threshold in enumerate(thresholds):
            close = sims >= threshold
            near_pairs[j] += (close & near).sum()
            far_pairs[j] += (close & far).sum()
            near_any[j] += (close & near).any(axis=1).sum()
        for low in BANDS:
            r, c = np.nonzero(
                near & (sims >= low) & (sims < low + 0.02) & (rows[:, None] < np.arange(n)[None, :])
            )
            bands[low] += [(float(sims[a, b]), int(rows[a]), int(b)) for a, b in zip(r, c)]
    print(
        f"{args.data}: {n:,} papers (duplicates dropped), all-MiniLM-L6-v2, "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(
        f"near: published at most {CONCURRENT_DAYS} days apart; "
        f"far: {FAR[0]}-{FAR[1]} days apart (same width)"
    )
    print()
    print("cosine  near pairs  far pairs  near/far  papers with a near pair")
    for j, threshold in enumerate(thresholds):
        mark = "  <- shipped" if abs(threshold - CONCURRENT_SIMILARITY) < 1e-9 else ""
        ratio = near_pairs[j] / far_pairs[j] if far_pairs[j] else float("inf")
        print(
            f"{threshold:5.2f}  {near_pairs[j] / 2:10,.0f}  {far_pairs[j] / 2:9,.0f}  {ratio:7.2f}x"
            f"  {near_any[j]:7,.0f} ({near_any[j] / n:.2%}){mark}"
        )
    for low in BANDS:
        pairs = bands[low]
        print(
            f"\nnear pairs with cosine in [{low:.2f}, {low + 0.02:.2f}): {len(pairs):,}; "
            f"{min(args.read, len(pairs))} drawn"
        )
        for sim, a, b in sorted(rng.sample(pairs, min(args.read, len(pairs)))):
            print(f"  {sim:.3f}  {titles[a][:95]}\n         {titles[b][:95]}")


if __name__ == "__main__":
    main()
