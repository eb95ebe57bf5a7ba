"""Atom 1.0 (RFC 4287) feeds for every listing: daily, a day, a week, a month, trending, an organization
and a search.

Each route asks the same store/rank/search functions as the JSON API and the pages, turns what they
return into :class:`FeedItem` values and hands them to :func:`render_feed`, which builds the XML with
ElementTree (so every value is escaped) after stripping the characters XML 1.0 forbids. Responses carry
a strong ``ETag`` (a hash of the body), answer ``If-None-Match`` with 304, and may be cached 5 minutes.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET  # nosec B405 # builds feeds from our own data; parses nothing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dailypapers import __version__
from dailypapers.community.actions import latest_entry
from dailypapers.errors import NotFound
from dailypapers.periods import NEW_YORK, Period, day_period, parse_day, parse_month, parse_week, today
from dailypapers.community import follows
from dailypapers.rank import trending
from dailypapers.search import authors
from dailypapers.store import queries
from dailypapers.store.db import Database
from dailypapers.store.models import DailyEntry, Paper
from dailypapers.urls import safe_http_url
from dailypapers.web.api import check_mode_sort, parse_filters, parse_list_filter
from dailypapers.web.deps import DB, AppSettings, Search, parts_of

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
CACHE_CONTROL = "public, max-age=300"
MAX_ENTRIES = 50
MAX_AUTHORS = 20
ARXIV_CATEGORY_SCHEME = "http://arxiv.org/schemas/atom"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Characters XML 1.0 does not allow anywhere (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_ERROR = {
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
        }
    }
}
FEED_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "An Atom 1.0 feed.",
        "content": {"application/atom+xml": {"schema": {"type": "string"}}},
    },
    304: {"description": "Not modified: the `If-None-Match` ETag still matches."},
    400: {"description": "A bad parameter.", **_ERROR},
}
WITH_404: dict[int | str, dict[str, object]] = {
    **FEED_RESPONSES,
    404: {"description": "No such organization.", **_ERROR},
}

# Documented in the OpenAPI schema only (clients and fuzzers learn the shape); the parsers in
# dailypapers.periods do the checking, so that every bad value gets their 400 and message.
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"
MONTH_PATTERN = r"^[0-9]{4}-[0-9]{2}$"

router = APIRouter(prefix="/feeds", tags=["feeds"])


def _documented(description: str, pattern: str, example: str) -> Any:
    return Path(description=description, examples=[example], json_schema_extra={"pattern": pattern})


DayParam = Annotated[str, _documented("Day, YYYY-MM-DD.", DAY_PATTERN, "2026-06-30")]
WeekParam = Annotated[str, _documented("ISO week, YYYY-Www.", WEEK_PATTERN, "2026-W27")]
MonthParam = Annotated[str, _documented("Month, YYYY-MM.", MONTH_PATTERN, "2026-06")]


# --- building the XML ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One paper of a feed, with the listing it appears through (``None`` for a paper never listed)."""

    paper: Paper
    entry: DailyEntry | None = None
    note: str = ""  # why it is in the feed ("by Ada Lovelace"), first in its content


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What a feed says about itself: its own path (with query), its HTML page and its title."""

    self_path: str
    html_path: str
    title: str
    empty_updated: datetime = EPOCH  # ``updated`` of a feed without entries (RFC 4287 requires one)


def xml_text(value: object) -> str:
    """``value`` as text XML 1.0 can hold: the forbidden control characters are dropped."""
    return _XML_FORBIDDEN.sub("", str(value))


def atom_time(value: datetime) -> str:
    """An RFC 3339 UTC timestamp: ``2026-06-30T13:05:00Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def item_updated(item: FeedItem) -> datetime:
    """The latest known time of an item: its listing, its arXiv version or its publication."""
    times = [t for t in (item.paper.updated_at, item.paper.published_at) if t is not None]
    if item.entry is not None:
        times.append(trending.listed_at(item.entry))
    return max(times) if times else item.paper.first_seen_at


