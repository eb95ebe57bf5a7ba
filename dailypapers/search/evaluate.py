"""Search quality on public test collections: nDCG@10 and recall@100 of keyword, semantic and hybrid
search on a BEIR folder, and recall@10 of real citations for related papers (CACM).

A BEIR folder holds ``corpus.jsonl`` (``_id, title, text``), ``queries.jsonl`` (``_id, text``) and
``qrels/NAME.tsv`` (``query-id corpus-id score`` after a header line; grade 0 = not relevant). The
corpus goes into a database of its own (:func:`scratch_database`: a temporary SQLite file, or a new
database on a PostgreSQL server, removed afterwards) through the ordinary importer (the BEIR doc id is
the paper's ``arxiv_id``, ``text`` its abstract), so full-text indexing is the app's own (FTS5 or the
tsvector column, kept by triggers) and vectors are made by :func:`dailypapers.search.semantic.embed_missing`
(the path of ``dailypapers index``). Vectors are cached under
``data/cache/embeddings/<model>/<sha>.npy`` (the sha of the model name and every text embedded), so the
three modes, both backends and later runs embed a corpus once.

Every ranking measured is what :meth:`dailypapers.search.hybrid.SearchEngine.search` returns, the
search the site runs: on SQLite FTS5's BM25 and the in-process vector index, on PostgreSQL ``ts_rank``
and pgvector. Queries are natural language, so each is typed as its words alone
(:func:`search_box_text`): ``AND``/``OR``/``author:``/``-``/quotes are not syntax. The metrics follow
BEIR (pytrec_eval): nDCG@k with linear gains ``rel`` and ``log2(rank + 1)`` discounts against the ideal
ordering of the judged documents; recall@k = relevant retrieved in the top k / relevant judged.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from dailypapers.errors import BadRequest
from dailypapers.ingest.records import PaperRecord
from dailypapers.search import hybrid
from dailypapers.search.embed import EmbeddingBackend, paper_text
from dailypapers.search.query import clean_text, split_words
from dailypapers.search.semantic import embed_missing, text_hash
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import Paper, PaperVector, utcnow
from dailypapers.store.vectors import ensure_vector_index, insert_vectors

DEFAULT_CACHE = Path("data/cache/embeddings")
EVAL_MODES = ("keyword", "semantic", "hybrid")


# ---------------------------------------------------------------------------------------------- metrics


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: ``sum(g_i / log2(i + 1))``, ranks from 1."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains) if g)


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k with graded (linear) gains, as trec_eval/pytrec_eval (BEIR): 0 when nothing is relevant."""
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    best = dcg(ideal)
    if best <= 0:
        return 0.0
    seen: set[str] = set()
    gains = []
    for doc in ranking:
        if doc in seen:
            continue
        seen.add(doc)
        gains.append(max(0.0, float(qrels.get(doc, 0))))
        if len(gains) == k:
            break
    return dcg(gains) / best


def recall_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int = 100) -> float:
    """Relevant documents (grade > 0) in the top ``k`` over all relevant ones; 0 when none are."""
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(list(dict.fromkeys(ranking))[:k])) / len(relevant)


# ---------------------------------------------------------------------------------------------- loading


@dataclass
class BeirSet:
    """A BEIR collection read from its folder: corpus, queries and the graded judgements of one split."""

    name: str
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text), in file order
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]  # query id -> doc id -> grade (0 kept: judged not relevant)
    split: str


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def default_split(beir_dir: Path) -> str:
    """``test`` if the folder has it, else ``train``, else the first qrels file there."""
    names = sorted(p.stem for p in (Path(beir_dir) / "qrels").glob("*.tsv"))
    for preferred in ("test", "train"):
        if preferred in names:
            return preferred
    if not names:
        raise FileNotFoundError(f"no qrels/*.tsv under {beir_dir}")
    return names[0]


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    qrels: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.reader(fh, delimiter="\t")):
            if not row or (i == 0 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # the header line
            qid, did, grade = row[0].strip(), row[1].strip(), float(row[2])
            qrels.setdefault(qid, {})[did] = grade
    return qrels


def load_beir(beir_dir: str | Path, split: str | None = None) -> BeirSet:
    """Read the BEIR folder ``beir_dir`` with the judgements of ``split`` (default:
    :func:`default_split`)."""
    beir_dir = Path(beir_dir)
    split = split or default_split(beir_dir)
    corpus = {
        str(d["_id"]): (d.get("title") or "", d.get("text") or "")
        for d in _read_jsonl(beir_dir / "corpus.jsonl")
    }
    queries = {str(q["_id"]): q.get("text") or "" for q in _read_jsonl(beir_dir / "queries.jsonl")}
    qrels = read_qrels(beir_dir / "qrels" / f"{split}.tsv")
    return BeirSet(beir_dir.name, corpus, queries, qrels, split)


# ---------------------------------------------------------------------------------------------- indexing


def _title(doc_id: str, title: str, body: str) -> str:
    """A title for a doc without one (a paper must have one): the first words of its text."""
    if title.strip():
        return title
    words = body.split()
    return " ".join(words[:12]) or doc_id


def corpus_records(corpus: Mapping[str, tuple[str, str]]) -> Iterator[PaperRecord]:
    for doc_id, (title, body) in corpus.items():
        yield PaperRecord(arxiv_id=doc_id, title=_title(doc_id, title, body), abstract=body or None)


def _stored_texts(session: Session, doc_ids: Sequence[str]) -> tuple[list[int], list[str]]:
    """Paper ids and embedded texts, in ``doc_ids`` order (as stored, after the importer's cleaning)."""
    rows = {
        r.arxiv_id: r for r in session.execute(select(Paper.id, Paper.arxiv_id, Paper.title, Paper.abstract))
    }
    ids = [rows[d].id for d in doc_ids]
    texts = [paper_text(rows[d].title, rows[d].abstract) for d in doc_ids]
    return ids, texts


def corpus_sha(model: str, texts: Iterable[str]) -> str:
    h = hashlib.sha256(model.encode("utf-8") + b"\0")
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:32]


