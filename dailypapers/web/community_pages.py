"""HTML pages of accounts and community actions: the same service functions as the JSON API.

Forms post with a CSRF token (checked by :class:`~dailypapers.web.auth.AuthMiddleware` before any of
these run). Without JavaScript every form works by a POST and a redirect back; with htmx, votes and
comments swap in place, rendered from the database after the change.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from dailypapers.community import accounts, actions
from dailypapers.community import sessions as user_sessions
from dailypapers.errors import (
    BadRequest,
    DailyPapersError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id
from dailypapers.store.models import DailyEntry, Paper
from dailypapers.web.auth import (
    current_session_id,
    current_user,
    forget_session,
    form_token,
    log_in,
    log_out,
    rate_limit,
    require_user,
    safe_next,
)
from dailypapers.web.community_api import RowId, change_profile, check_login, remember_device
from dailypapers.web.deps import DB, App, AppSettings, parts_of
from dailypapers.web.pages import (
    Card,
    Listing,
    _listing_response,
    _page_window,
    _paging,
    _render,
    export_format,
    export_links,
    export_response,
    missing_paper_response,
    paper_response,
)

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _back(request: Request, fallback: str, anchor: str = "") -> RedirectResponse:
    """Redirect (303) to the page the form was on, if it is ours, else to ``fallback`` (at ``#anchor``,
    when given)."""
    referer = request.headers.get("referer") or ""
    parts = urlsplit(referer)
    target = fallback
    if referer and parts.netloc == request.url.netloc and parts.path:
        target = safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    return RedirectResponse(target + (f"#{anchor}" if anchor else ""), status_code=303)


def _form_page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page with an anonymous form: it carries the token of the form cookie (set on the answer)."""
    response = Response()
    token = form_token(request, response)
    page = _render(request, template, {**context, "form_token": token}, status)
    for key, value in response.headers.items():
        if key == "set-cookie":
            page.headers.append("set-cookie", value)
    page.headers["Cache-Control"] = "no-store"
    return page


# --- log in, register, log out, reset ----------------------------------------------------------------


