"""HTML pages (server-rendered Jinja2, htmx for "More papers" and live search).

Every page asks the same store, rank and search functions the JSON API asks; nothing here writes SQL.
Listings show ``PAGE_SIZE`` cards a page: ``?p=N`` is a plain link (works without JavaScript), and an
htmx request for the same URL (``HX-Target: cards``) gets only the next cards plus the next button.
Templates are rendered while the session is open, so nothing lazy-loads on a detached object.
"""

from __future__ import annotations

import dataclasses
import re

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from dailypapers import cite
from dailypapers.community.actions import latest_entry
from dailypapers.community import actions, follows
from dailypapers.errors import BadRequest, NotFound
from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id
from dailypapers.periods import (
    NEW_YORK,
    Period,
    day_period,
    month_period,
    parse_day,
    parse_month,
    parse_week,
    today,
    week_period,
)
from dailypapers.rank import trending
from dailypapers.rank.trending import TrendingExplanation
from dailypapers.search import authors
from dailypapers.search.hybrid import CANDIDATES, MODES, SORTS, Filters, Hit, SearchEngine
from dailypapers.search.query import format_query, words_only
from dailypapers.web.api import check_mode_sort, load_papers, parse_filters, parse_list_filter
from dailypapers.store import categories, queries, texts
from dailypapers.store.db import Database
from dailypapers.store.models import DailyEntry, Paper, User
from dailypapers.urls import safe_http_url
from dailypapers.web.personal_cache import GENERIC
from dailypapers.web.text import markdown_html, word_diff
from dailypapers.web.deps import DB, AppSettings, Search, parts_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_PAGE = 10_000
FRAGMENT_TARGETS = ("cards", "results")


# --- view models -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Card:
    """One paper card: the paper, the listing it is shown for (if any) and its trending score."""

    paper: Paper
    entry: DailyEntry | None = None
    trend: TrendingExplanation | None = None
    hit: Hit | None = None  # a search result: why it matched, highlighted title and snippet
    days_apart: int | None = None  # concurrent work: days from the paper's publication to this one's

    @property
    def upvotes(self) -> int:
        """The upvotes shown on the card."""
        if self.entry is not None:  # the listing's count from its source, plus the votes cast here
            return (self.entry.upvotes or 0) + (self.paper.community_upvotes or 0)
        return self.paper.total_upvotes

    @property
    def comments(self) -> int:
        """The comments of the listing shown (0 without one)."""
        return self.entry.num_comments if self.entry is not None else 0

    @property
    def day(self) -> date | None:
        """The paper's publication date, else the day it was listed."""
        if self.paper.published_at is not None:
            return self.paper.published_at.date()
        return self.entry.day if self.entry is not None else None


@dataclass(slots=True)
class Tab:
    """One of the tabs above a listing: its label, its URL and whether it is the page shown."""

    label: str
    url: str
    current: bool = False


@dataclass(slots=True)
class Listing:
    """Everything a listing page (day, week, month, trending, organization, search) shows."""

    title: str
    cards: list[Card]
    total: int
    page: int
    more_url: str | None
    first_url: str | None
    feed_url: str
    feed_title: str
    label: str = ""
    prev_url: str | None = None
    prev_label: str = ""
    next_url: str | None = None
    next_label: str = ""
    tabs: list[Tab] = field(default_factory=list)
    empty_message: str = "No papers here."
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def more_push_url(self) -> str | None:
        """The address "More papers" leaves in the address bar: the list up to the next page
        (``?upto=N``, which renders every page up to N) instead of that page alone (``?p=N``)."""
        return re.sub(r"([?&])p=", r"\1upto=", self.more_url, count=1) if self.more_url else None


# --- helpers -----------------------------------------------------------------------------------------


def _page_number(request: Request) -> int:
    raw = request.query_params.get("p")
    if raw is None or raw == "":
        return 0
    try:
        page = int(raw)
    except ValueError:
        raise BadRequest(f"page must be a number, got {raw!r}") from None
    if not 0 <= page <= MAX_PAGE:
        raise BadRequest(f"page must be between 0 and {MAX_PAGE}, got {page}")
    return page


MAX_UPTO = 20  # "?upto=N" renders the pages up to N at once, up to this one (1,050 cards)


def _page_window(request: Request) -> tuple[int, int, int]:
    """(page, offset, limit) of the cards a list page shows: ``?p=N`` is page N alone; ``?upto=N``, the
    address "More papers" leaves in the address bar, is every page up to N, so that going back to the
    list (or reloading it) shows the cards that were loaded (past ``MAX_UPTO``: page N alone)."""
    raw = request.query_params.get("upto")
    if raw and "p" not in request.query_params:
        try:
            upto = int(raw)
        except ValueError:
            raise BadRequest(f"upto must be a number, got {raw[:20]!r}") from None
        if not 0 <= upto <= MAX_PAGE:
            raise BadRequest(f"upto must be between 0 and {MAX_PAGE}, got {upto}")
        if upto <= MAX_UPTO:
            return upto, 0, (upto + 1) * PAGE_SIZE
        return upto, upto * PAGE_SIZE, PAGE_SIZE
    page = _page_number(request)
    return page, page * PAGE_SIZE, PAGE_SIZE


