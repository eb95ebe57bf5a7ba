"""The site for assistants: an MCP server (the official Python SDK's ``MCPServer``) with read-only tools,
the same service functions the JSON API and the pages use.

``dailypapers mcp`` serves it over stdio; the site serves it at ``/mcp`` (streamable HTTP, stateless,
JSON responses). Tools: ``search_papers``, ``daily_papers``, ``paper``, ``related_papers`` and
``read_paper`` (the paper as Markdown). Nothing writes; over HTTP each request counts against the
client's ``mcp`` rate limit (120 a minute by default, ``rate_limits``), like the site's other limits.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError  # its message is what the assistant sees
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse

from dailypapers import __version__
from dailypapers.community.actions import latest_entry
from dailypapers.errors import DailyPapersError, TooManyRequests
from dailypapers.periods import day_period, parse_day, parse_month, parse_week, today
from dailypapers.rank import trending
from dailypapers.search.hybrid import MODES
from dailypapers.store import queries, texts
from dailypapers.web.api import paper_or_404, parse_filters, related_items
from dailypapers.web.pages import paper_markdown
from dailypapers.web.serializers import entry_json, paper_json, search_item_json

if TYPE_CHECKING:
    from dailypapers.application import Application

MAX_RESULTS = 50
INSTRUCTIONS = (
    "Research papers as the community lists and upvotes them each day. Search them by keywords and "
    "meaning, read one (its Markdown), list a day's, week's or month's papers or the trending ones, and "
    "find related papers. Paper ids are arXiv ids such as 2406.12345."
)


def _checked(limit: int | None, default: int) -> int:
    if limit is None:
        return default
    if not 1 <= int(limit) <= MAX_RESULTS:
        raise ToolError(f"limit must be between 1 and {MAX_RESULTS}, got {limit}")
    return int(limit)


def build_server(application: Application) -> MCPServer:
    """The MCP server over ``application`` (its database and search engine)."""
    server = MCPServer(
        name="dailypapers",
        title="dailypapers",
        instructions=INSTRUCTIONS,
        version=__version__,
        website_url=application.settings.site_url,
    )
    db = application.db
    site = application.settings.site_url.rstrip("/")

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except DailyPapersError as error:  # a 400 or 404 of the API: the same message
                raise ToolError(str(error)) from None

        return run

    @server.tool(name="search_papers", title="Search papers")
    @guarded
    def search_papers(
        query: str,
        mode: str = "hybrid",
        category: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        limit: int = 10,
        full_text: bool = False,
    ) -> list[dict[str, Any]]:
        """Search every paper by keywords and meaning. ``query`` takes the search box's syntax ("exact
        phrases", -exclusions, author:, cat:, year:2024); ``mode``: hybrid (default), keyword or semantic;
        ``category`` an arXiv category (cs.CL, or cs); ``date_from``/``date_to`` YYYY-MM-DD; at most
        ``limit`` (1-50) papers, best first; ``full_text``: keywords in the papers' full texts count too."""
        if mode not in MODES:
            raise ToolError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        size = _checked(limit, 10)
        filters = parse_filters(
            date_from, date_to, [category] if category else None, None, None, "true" if full_text else None
        )
        with db.session() as session:
            results = application.search.search(session, query, mode=mode, limit=size, filters=filters)
            latest = queries.latest_entries_for(session, [h.paper_id for h in results.hits])
            return [
                {
                    **search_item_json(results.papers[h.paper_id], latest.get(h.paper_id)),
                    "url": f"{site}/papers/{results.papers[h.paper_id].arxiv_id}",
                }
                for h in results.hits
                if h.paper_id in results.papers
            ]

    @server.tool(name="daily_papers", title="Daily papers")
    @guarded
    def daily_papers(
        date: str | None = None,
        week: str | None = None,
        month: str | None = None,
        sort: str = "upvotes",
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """The papers listed on a day (``date`` YYYY-MM-DD, default the latest), in an ISO ``week``
        (YYYY-Www) or a ``month`` (YYYY-MM), most upvoted first; ``sort="trending"`` without a period
        gives the trending papers. At most ``limit`` (1-50)."""
        size = _checked(limit, 20)
        if sort not in ("upvotes", "trending", "publishedAt", "stars"):
            raise ToolError(f"sort must be upvotes, trending, publishedAt or stars, got {sort!r}")
        given = [v for v in (date, week, month) if v]
        if len(given) > 1:
            raise ToolError("give at most one of date, week and month")
        with db.session() as session:
            if sort == "trending" and not given:
                scored, _ = trending.trending_entries(session, limit=size)
                return [entry_json(e) for e, _ in scored]
            if date:
                period = parse_day(date)
            elif week:
                period = parse_week(week)
            elif month:
                period = parse_month(month)
            else:
                day = queries.latest_day(session, today())
                if day is None:
                    return []
                period = day_period(day)
            order = "upvotes" if sort == "trending" else sort
            entries, _ = queries.list_entries(session, period.start, period.end, sort=order, limit=size)
            return [entry_json(e) for e in entries]

    @server.tool(name="paper", title="One paper")
    @guarded
    def paper(id: str) -> dict[str, Any]:  # noqa: A002 - the tool's argument is called id
        """One paper by arXiv id: title, authors, abstract, organization, code link and stars, upvotes."""
        with db.session() as session:
            found = paper_or_404(session, id)
            return {**paper_json(found, latest_entry(found)), "url": f"{site}/papers/{found.arxiv_id}"}

    @server.tool(name="related_papers", title="Related papers")
    @guarded
    def related_papers(id: str, limit: int = 10) -> list[dict[str, Any]]:  # noqa: A002
        """The papers closest in meaning to one paper (by shared title words without vectors), each with
        its ``similarity``."""
        size = _checked(limit, 10)
        with db.session() as session:
            found = paper_or_404(session, id)
            return related_items(session, application.search.related(session, found, limit=size))

    @server.tool(name="read_paper", title="Read a paper")
    @guarded
    def read_paper(id: str) -> str:  # noqa: A002
        """The paper as Markdown: title, authors, links, AI summary, and its full text when the site
        keeps one (else its abstract)."""
        with db.session() as session:
            paper = paper_or_404(session, id)
            return paper_markdown(paper, site, texts.full_text(session, paper.id))

    return server


def http_app(server: MCPServer) -> Any:
    """The streamable HTTP transport of ``server`` as an ASGI app answering ``/mcp``: stateless (any
    worker answers any request), JSON responses. The tools read public data only and take no cookie, so
    the transport's Host check (against DNS rebinding of a local server) is left to the site's own."""
    return server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


class Transport:
    """The ``/mcp`` endpoint of one app: an ASGI app whose MCP server and streamable HTTP transport are
    made anew each time the app starts (:meth:`running`; the SDK's session manager runs once per
    instance, and an app may start more than once). Each request counts against the client's ``mcp``
    rate limit first (``hit``; beyond it a 429 with ``Retry-After``, as the API answers)."""

    def __init__(self, application: Application, hit: Callable[[Request], None]) -> None:
        self.application = application
        self.hit = hit
        self._app: Any = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve while the app runs (inside its lifespan)."""
        server = build_server(self.application)
        self._app = http_app(server)
        try:
            async with server.session_manager.run():
                yield
        finally:
            self._app = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            refused = JSONResponse({"error": "the MCP server is not running"}, status_code=503)
            await refused(scope, receive, send)
            return
        if scope["type"] == "http":
            try:
                self.hit(Request(scope))
            except TooManyRequests as error:
                headers = {"Retry-After": str(error.retry_after)}
                await JSONResponse({"error": str(error)}, status_code=429, headers=headers)(
                    scope, receive, send
                )
                return
        await self._app(scope, receive, send)