@router.get("/account/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 — the usual name
    """The log-in form (a reader already logged in goes on to ``next``)."""
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    target = safe_next(next)
    reason = "upvote" if urlsplit(target).path.endswith("/upvote") else ""
    return _form_page(request, "account/login.html", {"next": target, "nav": "login", "reason": reason})


@router.post("/account/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",  # nosec B107 # an empty form field, not a password
    next: Annotated[str, Form()] = "/",
) -> Response:  # noqa: A002
    """Log in and go on to ``next``; a refused log-in shows the form again with the reason."""
    target = safe_next(next)
    try:
        user = check_login(request, login, password)
    except DailyPapersError as exc:
        page = _form_page(
            request,
            "account/login.html",
            {"next": target, "error": exc.message, "login": login, "nav": "login"},
            exc.status,
        )
        page.headers.update(exc.headers)
        return page
    response = RedirectResponse(target, status_code=303)
    remember_device(request, response, user)
    log_in(request, response, user)
    return response


@router.get("/account/register", response_class=HTMLResponse)
def register_page(request: Request, settings: AppSettings) -> Response:
    """The registration form (or the notice that registration is closed)."""
    if current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _form_page(
        request, "account/register.html", {"nav": "register", "closed": not settings.registration_open}
    )


@router.post("/account/register", response_class=HTMLResponse)
def register_submit(
    request: Request,
    settings: AppSettings,
    app: App,
    username: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
) -> Response:  # nosec B107 # an empty form field, not a password
    """Create an account, mail the link confirming its address, log in and go to the account page."""
    values = {"username": username, "email": email, "display_name": display_name}
    try:
        if not settings.registration_open:
            raise Forbidden("registration is closed on this site")
        rate_limit(request, "register")
        user = app.register(
            username=username, email=email, password=password, display_name=display_name or None
        )
    except DailyPapersError as exc:
        page = _form_page(
            request,
            "account/register.html",
            {"error": exc.message, "values": values, "nav": "register"},
            exc.status,
        )
        page.headers.update(exc.headers)
        return page
    response = RedirectResponse("/account?done=email", status_code=303)  # "check your inbox"
    remember_device(request, response, user)
    log_in(request, response, user)
    return response


@router.post("/account/logout")
def logout_submit(request: Request) -> Response:
    """Log out and go to the front page."""
    response = RedirectResponse("/", status_code=303)
    log_out(request, response)
    return response


@router.get("/account/reset", response_class=HTMLResponse)
def reset_page(request: Request) -> Response:
    """The form asking for a password-reset link."""
    return _form_page(request, "account/reset.html", {})


@router.post("/account/reset", response_class=HTMLResponse)
def reset_submit(request: Request, app: App, email: Annotated[str, Form()] = "") -> Response:
    """Mail a reset link if an account has the address; the page says the same either way."""
    try:
        rate_limit(request, "reset")
        app.request_password_reset(email)
    except DailyPapersError as exc:
        page = _form_page(request, "account/reset.html", {"error": exc.message, "email": email}, exc.status)
        page.headers.update(exc.headers)
        return page
    return _form_page(request, "account/reset.html", {"sent": True, "email": email})


@router.get("/account/reset/{token}", response_class=HTMLResponse)
def reset_confirm_page(request: Request, token: str, db: DB, settings: AppSettings) -> Response:
    """The new-password form of a mailed reset link (or why the link is not valid)."""
    try:
        user = accounts.user_for_reset_token(db, settings, token)
    except BadRequest as exc:
        return _form_page(request, "account/reset_confirm.html", {"invalid": exc.message}, 400)
    return _form_page(request, "account/reset_confirm.html", {"token": token, "username": user.username})


@router.post("/account/reset/{token}", response_class=HTMLResponse)
def reset_confirm_submit(
    request: Request,
    token: str,
    app: App,
    password: Annotated[str, Form()] = "",  # nosec B107 # an empty form field, not a password
) -> Response:
    """Set the new password of a mailed reset link and log in."""
    try:
        rate_limit(request, "reset")
        user = app.reset_password(token, password)
    except DailyPapersError as exc:
        page = _form_page(
            request, "account/reset_confirm.html", {"token": token, "error": exc.message}, exc.status
        )
        page.headers.update(exc.headers)
        return page
    response = RedirectResponse("/account?reset=1", status_code=303)
    log_in(request, response, user)
    return response


# --- the account -------------------------------------------------------------------------------------


def _account_context(request: Request, user: Any, **extra: Any) -> dict[str, Any]:
    """What the account page shows: the account as stored now and its active sessions."""
    db = parts_of(request).application.db
    with db.session() as session:
        fresh = session.get(type(user), user.id)
    return {
        "user": fresh or user,
        "nav": "account",
        "sessions": user_sessions.active(db, user.id),
        "current_session": current_session_id(request),
        **extra,
    }


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request) -> HTMLResponse:
    """The account page: profile, address, password, sessions and deletion."""
    user = require_user(request)
    return _render(
        request,
        "account/settings.html",
        _account_context(request, user, notice=request.query_params.get("done", "")),
    )


def _account_action(request: Request, work: Any, done: str) -> Response:
    user = require_user(request)
    try:
        rate_limit(request, "write")
        work(user)
    except DailyPapersError as exc:
        page = _render(
            request, "account/settings.html", _account_context(request, user, error=exc.message), exc.status
        )
        page.headers.update(exc.headers)
        return page
    return RedirectResponse(f"/account?done={done}", status_code=303)


