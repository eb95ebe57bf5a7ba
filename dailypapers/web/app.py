"""The application factory: ``create_app(settings)`` builds a FastAPI app with its own database.

No engine exists at import time; ``uvicorn --factory dailypapers.web.app:create_app`` or the tests call
the factory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from dailypapers import __version__
from dailypapers.config import Settings
from dailypapers.store.db import Database

WEB_DIR = Path(__file__).parent


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
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

    app = FastAPI(title="dailypapers", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.templates = Jinja2Templates(directory=WEB_DIR / "templates")
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    from dailypapers.web import pages

    app.include_router(pages.router)
    return app
