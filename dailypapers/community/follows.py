"""Following authors, organizations, categories and saved searches; the papers they bring, each with why.

A follow is ``(kind, value)``: ``author`` (a name, matched as author pages match it:
:mod:`dailypapers.search.authors`), ``organization`` (an organization's name), ``category`` (an arXiv
category such as ``cs.CL``, or a whole archive such as ``cs``) or ``search`` (a query in the search box's
syntax, with its filters: ``"mixture of experts" cat:cs.LG year:2026``; matched by keywords, so that it
brings the papers that match it and not the loosely related). Each account follows at most
:data:`MAX_FOLLOWS` things.

:func:`following` gathers the newest papers of everything followed, newest first, each with the reasons
it is there ("by Ada Lovelace", "matches your search “…”"). Its private Atom feed lives at a secret
address (:func:`new_feed_token`): only the token's SHA-256 is stored, and a new token revokes the old.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from dailypapers.errors import BadRequest, NotFound
from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id
from dailypapers.names import author_key
from dailypapers.search import authors, fulltext
from dailypapers.search.query import parse_query
from dailypapers.store import queries
from dailypapers.store.db import Database, upsert
from dailypapers.store.models import (
    Collection,
    CollectionItem,
    Follow,
    FollowFeed,
    Organization,
    Paper,
    PaperVersion,
    User,
    Vote,
    utcnow,
)

KINDS = ("author", "organization", "category", "search", "paper")
MAX_FOLLOWS = 200
MAX_VALUE = 500
PER_FOLLOW = 100  # newest papers looked at per followed thing
_CATEGORY = re.compile(r"[a-z][a-z-]{0,30}(?:\.[A-Za-z][A-Za-z-]{0,30})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Followed:
    """One followed thing as the reader sees it."""

    kind: str
    value: str
    created_at: datetime | None = None

    @property
    def label(self) -> str:
        return {
            "author": f"by {self.value}",
            "organization": f"from {self.value}",
            "category": f"in {self.value}",
            "search": f"matches your search “{self.value}”",
            "paper": f"you follow {self.value}",
        }[self.kind]


@dataclass
class FollowedPaper:
    """A paper that something followed brings, with every reason it is there."""

    paper: Paper
    reasons: list[str] = field(default_factory=list)


def normalize(session: Session, kind: str, value: str) -> str:
    """The stored form of a follow, or a 400 (a 404 for an unknown organization) saying what is wrong."""
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}, got {kind[:40]!r}")
    text = " ".join(_CONTROL.sub(" ", value or "").split())
    if not text:
        raise BadRequest(f"the {kind} to follow is empty")
    if len(text) > MAX_VALUE:
        raise BadRequest(f"the {kind} to follow is longer than {MAX_VALUE} characters")
    if kind == "author":
        if not author_key(text):
            raise BadRequest(f"{text!r} is not a name")
        return text
    if kind == "organization":
        org = queries.find_organization(session, text)
        if org is None:
            raise NotFound(f"no organization named {text!r}")
        return org.name
    if kind == "category":
        if not _CATEGORY.fullmatch(text):
            raise BadRequest(f"{text!r} is not an arXiv category (such as cs.CL, or cs for all of cs)")
        return text
    if kind == "paper":
        try:
            arxiv_id = canonical_arxiv_id(text)[0]
        except InvalidArxivId:
            raise BadRequest(f"{text!r} is not an arXiv id") from None
        if queries.paper_by_arxiv_id(session, arxiv_id) is None:
            raise NotFound(f"no paper {arxiv_id}")
        return arxiv_id
    parsed = parse_query(text)
    if not (parsed.has_text or parsed.categories or parsed.organizations):
        raise BadRequest(f"the search {text!r} asks for nothing (words, an author:, cat: or org: to match)")
    return text


def follow(db: Database, user: User, kind: str, value: str) -> Followed:
    """Follow ``(kind, value)`` (again: nothing changes); more than :data:`MAX_FOLLOWS` is a 400."""
    with db.transaction() as session:
        stored = normalize(session, kind, value)
        existing = _same(session, user.id, kind, stored)
        if existing:
            return Followed(kind, existing[0].value, existing[0].created_at)
        count = session.scalar(select(func.count()).select_from(Follow).where(Follow.user_id == user.id)) or 0
        if count >= MAX_FOLLOWS:
            raise BadRequest(f"an account follows at most {MAX_FOLLOWS} things; unfollow one first")
        now = utcnow()
        # another request of the same reader may have followed it a moment ago: then nothing changes
        session.execute(
            upsert(Follow, db.is_postgres)
            .values(user_id=user.id, kind=kind, value=stored, created_at=now)
            .on_conflict_do_nothing()
        )
        return Followed(kind, stored, now)


def unfollow(db: Database, user: User, kind: str, value: str) -> bool:
    """Stop following ``(kind, value)``; whether it was followed."""
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}, got {kind[:40]!r}")
    text = " ".join(_CONTROL.sub(" ", value or "").split())
    with db.transaction() as session:
        if kind == "organization":
            org = queries.find_organization(session, text)
            text = org.name if org is not None else text
        elif kind == "paper":
            try:
                text = canonical_arxiv_id(text)[0]
            except InvalidArxivId:
                return False
        rows = _same(session, user.id, kind, text)
        for row in rows:
            session.delete(row)
        return bool(rows)


def _same(session: Session, user_id: int, kind: str, value: str) -> list[Follow]:
    """The follows of ``user_id`` that are ``(kind, value)``: an author by name key (any spelling of the
    name), anything else exactly."""
    if kind != "author":
        row = session.get(Follow, (user_id, kind, value))
        return [row] if row is not None else []
    key = author_key(value)
    rows = session.scalars(select(Follow).where(Follow.user_id == user_id, Follow.kind == "author"))
    return [r for r in rows if author_key(r.value) == key]


def follows_of(session: Session, user_id: int) -> list[Followed]:
    """What ``user_id`` follows, by kind then most recent first."""
    rows = session.scalars(
        select(Follow).where(Follow.user_id == user_id).order_by(Follow.kind, Follow.created_at.desc())
    )
    return [Followed(r.kind, r.value, r.created_at) for r in rows]


def is_following(session: Session, user_id: int, kind: str, value: str) -> bool:
    """Whether ``user_id`` follows ``(kind, value)`` (an author by any spelling of the name)."""
    return bool(_same(session, user_id, kind, value))


def _aware(value: Any) -> datetime:
    """A time read by raw SQL: aware UTC (SQLite hands back text, PostgreSQL an aware datetime)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def followed_ids(session: Session, user_id: int) -> tuple[set[int], set[int]]:
    """The ids of the organizations and of the papers ``user_id`` follows."""
    organizations = set(
        session.scalars(
            select(Organization.id)
            .join(Follow, (Follow.kind == "organization") & (Follow.value == Organization.name))
            .where(Follow.user_id == user_id)
        )
    )
    papers = set(
        session.scalars(
            select(Paper.id)
            .join(Follow, (Follow.kind == "paper") & (Follow.value == Paper.arxiv_id))
            .where(Follow.user_id == user_id)
        )
    )
    return organizations, papers