@router.post("/account/profile")
def profile_submit(
    request: Request,
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:  # nosec B107 # an empty form field, not a password
    """Change the display name (and ask for a new address, when one is given)."""
    return _account_action(
        request,
        lambda u: change_profile(
            request, u, display_name=display_name, email=email or None, password=password
        ),
        "profile",
    )


@router.post("/account/preferences")
def preferences_submit(request: Request, hide_marked: Annotated[str, Form()] = "0") -> Response:
    """Hide marked papers from lists (``hide_marked=1``) or show them dimmed."""
    db = parts_of(request).application.db
    return _account_action(request, lambda u: accounts.set_hide_marked(db, u.id, hide_marked == "1"), "lists")


@router.post("/account/email")
def email_submit(
    request: Request, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = ""
) -> Response:  # nosec B107 # an empty form field, not a password
    """Ask for a new address (with the password): it counts once the link mailed to it is followed."""
    return _account_action(
        request,
        lambda u: change_profile(request, u, display_name=None, email=email, password=password),
        "email",
    )


@router.post("/account/email/resend")
def email_resend_submit(request: Request, app: App) -> Response:
    """Mail the link confirming the pending address again (rate-limited: ``verify``)."""

    def resend(user: Any) -> None:
        if not user.pending_email:
            raise BadRequest("there is no address to confirm")
        rate_limit(request, "verify")
        app.send_address_mail(user.id)

    return _account_action(request, resend, "resent")


@router.get("/account/email/confirm/{token}", response_class=HTMLResponse)
def email_confirm_page(request: Request, token: str, db: DB, settings: AppSettings) -> Response:
    """The page of a mailed confirmation link: a button confirms (a GET, e.g. a mail scanner's, does not)."""
    try:
        address = accounts.address_of_email_token(db, settings, token)
    except DailyPapersError as exc:
        return _form_page(request, "account/email_confirm.html", {"error": exc.message}, exc.status)
    return _form_page(request, "account/email_confirm.html", {"token": token, "address": address})


@router.post("/account/email/confirm/{token}", response_class=HTMLResponse)
def email_confirm_submit(request: Request, token: str, db: DB, settings: AppSettings) -> Response:
    """The confirmation page's button: the link's address becomes the account's."""
    try:
        rate_limit(request, "reset")
        user = accounts.confirm_email(db, settings, token)
    except DailyPapersError as exc:
        page = _form_page(request, "account/email_confirm.html", {"error": exc.message}, exc.status)
        page.headers.update(exc.headers)
        return page
    return _form_page(request, "account/email_confirm.html", {"confirmed": user.email})


@router.post("/account/password")
def password_submit(
    request: Request, db: DB, current: Annotated[str, Form()] = "", new: Annotated[str, Form()] = ""
) -> Response:
    """Change the password, given the current one (the account's other sessions end)."""
    keep = current_session_id(request)
    return _account_action(
        request, lambda u: accounts.change_password(db, u.id, current, new, keep_session=keep), "password"
    )


@router.post("/account/sessions/{session_id}/revoke")
def session_revoke_submit(request: Request, session_id: RowId, db: DB) -> Response:
    """End one of the account's sessions (ending this one logs out)."""
    user = require_user(request)
    rate_limit(request, "write")
    user_sessions.revoke(db, user.id, session_id)
    if session_id == current_session_id(request):
        response = RedirectResponse("/", status_code=303)
        forget_session(request, response)
        return response
    return RedirectResponse("/account?done=session#sessions", status_code=303)


@router.post("/account/sessions/revoke-all")
def sessions_revoke_all_submit(
    request: Request, db: DB, keep_current: Annotated[str, Form()] = ""
) -> Response:
    """End every session of the account (every other one with ``keep_current=1``)."""
    user = require_user(request)
    rate_limit(request, "write")
    keep = current_session_id(request) if keep_current == "1" else None
    user_sessions.revoke_all(db, user.id, keep=keep)
    if keep is not None:
        return RedirectResponse("/account?done=sessions#sessions", status_code=303)
    response = RedirectResponse("/", status_code=303)
    forget_session(request, response)
    return response


@router.post("/account/delete")
def delete_submit(
    request: Request,
    db: DB,
    password: Annotated[str, Form()] = "",  # nosec B107 # an empty form field, not a password
) -> Response:
    """Delete the account and everything it wrote, given its password, and log out."""
    user = require_user(request)
    try:
        rate_limit(request, "login")
        accounts.delete_account(db, user.id, password)
    except DailyPapersError as exc:
        page = _render(
            request, "account/settings.html", _account_context(request, user, error=exc.message), exc.status
        )
        page.headers.update(exc.headers)
        return page
    response = RedirectResponse("/?deleted=1", status_code=303)
    log_out(request, response)
    return response


@router.get("/account/export.json")
def export_download(request: Request, db: DB) -> JSONResponse:
    """Everything stored about the account, as a JSON download."""
    user = require_user(request)
    return JSONResponse(
        accounts.export_data(db, user.id),
        headers={"Content-Disposition": f'attachment; filename="dailypapers-{user.username}.json"'},
    )


def _paper_listing(
    request: Request, title: str, cards: list[Any], total: int, page: int, empty: str, **extra: Any
) -> Listing:
    more, first = _paging(request, page, total)
    return Listing(
        title=title,
        cards=cards,
        total=total,
        page=page,
        more_url=more,
        first_url=first,
        feed_url="/feeds/daily.atom",
        feed_title="Daily papers",
        label=title,
        empty_message=empty,
        extra=extra,
    )


@router.get("/account/upvotes", response_class=HTMLResponse)
def my_upvotes_page(request: Request, db: DB) -> HTMLResponse:
    """The papers the account upvoted, most recent first."""
    user = require_user(request)
    page, offset, limit = _page_window(request)
    papers, total = actions.user_upvotes(db, user.id, limit=limit, offset=offset)
    cards = [Card(p, actions.latest_entry(p)) for p in papers]
    listing = _paper_listing(
        request, "My upvotes", cards, total, page, "You have not upvoted any paper yet.", personal="upvotes"
    )
    return _listing_response(request, listing, "account/papers.html")


@router.get("/account/submissions", response_class=HTMLResponse)
def my_submissions_page(request: Request, db: DB) -> HTMLResponse:
    """The papers the account submitted."""
    user = require_user(request)
    page, offset, limit = _page_window(request)
    entries, total = actions.user_submissions(db, user.id, limit=limit, offset=offset)
    listing = _paper_listing(
        request,
        "My submissions",
        [Card(e.paper, e) for e in entries],
        total,
        page,
        "You have not submitted a paper yet.",
        personal="submissions",
    )
    return _listing_response(request, listing, "account/papers.html")


# --- submit ------------------------------------------------------------------------------------------


@router.get("/submit", response_class=HTMLResponse)
def submit_page(request: Request, settings: AppSettings) -> HTMLResponse:
    """The form that submits a paper to today's list."""
    require_user(request)
    return _render(
        request,
        "submit.html",
        {"nav": "submit", "max_age": settings.submit_max_age_days, "cap": settings.submit_daily_cap},
    )


@router.post("/submit", response_class=HTMLResponse)
def submit_submit(
    request: Request, settings: AppSettings, app: App, paper: Annotated[str, Form()] = ""
) -> Response:
    """Submit a paper to today's list and go to its page; a refusal shows the form again."""
    user = require_user(request)
    try:
        rate_limit(request, "submit")
        entry = app.submit(user, paper)
    except DailyPapersError as exc:
        page = _render(
            request,
            "submit.html",
            {
                "nav": "submit",
                "error": exc.message,
                "value": paper,
                "max_age": settings.submit_max_age_days,
                "cap": settings.submit_daily_cap,
            },
            exc.status,
        )
        page.headers.update(exc.headers)
        return page
    return RedirectResponse(f"/papers/{entry.paper.arxiv_id}?submitted=1", status_code=303)


@router.post("/papers/add", response_class=HTMLResponse)
def add_paper_submit(request: Request, app: App, paper: Annotated[str, Form()] = "") -> Response:
    """Add a paper from arXiv (not listed on a day), as ``POST /api/papers/index`` does, and go to its
    page; a refusal shows the page of the missing paper again with the reason."""
    require_user(request)
    try:
        rate_limit(request, "submit")
        added, _ = app.index_paper(paper)
    except DailyPapersError as exc:
        try:
            arxiv_id = canonical_arxiv_id(paper)[0]
        except InvalidArxivId:
            raise exc from None
        page = missing_paper_response(request, arxiv_id, exc.message, exc.status)
        page.headers.update(exc.headers)
        return page
    return RedirectResponse(f"/papers/{added.arxiv_id}", status_code=303)


# --- votes and marks ---------------------------------------------------------------------------------


def _card_anchor(arxiv_id: str) -> str:
    return "card-" + arxiv_id.replace("/", "-")


@router.get("/papers/{arxiv_id:path}/upvote", response_class=HTMLResponse)
def upvote_page(request: Request, arxiv_id: str, db: DB, back: str = "") -> Response:
    """Where a logged-out reader's upvote button leads: the log-in page first (coming back here), then a
    button that casts the vote (a POST with the reader's token: a GET never votes) and returns to the
    page they were on (``back``)."""
    target = safe_next(back).split("#", 1)[0] if back else f"/papers/{arxiv_id}"
    with db.session() as session:
        paper = actions.paper_or_404(session, arxiv_id)
        user = current_user(request)
        if user is None:
            here = f"/papers/{paper.arxiv_id}/upvote?" + urlencode({"back": target})
            return RedirectResponse("/account/login?" + urlencode({"next": here}), status_code=303)
        voted = paper.id in actions.voted_ids(session, user.id, [paper.id])
        return _render(
            request,
            "upvote.html",
            {"paper": paper, "already": voted, "back": target, "anchor": _card_anchor(paper.arxiv_id)},
        )


@router.post("/papers/{arxiv_id:path}/vote", response_class=HTMLResponse)
def vote_submit(
    request: Request,
    arxiv_id: str,
    app: App,
    vote: Annotated[str, Form()] = "add",
    day: Annotated[str, Form()] = "",
    wide: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Upvote a paper or take the upvote back; htmx gets the card's vote button as stored now (without
    it: back to the page the form was on, or to ``back``)."""
    user = require_user(request)
    if vote not in ("add", "remove"):
        raise BadRequest(f"vote must be add or remove, got {vote!r}")
    rate_limit(request, "vote")
    state = app.vote(user, arxiv_id, vote == "add")
    if not _is_htmx(request):
        if back:
            target = safe_next(back).split("#", 1)[0]
            return RedirectResponse(f"{target}#{_card_anchor(state.arxiv_id)}", status_code=303)
        return _back(request, f"/papers/{state.arxiv_id}")
    with app.db.session() as session:  # the card's count, as stored now
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == state.arxiv_id))
        if paper is None:
            raise NotFound(f"no paper {state.arxiv_id}")
        entry = None
        if day:
            try:
                entry = session.scalar(
                    select(DailyEntry).where(
                        DailyEntry.paper_id == paper.id, DailyEntry.day == date.fromisoformat(day)
                    )
                )
            except ValueError:
                entry = None
        if entry is None and not day:
            entry = session.scalar(
                select(DailyEntry)
                .where(DailyEntry.paper_id == paper.id)
                .order_by(DailyEntry.day.desc())
                .limit(1)
            )
        count = entry.total_upvotes if entry is not None else paper.total_upvotes
        voted = actions.voted_ids(session, user.id, [paper.id])
        return _render(
            request,
            "_vote.html",
            {"p": paper, "n": count, "entry": entry, "wide": bool(wide), "voted": voted},
        )


@router.post("/papers/{arxiv_id:path}/mark")
def mark_submit(
    request: Request,
    arxiv_id: str,
    db: DB,
    kind: Annotated[str, Form()] = "",
    on: Annotated[str, Form()] = "1",
) -> Response:
    """Mark a paper ``read`` or ``not_interested`` (``on=0`` takes the mark back)."""
    user = require_user(request)
    rate_limit(request, "write")
    actions.set_mark(db, user, arxiv_id, kind, on == "1")
    return _back(request, f"/papers/{arxiv_id}")


# --- comments ----------------------------------------------------------------------------------------


def _comments_answer(
    request: Request, arxiv_id: str, error: str = "", status: int = 200, body: str = ""
) -> Response:
    """The comments after a change: for htmx the section, rendered from the database now; without
    JavaScript a redirect back to the paper, or, when the change was refused, the paper's page with
    the reason above the form (and ``body``, the text sent, still in it)."""
    if not _is_htmx(request):
        if error:
            extra = {"comment_error": error, "comment_body": body}
            parts = parts_of(request)
            db, search = parts.application.db, parts.application.search
            return paper_response(request, db, search, arxiv_id, extra, status)
        return RedirectResponse(f"/papers/{arxiv_id}#comments", status_code=303)
    with parts_of(request).application.db.session() as session:
        paper = actions.paper_or_404(session, arxiv_id)
        comments = actions.visible_comments(session, paper.id, current_user(request))
        response = _render(
            request,
            "_comments.html",
            {
                "paper": paper,
                "comments": comments,
                "comment_error": error,
                "comment_body": body,
                "voted": set(),
            },
            status,
        )
        if error:  # htmx swaps an error answer only when told to (static/app.js)
            response.headers[SWAP_ERROR_HEADER] = "true"
        return response


SWAP_ERROR_HEADER = "X-Swap-Error"


def _comment_refused(request: Request, arxiv_id: str, exc: DailyPapersError, body: str = "") -> Response:
    """A comment that could not be posted or saved, said in words a reader understands."""
    message = exc.message
    if isinstance(exc, TooManyRequests):
        wait = exc.retry_after
        when = f"{wait} seconds" if wait < 120 else f"{(wait + 59) // 60} minutes"
        message = f"You are commenting faster than this site allows. Please wait {when} and try again."
    elif isinstance(exc, Unauthorized):
        message = "You are not logged in (or your session has ended). Log in, then post your comment again."
    response = _comments_answer(request, arxiv_id, message, exc.status, body)
    response.headers.update(exc.headers)
    return response


@router.post("/papers/{arxiv_id:path}/comments", response_class=HTMLResponse)
def comment_submit(request: Request, arxiv_id: str, db: DB, body: Annotated[str, Form()] = "") -> Response:
    """Comment on a paper; htmx gets the paper's comments as stored now. A refusal (empty, too long,
    too many, logged out) is shown above the form, the text kept."""
    try:
        user = require_user(request)
        rate_limit(request, "comment")
        comment = actions.add_comment(db, user, arxiv_id, body)
    except (BadRequest, TooManyRequests, Unauthorized) as exc:
        return _comment_refused(request, arxiv_id, exc, body)
    return _comments_answer(request, comment.paper.arxiv_id)


@router.post("/comments/{comment_id}/edit", response_class=HTMLResponse)
def comment_edit(request: Request, comment_id: RowId, db: DB, body: Annotated[str, Form()] = "") -> Response:
    """Change the text of one's own comment; a refusal is shown above the comments."""
    user = require_user(request)
    try:
        rate_limit(request, "comment")
        comment = actions.edit_comment(db, user, comment_id, body)
    except (BadRequest, TooManyRequests) as exc:
        with db.session() as session:
            arxiv_id = actions.comment_paper(session, comment_id)
        return _comment_refused(request, arxiv_id, exc)
    return _comments_answer(request, comment.paper.arxiv_id)


