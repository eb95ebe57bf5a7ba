"""The JSON API of accounts and community actions. Same service functions and rules as the pages.

Clients log in with ``POST /api/auth/login`` (or register), keep the ``dp_session`` cookie, and send the
``csrfToken`` from that answer as ``X-CSRF-Token`` on every POST, PUT, PATCH and DELETE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dailypapers.community.actions import latest_entry
from dailypapers.addresses import clean_email
from dailypapers.community import accounts, actions, follows
from dailypapers.community import sessions as user_sessions
from dailypapers.errors import BadRequest, Forbidden, NotFound
from dailypapers.web.api import _int, parse_list_filter
from dailypapers.web.auth import (
    current_session_id,
    current_user,
    forget_session,
    log_in,
    log_out,
    rate_limit,
    require_user,
)
from dailypapers.web.deps import DB, App, AppSettings, Search, parts_of
from dailypapers.web.serializers import (
    collection_json,
    comment_json,
    entry_json,
    iso,
    paper_json,
    search_item_json,
    user_json,
)

if TYPE_CHECKING:
    from dailypapers.application import Application
    from dailypapers.store.db import Database

router = APIRouter(prefix="/api", tags=["community"])
# The id of a row in a path: at most PostgreSQL's INTEGER (2**31 - 1); a larger number names no row.
RowId = Annotated[int, Path(ge=-(2**31), le=2**31 - 1)]
DEVICE_COOKIE = "dp_device"  # signed: the accounts this browser logged in to (login throttling)


class Registration(BaseModel):
    """A new account: username, e-mail address, password and an optional display name."""

    username: str = Field(max_length=100)
    email: str = Field(max_length=400)
    password: str = Field(max_length=2048)
    displayName: str | None = Field(None, max_length=400)  # noqa: N815 — the API's camelCase


class Login(BaseModel):
    """A log-in: username or e-mail address, and password."""

    login: str = Field(max_length=400, description="Username or e-mail address.")
    password: str = Field(max_length=2048)


class ResetRequest(BaseModel):
    """The address of the account whose password is to be reset."""

    email: str = Field(max_length=400)


class ResetConfirm(BaseModel):
    """The token of a mailed reset link and the new password."""

    token: str = Field(max_length=1000)
    password: str = Field(max_length=2048)


class PasswordChange(BaseModel):
    """The current password and the new one."""

    current: str = Field(max_length=2048)
    new: str = Field(max_length=2048)


class ProfileChange(BaseModel):
    """A new display name and/or a new e-mail address (with the current password)."""

    displayName: str | None = Field(None, max_length=400)  # noqa: N815
    email: str | None = Field(
        None,
        max_length=400,
        description="A new address: it becomes the account's once the link mailed to it is followed.",
    )
    password: str | None = Field(
        None, max_length=2048, description="The current password (to change the address)."
    )


class EmailConfirm(BaseModel):
    """The token of a mailed address-confirmation link."""

    token: str = Field(max_length=1000)


class PasswordConfirm(BaseModel):
    """The account's password, confirming a destructive action."""

    password: str = Field(max_length=2048)


class RevokeAll(BaseModel):
    """Which sessions a log-out everywhere ends."""

    keepCurrent: bool = Field(False, description="End every session but this one.")  # noqa: N815


class Submission(BaseModel):
    """The paper to submit."""

    paper: str = Field(max_length=500, description="arXiv id or URL (arXiv, Hugging Face or this site).")


class CommentBody(BaseModel):
    """The text of a comment."""

    body: str = Field(max_length=20000)


class HideBody(BaseModel):
    """Whether a comment is hidden."""

    hidden: bool = True


class CollectionBody(BaseModel):
    """A collection's name, description and visibility (only the fields given change)."""

    name: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=10000)
    public: bool | None = None


def _me(request: Request, user: Any, token: str | None = None) -> dict[str, Any]:
    body = user_json(user, me=True)
    body["csrfToken"] = token or request.state.csrf_token
    return body


def client_address(request: Request) -> str:
    """The client's address, as the login throttle counts it."""
    return request.client.host if request.client else "unknown"


