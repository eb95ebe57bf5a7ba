"""The JSON API, compatible with Hugging Face's papers API (same paths, parameters, field names and
nesting), so ``huggingface_hub.HfApi(endpoint=...)`` and other clients work unchanged."""

from __future__ import annotations

import re

import base64
import binascii
from datetime import date as Date
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from dailypapers.community.actions import latest_entry
from dailypapers.errors import BadRequest, NotFound
from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id
from dailypapers.periods import Period, day_period, parse_day, parse_month, parse_week, today
from dailypapers.rank import trending
from dailypapers.search.hybrid import MODES, SORTS as SEARCH_SORTS, Filters, SearchResults
from dailypapers.search.query import parse_years
from dailypapers.store import queries
from dailypapers.store.models import Paper
from dailypapers.web.deps import DB, Search
from dailypapers.web.guards import MAX_VALUES_PER_PARAMETER
from dailypapers.web.serializers import built_on_json, entry_json, paper_json, repos_json, search_item_json

router = APIRouter(prefix="/api", tags=["papers"])
SORTS = ("publishedAt", "trending", "upvotes", "stars")
DID_YOU_MEAN = "X-Did-You-Mean"  # a search's corrected query (see search_papers)


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {number}")
    return number


def _next_link(request: Request, **changes: Any) -> str:
    params = dict(request.query_params)
    params.update({k: str(v) for k, v in changes.items()})
    return f'<{request.url.replace(query=urlencode(params))}>; rel="next"'


def resolve_period(session: Any, date: str | None, week: str | None, month: str | None) -> Period | None:
    """The period a listing asks for; ``None`` with no date, week or month (the latest day)."""
    given = [(k, v) for k, v in (("date", date), ("week", week), ("month", month)) if v]
    if len(given) > 1:
        raise BadRequest("give at most one of date, week and month")
    if not given:
        day = queries.latest_day(session, today())
        return day_period(day) if day else None
    kind, value = given[0]
    return {"date": parse_day, "week": parse_week, "month": parse_month}[kind](value)


def paper_or_404(session: Any, arxiv_id: str) -> Any:
    """The paper under any spelling of its arXiv id, or :class:`NotFound`."""
    try:
        canonical, _ = canonical_arxiv_id(arxiv_id)
    except InvalidArxivId:
        raise NotFound(f"no paper {arxiv_id!r}") from None
    paper = queries.paper_by_arxiv_id(session, canonical)
    if paper is None:
        raise NotFound(f"no paper {canonical}")
    return paper


