"""The application factory: ``create_app(settings)`` builds a FastAPI app with its own database.

No engine exists at import time; ``uvicorn --factory dailypapers.web.app:serving_app`` (what
``dailypapers serve`` runs) or the tests call the factory. One error handler renders every error as JSON
for the API and feeds, and as a friendly page for HTML: a user never sees a traceback, and the API never
answers 200 with an error. In front of it all, unless ``response_cache`` is off, sits the response
cache (:mod:`dailypapers.web.cache`).
"""

from __future__ import annotations

import functools
import gc
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from dailypapers import __version__, malloc, metrics
from dailypapers.application import Application
from dailypapers.config import Settings, resolve_secret_key
from dailypapers.errors import DailyPapersError
from dailypapers.store.db import Database
from dailypapers.store.replica import data_version
from dailypapers.urls import safe_href
from dailypapers.web import api_docs, mcp
from dailypapers.web.auth import AuthMiddleware, Sessions, client_key, safe_next
from dailypapers.web.cache import CacheMiddleware, ResponseCache
from dailypapers.web.deps import WebParts, parts_of
from dailypapers.web import metrics as web_metrics
from dailypapers.web import personal_cache
from dailypapers.web.guards import RequestGuard
from dailypapers.web.replica import ReadRouting
from dailypapers.web.metrics import MetricsMiddleware
from dailypapers.web import security
from dailypapers.web.text import comment_html, hf_discussion_url, hf_repo_url, hf_repos_url, title_html

WEB_DIR = Path(__file__).parent
log = logging.getLogger("dailypapers.web")


def wants_json(request: Request) -> bool:
    """Whether an error on this request is answered as JSON (the API and feeds) rather than as a page."""
    path = request.url.path
    return path.startswith("/api/") or path.startswith("/feeds/") or path.endswith((".json", ".atom"))


def error_response(request: Request, status: int, message: str) -> Response:
    """An error answer: ``{"error": message}`` for the API and feeds, the error page for the site."""
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    templates = parts_of(request).templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def highlight(text: str | None) -> Markup:
    """Text with \\x02…\\x03 match markers as HTML: the text is escaped first, then each marked span
    becomes ``<mark>…</mark>`` (markers that do not pair up are closed or dropped), so no data is ever
    raw HTML."""
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


def list_address(request: Request) -> str:
    """Where to come back to after logging in from this page: its path and query, the list up to the
    page shown (``?p=N``, a page "More papers" loaded, becomes ``?upto=N``)."""
    query = re.sub(r"(^|&)p=", r"\1upto=", request.url.query, count=1)
    return request.url.path + (f"?{query}" if query else "")


def viewer_context(request: Request) -> dict[str, Any]:
    """What every template knows about the reader: ``viewer`` (the logged-in user or None) and the
    ``csrf_token`` its forms carry."""
    state = request.scope.get("state") or {}
    user = state.get("user")
    if user is not None and state.get(personal_cache.GENERIC):  # the copy every reader shares: markers
        return {
            "viewer": personal_cache.GenericViewer(user.role),
            "csrf_token": personal_cache.CSRF,
            "viewer_hue": personal_cache.HUE,
            "viewer_initial": personal_cache.INITIAL,
            "generic": True,
        }
    name = (user.display_name or "") if user is not None else ""
    return {
        "viewer": user,
        "csrf_token": state.get("csrf_token") or "",
        "viewer_hue": len(name) % 8,
        "viewer_initial": name[:1].upper(),
    }