def check_login(request: Request, login: str, password: str) -> Any:
    """The account of a login form or API login (rate limit, then the throttle, which knows this
    browser by its known-device cookie); both the page and the API log in through here."""
    rate_limit(request, "login")
    application = parts_of(request).application
    return accounts.authenticate(
        application.db,
        application.settings,
        login,
        password,
        client=client_address(request),
        device=request.cookies.get(DEVICE_COOKIE),
    )


def remember_device(request: Request, response: Response, user: Any) -> None:
    """Set the known-device cookie on ``response``: this browser logged in to ``user``."""
    parts = parts_of(request)
    settings = parts.application.settings
    value = accounts.known_device_cookie(settings, request.cookies.get(DEVICE_COOKIE), user)
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=settings.known_device_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=parts.sessions.secure(request.url.scheme),
    )


def change_profile(
    request: Request, user: Any, *, display_name: str | None, email: str | None, password: str | None
) -> Any:
    """Change the display name and ask for a new address (mailing its link); for the page and the API.
    A new address is rate-limited as a password check and as a mail before anything changes."""
    if email is not None and clean_email(email) not in (user.email, user.pending_email):
        rate_limit(request, "login")  # a password is checked
        rate_limit(request, "verify")  # and a mail goes out
    return parts_of(request).application.change_profile(
        user, display_name=display_name, email=email, password=password
    )


# --- accounts ----------------------------------------------------------------------------------------


@router.post("/auth/register", status_code=201, summary="Create an account (and log in)")
def register(
    request: Request, response: Response, body: Registration, settings: AppSettings, app: App
) -> dict[str, Any]:
    """Create an account, log it in and mail the link confirming its address; 403 when registration
    is closed."""
    if not settings.registration_open:
        raise Forbidden("registration is closed on this site")
    rate_limit(request, "register")
    user = app.register(
        username=body.username, email=body.email, password=body.password, display_name=body.displayName
    )
    remember_device(request, response, user)
    return _me(request, user, log_in(request, response, user))


@router.post("/auth/login", summary="Log in: sets the session cookie, returns the CSRF token")
def login(request: Request, response: Response, body: Login) -> dict[str, Any]:
    """Log in with a username or address and password; the answer carries the account and its
    ``csrfToken``."""
    user = check_login(request, body.login, body.password)
    remember_device(request, response, user)
    return _me(request, user, log_in(request, response, user))


@router.post("/auth/logout", status_code=204, summary="Log out")
def logout(request: Request) -> Response:
    """End the current session and delete its cookie."""
    response = Response(status_code=204)
    log_out(request, response)
    return response


@router.post("/auth/reset", status_code=202, summary="Mail a password-reset link")
def request_reset(request: Request, body: ResetRequest, app: App) -> dict[str, str]:
    """Mail a reset link to the address if an account has it; the answer is the same either way."""
    rate_limit(request, "reset")
    app.request_password_reset(body.email)
    return {"message": "if an account has that address, a reset link is on its way"}


@router.post("/auth/reset/confirm", summary="Set a new password with a reset token")
def confirm_reset(request: Request, body: ResetConfirm, app: App) -> dict[str, str]:
    """Set a new password with the token of a mailed reset link; every session of the account ends."""
    rate_limit(request, "reset")
    app.reset_password(body.token, body.password)
    return {"message": "password changed; log in with the new one"}


@router.get("/me", summary="The logged-in account")
def me(request: Request) -> dict[str, Any]:
    """The logged-in account, with the CSRF token its writes must send."""
    return _me(request, require_user(request))


@router.patch("/me", summary="Change display name or e-mail address")
def change_me(request: Request, body: ProfileChange) -> dict[str, Any]:
    """Change the display name, or ask for a new address: it counts once the link mailed to it is
    followed."""
    user = require_user(request)
    rate_limit(request, "write")
    updated = change_profile(
        request, user, display_name=body.displayName, email=body.email, password=body.password
    )
    return _me(request, updated)


class Preferences(BaseModel):
    """How lists show the reader's marked papers: hidden (``hideMarked``) or dimmed."""

    hideMarked: bool  # noqa: N815


@router.put("/me/preferences", summary="Hide marked papers from lists, or show them dimmed")
def put_preferences(request: Request, body: Preferences, db: DB) -> dict[str, Any]:
    """Whether the papers the reader marked read or not interested are hidden from every list (``true``)
    or shown dimmed (``false``, the default)."""
    user = require_user(request)
    rate_limit(request, "write")
    return {"hideMarked": accounts.set_hide_marked(db, user.id, body.hideMarked)}


