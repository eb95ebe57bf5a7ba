"""Keyword search over title, abstract and authors with field weights, on either backend:

- SQLite: FTS5 (``papers_fts``, porter stemming), ranked by BM25 with weights title 5, abstract 1,
  authors 2. User text reaches ``MATCH`` only through :func:`dailypapers.search.query.to_fts5`, which
  quotes every term, so no input can break the expression.
- PostgreSQL: the ``papers.search_tsv`` column (``english`` configuration; title weight A, authors B,
  abstract C; GIN index, kept by a trigger), ranked by ``ts_rank`` with weights in the same proportions.
  User text reaches SQL only as bound parameters of ``plainto_tsquery``/``phraseto_tsquery``.

Filters (dates, categories, organizations) are plain SQL on ``papers``. Every function takes a
:class:`~dailypapers.search.query.ParsedQuery` and a session and picks the backend from the session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time as dtime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from dailypapers.search import marks
from dailypapers.search.marks import MARK_CLOSE, MARK_OPEN  # turned into <mark> after HTML escaping
from dailypapers.search.query import ParsedQuery, excluded_fts5, parse_query, quote_fts, to_fts5, with_names
from dailypapers.store.db import is_postgres

# bm25 weights: title, abstract, authors (PostgreSQL: ts_rank weights in the same proportions).
TITLE_WEIGHT, ABSTRACT_WEIGHT, AUTHORS_WEIGHT = 5.0, 1.0, 2.0
PG_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"  # D (unused), C abstract, B authors, A title

# English function words: in an OR query they match nearly every document, so BM25 must score the whole
# collection (on 110k listings: p50 87 ms with them, see bench/search.py) while adding almost nothing.
STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers him his how i if in into is it its itself just me more most my no nor not of off on once
only or other our ours out over own same she should so some such than that the their theirs them then
there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours
""".split()
)

# Ranking scores every paper a query matches (about 1 µs each on this machine's 110k listings: "on the"
# finds 80k papers and takes 80 ms). Two bounds keep a query's cost near its useful part (bench/search.py):
BROAD_MATCHES = 20_000  # an every-word match wider than this is searched in titles only
COMMON_DOCS = 5_000  # a word in more papers than this is left out of the any-word fallback
# PostgreSQL reads each matching row from the heap (about 1.5 µs a row here) and ranks its tsvector
# (about 5 µs more): of a match wider than this, only the first rows the index finds are ranked
# (ranking the newest instead would read every match first; bench/postgres.py)
PG_RANK_AT_MOST = 2_000
# a full text's tsvector is some 20 times a paper's (read from TOAST): fewer are ranked (bench/fulltext.py)
PG_BODY_RANK_AT_MOST = 200


def without_stopwords(parsed: ParsedQuery) -> ParsedQuery:
    """The query's words less stopwords (all of them kept if nothing else is left)."""
    terms = tuple(t for t in parsed.terms if t not in STOPWORDS) or parsed.terms
    return replace(parsed, terms=terms)


def _loose_words(parsed: ParsedQuery) -> list[str]:
    return [t for t in parsed.terms if t not in STOPWORDS] or list(parsed.terms)


def any_term_fts5(parsed: ParsedQuery) -> str | None:
    """Like :func:`to_fts5`, but any of the words (less stopwords) or phrases may match; authors must
    all match and exclusions still exclude. BM25 then ranks by how many and how rare."""
    loose = [quote_fts(t) for t in (*_loose_words(parsed), *parsed.phrases)]
    strict = [f"authors : {quote_fts(a)}" for a in parsed.authors]
    if not loose and not strict:
        return None
    parts = ([f"({' OR '.join(loose)})"] if loose else []) + strict
    expression = " AND ".join(parts)
    negative = excluded_fts5(parsed)
    return f"({expression}) NOT ({negative})" if negative else expression


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """A paper a keyword search matched, with its score (marked title and snippet empty until
    highlighted)."""

    paper_id: int
    score: float  # higher is better (SQLite: bm25 with the sign flipped; PostgreSQL: ts_rank)
    title_marked: str
    snippet_marked: str