def _own_path(request: Request) -> str:
    """The page's own path, quoted again for a link (an author page's path holds the name's spaces)."""
    return quote(request.url.path)


def _with_page(request: Request, page: int) -> str:
    """This page's URL (path and query) at page ``page``."""
    params = {k: v for k, v in request.query_params.items() if k not in ("p", "upto")}
    if page:
        params["p"] = str(page)
    return _own_path(request) + (f"?{urlencode(params)}" if params else "")


LIST_SORTS = {"upvotes": "Upvotes", "stars": "GitHub stars"}


@dataclass
class ListView:
    """A list page's own filter and order (``?has_code=true&category=cs.CL&year=2025&sort=stars``): what to
    ask the store, the query to keep on the links to other periods and feeds, the links that change them
    and what the category/year form keeps."""

    filters: queries.PaperFilter
    sort: str
    query: str  # "" or "?has_code=true&sort=stars…" (what is not the default)
    links: list[tuple[str, list[tuple[str, str, bool]]]]
    hidden: list[tuple[str, str]]  # the parameters the category/year form sends along
    clear_url: str  # the page without a category or year
    categories: bool = (
        True  # whether to offer the category filter (some paper has a category, or one is asked)
    )

    @property
    def code(self) -> bool:
        return self.filters.code

    @property
    def feed_query(self) -> str:
        """The query a feed of the same papers takes (feeds have no order of their own)."""
        return f"?{urlencode(self.filters.params())}" if self.filters else ""


def _list_view(request: Request, sorts: dict[str, str] | None = None) -> ListView:
    """The filter and order a list page asks for; a bad value is a 400 naming the parameter."""
    params = request.query_params
    filters = parse_list_filter(params.get("has_code"), params.get("category"), params.get("year"))
    sort = params.get("sort") or (next(iter(sorts)) if sorts else "")
    if sorts is not None and sort not in sorts:
        raise BadRequest(f"sort must be one of {', '.join(sorts)}, got {sort[:100]!r}")
    keep = filters.params()
    if sorts and sort != next(iter(sorts)):
        keep.append(("sort", sort))
    ours = dict(keep)

    def url(**change: str | None) -> str:
        values = {k: v for k, v in ours.items() if k not in change}
        values.update({k: v for k, v in change.items() if v})
        return _own_path(request) + (f"?{urlencode(values)}" if values else "")

    code = filters.code
    links = [("Show", [("All", url(has_code=None), not code), ("With code", url(has_code="true"), code)])]
    if sorts:
        first = next(iter(sorts))
        links.append(
            ("Sort", [(label, url(sort=None if s == first else s), s == sort) for s, label in sorts.items()])
        )
    hidden = [(k, v) for k, v in keep if k not in ("category", "year")]
    return ListView(
        filters,
        sort,
        f"?{urlencode(keep)}" if keep else "",
        links,
        hidden,
        url(category=None, year=None),
        bool(filters.category) or _categories_exist(request),
    )


def _categories_exist(request: Request) -> bool:
    with parts_of(request).application.db.session() as session:
        return categories.any_exist(session)


def _paging(request: Request, page: int, total: int) -> tuple[str | None, str | None]:
    """(URL of the next page or None, URL of the first page when not on it)."""
    more = _with_page(request, page + 1) if (page + 1) * PAGE_SIZE < total else None
    return more, (_with_page(request, 0) if page else None)


def _fragment_target(request: Request) -> str | None:
    """The id htmx swaps into, for an htmx request asking for a fragment (not a history restore)."""
    if request.headers.get("HX-Request") != "true" or request.headers.get("HX-History-Restore-Request"):
        return None
    target = request.headers.get("HX-Target")
    return target if target in FRAGMENT_TARGETS else None


def _viewer_context(request: Request, context: dict[str, Any]) -> None:
    """For a logged-in reader: which of the papers on the page they upvoted (``voted``) and marked
    (``marks``: paper id -> kinds; ``hide_marked``: whether their cards are hidden instead of dimmed)."""
    user = getattr(request.state, "user", None)
    if user is None or "voted" in context or getattr(request.state, GENERIC, False):
        return  # (the copy shared by every reader holds both forms of each button)
    ids: set[int] = set()
    listing = context.get("listing")
    if listing is not None:
        ids.update(c.paper.id for c in listing.cards)
    for c in context.get("related") or ():
        ids.add(c.paper.id)
    if isinstance(context.get("paper"), Paper):
        ids.add(context["paper"].id)
    for c in context.get("cards") or ():
        ids.add(c.paper.id)
    with parts_of(request).application.db.session() as session:
        context["voted"] = actions.voted_ids(session, user.id, ids)
        context["marks"] = {i: frozenset(k) for i, k in actions.marks_of(session, user.id, ids).items()}
    context["hide_marked"] = bool(getattr(user, "hide_marked", False))