@router.get("/daily_papers", summary="Daily papers of a day, week or month")
def daily_papers(
    request: Request,
    response: Response,
    db: DB,
    p: Annotated[str | None, Query(description="Page number, from 0.")] = None,
    limit: Annotated[str | None, Query(description="Papers per page, 1 to 100 (default 50).")] = None,
    date: Annotated[str | None, Query(description="Day, YYYY-MM-DD (default: the latest day).")] = None,
    week: Annotated[str | None, Query(description="ISO week, YYYY-Www.")] = None,
    month: Annotated[str | None, Query(description="Month, YYYY-MM.")] = None,
    submitter: Annotated[str | None, Query(description="Only papers submitted by this user.")] = None,
    sort: Annotated[
        str | None, Query(description="upvotes (default), publishedAt, trending or stars (GitHub).")
    ] = None,
    has_code: Annotated[str | None, Query(description="true: only papers with a code repository.")] = None,
    category: Annotated[
        str | None, Query(description="Only papers in this arXiv category (cs.CL; cs for all of cs).")
    ] = None,
    year: Annotated[
        str | None, Query(description="Only papers first published on arXiv in: 2025, 2020..2024, >=2023.")
    ] = None,
) -> list[dict[str, Any]]:
    """Papers listed on a day, week or month (default: the latest day), most upvoted first unless `sort`
    says otherwise; `sort=trending` without a period gives the trending listing. A `Link` header points to
    the next page."""
    page = _int(p, "p", 0, 0, 100_000)
    size = _int(limit, "limit", 50, 1, 100)
    order = sort or "upvotes"
    if order not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    filters = parse_list_filter(has_code, category, year)
    with db.session() as session:
        if order == "trending" and not (date or week or month):
            scored, total = trending.trending_entries(
                session, limit=size, offset=page * size, filters=filters
            )
            entries = [entry for entry, _ in scored]
        else:
            period = resolve_period(session, date, week, month)
            if period is None:
                return []
            if order == "trending":
                entries, total = queries.list_entries(
                    session, period.start, period.end, submitter=submitter, filters=filters, limit=100_000
                )
                reference = trending.reference_time(session)
                entries.sort(key=lambda e: -trending.explain(e, reference).score)
                entries = entries[page * size : (page + 1) * size]
            else:
                entries, total = queries.list_entries(
                    session,
                    period.start,
                    period.end,
                    sort=order,
                    submitter=submitter,
                    filters=filters,
                    limit=size,
                    offset=page * size,
                )
        body = [entry_json(e) for e in entries]
    if (page + 1) * size < total:
        response.headers["Link"] = _next_link(request, p=page + 1)
    return body


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_filters(
    date_from: str | None = None,
    date_to: str | None = None,
    categories: list[str] | None = None,
    organizations: list[str] | None = None,
    has_code: str | None = None,
    full_text: str | None = None,
) -> Filters:
    """The search filters from request parameters (empty values ignored); a bad date or flag is a 400."""

    def day(value: str | None, name: str) -> Date | None:
        if not value or not value.strip():
            return None
        try:
            return Date.fromisoformat(value.strip())
        except ValueError:
            raise BadRequest(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None

    first, last = day(date_from, "from"), day(date_to, "to")
    if first and last and last < first:
        raise BadRequest(f"to ({last}) is before from ({first})")

    def clean(values: list[str] | None, name: str) -> tuple[str, ...]:
        # "cs.CL, cs.LG" in one field (the search form) is two values; each is one SQL condition
        # control characters name nothing (and PostgreSQL refuses NUL in text): dropped
        text = (_CONTROL.sub("", value or "") for value in values or ())
        parts = (part.strip() for value in text for part in value.split(","))
        unique = tuple(dict.fromkeys(part for part in parts if part))
        if len(unique) > MAX_VALUES_PER_PARAMETER:
            raise BadRequest(f"{name}: at most {MAX_VALUES_PER_PARAMETER} values, got {len(unique)}")
        return unique

    return Filters(
        date_from=first,
        date_to=last,
        categories=clean(categories, "category"),
        organizations=clean(organizations, "organization"),
        has_code=parse_flag(has_code, "has_code"),
        full_text=parse_flag(full_text, "fulltext"),
    )


_CATEGORY = re.compile(r"[a-z][a-z-]{0,30}(?:\.[a-z][a-z-]{0,30})?", re.IGNORECASE)


def parse_list_filter(
    has_code: str | None = None, category: str | None = None, year: str | None = None
) -> queries.PaperFilter:
    """A list's filter from request parameters (``has_code``, ``category``, ``year``; empty values
    ignored); a bad value is a 400 naming the parameter and saying what it takes."""
    name = (category or "").strip()
    if name and not _CATEGORY.fullmatch(name):
        raise BadRequest(
            f"category must be an arXiv category such as cs.CL (or cs for all of cs), got {name[:60]!r}"
        )
    years: tuple[int | None, int | None] | None = (None, None)
    if year and year.strip():
        years = parse_years(year.strip())
        if years is None:
            raise BadRequest(
                f"year must be a year such as 2025, a range 2020..2024 or >=2023, got {year[:40]!r}"
            )
    return queries.PaperFilter(
        code=parse_flag(has_code, "has_code"), category=name or None, year_from=years[0], year_to=years[1]
    )


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def parse_flag(value: str | None, name: str) -> bool:
    """A yes/no request parameter (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``;
    absent or empty: no); anything else is a 400 naming it."""
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadRequest(f"{name} must be true or false, got {value[:100]!r}")


def check_mode_sort(mode: str | None, sort: str | None) -> tuple[str, str]:
    """``mode`` and ``sort`` of a search (defaults hybrid and relevance); an unknown value is a 400."""
    mode, sort = mode or "hybrid", sort or "relevance"
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if sort not in SEARCH_SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SEARCH_SORTS)}, got {sort!r}")
    return mode, sort


