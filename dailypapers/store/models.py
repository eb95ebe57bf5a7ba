"""Typed SQLAlchemy 2 models. One schema for SQLite and PostgreSQL; Alembic migrations create it.

Times are stored in UTC (:class:`UTCDateTime` returns aware datetimes on every backend); lists and
small objects are JSON (JSONB on PostgreSQL). arXiv ids are strings, canonical, without version.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    LargeBinary,
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps naive text, so we convert at the edge)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC datetimes only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """The declarative base of every table; constraints and indexes are named by
    :data:`NAMING_CONVENTION`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    """A lab, company or university that papers are filed under (Hugging Face's ``organization``)."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    fullname: Mapped[str | None] = mapped_column(String(500))
    avatar_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    papers: Mapped[list[Paper]] = relationship(back_populates="organization")


class Paper(Base):
    """One paper, merged from every source that knows it."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # author name -> the Hugging Face account that claimed it (a handle, checked on the way in)
    author_users: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    categories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    primary_category: Mapped[str | None] = mapped_column(String(64), index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comments: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(String(255))
    license: Mapped[str | None] = mapped_column(String(255))
    code_url: Mapped[str | None] = mapped_column(Text)
    project_page: Mapped[str | None] = mapped_column(Text)
    github_stars: Mapped[int | None] = mapped_column(Integer)
    ai_summary: Mapped[str | None] = mapped_column(Text)
    ai_keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    upvotes: Mapped[int] = mapped_column(Integer, default=0)  # as the source (Hugging Face) counted them
    # votes cast here (rows of ``votes``), kept apart so an import never mixes them with the source's count
    community_upvotes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    # indexed: a digest reads the papers first seen since its edition before
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # when an import first brought a code repository / a project page to a paper stored without one
    # (the "code released" alerts); None for a paper that had them when it arrived
    code_added_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    page_added_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # GitHub stars before the import that last raised them, and when that was ("Trending on GitHub")
    stars_before: Mapped[int | None] = mapped_column(Integer)
    stars_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization | None] = relationship(back_populates="papers")
    entries: Mapped[list[DailyEntry]] = relationship(
        back_populates="paper", cascade="all, delete-orphan", order_by="DailyEntry.day"
    )

    @property
    def total_upvotes(self) -> int:
        """The source's count plus the votes cast here: the number every page, feed and API shows."""
        return (self.upvotes or 0) + (self.community_upvotes or 0)


