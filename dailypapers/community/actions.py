"""What a logged-in person does: vote, submit, comment, collect, mark. One function per action.

Votes are rows of ``votes`` keyed by (user, paper): a second vote by the same person cannot exist, so
any number of concurrent requests end with one row, and the paper's ``community_upvotes`` moves by one
only in the transaction whose insert (or delete) took effect (``INSERT … ON CONFLICT DO NOTHING`` and
``RETURNING`` says whether this statement made the change), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from dailypapers.config import Settings
from dailypapers.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from dailypapers.ingest.records import InvalidArxivId, PaperRecord, canonical_arxiv_id, parse_arxiv_ref
from dailypapers.periods import today
from dailypapers.store.db import Database, is_postgres, upsert
from dailypapers.store.importer import write_batch, ImportSummary
from dailypapers.store.models import (
    MARK_KINDS,
    Collection,
    CollectionItem,
    Comment,
    DailyEntry,
    Paper,
    PaperMark,
    User,
    Vote,
    utcnow,
)

log = logging.getLogger("dailypapers.community.actions")

MAX_COMMENT = 5000
MAX_COLLECTIONS = 200
MAX_COLLECTION_ITEMS = 2000
COMMUNITY_SOURCE = "community"

Fetch = Callable[[str], PaperRecord | None]


def _insert(session: Session) -> Any:
    return lambda target: upsert(target, is_postgres(session))


def paper_or_404(session: Session, arxiv_id: str) -> Paper:
    """The stored paper of ``arxiv_id`` (any spelling :func:`canonical_arxiv_id` accepts); else
    :class:`NotFound`."""
    try:
        canonical = canonical_arxiv_id(arxiv_id)[0]
    except InvalidArxivId:
        raise NotFound(f"no paper {arxiv_id!r}") from None
    paper = session.scalar(select(Paper).where(Paper.arxiv_id == canonical))
    if paper is None:
        raise NotFound(f"no paper {canonical}")
    return paper


# --- votes -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoteState:
    """A paper's votes after a reader's change: whether they upvote it, and its total."""

    arxiv_id: str
    voted: bool
    upvotes: int  # the paper's total: the source's count plus the votes cast here, read after the change


def set_vote(db: Database, user: User, arxiv_id: str, voted: bool) -> VoteState:
    """Upvote (``voted=True``) or take the upvote back; doing it twice changes nothing."""
    with db.transaction() as session:
        paper = paper_or_404(session, arxiv_id)
        if voted:
            statement = _insert(session)(Vote).values(user_id=user.id, paper_id=paper.id, created_at=utcnow())
            # RETURNING tells whether this very statement inserted the row (no row: it existed already)
            changed = (
                session.execute(statement.on_conflict_do_nothing().returning(Vote.paper_id)).first()
                is not None
            )
            step = 1
        else:
            changed = (
                session.execute(
                    delete(Vote)
                    .where(Vote.user_id == user.id, Vote.paper_id == paper.id)
                    .returning(Vote.paper_id)
                ).first()
                is not None
            )
            step = -1
        if changed:
            session.execute(
                update(Paper)
                .where(Paper.id == paper.id)
                .values(community_upvotes=Paper.community_upvotes + step)
            )
        total = session.execute(
            select(Paper.upvotes + Paper.community_upvotes).where(Paper.id == paper.id)
        ).scalar_one()
        return VoteState(paper.arxiv_id, voted, total)


def voted_ids(session: Session, user_id: int, paper_ids: Iterable[int]) -> set[int]:
    """The ids among ``paper_ids`` that ``user_id`` upvoted."""
    ids = list(set(paper_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Vote.paper_id).where(Vote.user_id == user_id, Vote.paper_id.in_(ids))))


def recount_votes(db: Database) -> int:
    """Set every paper's ``community_upvotes`` to its number of vote rows; returns the papers fixed."""
    with db.transaction() as session:
        counted = select(func.count()).where(Vote.paper_id == Paper.id).scalar_subquery()
        fixed = len(
            session.execute(
                update(Paper)
                .where(Paper.community_upvotes != counted)
                .values(community_upvotes=counted)
                .returning(Paper.id)
            ).all()
        )
        return fixed