def _paper_ids(session: Session, engine: Any, item: Followed, limit: int) -> list[int]:
    """The newest papers (at most ``limit``, the most recently imported) ``item`` brings. Each is an
    index walk from the newest paper, so a reader following many things gets their page fast."""
    if item.kind == "author":
        return authors.newest_paper_ids(session, item.value, limit=limit)
    if item.kind == "organization":
        return list(
            session.scalars(
                select(Paper.id)
                .join(Organization, Organization.id == Paper.organization_id)
                .where(Organization.name == item.value)
                .order_by(Paper.id.desc())
                .limit(limit)
            )
        )
    if item.kind == "category":
        return fulltext.newest_in_category(session, item.value, limit=limit)
    if item.kind == "paper":  # a followed paper is news only when something happens to it (below)
        return []
    parsed = fulltext.parse(session, item.value)
    words = fulltext.without_stopwords(parsed)
    if words.has_text:
        return fulltext.newest_matches(session, words, limit=limit)
    return fulltext.only_filters(session, parsed, limit=limit)


class NewestCache:
    """What each followed thing brings (its newest papers), shared by the readers of one process: an
    entry holds while no paper has been imported since it was read (the newest paper id is the same) and
    for at most ``max_age`` seconds (an edited paper shows within that), ``size`` entries at most."""

    def __init__(self, size: int = 4096, max_age: float = 300.0) -> None:
        self.size = size
        self.max_age = max_age
        self._entries: OrderedDict[tuple[str, str, int], tuple[int, float, list[int]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def paper_ids(
        self, session: Session, engine: Any, item: Followed, limit: int, newest: int | None
    ) -> list[int]:
        """:func:`_paper_ids`, from the cache when it still holds (``newest``: the newest paper id now)."""
        key = (item.kind, item.value, limit)
        now = time.monotonic()
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept[0] == newest and now - kept[1] <= self.max_age:
                self._entries.move_to_end(key)
                self.hits += 1
                return kept[2]
            self.misses += 1
        ids = _paper_ids(session, engine, item, limit)
        with self._lock:
            self._entries[key] = (newest or 0, now, ids)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return ids


CODE_RELEASED = "code released"
PAGE_RELEASED = "project page released"


def new_versions(session: Session, user_id: int) -> dict[int, tuple[list[str], datetime]]:
    """The papers the reader follows that got a new arXiv version after they followed them: per paper,
    "new version vN" (the newest) and when it was first seen."""
    rows = session.execute(
        select(PaperVersion.paper_id, func.max(PaperVersion.version), func.max(PaperVersion.seen_at))
        .join(Paper, Paper.id == PaperVersion.paper_id)
        .join(Follow, (Follow.kind == "paper") & (Follow.value == Paper.arxiv_id))
        .where(Follow.user_id == user_id, PaperVersion.version > 1, PaperVersion.seen_at > Follow.created_at)
        .group_by(PaperVersion.paper_id)
    ).all()
    return {paper_id: ([f"new version v{version}"], seen) for paper_id, version, seen in rows}


def released(session: Session, user_id: int, brought: set[int]) -> dict[int, tuple[list[str], datetime]]:
    """The papers whose code repository or project page arrived after the reader first saw them: those
    they upvoted or saved before it came, and those of ``brought`` (what they follow brings) that it
    came to after the paper was first imported. Per paper: the alerts and when the newest came."""
    any_release = or_(Paper.code_added_at.is_not(None), Paper.page_added_at.is_not(None))
    sources = [
        select(Vote.paper_id, Paper.code_added_at, Paper.page_added_at, Vote.created_at)
        .join(Paper, Paper.id == Vote.paper_id)
        .where(Vote.user_id == user_id, any_release),
        select(CollectionItem.paper_id, Paper.code_added_at, Paper.page_added_at, CollectionItem.added_at)
        .join(Collection, Collection.id == CollectionItem.collection_id)
        .join(Paper, Paper.id == CollectionItem.paper_id)
        .where(Collection.user_id == user_id, any_release),
    ]
    rows = [tuple(r) for query in sources for r in session.execute(query)]
    if brought:
        listed = ", ".join(str(int(i)) for i in brought)  # ints only: no bind parameters to parse
        released_ids = [
            row[0]
            for row in session.connection().exec_driver_sql(
                f"SELECT id FROM papers WHERE id IN ({listed}) "  # nosec B608 # ints
                "AND (code_added_at IS NOT NULL OR page_added_at IS NOT NULL)"
            )
        ]
        if released_ids:
            rows += [
                (r.id, r.code_added_at, r.page_added_at, None)
                for r in session.execute(
                    select(Paper.id, Paper.code_added_at, Paper.page_added_at).where(
                        Paper.id.in_(released_ids)
                    )
                )
            ]
    found: dict[int, tuple[list[str], datetime]] = {}
    for paper_id, code_at, page_at, seen in rows:
        for label, at in ((CODE_RELEASED, code_at), (PAGE_RELEASED, page_at)):
            if at is None or (seen is not None and at <= seen):
                continue
            labels, newest = found.get(paper_id, ([], at))
            if label not in labels:
                labels.append(label)
            found[paper_id] = (labels, max(newest, at))
    return found


def following(
    session: Session,
    engine: Any,
    user_id: int,
    *,
    limit: int = 50,
    offset: int = 0,
    cache: NewestCache | None = None,
    filters: queries.PaperFilter = queries.NO_FILTER,
) -> tuple[list[FollowedPaper], int]:
    """The newest papers of everything ``user_id`` follows, and the papers they upvoted, saved or
    follow whose code or project page was released after they saw them (one page, and how many in
    all), newest first (a release counts as news at its time), each with its reasons. ``cache``: what
    each followed thing brings, shared between readers and requests; ``filters``: only the papers it
    takes (with code, a category, years)."""
    reasons: dict[int, list[str]] = {}
    newest = session.scalar(select(func.max(Paper.id))) if cache is not None else None
    for item in follows_of(session, user_id):
        found = (
            cache.paper_ids(session, engine, item, PER_FOLLOW, newest)
            if cache is not None
            else _paper_ids(session, engine, item, PER_FOLLOW)
        )
        label = item.label
        for paper_id in found:
            if paper_id in reasons:
                reasons[paper_id].append(label)
            else:
                reasons[paper_id] = [label]
    news: dict[int, datetime] = {}
    mine = set(
        session.scalars(
            select(Paper.id)
            .join(Follow, (Follow.kind == "paper") & (Follow.value == Paper.arxiv_id))
            .where(Follow.user_id == user_id)
        )
    )
    followed_papers = {**released(session, user_id, set(reasons) | mine)}
    for paper_id, (labels, at) in new_versions(session, user_id).items():
        earlier, when = followed_papers.get(paper_id, ([], at))
        followed_papers[paper_id] = (labels + earlier, max(when, at))
    for paper_id, (labels, at) in followed_papers.items():
        reasons.setdefault(paper_id, []).extend(labels)
        news[paper_id] = at
    if filters:
        kept = set(queries.filter_ids(session, list(reasons), filters))
        reasons = {i: why for i, why in reasons.items() if i in kept}
        news = {i: at for i, at in news.items() if i in kept}
    if not reasons:
        return [], 0
    # newest first by publication (or import) time: the times as the database hands them back (text on
    # SQLite, in an order-preserving format; datetimes on PostgreSQL) sorted as they are, and only the
    # page's parsed; a paper with news (a release, a version) counts from the news when later, so those
    # few are placed after. One statement with the ids written in (ints), no bind parameters to parse.
    listed = ", ".join(str(int(i)) for i in reasons)
    rows = (
        session.connection()
        .exec_driver_sql(
            "SELECT id, coalesce(published_at, first_seen_at) FROM papers "  # nosec B608 # ints
            f"WHERE id IN ({listed}) AND withdrawn = FALSE"
        )
        .all()
    )
    total = len(rows)
    rows.sort(key=lambda row: (row[1] is not None, row[1] or "", row[0]), reverse=True)
    keys: dict[int, tuple[Any, int]] = {
        paper_id: (_aware(at), paper_id) for paper_id, at in rows[: offset + limit] if at is not None
    }
    if news:
        rows = session.execute(
            select(Paper.id, Paper.published_at, Paper.first_seen_at).where(
                Paper.id.in_(list(news)), Paper.withdrawn.is_(False)
            )
        )
        for row in rows:
            base = row.published_at or row.first_seen_at
            keys[row.id] = (max(base, news[row.id]) if base is not None else news[row.id], row.id)
    ordered = sorted(keys, key=lambda i: keys[i], reverse=True)
    page = ordered[offset : offset + limit]
    papers = queries.papers_by_ids(session, page)
    return [FollowedPaper(papers[i], reasons[i]) for i in page if i in papers], total


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_feed_token(db: Database, user: User) -> str:
    """A new secret for the reader's private feed (the old one stops working at once)."""
    token = secrets.token_urlsafe(32)
    with db.transaction() as session:
        session.execute(delete(FollowFeed).where(FollowFeed.user_id == user.id))
        session.add(FollowFeed(user_id=user.id, token_hash=_hash(token), created_at=utcnow()))
    return token


def revoke_feed(db: Database, user: User) -> bool:
    """The private feed's address stops working; whether there was one."""
    with db.transaction() as session:
        gone = session.execute(delete(FollowFeed).where(FollowFeed.user_id == user.id))
        return bool(getattr(gone, "rowcount", 0))


def has_feed(session: Session, user_id: int) -> bool:
    """Whether ``user_id`` has a private feed address."""
    return session.get(FollowFeed, user_id) is not None


def feed_owner(session: Session, token: str) -> int | None:
    """The account whose private feed ``token`` opens, or ``None``."""
    if not token or len(token) > 100:
        return None
    return session.scalar(select(FollowFeed.user_id).where(FollowFeed.token_hash == _hash(token)))
