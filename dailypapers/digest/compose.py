"""Composing digest editions into the outbox (``digest_deliveries``): one finished mail per
(subscription, edition), written before anything is sent, so delivery can stop and resume at any point.

An edition is named by its frequency and the subscriber's local date: ``daily:2026-11-30`` is due once
the subscriber's clock (their time zone, America/New_York by default) passes their send hour that day;
``weekly:2026-W49`` from the send hour of that week's Monday. Sections: "Trending" (the trending list now;
for weekly editions the most upvoted papers of the 7 days before), filtered by the subscriber's categories
and organizations, "For you" (the reader's recommendations among the papers listed in the last 7 or
14 days, leaving out what they have seen, voted or dismissed, each with its reason) and "Following" (for a
subscriber with an account: the papers new since the edition before, a day or a week, by the authors, from
the organizations, in the categories and matching the searches the account follows, each with why).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from dailypapers.community.follows import CODE_RELEASED, PAGE_RELEASED, Followed
from dailypapers.config import Settings
from dailypapers.digest.subscriptions import confirm_token, unsubscribe_token
from dailypapers.mail import multipart_bytes
from dailypapers.names import author_key
from dailypapers.periods import NEW_YORK
from dailypapers.rank import trending
from dailypapers.search import fulltext
from dailypapers.store import queries
from dailypapers.store.db import Database, upsert
from dailypapers.store.models import (
    Collection,
    CollectionItem,
    DailyEntry,
    DigestDelivery,
    Follow,
    Paper,
    PaperVersion,
    Subscription,
    Vote,
    utcnow,
)
from dailypapers.summaries import Summary
from dailypapers.urls import safe_href

TEMPLATES = Path(__file__).with_name("templates")
TRENDING_ITEMS = 10
FOR_YOU_ITEMS = 5
FOLLOWING_ITEMS = 10
NEW_PAPERS = 20_000  # papers first seen in an edition's window, looked at for the followed things
SHARED_POOL = 60  # trending entries read once per edition, before each subscriber's filters
INSERT_BATCH = 500


def local_now(sub: Subscription, now: datetime) -> datetime:
    """``now`` in the subscriber's time zone (New York when tzdata no longer knows the zone)."""
    try:
        return now.astimezone(ZoneInfo(sub.timezone))
    except Exception:  # noqa: BLE001 — a zone that disappeared from tzdata: New York
        return now.astimezone(NEW_YORK)


def edition_on(frequency: str, day: date) -> str:
    """The edition holding ``day``: ``daily:YYYY-MM-DD``, or ``weekly:YYYY-Www`` (its ISO week)."""
    if frequency == "weekly":
        year, week, _ = day.isocalendar()
        return f"weekly:{year}-W{week:02d}"
    return f"daily:{day.isoformat()}"


def due_edition(sub: Subscription, now: datetime) -> str | None:
    """The edition due for ``sub`` at ``now`` (None before the send hour)."""
    local = local_now(sub, now)
    if sub.frequency == "weekly":
        if local.weekday() == 0 and local.hour < sub.send_hour:
            return None
        return edition_on("weekly", local.date())
    if local.hour < sub.send_hour:
        return None
    return edition_on("daily", local.date())


def edition_day(edition: str) -> date:
    """The first day of ``edition``: its date, or the Monday of its week."""
    kind, _, key = edition.partition(":")
    if kind == "weekly":
        year, week = key.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return date.fromisoformat(key)


@dataclass
class Item:
    """One paper in a digest section: what the mail shows of it and, in "For you", why it was picked."""

    paper_id: int
    title: str
    url: str
    byline: str
    upvotes: int
    summary: str
    categories: tuple[str, ...]
    organization: str | None
    reason: str = ""


@dataclass
class Section:
    """A titled list of items in a digest, with its rendered text and HTML (set when the mail is
    composed)."""

    title: str
    items: list[Item]
    text: str = ""
    html: Any = ""