def item_upvotes(item: FeedItem) -> int:
    """The upvotes an item shows: its listing's, else the paper's."""
    return item.entry.total_upvotes if item.entry is not None else item.paper.total_upvotes


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _entry(feed: ET.Element, site: str, item: FeedItem) -> None:
    paper = item.paper
    page = f"{site}/papers/{quote(paper.arxiv_id)}"
    entry = _sub(feed, "entry")
    _sub(entry, "id", page)
    _sub(entry, "title", " ".join(xml_text(paper.title).split()) or paper.arxiv_id, type="text")
    _sub(entry, "link", rel="alternate", type="text/html", href=page)
    _sub(
        entry, "link", rel="related", type="text/html", href=f"https://arxiv.org/abs/{quote(paper.arxiv_id)}"
    )
    _sub(entry, "updated", atom_time(item_updated(item)))
    if paper.published_at is not None:
        _sub(entry, "published", atom_time(paper.published_at))
    names = [name for name in (xml_text(n).strip() for n in paper.authors or []) if name]
    if len(names) > MAX_AUTHORS:
        names = names[:MAX_AUTHORS] + ["et al."]
    for name in names or ["Unknown"]:
        _sub(_sub(entry, "author"), "name", name)
    for category in dict.fromkeys(xml_text(c).strip() for c in paper.categories or []):
        if category:
            _sub(entry, "category", term=category, scheme=ARXIV_CATEGORY_SCHEME)
    abstract = (paper.abstract or "").strip()
    _sub(entry, "summary", (paper.ai_summary or "").strip() or abstract, type="text")
    footer = f"▲ {item_upvotes(item)} upvotes"
    code_url = safe_http_url(paper.code_url)
    if code_url:
        footer += f" · code: {code_url}"
    content = f"{abstract}\n\n{footer}" if abstract else footer
    if item.note:
        content = f"{item.note}\n\n{content}"
    _sub(entry, "content", content, type="text")


def render_feed(site_url: str, info: FeedInfo, items: Sequence[FeedItem]) -> bytes:
    """The Atom document (UTF-8 bytes) of ``items`` under ``info``; URLs are absolute on ``site_url``."""
    site = site_url.rstrip("/")
    self_url = f"{site}{info.self_path}"
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _sub(feed, "id", self_url)
    _sub(feed, "title", info.title, type="text")
    updated = max((item_updated(i) for i in items), default=info.empty_updated)
    _sub(feed, "updated", atom_time(updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=f"{site}{info.html_path}")
    _sub(feed, "generator", "dailypapers", version=__version__)
    for item in items:
        _entry(feed, site, item)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _etag_matches(header: str | None, etag: str) -> bool:
    """``If-None-Match`` matching (weak comparison, as RFC 9110 asks for GET)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def feed_response(request: Request, body: bytes) -> Response:
    """The feed with its ETag and caching headers, or an empty 304 when the client has it already."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=MEDIA_TYPE, headers=headers)


# --- the feeds -----------------------------------------------------------------------------------------


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), NEW_YORK).astimezone(timezone.utc)


def _day_title(day: date) -> str:
    return f"Daily Papers — {day:%B} {day.day}, {day.year}"


def _unique(entries: Iterable[DailyEntry]) -> list[FeedItem]:
    """One item per paper (a paper listed on two days of a week appears once, at its best rank)."""
    seen: set[int] = set()
    items: list[FeedItem] = []
    for entry in entries:
        if entry.paper_id not in seen:
            seen.add(entry.paper_id)
            items.append(FeedItem(entry.paper, entry))
    return items[:MAX_ENTRIES]


_FEED_DIR = {"day": "date", "week": "week", "month": "month"}


def _filter(request: Request) -> tuple[queries.PaperFilter, str]:
    """The papers the feed keeps (``?has_code=true&category=cs.CL&year=2025``), and the query to add to
    its links then."""
    params = request.query_params
    filters = parse_list_filter(params.get("has_code"), params.get("category"), params.get("year"))
    return filters, (f"?{urlencode(filters.params())}" if filters else "")


def _period_body(
    site_url: str, session: Session, period: Period, info: FeedInfo, filters: queries.PaperFilter
) -> bytes:
    # Twice the cap, so that papers listed on several days of the period still leave 50 distinct ones.
    entries, _ = queries.list_entries(
        session, period.start, period.end, filters=filters, limit=2 * MAX_ENTRIES
    )
    return render_feed(site_url, info, _unique(entries))


