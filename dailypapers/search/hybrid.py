"""The search engine: keyword (FTS5 BM25), semantic (vectors) and hybrid (the two lists' scores fused),
with filters, sorting, an explanation of why each result matched, and related papers.

:class:`SearchEngine` is built once per process (it holds the embedding model and the vector index);
every call takes a session. The API, the pages, the feeds and ``dailypapers eval`` all call
:meth:`SearchEngine.search`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dailypapers.errors import BadRequest
from dailypapers.search import fulltext, spelling
from dailypapers.search.embed import MINILM_NAME, EmbeddingBackend, paper_text
from dailypapers.search.fusion import convex_fusion
from dailypapers.search.query import ParsedQuery, parse_query
from dailypapers.search.semantic import make_vector_search
from dailypapers.store.db import Database
from dailypapers.store.models import Paper
from dailypapers.store.vectors import vector_of

Mode = Literal["hybrid", "keyword", "semantic"]
Sort = Literal["relevance", "date", "upvotes"]
MODES = ("hybrid", "keyword", "semantic")
SORTS = ("relevance", "date", "upvotes", "stars")
CANDIDATES = 200  # per ranking, before fusion and paging
SEMANTIC_CANDIDATES = 100  # nearest vectors fused (see below)
# Hybrid: keyword and semantic scores, each divided by its list's best, weighed 1 - w and w
# (fusion.convex_fusion). Measured with `dailypapers eval beir` on the six judged sets (hybrid nDCG@10):
# from w = 0.70 to 0.74 SciFact is at least 0.73 and no classic set lower than the search before it
# (reciprocal rank fusion, k = 60, float32 queries); 0.72 is the middle.
SEMANTIC_WEIGHT = 0.72
KEYWORD_FALLBACK_BELOW = 10
# "Concurrent work": papers first published within CONCURRENT_DAYS of a paper whose vectors are at least
# this close. Chosen on 45,900 real arXiv listings (``bench/concurrent_work.py``): from 0.82 up, pairs within
# 14 days of each other outnumber pairs 60-74 days apart 3.8 to 1 (so most are there because of the time,
# not the topic alone), and most pairs read as the same problem; below it they read as the same field.
CONCURRENT_SIMILARITY = 0.82
CONCURRENT_DAYS = 14
CONCURRENT_CANDIDATES = 100  # nearest vectors looked at; this close, a paper rarely has more
# The semantic side keeps only papers at least this close in meaning to the query (cosine of the MiniLM
# vectors): below it, the nearest papers of a query are there because something has to be nearest, not
# because they are about it. Chosen on the six relevance sets (``bench/similarity_floor.py``: see there).
# Other models place their cosines elsewhere: no floor for them until one is measured.
SIMILARITY_FLOOR = 0.25
SIMILARITY_FLOORS = {MINILM_NAME: SIMILARITY_FLOOR}
# When no word of the query is in any paper ("xqzvwkjj plorf", a typo), the nearest papers must be closer
# than any of 20 nonsense queries came to a paper of the six sets (at most 0.48 there): else nothing.
UNKNOWN_WORDS_FLOOR = 0.50


@dataclass(slots=True)
class Hit:
    """One result: the paper id, its fused score, and why it matched."""

    paper_id: int
    score: float
    keyword_rank: int | None = None  # 1-based rank in the keyword list, if there
    semantic_rank: int | None = None
    similarity: float | None = None  # cosine similarity to the query, if semantic
    title_marked: str | None = None  # title with \x02…\x03 around matched terms
    snippet_marked: str | None = None

    @property
    def why(self) -> str:
        if self.keyword_rank is not None and self.semantic_rank is not None:
            return "matches your words and is close in meaning"
        if self.keyword_rank is not None:
            return "matches your words"
        if self.semantic_rank is not None:
            return "similar in meaning"
        return "matches your filters"


@dataclass(slots=True)
class SearchResults:
    """One page of hits with the number of candidates, the parsed query, the mode that ran (keyword
    without an embedding model) and the page's papers by id."""

    hits: list[Hit]
    total: int  # candidates found (capped by CANDIDATES per ranking)
    parsed: ParsedQuery
    mode: str
    papers: dict[int, Paper] = field(default_factory=dict)
    # "did you mean": the query with its unknown words corrected, if that finds papers
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    """What a search is restricted to besides its words: publication dates, categories,
    organizations, having code."""

    date_from: date | None = None
    date_to: date | None = None
    categories: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    has_code: bool = False  # only papers with a code repository
    full_text: bool = False  # keywords found in full texts too (after those in titles and abstracts)

    def as_kwargs(self) -> dict[str, object]:
        return {
            "date_from": self.date_from,
            "date_to": self.date_to,
            "categories": self.categories,
            "organizations": self.organizations,
            "has_code": self.has_code,
        }