@dataclass
class ComposeSummary(Summary):
    """Counts of one digest composing run (``sample``: one composed message, not reported)."""

    UNREPORTED = ("sample",)

    due: int = 0
    composed: int = 0
    already: int = 0
    empty: int = 0
    papers: int = 0
    seconds: float = 0.0
    editions: dict[str, int] = field(default_factory=dict)
    sample: bytes | None = None


def _item(settings: Settings, paper: Paper, upvotes: int) -> Item:
    authors = paper.authors or []
    if paper.organization is not None:
        byline = paper.organization.fullname or paper.organization.name
    elif authors:
        byline = ", ".join(authors[:3]) + (f" and {len(authors) - 3} more" if len(authors) > 3 else "")
    else:
        byline = ""
    text = " ".join((paper.ai_summary or paper.abstract or "").split())
    if len(text) > 280:
        text = text[:277].rsplit(" ", 1)[0] + "…"
    return Item(
        paper.id,
        " ".join(paper.title.split()),
        f"{settings.site_url.rstrip('/')}/papers/{paper.arxiv_id}",
        byline,
        upvotes,
        text,
        tuple(paper.categories or ([paper.primary_category] if paper.primary_category else [])),
        paper.organization.name if paper.organization else None,
    )


def _matches(item: Item, sub: Subscription) -> bool:
    if not sub.categories and not sub.organizations:
        return True
    for wanted in sub.categories or ():
        if any(c == wanted or c.startswith(wanted + ".") for c in item.categories):
            return True
    return bool(item.organization and item.organization in (sub.organizations or ()))


