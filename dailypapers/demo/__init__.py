"""The bundled demo corpus: three months of real Hugging Face daily papers (see README.md here), and
precomputed all-MiniLM-L6-v2 vectors of them (made by ``scripts/demo_vectors.py``) so semantic search
works at the first start without embedding 1,712 papers first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from dailypapers.ingest.hf_daily import iter_file
from dailypapers.search.embed import MINILM_NAME, paper_text
from dailypapers.search.semantic import text_hash
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer, ImportSummary
from dailypapers.store.models import Paper, PaperVector
from dailypapers.store.vectors import replace_vectors

DEMO_FILE = Path(__file__).with_name("hf_daily_demo.jsonl.gz")
DEMO_VECTORS = Path(__file__).with_name("hf_daily_demo.minilm.npz")


def load_demo(
    db: Database,
    *,
    only_if_empty: bool = True,
    on_progress: Callable[[int], None] | None = None,
    vectors: bool = True,
) -> ImportSummary | None:
    """Import the demo papers; with ``only_if_empty`` (the first start) do nothing if any paper exists.
    With ``vectors``, also store the bundled MiniLM vectors (see :func:`load_demo_vectors`) and describe
    the papers' words for the recommender (:func:`~dailypapers.recommend.terms.update_terms`)."""
    if only_if_empty:
        with db.session() as session:
            if session.scalar(select(func.count()).select_from(Paper)):
                return None
    summary = Importer(db, on_progress=on_progress).run(iter_file(DEMO_FILE, source="hf"))
    if vectors:
        from dailypapers.recommend.terms import update_terms

        load_demo_vectors(db)
        update_terms(db)
    return summary


def load_demo_vectors(db: Database, path: Path = DEMO_VECTORS) -> int:
    """Store the bundled vectors for the demo papers that lack a current ``all-MiniLM-L6-v2`` vector and
    whose text is still the one that was embedded (same ``text_hash(paper_text(title, abstract))`` rule as
    :mod:`dailypapers.search.semantic`). Returns how many were stored; 0 if the file is missing."""
    if not path.exists():
        return 0
    with np.load(path) as data:
        arxiv_ids = [str(a) for a in data["arxiv_ids"]]
        vectors = np.asarray(data["vectors"], dtype="<f2")
        hashes = [str(h) for h in data["text_hashes"]]
    by_arxiv = {a: i for i, a in enumerate(arxiv_ids)}
    rows = []
    with db.transaction() as session:
        have = {
            paper_id: digest
            for paper_id, digest in session.execute(
                select(PaperVector.paper_id, PaperVector.text_hash).where(PaperVector.model == MINILM_NAME)
            )
        }
        for start in range(0, len(arxiv_ids), 500):
            chunk = arxiv_ids[start : start + 500]
            papers = session.execute(
                select(Paper.id, Paper.arxiv_id, Paper.title, Paper.abstract).where(Paper.arxiv_id.in_(chunk))
            )
            for paper in papers:
                digest = text_hash(paper_text(paper.title, paper.abstract))
                index = by_arxiv[paper.arxiv_id]
                if have.get(paper.id) == digest or hashes[index] != digest:
                    # already current, or the text changed since (another source updated it): a vector
                    # of the old text would be wrong, so that paper is left to `dailypapers index`
                    continue
                rows.append((paper.id, digest, vectors[index]))
        if not rows:
            return 0
        # through the store, so that PostgreSQL's pgvector column (what its index searches) is filled too
        replace_vectors(
            session,
            MINILM_NAME,
            [r[0] for r in rows],
            [r[1] for r in rows],
            np.stack([r[2] for r in rows]),
        )
    return len(rows)