# --- submissions -------------------------------------------------------------------------------------


def submitted_today(session: Session, user_id: int, day: date) -> int:
    """How many papers ``user_id`` submitted to the list of ``day``."""
    return (
        session.scalar(
            select(func.count())
            .select_from(DailyEntry)
            .where(DailyEntry.submitted_by_id == user_id, DailyEntry.day == day)
        )
        or 0
    )


def ensure_paper(db: Database, arxiv_id: str, fetch: Fetch) -> bool:
    """Store the paper ``arxiv_id`` (a canonical id), fetched from arXiv, unless it is stored already;
    whether it was fetched now. arXiv unreachable: 503; no such paper there: 404."""
    with db.session() as session:
        if session.scalar(select(Paper.id).where(Paper.arxiv_id == arxiv_id)) is not None:
            return False
    try:
        record = fetch(arxiv_id)
    except Exception as exc:  # noqa: BLE001 — any failure to reach arXiv is a 503 for the user
        log.warning("could not fetch %s from arXiv: %s: %s", arxiv_id, type(exc).__name__, exc)
        raise ServiceUnavailable(
            f"arXiv did not answer when we asked for {arxiv_id}. Please try again in a minute."
        ) from exc
    if record is None:
        raise NotFound(f"arXiv has no paper {arxiv_id}")
    try:
        with db.transaction() as session:
            write_batch(session, [record], ImportSummary())
    except IntegrityError:
        return False  # stored by a concurrent request for the same paper in the same instant: go on
    return True


def index_paper(db: Database, settings: Settings, raw: str, fetch: Fetch) -> tuple[Paper, bool]:
    """Hugging Face's "index a paper": the paper ``raw`` names (an arXiv id or URL), fetched from arXiv
    and stored when it is not yet (not listed on any day), and whether it was new."""
    arxiv_id = parse_arxiv_ref(raw, settings.site_url)
    added = ensure_paper(db, arxiv_id, fetch)
    with db.session() as session:
        paper = session.scalar(
            select(Paper)
            .where(Paper.arxiv_id == arxiv_id)
            .options(joinedload(Paper.organization), selectinload(Paper.entries))
        )
        if paper is None:
            raise NotFound(f"arXiv has no paper {arxiv_id}")
        session.expunge(paper)
        return paper, added