@router.post(
    "/me/email/resend", status_code=202, summary="Mail the link confirming the pending address again"
)
def resend_email_link(request: Request, app: App) -> dict[str, Any]:
    """Mail the link confirming the pending address again; 400 when no address is pending."""
    user = require_user(request)
    if not user.pending_email:
        raise BadRequest("there is no address to confirm")
    rate_limit(request, "verify")
    app.send_address_mail(user.id)
    return {"message": "check your inbox: a link confirms the address", "pendingEmail": user.pending_email}


@router.post("/auth/email/confirm", summary="Confirm an address with the token of the mailed link")
def confirm_email(request: Request, body: EmailConfirm, db: DB, settings: AppSettings) -> dict[str, Any]:
    """Make the address of a mailed confirmation link the account's address."""
    rate_limit(request, "reset")
    user = accounts.confirm_email(db, settings, body.token)
    return {"message": "address confirmed", "email": user.email}


@router.post("/me/password", summary="Change the password (ends the account's other sessions)")
def change_password(request: Request, body: PasswordChange, db: DB) -> dict[str, Any]:
    """Change the password, given the current one; the account's other sessions end."""
    user = require_user(request)
    rate_limit(request, "login")
    updated = accounts.change_password(
        db, user.id, body.current, body.new, keep_session=current_session_id(request)
    )
    return _me(request, updated)


def session_json(row: Any, current: int | None) -> dict[str, Any]:
    """One of the account's sessions, as the session list shows it."""
    return {
        "id": row.id,
        "device": row.device,
        "address": row.address,
        "createdAt": iso(row.created_at),
        "lastSeenAt": iso(row.last_seen_at),
        "expiresAt": iso(row.expires_at),
        "current": row.id == current,
    }


@router.get("/me/sessions", summary="The account's active sessions, most recently seen first")
def my_sessions(request: Request, db: DB) -> list[dict[str, Any]]:
    """The account's active sessions, most recently seen first; ``current`` marks this one."""
    user = require_user(request)
    current = current_session_id(request)
    return [session_json(row, current) for row in user_sessions.active(db, user.id)]


@router.delete("/me/sessions/{session_id}", status_code=204, summary="End one of the account's sessions")
def revoke_session(request: Request, session_id: RowId, db: DB) -> Response:
    """End one of the account's sessions (ending this one also deletes its cookie)."""
    user = require_user(request)
    rate_limit(request, "write")
    user_sessions.revoke(db, user.id, session_id)
    response = Response(status_code=204)
    if session_id == current_session_id(request):
        forget_session(request, response)
    return response


@router.post("/me/sessions/revoke-all", summary="Log out everywhere (keepCurrent: everywhere else)")
def revoke_all_sessions(
    request: Request, response: Response, db: DB, body: RevokeAll | None = None
) -> dict[str, int]:
    """End every session of the account (all but this one with ``keepCurrent``); answers how many
    ended."""
    user = require_user(request)
    rate_limit(request, "write")
    keep = current_session_id(request) if body is not None and body.keepCurrent else None
    ended = user_sessions.revoke_all(db, user.id, keep=keep)
    if keep is None:
        forget_session(request, response)
    return {"ended": ended}


@router.delete("/me", status_code=204, summary="Delete the account and everything it wrote")
def delete_me(request: Request, body: PasswordConfirm, db: DB) -> Response:
    """Delete the account and everything it wrote, given its password, and log out."""
    user = require_user(request)
    rate_limit(request, "login")
    accounts.delete_account(db, user.id, body.password)
    response = Response(status_code=204)
    log_out(request, response)
    return response


@router.get("/me/export", summary="Everything stored about the account, as JSON")
def export_me(request: Request, db: DB) -> JSONResponse:
    """Everything stored about the account, as a JSON download."""
    user = require_user(request)
    return JSONResponse(
        accounts.export_data(db, user.id),
        headers={"Content-Disposition": f'attachment; filename="dailypapers-{user.username}.json"'},
    )