class SearchEngine:
    """Keyword, semantic and hybrid search over one database."""

    def __init__(
        self, db: Database, backend: EmbeddingBackend | None, *, similarity_floor: float | None = None
    ) -> None:
        self.db = db
        self.backend = backend
        if similarity_floor is None:
            similarity_floor = SIMILARITY_FLOORS.get(backend.name, 0.0) if backend is not None else 0.0
        self.similarity_floor = similarity_floor
        self.vectors = make_vector_search(db, backend) if backend is not None else None
        self._executor: ThreadPoolExecutor | None = None
        self.term_counts = fulltext.TermCounts()
        self.vocabulary = spelling.Vocabulary()

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-embed")
        return self._executor

    def search(
        self,
        session: Session,
        q: str,
        *,
        mode: str = "hybrid",
        limit: int = 20,
        offset: int = 0,
        filters: Filters = Filters(),
        sort: str = "relevance",
    ) -> SearchResults:
        """Search; ``mode`` keyword, semantic or hybrid. Never raises on odd input, only BadRequest for
        an empty query or an unknown mode/sort."""
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if sort not in SORTS:
            raise BadRequest(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        parsed = fulltext.parse(session, q or "")
        if parsed.is_empty and filters == Filters():
            raise BadRequest("the search needs at least one word or filter")
        if mode != "keyword" and self.vectors is None:
            mode = "keyword"
        kwargs = filters.as_kwargs()
        keyword: list[fulltext.KeywordHit] = []
        semantic: list[tuple[int, float]] = []
        nearest = None
        if mode in ("hybrid", "semantic") and parsed.semantic_text.strip() and self.vectors is not None:
            # embed the query and search the vectors on another thread while the keyword side runs
            # (the model, hnswlib and the database all release the GIL)
            nearest = self._pool().submit(self.vectors.search_text, parsed.semantic_text, SEMANTIC_CANDIDATES)
        known = self.term_counts.get(session, parsed.terms)  # papers per word, read once per search
        if mode in ("hybrid", "keyword") and parsed.has_text:
            keyword = keyword_side(
                session, parsed, kwargs, self.term_counts, known, full_text=filters.full_text
            )
        unknown = spelling.unknown_words(session, parsed, known)
        if nearest is not None:
            floor = self.similarity_floor
            if parsed.terms and not parsed.phrases and len(unknown) == len(parsed.terms) and floor > 0:
                # no word of the query is in any paper: what is nearest is nearest by chance unless very close
                floor = max(floor, UNKNOWN_WORDS_FLOOR)
            raw = [(i, s) for i, s in nearest.result() if s >= floor]
            allowed = fulltext.filtered_ids(session, parsed, [i for i, _ in raw], **kwargs)
            semantic = [(i, s) for i, s in raw if i in allowed]
        hits = _fuse(keyword, semantic, mode)
        if not parsed.has_text and not parsed.semantic_text.strip():
            hits = [Hit(i, 0.0) for i in fulltext.only_filters(session, parsed, limit=CANDIDATES, **kwargs)]
        suggestion = self.suggest(session, parsed, unknown) if unknown else None
        total = len(hits)
        if sort == "relevance":
            page = hits[offset : offset + limit]
            papers = _load(session, [h.paper_id for h in page])
            page = [h for h in page if h.paper_id in papers]
            _mark(session, parsed, page, papers)
            return SearchResults(page, total, parsed, mode, papers, suggestion)
        papers = _load(session, [h.paper_id for h in hits])
        hits = [h for h in hits if h.paper_id in papers]
        if sort == "date":
            hits.sort(
                key=lambda h: (
                    papers[h.paper_id].published_at is None,
                    -(papers[h.paper_id].published_at.timestamp() if papers[h.paper_id].published_at else 0),
                )
            )
        elif sort == "upvotes":
            hits.sort(key=lambda h: -papers[h.paper_id].total_upvotes)
        elif sort == "stars":
            hits.sort(key=lambda h: -(papers[h.paper_id].github_stars or 0))
        page = hits[offset : offset + limit]
        _mark(session, parsed, page, papers)
        return SearchResults(
            page, total, parsed, mode, {h.paper_id: papers[h.paper_id] for h in page}, suggestion
        )

    def suggest(self, session: Session, parsed: ParsedQuery, unknown: list[str]) -> str | None:
        """ "Did you mean": the query with its ``unknown`` words (in no paper) corrected from the titles'
        vocabulary, if that finds papers."""
        return spelling.suggest(session, parsed, unknown, self.vocabulary)

    def _vector(self, session: Session, paper: Paper) -> np.ndarray:
        """The paper's stored vector, else its text embedded now."""
        vector = vector_of(session, paper.id, self.backend.name)
        if vector is None:
            vector = self.backend.embed([paper_text(paper.title, paper.abstract)])[0]
        return vector

    def concurrent(
        self,
        session: Session,
        paper: Paper,
        *,
        limit: int = 5,
        days: int = CONCURRENT_DAYS,
        threshold: float = CONCURRENT_SIMILARITY,
    ) -> list[Hit]:
        """ "Concurrent work": papers first published within ``days`` of ``paper`` whose meaning is at
        least ``threshold`` close (cosine of their vectors), closest first. Empty without vectors or a
        publication date."""
        if self.vectors is None or paper.published_at is None:
            return []
        near = [
            (paper_id, float(similarity))
            for paper_id, similarity in self.vectors.search_vector(
                self._vector(session, paper), CONCURRENT_CANDIDATES
            )
            if paper_id != paper.id and similarity >= threshold
        ]
        if not near:
            return []
        window = timedelta(days=days)
        rows = session.execute(select(Paper.id, Paper.published_at).where(Paper.id.in_([i for i, _ in near])))
        published = {paper_id: when for paper_id, when in rows}
        hits = [
            Hit(paper_id, similarity, semantic_rank=rank, similarity=similarity)
            for rank, (paper_id, similarity) in enumerate(near, 1)
            if published.get(paper_id) is not None and abs(published[paper_id] - paper.published_at) <= window
        ]
        return hits[:limit]

    def related(self, session: Session, paper: Paper, *, limit: int = 10) -> list[Hit]:
        """Papers close to ``paper``: nearest vectors, else a keyword search on its title."""
        hits: list[Hit] = []
        if self.vectors is not None:
            vector = self._vector(session, paper)
            for rank, (paper_id, similarity) in enumerate(self.vectors.search_vector(vector, limit + 1), 1):
                if paper_id != paper.id:
                    hits.append(Hit(paper_id, similarity, semantic_rank=rank, similarity=similarity))
        if not hits:
            parsed = parse_query(" ".join(w for w in paper.title.split()[:12]))
            terms = ParsedQuery(terms=parsed.terms[:6], semantic_text=parsed.semantic_text)
            for rank, kh in enumerate(
                fulltext.keyword_hits(session, terms, limit=limit + 1, any_term=True), 1
            ):
                if kh.paper_id != paper.id:
                    hits.append(Hit(kh.paper_id, kh.score, keyword_rank=rank))
        return hits[:limit]


def keyword_side(
    session: Session,
    parsed: ParsedQuery,
    filters: dict[str, object],
    counts: fulltext.TermCounts,
    known: dict[str, int] | None = None,
    *,
    full_text: bool = False,
) -> list[fulltext.KeywordHit]:
    """Every word (less stopwords) first; with fewer than ``KEYWORD_FALLBACK_BELOW`` results, papers
    matching any of the words follow (measured with ``dailypapers eval beir``: SciFact hybrid nDCG@10
    0.666 → 0.723, better than either side alone on all six sets).

    Cost bounds for large collections: an every-word match wider than ``fulltext.BROAD_MATCHES``
    papers ("on the") is ranked within titles only, and the fallback leaves out words found in more
    than ``fulltext.COMMON_DOCS`` papers (they carry little BM25 weight and most of the cost).

    With ``full_text``, papers whose full text holds every word follow those whose title, abstract or
    authors do (a match in a paper's own summary of itself says more than one in its body)."""
    strict_query = fulltext.without_stopwords(parsed)
    # what the words alone match decides how they are searched, never the filters (authors, dates,
    # categories, exclusions): then a filter only ever removes results
    words = ParsedQuery(terms=strict_query.terms, phrases=strict_query.phrases)
    if known is None:
        known = counts.get(session, parsed.terms)
    column = None
    if strict_query.terms and all(known[t] > fulltext.COMMON_DOCS for t in strict_query.terms):
        # every word is common, so all of them together may still match a large part of the collection
        if fulltext.broad(session, words, known, counts):
            column = "title"
    strict = fulltext.keyword_hits(session, strict_query, limit=CANDIDATES, column=column, **filters)
    if full_text and (strict_query.terms or strict_query.phrases) and len(strict) < CANDIDATES:
        # (a search keeps CANDIDATES keyword matches: when the papers' own fields fill them, no body
        # match would be among them)
        found = {h.paper_id for h in strict}
        body = fulltext.body_hits(session, strict_query, limit=CANDIDATES, **filters)
        strict = strict + [h for h in body if h.paper_id not in found]
    if len(strict) >= KEYWORD_FALLBACK_BELOW or column is not None:
        return strict
    if _narrowed(parsed, filters) and (words.terms or words.phrases):
        if fulltext.match_count(session, words, KEYWORD_FALLBACK_BELOW) >= KEYWORD_FALLBACK_BELOW:
            return strict  # the words alone find enough: the filters narrowed them, no fallback
    loose_query = fulltext.fallback_query(parsed, known)
    if not (loose_query.terms or loose_query.phrases):
        return strict
    seen = {h.paper_id for h in strict}
    loose = fulltext.keyword_hits(session, loose_query, limit=CANDIDATES, any_term=True, **filters)
    return strict + [h for h in loose if h.paper_id not in seen]


def _narrowed(parsed: ParsedQuery, filters: dict[str, object]) -> bool:
    """Whether anything besides the words restricts the keyword search (in the query or the caller's
    filters)."""
    return parsed != ParsedQuery(terms=parsed.terms, phrases=parsed.phrases) or any(filters.values())


def fuse(keyword: list[fulltext.KeywordHit], semantic: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Hybrid ranking: ``(paper id, fused score)``, best first. The keyword side's order is kept as its
    own (every word before any word, papers' own fields before full texts): a hit's score counts at most
    as much as the hits before it."""
    ceiling = float("inf")
    lexical = []
    for hit in keyword:
        ceiling = min(ceiling, hit.score)
        lexical.append((hit.paper_id, ceiling))
    return convex_fusion([lexical, semantic], weights=[1.0 - SEMANTIC_WEIGHT, SEMANTIC_WEIGHT])


def _fuse(keyword: list[fulltext.KeywordHit], semantic: list[tuple[int, float]], mode: str) -> list[Hit]:
    by_keyword = {h.paper_id: (rank, h) for rank, h in enumerate(keyword, 1)}
    by_semantic = {paper_id: (rank, sim) for rank, (paper_id, sim) in enumerate(semantic, 1)}
    if mode == "keyword":
        order = [(h.paper_id, h.score) for h in keyword]
    elif mode == "semantic":
        order = list(semantic)
    else:
        order = fuse(keyword, semantic)
    hits = []
    for paper_id, score in order:
        hit = Hit(paper_id, float(score))
        if paper_id in by_keyword:
            rank, _ = by_keyword[paper_id]
            hit.keyword_rank = rank
        if paper_id in by_semantic:
            hit.semantic_rank, hit.similarity = by_semantic[paper_id][0], float(by_semantic[paper_id][1])
        hits.append(hit)
    return hits


def _mark(session: Session, parsed: ParsedQuery, page: list[Hit], papers: dict[int, Paper]) -> None:
    """Highlighted title and snippet for the page's keyword matches (at most one query for the page)."""
    ids = [h.paper_id for h in page if h.keyword_rank is not None]
    marked = fulltext.highlights(session, parsed, ids, papers=papers)
    for hit in page:
        if hit.paper_id in marked:
            hit.title_marked, hit.snippet_marked = marked[hit.paper_id]


def _load(session: Session, ids: list[int]) -> dict[int, Paper]:
    if not ids:
        return {}
    papers = session.scalars(select(Paper).where(Paper.id.in_(ids)).options(joinedload(Paper.organization)))
    return {p.id: p for p in papers.unique()}