def _period_feed(request: Request, db: Database, site_url: str, period: Period, title: str) -> Response:
    directory, key = _FEED_DIR[period.kind], period.key
    filters, suffix = _filter(request)
    info = FeedInfo(
        f"/feeds/{directory}/{key}.atom{suffix}",
        f"/papers/{directory}/{key}{suffix}",
        title + filters.label(),
        _start_of(period.start),
    )
    with db.session() as session:
        body = _period_body(site_url, session, period, info, filters)
    return feed_response(request, body)


@router.get(
    "/daily.atom",
    response_class=Response,
    responses=FEED_RESPONSES,
    summary="Atom feed of the latest day's papers",
)
def daily_feed(request: Request, db: DB, settings: AppSettings) -> Response:
    """The latest list day on or before today (New York), most upvoted first."""
    filters, suffix = _filter(request)
    with db.session() as session:
        day = queries.latest_day(session, today())
        if day is None:
            info = FeedInfo(f"/feeds/daily.atom{suffix}", f"/{suffix}", "Daily Papers")
            body = render_feed(settings.site_url, info, [])
        else:
            title = _day_title(day) + filters.label()
            info = FeedInfo(f"/feeds/daily.atom{suffix}", f"/{suffix}", title, _start_of(day))
            body = _period_body(settings.site_url, session, day_period(day), info, filters)
    return feed_response(request, body)


@router.get(
    "/date/{day}.atom",
    response_class=Response,
    responses=FEED_RESPONSES,
    summary="Atom feed of one day's papers",
)
def date_feed(request: Request, db: DB, settings: AppSettings, day: DayParam) -> Response:
    """The papers listed on the day, most upvoted first."""
    period = parse_day(day)
    return _period_feed(request, db, settings.site_url, period, _day_title(period.start))


@router.get(
    "/week/{week}.atom",
    response_class=Response,
    responses=FEED_RESPONSES,
    summary="Atom feed of one ISO week's papers",
)
def week_feed(request: Request, db: DB, settings: AppSettings, week: WeekParam) -> Response:
    """The papers listed in the week, each once, most upvoted first."""
    period = parse_week(week)
    return _period_feed(request, db, settings.site_url, period, f"Daily Papers — {period.label}")


@router.get(
    "/month/{month}.atom",
    response_class=Response,
    responses=FEED_RESPONSES,
    summary="Atom feed of one month's papers",
)
def month_feed(request: Request, db: DB, settings: AppSettings, month: MonthParam) -> Response:
    """The papers listed in the month, each once, most upvoted first."""
    period = parse_month(month)
    return _period_feed(request, db, settings.site_url, period, f"Daily Papers — {period.label}")


@router.get(
    "/trending.atom",
    response_class=Response,
    responses=FEED_RESPONSES,
    summary="Atom feed of trending papers",
)
def trending_feed(request: Request, db: DB, settings: AppSettings) -> Response:
    """The trending listing, in its order."""
    filters, suffix = _filter(request)
    with db.session() as session:
        scored, _ = trending.trending_entries(session, limit=MAX_ENTRIES, filters=filters)
        items = [FeedItem(entry.paper, entry) for entry, _ in scored]
        title = "Trending papers" + filters.label()
        info = FeedInfo(f"/feeds/trending.atom{suffix}", f"/papers/trending{suffix}", title)
        body = render_feed(settings.site_url, info, items)
    return feed_response(request, body)


@router.get(
    "/organizations/{name}.atom",
    response_class=Response,
    responses=WITH_404,
    summary="Atom feed of an organization's papers",
)
def organization_feed(
    request: Request,
    db: DB,
    settings: AppSettings,
    name: Annotated[str, Path(description="Organization name.", examples=["Tsinghua"])],
) -> Response:
    """The organization's papers, newest first."""
    filters, suffix = _filter(request)
    with db.session() as session:
        org = queries.organization_by_name(session, name)
        if org is None:
            raise NotFound(f"no organization {name!r}")
        papers, _ = queries.organization_papers(session, org.id, filters=filters, limit=MAX_ENTRIES)
        items = [FeedItem(p, latest_entry(p)) for p in papers]
        quoted = quote(org.name, safe="")
        info = FeedInfo(
            f"/feeds/organizations/{quoted}.atom{suffix}",
            f"/organizations/{quoted}{suffix}",
            f"Papers by {org.fullname or org.name}{filters.label()}",
        )
        body = render_feed(settings.site_url, info, items)
    return feed_response(request, body)