@router.get("/me/upvotes", summary="Papers the account upvoted, most recent first")
def my_upvotes(
    request: Request, db: DB, p: str | None = None, limit: str | None = None
) -> list[dict[str, Any]]:
    """Papers the account upvoted, most recent first, ``limit`` (1–100, default 50) a page, page ``p``."""
    user = require_user(request)
    size = _int(limit, "limit", 50, 1, 100)
    page = _int(p, "p", 0, 0, 100_000)
    papers, _ = actions.user_upvotes(db, user.id, limit=size, offset=page * size)
    return [paper_json(paper) for paper in papers]


@router.get("/me/submissions", summary="Papers the account submitted")
def my_submissions(
    request: Request, db: DB, p: str | None = None, limit: str | None = None
) -> list[dict[str, Any]]:
    """The daily entries of the papers the account submitted, ``limit`` (1–100, default 50) a page,
    page ``p``."""
    user = require_user(request)
    size = _int(limit, "limit", 50, 1, 100)
    page = _int(p, "p", 0, 0, 100_000)
    entries, _ = actions.user_submissions(db, user.id, limit=size, offset=page * size)
    return [entry_json(entry) for entry in entries]


# --- follows -----------------------------------------------------------------------------------------


def follow_json(item: follows.Followed) -> dict[str, Any]:
    """One followed thing: its kind, value, what the reader reads ("by …") and when it was followed."""
    return {"kind": item.kind, "value": item.value, "label": item.label, "createdAt": iso(item.created_at)}


FollowKind = Annotated[str, Path(description="author, organization, category or search.")]
FollowValue = Annotated[
    str,
    Path(
        description="The author's name, the organization's name, the arXiv category (cs.CL, or cs) or the "
        "search (the search box's syntax, filters included); URL-encoded."
    ),
]


@router.get("/me/follows", summary="What the account follows")
def my_follows(request: Request, db: DB) -> list[dict[str, Any]]:
    """Everything the account follows, by kind, most recent first."""
    user = require_user(request)
    with db.session() as session:
        return [follow_json(f) for f in follows.follows_of(session, user.id)]


@router.put("/me/follows/{kind}/{value:path}", summary="Follow an author, organization, category or search")
def add_follow(request: Request, kind: FollowKind, value: FollowValue, db: DB) -> dict[str, Any]:
    """Follow something (again: nothing changes). A bad kind or value is a 400, an unknown organization a
    404; an account follows at most 200 things."""
    user = require_user(request)
    rate_limit(request, "write")
    return follow_json(follows.follow(db, user, kind, value))


@router.delete("/me/follows/{kind}/{value:path}", status_code=204, summary="Stop following something")
def remove_follow(request: Request, kind: FollowKind, value: FollowValue, db: DB) -> Response:
    """Stop following something (not followed: nothing changes)."""
    user = require_user(request)
    rate_limit(request, "write")
    follows.unfollow(db, user, kind, value)
    return Response(status_code=204)


@router.get("/me/following", summary="New papers from everything the account follows, newest first")
def my_following(
    request: Request,
    db: DB,
    search: Search,
    p: str | None = None,
    limit: str | None = None,
    has_code: str | None = None,
    category: str | None = None,
    year: str | None = None,
) -> list[dict[str, Any]]:
    """The newest papers of the authors, organizations, categories and searches the account follows,
    newest first, ``limit`` (1–100, default 50) a page, page ``p``, narrowed by ``has_code``,
    ``category`` and ``year`` as the lists are; each item is shaped like those of ``/api/daily_papers``
    (or, for a paper never listed, like a search result) plus ``reasons``."""
    user = require_user(request)
    size = _int(limit, "limit", 50, 1, 100)
    page = _int(p, "p", 0, 0, 100_000)
    filters = parse_list_filter(has_code, category, year)
    with db.session() as session:
        found, _ = follows.following(
            session,
            search,
            user.id,
            limit=size,
            offset=page * size,
            cache=parts_of(request).application.follows_cache,
            filters=filters,
        )
        return [
            {
                **search_item_json(f.paper, latest_entry(f.paper)),
                "reasons": f.reasons,
            }
            for f in found
        ]


# --- papers: submit, vote, mark, comment -------------------------------------------------------------


@router.post("/papers/submit", status_code=201, summary="Submit a paper to today's list")
def submit(request: Request, body: Submission, app: App) -> dict[str, Any]:
    """List a paper (arXiv id or URL) on today's page, fetched from arXiv when not stored yet; answers
    its daily entry."""
    user = require_user(request)
    rate_limit(request, "submit")
    return entry_json(app.submit(user, body.paper))