def cache_path(cache_dir: Path, model: str, sha: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in model)
    return Path(cache_dir) / safe / f"{sha}.npy"


def store_vectors(
    db: Database,
    model: str,
    ids: Sequence[int],
    texts: Sequence[str],
    vectors: np.ndarray,
    *,
    batch: int = 5000,
) -> None:
    """Vectors as ``paper_vectors`` rows, exactly as :func:`embed_missing` would store them."""
    now = utcnow()
    for start in range(0, len(ids), batch):
        with db.transaction() as session:
            insert_vectors(
                session,
                model,
                ids[start : start + batch],
                [text_hash(t) for t in texts[start : start + batch]],
                vectors[start : start + batch],
                now=now,
            )
    ensure_vector_index(db, model, int(vectors.shape[1]))


def load_vectors(session: Session, model: str, ids: Sequence[int]) -> np.ndarray:
    rows = dict(
        session.execute(
            select(PaperVector.paper_id, PaperVector.vector).where(PaperVector.model == model)
        ).all()
    )
    return np.stack([np.frombuffer(rows[i], dtype="<f2") for i in ids])


def scratch_database(database_url: str | None = None) -> tuple[Database, Callable[[], None]]:
    """An empty, migrated database for one evaluation, and what removes it afterwards.

    ``database_url`` ``None`` (or a SQLite URL, whose file is left alone): a temporary SQLite file. A
    PostgreSQL URL: a new database ``dailypapers_eval_…`` on that server (the role needs CREATEDB, and
    the right to create the pgvector extension unless ``template1`` has it); the database the URL
    names is only connected to, to create and to drop the new one."""
    url = make_url(database_url) if database_url else None
    if url is None or url.get_backend_name() != "postgresql":
        tmp = Path(tempfile.mkdtemp(prefix="dp-eval-"))
        db = Database(f"sqlite:///{tmp / 'eval.db'}")

        def remove() -> None:
            db.dispose()
            shutil.rmtree(tmp, ignore_errors=True)

    else:
        name = f"dailypapers_eval_{secrets.token_hex(6)}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        db = Database(url.set(database=name).render_as_string(hide_password=False))

        def remove() -> None:
            db.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    try:
        db.migrate()
    except BaseException:
        remove()
        raise
    return db, remove


@dataclass
class IndexedCorpus:
    db: Database
    remove: Callable[[], None]  # disposes of the database and deletes it
    id_of_doc: dict[str, int]
    doc_of_id: dict[int, str]
    embed_seconds: float = 0.0
    embedded: int = 0  # texts embedded now (0: from the cache)
    cache_file: Path | None = None

    def close(self) -> None:
        self.remove()