def submit_paper(
    db: Database, settings: Settings, user: User, raw: str, fetch: Fetch, now: datetime | None = None
) -> DailyEntry:
    """List a paper on today's page (New York day), submitted by ``user``, with their upvote.

    The paper is fetched from arXiv when it is not stored yet. Refused: a paper published more than
    ``submit_max_age_days`` ago, one already listed (any day), more than ``submit_daily_cap``
    submissions by one user on one day (admins are not capped)."""
    now = now or utcnow()
    arxiv_id = parse_arxiv_ref(raw, settings.site_url)
    day = today(now)
    with db.session() as session:
        if not user.is_admin and submitted_today(session, user.id, day) >= settings.submit_daily_cap:
            raise Conflict(
                f"you have submitted {settings.submit_daily_cap} papers today, the daily "
                "limit; try again tomorrow"
            )
    ensure_paper(db, arxiv_id, fetch)
    try:
        with db.transaction() as session:
            paper = session.scalar(
                select(Paper).where(Paper.arxiv_id == arxiv_id).options(joinedload(Paper.organization))
            )
            if paper is None:
                raise NotFound(f"arXiv has no paper {arxiv_id}")
            if paper.withdrawn:
                raise BadRequest(f"{arxiv_id} was withdrawn from arXiv")
            limit = timedelta(days=settings.submit_max_age_days)
            if paper.published_at is None or now - paper.published_at > limit:
                when = paper.published_at.date().isoformat() if paper.published_at else "an unknown date"
                raise BadRequest(
                    f"{arxiv_id} was published on {when}; only papers from the last "
                    f"{settings.submit_max_age_days} days can be submitted"
                )
            listed = session.scalar(
                select(DailyEntry.day)
                .where(DailyEntry.paper_id == paper.id)
                .order_by(DailyEntry.day)
                .limit(1)
            )
            if listed is not None:
                raise Conflict(f"{arxiv_id} is already listed (on {listed.isoformat()})")
            entry = DailyEntry(
                paper_id=paper.id,
                day=day,
                submitted_at=now,
                submitter_name=user.username,
                submitter_fullname=user.display_name,
                upvotes=0,
                num_comments=0,
                media_urls=[],
                source=COMMUNITY_SOURCE,
                submitted_by_id=user.id,
                first_seen_at=now,
                modified_at=now,
            )
            session.add(entry)
            session.flush()
            inserted = session.execute(
                _insert(session)(Vote)
                .values(user_id=user.id, paper_id=paper.id, created_at=now)
                .on_conflict_do_nothing()
                .returning(Vote.paper_id)
            ).first()
            if inserted is not None:
                session.execute(
                    update(Paper)
                    .where(Paper.id == paper.id)
                    .values(community_upvotes=Paper.community_upvotes + 1)
                )
            session.refresh(paper)
            _ = paper.organization  # loaded while the session is open
            entry.paper = paper
            return entry
    except IntegrityError:  # someone listed it in the same instant
        raise Conflict(f"{arxiv_id} is already listed") from None


def user_submissions(
    db: Database, user_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[DailyEntry], int]:
    """The list entries ``user_id`` submitted, newest day first: one page and the total."""
    with db.session() as session:
        base = select(DailyEntry).where(DailyEntry.submitted_by_id == user_id)
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        entries = (
            session.scalars(
                base.options(joinedload(DailyEntry.paper).joinedload(Paper.organization))
                .order_by(DailyEntry.day.desc(), DailyEntry.id.desc())
                .limit(limit)
                .offset(offset)
            )
            .unique()
            .all()
        )
        return list(entries), total


def user_upvotes(db: Database, user_id: int, *, limit: int = 50, offset: int = 0) -> tuple[list[Paper], int]:
    """The papers ``user_id`` upvoted, most recent vote first."""
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(Vote).where(Vote.user_id == user_id)) or 0
        papers = (
            session.scalars(
                select(Paper)
                .join(Vote, Vote.paper_id == Paper.id)
                .where(Vote.user_id == user_id)
                .options(joinedload(Paper.organization), joinedload(Paper.entries))
                .order_by(Vote.created_at.desc(), Paper.id.desc())
                .limit(limit)
                .offset(offset)
            )
            .unique()
            .all()
        )
        return list(papers), total


# --- comments ----------------------------------------------------------------------------------------


def clean_comment(body: str | None) -> str:
    """``body`` with newlines normalised, trimmed, without control characters but newline and tab;
    :class:`BadRequest` when empty or over :data:`MAX_COMMENT` characters."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    text = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
    if not text:
        raise BadRequest("Your comment is empty. Write something before posting it.")
    if len(text) > MAX_COMMENT:
        raise BadRequest(
            f"Your comment is too long: at most {MAX_COMMENT} characters, and this one has {len(text)}."
        )
    return text


def add_comment(db: Database, user: User, arxiv_id: str, body: str) -> Comment:
    """Post ``body`` (cleaned) as ``user``'s comment on the paper; returns it with its author and paper."""
    text = clean_comment(body)
    with db.transaction() as session:
        paper = paper_or_404(session, arxiv_id)
        comment = Comment(paper_id=paper.id, user_id=user.id, body=text, hidden=False, created_at=utcnow())
        session.add(comment)
        session.flush()
        comment.user = session.get(User, user.id)  # type: ignore[assignment]
        comment.paper = paper
        return comment