# --------------------------------------------------------------------------------------- filters


def filter_sql(
    parsed: ParsedQuery,
    params: dict[str, Any],
    *,
    categories: tuple[str, ...] = (),
    organizations: tuple[str, ...] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    has_code: bool = False,
    seen_since: datetime | None = None,
    postgres: bool = False,
) -> str:
    """SQL conditions on ``p`` (papers) for the query's and the caller's filters (``seen_since``: papers
    first imported at or after it); fills ``params``."""
    clauses: list[str] = []
    if has_code:
        clauses.append("p.code_url IS NOT NULL AND p.code_url <> ''")
    if seen_since is not None:
        utc = seen_since.astimezone(UTC)
        params["seen_since"] = utc if postgres else utc.strftime("%Y-%m-%d %H:%M:%S.%f")
        clauses.append("p.first_seen_at >= :seen_since")
    lo, hi = parsed.date_range()
    if date_from is not None:
        lo = max(lo, date_from) if lo else date_from
    if date_to is not None:
        hi = min(hi, date_to) if hi else date_to
    if lo is not None:
        start = datetime.combine(lo, dtime.min, UTC)
        params["date_lo"] = start if postgres else f"{lo.isoformat()} 00:00:00.000000"
        clauses.append("p.published_at >= :date_lo")
    if hi is not None:
        end = datetime.combine(hi, dtime.max, UTC)
        params["date_hi"] = end if postgres else f"{hi.isoformat()} 23:59:59.999999"
        clauses.append("p.published_at <= :date_hi")
    elements = "jsonb_array_elements_text(p.categories) c(value)" if postgres else "json_each(p.categories) c"
    for i, category in enumerate((*parsed.categories, *categories)):
        params[f"cat{i}"] = category.lower()
        # a category filter matches the category and its subcategories (cs matches cs.CL)
        params[f"catp{i}"] = category.lower() + ".%"
        clauses.append(
            f"EXISTS (SELECT 1 FROM {elements} WHERE lower(c.value) = :cat{i} "  # nosec B608 # bound parameters
            f"OR lower(c.value) LIKE :catp{i})"
        )
    orgs = (*parsed.organizations, *organizations)
    if orgs:
        names = []
        for i, org in enumerate(orgs):
            params[f"org{i}"] = org.lower()
            names.append(f":org{i}")
        clauses.append(
            "p.organization_id IN (SELECT o.id FROM organizations o WHERE lower(o.name) IN "  # nosec B608 # bound parameters
            f"({', '.join(names)}) OR lower(o.fullname) IN ({', '.join(names)}))"
        )
    return " AND ".join(clauses)


def _exclusion_sql(parsed: ParsedQuery, params: dict[str, Any], postgres: bool) -> str | None:
    """A condition on ``p`` that is false for papers containing an excluded word or phrase."""
    if not parsed.excluded:
        return None
    if postgres:
        parts = []
        for i, x in enumerate(parsed.excluded):
            params[f"x{i}"] = x
            parts.append(f"phraseto_tsquery('english', :x{i})")
        return f"NOT coalesce(p.search_tsv @@ ({' || '.join(parts)}), false)"
    params["neg"] = excluded_fts5(parsed)
    return "p.id NOT IN (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :neg)"


# ------------------------------------------------------------------------------ PostgreSQL queries


@dataclass(slots=True)
class _PgQuery:
    """A tsquery (SQL over bound parameters) and the extra conditions on ``p`` it needs."""

    tsquery: str
    conditions: list[str]
    title_only: bool = False  # the words within titles: the title index (migration 0014) finds them