@router.get("/papers/search", summary="Search papers (hybrid: keywords and meaning)")
def search_papers(
    db: DB,
    search: Search,
    response: Response,
    q: Annotated[
        str,
        Query(
            description='What to search for; supports "phrases", -exclusions, author:, '
            "cat:, org:, year:, after:, before:."
        ),
    ] = "",
    limit: Annotated[
        str | None, Query(description="At most this many results, 1 to 120 (default 50).")
    ] = None,
    mode: Annotated[str | None, Query(description="hybrid (default), keyword or semantic.")] = None,
    sort: Annotated[
        str | None, Query(description="relevance (default), date, upvotes or stars (GitHub).")
    ] = None,
    date_from: Annotated[
        str | None, Query(alias="from", description="Published on or after (YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[
        str | None, Query(alias="to", description="Published on or before (YYYY-MM-DD).")
    ] = None,
    category: Annotated[
        list[str] | None, Query(description="arXiv category, e.g. cs.CL or cs (repeatable: in all of them).")
    ] = None,
    organization: Annotated[
        list[str] | None, Query(description="Organization name (repeatable: from any of them).")
    ] = None,
    has_code: Annotated[str | None, Query(description="true: only papers with a code repository.")] = None,
    fulltext: Annotated[
        str | None,
        Query(
            description="true: keywords found in papers' full texts count too (after titles and abstracts)."
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """Papers matching `q` (by keywords and meaning unless `mode` says otherwise) within the filters
    given, most relevant first unless `sort` says otherwise. When a word of `q` is in no paper and a
    correction finds papers, the `X-Did-You-Mean` header carries the corrected query (percent-encoded
    UTF-8); the body stays Hugging Face's list."""
    size = _int(limit, "limit", 50, 1, 120)
    mode, order = check_mode_sort(mode, sort)
    filters = parse_filters(date_from, date_to, category, organization, has_code, fulltext)
    with db.session() as session:
        results = search.search(session, q, mode=mode, limit=size, filters=filters, sort=order)
        if results.suggestion:
            response.headers[DID_YOU_MEAN] = quote(results.suggestion, safe=" ")
        return search_items(session, results)


def search_items(session: Any, results: SearchResults) -> list[dict[str, Any]]:
    """The Hugging Face search item of each hit, in order."""
    papers = [results.papers[h.paper_id] for h in results.hits if h.paper_id in results.papers]
    latest = queries.latest_entries_for(session, [paper.id for paper in papers])
    return [search_item_json(paper, latest.get(paper.id)) for paper in papers]


@router.get("/papers/trending/github", summary="Trending on GitHub: most stars gained between imports")
def github_trending(
    db: DB,
    p: Annotated[str | None, Query(description="Page number, from 0.")] = None,
    limit: Annotated[str | None, Query(description="Papers per page, 1 to 100 (default 50).")] = None,
) -> list[dict[str, Any]]:
    """The papers whose GitHub stars rose the most at their latest import, over the 7 days up to the
    newest such import: each a search item plus ``starsGained``."""
    page = _int(p, "p", 0, 0, 100_000)
    size = _int(limit, "limit", 50, 1, 100)
    with db.session() as session:
        found, _ = queries.github_trending(session, limit=size, offset=page * size)
        return [
            {**search_item_json(paper, latest_entry(paper)), "starsGained": gained} for paper, gained in found
        ]


@router.get("/papers/{arxiv_id:path}/related", summary="Papers related to one paper")
def related_papers(
    db: DB,
    search: Search,
    arxiv_id: str,
    limit: Annotated[str | None, Query(description="At most this many papers, 1 to 50 (default 10).")] = None,
) -> list[dict[str, Any]]:
    """The nearest papers by meaning (by shared title words without vectors), each with ``similarity``
    (cosine similarity, or null for a title-word match)."""
    size = _int(limit, "limit", 10, 1, 50)
    with db.session() as session:
        paper = paper_or_404(session, arxiv_id)
        return related_items(session, search.related(session, paper, limit=size))


def hit_items(session: Any, hits: list[Any], fields: Any = None) -> list[dict[str, Any]]:
    """Search-result items for ``hits`` (papers gone meanwhile left out), each with ``fields(hit, paper)``
    merged in when given."""
    papers = load_papers(session, [h.paper_id for h in hits])
    latest = queries.latest_entries_for(session, list(papers))
    return [
        {
            **search_item_json(papers[h.paper_id], latest.get(h.paper_id)),
            **(fields(h, papers[h.paper_id]) if fields else {}),
        }
        for h in hits
        if h.paper_id in papers
    ]


def related_items(session: Any, hits: list[Any]) -> list[dict[str, Any]]:
    """Related papers as items with ``similarity`` (null for a title-word match)."""
    return hit_items(
        session,
        hits,
        lambda hit, _: {"similarity": None if hit.similarity is None else round(float(hit.similarity), 4)},
    )


@router.get("/papers/{arxiv_id:path}/concurrent", summary="Concurrent work: same time, very close meaning")
def concurrent_papers(
    db: DB,
    search: Search,
    arxiv_id: str,
    limit: Annotated[str | None, Query(description="At most this many papers, 1 to 20 (default 5).")] = None,
) -> list[dict[str, Any]]:
    """Papers first published within 14 days of this one whose meaning is very close (cosine similarity
    of their vectors at least 0.82), closest first, each with ``similarity`` and ``daysApart`` (negative:
    published before). Empty where the site has no vectors."""
    size = _int(limit, "limit", 5, 1, 20)
    with db.session() as session:
        paper = paper_or_404(session, arxiv_id)
        return hit_items(
            session,
            search.concurrent(session, paper, limit=size),
            lambda hit, other: {
                "similarity": round(float(hit.similarity or 0.0), 4),
                "daysApart": (other.published_at.date() - paper.published_at.date()).days,
            },
        )


def load_papers(session: Any, ids: list[int]) -> dict[int, Paper]:
    """Papers by id (with their organization), for hits."""
    if not ids:
        return {}
    rows = session.scalars(select(Paper).where(Paper.id.in_(ids)).options(joinedload(Paper.organization)))
    return {p.id: p for p in rows.unique()}


def _decode_cursor(cursor: str) -> tuple[datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
        published, _, paper_id = raw.partition("|")
        when = datetime.fromisoformat(published) if published else None
        number = int(paper_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(f"invalid cursor {cursor!r}") from None
    if (when is not None and when.tzinfo is None) or not 0 <= number < 2**63:
        raise BadRequest(f"invalid cursor {cursor!r}")
    return when, number


def _encode_cursor(published: datetime | None, paper_id: int) -> str:
    raw = f"{published.isoformat() if published else ''}|{paper_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@router.get("/papers", summary="All papers, newest first, with cursor pagination")
def list_papers(
    request: Request,
    response: Response,
    db: DB,
    cursor: Annotated[str | None, Query(description="From the Link header of the previous page.")] = None,
    limit: Annotated[str | None, Query(description="Papers per page, 1 to 100 (default 50).")] = None,
) -> list[dict[str, Any]]:
    """Every stored paper, newest first; a `Link` header carries the cursor of the next page."""
    size = _int(limit, "limit", 50, 1, 100)
    after = _decode_cursor(cursor) if cursor else None
    with db.session() as session:
        papers = queries.papers_page(session, after=after, limit=size + 1)
        body = [paper_json(paper) for paper in papers[:size]]
    if len(papers) > size:
        last = papers[size - 1]
        response.headers["Link"] = _next_link(request, cursor=_encode_cursor(last.published_at, last.id))
    return body


@router.get("/arxiv/{arxiv_id:path}/repos", summary="Models, datasets and Spaces built on a paper")
def arxiv_repos(db: DB, arxiv_id: str) -> JSONResponse:
    """Every stored Hugging Face model, dataset and Space whose card cites the paper, shaped like
    Hugging Face's own answer (``{"models": [...], "datasets": [...], "spaces": [...]}``)."""
    with db.session() as session:
        paper = paper_or_404(session, arxiv_id)
        body = repos_json(queries.built_on(session, paper.id))
    return JSONResponse(body)


@router.get("/papers/{arxiv_id:path}", summary="One paper")
def get_paper(db: DB, arxiv_id: str) -> JSONResponse:
    """The paper under any spelling of its arXiv id, with its trending score and the days it was
    listed on."""
    with db.session() as session:
        paper = paper_or_404(session, arxiv_id)
        latest = latest_entry(paper)
        body = paper_json(paper, latest)
        if latest is not None:
            reference = trending.reference_time(session)
            body["trending"] = trending.explain(latest, reference).as_dict()
        body["listedOn"] = [e.day.isoformat() for e in paper.entries]
        body.update(built_on_json(queries.built_on(session, paper.id)))
    return JSONResponse(body)