def _comment(session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id, options=[joinedload(Comment.user), joinedload(Comment.paper)])
    if comment is None:
        raise NotFound(f"no comment {comment_id}")
    return comment


def comment_paper(session: Session, comment_id: int) -> str:
    """The arXiv id of the paper a comment is on (:class:`NotFound` when there is no such comment)."""
    return _comment(session, comment_id).paper.arxiv_id


def edit_comment(db: Database, user: User, comment_id: int, body: str) -> Comment:
    """Change the text of one's own comment (nobody else's, moderators included)."""
    text = clean_comment(body)
    with db.transaction() as session:
        comment = _comment(session, comment_id)
        if comment.user_id != user.id:
            raise Forbidden("you can only edit your own comments")
        if comment.body != text:
            comment.body = text
            comment.edited_at = utcnow()
        return comment


def delete_comment(db: Database, user: User, comment_id: int) -> str:
    """Delete one's own comment (moderators may delete any); returns the paper's arXiv id."""
    with db.transaction() as session:
        comment = _comment(session, comment_id)
        if comment.user_id != user.id and not user.is_moderator:
            raise Forbidden("you can only delete your own comments")
        arxiv_id = comment.paper.arxiv_id
        session.delete(comment)
        return arxiv_id


def hide_comment(db: Database, user: User, comment_id: int, hidden: bool = True) -> Comment:
    """Moderators hide (or show again) a comment; hidden ones are seen only by their author and moderators."""
    if not user.is_moderator:
        raise Forbidden("only moderators can hide comments")
    with db.transaction() as session:
        comment = _comment(session, comment_id)
        comment.hidden = hidden
        comment.hidden_by_id = user.id if hidden else None
        return comment


def visible_comments(
    session: Session, paper_id: int, viewer: User | None, *, hidden_too: bool = False
) -> list[Comment]:
    """The comments on a paper that ``viewer`` may read, oldest first (all of them with ``hidden_too``:
    for a page that shows hidden ones to their authors only)."""
    query = (
        select(Comment)
        .where(Comment.paper_id == paper_id)
        .options(joinedload(Comment.user))
        .order_by(Comment.created_at, Comment.id)
    )
    comments = session.scalars(query).all()
    return [
        c
        for c in comments
        if hidden_too
        or not c.hidden
        or (viewer is not None and (viewer.is_moderator or viewer.id == c.user_id))
    ]


# --- collections -------------------------------------------------------------------------------------


def _clean_collection(name: str | None, description: str | None) -> tuple[str | None, str | None]:
    if name is not None:
        name = " ".join(name.split())
        if not name:
            raise BadRequest("name: must not be empty")
        if len(name) > 200:
            raise BadRequest("name: at most 200 characters")
    if description is not None:
        description = description.strip()
        if len(description) > 2000:
            raise BadRequest("description: at most 2000 characters")
    return name, description


def create_collection(
    db: Database, user: User, name: str, description: str = "", public: bool = False
) -> Collection:
    """A new collection of ``user``, private unless ``public`` (at most :data:`MAX_COLLECTIONS` per
    account)."""
    clean_name, clean_description = _clean_collection(name, description or "")
    with db.transaction() as session:
        count = (
            session.scalar(select(func.count()).select_from(Collection).where(Collection.user_id == user.id))
            or 0
        )
        if count >= MAX_COLLECTIONS:
            raise Conflict(f"at most {MAX_COLLECTIONS} collections per account")
        now = utcnow()
        collection = Collection(
            user_id=user.id,
            name=clean_name,
            description=clean_description or "",
            public=bool(public),
            created_at=now,
            updated_at=now,
        )
        session.add(collection)
        session.flush()
        return collection