def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    _viewer_context(request, context)
    response: HTMLResponse = parts_of(request).templates.TemplateResponse(
        request, template, context, status_code=status
    )
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


EXPORT_MAX = 1000  # papers in one exported list at most
EXPORT_LABELS = {"bib": "BibTeX", "ris": "RIS", "csl": "CSL-JSON"}


def export_format(request: Request) -> str | None:
    """The citation format a list is asked in (``?format=bib|ris|csl``), or None for the page."""
    fmt = request.query_params.get("format")
    if not fmt:
        return None
    if fmt not in cite.FORMATS:
        raise BadRequest(f"format must be one of {', '.join(cite.FORMATS)}, got {fmt[:20]!r}")
    return fmt


def export_links(request: Request) -> list[tuple[str, str]]:
    """(label, URL) of this list in each citation format: its filters and order kept, every page."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("p", "format")]
    return [
        (label, _own_path(request) + "?" + urlencode([*params, ("format", fmt)]))
        for fmt, label in EXPORT_LABELS.items()
    ]


def export_response(request: Request, fmt: str, papers: list[Paper], name: str) -> Response:
    """The list's papers (each once, in its order, at most ``EXPORT_MAX``) as a citation file."""
    unique = list({p.id: p for p in papers}.values())[:EXPORT_MAX]
    return citation_response(fmt, unique, name)


def _listing_response(request: Request, listing: Listing, template: str = "listing.html") -> HTMLResponse:
    target = _fragment_target(request)
    if target == "cards":
        return _render(request, "_cards.html", {"listing": listing})
    return _render(request, template, {"listing": listing})


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def _period_label(period: Period) -> str:
    if period.kind == "day":
        return _day_label(period.start)
    if period.kind == "week":
        start, end = period.start, period.end
        return f"Week {start.isocalendar()[1]} · {start:%b} {start.day} – {end:%b} {end.day}, {end.year}"
    return f"{period.start:%B %Y}"


def _last_day(reference: datetime) -> date:
    """The New York day a trending reference time closes (the end of a day belongs to that day)."""
    return (reference.astimezone(NEW_YORK) - timedelta(microseconds=1)).date()


def _time_label(moment: datetime) -> str:
    local = moment.astimezone(NEW_YORK)
    return f"{local:%b} {local.day}, {local.year}, {local:%H:%M} New York time"


def period_url(period: Period) -> str:
    """A period's page: ``/papers/date/2026-06-30``, ``/papers/week/2026-W27``, ``/papers/month/2026-06``."""
    kind = {"day": "date", "week": "week", "month": "month"}[period.kind]
    return f"/papers/{kind}/{period.key}"


def feed_url(period: Period) -> str:
    """A period's Atom feed: ``/feeds/date/2026-06-30.atom``, ``/feeds/week/2026-W27.atom``, …."""
    kind = {"day": "date", "week": "week", "month": "month"}[period.kind]
    return f"/feeds/{kind}/{period.key}.atom"


def _in_range(build: Callable[[date], Period], day: date) -> Period | None:
    """``build(day)``, or None where the period would cross the calendar's ends (years 1 and 9999)."""
    try:
        return build(day)
    except (OverflowError, ValueError):
        return None


def _tabs(session: Session, current: str, anchor: date | None) -> list[Tab]:
    """Daily / Weekly / Monthly / Trending, each pointing at the period around ``anchor``."""
    daily = weekly = monthly = "/"
    if anchor is not None:
        day = queries.latest_day(session, anchor) or anchor
        daily = period_url(day_period(day))
        week, month = _in_range(week_period, anchor), _in_range(month_period, anchor)
        weekly = period_url(week) if week else weekly
        monthly = period_url(month) if month else monthly
    return [
        Tab("Daily", daily, current == "day"),
        Tab("Weekly", weekly, current == "week"),
        Tab("Monthly", monthly, current == "month"),
        Tab("Trending", "/papers/trending", current == "trending"),
    ]


# --- listings ----------------------------------------------------------------------------------------