class IndexRequest(BaseModel):
    """What ``POST /api/papers/index`` takes, as Hugging Face's does."""

    arxivId: str = Field(  # noqa: N815 - Hugging Face's field name
        min_length=1, max_length=500, description="arXiv id or URL (arXiv, Hugging Face or this site)."
    )


@router.post("/papers/index", summary="Add a paper from arXiv (Hugging Face's index)")
def index_paper(request: Request, body: IndexRequest, response: Response, app: App) -> dict[str, Any]:
    """Add the paper ``arxivId`` (an arXiv id or URL), fetched from arXiv, without listing it on a day;
    201 with the paper when it is new here, 200 when it was stored already. Counts as a submission
    (the ``submit`` rate limit)."""
    require_user(request)
    rate_limit(request, "submit")
    paper, added = app.index_paper(body.arxivId)
    response.status_code = 201 if added else 200
    return paper_json(paper, latest_entry(paper))


def _vote(request: Request, app: Application, arxiv_id: str, voted: bool) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "vote")
    state = app.vote(user, arxiv_id, voted)
    return {"id": state.arxiv_id, "upvoted": state.voted, "upvotes": state.upvotes}


@router.put("/papers/{arxiv_id:path}/upvote", summary="Upvote a paper (once per account)")
def upvote(request: Request, arxiv_id: str, app: App) -> dict[str, Any]:
    """Upvote a paper (doing it again changes nothing); answers whether it is upvoted and its total."""
    return _vote(request, app, arxiv_id, True)


@router.delete("/papers/{arxiv_id:path}/upvote", summary="Take an upvote back")
def remove_upvote(request: Request, arxiv_id: str, app: App) -> dict[str, Any]:
    """Take an upvote back; answers whether the paper is upvoted and its total."""
    return _vote(request, app, arxiv_id, False)


def _mark(request: Request, db: Database, arxiv_id: str, kind: str, on: bool) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    actions.set_mark(db, user, arxiv_id, kind, on)
    return {"id": arxiv_id, "mark": kind, "on": on}


@router.put("/papers/{arxiv_id:path}/marks/{kind}", summary="Mark a paper read or not_interested")
def set_mark(request: Request, arxiv_id: str, kind: str, db: DB) -> dict[str, Any]:
    """Mark a paper ``read`` or ``not_interested`` (recommendations leave out what is marked)."""
    return _mark(request, db, arxiv_id, kind, True)


@router.delete("/papers/{arxiv_id:path}/marks/{kind}", summary="Take a mark back")
def clear_mark(request: Request, arxiv_id: str, kind: str, db: DB) -> dict[str, Any]:
    """Take a ``read`` or ``not_interested`` mark back."""
    return _mark(request, db, arxiv_id, kind, False)


@router.get("/papers/{arxiv_id:path}/comments", summary="Comments on a paper, oldest first")
def list_comments(request: Request, arxiv_id: str, db: DB) -> list[dict[str, Any]]:
    """The comments on a paper the reader may see, oldest first."""
    with db.session() as session:
        paper = actions.paper_or_404(session, arxiv_id)
        comments = actions.visible_comments(session, paper.id, current_user(request))
        for comment in comments:
            comment.paper = paper
        return [comment_json(c) for c in comments]


@router.post("/papers/{arxiv_id:path}/comments", status_code=201, summary="Comment on a paper")
def add_comment(request: Request, arxiv_id: str, body: CommentBody, db: DB) -> dict[str, Any]:
    """Comment on a paper; answers the new comment."""
    user = require_user(request)
    rate_limit(request, "comment")
    return comment_json(actions.add_comment(db, user, arxiv_id, body.body))


@router.patch("/comments/{comment_id}", summary="Edit one's own comment")
def edit_comment(request: Request, comment_id: RowId, body: CommentBody, db: DB) -> dict[str, Any]:
    """Change the text of one's own comment; answers the comment."""
    user = require_user(request)
    rate_limit(request, "comment")
    return comment_json(actions.edit_comment(db, user, comment_id, body.body))


