"""The JSON API of accounts and community actions. Same service functions and rules as the pages.

Clients log in with ``POST /api/auth/login`` (or register), keep the ``dp_session`` cookie, and send the
``csrfToken`` from that answer as ``X-CSRF-Token`` on every POST, PUT, PATCH and DELETE.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dailypapers.addresses import clean_email
from dailypapers.community import accounts, actions
from dailypapers.community import sessions as user_sessions
from dailypapers.community.mails import address_in_use_mail, confirm_email_mail, reset_mail
from dailypapers.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from dailypapers.mail import MailError, check_server, send_one
from dailypapers.web.api import _int
from dailypapers.web.auth import (
    current_session_id,
    current_user,
    forget_session,
    log_in,
    log_out,
    rate_limit,
    require_user,
)
from dailypapers.web.serializers import collection_json, comment_json, entry_json, iso, paper_json, user_json

router = APIRouter(prefix="/api", tags=["community"])
# The id of a row in a path: at most PostgreSQL's INTEGER (2**31 - 1); a larger number names no row.
RowId = Annotated[int, Path(ge=-(2**31), le=2**31 - 1)]
log = logging.getLogger("dailypapers.web.community_api")
DEVICE_COOKIE = "dp_device"  # signed: the accounts this browser logged in to (login throttling)


class Registration(BaseModel):
    username: str = Field(max_length=100)
    email: str = Field(max_length=400)
    password: str = Field(max_length=2048)
    displayName: str | None = Field(None, max_length=400)  # noqa: N815 — the API's camelCase


class Login(BaseModel):
    login: str = Field(max_length=400, description="Username or e-mail address.")
    password: str = Field(max_length=2048)


class ResetRequest(BaseModel):
    email: str = Field(max_length=400)


class ResetConfirm(BaseModel):
    token: str = Field(max_length=1000)
    password: str = Field(max_length=2048)


class PasswordChange(BaseModel):
    current: str = Field(max_length=2048)
    new: str = Field(max_length=2048)


class ProfileChange(BaseModel):
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
    token: str = Field(max_length=1000)


class PasswordConfirm(BaseModel):
    password: str = Field(max_length=2048)


class RevokeAll(BaseModel):
    keepCurrent: bool = Field(False, description="End every session but this one.")  # noqa: N815


class Submission(BaseModel):
    paper: str = Field(max_length=500, description="arXiv id or URL (arXiv, Hugging Face or this site).")


class CommentBody(BaseModel):
    body: str = Field(max_length=20000)


class HideBody(BaseModel):
    hidden: bool = True


class CollectionBody(BaseModel):
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
    return accounts.authenticate(
        request.app.state.db,
        request.app.state.settings,
        login,
        password,
        client=client_address(request),
        device=request.cookies.get(DEVICE_COOKIE),
    )


def remember_device(request: Request, response: Response, user: Any) -> None:
    """Set the known-device cookie on ``response``: this browser logged in to ``user``."""
    settings = request.app.state.settings
    value = accounts.known_device_cookie(settings, request.cookies.get(DEVICE_COOKIE), user)
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=settings.known_device_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.sessions.secure(request.url.scheme),
    )


def send_address_mail(request: Request, user_id: int, *, quiet: bool = False) -> None:
    """Mail the confirmation link of the account's pending address, or, when another account confirmed
    that address, a notice to that account instead (the asker is told the same either way). A mail that
    cannot be sent is a 503, or only logged when ``quiet`` (a registration goes on; the account page
    offers to send the link again)."""
    settings = request.app.state.settings
    mail = accounts.pending_address_mail(request.app.state.db, settings, user_id)
    if mail is None:
        return
    if mail.token is not None:
        message = confirm_email_mail(settings, mail.user, mail.address, mail.token)
    else:
        if mail.holder is None:
            raise RuntimeError("an address-in-use notice needs the holder's account")
        message = address_in_use_mail(settings, mail.holder)
    try:
        send_one(settings, mail.address, message)
    except MailError as exc:
        if quiet:
            log.warning("the mail about account %s's new address was not sent: %s", user_id, exc)
            return
        raise ServiceUnavailable("the confirmation mail could not be sent; try again later") from exc


def change_profile(
    request: Request, user: Any, *, display_name: str | None, email: str | None, password: str | None
) -> Any:
    """Change the display name and ask for a new address (mailing its link); for the page and the API."""
    db = request.app.state.db
    if email is not None and clean_email(email) not in (user.email, user.pending_email):
        rate_limit(request, "login")  # a password is checked
        rate_limit(request, "verify")  # and a mail goes out
    updated = accounts.update_profile(db, user.id, display_name=display_name, email=email, password=password)
    if updated.pending_email and updated.pending_email != user.pending_email:
        send_address_mail(request, user.id)
    return updated


# --- accounts ----------------------------------------------------------------------------------------


@router.post("/auth/register", status_code=201, summary="Create an account (and log in)")
def register(request: Request, response: Response, body: Registration) -> dict[str, Any]:
    settings = request.app.state.settings
    if not settings.registration_open:
        raise Forbidden("registration is closed on this site")
    rate_limit(request, "register")
    user = accounts.register(
        request.app.state.db,
        username=body.username,
        email=body.email,
        password=body.password,
        display_name=body.displayName,
    )
    send_address_mail(request, user.id, quiet=True)
    remember_device(request, response, user)
    return _me(request, user, log_in(request, response, user))


@router.post("/auth/login", summary="Log in: sets the session cookie, returns the CSRF token")
def login(request: Request, response: Response, body: Login) -> dict[str, Any]:
    user = check_login(request, body.login, body.password)
    remember_device(request, response, user)
    return _me(request, user, log_in(request, response, user))


@router.post("/auth/logout", status_code=204, summary="Log out")
def logout(request: Request) -> Response:
    response = Response(status_code=204)
    log_out(request, response)
    return response


@router.post("/auth/reset", status_code=202, summary="Mail a password-reset link")
def request_reset(request: Request, body: ResetRequest) -> dict[str, str]:
    rate_limit(request, "reset")
    send_reset_mail(request, body.email)
    return {"message": "if an account has that address, a reset link is on its way"}


def send_reset_mail(request: Request, email: str) -> None:
    """Mail a reset link if an account has ``email`` (the answer is the same either way)."""
    settings = request.app.state.settings
    found = accounts.request_reset(request.app.state.db, settings, email)
    try:
        if found is None:  # a mail server that is down answers 503 for every address alike
            check_server(settings)
            return
        send_one(settings, found.address, reset_mail(settings, found.user, found.token, to=found.address))
    except MailError as exc:
        raise ServiceUnavailable("the reset mail could not be sent; try again later") from exc


@router.post("/auth/reset/confirm", summary="Set a new password with a reset token")
def confirm_reset(request: Request, body: ResetConfirm) -> dict[str, str]:
    rate_limit(request, "reset")
    accounts.reset_password(request.app.state.db, request.app.state.settings, body.token, body.password)
    return {"message": "password changed; log in with the new one"}


@router.get("/me", summary="The logged-in account")
def me(request: Request) -> dict[str, Any]:
    return _me(request, require_user(request))


@router.patch("/me", summary="Change display name or e-mail address")
def change_me(request: Request, body: ProfileChange) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    updated = change_profile(
        request, user, display_name=body.displayName, email=body.email, password=body.password
    )
    return _me(request, updated)


@router.post(
    "/me/email/resend", status_code=202, summary="Mail the link confirming the pending address again"
)
def resend_email_link(request: Request) -> dict[str, Any]:
    user = require_user(request)
    if not user.pending_email:
        raise BadRequest("there is no address to confirm")
    rate_limit(request, "verify")
    send_address_mail(request, user.id)
    return {"message": "check your inbox: a link confirms the address", "pendingEmail": user.pending_email}


@router.post("/auth/email/confirm", summary="Confirm an address with the token of the mailed link")
def confirm_email(request: Request, body: EmailConfirm) -> dict[str, Any]:
    rate_limit(request, "reset")
    user = accounts.confirm_email(request.app.state.db, request.app.state.settings, body.token)
    return {"message": "address confirmed", "email": user.email}


@router.post("/me/password", summary="Change the password (ends the account's other sessions)")
def change_password(request: Request, body: PasswordChange) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "login")
    updated = accounts.change_password(
        request.app.state.db, user.id, body.current, body.new, keep_session=current_session_id(request)
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
def my_sessions(request: Request) -> list[dict[str, Any]]:
    user = require_user(request)
    current = current_session_id(request)
    return [session_json(row, current) for row in user_sessions.active(request.app.state.db, user.id)]


@router.delete("/me/sessions/{session_id}", status_code=204, summary="End one of the account's sessions")
def revoke_session(request: Request, session_id: RowId) -> Response:
    user = require_user(request)
    rate_limit(request, "write")
    user_sessions.revoke(request.app.state.db, user.id, session_id)
    response = Response(status_code=204)
    if session_id == current_session_id(request):
        forget_session(request, response)
    return response


@router.post("/me/sessions/revoke-all", summary="Log out everywhere (keepCurrent: everywhere else)")
def revoke_all_sessions(
    request: Request, response: Response, body: RevokeAll | None = None
) -> dict[str, int]:
    user = require_user(request)
    rate_limit(request, "write")
    keep = current_session_id(request) if body is not None and body.keepCurrent else None
    ended = user_sessions.revoke_all(request.app.state.db, user.id, keep=keep)
    if keep is None:
        forget_session(request, response)
    return {"ended": ended}


@router.delete("/me", status_code=204, summary="Delete the account and everything it wrote")
def delete_me(request: Request, body: PasswordConfirm) -> Response:
    user = require_user(request)
    rate_limit(request, "login")
    accounts.delete_account(request.app.state.db, user.id, body.password)
    response = Response(status_code=204)
    log_out(request, response)
    return response


@router.get("/me/export", summary="Everything stored about the account, as JSON")
def export_me(request: Request) -> JSONResponse:
    user = require_user(request)
    return JSONResponse(
        accounts.export_data(request.app.state.db, user.id),
        headers={"Content-Disposition": f'attachment; filename="dailypapers-{user.username}.json"'},
    )


@router.get("/me/upvotes", summary="Papers the account upvoted, most recent first")
def my_upvotes(request: Request, p: str | None = None, limit: str | None = None) -> list[dict[str, Any]]:
    user = require_user(request)
    size = _int(limit, "limit", 50, 1, 100)
    page = _int(p, "p", 0, 0, 100_000)
    papers, _ = actions.user_upvotes(request.app.state.db, user.id, limit=size, offset=page * size)
    return [paper_json(paper) for paper in papers]


@router.get("/me/submissions", summary="Papers the account submitted")
def my_submissions(request: Request, p: str | None = None, limit: str | None = None) -> list[dict[str, Any]]:
    user = require_user(request)
    size = _int(limit, "limit", 50, 1, 100)
    page = _int(p, "p", 0, 0, 100_000)
    entries, _ = actions.user_submissions(request.app.state.db, user.id, limit=size, offset=page * size)
    return [entry_json(entry) for entry in entries]


# --- papers: submit, vote, mark, comment -------------------------------------------------------------


@router.post("/papers/submit", status_code=201, summary="Submit a paper to today's list")
def submit(request: Request, body: Submission) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "submit")
    entry = actions.submit_paper(
        request.app.state.db, request.app.state.settings, user, body.paper, request.app.state.fetch_paper
    )
    return entry_json(entry)


def _vote(request: Request, arxiv_id: str, voted: bool) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "vote")
    state = actions.set_vote(request.app.state.db, user, arxiv_id, voted)
    return {"id": state.arxiv_id, "upvoted": state.voted, "upvotes": state.upvotes}


@router.put("/papers/{arxiv_id:path}/upvote", summary="Upvote a paper (once per account)")
def upvote(request: Request, arxiv_id: str) -> dict[str, Any]:
    return _vote(request, arxiv_id, True)


@router.delete("/papers/{arxiv_id:path}/upvote", summary="Take an upvote back")
def remove_upvote(request: Request, arxiv_id: str) -> dict[str, Any]:
    return _vote(request, arxiv_id, False)


def _mark(request: Request, arxiv_id: str, kind: str, on: bool) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    actions.set_mark(request.app.state.db, user, arxiv_id, kind, on)
    return {"id": arxiv_id, "mark": kind, "on": on}


@router.put("/papers/{arxiv_id:path}/marks/{kind}", summary="Mark a paper read or not_interested")
def set_mark(request: Request, arxiv_id: str, kind: str) -> dict[str, Any]:
    return _mark(request, arxiv_id, kind, True)


@router.delete("/papers/{arxiv_id:path}/marks/{kind}", summary="Take a mark back")
def clear_mark(request: Request, arxiv_id: str, kind: str) -> dict[str, Any]:
    return _mark(request, arxiv_id, kind, False)


@router.get("/papers/{arxiv_id:path}/comments", summary="Comments on a paper, oldest first")
def list_comments(request: Request, arxiv_id: str) -> list[dict[str, Any]]:
    db = request.app.state.db
    with db.session() as session:
        paper = actions.paper_or_404(session, arxiv_id)
        comments = actions.visible_comments(session, paper.id, current_user(request))
        for comment in comments:
            comment.paper = paper
        return [comment_json(c) for c in comments]


@router.post("/papers/{arxiv_id:path}/comments", status_code=201, summary="Comment on a paper")
def add_comment(request: Request, arxiv_id: str, body: CommentBody) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "comment")
    return comment_json(actions.add_comment(request.app.state.db, user, arxiv_id, body.body))


@router.patch("/comments/{comment_id}", summary="Edit one's own comment")
def edit_comment(request: Request, comment_id: RowId, body: CommentBody) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "comment")
    return comment_json(actions.edit_comment(request.app.state.db, user, comment_id, body.body))


@router.delete("/comments/{comment_id}", status_code=204, summary="Delete one's own comment")
def delete_comment(request: Request, comment_id: RowId) -> Response:
    user = require_user(request)
    rate_limit(request, "write")
    actions.delete_comment(request.app.state.db, user, comment_id)
    return Response(status_code=204)


@router.post("/comments/{comment_id}/hide", summary="Hide or show a comment (moderators)")
def hide_comment(request: Request, comment_id: RowId, body: HideBody) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    return comment_json(actions.hide_comment(request.app.state.db, user, comment_id, body.hidden))


# --- collections -------------------------------------------------------------------------------------


@router.get("/collections", summary="The logged-in account's collections")
def my_collections(request: Request) -> list[dict[str, Any]]:
    user = require_user(request)
    return [
        collection_json(c, size=n) for c, n in actions.user_collections(request.app.state.db, user.id, user)
    ]


@router.post("/collections", status_code=201, summary="Create a collection (private unless public=true)")
def create_collection(request: Request, body: CollectionBody) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.create_collection(
        request.app.state.db, user, body.name or "", body.description or "", bool(body.public)
    )
    return collection_json(collection, size=0)


@router.get("/collections/{collection_id}", summary="A collection and its papers (public, or one's own)")
def get_collection(
    request: Request,
    collection_id: RowId,
    limit: Annotated[str | None, Query()] = None,
    p: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    size = _int(limit, "limit", 100, 1, 200)
    page = _int(p, "p", 0, 0, 100_000)
    view = actions.get_collection(
        request.app.state.db, current_user(request), collection_id, limit=size, offset=page * size
    )
    body = collection_json(view.collection, size=view.total, owner=view.owner)
    body["papers"] = [paper_json(paper) for paper in view.papers]
    return body


@router.patch("/collections/{collection_id}", summary="Rename, describe, publish or hide a collection")
def update_collection(request: Request, collection_id: RowId, body: CollectionBody) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.update_collection(
        request.app.state.db,
        user,
        collection_id,
        name=body.name,
        description=body.description,
        public=body.public,
    )
    return collection_json(collection)


@router.delete("/collections/{collection_id}", status_code=204, summary="Delete a collection")
def delete_collection(request: Request, collection_id: RowId) -> Response:
    user = require_user(request)
    rate_limit(request, "write")
    actions.delete_collection(request.app.state.db, user, collection_id)
    return Response(status_code=204)


@router.put("/collections/{collection_id}/papers/{arxiv_id:path}", summary="Add a paper to a collection")
def add_to_collection(request: Request, collection_id: RowId, arxiv_id: str) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.set_in_collection(request.app.state.db, user, collection_id, arxiv_id, True)
    return {"collection": collection.id, "paper": arxiv_id, "present": True}


@router.delete(
    "/collections/{collection_id}/papers/{arxiv_id:path}", summary="Take a paper out of a collection"
)
def remove_from_collection(request: Request, collection_id: RowId, arxiv_id: str) -> dict[str, Any]:
    user = require_user(request)
    rate_limit(request, "write")
    collection = actions.set_in_collection(request.app.state.db, user, collection_id, arxiv_id, False)
    return {"collection": collection.id, "paper": arxiv_id, "present": False}


@router.get("/users/{username}/collections", summary="A user's public collections")
def public_collections(request: Request, username: str) -> list[dict[str, Any]]:
    db = request.app.state.db
    with db.session() as session:
        owner = accounts.user_by_name(session, username)
    if owner is None:
        raise NotFound(f"no user {username!r}")
    return [
        collection_json(c, size=n) for c, n in actions.user_collections(db, owner.id, current_user(request))
    ]