class _NewPapers:
    """The papers first seen in an edition's window (the day, or the week, before the composing time) and,
    per followed thing, which of them it brings: computed once per edition for every subscriber."""

    def __init__(self, session: Session, settings: Settings, now: datetime, edition: str) -> None:
        self.settings = settings
        since = now - (timedelta(days=7) if edition.startswith("weekly:") else timedelta(days=1))
        self.since = since
        self.now = now
        self.papers: dict[int, Paper] = {}
        self.new_versions: dict[int, int] = {}
        self._loaded = False
        self._releases_in_window: bool | None = None
        self._by_arxiv: dict[str, int] = {}
        self._by_key: dict[str, list[int]] | None = None
        self._brings: dict[tuple[str, str], list[int]] = {}
        self._items: dict[int, Item] = {}

    def _load(self, session: Session) -> None:
        """Read the window's papers, once, when a group of subscribers first needs them (a run whose
        subscribers follow nothing and saw no release never reads them)."""
        if self._loaded:
            return
        self._loaded = True
        since, now = self.since, self.now
        in_window = or_(
            Paper.first_seen_at.between(since, now),
            Paper.code_added_at.between(since, now),
            Paper.page_added_at.between(since, now),
        )
        self.papers = {
            p.id: p
            for p in session.scalars(
                select(Paper)
                .where(in_window, Paper.withdrawn.is_(False))
                .options(joinedload(Paper.organization))
                .order_by(Paper.first_seen_at.desc())
                .limit(NEW_PAPERS)
            ).unique()
        }
        # papers with a new arXiv version first seen in the window: the newest version's number
        self.new_versions = {
            paper_id: version
            for paper_id, version in session.execute(
                select(PaperVersion.paper_id, func.max(PaperVersion.version))
                .where(PaperVersion.seen_at.between(since, now), PaperVersion.version > 1)
                .group_by(PaperVersion.paper_id)
            )
        }
        missing = [i for i in self.new_versions if i not in self.papers]
        if missing:
            self.papers.update(
                (p.id, p)
                for p in session.scalars(
                    select(Paper)
                    .where(Paper.id.in_(missing[:NEW_PAPERS]))
                    .options(joinedload(Paper.organization))
                ).unique()
            )
        self._by_arxiv = {p.arxiv_id: p.id for p in self.papers.values()}

    def _any_release(self, session: Session) -> bool:
        """Whether a code repository or project page came to some paper in the window (cached)."""
        if self._releases_in_window is None:
            self._releases_in_window = (
                session.scalar(
                    select(Paper.id)
                    .where(
                        or_(
                            Paper.code_added_at.between(self.since, self.now),
                            Paper.page_added_at.between(self.since, self.now),
                        )
                    )
                    .limit(1)
                )
                is not None
            )
        return self._releases_in_window

    def _author_index(self) -> dict[str, list[int]]:
        if self._by_key is None:
            self._by_key = defaultdict(list)
            for paper in self.papers.values():
                for key in {author_key(a) for a in paper.authors or () if isinstance(a, str)}:
                    if key:
                        self._by_key[key].append(paper.id)
        return self._by_key

    def brings(self, session: Session, kind: str, value: str) -> list[int]:
        """The new papers ``(kind, value)`` brings."""
        found = self._brings.get((kind, value))
        if found is not None:
            return found
        if kind == "paper":
            found = [self._by_arxiv[value]] if value in self._by_arxiv else []
        elif kind == "author":
            found = list(self._author_index().get(author_key(value), []))
        elif kind == "organization":
            found = [
                i
                for i, p in self.papers.items()
                if p.organization is not None and p.organization.name == value
            ]
        elif kind == "category":
            wanted = value.lower()
            found = [
                i
                for i, p in self.papers.items()
                if any(c.lower() == wanted or c.lower().startswith(wanted + ".") for c in p.categories or ())
            ]
        else:
            hits = fulltext.keyword_hits(
                session, fulltext.parse(session, value), limit=NEW_PAPERS, seen_since=self.since
            )
            found = [h.paper_id for h in hits if h.paper_id in self.papers]
        self._brings[(kind, value)] = found
        return found

    def _new(self, paper: Paper) -> bool:
        return self.since <= paper.first_seen_at <= self.now

    def _releases(self, paper: Paper, seen: datetime | None = None) -> list[str]:
        """The releases (code, project page) of ``paper`` in the window, after ``seen`` if given."""
        found = []
        for label, at in ((CODE_RELEASED, paper.code_added_at), (PAGE_RELEASED, paper.page_added_at)):
            if at is not None and self.since <= at <= self.now and (seen is None or at > seen):
                found.append(label)
        return found

    def for_users(self, session: Session, user_ids: list[int]) -> dict[int, list[Item]]:
        """Per user: the new papers of everything they follow, and the papers they upvoted, saved or
        follow whose code or project page came in the window after they saw them, newest first, each
        with its reasons."""
        if not user_ids:
            return {}
        rows = session.execute(
            select(Follow.user_id, Follow.kind, Follow.value).where(Follow.user_id.in_(user_ids))
        ).all()
        if not rows and not self._any_release(session):  # nothing followed, no upvoted paper's release
            return {}
        self._load(session)
        if not self.papers:
            return {}
        reasons: dict[int, dict[int, list[str]]] = defaultdict(dict)
        for user_id, kind, value in rows:
            label = Followed(kind, value).label
            for paper_id in self.brings(session, kind, value):
                paper = self.papers[paper_id]
                news = self._releases(paper)
                if paper_id in self.new_versions and kind == "paper":
                    news.insert(0, f"new version v{self.new_versions[paper_id]}")
                if kind == "paper":  # a followed paper is news when something happens to it
                    if news:
                        reasons[user_id].setdefault(paper_id, []).extend(news)
                elif self._new(paper):
                    reasons[user_id].setdefault(paper_id, []).append(label)
                elif news:
                    reasons[user_id].setdefault(paper_id, []).extend([label, *news])
        released = [i for i, p in self.papers.items() if p.code_added_at or p.page_added_at]
        if released:
            seen_rows = (
                session.execute(
                    select(Vote.user_id, Vote.paper_id, Vote.created_at).where(
                        Vote.user_id.in_(user_ids), Vote.paper_id.in_(released)
                    )
                ).all()
                + session.execute(
                    select(Collection.user_id, CollectionItem.paper_id, CollectionItem.added_at)
                    .join(Collection, Collection.id == CollectionItem.collection_id)
                    .where(Collection.user_id.in_(user_ids), CollectionItem.paper_id.in_(released))
                ).all()
            )
            for user_id, paper_id, seen in seen_rows:
                mine = reasons[user_id].setdefault(paper_id, [])
                mine.extend(r for r in self._releases(self.papers[paper_id], seen) if r not in mine)
                if not mine:
                    del reasons[user_id][paper_id]
        out: dict[int, list[Item]] = {}
        for user_id, found in reasons.items():
            if not found:
                continue
            newest = sorted(found, key=lambda i: (self.papers[i].first_seen_at, i), reverse=True)
            out[user_id] = [
                replace(self._item(i), reason="; ".join(found[i])) for i in newest[:FOLLOWING_ITEMS]
            ]
        return out

    def _item(self, paper_id: int) -> Item:
        item = self._items.get(paper_id)
        if item is None:
            paper = self.papers[paper_id]
            item = self._items[paper_id] = _item(self.settings, paper, paper.total_upvotes)
        return item


