"""Keyword search: SQLite FTS5 over title, abstract and authors, ranked by BM25 with field weights.

The query goes through :func:`dailypapers.search.query.parse_query` and :func:`to_fts5`, which quote
every user term, so no input can break a ``MATCH``. Filters (dates, categories, organizations) are
plain SQL on ``papers``. Returns paper ids in rank order, with a highlighted title/snippet for each.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from dailypapers.search.query import ParsedQuery, excluded_fts5, quote_fts, to_fts5

# bm25 weights: title, abstract, authors.
TITLE_WEIGHT, ABSTRACT_WEIGHT, AUTHORS_WEIGHT = 5.0, 1.0, 2.0
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"  # highlight markers, turned into <mark> after HTML escaping

# English function words: in an OR query they match nearly every document, so BM25 must score the whole
# collection (on 110k listings: p50 87 ms with them, see bench/search.py) while adding almost nothing.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers him his how i if in into is it its itself just me more most my no nor not of off on once
only or other our ours out over own same she should so some such than that the their theirs them then
there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours
""".split())


def without_stopwords(parsed: ParsedQuery) -> ParsedQuery:
    """The query's words less stopwords (all of them kept if nothing else is left)."""
    terms = tuple(t for t in parsed.terms if t not in STOPWORDS) or parsed.terms
    return replace(parsed, terms=terms)


def any_term_fts5(parsed: ParsedQuery) -> str | None:
    """Like :func:`to_fts5`, but any of the words (less stopwords) or phrases may match; authors must
    all match and exclusions still exclude. BM25 then ranks by how many and how rare."""
    words = [t for t in parsed.terms if t not in STOPWORDS] or list(parsed.terms)
    loose = [quote_fts(t) for t in (*words, *parsed.phrases)]
    strict = [f"authors : {quote_fts(a)}" for a in parsed.authors]
    if not loose and not strict:
        return None
    parts = ([f"({' OR '.join(loose)})"] if loose else []) + strict
    expression = " AND ".join(parts)
    negative = excluded_fts5(parsed)
    return f"({expression}) NOT ({negative})" if negative else expression


@dataclass(frozen=True, slots=True)
class KeywordHit:
    paper_id: int
    score: float  # bm25: higher is better here (sign flipped)
    title_marked: str
    snippet_marked: str


def filter_sql(parsed: ParsedQuery, params: dict[str, Any], *, categories: tuple[str, ...] = (),
               organizations: tuple[str, ...] = (), date_from: date | None = None,
               date_to: date | None = None) -> str:
    """SQL conditions on ``p`` (papers) for the query's and the caller's filters; fills ``params``."""
    clauses: list[str] = []
    lo, hi = parsed.date_range()
    if date_from is not None:
        lo = max(lo, date_from) if lo else date_from
    if date_to is not None:
        hi = min(hi, date_to) if hi else date_to
    if lo is not None:
        params["date_lo"] = f"{lo.isoformat()} 00:00:00.000000"
        clauses.append("p.published_at >= :date_lo")
    if hi is not None:
        params["date_hi"] = f"{hi.isoformat()} 23:59:59.999999"
        clauses.append("p.published_at <= :date_hi")
    for i, category in enumerate((*parsed.categories, *categories)):
        params[f"cat{i}"] = category.lower()
        # a category filter matches the category and its subcategories (cs matches cs.CL)
        params[f"catp{i}"] = category.lower() + ".%"
        clauses.append(f"EXISTS (SELECT 1 FROM json_each(p.categories) c WHERE lower(c.value) = :cat{i} "
                       f"OR lower(c.value) LIKE :catp{i})")
    orgs = (*parsed.organizations, *organizations)
    if orgs:
        names = []
        for i, org in enumerate(orgs):
            params[f"org{i}"] = org.lower()
            names.append(f":org{i}")
        clauses.append("p.organization_id IN (SELECT o.id FROM organizations o WHERE lower(o.name) IN "
                       f"({', '.join(names)}) OR lower(o.fullname) IN ({', '.join(names)}))")
    return " AND ".join(clauses)


def keyword_hits(session: Session, parsed: ParsedQuery, *, limit: int = 200, any_term: bool = False,
                 **filters: Any) -> list[KeywordHit]:
    """Papers matching the query's text (every word, or ``any_term``), best first (at most ``limit``),
    after the filters. Highlights are left empty: :func:`highlights` fills them for one page."""
    expression = any_term_fts5(parsed) if any_term else to_fts5(parsed)
    if expression is None:
        return []
    params: dict[str, Any] = {"expr": expression, "limit": limit}
    where = filter_sql(parsed, params, **filters)
    join = "JOIN papers p ON p.id = f.rowid" if where else ""
    sql = f"""
        SELECT f.rowid AS id, bm25(papers_fts, {TITLE_WEIGHT}, {ABSTRACT_WEIGHT}, {AUTHORS_WEIGHT}) AS rank
        FROM papers_fts f {join}
        WHERE papers_fts MATCH :expr {"AND " + where if where else ""}
        ORDER BY rank
        LIMIT :limit
    """
    return [KeywordHit(r.id, -float(r.rank), "", "") for r in session.execute(text(sql), params)]


def highlights(session: Session, parsed: ParsedQuery, ids: list[int]) -> dict[int, tuple[str, str]]:
    """(title, abstract snippet) with \x02…\x03 around the query's words, for the papers ``ids``."""
    expression = any_term_fts5(parsed)
    if expression is None or not ids:
        return {}
    placeholders = ", ".join(str(int(i)) for i in ids)
    sql = f"""
        SELECT rowid AS id, highlight(papers_fts, 0, :mo, :mc) AS title_marked,
               snippet(papers_fts, 1, :mo, :mc, '…', 40) AS snippet_marked
        FROM papers_fts WHERE papers_fts MATCH :expr AND rowid IN ({placeholders})
    """
    rows = session.execute(text(sql), {"expr": expression, "mo": MARK_OPEN, "mc": MARK_CLOSE})
    return {r.id: (r.title_marked, r.snippet_marked) for r in rows}


def filtered_ids(session: Session, parsed: ParsedQuery, ids: list[int], **filters: Any) -> set[int]:
    """Which of ``ids`` pass the filters and the query's exclusions (for semantic results)."""
    if not ids:
        return set()
    params: dict[str, Any] = {}
    where = [filter_sql(parsed, params, **filters)]
    negative = excluded_fts5(parsed)
    if negative:
        params["neg"] = negative
        where.append("p.id NOT IN (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :neg)")
    placeholders = ", ".join(str(int(i)) for i in ids)
    conditions = " AND ".join(w for w in where if w)
    sql = f"SELECT p.id FROM papers p WHERE p.id IN ({placeholders}) {'AND ' + conditions if conditions else ''}"
    return {row[0] for row in session.execute(text(sql), params)}


def only_filters(session: Session, parsed: ParsedQuery, *, limit: int = 200, **filters: Any) -> list[int]:
    """Papers that pass the filters when the query has no text (``cat:cs.CL year:2025``), newest first."""
    params: dict[str, Any] = {"limit": limit}
    where = [filter_sql(parsed, params, **filters)]
    negative = excluded_fts5(parsed)
    if negative:
        params["neg"] = negative
        where.append("p.id NOT IN (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :neg)")
    conditions = " AND ".join(w for w in where if w) or "1"
    sql = f"SELECT p.id FROM papers p WHERE {conditions} ORDER BY p.published_at DESC, p.id DESC LIMIT :limit"
    return [row[0] for row in session.execute(text(sql), params)]
