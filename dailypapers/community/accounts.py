"""Accounts: register, log in (throttled), confirm e-mail addresses, change and reset passwords, roles,
export, delete.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile) and re-hashed on login
when the parameters change. Reset links carry a signed, expiring token bound to the current password
hash, so a link works once: after the password changes it no longer verifies. A password change ends
the account's other sessions, a reset all of them (:mod:`dailypapers.community.sessions`).

An address counts as the account's (``User.email``) only once its owner followed a signed link mailed to
it; until then it waits in ``pending_email``, and a confirmed address stays until the new one is
confirmed. Registering with, or changing to, an address another account confirmed is answered like any
other (nothing tells whether an address is in use); that account's owner is mailed a notice instead of
a link (:func:`pending_address_mail`).

Logins are throttled (:mod:`dailypapers.community.ratelimit`), never locked: every try is counted under
the name typed, whether or not an account has it, and an unknown name is checked against a dummy hash,
so neither the answers nor their timing tell which accounts exist. A browser that logged in to the
account before (a signed known-device cookie) is not held back by the name's overall count.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dailypapers.addresses import clean_email
from dailypapers.community.ratelimit import ThrottleRules, charge, forget_names, forgive, throttle_keys
from dailypapers.community.sessions import end_all as end_sessions
from dailypapers.config import Settings
from dailypapers.errors import BadRequest, Conflict, NotFound, Unauthorized
from dailypapers.store.db import Database
from dailypapers.store.models import (
    ROLES,
    Collection,
    CollectionItem,
    Comment,
    DailyEntry,
    Follow,
    Paper,
    PaperMark,
    Subscription,
    User,
    UserInterest,
    Vote,
    utcnow,
)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
RESERVED = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "api",
        "account",
        "me",
        "moderator",
        "system",
        "dailypapers",
        "support",
        "static",
        "login",
        "logout",
        "register",
        "settings",
    }
)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
RESET_MAX_AGE = 3600  # seconds a reset link stays valid
EMAIL_CONFIRM_MAX_AGE = 7 * 86400  # seconds a link confirming an address stays valid
KNOWN_DEVICE_ACCOUNTS = 5  # accounts one browser's known-device cookie remembers at most

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("a password nobody has, checked when the account does not exist")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; what ``User.password_hash`` holds)."""
    return _hasher.hash(password)


def password_matches(user: User, password: str | None) -> bool:
    """Whether ``password`` verifies against the account's hash (False for a missing password or an
    unreadable hash)."""
    try:
        return _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def _require_password(user: User, password: str | None, field: str) -> None:
    """Confirm a sensitive change with the account's password (:class:`BadRequest` naming ``field``)."""
    if not password_matches(user, password):
        raise BadRequest(f"{field}: that is not your password")


