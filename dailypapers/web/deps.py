"""What a route needs, as FastAPI dependencies with ``Annotated`` types.

A route declares what it uses — ``app: App``, ``db: DB``, ``settings: AppSettings``, ``search: Search``,
``templates: Templates``, ``viewer: Viewer`` — and FastAPI hands it in; nothing else reads the app's state.
The parts are made once by :func:`dailypapers.web.app.create_app` (an :class:`Application` and the web's
own: templates, cookie sessions, the response cache) and kept in :class:`WebParts`. Helpers that are
given the request itself (rate limits, log-in) use :func:`parts_of`. The dependencies are ``async`` so
FastAPI runs them in the event loop, not in a thread each. With a read replica, ``db`` of a GET or HEAD
is the replica's view of the database (:func:`dailypapers.web.replica.reads_for`): its read sessions
are on the replica unless the reader has a write it has not replayed yet; writes still go to the primary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from fastapi.templating import Jinja2Templates
from starlette.requests import HTTPConnection

from dailypapers.application import Application
from dailypapers.config import Settings
from dailypapers.search.hybrid import SearchEngine
from dailypapers.store.db import Database
from dailypapers.store.models import User
from dailypapers.web.replica import reads_for

if TYPE_CHECKING:
    from dailypapers.web.auth import Sessions
    from dailypapers.web.cache import ResponseCache
    from dailypapers.web.personal_cache import SharedCopies


@dataclass
class WebParts:
    """The application and the web's own parts, made once per app."""

    application: Application
    templates: Jinja2Templates
    sessions: Sessions
    response_cache: ResponseCache | None = None
    shared_copies: SharedCopies | None = None  # list pages for logged-in readers


def parts_of(connection: HTTPConnection) -> WebParts:
    """The parts of the app serving this request."""
    return connection.app.state.parts


async def _application(connection: HTTPConnection) -> Application:
    return parts_of(connection).application


async def _settings(connection: HTTPConnection) -> Settings:
    return parts_of(connection).application.settings


async def _db(connection: HTTPConnection) -> Database:
    db = parts_of(connection).application.db
    if db.replica is None:
        return db
    return await reads_for(connection, db)


async def _search(connection: HTTPConnection) -> SearchEngine:
    return parts_of(connection).application.search


async def _templates(connection: HTTPConnection) -> Jinja2Templates:
    return parts_of(connection).templates


async def _viewer(connection: HTTPConnection) -> User | None:
    return getattr(connection.state, "user", None)


App = Annotated[Application, Depends(_application)]
AppSettings = Annotated[Settings, Depends(_settings)]
DB = Annotated[Database, Depends(_db)]
Search = Annotated[SearchEngine, Depends(_search)]
Templates = Annotated[Jinja2Templates, Depends(_templates)]
Viewer = Annotated[User | None, Depends(_viewer)]