@router.get(
    "/authors/{name:path}.atom",
    response_class=Response,
    responses=WITH_404,
    summary="Atom feed of an author's papers",
)
def author_feed(
    request: Request,
    db: DB,
    settings: AppSettings,
    name: Annotated[str, Path(description="Author name (as on a paper).", examples=["Tri Dao"])],
) -> Response:
    """The author's papers, newest first (names matched as on the author page)."""
    filters, suffix = _filter(request)
    with db.session() as session:
        profile = authors.author_profile(session, name)
        if profile is None:
            raise NotFound(f"no paper by an author named {name[:200]!r}")
        papers, _ = authors.author_papers(session, profile, filters=filters, limit=MAX_ENTRIES)
        items = [FeedItem(p, latest_entry(p)) for p in papers]
        quoted = quote(profile.name, safe="")
        info = FeedInfo(
            f"/feeds/authors/{quoted}.atom{suffix}",
            f"/authors/{quoted}{suffix}",
            f"Papers by {profile.name}{filters.label()}",
        )
        body = render_feed(settings.site_url, info, items)
    return feed_response(request, body)


@router.get(
    "/following/{token}.atom",
    response_class=Response,
    responses=WITH_404,
    summary="A reader's private feed of what they follow (secret address)",
)
def following_feed(
    request: Request,
    db: DB,
    settings: AppSettings,
    engine: Search,
    token: Annotated[str, Path(description="The secret of the address made on /following.")],
) -> Response:
    """The newest papers of everything the reader follows, as on ``/following``, each with its reasons;
    an unknown or revoked address is a 404. Never cached by shared caches."""
    with db.session() as session:
        owner = follows.feed_owner(session, token)
        if owner is None:
            raise NotFound("no such feed (the address may have been replaced or turned off)")
        found, _ = follows.following(
            session, engine, owner, limit=MAX_ENTRIES, cache=parts_of(request).application.follows_cache
        )
        items = [FeedItem(f.paper, latest_entry(f.paper), note="; ".join(f.reasons)) for f in found]
        info = FeedInfo(f"/feeds/following/{quote(token, safe='')}.atom", "/following", "Following")
        body = render_feed(settings.site_url, info, items)
    response = feed_response(request, body)
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get(
    "/search.atom", response_class=Response, responses=FEED_RESPONSES, summary="Atom feed of a search"
)
def search_feed(
    request: Request,
    db: DB,
    settings: AppSettings,
    engine: Search,
    q: Annotated[
        str, Query(description="What to search for (the search box's syntax).", examples=["diffusion"])
    ] = "",
    mode: Annotated[str | None, Query(description="hybrid (default), keyword or semantic.")] = None,
    sort: Annotated[str | None, Query(description="relevance (default), date or upvotes.")] = None,
    date_from: Annotated[str | None, Query(alias="from", description="Published on or after.")] = None,
    date_to: Annotated[str | None, Query(alias="to", description="Published on or before.")] = None,
    category: Annotated[list[str] | None, Query(description="arXiv category (repeatable).")] = None,
    organization: Annotated[list[str] | None, Query(description="Organization (repeatable).")] = None,
    has_code: Annotated[str | None, Query(description="true: only papers with a code repository.")] = None,
) -> Response:
    """The best ``MAX_ENTRIES`` results of the same search as ``/papers?q=``; an empty query is a 400."""
    mode, order = check_mode_sort(mode, sort)
    filters = parse_filters(date_from, date_to, category, organization, has_code)
    with db.session() as session:
        results = engine.search(session, q, mode=mode, limit=MAX_ENTRIES, filters=filters, sort=order)
        papers = [results.papers[h.paper_id] for h in results.hits if h.paper_id in results.papers]
        latest = queries.latest_entries_for(session, [paper.id for paper in papers])
        items = [FeedItem(p, latest.get(p.id)) for p in papers]
        query = urlencode([(k, v) for k, v in request.query_params.multi_items() if v] or [("q", q)])
        info = FeedInfo(
            f"/feeds/search.atom?{query}", f"/papers?{query}", f"Search: {' '.join(xml_text(q).split())}"
        )
        body = render_feed(settings.site_url, info, items)
    return feed_response(request, body)
