"""Accounts: register, log in (with lockout), change and reset passwords, roles, export, delete.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile) and re-hashed on login
when the parameters change. Reset links carry a signed, expiring token bound to the current password
hash, so a link works once: after the password changes it no longer verifies.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dailypapers.config import Settings
from dailypapers.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from dailypapers.store.db import Database
from dailypapers.store.models import (
    ROLES,
    Collection,
    CollectionItem,
    Comment,
    DailyEntry,
    Paper,
    PaperMark,
    Subscription,
    User,
    UserInterest,
    Vote,
    utcnow,
)
from dailypapers.store.state import bump_version

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
RESERVED = frozenset({"admin", "administrator", "root", "api", "account", "me", "moderator", "system",
                      "dailypapers", "support", "static", "login", "logout", "register", "settings"})
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
RESET_MAX_AGE = 3600  # seconds a reset link stays valid

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("a password nobody has, checked when the account does not exist")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(user: User, password: str | None) -> bool:
    try:
        return _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def _require_password(user: User, password: str | None, field: str) -> None:
    """Confirm a sensitive change with the account's password (:class:`BadRequest` naming ``field``)."""
    if not password_matches(user, password):
        raise BadRequest(f"{field}: that is not your password")


def clean_username(raw: str) -> str:
    name = (raw or "").strip().lower()
    if not USERNAME.match(name):
        raise BadRequest("username: 2 to 40 characters, lower-case letters, digits, '-' or '_', "
                         "starting with a letter or digit")
    if name in RESERVED:
        raise BadRequest(f"username: {name!r} is reserved")
    return name


def clean_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        raise BadRequest("email: give an address like name@example.org")
    return email


def clean_display_name(raw: str | None, fallback: str = "") -> str:
    name = unicodedata.normalize("NFC", (raw or "").strip()) or fallback
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # no control characters
    if not name:
        raise BadRequest("display name: must not be empty")
    if len(name) > 100:
        raise BadRequest("display name: at most 100 characters")
    return name


def check_password(password: str, *, username: str = "", email: str = "") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadRequest(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"password: at most {MAX_PASSWORD} characters")
    lowered = password.strip().lower()
    if lowered in {username.lower(), email.lower(), email.partition("@")[0].lower()}:
        raise BadRequest("password: must not be your username or e-mail address")
    return password