@router.post("/comments/{comment_id}/delete", response_class=HTMLResponse)
def comment_delete(request: Request, comment_id: RowId, db: DB) -> Response:
    """Delete one's own comment."""
    user = require_user(request)
    rate_limit(request, "write")
    arxiv_id = actions.delete_comment(db, user, comment_id)
    return _comments_answer(request, arxiv_id)


@router.post("/comments/{comment_id}/hide", response_class=HTMLResponse)
def comment_hide(
    request: Request, comment_id: RowId, db: DB, hidden: Annotated[str, Form()] = "1"
) -> Response:
    """Hide a comment from readers, or show it again with ``hidden=0`` (moderators only)."""
    user = require_user(request)
    rate_limit(request, "write")
    comment = actions.hide_comment(db, user, comment_id, hidden == "1")
    return _comments_answer(request, comment.paper.arxiv_id)


# --- collections -------------------------------------------------------------------------------------


@router.get("/collections", response_class=HTMLResponse)
def collections_page(request: Request, db: DB, paper: str = "") -> HTMLResponse:
    """The account's collections and the form creating one (``paper``: added to the new one)."""
    user = require_user(request)
    mine = actions.user_collections(db, user.id, user)
    return _render(request, "collections.html", {"collections": mine, "nav": "collections", "paper": paper})


