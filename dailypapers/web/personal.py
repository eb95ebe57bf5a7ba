"""Papers picked for the reader ("For you", ``GET /api/recommendations``), the cold-start picks, and
digest subscriptions (subscribe, confirm, one-click unsubscribe) — pages and JSON API together."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from dailypapers.community.actions import latest_entry
from dailypapers.application import Application
from dailypapers.community import follows
from dailypapers.digest import subscriptions as subs
from dailypapers.errors import BadRequest, DailyPapersError, NotFound
from dailypapers.recommend import service as rec
from dailypapers.rank import trending
from dailypapers.store import queries
from dailypapers.store.models import FREQUENCIES, Paper, Subscription
from dailypapers.web.api import _int, load_papers
from dailypapers.web.auth import current_user, rate_limit, require_user
from dailypapers.web.community_pages import _back, _form_page
from dailypapers.web.deps import DB, App, Search
from dailypapers.web.pages import PAGE_SIZE, Card, _list_view, _page_number, _paging, _render
from dailypapers.web.serializers import iso, search_item_json

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["recommendations and digests"])


def picks_for(
    app: Application, user_id: int, limit: int
) -> tuple[list[rec.Pick], dict[int, Paper], dict[int, Any], dict[int, str]]:
    """The reader's recommendations, their papers (and the liked papers the reasons name), each paper's
    latest listing, and the titles of the liked papers."""
    pool = app.candidates
    if pool is None:
        return [], {}, {}, {}
    picks = rec.recommend_for(
        app.db, pool, user_id, limit=limit, window_days=app.settings.recommend_window_days
    )
    with app.db.session() as session:
        papers = load_papers(
            session, [p.paper_id for p in picks] + [p.because_id for p in picks if p.because_id]
        )
        titles = {pid: paper.title for pid, paper in papers.items()}
        latest = queries.latest_entries_for(session, [p.paper_id for p in picks])
    return picks, papers, latest, titles


# --- recommendations ---------------------------------------------------------------------------------


@api.get("/recommendations", summary="Papers picked for the logged-in reader, each with its reason")
def recommendations(
    request: Request, app: App, limit: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    """Up to `limit` (default 20) papers for the logged-in reader, best first, each with its reason and
    the liked paper behind it; empty when semantic search is off."""
    user = require_user(request)
    size = _int(limit, "limit", 20, 1, 100)
    picks, papers, latest, titles = picks_for(app, user.id, size)
    body = []
    for pick in picks:
        paper = papers.get(pick.paper_id)
        if paper is None:
            continue
        item = search_item_json(paper, latest.get(paper.id))
        item["reason"] = rec.reason_text(pick, titles)
        item["score"] = round(pick.score, 4)
        item["words"] = list(pick.words)
        because = papers.get(pick.because_id or -1)
        item["because"] = (
            {"id": because.arxiv_id, "title": because.title, "similarity": round(pick.similarity, 4)}
            if because
            else None
        )
        body.append(item)
    return body


class Interests(BaseModel):
    """What a reader picked to start recommendations: arXiv ids, author names, categories and
    organizations."""

    paper: list[str] = Field(default_factory=list, max_length=50)
    author: list[str] = Field(default_factory=list, max_length=50)
    category: list[str] = Field(default_factory=list, max_length=50)
    organization: list[str] = Field(default_factory=list, max_length=50)


@api.get("/me/interests", summary="What the reader picked to start recommendations")
def get_interests(request: Request, db: DB) -> dict[str, list[str]]:
    """The papers, authors, categories and organizations the logged-in reader picked."""
    user = require_user(request)
    with db.session() as session:
        return rec.interests_of(session, user.id)


@api.put("/me/interests", summary="Pick papers, authors, categories or organizations you like")
def put_interests(request: Request, db: DB, body: Interests) -> dict[str, list[str]]:
    """Replace the logged-in reader's picks with these; answers the picks as stored."""
    user = require_user(request)
    rate_limit(request, "write")
    rec.set_interests(db, user, body.model_dump())
    with db.session() as session:
        return rec.interests_of(session, user.id)


@router.get("/for-you", response_class=HTMLResponse)
def for_you_page(request: Request, app: App) -> HTMLResponse:
    """The reader's recommendations with their reasons, and the choices that start them."""
    user = require_user(request)
    picks, papers, latest, titles = picks_for(app, user.id, 30)
    cards = []
    reasons = {}
    for pick in picks:
        paper = papers.get(pick.paper_id)
        if paper is not None:
            cards.append(Card(paper, latest.get(paper.id)))
            reasons[paper.id] = rec.reason_text(pick, titles)
    with app.db.session() as session:
        interests = rec.interests_of(session, user.id)
        categories = rec.popular(session, "category", 24)
        organizations = rec.popular(session, "organization", 24)
        starters = [e.paper for e, _ in trending.trending_entries(session, limit=12)[0]]
    return _render(
        request,
        "for_you.html",
        {
            "cards": cards,
            "reasons": reasons,
            "interests": interests,
            "categories": categories,
            "organizations": organizations,
            "starters": starters,
            "nav": "for-you",
            "semantic_off": app.candidates is None,
        },
    )


