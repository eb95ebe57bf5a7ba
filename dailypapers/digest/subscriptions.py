"""Subscriptions: subscribe by address (double opt-in) or from an account, confirm, change, unsubscribe.

Links in mails carry signed tokens (the site's secret key): a confirmation token (valid 7 days) and an
unsubscribe token (no expiry, so an old mail's link still works), both bound to the subscription id and
its address. Unsubscribing needs no login and works with a GET (the page, with a button) or a POST
(RFC 8058 one-click, what mail clients send).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from dailypapers.addresses import clean_email
from dailypapers.config import Settings
from dailypapers.errors import BadRequest, NotFound
from dailypapers.periods import NEW_YORK
from dailypapers.store.db import Database
from dailypapers.store.models import FREQUENCIES, Subscription, User, utcnow

CONFIRM_MAX_AGE = 7 * 86400
DEFAULT_TIMEZONE = NEW_YORK.key
MAX_FILTERS = 20


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a subscriber chose: frequency, sections, category and organization filters, time zone
    and send hour (:meth:`checked` validates and normalises them)."""

    frequency: str = "daily"
    trending: bool = True
    for_you: bool = False
    categories: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    timezone: str = DEFAULT_TIMEZONE
    send_hour: int = 7

    def checked(self) -> Preferences:
        if self.frequency not in FREQUENCIES:
            raise BadRequest(f"frequency must be daily or weekly, got {self.frequency!r}")
        if not (self.trending or self.for_you):
            raise BadRequest("choose at least one section: trending or for you")
        if not 0 <= int(self.send_hour) <= 23:
            raise BadRequest(f"send hour must be 0 to 23, got {self.send_hour}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequest(f"unknown time zone {self.timezone!r} (e.g. Europe/Berlin)") from None

        def clean(values: tuple[str, ...], name: str) -> tuple[str, ...]:
            parts = tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))
            if len(parts) > MAX_FILTERS:
                raise BadRequest(f"at most {MAX_FILTERS} {name}")
            if any(len(p) > 100 for p in parts):
                raise BadRequest(f"{name}: each at most 100 characters")
            return parts

        return Preferences(
            self.frequency,
            bool(self.trending),
            bool(self.for_you),
            clean(self.categories, "categories"),
            clean(self.organizations, "organizations"),
            self.timezone,
            int(self.send_hour),
        )


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_keys, salt=f"dailypapers.digest.{purpose}")


def confirm_token(settings: Settings, sub: Subscription, prefs: Preferences | None = None) -> str:
    """A link token confirming ``sub`` (and applying ``prefs`` when given)."""
    data: dict[str, Any] = {"s": sub.id, "e": sub.email}
    if prefs is not None:
        data["p"] = _prefs_payload(prefs)
    return _serializer(settings, "confirm").dumps(data)


def unsubscribe_token(settings: Settings, sub: Subscription) -> str:
    """A link token that stops the mails of ``sub`` (it never expires)."""
    return _serializer(settings, "unsubscribe").dumps({"s": sub.id, "e": sub.email})