def index_corpus(
    corpus: Mapping[str, tuple[str, str]],
    backend: EmbeddingBackend | None,
    *,
    database_url: str | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    on_progress: Callable[[int], None] | None = None,
) -> IndexedCorpus:
    """``corpus`` imported (and, with a backend, embedded) into a database of its own
    (:func:`scratch_database` on ``database_url``); :meth:`IndexedCorpus.close` removes it."""
    db, remove = scratch_database(database_url)
    try:
        # imported shortest text first: paper ids then follow length, so embed_missing's batches (in id
        # order) hold texts of similar length and pad little (2-3x faster on ir_classic's mixed lengths)
        by_length = dict(sorted(corpus.items(), key=lambda item: len(item[1][0]) + len(item[1][1])))
        Importer(db, batch_size=2000).run(corpus_records(by_length))
        doc_ids = list(corpus)
        with db.session() as session:
            ids, texts = _stored_texts(session, doc_ids)
        out = IndexedCorpus(db, remove, dict(zip(doc_ids, ids)), dict(zip(ids, doc_ids)))
        if backend is not None:
            _vectors(out, backend, ids, texts, cache_dir, on_progress)
        if db.is_postgres:
            # keyword search reads word counts from the planner's statistics, which a site has
            # (autovacuum analyzes after an import) and a database filled a moment ago does not yet
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        return out
    except BaseException:
        remove()
        raise


def _vectors(
    out: IndexedCorpus,
    backend: EmbeddingBackend,
    ids: list[int],
    texts: list[str],
    cache_dir: Path | None,
    on_progress: Callable[[int], None] | None,
) -> None:
    """The corpus's vectors stored: from the cache when it has them, else embedded (and cached)."""
    db = out.db
    path = None
    if cache_dir is not None:
        # a variant of the model (MiniLM in bfloat16) caches apart: its vectors differ in the last digits
        variant = getattr(backend, "variant", "")
        key = f"{backend.name}+{variant}" if variant else backend.name
        path = cache_path(cache_dir, key, corpus_sha(key, texts))
        out.cache_file = path
        if path.exists():
            vectors = np.load(path)
            if vectors.shape == (len(ids), backend.dim):
                store_vectors(db, backend.name, ids, texts, vectors)
                return
    start = time.perf_counter()
    summary = embed_missing(db, backend, on_progress=on_progress)
    out.embed_seconds, out.embedded = time.perf_counter() - start, summary.embedded
    if path is not None:
        with db.session() as session:
            vectors = load_vectors(session, backend.name, ids)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part.npy")
        np.save(partial, vectors.astype(np.float16))
        partial.replace(path)


# ---------------------------------------------------------------------------------------------- searching


def search_box_text(text_: str) -> str:
    """A natural-language query as typed into the search box, word by word: every word a plain term
    (quotes, a leading ``-`` and ``field:`` prefixes are left out, so nothing in it reads as syntax)."""
    return " ".join(split_words(clean_text(text_)))


def search_rankings(
    engine: hybrid.SearchEngine, session: Session, queries: Mapping[str, str], mode: str, limit: int = 100
) -> dict[str, list[int]]:
    """Per query, the paper ids :meth:`SearchEngine.search` returns for it in ``mode``, best first
    (nothing for a query without words)."""
    out: dict[str, list[int]] = {}
    for qid, query in queries.items():
        try:
            hits = engine.search(session, search_box_text(query), mode=mode, limit=limit).hits
        except BadRequest:
            hits = []
        out[qid] = [h.paper_id for h in hits]
    return out


def score(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Mean nDCG@10 and recall@100 over the judged queries, from each query's ranked doc ids."""
    ndcgs = [ndcg_at_k(rankings.get(qid, []), judged, 10) for qid, judged in qrels.items()]
    recalls = [recall_at_k(rankings.get(qid, []), judged, 100) for qid, judged in qrels.items()]
    n = len(ndcgs)
    return {
        "ndcg@10": statistics.fmean(ndcgs) if n else 0.0,
        "recall@100": statistics.fmean(recalls) if n else 0.0,
        "queries": n,
    }


@dataclass
class BeirResult:
    """The scores of each search mode on one BEIR set, with the backend measured and the embedding
    time."""

    name: str
    split: str
    docs: int
    queries: int
    modes: dict[str, dict[str, float]]
    database: str  # the backend measured: sqlite or postgresql
    embed_seconds: float = 0.0
    embedded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "set": self.name,
            "split": self.split,
            "docs": self.docs,
            "queries": self.queries,
            "database": self.database,
            "embed_seconds": round(self.embed_seconds, 1),
            "embedded": self.embedded,
            "modes": {
                m: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                for m, r in self.modes.items()
            },
        }


@contextmanager
def indexed_set(
    beir: BeirSet,
    backend: EmbeddingBackend | None,
    cache_dir: Path | None = DEFAULT_CACHE,
    on_progress: Callable[[int], None] | None = None,
    *,
    database_url: str | None = None,
) -> Iterator[IndexedCorpus]:
    """:func:`index_corpus` of ``beir``'s corpus, removed when the block ends."""
    indexed = index_corpus(
        beir.corpus, backend, database_url=database_url, cache_dir=cache_dir, on_progress=on_progress
    )
    try:
        yield indexed
    finally:
        indexed.close()