@router.post("/collections", response_class=HTMLResponse)
def collection_create(
    request: Request,
    db: DB,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    public: Annotated[str, Form()] = "",
    paper: Annotated[str, Form()] = "",
) -> Response:
    """Create a collection (with ``paper`` in it, when given) and go to it."""
    user = require_user(request)
    try:
        rate_limit(request, "write")
        collection = actions.create_collection(db, user, name, description, public == "1")
        if paper:
            actions.set_in_collection(db, user, collection.id, paper, True)
    except DailyPapersError as exc:
        page = _render(
            request,
            "collections.html",
            {
                "collections": actions.user_collections(db, user.id, user),
                "nav": "collections",
                "error": exc.message,
                "paper": paper,
                "values": {"name": name, "description": description},
            },
            exc.status,
        )
        page.headers.update(exc.headers)
        return page
    return RedirectResponse(f"/collections/{collection.id}", status_code=303)


@router.post("/collections/add")
def collection_add_from_paper(
    request: Request, db: DB, paper: Annotated[str, Form()] = "", collection: Annotated[str, Form()] = ""
) -> Response:
    """Add a paper to one of the account's collections (``new``: go and create one with it)."""
    user = require_user(request)
    if collection == "new" or not collection:
        return RedirectResponse("/collections?" + urlencode({"paper": paper}), status_code=303)
    try:
        collection_id = int(collection)
    except ValueError:
        raise BadRequest(f"collection must be a number, got {collection!r}") from None
    rate_limit(request, "write")
    before = _shelves(db, user, paper)
    already = any(c.id == collection_id and c.holds for c in before.collections) if before else False
    saved = actions.set_in_collection(db, user, collection_id, paper, True)
    if not _is_htmx(request):
        return _back(request, f"/papers/{paper}", anchor="personal")
    mine = _shelves(db, user, paper)
    if mine is None:
        raise NotFound(f"no paper {paper!r}")
    notice = f"Already in “{saved.name}”." if already else f"Saved to “{saved.name}”."
    context = {"mine": mine, "save_notice": notice, "saved_id": collection_id, "voted": set()}
    return _render(request, "_paper_personal.html", context)