@router.post("/for-you/interests")
def for_you_interests(
    request: Request,
    db: DB,
    paper: Annotated[list[str] | None, Form()] = None,
    category: Annotated[list[str] | None, Form()] = None,
    organization: Annotated[list[str] | None, Form()] = None,
    authors: Annotated[str, Form()] = "",
) -> Response:
    """Save the picks of the "For you" form and go back to the page."""
    user = require_user(request)
    rate_limit(request, "write")
    picks = {
        "paper": paper or [],
        "category": category or [],
        "organization": organization or [],
        "author": [a for a in (x.strip() for x in authors.replace("\n", ";").split(";")) if a],
    }
    rec.set_interests(db, user, picks)
    return RedirectResponse("/for-you", status_code=303)


# --- subscriptions -----------------------------------------------------------------------------------


class SubscribeBody(BaseModel):
    """A digest subscription asked for: the address (default: the account's) and what to send when."""

    email: str | None = Field(None, max_length=400)
    frequency: str = "daily"
    trending: bool = True
    forYou: bool = False  # noqa: N815
    categories: list[str] = Field(default_factory=list, max_length=20)
    organizations: list[str] = Field(default_factory=list, max_length=20)
    timezone: str = subs.DEFAULT_TIMEZONE
    sendHour: int = 7  # noqa: N815


def subscription_json(sub: Subscription) -> dict[str, Any]:
    """A subscription as the API shows it to its owner."""
    return {
        "email": sub.email,
        "frequency": sub.frequency,
        "trending": sub.trending,
        "forYou": sub.for_you,
        "categories": sub.categories or [],
        "organizations": sub.organizations or [],
        "timezone": sub.timezone,
        "sendHour": sub.send_hour,
        "confirmed": sub.confirmed_at is not None,
        "active": sub.active,
        "createdAt": iso(sub.created_at),
    }


PENDING = "check your inbox: a link confirms the subscription"


def do_subscribe(
    app: Application, request: Request, email: str | None, prefs: subs.Preferences
) -> subs.Subscribed:
    """Subscribe (the account's address when logged in and none given); mail the confirmation link unless
    the caller owns the address. The answer never tells a stranger whether an address is subscribed."""
    user = current_user(request)
    address = email or (user.email if user else "") or ""  # an account's confirmed address only
    if not address:
        if user is not None:
            raise BadRequest(
                "email: confirm your account's address first (see your account page), "
                "or give the address to send the digest to"
            )
        raise BadRequest("email: give the address to send the digest to")
    rate_limit(request, "subscribe")
    return app.subscribe(address, prefs, user=user)


@api.post("/subscriptions", status_code=202, summary="Subscribe to the digest (double opt-in by mail)")
def api_subscribe(request: Request, app: App, body: SubscribeBody) -> dict[str, Any]:
    """Subscribe an address (default: the logged-in reader's) to the digest: a link mailed to it confirms,
    unless it is the reader's own address, already subscribed (then the change holds at once)."""
    prefs = subs.Preferences(
        body.frequency,
        body.trending,
        body.forYou,
        tuple(body.categories),
        tuple(body.organizations),
        body.timezone,
        body.sendHour,
    )
    done = do_subscribe(app, request, body.email, prefs)
    if done.owner:
        answer = subscription_json(done.subscription)
        answer["message"] = "subscribed"
        return answer
    return {"email": done.subscription.email, "message": PENDING}


@api.get("/me/subscription", summary="The logged-in reader's digest subscription")
def api_my_subscription(request: Request, db: DB) -> dict[str, Any]:
    """The logged-in reader's digest subscription; 404 when there is none."""
    user = require_user(request)
    sub = subs.subscription_of(db, user)
    if sub is None:
        raise NotFound("no subscription; POST /api/subscriptions to make one")
    return subscription_json(sub)


def _prefs_from_form(
    frequency: str, sections: list[str], categories: str, organizations: str, timezone: str, send_hour: str
) -> subs.Preferences:
    try:
        hour = int(send_hour or 7)
    except ValueError:
        raise BadRequest(f"send hour must be a number, got {send_hour!r}") from None
    return subs.Preferences(
        frequency,
        "trending" in sections,
        "for_you" in sections,
        tuple(categories.split(",")),
        tuple(organizations.split(",")),
        timezone or subs.DEFAULT_TIMEZONE,
        hour,
    )


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_page(request: Request, db: DB) -> Response:
    """The digest subscription form (with the reader's subscription, when logged in)."""
    user = current_user(request)
    sub = subs.subscription_of(db, user) if user else None
    return _form_page(request, "subscribe.html", {"sub": sub, "frequencies": FREQUENCIES, "nav": "subscribe"})


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe_submit(
    request: Request,
    app: App,
    email: Annotated[str, Form()] = "",
    frequency: Annotated[str, Form()] = "daily",
    sections: Annotated[list[str] | None, Form()] = None,
    categories: Annotated[str, Form()] = "",
    organizations: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    send_hour: Annotated[str, Form()] = "7",
) -> Response:
    """Subscribe from the form; the form again with what happened (or what was wrong)."""
    try:
        prefs = _prefs_from_form(frequency, sections or [], categories, organizations, timezone, send_hour)
        done = do_subscribe(app, request, email.strip() or None, prefs)
    except DailyPapersError as exc:
        page = _form_page(
            request,
            "subscribe.html",
            {
                "error": exc.message,
                "frequencies": FREQUENCIES,
                "values": {"email": email, "categories": categories, "organizations": organizations},
            },
            exc.status,
        )
        page.headers.update(exc.headers)
        return page
    return _form_page(
        request,
        "subscribe.html",
        {"done": True, "pending": not done.owner, "sub": done.subscription, "frequencies": FREQUENCIES},
    )