def _own_collection(session: Session, user: User, collection_id: int) -> Collection:
    """The user's own collection; someone else's is :class:`NotFound` (a private one is never confirmed)."""
    collection = session.get(Collection, collection_id)
    if collection is None or collection.user_id != user.id:
        raise NotFound(f"no collection {collection_id}")
    return collection


def update_collection(
    db: Database,
    user: User,
    collection_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    public: bool | None = None,
) -> Collection:
    """Rename, describe, publish or unpublish one's own collection; what is None stays as it is."""
    clean_name, clean_description = _clean_collection(name, description)
    with db.transaction() as session:
        collection = _own_collection(session, user, collection_id)
        if clean_name is not None:
            collection.name = clean_name
        if clean_description is not None:
            collection.description = clean_description
        if public is not None:
            collection.public = bool(public)
        collection.updated_at = utcnow()
        return collection


def delete_collection(db: Database, user: User, collection_id: int) -> None:
    """Delete one's own collection and its items (the papers stay)."""
    with db.transaction() as session:
        collection = _own_collection(session, user, collection_id)
        session.execute(delete(CollectionItem).where(CollectionItem.collection_id == collection.id))
        session.delete(collection)


def set_in_collection(
    db: Database, user: User, collection_id: int, arxiv_id: str, present: bool
) -> Collection:
    """Add a paper to one's collection (``present=True``) or take it out; twice changes nothing."""
    with db.transaction() as session:
        collection = _own_collection(session, user, collection_id)
        paper = paper_or_404(session, arxiv_id)
        if present:
            size = (
                session.scalar(
                    select(func.count())
                    .select_from(CollectionItem)
                    .where(CollectionItem.collection_id == collection.id)
                )
                or 0
            )
            if size >= MAX_COLLECTION_ITEMS:
                raise Conflict(f"a collection holds at most {MAX_COLLECTION_ITEMS} papers")
            session.execute(
                _insert(session)(CollectionItem)
                .values(collection_id=collection.id, paper_id=paper.id, added_at=utcnow())
                .on_conflict_do_nothing()
            )
        else:
            session.execute(
                delete(CollectionItem).where(
                    CollectionItem.collection_id == collection.id, CollectionItem.paper_id == paper.id
                )
            )
        collection.updated_at = utcnow()
        return collection


@dataclass(slots=True)
class CollectionView:
    """A collection as a reader sees it: its owner, one page of its papers (latest added first) and
    their total."""

    collection: Collection
    owner: User
    papers: list[Paper]
    total: int


def get_collection(
    db: Database, viewer: User | None, collection_id: int, *, limit: int = 200, offset: int = 0
) -> CollectionView:
    """A public collection, or a private one to its owner; anything else is :class:`NotFound`."""
    with db.session() as session:
        collection = session.get(Collection, collection_id, options=[joinedload(Collection.user)])
        if collection is None or not (
            collection.public or (viewer is not None and viewer.id == collection.user_id)
        ):
            raise NotFound(f"no collection {collection_id}")
        total = (
            session.scalar(
                select(func.count())
                .select_from(CollectionItem)
                .where(CollectionItem.collection_id == collection.id)
            )
            or 0
        )
        papers = (
            session.scalars(
                select(Paper)
                .join(CollectionItem, CollectionItem.paper_id == Paper.id)
                .where(CollectionItem.collection_id == collection.id)
                .options(joinedload(Paper.organization), joinedload(Paper.entries))
                .order_by(CollectionItem.added_at.desc(), Paper.id.desc())
                .limit(limit)
                .offset(offset)
            )
            .unique()
            .all()
        )
        return CollectionView(collection, collection.user, list(papers), total)


def user_collections(db: Database, owner_id: int, viewer: User | None = None) -> list[tuple[Collection, int]]:
    """(collection, number of papers) of ``owner_id``: all of them for the owner, only the public ones
    for anyone else."""
    size = (
        select(func.count())
        .select_from(CollectionItem)
        .where(CollectionItem.collection_id == Collection.id)
        .scalar_subquery()
    )
    query = (
        select(Collection, size)
        .where(Collection.user_id == owner_id)
        .order_by(Collection.updated_at.desc(), Collection.id.desc())
    )
    if viewer is None or viewer.id != owner_id:
        query = query.where(Collection.public.is_(True))
    with db.session() as session:
        return [(c, n) for c, n in session.execute(query).all()]


