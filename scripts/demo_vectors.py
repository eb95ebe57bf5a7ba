"""Make dailypapers/demo/hf_daily_demo.minilm.npz: all-MiniLM-L6-v2 vectors of the bundled demo papers.

The demo papers are imported into a throwaway SQLite database with the same importer the app uses, so
each vector is of exactly the text the app embeds (``paper_text(title, abstract)``); the file holds the
arXiv ids, the float16 vectors and the text hashes. ``load_demo`` stores them as paper_vectors so
search works at once after ``make run``. Takes ~2.5 minutes on 2 cores:

    .venv/bin/python scripts/demo_vectors.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import select

from dailypapers.demo import DEMO_VECTORS, load_demo
from dailypapers.search.embed import MiniLMBackend, paper_text
from dailypapers.search.semantic import text_hash
from dailypapers.store.db import Database
from dailypapers.store.models import Paper


def main(out: Path = DEMO_VECTORS) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/demo.db")
        db.migrate()
        load_demo(db, vectors=False)
        with db.session() as session:
            rows = session.execute(select(Paper.arxiv_id, Paper.title, Paper.abstract).order_by(Paper.id)).all()
        db.dispose()
    texts = [paper_text(r.title, r.abstract) for r in rows]
    backend = MiniLMBackend()
    started = time.monotonic()
    vectors = backend.embed(texts, batch_size=32)
    np.savez_compressed(
        out,
        arxiv_ids=np.array([r.arxiv_id for r in rows]),
        vectors=vectors.astype("<f2"),
        text_hashes=np.array([text_hash(t) for t in texts]),
        model=np.array(backend.name),
    )
    print(f"{len(rows)} vectors in {time.monotonic() - started:.0f} s -> {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