def _link_page(request: Request, app: Application, token: str, follow: Any, action: str) -> HTMLResponse:
    """The page of a mailed link: ``follow(db, settings, token)`` gives the subscription (or the error
    shown instead); ``action`` says what the page offers or reports."""
    try:
        sub = follow(app.db, app.settings, token)
    except DailyPapersError as exc:
        return _render(request, "digest_link.html", {"error": exc.message}, exc.status)
    return _render(request, "digest_link.html", {"action": action, "sub": sub, "token": token})


@router.get("/digest/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, app: App, token: str) -> HTMLResponse:
    """The page of a mailed confirmation link: a button confirms (a link checker's GET changes nothing)."""
    return _link_page(request, app, token, subs.subscription_for_confirm, "confirm")


@router.post("/digest/confirm/{token}", response_class=HTMLResponse)
def confirm_submit(request: Request, app: App, token: str) -> HTMLResponse:
    """Confirm the subscription (and the preferences) the mailed link carries."""
    return _link_page(request, app, token, subs.confirm, "confirmed")


@router.get("/digest/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, app: App, token: str) -> HTMLResponse:
    """The page of a mailed unsubscribe link: a button ends the subscription."""
    return _link_page(request, app, token, subs.subscription_for_unsubscribe, "unsubscribe")


@router.post("/digest/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_submit(request: Request, app: App, token: str) -> HTMLResponse:
    """Unsubscribe: the page's button, or a mail client's RFC 8058 one-click POST
    (``List-Unsubscribe=One-Click``), neither needing a login or a cookie."""
    return _link_page(request, app, token, subs.unsubscribe, "unsubscribed")


# --- following ---------------------------------------------------------------------------------------


def _following_page(
    request: Request, app: Application, engine: Any, secret: str | None = None
) -> HTMLResponse:
    user = require_user(request)
    page = _page_number(request)
    view = _list_view(request)
    with app.db.session() as session:
        found, total = follows.following(
            session,
            engine,
            user.id,
            limit=PAGE_SIZE,
            offset=page * PAGE_SIZE,
            cache=app.follows_cache,
            filters=view.filters,
        )
        followed = follows.follows_of(session, user.id)
        has_feed = follows.has_feed(session, user.id)
    more, first = _paging(request, page, total)
    site = app.settings.site_url.rstrip("/")
    return _render(
        request,
        "following.html",
        {
            "cards": [Card(f.paper, latest_entry(f.paper)) for f in found],
            "reasons": {f.paper.id: "; ".join(f.reasons) for f in found},
            "followed": followed,
            "total": total,
            "more_url": more,
            "first_url": first,
            "has_feed": has_feed,
            "feed_url": f"{site}/feeds/following/{secret}.atom" if secret else "",
            "kinds": follows.KINDS,
            "nav": "following",
            "view": view,
        },
    )


@router.get("/following", response_class=HTMLResponse)
def following_page(request: Request, app: App, engine: Search) -> HTMLResponse:
    """New papers from the authors, organizations, categories and searches the reader follows, newest
    first, each with its reasons; what they follow; their private feed."""
    return _following_page(request, app, engine)


@router.post("/following")
def following_change(
    request: Request,
    db: DB,
    kind: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
    on: Annotated[str, Form()] = "1",
) -> Response:
    """Follow (``on=1``) or stop following (``on=0``) something, then back to the page the form was on."""
    user = require_user(request)
    rate_limit(request, "write")
    if on == "1":
        follows.follow(db, user, kind, value)
    else:
        follows.unfollow(db, user, kind, value)
    return _back(request, "/following")


@router.post("/following/feed", response_class=HTMLResponse)
def following_feed_change(
    request: Request, app: App, engine: Search, action: Annotated[str, Form()] = "new"
) -> Response:
    """A new secret address for the private feed (shown once, on the page this answers with; the old
    address stops working), or ``action=revoke``: no address at all."""
    user = require_user(request)
    rate_limit(request, "write")
    if action == "revoke":
        follows.revoke_feed(app.db, user)
        return RedirectResponse("/following", status_code=303)
    if action != "new":
        raise BadRequest(f"action must be new or revoke, got {action[:40]!r}")
    return _following_page(request, app, engine, follows.new_feed_token(app.db, user))
