"""Search quality on public test collections: nDCG@10 and recall@100 of keyword, semantic and hybrid
search on a BEIR folder, and recall@10 of real citations for related papers (CACM).

A BEIR folder holds ``corpus.jsonl`` (``_id, title, text``), ``queries.jsonl`` (``_id, text``) and
``qrels/NAME.tsv`` (``query-id corpus-id score`` after a header line; grade 0 = not relevant). The
corpus goes into a fresh temporary SQLite database through the ordinary importer (the BEIR doc id
is the paper's ``arxiv_id``, ``text`` its abstract), so full-text indexing is the app's own (FTS5 via
triggers) and vectors are made by :func:`dailypapers.search.semantic.embed_missing` (the path of
``dailypapers index``). Vectors are cached under ``data/cache/embeddings/<model>/<sha>.npy`` (the sha of
the model name and every text embedded), so the three modes and later runs embed a corpus once.

Queries are natural language, so they run as plain text (:func:`plain_query`): every word is a term,
``AND``/``OR``/``author:``/``-`` are not syntax. The metrics follow BEIR (pytrec_eval): nDCG@k with
linear gains ``rel`` and ``log2(rank + 1)`` discounts against the ideal ordering of the judged documents;
recall@k = relevant retrieved in the top k / relevant judged.

Two knobs are measured here before they go into :mod:`dailypapers.search.hybrid`:
:class:`EvalParams` (RRF k, weights, candidate depth, and ``keyword_or``: BM25 over the OR of the query's
words instead of the AND of all of them).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dailypapers.ingest.records import PaperRecord
from dailypapers.search import fulltext, hybrid
from dailypapers.search.embed import EmbeddingBackend, paper_text
from dailypapers.search.fusion import reciprocal_rank_fusion
from dailypapers.search.fulltext import STOPWORDS, without_stopwords
from dailypapers.search.query import ParsedQuery, clean_text, quote_fts, split_words
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


@dataclass
class IndexedCorpus:
    db: Database
    tmp: Path
    id_of_doc: dict[str, int]
    doc_of_id: dict[int, str]
    embed_seconds: float = 0.0
    embedded: int = 0  # texts embedded now (0: from the cache)
    cache_file: Path | None = None

    def close(self) -> None:
        self.db.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)


def index_corpus(
    corpus: Mapping[str, tuple[str, str]],
    backend: EmbeddingBackend | None,
    *,
    cache_dir: Path | None = DEFAULT_CACHE,
    on_progress: Callable[[int], None] | None = None,
) -> IndexedCorpus:
    """A fresh temporary SQLite database with ``corpus`` imported and (with a backend) embedded."""
    tmp = Path(tempfile.mkdtemp(prefix="dp-eval-"))
    db = Database(f"sqlite:///{tmp / 'eval.db'}")
    db.migrate()
    # imported shortest text first: paper ids then follow length, so embed_missing's batches (in id
    # order) hold texts of similar length and pad little (2-3x faster on ir_classic's mixed lengths)
    by_length = dict(sorted(corpus.items(), key=lambda item: len(item[1][0]) + len(item[1][1])))
    Importer(db, batch_size=2000).run(corpus_records(by_length))
    doc_ids = list(corpus)
    with db.session() as session:
        ids, texts = _stored_texts(session, doc_ids)
    out = IndexedCorpus(db, tmp, dict(zip(doc_ids, ids)), dict(zip(ids, doc_ids)))
    if backend is None:
        return out
    path = None
    if cache_dir is not None:
        path = cache_path(cache_dir, backend.name, corpus_sha(backend.name, texts))
        out.cache_file = path
        if path.exists():
            vectors = np.load(path)
            if vectors.shape == (len(ids), backend.dim):
                store_vectors(db, backend.name, ids, texts, vectors)
                return out
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
    return out


# ---------------------------------------------------------------------------------------------- searching


def plain_query(text_: str, *, max_terms: int = 64) -> ParsedQuery:
    """A query of plain words: no syntax (``AND``, ``author:``, ``-x``, quotes are just words); every
    distinct word a term, in order, at most ``max_terms``."""
    words = list(dict.fromkeys(w for w in split_words(clean_text(text_)) if len(w) <= 100))[:max_terms]
    return ParsedQuery(terms=tuple(words), semantic_text=" ".join(" ".join(text_.split()).split()[:256]))


@dataclass(frozen=True)
class EvalParams:
    """The knobs of hybrid search measured here (:data:`CURRENT` is what hybrid.py does)."""

    rrf_k: int = hybrid.RRF_K
    candidates: int = hybrid.CANDIDATES
    keyword_weight: float = 1.0
    semantic_weight: float = 1.0
    keyword_or: bool = False  # BM25 over the OR of the words instead of the AND of all of them
    drop_stopwords: bool = False  # (with keyword_or) leave English function words out of the OR
    # (with keyword_or) AND of the words without stopwords first; only if that finds fewer than this
    # many, its hits followed by the OR's (0: no AND pass)
    fallback_below: int = 0
    # the keyword side exactly as SearchEngine.search runs it (hybrid.keyword_side: the fallback above,
    # bounded for large collections); the fields above then only describe it
    engine: bool = False

    def label(self) -> str:
        return (
            f"k={self.rrf_k} depth={self.candidates} w={self.keyword_weight:g}/{self.semantic_weight:g} "
            f"{_list_name(self)}"
        )


CURRENT = EvalParams(
    keyword_or=True, drop_stopwords=True, fallback_below=hybrid.KEYWORD_FALLBACK_BELOW, engine=True
)
AND_ONLY = EvalParams()  # the keyword side before: the AND of every word
# Measured on scifact (train) and the five ir_classic sets: RRF k (10..100), weights and depth move mean
# hybrid nDCG@10 by < 0.004; the keyword side's AND of every word finds nothing for sentence-long queries
# (keyword nDCG@10 0.02 on ir_classic). AND of the words less stopwords, then the OR of them when that
# finds fewer than 10, makes hybrid beat both single modes everywhere (bench/search.py: latency).
RECOMMENDED = CURRENT


def or_fts5(parsed: ParsedQuery, *, drop_stopwords: bool = False) -> str | None:
    """An FTS5 expression matching any of the query's words (BM25 then ranks by how many and how rare);
    without stopwords if asked (unless the query is nothing but stopwords)."""
    words = list(parsed.terms)
    if drop_stopwords:
        words = [w for w in words if w not in STOPWORDS] or words
    terms = [quote_fts(t) for t in (*words, *parsed.phrases)]
    return " OR ".join(terms) or None


def keyword_ranking(
    session: Session, parsed: ParsedQuery, limit: int, *, use_or: bool, drop_stopwords: bool = False
) -> list[int]:
    if not use_or:
        return [h.paper_id for h in fulltext.keyword_hits(session, parsed, limit=limit)]
    expression = or_fts5(parsed, drop_stopwords=drop_stopwords)
    if expression is None:
        return []
    w = (fulltext.TITLE_WEIGHT, fulltext.ABSTRACT_WEIGHT, fulltext.AUTHORS_WEIGHT)
    sql = (
        f"SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expr "  # nosec B608 # bound parameters
        f"ORDER BY bm25(papers_fts, {w[0]}, {w[1]}, {w[2]}) LIMIT :limit"
    )
    return [r[0] for r in session.execute(text(sql), {"expr": expression, "limit": limit})]


def keyword_candidates(session: Session, parsed: ParsedQuery, params: EvalParams, depth: int) -> list[int]:
    """The keyword side as ``params`` asks, for one query (what :func:`run_rankings` prepares in bulk)."""
    if params.engine:
        counts = fulltext.TermCounts()
        return [h.paper_id for h in hybrid.keyword_side(session, parsed, {}, counts)][:depth]
    if not params.keyword_or:
        return keyword_ranking(session, parsed, depth, use_or=False)
    if params.fallback_below:
        and_stop = keyword_ranking(session, without_stopwords(parsed), depth, use_or=False)
        if len(and_stop) >= params.fallback_below:
            return and_stop
        seen = set(and_stop)
        or_stop = keyword_ranking(session, parsed, depth, use_or=True, drop_stopwords=True)
        return and_stop + [i for i in or_stop if i not in seen]
    return keyword_ranking(session, parsed, depth, use_or=True, drop_stopwords=params.drop_stopwords)


@dataclass
class Rankings:
    """Per query: the keyword and the semantic candidate lists (paper ids), to fuse any way."""

    keyword: dict[str, list[int]] = field(default_factory=dict)
    semantic: dict[str, list[int]] = field(default_factory=dict)


def run_rankings(
    indexed: IndexedCorpus,
    backend: EmbeddingBackend | None,
    queries: Mapping[str, str],
    *,
    depth: int,
    keyword_and: bool = True,
    keyword_or: bool = True,
    semantic: bool = True,
) -> dict[str, Rankings]:
    """Candidate lists for every query: ``"and"`` and ``"or"`` keyword lists and the semantic one."""
    engine = hybrid.SearchEngine(indexed.db, backend)
    out = {
        "and": Rankings(),
        "or": Rankings(),
        "or_stop": Rankings(),
        "engine": Rankings(),
        **{f"and_stop<{b}->or_stop": Rankings() for b in FALLBACKS},
    }
    vectors = engine.vectors if backend is not None else None
    qids = list(queries)
    query_vectors = (
        backend.embed([plain_query(queries[q]).semantic_text or " " for q in qids])
        if (semantic and vectors is not None and qids)
        else None
    )
    with indexed.db.session() as session:
        for n, qid in enumerate(qids):
            parsed = plain_query(queries[qid])
            if keyword_and:
                out["and"].keyword[qid] = keyword_ranking(session, parsed, depth, use_or=False)
            if keyword_or:
                out["or"].keyword[qid] = keyword_ranking(session, parsed, depth, use_or=True)
                or_stop = keyword_ranking(session, parsed, depth, use_or=True, drop_stopwords=True)
                out["or_stop"].keyword[qid] = or_stop
                and_stop = keyword_ranking(session, without_stopwords(parsed), depth, use_or=False)
                for below in FALLBACKS:
                    chosen = (
                        and_stop
                        if len(and_stop) >= below
                        else and_stop + [i for i in or_stop if i not in set(and_stop)]
                    )
                    out.setdefault(f"and_stop<{below}->or_stop", Rankings()).keyword[qid] = chosen
                out["engine"].keyword[qid] = [
                    h.paper_id for h in hybrid.keyword_side(session, parsed, {}, engine.term_counts)
                ]
            if query_vectors is not None:
                sem = [i for i, _ in vectors.search_vector(query_vectors[n], depth)]
                for r in out.values():
                    r.semantic[qid] = sem
    return out


FALLBACKS = (10, 50)  # fallback_below values run_rankings prepares


def _list_name(params: EvalParams) -> str:
    if params.engine:
        return "engine"
    if not params.keyword_or:
        return "and"
    if params.fallback_below:
        return f"and_stop<{params.fallback_below}->or_stop"
    return "or_stop" if params.drop_stopwords else "or"


def fuse(keyword: list[int], semantic: list[int], mode: str, params: EvalParams) -> list[int]:
    keyword, semantic = keyword[: params.candidates], semantic[: params.candidates]
    if mode == "keyword":
        return keyword
    if mode == "semantic":
        return semantic
    fused = reciprocal_rank_fusion(
        [keyword, semantic], k=params.rrf_k, weights=[params.keyword_weight, params.semantic_weight]
    )
    return [i for i, _ in fused]


def score(
    rankings: Rankings,
    indexed: IndexedCorpus,
    qrels: Mapping[str, Mapping[str, float]],
    mode: str,
    params: EvalParams,
) -> dict[str, float]:
    ndcgs, recalls = [], []
    for qid, judged in qrels.items():
        ids = fuse(rankings.keyword.get(qid, []), rankings.semantic.get(qid, []), mode, params)
        docs = [indexed.doc_of_id[i] for i in ids]
        ndcgs.append(ndcg_at_k(docs, judged, 10))
        recalls.append(recall_at_k(docs, judged, 100))
    n = len(ndcgs)
    return {
        "ndcg@10": statistics.fmean(ndcgs) if n else 0.0,
        "recall@100": statistics.fmean(recalls) if n else 0.0,
        "queries": n,
    }


def engine_search_ranking(
    engine: hybrid.SearchEngine, session: Session, query: str, mode: str, limit: int = 100
) -> list[int]:
    """The ids :meth:`SearchEngine.search` returns for ``query`` as plain words (each word quoted, so the
    parser sees no syntax): what the product does, for checking :func:`fuse` against it."""
    words = list(dict.fromkeys(split_words(clean_text(query))))[:32]
    q = " ".join(quote_fts(w) for w in words)
    results = engine.search(session, q, mode=mode, limit=limit)
    return [h.paper_id for h in results.hits]


@dataclass
class BeirResult:
    name: str
    split: str
    docs: int
    queries: int
    modes: dict[str, dict[str, float]]
    params: str
    embed_seconds: float = 0.0
    embedded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "set": self.name,
            "split": self.split,
            "docs": self.docs,
            "queries": self.queries,
            "params": self.params,
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
) -> Iterator[IndexedCorpus]:
    indexed = index_corpus(beir.corpus, backend, cache_dir=cache_dir, on_progress=on_progress)
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
    params: EvalParams = CURRENT,
    limit_queries: int | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    on_progress: Callable[[int], None] | None = None,
) -> BeirResult:
    """nDCG@10 and recall@100 of each mode on one BEIR folder (judged queries with a relevant doc)."""
    for mode in modes:
        if mode not in EVAL_MODES:
            raise ValueError(f"mode must be one of {', '.join(EVAL_MODES)}, got {mode!r}")
    if params.fallback_below and params.fallback_below not in FALLBACKS:
        raise ValueError(f"fallback_below must be one of {FALLBACKS}")
    beir = load_beir(beir_dir, split)
    needs_vectors = any(m != "keyword" for m in modes)
    if needs_vectors and backend is None:
        from dailypapers.search.embed import get_backend

        backend = get_backend("minilm")
    queries, qrels = judged_queries(beir, limit_queries)
    with indexed_set(beir, backend if needs_vectors else None, cache_dir, on_progress) as indexed:
        rankings = run_rankings(
            indexed,
            backend if needs_vectors else None,
            queries,
            depth=max(params.candidates, 100),
            keyword_and=not params.keyword_or,
            keyword_or=params.keyword_or,
            semantic=needs_vectors,
        )
        chosen = rankings[_list_name(params)]
        results = {m: score(chosen, indexed, qrels, m, params) for m in modes}
        return BeirResult(
            beir.name,
            beir.split,
            len(beir.corpus),
            len(queries),
            results,
            params.label(),
            indexed.embed_seconds,
            indexed.embedded,
        )


def sweep_beir(
    beir_dir: str | Path,
    grid: Sequence[EvalParams],
    *,
    split: str | None = None,
    backend: EmbeddingBackend | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    limit_queries: int | None = None,
) -> list[tuple[EvalParams, dict[str, dict[str, float]]]]:
    """Every ``grid`` setting on one set, from one index and one pass of candidate lists."""
    beir = load_beir(beir_dir, split)
    if backend is None:
        from dailypapers.search.embed import get_backend

        backend = get_backend("minilm")
    queries, qrels = judged_queries(beir, limit_queries)
    depth = max(max(p.candidates for p in grid), 100)
    out = []
    with indexed_set(beir, backend, cache_dir) as indexed:
        rankings = run_rankings(indexed, backend, queries, depth=depth)
        for p in grid:
            chosen = rankings[_list_name(p)]
            out.append((p, {m: score(chosen, indexed, qrels, m, p) for m in EVAL_MODES}))
    return out


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
    cache_dir: Path | None = DEFAULT_CACHE,
    links_file: str = "citation_links.tsv",
) -> dict[str, float]:
    """Mean over citing docs of the fraction of their cited docs in :meth:`SearchEngine.related`'s top
    ``k`` (links to docs outside the corpus are ignored)."""
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
    with indexed_set(beir, backend, cache_dir) as indexed:
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
    "CURRENT",
    "EvalParams",
    "RECOMMENDED",
    "dcg",
    "evaluate_beir",
    "index_corpus",
    "load_beir",
    "ndcg_at_k",
    "plain_query",
    "recall_at_k",
    "related_recall",
    "sweep_beir",
]
