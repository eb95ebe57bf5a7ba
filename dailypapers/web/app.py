"""The application factory: ``create_app(settings)`` builds a FastAPI app with its own database.

No engine exists at import time; ``uvicorn --factory dailypapers.web.app:create_app`` or the tests call
the factory. One error handler renders every error as JSON for the API and feeds, and as a friendly
page for HTML: a user never sees a traceback, and the API never answers 200 with an error. In front
of it all, unless ``response_cache`` is off, sits the response cache (:mod:`dailypapers.web.cache`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from dailypapers import __version__
from dailypapers.community.ratelimit import RateLimiter, parse_limits
from dailypapers.config import Settings, resolve_secret_key
from dailypapers.recommend.service import CandidatePool
from dailypapers.errors import DailyPapersError
from dailypapers.search.embed import backend_for_setting
from dailypapers.search.hybrid import SearchEngine
from dailypapers.store.db import Database
from dailypapers.store.state import current_version
from dailypapers.urls import safe_href
from dailypapers.web.auth import AuthMiddleware, Sessions, safe_next
from dailypapers.web.cache import CacheMiddleware, ResponseCache
from dailypapers.web.guards import RequestGuard
from dailypapers.web import security
from dailypapers.web.text import comment_html

WEB_DIR = Path(__file__).parent
log = logging.getLogger("dailypapers.web")


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.startswith("/feeds/") or path.endswith((".json", ".atom"))


def error_response(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def highlight(text: str | None) -> Markup:
    """Text with \\x02…\\x03 match markers as HTML: the text is escaped first, then each marked span
    becomes ``<mark>…</mark>`` (markers that do not pair up are closed or dropped), so no data is ever raw HTML."""
    if not text:
        return Markup("")
    parts: list[str] = []
    open_mark = False
    for piece in re.split("([\x02\x03])", text):
        if piece == "\x02":
            if not open_mark:
                parts.append("<mark>")
                open_mark = True
        elif piece == "\x03":
            if open_mark:
                parts.append("</mark>")
                open_mark = False
        else:
            parts.append(str(escape(piece)))
    if open_mark:
        parts.append("</mark>")
    return Markup("".join(parts).replace("<mark></mark>", ""))  # nosec B704 # every piece escaped above


def viewer_context(request: Request) -> dict[str, Any]:
    """What every template knows about the reader: ``viewer`` (the logged-in user or None) and the
    ``csrf_token`` its forms carry."""
    state = request.scope.get("state") or {}
    return {"viewer": state.get("user"), "csrf_token": state.get("csrf_token") or ""}


def make_fetcher(settings: Settings) -> Callable[[str], Any]:
    """Fetch one paper from the arXiv API (for submissions of papers not stored yet)."""

    def fetch(arxiv_id: str) -> Any:
        from dailypapers.ingest import arxiv_api
        from dailypapers.ingest.http import client_from_settings

        with client_from_settings(settings, retries=1) as client:
            return arxiv_api.fetch_paper(client, arxiv_id, base_url=settings.arxiv_api_url)

    return fetch


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = resolve_secret_key(settings or Settings())  # the key that signs, checked for the host
    db = database or Database.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db.migrate()
        if settings.load_demo:
            from dailypapers.demo import load_demo

            load_demo(db)
        yield
        if database is None:
            db.dispose()

    app = FastAPI(
        title="dailypapers",
        version=__version__,
        description="Daily papers, search and paper pages; compatible with the Hugging Face papers API.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    backend = backend_for_setting(settings.embedding_backend, web=True)
    app.state.search = SearchEngine(db, backend)
    app.state.recommender = CandidatePool(db, backend.name) if backend is not None else None
    app.state.sessions = Sessions(settings, db)
    app.state.limiter = RateLimiter(db, parse_limits(settings.rate_limits))
    app.state.fetch_paper = make_fetcher(settings)
    app.state.templates = Jinja2Templates(
        directory=WEB_DIR / "templates", context_processors=[viewer_context]
    )
    app.state.templates.env.filters["highlight"] = highlight
    app.state.templates.env.filters["comment_html"] = comment_html
    app.state.templates.env.filters["safe_url"] = safe_href
    app.state.templates.env.globals["site_url"] = settings.site_url.rstrip("/")
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.exception_handler(DailyPapersError)
    async def _domain_error(request: Request, exc: DailyPapersError) -> Response:
        if exc.status == 401 and not wants_json(request):  # a page that needs a login: go and log in
            target = "/account/login?" + urlencode({"next": safe_next(request.url.path)})
            if request.headers.get("HX-Request") == "true":
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        response = error_response(request, exc.status, exc.message)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}"
        response = error_response(request, exc.status_code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return error_response(request, 400, f"{where or 'request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(request, 500, "something went wrong on our side; it has been logged")

    from dailypapers.web import api, community_api, community_pages, feeds, pages, personal

    app.include_router(personal.api)
    app.include_router(community_api.router)  # before api: its GET /api/papers/{id} matches any path
    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(community_pages.router)
    app.include_router(personal.router)
    app.include_router(pages.router)
    app.add_middleware(AuthMiddleware, db=db, sessions=app.state.sessions)
    app.state.response_cache = None
    if settings.response_cache:
        app.state.response_cache = add_response_cache(app, db, settings)
    app.add_middleware(RequestGuard, render=error_response)  # bounded query strings; 503 when the DB is out
    security.install(app, settings)  # outermost: body limit and security headers on every answer
    return app


def add_response_cache(app: FastAPI, db: Database, settings: Settings) -> ResponseCache:
    """Put a :class:`ResponseCache` in front of the app; it follows the data version in ``db``."""

    def read_version() -> int:
        with db.session() as session:
            return current_version(session)

    cache = ResponseCache(
        read_version,
        check_interval=settings.cache_check_interval,
        max_bytes=settings.cache_max_bytes,
        max_age=settings.cache_max_age,
    )
    app.add_middleware(CacheMiddleware, cache=cache)
    return cache