def _period_listing(request: Request, session: Session, period: Period, *, home: bool = False) -> Listing:
    page, offset, limit = _page_window(request)
    view = _list_view(request, LIST_SORTS)
    entries, total = queries.list_entries(
        session,
        period.start,
        period.end,
        sort="stars" if view.sort == "stars" else "upvotes",
        filters=view.filters,
        limit=limit,
        offset=offset,
    )
    # the arrows lead to the nearest period with papers on each side (none past the first and last)
    before, after = queries.adjacent_days(session, period.start, period.end)
    build = {"day": day_period, "week": week_period, "month": month_period}[period.kind]
    prev_p = _in_range(build, before) if before else None
    next_p = _in_range(build, after) if after else None
    more, first = _paging(request, page, total)
    label = _period_label(period)
    return Listing(
        title="Daily Papers" if home else f"Papers · {label}",
        cards=[Card(e.paper, e) for e in entries],
        total=total,
        page=page,
        more_url=more,
        first_url=first,
        feed_url=("/feeds/daily.atom" if home else feed_url(period)) + view.feed_query,
        feed_title=("Daily papers (latest day)" if home else f"Daily papers · {label}")
        + view.filters.label(),
        label=label,
        prev_url=period_url(prev_p) + view.query if prev_p else None,
        prev_label=_period_label(prev_p) if prev_p else "",
        next_url=period_url(next_p) + view.query if next_p else None,
        next_label=_period_label(next_p) if next_p else "",
        tabs=_tabs(session, period.kind, period.end if period.kind == "day" else min(period.end, today())),
        empty_message=f"No papers{view.filters.label()} were listed this {period.kind}."
        if view.filters
        else f"No papers were listed this {period.kind}.",
        extra={"period": period, "view": view, "exports": export_links(request)},
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DB) -> Response:
    """The latest list day on or before today (New York)."""
    with db.session() as session:
        day = queries.latest_day(session, today())
        if day is None:
            listing = Listing(
                title="Daily Papers",
                cards=[],
                total=0,
                page=0,
                more_url=None,
                first_url=None,
                feed_url="/feeds/daily.atom",
                feed_title="Daily papers (latest day)",
                tabs=_tabs(session, "day", None),
                empty_message="No papers yet. Import some with “dailypapers ingest hf-daily” "
                "or “dailypapers demo load”.",
            )
            return _listing_response(request, listing)
        fmt = export_format(request)
        if fmt:
            return _period_export(request, session, day_period(day), fmt)
        return _listing_response(request, _period_listing(request, session, day_period(day), home=True))


@router.get("/papers", response_class=HTMLResponse)
def papers_or_search(request: Request, db: DB, engine: Search) -> Response:
    """``/papers?q=…`` searches; ``/papers`` alone is the home page, as on Hugging Face."""
    if "q" not in request.query_params:
        return home(request, db)
    return search_page(request, request.query_params.get("q", ""), db, engine)


def _period_export(request: Request, session: Session, period: Period, fmt: str) -> Response:
    view = _list_view(request, LIST_SORTS)
    entries, _ = queries.list_entries(
        session,
        period.start,
        period.end,
        sort="stars" if view.sort == "stars" else "upvotes",
        filters=view.filters,
        limit=2 * EXPORT_MAX,
    )
    return export_response(request, fmt, [e.paper for e in entries], f"papers-{period.key}")


def _period_page(request: Request, db: Database, period: Period) -> Response:
    with db.session() as session:
        fmt = export_format(request)
        if fmt:
            return _period_export(request, session, period, fmt)
        return _listing_response(request, _period_listing(request, session, period))


@router.get("/papers/date/{day}", response_class=HTMLResponse)
def day_page(request: Request, db: DB, day: str) -> Response:
    """The papers listed on one day (New York)."""
    return _period_page(request, db, parse_day(day))


@router.get("/papers/week/{week}", response_class=HTMLResponse)
def week_page(request: Request, db: DB, week: str) -> Response:
    """The papers listed in one ISO week."""
    return _period_page(request, db, parse_week(week))


@router.get("/papers/month/{month}", response_class=HTMLResponse)
def month_page(request: Request, db: DB, month: str) -> Response:
    """The papers listed in one month."""
    return _period_page(request, db, parse_month(month))


@router.get("/papers/trending", response_class=HTMLResponse)
def trending_page(request: Request, db: DB) -> Response:
    """The papers listed in the trending window, by trending score, with the formula."""
    page, offset, limit = _page_window(request)
    view = _list_view(request)
    with db.session() as session:
        fmt = export_format(request)
        if fmt:
            scored, _ = trending.trending_entries(session, limit=EXPORT_MAX, filters=view.filters)
            return export_response(request, fmt, [e.paper for e, _ in scored], "papers-trending")
        scored, total = trending.trending_entries(session, limit=limit, offset=offset, filters=view.filters)
        reference = trending.reference_time(session)
        more, first = _paging(request, page, total)
        listing = Listing(
            title="Trending papers",
            cards=[Card(e.paper, e, why) for e, why in scored],
            total=total,
            page=page,
            more_url=more,
            first_url=first,
            feed_url="/feeds/trending.atom" + view.feed_query,
            feed_title="Trending papers" + view.filters.label(),
            label=f"Listed in the {trending.WINDOW_DAYS} days up to {_day_label(_last_day(reference))}",
            tabs=_tabs(session, "trending", queries.latest_day(session, today())),
            empty_message=f"No papers{view.filters.label()} were listed "
            f"in the last {trending.WINDOW_DAYS} days.",
            extra={
                "formula": f"upvotes / (hours since listed + {trending.OFFSET_HOURS:g})^{trending.GRAVITY:g}",
                "view": view,
                "exports": export_links(request),
            },
        )
        return _listing_response(request, listing)