class Composer:
    """Composes due editions into the outbox. ``personal`` ranks a reader's papers among candidates:
    ``personal(user_ids, candidate_ids) -> {user_id: [(paper_id, reason), ...]}`` (None: no "For you")."""

    def __init__(self, db: Database, settings: Settings, personal: Any = None) -> None:
        self.db = db
        self.settings = settings
        self.personal = personal
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=False,
            lstrip_blocks=False,
            keep_trailing_newline=True,
        )
        self.env.filters["safe_url"] = safe_href
        self.text_template = self.env.get_template("digest.txt")
        self.html_template = self.env.get_template("digest.html")
        self.item_text = self.env.get_template("item.txt")
        self.item_html = self.env.get_template("item.html")
        self._rendered: dict[tuple[int, str, int], tuple[str, str]] = {}
        self.site = settings.site_url.rstrip("/")
        self.list_id = f"dailypapers digest <digest.{urlsplit(self.site).hostname or 'localhost'}>"

    # -- shared content per edition --

    def _trending(self, session: Session, at: datetime) -> list[Item]:
        scored, _ = trending.trending_entries(session, now=at, limit=SHARED_POOL)
        return [_item(self.settings, e.paper, why.upvotes) for e, why in scored]

    def _week_top(self, session: Session, first: date, last: date) -> list[Item]:
        entries, _ = queries.list_entries(session, first, last, limit=SHARED_POOL)
        seen: set[int] = set()
        items = []
        for e in entries:
            if e.paper_id not in seen:
                seen.add(e.paper_id)
                items.append(
                    _item(self.settings, e.paper, (e.upvotes or 0) + (e.paper.community_upvotes or 0))
                )
        return items

    def _candidates(self, session: Session, first: date, last: date) -> dict[int, Item]:
        entries = (
            session.scalars(
                select(DailyEntry)
                .where(DailyEntry.day >= first, DailyEntry.day <= last)
                .options(joinedload(DailyEntry.paper).joinedload(Paper.organization))
            )
            .unique()
            .all()
        )
        found: dict[int, Item] = {}
        for e in entries:
            found[e.paper_id] = _item(
                self.settings, e.paper, (e.upvotes or 0) + (e.paper.community_upvotes or 0)
            )
        return found

    def _shared(
        self, session: Session, edition: str, now: datetime
    ) -> tuple[list[Item], dict[int, Item], str]:
        day = edition_day(edition)
        if edition.startswith("weekly:"):
            first, last = day - timedelta(days=7), day - timedelta(days=1)
            top = self._week_top(session, first, last)
            if not top:  # an instance whose imports stopped: the newest week it has
                newest = queries.latest_day(session, last)
                if newest is not None:
                    first, last = newest - timedelta(days=6), newest
                    top = self._week_top(session, first, last)
            candidates = self._candidates(session, last - timedelta(days=13), last)
            heading = f"Your weekly papers · week {day.isocalendar()[1]}, {day.year}"
        else:
            top = self._trending(session, now)
            newest = queries.latest_day(session, day) or day
            candidates = self._candidates(session, newest - timedelta(days=6), newest)
            heading = f"Daily papers · {day:%B} {day.day}, {day.year}"
        return top, candidates, heading

    # -- composing --

    def due(
        self, session: Session, now: datetime, edition_date: date | None
    ) -> list[tuple[Subscription, str]]:
        subs = session.scalars(
            select(Subscription)
            .where(
                Subscription.confirmed_at.is_not(None),
                Subscription.unsubscribed_at.is_(None),
                Subscription.bounced_at.is_(None),
            )
            .order_by(Subscription.id)
        ).all()
        pairs = []
        for sub in subs:
            edition = edition_on(sub.frequency, edition_date) if edition_date else due_edition(sub, now)
            if edition is not None:
                pairs.append((sub, edition))
        return pairs

    def compose(
        self, *, now: datetime | None = None, edition_date: date | None = None, dry_run: bool = False
    ) -> ComposeSummary:
        """Write the mails of every due (subscription, edition) not in the outbox yet. ``dry_run``
        composes them without writing anything (the first one is kept in ``summary.sample``)."""
        started = time.perf_counter()
        now = now or utcnow()
        summary = ComposeSummary()
        with self.db.session() as session:
            pairs = self.due(session, now, edition_date)
            summary.due = len(pairs)
            if not pairs:
                return summary
            existing = set(
                session.execute(
                    select(DigestDelivery.subscription_id, DigestDelivery.edition).where(
                        DigestDelivery.edition.in_({e for _, e in pairs})
                    )
                ).all()
            )
            todo = [(s, e) for s, e in pairs if (s.id, e) not in existing]
            summary.already = len(pairs) - len(todo)
            by_edition: dict[str, list[Subscription]] = defaultdict(list)
            for sub, edition in todo:
                by_edition[edition].append(sub)
            for edition, subs in by_edition.items():
                top, candidates, heading = self._shared(session, edition, now)
                fresh = _NewPapers(session, self.settings, now, edition)
                rows: list[dict[str, Any]] = []
                for start in range(0, len(subs), INSERT_BATCH):  # written as it goes: senders start at once
                    group = subs[start : start + INSERT_BATCH]
                    personal: dict[int, list[tuple[int, str]]] = {}
                    readers = [s.user_id for s in group if s.for_you and s.user_id is not None]
                    if readers and self.personal is not None and candidates:
                        personal = self.personal(readers, list(candidates))
                    followed = fresh.for_users(session, [s.user_id for s in group if s.user_id is not None])
                    for sub in group:
                        message, count = self._message(
                            sub,
                            edition,
                            heading,
                            top,
                            candidates,
                            personal.get(sub.user_id or -1, []),
                            followed.get(sub.user_id or -1, []),
                        )
                        if message is None:
                            summary.empty += 1
                            continue
                        if summary.sample is None:
                            summary.sample = message
                        summary.papers += count
                        rows.append(
                            {
                                "subscription_id": sub.id,
                                "edition": edition,
                                "to_address": sub.email,
                                "message": message,
                                "papers": count,
                                "status": "queued",
                                "attempts": 0,
                                "run_after": now,
                                "created_at": now,
                            }
                        )
                    written = len(rows) if dry_run else self._insert(rows)
                    summary.editions[edition] = summary.editions.get(edition, 0) + written
                    summary.composed += written
                    summary.already += len(rows) - written
                    rows = []
        summary.seconds = time.perf_counter() - started
        return summary

    def _insert(self, rows: list[dict[str, Any]]) -> int:
        """Write rows to the outbox, leaving out any (subscription, edition) already there (another
        composer may have been quicker); returns how many were written."""
        written = 0
        table = DigestDelivery.__table__
        for start in range(0, len(rows), INSERT_BATCH):
            chunk = rows[start : start + INSERT_BATCH]
            statement = (
                upsert(table, self.db.is_postgres)
                .on_conflict_do_nothing(index_elements=["subscription_id", "edition"])
                .returning(table.c.id)
            )
            with self.db.write_connection() as connection:  # one statement per chunk; RETURNING: the new rows
                written += len(connection.execute(statement, chunk).all())
        return written

    def _message(
        self,
        sub: Subscription,
        edition: str,
        heading: str,
        top: list[Item],
        candidates: dict[int, Item],
        picks: list[tuple[int, str]],
        followed: list[Item] | None = None,
    ) -> tuple[bytes | None, int]:
        sections: list[Section] = []
        if followed:
            sections.append(Section("Following", followed[:FOLLOWING_ITEMS]))
        if sub.for_you and picks:
            items = []
            for paper_id, reason in picks[:FOR_YOU_ITEMS]:
                item = candidates.get(paper_id)
                if item is not None:
                    items.append(replace(item, reason=reason))
            if items:
                sections.append(Section("For you", items))
        if sub.trending:
            chosen = [i for i in top if _matches(i, sub)][:TRENDING_ITEMS]
            if chosen:
                sections.append(
                    Section("Trending" if edition.startswith("daily:") else "Top papers of the week", chosen)
                )
        count = sum(len(s.items) for s in sections)
        if not count:
            return None, 0
        for section in sections:
            parts = [self._render_item(number, item) for number, item in enumerate(section.items, 1)]
            section.text = "\n".join(text for text, _ in parts) + "\n"
            section.html = Markup("\n".join(html for _, html in parts))  # nosec B704 # autoescaped template output
        unsubscribe_url = f"{self.site}/digest/unsubscribe/{unsubscribe_token(self.settings, sub)}"
        context = {
            "heading": heading,
            "sections": sections,
            "site_url": self.site,
            "email": sub.email,
            "frequency": sub.frequency,
            "unsubscribe_url": unsubscribe_url,
            "preferences_url": f"{self.site}/subscribe",
        }
        first = sections[0].items[0].title
        subject = f"{heading}: {first[:90]}" + ("…" if len(first) > 90 else "")
        message = multipart_bytes(
            self.settings,
            sub.email,
            subject,
            self.text_template.render(context),
            self.html_template.render(context),
            headers={
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": self.list_id,
                "X-Dailypapers-Edition": edition,
            },
        )
        return message, count

    def _render_item(self, number: int, item: Item) -> tuple[str, str]:
        """One paper as text and HTML, rendered once per compose run (most readers share them)."""
        key = (item.paper_id, item.reason, number)
        found = self._rendered.get(key)
        if found is None:
            if len(self._rendered) > 100_000:
                self._rendered.clear()
            found = (self.item_text.render(number=number, item=item), self.item_html.render(item=item))
            self._rendered[key] = found
        return found


def confirmation_mail(settings: Settings, sub: Subscription, prefs: Any = None) -> bytes:
    """The mail whose link confirms ``sub`` (with ``prefs``, the preferences asked for, when given)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    site = settings.site_url.rstrip("/")
    context = {
        "site_url": site,
        "email": sub.email,
        "frequency": (prefs or sub).frequency,
        "confirm_url": f"{site}/digest/confirm/{confirm_token(settings, sub, prefs)}",
    }
    return multipart_bytes(
        settings,
        sub.email,
        "Confirm your dailypapers digest",
        env.get_template("confirm.txt").render(context),
        env.get_template("confirm.html").render(context),
    )