def register(db: Database, *, username: str, email: str, password: str, display_name: str | None = None,
             role: str = "user") -> User:
    """A new account; :class:`Conflict` if the username or the address is taken."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    name = clean_username(username)
    address = clean_email(email)
    check_password(password, username=name, email=address)
    shown = clean_display_name(display_name, fallback=name)
    user = User(username=name, email=address, display_name=shown, password_hash=hash_password(password),
                role=role, session_epoch=0, failed_logins=0)
    try:
        with db.transaction() as session:
            taken = session.execute(select(User.username, User.email).where(
                or_(User.username == name, User.email == address))).first()
            if taken is not None:
                raise Conflict("that username is taken" if taken.username == name
                               else "an account with that e-mail address exists")
            session.add(user)
            session.flush()
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("that username or e-mail address is taken") from None
    return user


def _find(session: Session, login: str) -> User | None:
    login = (login or "").strip().lower()
    if not login:
        return None
    column = User.email if "@" in login else User.username
    return session.scalar(select(User).where(column == login))


def authenticate(db: Database, settings: Settings, login: str, password: str,
                 now: datetime | None = None) -> User:
    """The account for ``login`` (username or e-mail) and ``password``, else :class:`Unauthorized`.

    ``login_lockout_attempts`` wrong passwords in a row lock the account for ``login_lockout_minutes``
    (:class:`TooManyRequests`, even with the right password, until it runs out). Unknown accounts take
    as long to refuse as wrong passwords."""
    now = now or utcnow()
    failed = False
    with db.transaction() as session:
        user = _find(session, login)
        if user is None:
            try:
                _hasher.verify(_DUMMY_HASH, password or "")
            except VerificationError:
                pass
            raise Unauthorized("wrong username or password")
        if user.locked_until is not None and user.locked_until > now:
            raise TooManyRequests("this account is locked after too many failed logins; try again later",
                                  (user.locked_until - now).total_seconds())
        if not password_matches(user, password):
            failed = True
            user.failed_logins += 1
            if user.failed_logins >= settings.login_lockout_attempts:
                user.failed_logins = 0
                user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
        else:
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
    if failed:  # the failure is counted (committed) before it is reported
        raise Unauthorized("wrong username or password")
    return user


def user_by_name(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == (username or "").strip().lower()))


def update_profile(db: Database, user_id: int, *, display_name: str | None = None,
                   email: str | None = None) -> User:
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such account")
        if display_name is not None:
            user.display_name = clean_display_name(display_name)
            # the name shown on the papers this account submitted
            session.execute(update(DailyEntry).where(DailyEntry.submitted_by_id == user.id)
                            .values(submitter_fullname=user.display_name))
            bump_version(session)
        if email is not None:
            address = clean_email(email)
            if address != user.email:
                if session.scalar(select(User.id).where(User.email == address)) is not None:
                    raise Conflict("an account with that e-mail address exists")
                user.email = address
        return user


def change_password(db: Database, user_id: int, current: str, new: str) -> User:
    """Set a new password after checking the current one; every other session of the account ends."""
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such account")
        _require_password(user, current, "current password")
        check_password(new, username=user.username, email=user.email)
        user.password_hash = hash_password(new)
        user.session_epoch += 1
        return user


def set_role(db: Database, username: str, role: str) -> User:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    with db.transaction() as session:
        user = user_by_name(session, username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        user.role = role
        return user


# --- password reset ----------------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="dailypapers.password-reset")


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def reset_token(settings: Settings, user: User) -> str:
    return _serializer(settings).dumps({"u": user.id, "f": _fingerprint(user)})


def request_reset(db: Database, settings: Settings, email: str) -> tuple[User, str] | None:
    """The account of ``email`` and a reset token for it, or None when no account has that address
    (the caller answers the same either way)."""
    try:
        address = clean_email(email)
    except BadRequest:
        return None
    with db.session() as session:
        user = session.scalar(select(User).where(User.email == address))
        if user is None:
            return None
        return user, reset_token(settings, user)


def user_for_reset_token(db: Database, settings: Settings, token: str,
                         max_age: int = RESET_MAX_AGE) -> User:
    try:
        data = _serializer(settings).loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadRequest("this reset link has expired; ask for a new one") from None
    except BadSignature:
        raise BadRequest("this reset link is not valid") from None
    with db.session() as session:
        user = session.get(User, data.get("u")) if isinstance(data, dict) else None
        if user is None or _fingerprint(user) != data.get("f"):
            raise BadRequest("this reset link was already used or is no longer valid")
        return user


def reset_password(db: Database, settings: Settings, token: str, new: str) -> User:
    user = user_for_reset_token(db, settings, token)
    with db.transaction() as session:
        row = session.get(User, user.id)
        assert row is not None
        if _fingerprint(row) != _fingerprint(user):
            raise BadRequest("this reset link was already used or is no longer valid")
        check_password(new, username=row.username, email=row.email)
        row.password_hash = hash_password(new)
        row.session_epoch += 1
        row.failed_logins = 0
        row.locked_until = None
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
        votes = session.execute(select(Paper.arxiv_id, Vote.created_at).join(Paper, Paper.id == Vote.paper_id)
                                .where(Vote.user_id == user_id).order_by(Vote.created_at)).all()
        submissions = session.execute(
            select(Paper.arxiv_id, DailyEntry.day, DailyEntry.submitted_at).join(Paper, Paper.id == DailyEntry.paper_id)
            .where(DailyEntry.submitted_by_id == user_id).order_by(DailyEntry.day)).all()
        comments = session.execute(
            select(Comment, Paper.arxiv_id).join(Paper, Paper.id == Comment.paper_id)
            .where(Comment.user_id == user_id).order_by(Comment.created_at)).all()
        collections = session.scalars(select(Collection).where(Collection.user_id == user_id)
                                      .order_by(Collection.created_at)).all()
        items = session.execute(
            select(CollectionItem.collection_id, Paper.arxiv_id, CollectionItem.added_at)
            .join(Paper, Paper.id == CollectionItem.paper_id)
            .join(Collection, Collection.id == CollectionItem.collection_id)
            .where(Collection.user_id == user_id).order_by(CollectionItem.added_at)).all()
        marks = session.execute(select(Paper.arxiv_id, PaperMark.kind, PaperMark.created_at)
                                .join(Paper, Paper.id == PaperMark.paper_id)
                                .where(PaperMark.user_id == user_id).order_by(PaperMark.created_at)).all()
        by_collection: dict[int, list[dict[str, Any]]] = {}
        for item in items:
            by_collection.setdefault(item.collection_id, []).append(
                {"paper": item.arxiv_id, "addedAt": _iso(item.added_at)})
        return {
            "account": {"username": user.username, "email": user.email, "displayName": user.display_name,
                        "role": user.role, "createdAt": _iso(user.created_at),
                        "lastLoginAt": _iso(user.last_login_at)},
            "upvotes": [{"paper": v.arxiv_id, "at": _iso(v.created_at)} for v in votes],
            "submissions": [{"paper": s.arxiv_id, "day": s.day.isoformat(), "at": _iso(s.submitted_at)}
                            for s in submissions],
            "comments": [{"id": c.id, "paper": arxiv_id, "body": c.body, "hidden": c.hidden,
                          "createdAt": _iso(c.created_at), "editedAt": _iso(c.edited_at)}
                         for c, arxiv_id in comments],
            "collections": [{"id": c.id, "name": c.name, "description": c.description, "public": c.public,
                             "createdAt": _iso(c.created_at), "papers": by_collection.get(c.id, [])}
                            for c in collections],
            "marks": [{"paper": m.arxiv_id, "kind": m.kind, "at": _iso(m.created_at)} for m in marks],
            "interests": [{"kind": kind, "value": value, "at": _iso(at)} for kind, value, at in session.execute(
                select(UserInterest.kind, UserInterest.value, UserInterest.created_at)
                .where(UserInterest.user_id == user_id).order_by(UserInterest.created_at))],
            "subscription": [{"email": s.email, "frequency": s.frequency, "trending": s.trending,
                              "forYou": s.for_you, "categories": s.categories or [],
                              "organizations": s.organizations or [], "timezone": s.timezone,
                              "sendHour": s.send_hour, "confirmedAt": _iso(s.confirmed_at),
                              "unsubscribedAt": _iso(s.unsubscribed_at)}
                             for s in session.scalars(select(Subscription).where(
                                 (Subscription.user_id == user_id) | (Subscription.email == user.email)))],
        }


def delete_account(db: Database, user_id: int, password: str) -> None:
    """Delete the account and what it wrote (votes, comments, collections, marks). Papers it submitted
    stay listed, without its name."""
    with db.transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("no such account")
        _require_password(user, password, "password")
        voted = select(Vote.paper_id).where(Vote.user_id == user_id).scalar_subquery()
        session.execute(update(Paper).where(Paper.id.in_(voted))
                        .values(community_upvotes=Paper.community_upvotes - 1))
        session.execute(update(DailyEntry).where(DailyEntry.submitted_by_id == user_id)
                        .values(submitter_name=None, submitter_fullname=None, submitter_avatar_url=None,
                                submitted_by_id=None))
        for model in (Vote, PaperMark, Comment):
            session.execute(delete(model).where(model.user_id == user_id))
        session.execute(delete(Collection).where(Collection.user_id == user_id))
        session.delete(user)
        bump_version(session)