@router.get("/papers/trending/github", response_class=HTMLResponse)
def github_page(request: Request, db: DB) -> Response:
    """Trending on GitHub: the papers whose code gained the most stars at their latest import."""
    page, offset, limit = _page_window(request)
    view = _list_view(request)
    with db.session() as session:
        fmt = export_format(request)
        if fmt:
            found, _ = queries.github_trending(session, filters=view.filters, limit=EXPORT_MAX)
            return export_response(request, fmt, [p for p, _ in found], "papers-trending-github")
        found, total = queries.github_trending(session, filters=view.filters, limit=limit, offset=offset)
        more, first = _paging(request, page, total)
        listing = Listing(
            title="Trending on GitHub",
            cards=[Card(p, latest_entry(p)) for p, _ in found],
            total=total,
            page=page,
            more_url=more,
            first_url=first,
            feed_url="/feeds/trending.atom",
            feed_title="Trending papers",
            label=f"Stars gained at each paper's latest import, over {queries.GITHUB_WINDOW_DAYS} days",
            empty_message=f"No paper{view.filters.label()} has gained stars between two imports."
            if view.filters
            else "No paper's stars have risen between two imports yet.",
            extra={"gained": {p.id: g for p, g in found}, "view": view, "exports": export_links(request)},
        )
        return _render(request, "github.html", {"listing": listing})


def search_page(request: Request, q: str, db: Database, engine: SearchEngine) -> Response:
    """Search results (hybrid by default) with filters; a query without words gets a friendly hint, not
    an error page. Bad filter values are a 400 page."""
    page, offset, limit = _page_window(request)
    q = q.strip()
    params = request.query_params
    mode, sort = check_mode_sort(params.get("mode"), params.get("sort"))
    filters = parse_filters(
        params.get("from"),
        params.get("to"),
        params.getlist("category"),
        params.getlist("organization"),
        params.get("has_code"),
        params.get("fulltext"),
    )
    form = {
        "mode": mode,
        "sort": sort,
        "from": params.get("from", "").strip(),
        "to": params.get("to", "").strip(),
        "category": ", ".join(filters.categories),
        "organization": ", ".join(filters.organizations),
        "has_code": filters.has_code,
        "fulltext": filters.full_text,
    }
    with db.session() as session:
        form["categories"] = bool(filters.categories) or categories.any_exist(session)
        form["texts"] = filters.full_text or texts.any_kept(session)
        fmt = export_format(request)
        if fmt:
            try:
                found = engine.search(session, q, mode=mode, limit=EXPORT_MAX, filters=filters, sort=sort)
            except BadRequest:
                raise BadRequest("type a few words to search before exporting the results") from None
            ordered = [found.papers[h.paper_id] for h in found.hits if h.paper_id in found.papers]
            return export_response(request, fmt, ordered, "papers-search")
        hint = ""
        hits: list[Hit] = []
        papers: dict[int, Paper] = {}
        total = 0
        warnings: tuple[str, ...] = ()
        keyword_total: int | None = None
        suggestion: str | None = None
        without_filters: tuple[int, str] | None = None  # when the filters emptied the result
        try:
            results = engine.search(
                session, q, mode=mode, limit=limit, offset=offset, filters=filters, sort=sort
            )
            hits, papers, total, warnings = (
                results.hits,
                results.papers,
                results.total,
                results.parsed.warnings,
            )
            mode, suggestion = results.mode, results.suggestion
            if mode == "hybrid":  # how many match the words (one FTS query, no embedding)
                keyword_total = engine.search(session, q, mode="keyword", limit=0, filters=filters).total
            words = words_only(results.parsed)
            if not total and words and (filters != Filters() or words != format_query(results.parsed)):
                found = engine.search(session, words, mode=mode, limit=0).total
                if found:
                    without_filters = (found, "/papers?" + urlencode({"q": words, "mode": mode}))
        except BadRequest:
            hint = (
                "Type a few words to search titles and abstracts."
                if not q
                else "That search has no words to look for; try letters or numbers."
            )
        latest = queries.latest_entries_for(session, [h.paper_id for h in hits])
        more, first = _paging(request, page, total)
        feed_params = [(k, v) for k, v in params.multi_items() if k != "p" and v]
        listing = Listing(
            title=f"Search: {q}" if q else "Search",
            cards=[
                Card(papers[h.paper_id], latest.get(h.paper_id), hit=h) for h in hits if h.paper_id in papers
            ],
            total=total,
            page=page,
            more_url=more,
            first_url=first,
            feed_url="/feeds/search.atom?" + urlencode(feed_params or [("q", q)]),
            feed_title=f"Papers matching “{q}”",
            label=q,
            empty_message=hint or f"No paper matches “{q}”.",
            extra={
                "q": q,
                "hint": hint,
                "form": form,
                "modes": MODES,
                "sorts": SORTS,
                "mode": mode,
                "warnings": warnings,
                "semantic_off": engine.vectors is None,
                "keyword_total": keyword_total,
                "exports": export_links(request) if q else [],
                "suggestion": suggestion,
                "suggestion_url": "/papers?" + urlencode({"q": suggestion, "mode": mode})
                if suggestion
                else "",
                "without_filters": without_filters,
                "cap": CANDIDATES,
            },
        )
        target = _fragment_target(request)
        if target == "results":
            return _render(request, "_search_results.html", {"listing": listing})
        return _listing_response(request, listing, "search.html")