def judged_queries(beir: BeirSet, limit_queries: int | None = None) -> tuple[dict[str, str], dict]:
    qids = [q for q in beir.qrels if q in beir.queries and any(g > 0 for g in beir.qrels[q].values())]
    if limit_queries:
        qids = qids[:limit_queries]
    return {q: beir.queries[q] for q in qids}, {q: beir.qrels[q] for q in qids}


def evaluate_beir(
    beir_dir: str | Path,
    *,
    modes: Sequence[str] = EVAL_MODES,
    split: str | None = None,
    backend: EmbeddingBackend | None = None,
    database_url: str | None = None,
    limit_queries: int | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    on_progress: Callable[[int], None] | None = None,
) -> BeirResult:
    """nDCG@10 and recall@100 of each mode on one BEIR folder (judged queries with a relevant doc), the
    corpus built on ``database_url``'s backend (:func:`scratch_database`)."""
    for mode in modes:
        if mode not in EVAL_MODES:
            raise ValueError(f"mode must be one of {', '.join(EVAL_MODES)}, got {mode!r}")
    beir = load_beir(beir_dir, split)
    if all(m == "keyword" for m in modes):
        backend = None
    elif backend is None:
        from dailypapers.search.embed import get_backend

        backend = get_backend("minilm")
    queries, qrels = judged_queries(beir, limit_queries)
    with indexed_set(beir, backend, cache_dir, on_progress, database_url=database_url) as indexed:
        # queries in float32, as the web process embeds them, whatever the corpus was embedded in
        engine = hybrid.SearchEngine(indexed.db, getattr(backend, "query_backend", lambda: backend)())
        results = {}
        with indexed.db.session() as session:
            for mode in modes:
                ranked = search_rankings(engine, session, queries, mode)
                docs = {qid: [indexed.doc_of_id[i] for i in ids] for qid, ids in ranked.items()}
                results[mode] = score(docs, qrels)
        return BeirResult(
            beir.name,
            beir.split,
            len(beir.corpus),
            len(queries),
            results,
            indexed.db.backend,
            indexed.embed_seconds,
            indexed.embedded,
        )


# ---------------------------------------------------------------------------------------------- related


def read_links(path: Path) -> dict[str, set[str]]:
    """Citing doc -> cited docs, from a ``doc-a doc-b`` TSV with a header (self-links dropped)."""
    links: dict[str, set[str]] = {}
    with Path(path).open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.reader(fh, delimiter="\t")):
            if i == 0 or len(row) < 2 or row[0] == row[1]:
                continue
            links.setdefault(row[0].strip(), set()).add(row[1].strip())
    return links


def related_recall(
    cacm_dir: str | Path,
    k: int = 10,
    *,
    backend: EmbeddingBackend | None = None,
    database_url: str | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    links_file: str = "citation_links.tsv",
) -> dict[str, float]:
    """Mean over citing docs of the fraction of their cited docs in :meth:`SearchEngine.related`'s top
    ``k`` (links to docs outside the corpus are ignored), the corpus built on ``database_url``'s
    backend (:func:`scratch_database`)."""
    cacm_dir = Path(cacm_dir)
    beir = (
        load_beir(cacm_dir)
        if (cacm_dir / "qrels").is_dir()
        else BeirSet(
            cacm_dir.name,
            {
                str(d["_id"]): (d.get("title") or "", d.get("text") or "")
                for d in _read_jsonl(cacm_dir / "corpus.jsonl")
            },
            {},
            {},
            "",
        )
    )
    if backend is None:
        from dailypapers.search.embed import get_backend

        backend = get_backend("minilm")
    links = {
        a: {b for b in bs if b in beir.corpus}
        for a, bs in read_links(cacm_dir / links_file).items()
        if a in beir.corpus
    }
    links = {a: bs for a, bs in links.items() if bs}
    recalls = []
    with indexed_set(beir, backend, cache_dir, database_url=database_url) as indexed:
        engine = hybrid.SearchEngine(indexed.db, backend)
        with indexed.db.session() as session:
            papers = {p.arxiv_id: p for p in session.scalars(select(Paper))}
            for doc, cited in links.items():
                hits = engine.related(session, papers[doc], limit=k)
                found = {indexed.doc_of_id[h.paper_id] for h in hits[:k]}
                recalls.append(len(found & cited) / len(cited))
    return {
        f"recall@{k}": statistics.fmean(recalls) if recalls else 0.0,
        "citing_docs": len(recalls),
        "links": sum(len(b) for b in links.values()),
    }


__all__ = [
    "BeirResult",
    "BeirSet",
    "dcg",
    "evaluate_beir",
    "index_corpus",
    "load_beir",
    "ndcg_at_k",
    "recall_at_k",
    "related_recall",
    "scratch_database",
    "search_box_text",
    "search_rankings",
]