def serving_app() -> FastAPI:
    """The app ``dailypapers serve`` runs in each worker: :func:`create_app` from the environment, whose
    start-up objects are then frozen out of the garbage collector's full passes (``gc.freeze``; once
    per process, which the tests' many apps in one process must not do)."""
    app = create_app()
    app.state.freeze_gc = True
    return app


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """A FastAPI app serving one :class:`Application` made from ``settings`` (default: the environment's;
    the secret key resolved and checked for the host), on ``database`` when given."""
    settings = resolve_secret_key(settings or Settings())
    malloc.limit_arenas()  # a serving process's threads would otherwise each keep memory of their own
    application = Application(settings, database=database, web=True)
    db = application.db

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the requests' threads: fewer than the pooled connections (the response cache's version read and
        # a write after a read need one more), so a request never waits on the pool for ever
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, db.pool_capacity - 2)
        db.migrate()
        if settings.load_demo:
            from dailypapers.demo import load_demo

            load_demo(db)
        # the model and the vector index load beside the first requests; /readyz says when they are in
        application.warm_up_in_background()
        async with mcp_transport.running():  # the /mcp server, made anew for each start
            if getattr(app.state, "freeze_gc", False):
                # what the start made (modules, routes, templates: most of a worker's objects) lives as
                # long as the process: out of the collector's full passes, which otherwise cost a request
                # every few dozen ~100 ms (bench/following.py: p99 179 ms -> 76 ms)
                gc.collect()
                gc.freeze()
            yield
        metrics.process_exited()
        application.close()

    app = FastAPI(
        title="dailypapers",
        version=__version__,
        description="Daily papers, search and paper pages; compatible with the Hugging Face papers API.",
        lifespan=lifespan,
        docs_url=None,  # dailypapers.web.api_docs serves /docs and /redoc from vendored copies
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=WEB_DIR / "templates", context_processors=[viewer_context])
    templates.env.filters["highlight"] = highlight
    templates.env.filters["comment_html"] = comment_html
    templates.env.filters["hf_discussion_url"] = hf_discussion_url
    templates.env.filters["hf_repo_url"] = hf_repo_url
    templates.env.globals["hf_repos_url"] = hf_repos_url
    templates.env.filters["title_html"] = title_html
    templates.env.filters["safe_url"] = safe_href
    templates.env.filters["path_segment"] = lambda value: quote(str(value), safe="")
    templates.env.globals["site_url"] = settings.site_url.rstrip("/")
    templates.env.globals["vote_marker"] = personal_cache.vote_marker
    templates.env.globals["vote_else"] = personal_cache.VOTE_ELSE
    templates.env.globals["vote_end"] = personal_cache.VOTE_END
    templates.env.globals["own_marker"] = personal_cache.own_marker
    templates.env.globals["own_else"] = personal_cache.OWN_ELSE
    templates.env.globals["own_end"] = personal_cache.OWN_END
    templates.env.globals["personal_marker"] = personal_cache.personal_marker
    templates.env.globals["follow_marker"] = personal_cache.follow_marker
    templates.env.globals["follow_else"] = personal_cache.follow_else
    templates.env.globals["follow_end"] = personal_cache.follow_end
    templates.env.globals["list_address"] = list_address
    templates.env.globals["mark_marker"] = personal_cache.mark_marker
    templates.env.globals["mark_label_marker"] = personal_cache.mark_label_marker
    templates.env.globals["mark_classes"] = personal_cache.mark_classes
    templates.env.globals["mark_label"] = personal_cache.mark_label
    application.search  # made before the first request (the model loads at start)
    parts = app.state.parts = WebParts(application, templates, Sessions(settings, db))
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    mcp_transport = mcp.Transport(
        application, lambda request: application.limiter.hit("mcp", client_key(request))
    )
    app.router.routes.append(
        Route("/mcp", mcp_transport, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    )

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

    from dailypapers.web import api, community_api, community_pages, feeds, health, pages, personal

    app.include_router(health.router)
    app.include_router(api_docs.router)
    app.include_router(web_metrics.router)
    app.include_router(personal.api)
    app.include_router(community_api.router)  # before api: its GET /api/papers/{id} matches any path
    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(community_pages.router)
    app.include_router(personal.router)
    app.include_router(pages.router)
    if db.replica is not None:  # GETs read from the replica; a writer's next pages see their write
        app.add_middleware(ReadRouting, db=db, settings=settings)
    if settings.response_cache:
        cache = parts.response_cache = make_response_cache(db, settings)
        # inside the session check: list pages for logged-in readers, shared and made personal
        parts.shared_copies = personal_cache.SharedCopies()
        app.add_middleware(
            personal_cache.PersonalPages,
            db=db,
            version=cache.current_version,
            copies=parts.shared_copies,
            check_interval=settings.cache_check_interval,
            block=functools.partial(pages.personal_block, templates),
        )
    app.add_middleware(AuthMiddleware, db=db, sessions=parts.sessions)
    if parts.response_cache is not None:
        app.add_middleware(CacheMiddleware, cache=parts.response_cache)
    app.add_middleware(RequestGuard, render=error_response)  # bounded query strings; 503 when the DB is out
    security.install(app, settings, docs_paths=api_docs.PATHS)  # body limit, security headers on every answer
    if settings.metrics:
        metrics.configure(settings)
        app.add_middleware(MetricsMiddleware, pool=lambda: db.engine.pool)  # outermost: counts all
    return app


def make_response_cache(db: Database, settings: Settings) -> ResponseCache:
    """A :class:`ResponseCache` for the app (:func:`create_app` puts it in front); it follows the data
    version in ``db``, read where the pages are read: from the replica while it serves reads (see
    :func:`dailypapers.store.replica.data_version`)."""

    def read_version() -> int:
        return data_version(db)

    cache = ResponseCache(
        read_version,
        check_interval=settings.cache_check_interval,
        max_bytes=settings.cache_max_bytes,
        max_age=settings.cache_max_age,
    )
    return cache