@router.get("/organizations/{name}", response_class=HTMLResponse)
def organization_page(request: Request, db: DB, name: str) -> Response:
    """An organization's papers, newest first."""
    page, offset, limit = _page_window(request)
    view = _list_view(request)
    with db.session() as session:
        org = queries.organization_by_name(session, name)
        if org is None:
            raise NotFound(f"no organization named {name!r}")
        fmt = export_format(request)
        if fmt:
            every, _ = queries.organization_papers(session, org.id, filters=view.filters, limit=EXPORT_MAX)
            return export_response(request, fmt, every, f"papers-{org.name}")
        papers, total = queries.organization_papers(
            session, org.id, filters=view.filters, limit=limit, offset=offset
        )
        more, first = _paging(request, page, total)
        display = org.fullname or org.name
        listing = Listing(
            title=display,
            cards=[Card(p, latest_entry(p)) for p in papers],
            total=total,
            page=page,
            more_url=more,
            first_url=first,
            feed_url=f"/feeds/organizations/{quote(org.name, safe='')}.atom{view.feed_query}",
            feed_title=f"Papers from {display}{view.filters.label()}",
            label=display,
            empty_message=f"No papers{view.filters.label()} from {display}."
            if view.filters
            else f"No papers from {display} yet.",
            extra={
                "org": org,
                "view": view,
                "following": _follows(request, session, "organization", org.name),
            },
        )
        return _listing_response(request, listing, "organization.html")


def _follows(request: Request, session: Session, kind: str, value: str) -> bool | None:
    """Whether the logged-in reader follows ``value`` (``None`` when logged out, or while the copy every
    reader shares renders: its buttons are filled in per request)."""
    user = getattr(request.state, "user", None)
    if user is None or request.scope["state"].get(GENERIC):
        return None
    return follows.is_following(session, user.id, kind, value)


@router.get("/authors/{name:path}", response_class=HTMLResponse)
def author_page(request: Request, db: DB, name: str) -> Response:
    """An author's papers, newest first, with the co-authors and organizations they share most papers
    with (names matched as :mod:`dailypapers.search.authors` says)."""
    page, offset, limit = _page_window(request)
    view = _list_view(request)
    with db.session() as session:
        profile = authors.author_profile(session, name)
        if profile is None:
            raise NotFound(f"no paper by an author named {name[:200]!r}")
        fmt = export_format(request)
        if fmt:
            every, _ = authors.author_papers(session, profile, filters=view.filters, limit=EXPORT_MAX)
            return export_response(request, fmt, every, f"papers-{profile.name}")
        papers, total = authors.author_papers(
            session, profile, filters=view.filters, limit=limit, offset=offset
        )
        more, first = _paging(request, page, total)
        listing = Listing(
            title=profile.name,
            cards=[Card(p, latest_entry(p)) for p in papers],
            total=total,
            page=page,
            more_url=more,
            first_url=first,
            feed_url=f"/feeds/authors/{quote(profile.name, safe='')}.atom{view.feed_query}",
            feed_title=f"Papers by {profile.name}{view.filters.label()}",
            label=profile.name,
            empty_message=f"No papers{view.filters.label()} by {profile.name}."
            if view.filters
            else f"No papers by {profile.name} on this page.",
            extra={
                "author": profile,
                "following": _follows(request, session, "author", profile.name),
                "view": view,
                "exports": export_links(request),
            },
        )
        return _listing_response(request, listing, "author.html")


# --- one paper ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionChange:
    """What changed from one version to the next, as word diffs (``None`` where nothing changed)."""

    before: int
    after: int
    title: Any
    abstract: Any


def version_changes(versions: list[Any]) -> VersionChange | None:
    """The changes between the two newest versions whose text is known, if any changed."""
    known = [v for v in versions if v.title is not None]
    if len(known) < 2:
        return None
    old, new = known[-2], known[-1]
    title = word_diff(old.title, new.title) if old.title != new.title else None
    abstract = word_diff(old.abstract, new.abstract) if (old.abstract or "") != (new.abstract or "") else None
    if title is None and abstract is None:
        return None
    return VersionChange(old.version, new.version, title, abstract)


def _canonical_or_404(arxiv_id: str) -> str:
    try:
        return canonical_arxiv_id(arxiv_id)[0]
    except InvalidArxivId:
        raise NotFound(f"no paper {arxiv_id!r}: that is not an arXiv id") from None


