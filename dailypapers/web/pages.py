"""HTML pages (server-rendered Jinja2)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id
from dailypapers.store import queries

router = APIRouter()
NEW_YORK = ZoneInfo("America/New_York")


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The latest day's daily papers (today's, once today has any)."""
    db = request.app.state.db
    with db.session() as session:
        day = queries.latest_day(session, datetime.now(NEW_YORK).date())
        entries = queries.list_entries(session, day, day, limit=100)[0] if day else []
    return request.app.state.templates.TemplateResponse(
        request, "home.html", {"day": day, "entries": entries}
    )


@router.get("/papers/{arxiv_id:path}", response_class=HTMLResponse)
def paper_page(request: Request, arxiv_id: str) -> HTMLResponse:
    try:
        canonical, _ = canonical_arxiv_id(arxiv_id)
    except InvalidArxivId as exc:
        raise HTTPException(404, f"no paper {arxiv_id!r}") from exc
    with request.app.state.db.session() as session:
        paper = queries.paper_by_arxiv_id(session, canonical)
    if paper is None:
        raise HTTPException(404, f"no paper {canonical}")
    return request.app.state.templates.TemplateResponse(request, "paper.html", {"paper": paper})