def set_mark(db: Database, user: User, arxiv_id: str, kind: str, on: bool) -> bool:
    """Mark a paper ``read`` or ``not_interested`` (``on=False`` takes the mark back); returns ``on``."""
    if kind not in MARK_KINDS:
        raise BadRequest(f"kind must be one of {', '.join(MARK_KINDS)}, got {kind!r}")
    with db.transaction() as session:
        paper = paper_or_404(session, arxiv_id)
        if on:
            session.execute(
                _insert(session)(PaperMark)
                .values(user_id=user.id, paper_id=paper.id, kind=kind, created_at=utcnow())
                .on_conflict_do_nothing()
            )
        else:
            session.execute(
                delete(PaperMark).where(
                    PaperMark.user_id == user.id, PaperMark.paper_id == paper.id, PaperMark.kind == kind
                )
            )
        return on


def marks_of(session: Session, user_id: int, paper_ids: Iterable[int]) -> dict[int, set[str]]:
    """The marks (``read``, ``not_interested``) ``user_id`` set, by paper, for those of ``paper_ids``
    that have any."""
    ids = list(set(paper_ids))
    if not ids:
        return {}
    found: dict[int, set[str]] = {}
    for paper_id, kind in session.execute(
        select(PaperMark.paper_id, PaperMark.kind).where(
            PaperMark.user_id == user_id, PaperMark.paper_id.in_(ids)
        )
    ):
        found.setdefault(paper_id, set()).add(kind)
    return found


@dataclass(frozen=True)
class ShelfChoice:
    """One of the reader's collections, as a paper's page offers it: ``holds`` whether the paper is in."""

    id: int
    name: str
    holds: bool


@dataclass(frozen=True)
class PaperPersonal:
    """What a paper's page shows of the reader alone: the paper's id, their marks on it, their
    collections (most recently changed first)."""

    arxiv_id: str
    marks: frozenset[str]
    collections: tuple[ShelfChoice, ...]


@functools.cache
def _paper_personal_queries() -> tuple[Select[Any], Select[Any]]:
    """The two statements of :func:`paper_personal`, built once (a page view runs them, not builds them)."""
    user, paper = bindparam("user_id"), bindparam("paper_id")
    marks = (
        select(Paper.arxiv_id, PaperMark.kind)
        .outerjoin(PaperMark, (PaperMark.paper_id == Paper.id) & (PaperMark.user_id == user))
        .where(Paper.id == paper)
    )
    holds = (
        select(CollectionItem.collection_id)
        .where(CollectionItem.collection_id == Collection.id, CollectionItem.paper_id == paper)
        .exists()
    )
    shelves = (
        select(Collection.id, Collection.name, holds)
        .where(Collection.user_id == user)
        .order_by(Collection.updated_at.desc(), Collection.id.desc())
    )
    return marks, shelves


def paper_personal(session: Session, user_id: int, paper_id: int) -> PaperPersonal | None:
    """The reader's marks on a paper and their collections (two queries); None for an unknown paper."""
    marks, shelves = _paper_personal_queries()
    params = {"user_id": user_id, "paper_id": paper_id}
    rows = session.execute(marks, params).all()
    if not rows:
        return None
    return PaperPersonal(
        rows[0][0],
        frozenset(kind for _, kind in rows if kind is not None),
        tuple(ShelfChoice(i, name, bool(held)) for i, name, held in session.execute(shelves, params)),
    )


def latest_entry(paper: Paper) -> DailyEntry | None:
    """The paper's most recent listing (latest day), or None when it was never listed."""
    return paper.entries[-1] if paper.entries else None