def _shelves(db: Any, user: Any, arxiv_id: str) -> actions.PaperPersonal | None:
    """The reader's marks on a paper and their collections, as stored now (None: no such paper)."""
    with db.session() as session:
        paper = actions.paper_or_404(session, arxiv_id)
        return actions.paper_personal(session, user.id, paper.id)


@router.get("/collections/{collection_id}", response_class=HTMLResponse)
def collection_page(request: Request, collection_id: RowId, db: DB) -> Response:
    """A public collection, or one's own, with its papers."""
    view = actions.get_collection(db, current_user(request), collection_id)
    fmt = export_format(request)
    if fmt:
        return export_response(request, fmt, list(view.papers), f"collection-{view.collection.name}")
    cards = [Card(p, actions.latest_entry(p)) for p in view.papers]
    viewer = current_user(request)
    return _render(
        request,
        "collection.html",
        {
            "view": view,
            "cards": cards,
            "nav": "collections",
            "owner": viewer is not None and viewer.id == view.owner.id,
            "listing": _paper_listing(request, view.collection.name, cards, view.total, 0, ""),
            "exports": export_links(request),
        },
    )


@router.post("/collections/{collection_id}/edit")
def collection_edit(
    request: Request,
    collection_id: RowId,
    db: DB,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    public: Annotated[str, Form()] = "",
) -> Response:
    """Change a collection's name, description and visibility."""
    user = require_user(request)
    rate_limit(request, "write")
    actions.update_collection(
        db, user, collection_id, name=name, description=description, public=public == "1"
    )
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