def _pg_query(
    parsed: ParsedQuery, params: dict[str, Any], *, any_term: bool = False, column: str | None = None
) -> _PgQuery | None:
    words = _loose_words(parsed) if any_term else list(parsed.terms)
    text_parts = []
    for i, word in enumerate(words):
        params[f"w{i}"] = word
        text_parts.append(f"plainto_tsquery('english', :w{i})")
    for i, phrase in enumerate(parsed.phrases):
        params[f"ph{i}"] = phrase
        text_parts.append(f"phraseto_tsquery('english', :ph{i})")
    author_parts = []
    for i, author in enumerate(parsed.authors):
        params[f"au{i}"] = author
        author_parts.append(f"phraseto_tsquery('english', :au{i})")
    if not text_parts and not author_parts:
        return None
    conditions = []
    text_query = f"({(' || ' if any_term else ' && ').join(text_parts)})" if text_parts else None
    if text_query and column == "title":
        conditions.append(f"ts_filter(p.search_tsv, '{{a}}') @@ {text_query}")
    for part in author_parts:  # authors match within the authors (weight B)
        conditions.append(f"ts_filter(p.search_tsv, '{{b}}') @@ {part}")
    tsquery = " && ".join(([text_query] if text_query else []) + author_parts)
    return _PgQuery(tsquery, conditions, title_only=bool(text_query) and column == "title")


def _pg_where(parsed: ParsedQuery, query: _PgQuery, params: dict[str, Any], filters: dict[str, Any]) -> str:
    # a title match is a match of the whole tsvector too: then only the title condition, so that the
    # planner reads the small title index (``ts_filter(search_tsv, '{a}')``, migration 0014) and not the
    # whole index's long lists of common words
    where = [*query.conditions] if query.title_only else ["p.search_tsv @@ q.q", *query.conditions]
    exclusion = _exclusion_sql(parsed, params, True)
    if exclusion:
        where.append(exclusion)
    extra = filter_sql(parsed, params, postgres=True, **filters)
    if extra:
        where.append(extra)
    return " AND ".join(where)


@contextmanager
def _bitmap_scans_only(session: Session) -> Iterator[None]:
    """With a LIMIT, PostgreSQL's planner bets on finding matches early in a sequential or primary-key
    scan, and loses badly when they are few (300 ms instead of 5 at 110k papers): the GIN bitmap scan
    is always right for a text match, so it is the only one allowed for the next statement."""
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_indexscan = off"))
    try:
        yield
    finally:
        session.execute(text("SET LOCAL enable_seqscan = on"))
        session.execute(text("SET LOCAL enable_indexscan = on"))


# ------------------------------------------------------------------------------------ the functions


def match_count(session: Session, parsed: ParsedQuery, cap: int) -> int:
    """How many papers have every word, phrase and author of the query, counted up to ``cap`` (cheap:
    nothing is ranked)."""
    if is_postgres(session):
        params: dict[str, Any] = {"cap": cap}
        query = _pg_query(parsed, params)
        if query is None:
            return 0
        where = " AND ".join(["p.search_tsv @@ q.q", *query.conditions])
        sql = (
            f"SELECT count(*) FROM (SELECT 1 FROM papers p, (SELECT {query.tsquery} AS q) q "  # nosec B608 # bound parameters
            f"WHERE {where} LIMIT :cap) s"
        )
        with _bitmap_scans_only(session):
            return int(session.execute(text(sql), params).scalar_one())
    expression = to_fts5(parsed)
    if expression is None:
        return 0
    sql = "SELECT count(*) FROM (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :expr LIMIT :cap)"
    return int(session.execute(text(sql), {"expr": expression, "cap": cap}).scalar_one())


def is_name(session: Session, kind: str, name: str) -> bool:
    """Whether some paper has the author ``name`` (``kind`` "author", as ``author:`` matches) or some
    organization is called ``name`` (``kind`` "org")."""
    if kind == "author":
        return match_count(session, ParsedQuery(authors=(name,)), 1) > 0
    row = session.execute(
        text("SELECT 1 FROM organizations WHERE lower(name) = :n OR lower(fullname) = :n LIMIT 1"),
        {"n": name},
    ).first()
    return row is not None