class DailyEntry(Base):
    """A paper listed on one day of the daily papers (the day is a calendar date, America/New_York
    for our own submissions; the date Hugging Face gives for imported ones)."""

    __tablename__ = "daily_entries"
    __table_args__ = (
        UniqueConstraint("paper_id", "day", name="uq_daily_entries_paper_day"),
        Index("ix_daily_entries_day_upvotes", "day", "upvotes"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitter_name: Mapped[str | None] = mapped_column(String(200), index=True)
    submitter_fullname: Mapped[str | None] = mapped_column(String(500))
    submitter_avatar_url: Mapped[str | None] = mapped_column(Text)
    upvotes: Mapped[int] = mapped_column(Integer, default=0)
    num_comments: Mapped[int] = mapped_column(Integer, default=0)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    media_urls: Mapped[list[str]] = mapped_column(JSONType, default=list)
    source: Mapped[str] = mapped_column(String(64), default="hf")
    # the account that submitted it here (source "community"); None for imported listings
    submitted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    paper: Mapped[Paper] = relationship(back_populates="entries")

    @property
    def total_upvotes(self) -> int:
        """The listing's count from its source plus the votes cast here on the paper."""
        return (self.upvotes or 0) + (self.paper.community_upvotes or 0)


class IngestCheckpoint(Base):
    """Where a network harvest stopped, saved in the same transaction as the records before it."""

    __tablename__ = "ingest_checkpoints"

    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SiteState(Base):
    """One row (``id = 1``) whose ``version`` goes up in every transaction that changes what a page
    shows (:func:`dailypapers.store.state.bump_version`); response caches compare it to know when a
    stored page is stale, so that any number of worker processes agree without sharing memory."""

    __tablename__ = "site_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    # up by one in every transaction that may end a login or change its account
    # (:func:`dailypapers.store.state.may_end_sessions`): web workers keep logins while it stands still
    sessions_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class PaperVector(Base):
    """A paper's embedding under one model (``model`` names it; ``dim`` its size). Vectors of another
    model are another row, so changing the model re-embeds instead of mixing spaces. ``text_hash``
    is the hash of the text embedded: a changed title or abstract is embedded again."""

    __tablename__ = "paper_vectors"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16, little-endian, L2-normalized
    text_hash: Mapped[str] = mapped_column(String(32))
    embedded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # the vector index's freshness check reads max(embedded_at) of one model: one index lookup
    __table_args__ = (Index("ix_paper_vectors_model_embedded_at", "model", "embedded_at"),)


class Lexicon(Base):
    """A vocabulary the recommender describes papers' words with (:mod:`dailypapers.recommend.lexical`):
    its terms and their idf as JSON, fitted on ``papers`` papers. The newest row is the current one; a
    refit adds a row and re-describes every paper."""

    __tablename__ = "lexicons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    papers: Mapped[int] = mapped_column(Integer)
    vocabulary: Mapped[str] = mapped_column(Text)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperTerms(Base):
    """A paper's heaviest terms under one lexicon (term numbers and weights, packed) and the hash of
    the text they describe: a changed title or abstract, or a new lexicon, describes it again."""

    __tablename__ = "paper_terms"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    lexicon_id: Mapped[int] = mapped_column(ForeignKey("lexicons.id", ondelete="CASCADE"), index=True)
    terms: Mapped[bytes] = mapped_column(LargeBinary)
    text_hash: Mapped[str] = mapped_column(String(32))


class Job(Base):
    """Work for ``dailypapers worker``: one row per task (embed new papers, later e-mails to send).
    Workers claim rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite: one writer at a time), so
    any number of them share one queue; a claim is a lease, taken over when it runs out."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # while queued: at most one job per key (enqueueing "index" twice queues it once)
    key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued, running, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"), Index("ix_jobs_key", "key"))


# --- community ---------------------------------------------------------------------------------------

ROLES = ("user", "moderator", "admin")
MARK_KINDS = ("read", "not_interested")


class User(Base):
    """An account. Its logins are :class:`UserSession` rows (deleted with it)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)  # lower case, [a-z0-9_-]
    # lower case; the address the owner confirmed by following a mailed link, else None
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # an address asked for and not confirmed yet (several accounts may name the same one)
    pending_email: Mapped[str | None] = mapped_column(String(320), index=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id
    role: Mapped[str] = mapped_column(String(20), default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # marked papers (read, not interested) are hidden from lists instead of dimmed
    hide_marked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def is_moderator(self) -> bool:
        return self.role in ("moderator", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserSession(Base):
    """A login. Its cookie carries a random token; only the token's SHA-256 is stored, so a copy of the
    database opens no session. Deleting the row ends the session for every copy of its cookie."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # updated every few minutes
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    device: Mapped[str] = mapped_column(String(100), default="")  # "Firefox on Linux", from the User-Agent
    address: Mapped[str] = mapped_column(String(64), default="")  # the client's address at login


class Vote(Base):
    """One user's upvote of one paper; the primary key makes a second one impossible."""

    __tablename__ = "votes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    """A comment on a paper: plain text (links and a little markdown rendered safely)."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_paper_id_created_at", "paper_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    paper: Mapped[Paper] = relationship()


class Collection(Base):
    """A reading list: private (only its owner sees it) or public (anyone with the link)."""

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class CollectionItem(Base):
    """A paper in a collection (one row per pair), with when it was added."""

    __tablename__ = "collection_items"

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    paper: Mapped[Paper] = relationship()


class PaperMark(Base):
    """What a user said about a paper besides voting: ``read`` or ``not_interested`` (one row each)."""

    __tablename__ = "paper_marks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperVersion(Base):
    """One arXiv version of a paper as a source reported it: its number, its date and, when a source
    carried that version's text, the title and abstract as they were."""

    __tablename__ = "paper_versions"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    dated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    title: Mapped[str | None] = mapped_column(Text)
    abstract: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkedRepo(Base):
    """A Hugging Face model, dataset or Space whose card cites a paper (what was built on it), as the
    last import that said so described it; ``position`` keeps the source's order."""

    __tablename__ = "linked_repos"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    repo_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    downloads: Mapped[int | None] = mapped_column(BigInteger)
    last_modified: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pipeline_tag: Mapped[str | None] = mapped_column(String(64))
    num_parameters: Mapped[int | None] = mapped_column(BigInteger)
    gated: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(200))
    emoji: Mapped[str | None] = mapped_column(String(16))


class LinkedRepoCount(Base):
    """How many models, datasets and Spaces a source said were built on a paper (it may list fewer),
    and when an import last said so."""

    __tablename__ = "linked_repo_counts"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    models: Mapped[int] = mapped_column(Integer, default=0)
    datasets: Mapped[int] = mapped_column(Integer, default=0)
    spaces: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaperText(Base):
    """A paper's full text as Markdown (converted from arXiv's HTML), or the note that arXiv had none
    (``markdown`` None) when it was asked, so that it is asked again only later."""

    __tablename__ = "paper_texts"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    markdown: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int | None] = mapped_column(Integer)  # the paper's arXiv version when fetched
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Follow(Base):
    """Something a user follows: an ``author`` (a name), an ``organization`` (its name), an arXiv
    ``category`` or a ``search`` (a query in the search box's syntax, filters included)."""

    __tablename__ = "follows"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(500), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_follows_kind_value", "kind", "value"),)


class FollowFeed(Base):
    """The secret address of a user's private "Following" feed: only the token's SHA-256 is stored (a
    copy of the database opens no feed); a new token replaces the old one, deleting the row revokes it."""

    __tablename__ = "follow_feeds"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateCounter(Base):
    """Requests of one kind by one client in one time window (rate limits shared by every worker)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix seconds
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # unix seconds


class LoginFailure(Base):
    """Failed logins counted under one key (the account name typed, the client's address, or the two
    together) for login throttling; shared by every worker, forgotten after a quiet spell."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # an HMAC: no typed name is stored
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# --- recommendations and digests ---------------------------------------------------------------------

INTEREST_KINDS = ("paper", "author", "category", "organization")
FREQUENCIES = ("daily", "weekly")


class UserInterest(Base):
    """What a new reader said they like (cold start): a paper, an author, an arXiv category or an
    organization; recommendations start from these until there are votes to learn from."""

    __tablename__ = "user_interests"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(300), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """A digest subscription: by e-mail address alone (confirmed by a mailed link) or from an account."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower case
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    frequency: Mapped[str] = mapped_column(String(10), default="daily")  # daily, weekly
    trending: Mapped[bool] = mapped_column(Boolean, default=True)
    for_you: Mapped[bool] = mapped_column(Boolean, default=False)
    categories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    organizations: Mapped[list[str]] = mapped_column(JSONType, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    send_hour: Mapped[int] = mapped_column(Integer, default=7)  # local hour, 0-23
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a permanent (5xx) failure: not mailed
    bounce_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None and self.bounced_at is None


class DigestDelivery(Base):
    """The outbox: one composed mail per (subscription, edition). The unique key makes a second copy of
    an edition impossible; senders claim rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and mark each
    one sent in the instant before the SMTP server may accept it (see :mod:`dailypapers.digest.send`)."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "edition", name="uq_digest_deliveries_subscription_edition"),
        Index("ix_digest_deliveries_status_run_after", "status", "run_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    edition: Mapped[str] = mapped_column(String(40))  # "daily:2026-11-30", "weekly:2026-W49"
    to_address: Mapped[str] = mapped_column(String(320))
    message: Mapped[bytes] = mapped_column(LargeBinary)  # the whole RFC 5322 message, as sent
    papers: Mapped[int] = mapped_column(Integer, default=0)
    # queued, sending (claimed by a sender), sent, failed (gave up after retries), bounced (5xx), skipped
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Schedule(Base):
    """A periodic task of ``dailypapers worker`` and when it is next due; whoever claims a due row
    (one writer at a time) queues its job, so restarts and extra workers never run a period twice."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