def paper_markdown(paper: Paper, site_url: str = "", full_text: str | None = None) -> str:
    """The paper as Markdown: title, authors, links, AI summary, and its full text when one is kept
    (from arXiv's HTML), else its abstract (``/papers/{id}.md``, the MCP ``read_paper``)."""
    lines = [f"# {paper.title}", ""]
    if paper.authors:
        lines += [f"**Authors:** {', '.join(paper.authors)}", ""]
    if paper.organization is not None:
        lines += [f"**Organization:** {paper.organization.fullname or paper.organization.name}", ""]
    if paper.published_at is not None:
        lines += [f"**Published:** {paper.published_at.date().isoformat()}", ""]
    links = [
        f"- arXiv: https://arxiv.org/abs/{paper.arxiv_id}",
        f"- PDF: https://arxiv.org/pdf/{paper.arxiv_id}",
    ]
    code_url, project_page = safe_http_url(paper.code_url), safe_http_url(paper.project_page)
    if code_url:
        stars = f" ({paper.github_stars} stars)" if paper.github_stars else ""
        links.append(f"- Code: {code_url}{stars}")
    if project_page:
        links.append(f"- Project page: {project_page}")
    links.append(f"- Page: {site_url}/papers/{paper.arxiv_id}")
    lines += ["## Links", "", *links, ""]
    if paper.ai_summary:
        lines += ["## AI summary", "", paper.ai_summary, ""]
    if paper.ai_keywords:
        lines += [f"**Keywords:** {', '.join(paper.ai_keywords)}", ""]
    if full_text:
        lines += [full_text.strip(), ""]
    else:
        lines += ["## Abstract", "", paper.abstract or "(no abstract)", ""]
    lines += [f"Upvotes: {paper.total_upvotes}", ""]
    return "\n".join(lines)


RELATED = 6
CITATION_AUTHORS = 200  # citation_author tags on a paper page at most (a list of 3,000 would bloat it)


CONCURRENT = 5


def _hit_cards(session: Session, hits: list[Hit]) -> list[Card]:
    papers = load_papers(session, [h.paper_id for h in hits])
    latest = queries.latest_entries_for(session, list(papers))
    return [Card(papers[h.paper_id], latest.get(h.paper_id), hit=h) for h in hits if h.paper_id in papers]


def related_cards(
    engine: SearchEngine, session: Session, paper: Paper, leave_out: frozenset[int] = frozenset()
) -> list[Card]:
    """Up to ``RELATED`` papers close to ``paper`` (engine.related) but not in ``leave_out``, as cards
    carrying their hit."""
    hits = engine.related(session, paper, limit=RELATED + len(leave_out))
    return _hit_cards(session, [h for h in hits if h.paper_id not in leave_out][:RELATED])


def concurrent_cards(engine: SearchEngine, session: Session, paper: Paper) -> list[Card]:
    """Up to ``CONCURRENT`` papers of the same time and very close meaning (engine.concurrent), with the
    days between their publication and the paper's in ``Card.days_apart``."""
    return [
        dataclasses.replace(
            card, days_apart=(card.paper.published_at.date() - paper.published_at.date()).days
        )
        if card.paper.published_at is not None and paper.published_at is not None
        else card
        for card in _hit_cards(session, engine.concurrent(session, paper, limit=CONCURRENT))
    ]


def citation_response(fmt: str, papers: list[Paper], filename: str) -> Response:
    """``papers`` as a citation file (``fmt``: bib, ris or csl), to download or read in a browser tab."""
    media_type, extension = cite.FORMATS[fmt]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "papers"
    return Response(
        cite.render(fmt, papers),
        media_type=media_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{safe}.{extension}"',
        },
    )


def _paper_citation(db: Database, arxiv_id: str, fmt: str) -> Response:
    canonical = _canonical_or_404(arxiv_id)
    with db.session() as session:
        paper = queries.paper_by_arxiv_id(session, canonical)
        if paper is None:
            raise NotFound(f"no paper {canonical}")
        return citation_response(fmt, [paper], canonical.replace("/", "-"))


@router.get("/papers/{arxiv_id:path}.bib", response_class=Response)
def paper_bibtex(db: DB, arxiv_id: str) -> Response:
    """The paper as a BibTeX entry in arXiv's style."""
    return _paper_citation(db, arxiv_id, "bib")


@router.get("/papers/{arxiv_id:path}.ris", response_class=Response)
def paper_ris(db: DB, arxiv_id: str) -> Response:
    """The paper as a RIS record (Zotero, EndNote, Mendeley)."""
    return _paper_citation(db, arxiv_id, "ris")


@router.get("/papers/{arxiv_id:path}.csl.json", response_class=Response)
def paper_csl(db: DB, arxiv_id: str) -> Response:
    """The paper as CSL-JSON (what citation processors read)."""
    return _paper_citation(db, arxiv_id, "csl")