def _apply(sub: Subscription, prefs: Preferences) -> None:
    sub.frequency = prefs.frequency
    sub.trending = prefs.trending
    sub.for_you = prefs.for_you
    sub.categories = list(prefs.categories)
    sub.organizations = list(prefs.organizations)
    sub.timezone = prefs.timezone
    sub.send_hour = prefs.send_hour
    sub.updated_at = utcnow()


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What :func:`subscribe` did: the subscription, whether the change is done (``owner``: the account
    of a confirmed address changed its preferences), and the preferences a mailed link must confirm."""

    subscription: Subscription
    owner: bool
    to_confirm: Preferences | None


def subscribe(
    db: Database, email: str, prefs: Preferences, *, user: User | None = None, now: datetime | None = None
) -> Subscribed:
    """Subscribe ``email`` with ``prefs``.

    From the account whose confirmed address it is (an unconfirmed one is no account's), the preferences
    apply at once and the subscription belongs to the account (``user_id``); its first subscription
    still waits for a mailed link like any other. By address alone (anyone could type it),
    nothing about an existing subscription changes: the preferences travel in the signed link mailed to
    the address and apply when it is followed; a new address gets an unconfirmed subscription.
    Subscribing again after unsubscribing (or a bounce) needs the link too."""
    now = now or utcnow()
    address = clean_email(email)
    prefs = prefs.checked()
    own = user is not None and user.email is not None and user.email == address
    if prefs.for_you and not own:
        if user is not None and user.email is None:
            raise BadRequest(
                "the “for you” section goes to your account's address: confirm it first "
                "(see your account page)"
            )
        raise BadRequest("the “for you” section needs an account: subscribe from your account page")
    with db.transaction() as session:
        sub = session.scalar(select(Subscription).where(Subscription.email == address))
        if sub is None:
            sub = Subscription(email=address, created_at=now)
            _apply(sub, prefs)
            session.add(sub)
        elif own:
            _apply(sub, prefs)
        if own:
            sub.user_id = user.id  # type: ignore[union-attr]
        trusted = own and sub.active  # the owner, of an address whose link was followed
        session.flush()
        return Subscribed(sub, trusted, None if trusted else prefs)


def _prefs_payload(prefs: Preferences) -> dict[str, Any]:
    return {
        "f": prefs.frequency,
        "t": prefs.trending,
        "y": prefs.for_you,
        "c": list(prefs.categories),
        "o": list(prefs.organizations),
        "z": prefs.timezone,
        "h": prefs.send_hour,
    }


def _prefs_from(data: dict[str, Any]) -> Preferences:
    return Preferences(
        data["f"],
        bool(data["t"]),
        bool(data["y"]),
        tuple(data["c"]),
        tuple(data["o"]),
        data["z"],
        int(data["h"]),
    ).checked()


def _load(
    session: Session, settings: Settings, token: str, purpose: str, max_age: int | None
) -> Subscription:
    return _load_data(session, settings, token, purpose, max_age)[0]


def _load_data(
    session: Session, settings: Settings, token: str, purpose: str, max_age: int | None
) -> tuple[Subscription, dict[str, Any]]:
    try:
        data: Any = _serializer(settings, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadRequest("this link has expired; subscribe again to get a new one") from None
    except BadSignature:
        raise BadRequest("this link is not valid") from None
    sub = session.get(Subscription, data.get("s")) if isinstance(data, dict) else None
    if sub is None or sub.email != data.get("e"):
        raise NotFound("this subscription no longer exists")
    return sub, data


def confirm(db: Database, settings: Settings, token: str, now: datetime | None = None) -> Subscription:
    """Follow a confirmation link: the subscription becomes active (again) with the preferences the link
    carries."""
    with db.transaction() as session:
        sub, data = _load_data(session, settings, token, "confirm", CONFIRM_MAX_AGE)
        if isinstance(data.get("p"), dict):
            try:
                _apply(sub, _prefs_from(data["p"]))
            except (KeyError, TypeError, ValueError, BadRequest):
                raise BadRequest("this link is not valid") from None
        sub.unsubscribed_at = None
        sub.bounced_at = None
        sub.bounce_reason = None
        sub.confirmed_at = now or utcnow()
        return sub


def subscription_for_confirm(db: Database, settings: Settings, token: str) -> Subscription:
    """The subscription a confirmation link names, unchanged (:class:`BadRequest` for an invalid or
    expired link, :class:`NotFound` when the subscription is gone)."""
    with db.session() as session:
        return _load(session, settings, token, "confirm", CONFIRM_MAX_AGE)


def subscription_for_unsubscribe(db: Database, settings: Settings, token: str) -> Subscription:
    """The subscription an unsubscribe link names, unchanged (:class:`BadRequest` for an invalid
    link, :class:`NotFound` when the subscription is gone)."""
    with db.session() as session:
        return _load(session, settings, token, "unsubscribe", None)


def unsubscribe(db: Database, settings: Settings, token: str, now: datetime | None = None) -> Subscription:
    """Stop every mail to the subscription of ``token`` (no login needed; doing it twice is fine)."""
    with db.transaction() as session:
        sub = _load(session, settings, token, "unsubscribe", None)
        if sub.unsubscribed_at is None:
            sub.unsubscribed_at = now or utcnow()
        return sub


def subscription_of(db: Database, user: User) -> Subscription | None:
    """The account's own subscription (by account, never by an address)."""
    with db.session() as session:
        return session.scalar(select(Subscription).where(Subscription.user_id == user.id))