def clean_username(raw: str) -> str:
    """``raw`` trimmed and lower-cased when it is a valid username and not reserved; else
    :class:`BadRequest`."""
    name = (raw or "").strip().lower()
    if not USERNAME.match(name):
        raise BadRequest(
            "username: 2 to 40 characters, lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    if name in RESERVED:
        raise BadRequest(f"username: {name!r} is reserved")
    return name


def clean_display_name(raw: str | None, fallback: str = "") -> str:
    """``raw`` (or ``fallback`` when blank) NFC-normalised and trimmed, without control characters;
    :class:`BadRequest` when empty or over 100 characters."""
    name = unicodedata.normalize("NFC", (raw or "").strip()) or fallback
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # no control characters
    if not name:
        raise BadRequest("display name: must not be empty")
    if len(name) > 100:
        raise BadRequest("display name: at most 100 characters")
    return name


def check_password(password: str, *, username: str = "", email: str = "") -> str:
    """``password`` itself when it is long enough, not too long, and neither the username nor the
    address (or its local part); else :class:`BadRequest`."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadRequest(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"password: at most {MAX_PASSWORD} characters")
    lowered = password.strip().lower()
    if lowered in {username.lower(), email.lower(), email.partition("@")[0].lower()}:
        raise BadRequest("password: must not be your username or e-mail address")
    return password


def register(
    db: Database,
    *,
    username: str,
    email: str,
    password: str,
    display_name: str | None = None,
    role: str = "user",
) -> User:
    """A new account whose address waits for its owner to confirm it (the caller mails what
    :func:`pending_address_mail` says); :class:`Conflict` only for a taken username (usernames are
    public): the answer is the same whether or not another account has the address."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    name = clean_username(username)
    address = clean_email(email)
    check_password(password, username=name, email=address)
    shown = clean_display_name(display_name, fallback=name)
    user = User(
        username=name,
        email=None,
        pending_email=address,
        display_name=shown,
        password_hash=hash_password(password),
        role=role,
    )
    try:
        with db.transaction() as session:
            if session.scalar(select(User.id).where(User.username == name)) is not None:
                raise Conflict("that username is taken")
            session.add(user)
            session.flush()
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("that username is taken") from None
    return user


def normalise_login(login: str | None) -> str:
    """A login as typed, the way it is looked up and throttled: trimmed, NFC, lower case."""
    return unicodedata.normalize("NFC", (login or "").strip()).lower()


def holder_of(session: Session, address: str) -> User | None:
    """The account an address leads to (to log in, or for a reset link): the one that confirmed it, else
    the oldest of those that asked for it and have no confirmed address yet."""
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        user = session.scalar(
            select(User).where(User.pending_email == address, User.email.is_(None)).order_by(User.id).limit(1)
        )
    return user


def _find(session: Session, login: str) -> User | None:
    if not login:
        return None
    if "@" in login:
        return holder_of(session, login)
    return session.scalar(select(User).where(User.username == login))


def _password_checks(user: User | None, password: str | None) -> bool:
    """Whether ``password`` is the account's; without an account, as slow a no."""
    if user is not None:
        return password_matches(user, password)
    try:
        _hasher.verify(_DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        pass
    return False


def authenticate(
    db: Database,
    settings: Settings,
    login: str,
    password: str,
    *,
    client: str = "",
    device: str | None = None,
    now: datetime | None = None,
) -> User:
    """The account for ``login`` (username or e-mail address) and ``password``, else :class:`Unauthorized`
    (one message for an unknown name and a wrong password), or :class:`TooManyRequests` while the
    throttle makes ``client`` (the client's address) wait. ``device`` is the browser's known-device cookie.

    The try is counted as failed before the password is checked and forgiven when it succeeds; a name
    no account has is counted and checked (against a dummy hash) the same way."""
    now = now or utcnow()
    typed = normalise_login(login)
    keys = throttle_keys(settings.secret_key, typed, client)
    devices = _known(settings, device)  # read whether or not the name is an account's: the same work
    with db.transaction() as session:
        user = _find(session, typed)
        known = user is not None and [user.id, _device_mark(user)] in devices
        charged = charge(session, ThrottleRules.from_settings(settings), keys, known_device=known, now=now)
    if not _password_checks(user, password) or user is None:
        raise Unauthorized("wrong username or password")
    with db.transaction() as session:
        forgive(session, charged)
        row = session.get(User, user.id)
        if row is None:  # deleted meanwhile
            raise Unauthorized("wrong username or password")
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = hash_password(password)
        row.last_login_at = now
        return row


# --- known devices -----------------------------------------------------------------------------------


def _device_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_keys, salt="dailypapers.known-device")


def _device_mark(user: User) -> str:
    """Ties a known device to the account's password: a new password forgets every device."""
    return hashlib.sha256(b"known-device:" + user.password_hash.encode()).hexdigest()[:16]


def _known(settings: Settings, cookie: str | None) -> list[list[Any]]:
    """The (account id, password mark) pairs of a known-device cookie that is valid (signed here, within
    ``known_device_days``); a known device is one whose pair matches the account's current password."""
    if not cookie:
        return []
    try:
        data = _device_serializer(settings).loads(cookie, max_age=settings.known_device_days * 86400)
    except BadSignature:
        return []
    return [e for e in data if isinstance(e, list) and len(e) == 2] if isinstance(data, list) else []


def known_device_cookie(settings: Settings, cookie: str | None, user: User) -> str:
    """The known-device cookie after ``user`` logged in: this account first, then the others the browser
    knew (at most :data:`KNOWN_DEVICE_ACCOUNTS` in all)."""
    others = [e for e in _known(settings, cookie) if e[0] != user.id]
    known = [[user.id, _device_mark(user)], *others][:KNOWN_DEVICE_ACCOUNTS]
    return _device_serializer(settings).dumps(known)


def user_by_name(session: Session, username: str) -> User | None:
    """The account named ``username`` (trimmed and lower-cased), or None."""
    return session.scalar(select(User).where(User.username == (username or "").strip().lower()))


def update_profile(
    db: Database,
    user_id: int,
    *,
    display_name: str | None = None,
    email: str | None = None,
    password: str | None = None,
) -> User:
    """Change the display name, and ask for a new address: one that is neither the confirmed nor the
    pending address needs the account's ``password`` and becomes ``pending_email`` (the caller mails
    what :func:`pending_address_mail` says); the confirmed address stays until the link is followed.
    Giving the confirmed address back drops a pending change."""
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such account")
        if email is not None:
            address = clean_email(email)
            if address == user.email:
                user.pending_email = None
            elif address != user.pending_email:
                _require_password(user, password, "password")
                user.pending_email = address
        if display_name is not None:
            user.display_name = clean_display_name(display_name)
            # the name shown on the papers this account submitted
            session.execute(
                update(DailyEntry)
                .where(DailyEntry.submitted_by_id == user.id)
                .values(submitter_fullname=user.display_name)
            )
        return user


def set_hide_marked(db: Database, user_id: int, hide: bool) -> bool:
    """Whether the account's marked papers (read, not interested) are hidden from lists (``hide``) or
    shown dimmed; returns ``hide``."""
    with db.transaction() as session:
        session.execute(update(User).where(User.id == user_id).values(hide_marked=hide))
    return hide


def change_password(
    db: Database, user_id: int, current: str, new: str, *, keep_session: int | None = None
) -> User:
    """Set a new password after checking the current one; every session of the account but
    ``keep_session`` (the one asking) ends."""
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such account")
        _require_password(user, current, "current password")
        check_password(new, username=user.username, email=user.email or user.pending_email or "")
        user.password_hash = hash_password(new)
        end_sessions(session, user.id, keep=keep_session)
        return user


def set_role(db: Database, username: str, role: str) -> User:
    """Give the account ``username`` one of :data:`ROLES` (:class:`BadRequest` for another role,
    :class:`NotFound` for an unknown name)."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    with db.transaction() as session:
        user = user_by_name(session, username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        user.role = role
        return user


# --- e-mail addresses -------------------------------------------------------------------------------


def _email_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_keys, salt="dailypapers.email-confirm")


def _stamp(user: User) -> int:
    """The account's creation time (µs): an id reused by a newer account never matches an old link."""
    return int(user.created_at.timestamp() * 1_000_000)


def email_token(settings: Settings, user: User, address: str) -> str:
    """A link token confirming ``address`` as the address of ``user``."""
    return _email_serializer(settings).dumps({"u": user.id, "a": address, "b": _stamp(user)})


@dataclass(frozen=True, slots=True)
class AddressMail:
    """What to mail about an account's pending ``address``: a confirmation link (``token``), or, when
    another account (``holder``) confirmed that address already, a notice to it instead."""

    user: User
    address: str
    token: str | None
    holder: User | None


def pending_address_mail(db: Database, settings: Settings, user_id: int) -> AddressMail | None:
    """What to mail to the pending address of the account (None when it has none)."""
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None or not user.pending_email:
            return None
        address = user.pending_email
        holder = session.scalar(select(User).where(User.email == address, User.id != user.id))
        if holder is not None:
            return AddressMail(user, address, None, holder)
        return AddressMail(user, address, email_token(settings, user, address), None)


def _email_link(db: Database, settings: Settings, token: str) -> tuple[int, str]:
    """The account id and address of a confirmation token (:class:`BadRequest` if it is not one)."""
    try:
        data = _email_serializer(settings).loads(token, max_age=EMAIL_CONFIRM_MAX_AGE)
    except SignatureExpired:
        raise BadRequest("this link has expired; ask for a new one on your account page") from None
    except BadSignature:
        raise BadRequest("this link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("a"), str):
        raise BadRequest("this link is not valid")
    with db.session() as session:
        user = session.get(User, data["u"])
        if user is None or _stamp(user) != data.get("b"):
            raise BadRequest("this link is not valid any more: the account is gone")
        if data["a"] not in (user.email, user.pending_email):
            raise BadRequest("this link is not valid any more: the account asked for another address since")
    return user.id, data["a"]


def address_of_email_token(db: Database, settings: Settings, token: str) -> str:
    """The address a confirmation link confirms, if it still can (for the page that asks to confirm)."""
    return _email_link(db, settings, token)[1]


def confirm_email(db: Database, settings: Settings, token: str, now: datetime | None = None) -> User:
    """Follow a confirmation link: its address becomes the account's (following it twice is fine);
    :class:`Conflict` if another account confirmed the address first."""
    user_id, address = _email_link(db, settings, token)
    try:
        with db.transaction() as session:
            user = session.get(User, user_id)
            if user is None:
                raise BadRequest("this link is not valid any more: the account is gone")
            if user.email != address:
                _take_address(session, user, address, now or utcnow())
            return user
    except IntegrityError:  # another account confirmed it at the same moment
        raise Conflict("another account confirmed this address first") from None


def _take_address(session: Session, user: User, address: str, now: datetime) -> None:
    """Make ``address`` (just proven to be the owner's) the account's, in the caller's transaction; the
    account's digest subscription moves to it."""
    if session.scalar(select(User.id).where(User.email == address, User.id != user.id)) is not None:
        raise Conflict("another account confirmed this address first")
    user.email = address
    user.email_verified_at = now
    if user.pending_email == address:
        user.pending_email = None
    session.flush()
    _move_subscription(session, user.id, address, now)


def _move_subscription(session: Session, user_id: int, address: str, now: datetime) -> None:
    """The account's digest subscription goes to its newly confirmed ``address``. A subscription the
    address had on its own joins the account if the account had none, else gives way to the account's."""
    mine = session.scalar(select(Subscription).where(Subscription.user_id == user_id))
    there = session.scalar(select(Subscription).where(Subscription.email == address))
    if there is not None and there is not mine:
        if there.user_id is not None:  # another account's: left alone
            return
        if mine is None:
            there.user_id = user_id
            return
        session.delete(there)
        session.flush()
    if mine is not None and mine.email != address:
        mine.email = address
        mine.bounced_at = None  # a bounce was the old address's
        mine.bounce_reason = None
        mine.updated_at = now


# --- password reset ----------------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_keys, salt="dailypapers.password-reset")


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def reset_token(settings: Settings, user: User, address: str | None = None) -> str:
    """A reset link token for ``user``, mailed to ``address`` (following it proves that address too)."""
    data: dict[str, Any] = {"u": user.id, "f": _fingerprint(user)}
    if address:
        data["a"] = address
    return _serializer(settings).dumps(data)


@dataclass(frozen=True, slots=True)
class ResetMail:
    """A reset link to mail: the account, the address it goes to, the token."""

    user: User
    address: str
    token: str


def request_reset(db: Database, settings: Settings, email: str) -> ResetMail | None:
    """A reset link for the account ``email`` leads to (:func:`holder_of`: its confirmed address, or
    the pending address of an account that has none confirmed), or None when there is none (the caller
    answers the same either way)."""
    try:
        address = clean_email(email)
    except BadRequest:
        return None
    with db.session() as session:
        user = holder_of(session, address)
        if user is None:
            return None
        return ResetMail(user, address, reset_token(settings, user, address))


def _reset_data(settings: Settings, token: str, max_age: int) -> dict[str, Any]:
    try:
        data = _serializer(settings).loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadRequest("this reset link has expired; ask for a new one") from None
    except BadSignature:
        raise BadRequest("this reset link is not valid") from None
    if not isinstance(data, dict):
        raise BadRequest("this reset link is not valid")
    return data


def user_for_reset_token(db: Database, settings: Settings, token: str, max_age: int = RESET_MAX_AGE) -> User:
    """The account a reset link is for, while the link is valid and unused."""
    data = _reset_data(settings, token, max_age)
    with db.session() as session:
        user = session.get(User, data.get("u"))
        if user is None or _fingerprint(user) != data.get("f"):
            raise BadRequest("this reset link was already used or is no longer valid")
        return user


def reset_password(
    db: Database, settings: Settings, token: str, new: str, now: datetime | None = None
) -> User:
    """Set a new password with a reset link; every session of the account ends, and so do the overall
    login-throttle counts of its names. A link mailed to the pending address of an account without a
    confirmed one confirms that address too."""
    data = _reset_data(settings, token, RESET_MAX_AGE)
    user = user_for_reset_token(db, settings, token)
    with db.transaction() as session:
        row = session.get(User, user.id)
        if row is None:
            raise NotFound("no such account")
        if _fingerprint(row) != _fingerprint(user):
            raise BadRequest("this reset link was already used or is no longer valid")
        check_password(new, username=row.username, email=row.email or row.pending_email or "")
        row.password_hash = hash_password(new)
        end_sessions(session, row.id)  # every session: whoever had the old password is out
        # the owner proved the account: guesses at its names no longer slow down its logins anywhere
        names = [n for n in (row.username, row.email, row.pending_email) if n]
        forget_names(session, settings.secret_key, names)
        address = data.get("a")
        if (
            row.email is None
            and address
            and address == row.pending_email
            and session.scalar(select(User.id).where(User.email == address)) is None
        ):
            _take_address(session, row, address, now or utcnow())
        return row


# --- export and deletion -----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def export_data(db: Database, user_id: int) -> dict[str, Any]:
    """Everything stored about the account (not its password hash), as JSON-ready data."""
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such account")
        votes = session.execute(
            select(Paper.arxiv_id, Vote.created_at)
            .join(Paper, Paper.id == Vote.paper_id)
            .where(Vote.user_id == user_id)
            .order_by(Vote.created_at)
        ).all()
        submissions = session.execute(
            select(Paper.arxiv_id, DailyEntry.day, DailyEntry.submitted_at)
            .join(Paper, Paper.id == DailyEntry.paper_id)
            .where(DailyEntry.submitted_by_id == user_id)
            .order_by(DailyEntry.day)
        ).all()
        comments = session.execute(
            select(Comment, Paper.arxiv_id)
            .join(Paper, Paper.id == Comment.paper_id)
            .where(Comment.user_id == user_id)
            .order_by(Comment.created_at)
        ).all()
        collections = session.scalars(
            select(Collection).where(Collection.user_id == user_id).order_by(Collection.created_at)
        ).all()
        items = session.execute(
            select(CollectionItem.collection_id, Paper.arxiv_id, CollectionItem.added_at)
            .join(Paper, Paper.id == CollectionItem.paper_id)
            .join(Collection, Collection.id == CollectionItem.collection_id)
            .where(Collection.user_id == user_id)
            .order_by(CollectionItem.added_at)
        ).all()
        marks = session.execute(
            select(Paper.arxiv_id, PaperMark.kind, PaperMark.created_at)
            .join(Paper, Paper.id == PaperMark.paper_id)
            .where(PaperMark.user_id == user_id)
            .order_by(PaperMark.created_at)
        ).all()
        followed = session.execute(
            select(Follow.kind, Follow.value, Follow.created_at)
            .where(Follow.user_id == user_id)
            .order_by(Follow.created_at)
        ).all()
        by_collection: dict[int, list[dict[str, Any]]] = {}
        for item in items:
            by_collection.setdefault(item.collection_id, []).append(
                {"paper": item.arxiv_id, "addedAt": _iso(item.added_at)}
            )
        return {
            "account": {
                "username": user.username,
                "email": user.email,
                "emailVerifiedAt": _iso(user.email_verified_at),
                "pendingEmail": user.pending_email,
                "displayName": user.display_name,
                "role": user.role,
                "createdAt": _iso(user.created_at),
                "lastLoginAt": _iso(user.last_login_at),
            },
            "upvotes": [{"paper": v.arxiv_id, "at": _iso(v.created_at)} for v in votes],
            "follows": [{"kind": f.kind, "value": f.value, "at": _iso(f.created_at)} for f in followed],
            "submissions": [
                {"paper": s.arxiv_id, "day": s.day.isoformat(), "at": _iso(s.submitted_at)}
                for s in submissions
            ],
            "comments": [
                {
                    "id": c.id,
                    "paper": arxiv_id,
                    "body": c.body,
                    "hidden": c.hidden,
                    "createdAt": _iso(c.created_at),
                    "editedAt": _iso(c.edited_at),
                }
                for c, arxiv_id in comments
            ],
            "collections": [
                {
                    "id": c.id,
                    "name": c.name,
                    "description": c.description,
                    "public": c.public,
                    "createdAt": _iso(c.created_at),
                    "papers": by_collection.get(c.id, []),
                }
                for c in collections
            ],
            "marks": [{"paper": m.arxiv_id, "kind": m.kind, "at": _iso(m.created_at)} for m in marks],
            "interests": [
                {"kind": kind, "value": value, "at": _iso(at)}
                for kind, value, at in session.execute(
                    select(UserInterest.kind, UserInterest.value, UserInterest.created_at)
                    .where(UserInterest.user_id == user_id)
                    .order_by(UserInterest.created_at)
                )
            ],
            "subscription": [
                {
                    "email": s.email,
                    "frequency": s.frequency,
                    "trending": s.trending,
                    "forYou": s.for_you,
                    "categories": s.categories or [],
                    "organizations": s.organizations or [],
                    "timezone": s.timezone,
                    "sendHour": s.send_hour,
                    "confirmedAt": _iso(s.confirmed_at),
                    "unsubscribedAt": _iso(s.unsubscribed_at),
                }
                for s in session.scalars(select(Subscription).where(Subscription.user_id == user_id))
            ],
        }


def delete_account(db: Database, user_id: int, password: str) -> None:
    """Delete the account and what it wrote (votes, comments, collections, marks) and its digest
    subscription (the account's own, by id). Papers it submitted stay listed, without its name."""
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such account")
        _require_password(user, password, "password")
        voted = select(Vote.paper_id).where(Vote.user_id == user_id).scalar_subquery()
        session.execute(
            update(Paper).where(Paper.id.in_(voted)).values(community_upvotes=Paper.community_upvotes - 1)
        )
        session.execute(
            update(DailyEntry)
            .where(DailyEntry.submitted_by_id == user_id)
            .values(
                submitter_name=None, submitter_fullname=None, submitter_avatar_url=None, submitted_by_id=None
            )
        )
        for model in (Vote, PaperMark, Comment, Subscription):
            session.execute(delete(model).where(model.user_id == user_id))
        session.execute(delete(Collection).where(Collection.user_id == user_id))
        session.delete(user)