@router.get("/papers/{arxiv_id:path}/read", response_class=HTMLResponse)
def paper_read_page(request: Request, db: DB, arxiv_id: str) -> HTMLResponse:
    """The paper's full text to read (from arXiv's HTML, kept as Markdown), math typeset; 404 when no
    text is kept."""
    canonical = _canonical_or_404(arxiv_id)
    with db.session() as session:
        paper = queries.paper_by_arxiv_id(session, canonical)
        if paper is None:
            raise NotFound(f"no paper {canonical}")
        text = texts.full_text(session, paper.id)
        if not text:
            raise NotFound(f"no full text of {canonical} here yet: read it on arXiv")
        return _render(request, "read.html", {"paper": paper, "body": markdown_html(text)})


@router.get("/papers/{arxiv_id:path}.md", response_class=PlainTextResponse)
def paper_markdown_page(db: DB, settings: AppSettings, arxiv_id: str) -> Response:
    """The paper as Markdown (:func:`paper_markdown`)."""
    canonical = _canonical_or_404(arxiv_id)
    with db.session() as session:
        paper = queries.paper_by_arxiv_id(session, canonical)
        if paper is None:
            raise NotFound(f"no paper {canonical}")
        text = paper_markdown(paper, settings.site_url.rstrip("/"), texts.full_text(session, paper.id))
    return Response(
        text, media_type="text/markdown; charset=utf-8", headers={"X-Content-Type-Options": "nosniff"}
    )


def personal_block(
    templates: Jinja2Templates, session: Session, viewer: User, paper_id: int, csrf: str
) -> bytes:
    """A logged-in reader's block on a paper's page (their marks and collections): rendered into their
    own page, and for the copy of the page every reader shares, per request
    (:class:`dailypapers.web.personal_cache.PersonalPages` fills it in)."""
    mine = actions.paper_personal(session, viewer.id, paper_id)
    if mine is None:
        return b""
    return _personal_block_html(templates, mine, csrf)


@functools.lru_cache(maxsize=4096)
def _personal_block_html(templates: Jinja2Templates, mine: actions.PaperPersonal, csrf: str) -> bytes:
    """The block rendered (the same reader's same marks and collections: the same bytes, kept)."""
    context = {"mine": mine, "csrf_token": csrf}
    return templates.env.get_template("_paper_personal.html").render(context).encode()


@router.get("/papers/{arxiv_id:path}", response_class=HTMLResponse)
def paper_page(request: Request, db: DB, engine: Search, arxiv_id: str) -> HTMLResponse:
    """A paper's page: its abstract, links, trending score, related papers, comments and, for a
    logged-in reader, their marks and collections."""
    return paper_response(request, db, engine, arxiv_id)


def missing_paper_response(
    request: Request, arxiv_id: str, error: str = "", status: int = 404
) -> HTMLResponse:
    """The page of a valid arXiv id that is not stored: a link to arXiv and, for a logged-in reader, a
    form that adds the paper (``POST /papers/add``); ``error`` says why adding it failed."""
    return _render(request, "paper_missing.html", {"arxiv_id": arxiv_id, "error": error}, status)


def paper_response(
    request: Request,
    db: Database,
    engine: SearchEngine,
    arxiv_id: str,
    extra: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The page of :func:`paper_page`, with ``extra`` in its context (a comment that could not be
    posted, for a form sent without JavaScript) and answered with ``status``."""
    canonical = _canonical_or_404(arxiv_id)
    with db.session() as session:
        paper = queries.paper_by_arxiv_id(session, canonical)
        if paper is None:
            return missing_paper_response(request, canonical)
        latest = latest_entry(paper)
        why = trending.explain(latest, trending.reference_time(session)) if latest is not None else None
        concurrent = concurrent_cards(engine, session, paper)
        related = related_cards(engine, session, paper, frozenset(c.paper.id for c in concurrent))
        versions = queries.paper_versions(session, paper.id)
        built = queries.built_on(session, paper.id)
        viewer = getattr(request.state, "user", None)
        personal: dict[str, Any]
        if viewer is not None and request.scope["state"].get(GENERIC):
            # the copy every reader with this role shares: each comment, marked whose it is; no block
            personal = {"comments": actions.visible_comments(session, paper.id, viewer, hidden_too=True)}
        else:
            personal = {"comments": actions.visible_comments(session, paper.id, viewer)}
            if viewer is not None:
                personal["mine"] = actions.paper_personal(session, viewer.id, paper.id)
        return _render(
            request,
            "paper.html",
            {
                **personal,
                "related": related,
                "concurrent": concurrent,
                "following": _follows(request, session, "paper", paper.arxiv_id),
                "citation_authors": [
                    f"{n.family}, {n.given}" if n.given else n.family
                    for n in map(cite.split_name, [a for a in paper.authors or () if isinstance(a, str)])
                ][:CITATION_AUTHORS],
                "bibtex": cite.bibtex(paper),
                "paper": paper,
                "card": Card(paper, latest, why),
                "versions": versions,
                "built": built,
                "has_text": texts.has_text(session, paper.id),
                "changes": version_changes(versions),
                "reference_label": _time_label(why.reference_time) if why else "",
                "formula": f"upvotes / (hours since listed + {trending.OFFSET_HOURS:g})^{trending.GRAVITY:g}",
                **(extra or {}),
            },
            status,
        )