@router.post("/collections/{collection_id}/delete")
def collection_delete(request: Request, collection_id: RowId, db: DB) -> Response:
    """Delete one of the account's collections (the papers stay)."""
    user = require_user(request)
    rate_limit(request, "write")
    actions.delete_collection(db, user, collection_id)
    return RedirectResponse("/collections", status_code=303)


@router.post("/collections/{collection_id}/remove")
def collection_remove(
    request: Request, collection_id: RowId, db: DB, paper: Annotated[str, Form()] = ""
) -> Response:
    """Take a paper out of one of the account's collections."""
    user = require_user(request)
    rate_limit(request, "write")
    actions.set_in_collection(db, user, collection_id, paper, False)
    return RedirectResponse(f"/collections/{collection_id}", status_code=303)


# --- people ------------------------------------------------------------------------------------------


@router.get("/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: str, db: DB) -> HTMLResponse:
    """A user's page: their collections (only the public ones, to others) and latest submissions."""
    with db.session() as session:
        person = accounts.user_by_name(session, username)
    if person is None:
        raise NotFound(f"no user {username!r}")
    collections = actions.user_collections(db, person.id, current_user(request))
    entries, total = actions.user_submissions(db, person.id, limit=20)
    return _render(
        request,
        "user.html",
        {"person": person, "collections": collections, "entries": entries, "submitted_total": total},
    )