@router.delete("/comments/{comment_id}", status_code=204, summary="Delete one's own comment")
def delete_comment(request: Request, comment_id: RowId, db: DB) -> Response:
    """Delete one's own comment."""
    user = require_user(request)
    rate_limit(request, "write")
    actions.delete_comment(db, user, comment_id)
    return Response(status_code=204)


@router.post("/comments/{comment_id}/hide", summary="Hide or show a comment (moderators)")
def hide_comment(request: Request, comment_id: RowId, body: HideBody, db: DB) -> dict[str, Any]:
    """Hide a comment from readers, or show it again (moderators only); answers the comment."""
    user = require_user(request)
    rate_limit(request, "write")
    return comment_json(actions.hide_comment(db, user, comment_id, body.hidden))


# --- collections -------------------------------------------------------------------------------------


@router.get("/collections", summary="The logged-in account's collections")
def my_collections(request: Request, db: DB) -> list[dict[str, Any]]:
    """The logged-in account's collections, public and private, with their sizes."""
    user = require_user(request)
    return [collection_json(c, size=n) for c, n in actions.user_collections(db, user.id, user)]


@router.post("/collections", status_code=201, summary="Create a collection (private unless public=true)")
def create_collection(request: Request, body: CollectionBody, db: DB) -> dict[str, Any]:
    """Create a collection, private unless ``public`` is true; answers the collection."""
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.create_collection(
        db, user, body.name or "", body.description or "", bool(body.public)
    )
    return collection_json(collection, size=0)


@router.get("/collections/{collection_id}", summary="A collection and its papers (public, or one's own)")
def get_collection(
    request: Request,
    collection_id: RowId,
    db: DB,
    limit: Annotated[str | None, Query()] = None,
    p: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """A public collection, or one's own, with its papers, ``limit`` (1–200, default 100) a page, page
    ``p``; 404 for anyone else's private one."""
    size = _int(limit, "limit", 100, 1, 200)
    page = _int(p, "p", 0, 0, 100_000)
    view = actions.get_collection(db, current_user(request), collection_id, limit=size, offset=page * size)
    body = collection_json(view.collection, size=view.total, owner=view.owner)
    body["papers"] = [paper_json(paper) for paper in view.papers]
    return body


@router.patch("/collections/{collection_id}", summary="Rename, describe, publish or hide a collection")
def update_collection(request: Request, collection_id: RowId, body: CollectionBody, db: DB) -> dict[str, Any]:
    """Change a collection's name, description or visibility (only the fields given); answers it."""
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.update_collection(
        db, user, collection_id, name=body.name, description=body.description, public=body.public
    )
    return collection_json(collection)


@router.delete("/collections/{collection_id}", status_code=204, summary="Delete a collection")
def delete_collection(request: Request, collection_id: RowId, db: DB) -> Response:
    """Delete one of the account's collections (the papers stay)."""
    user = require_user(request)
    rate_limit(request, "write")
    actions.delete_collection(db, user, collection_id)
    return Response(status_code=204)


@router.put("/collections/{collection_id}/papers/{arxiv_id:path}", summary="Add a paper to a collection")
def add_to_collection(request: Request, collection_id: RowId, arxiv_id: str, db: DB) -> dict[str, Any]:
    """Add a paper to one of the account's collections (adding it again changes nothing)."""
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.set_in_collection(db, user, collection_id, arxiv_id, True)
    return {"collection": collection.id, "paper": arxiv_id, "present": True}


@router.delete(
    "/collections/{collection_id}/papers/{arxiv_id:path}", summary="Take a paper out of a collection"
)
def remove_from_collection(request: Request, collection_id: RowId, arxiv_id: str, db: DB) -> dict[str, Any]:
    """Take a paper out of one of the account's collections."""
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.set_in_collection(db, user, collection_id, arxiv_id, False)
    return {"collection": collection.id, "paper": arxiv_id, "present": False}


@router.get("/users/{username}/collections", summary="A user's public collections")
def public_collections(request: Request, username: str, db: DB) -> list[dict[str, Any]]:
    """A user's public collections (all of them when the reader is that user), with their sizes."""
    with db.session() as session:
        owner = accounts.user_by_name(session, username)
    if owner is None:
        raise NotFound(f"no user {username!r}")
    return [
        collection_json(c, size=n) for c, n in actions.user_collections(db, owner.id, current_user(request))
    ]