def parse(session: Session, query: str) -> ParsedQuery:
    """:func:`parse_query`, with unquoted author and organization names extended over the words after
    them as far as the collection has such a name (``author:yue ma diffusion``)."""
    return with_names(parse_query(query), lambda kind, name: is_name(session, kind, name))


class TermCounts:
    """Papers per word, remembered for ``ttl`` seconds (a word's count moves slowly; it only decides
    which words are too common to rank on). SQLite counts each word's papers up to
    :data:`COMMON_DOCS` + 1; PostgreSQL reads the planner's statistics (:meth:`_from_statistics`)."""

    def __init__(self, ttl: float = 300.0, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        # PostgreSQL: lexeme -> papers, the count below which unlisted lexemes fall, when read
        self._pg_lexemes: dict[str, int] = {}
        self._pg_below = 0
        self._pg_rows = 0
        self._pg_read_at: float | None = None

    def get(self, session: Session, terms: tuple[str, ...]) -> dict[str, int]:
        if is_postgres(session):
            return self._from_statistics(session, terms)
        now = time.monotonic()
        out: dict[str, int] = {}
        for term in dict.fromkeys(terms):
            cached = self._counts.get(term)
            if cached is not None and now - cached[1] < self.ttl:
                out[term] = cached[0]
                continue
            out[term] = match_count(session, ParsedQuery(terms=(term,)), COMMON_DOCS + 1)
            with self._lock:
                if len(self._counts) >= self.max_entries:
                    self._counts.clear()
                self._counts[term] = (out[term], now)
        return out

    @property
    def pg_rows(self) -> int:
        """PostgreSQL: the papers the statistics were taken over (as of the last :meth:`get`)."""
        return self._pg_rows

    def _read_statistics(self, session: Session) -> None:
        row = session.execute(
            text(
                "SELECT s.most_common_elems::text::text[] AS elems, s.most_common_elem_freqs AS freqs, "
                "greatest(c.reltuples, 0) AS rows FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
                "WHERE s.tablename = 'papers' AND s.attname = 'search_tsv' "
                "AND s.schemaname = current_schema() "
                "AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
            )
        ).first()
        lexemes: dict[str, int] = {}
        below = 0
        if row is not None and row.elems:
            lexemes = {
                lexeme: round(freq * row.rows) for lexeme, freq in zip(row.elems, row.freqs, strict=False)
            }
            if len(row.freqs) > len(row.elems):  # after the list: its minimum frequency
                below = round(row.freqs[len(row.elems)] * row.rows)
        with self._lock:
            self._pg_lexemes, self._pg_below, self._pg_read_at = lexemes, below, time.monotonic()
            self._pg_rows = int(row.rows) if row is not None else 0

    def _from_statistics(self, session: Session, terms: tuple[str, ...]) -> dict[str, int]:
        """PostgreSQL: counting a common word's papers reads every one of them (10–35 ms at 110k), so
        the counts come from the planner's statistics instead: ANALYZE keeps the most common lexemes of
        ``search_tsv`` with the share of rows holding each (statistics target 10,000, migration 0007:
        the 100,000 most common). Read at most once per ``ttl``."""
        if self._pg_read_at is None or time.monotonic() - self._pg_read_at >= self.ttl:
            self._read_statistics(session)
        lexemes, below = self._pg_lexemes, self._pg_below
        # a word missing from the statistics counts 0 (rare) when the list reaches below COMMON_DOCS,
        # else as many as the least common word listed: at most that many, and possibly common
        unlisted = 0 if below <= COMMON_DOCS else below
        unique = list(dict.fromkeys(terms))
        if not unique or not lexemes:
            return dict.fromkeys(unique, 0)
        rows = session.execute(
            text(
                "SELECT w, coalesce((SELECT array_agg(lexeme) FROM unnest(to_tsvector('english', w))), '{}') "
                "AS lexemes "
                "FROM unnest(CAST(:words AS text[])) AS w"
            ),
            {"words": unique},
        )
        # a word that stems to several lexemes ("c++" → c) counts as its most common one
        return {r.w: max((lexemes.get(x, unlisted) for x in r.lexemes), default=0) for r in rows}


def broad(session: Session, parsed: ParsedQuery, counts: dict[str, int], term_counts: TermCounts) -> bool:
    """Whether the query's words all together match more than :data:`BROAD_MATCHES` papers (then they are
    ranked within titles). SQLite counts them (up to that many: cheap in FTS5). PostgreSQL estimates
    them from the words' counts in the planner's statistics, as if the words were independent: counting
    reads every matching row from the table (0.4–1 s for two common words at 1M papers), the estimate
    nothing."""
    if not is_postgres(session):
        return match_count(session, parsed, BROAD_MATCHES + 1) > BROAD_MATCHES
    rows = term_counts.pg_rows
    if rows <= 0:
        return False
    estimate = float(rows)
    for term in dict.fromkeys(parsed.terms):
        estimate *= min(counts.get(term, 0), rows) / rows
    return estimate > BROAD_MATCHES


def fallback_query(parsed: ParsedQuery, counts: dict[str, int]) -> ParsedQuery:
    """The words worth an any-word search: not stopwords, in at most :data:`COMMON_DOCS` papers
    (phrases, authors and exclusions kept). Keeping every such word matters: capping long queries at
    their 12 rarest words cost MED and CISI hybrid nDCG@10 0.02 (``dailypapers eval beir``)."""
    words = [t for t in parsed.terms if t not in STOPWORDS and counts.get(t, 0) <= COMMON_DOCS]
    return replace(parsed, terms=tuple(words))


def keyword_hits(
    session: Session,
    parsed: ParsedQuery,
    *,
    limit: int = 200,
    any_term: bool = False,
    column: str | None = None,
    **filters: Any,
) -> list[KeywordHit]:
    """Papers matching the query's text (every word, or ``any_term``; words within ``column``, only
    ``"title"`` supported, when given), best first (at most ``limit``), after the filters. Highlights
    are left empty: :func:`highlights` fills them for one page."""
    if column not in (None, "title"):
        raise ValueError(f"unknown column {column!r}")
    params: dict[str, Any] = {"limit": limit}
    if is_postgres(session):
        query = _pg_query(parsed, params, any_term=any_term, column=column)
        if query is None:
            return []
        params["rank_at_most"] = PG_RANK_AT_MOST
        sql = f"""
            SELECT m.id, ts_rank('{PG_WEIGHTS}', m.search_tsv, m.q) AS rank
            FROM (SELECT p.id, p.search_tsv, q.q FROM papers p, (SELECT {query.tsquery} AS q) q
                  WHERE {_pg_where(parsed, query, params, filters)}
                  LIMIT :rank_at_most) m
            ORDER BY rank DESC, m.id
            LIMIT :limit
        """  # nosec B608 # bound parameters
        with _bitmap_scans_only(session):
            return [KeywordHit(r.id, float(r.rank), "", "") for r in session.execute(text(sql), params)]
    expression = any_term_fts5(parsed) if any_term else to_fts5(parsed, column=column)
    if expression is None:
        return []
    params["expr"] = expression
    where = filter_sql(parsed, params, **filters)
    join = "JOIN papers p ON p.id = f.rowid" if where else ""
    sql = f"""
        SELECT f.rowid AS id, bm25(papers_fts, {TITLE_WEIGHT}, {ABSTRACT_WEIGHT}, {AUTHORS_WEIGHT}) AS rank
        FROM papers_fts f {join}
        WHERE papers_fts MATCH :expr {"AND " + where if where else ""}
        ORDER BY rank
        LIMIT :limit
    """  # nosec B608 # bound parameters
    return [KeywordHit(r.id, -float(r.rank), "", "") for r in session.execute(text(sql), params)]


def body_hits(session: Session, parsed: ParsedQuery, *, limit: int = 200, **filters: Any) -> list[KeywordHit]:
    """Papers whose full text (from arXiv's HTML) holds every word and phrase of the query, best first
    (BM25 on SQLite, ``ts_rank`` on PostgreSQL; at most ``limit``), that pass the filters, the query's
    authors and its exclusions (both on the paper's own fields)."""
    words = ParsedQuery(terms=parsed.terms, phrases=parsed.phrases)
    params: dict[str, Any] = {"limit": limit * 2 if parsed.authors else limit}
    if is_postgres(session):
        query = _pg_query(words, params)
        if query is None:
            return []
        # a body's tsvector is long (TOASTed): as for papers, only the first matches found are ranked
        params["rank_at_most"] = PG_BODY_RANK_AT_MOST
        sql = f"""
            SELECT m.paper_id AS id, ts_rank(m.search_tsv, m.q) AS rank
            FROM (SELECT t.paper_id, t.search_tsv, q.q FROM paper_texts t, (SELECT {query.tsquery} AS q) q
                  WHERE t.search_tsv @@ q.q LIMIT :rank_at_most) m
            ORDER BY rank DESC, m.paper_id
            LIMIT :limit
        """  # nosec B608 # bound parameters
        # the texts' tsvectors live in TOAST, so the planner prices a sequential scan of the small main
        # table low and then reads every text (16 ms at 2,000 texts where the index takes 1)
        with _bitmap_scans_only(session):
            rows = [(r.id, float(r.rank)) for r in session.execute(text(sql), params)]
    else:
        expression = to_fts5(words)
        if expression is None:
            return []
        params["expr"] = expression
        sql = """
            SELECT rowid AS id, bm25(paper_texts_fts) AS rank FROM paper_texts_fts
            WHERE paper_texts_fts MATCH :expr ORDER BY rank LIMIT :limit
        """
        rows = [(r.id, -float(r.rank)) for r in session.execute(text(sql), params)]
    if not rows:
        return []
    allowed = filtered_ids(session, parsed, [i for i, _ in rows], **filters)
    if parsed.authors:
        by_author = keyword_hits(session, ParsedQuery(authors=parsed.authors), limit=100_000)
        allowed &= {h.paper_id for h in by_author}
    return [KeywordHit(i, score, "", "") for i, score in rows if i in allowed][:limit]


def newest_matches(
    session: Session, parsed: ParsedQuery, *, limit: int = 100, offset: int = 0, **filters: Any
) -> list[int]:
    """Papers matching every word of the query's text (after the filters), the most recently imported
    first: an index walk from the newest id, not a ranking of every match (saved searches and author
    follows ask "what is new", many times a page)."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if is_postgres(session):
        query = _pg_query(parsed, params, any_term=False, column=None)
        if query is None:
            return []
        sql = f"""
            SELECT p.id FROM papers p, (SELECT {query.tsquery} AS q) q
            WHERE {_pg_where(parsed, query, params, filters)}
            ORDER BY p.id DESC LIMIT :limit OFFSET :offset
        """  # nosec B608 # bound parameters
        with _bitmap_scans_only(session):
            return [row[0] for row in session.execute(text(sql), params)]
    expression = to_fts5(parsed)
    if expression is None:
        return []
    params["expr"] = expression
    where = filter_sql(parsed, params, **filters)
    join = "JOIN papers p ON p.id = f.rowid" if where else ""
    sql = f"""
        SELECT f.rowid AS id FROM papers_fts f {join}
        WHERE papers_fts MATCH :expr {"AND " + where if where else ""}
        ORDER BY f.rowid DESC LIMIT :limit OFFSET :offset
    """  # nosec B608 # bound parameters
    return [row[0] for row in session.execute(text(sql), params)]


def newest_in_category(session: Session, category: str, *, limit: int = 100) -> list[int]:
    """The most recently imported papers in an arXiv category or archive (``cs.CL``, ``cs``; any case),
    from the ``paper_categories`` index (migration 0021)."""
    rows = session.execute(
        text(
            "SELECT paper_id FROM paper_categories WHERE category = :category "
            "ORDER BY paper_id DESC LIMIT :limit"
        ),
        {"category": category.lower(), "limit": limit},
    )
    return [row[0] for row in rows]


def highlights(
    session: Session, parsed: ParsedQuery, ids: list[int], *, papers: Mapping[int, Any] | None = None
) -> dict[int, tuple[str, str]]:
    """(title, abstract snippet) with \x02…\x03 around the query's words, for the papers ``ids``.
    PostgreSQL marks them in Python, from ``papers`` (id -> a loaded paper) where given."""
    if not ids:
        return {}
    placeholders = ", ".join(str(int(i)) for i in ids)
    if is_postgres(session):
        # marked in Python (dailypapers.search.marks): ts_headline took a third of a search at 1M papers
        lexemes = marks.query_lexemes((*_loose_words(parsed), *parsed.phrases))
        if not lexemes:
            return {}
        loaded = papers or {}
        texts = {i: (loaded[i].title, loaded[i].abstract or "") for i in ids if i in loaded}
        missing = ", ".join(str(int(i)) for i in ids if i not in texts)
        if missing:
            sql = f"SELECT id, title, coalesce(abstract, '') AS abstract FROM papers WHERE id IN ({missing})"  # nosec B608 # integers
            texts.update((r.id, (r.title, r.abstract)) for r in session.execute(text(sql)))
        return {i: (marks.mark_all(t, lexemes), marks.snippet(a, lexemes)) for i, (t, a) in texts.items()}
    expression = any_term_fts5(parsed)
    if expression is None:
        return {}
    sql = f"""
        SELECT rowid AS id, highlight(papers_fts, 0, :mo, :mc) AS title_marked,
               snippet(papers_fts, 1, :mo, :mc, '…', 40) AS snippet_marked
        FROM papers_fts WHERE papers_fts MATCH :expr AND rowid IN ({placeholders})
    """  # nosec B608 # bound parameters
    rows = session.execute(text(sql), {"expr": expression, "mo": MARK_OPEN, "mc": MARK_CLOSE})
    return {r.id: (r.title_marked, r.snippet_marked) for r in rows}


def _conditions(
    session: Session, parsed: ParsedQuery, params: dict[str, Any], filters: dict[str, Any]
) -> str:
    postgres = is_postgres(session)
    where = [filter_sql(parsed, params, postgres=postgres, **filters)]
    where.append(_exclusion_sql(parsed, params, postgres) or "")
    return " AND ".join(w for w in where if w)


def filtered_ids(session: Session, parsed: ParsedQuery, ids: list[int], **filters: Any) -> set[int]:
    """Which of ``ids`` pass the filters and the query's exclusions (for semantic results)."""
    if not ids:
        return set()
    params: dict[str, Any] = {}
    conditions = _conditions(session, parsed, params, filters)
    if not conditions:
        return set(ids)
    placeholders = ", ".join(str(int(i)) for i in ids)
    sql = f"SELECT p.id FROM papers p WHERE p.id IN ({placeholders}) AND {conditions}"  # nosec B608 # bound parameters
    return {row[0] for row in session.execute(text(sql), params)}


def only_filters(session: Session, parsed: ParsedQuery, *, limit: int = 200, **filters: Any) -> list[int]:
    """Papers that pass the filters when the query has no text (``cat:cs.CL year:2025``), newest first."""
    params: dict[str, Any] = {"limit": limit}
    conditions = _conditions(session, parsed, params, filters) or "1 = 1"
    nulls = " NULLS LAST" if is_postgres(session) else ""
    sql = (
        f"SELECT p.id FROM papers p WHERE {conditions} "  # nosec B608 # bound parameters
        f"ORDER BY p.published_at DESC{nulls}, p.id DESC LIMIT :limit"
    )
    return [row[0] for row in session.execute(text(sql), params)]
