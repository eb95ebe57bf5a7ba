"""Engines, sessions and migrations. Transactions begin and end here, and nowhere else.

:class:`Database` is built from explicit settings (no module-level engine). Readers use
:meth:`Database.session`; every write goes through :meth:`Database.transaction`, which on SQLite starts
with ``BEGIN IMMEDIATE`` so writers queue on SQLite's one write lock instead of failing half-way.
Repositories take a session and never commit. A transaction that writes what readers see raises the
data version before it commits, whoever wrote (:func:`dailypapers.store.state.watch_writes`).
A PostgreSQL database may have a streaming replica (:mod:`dailypapers.store.replica`): the view of
:meth:`Database.on_replica` reads from it, and everything else uses the primary.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.config import Settings
from dailypapers.store.replica import Replica, lsn_number, note_commits
from dailypapers.store.state import KEEP_VERSION, bump_if_changed, watch_writes

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (below) issue BEGIN itself instead of pysqlite's implicit transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA temp_store = MEMORY")
        # 8 MiB of private page cache per pooled connection (a pool of 30 may hold 240 MiB); the rest of
        # the file stays in the operating system's page cache, which every connection and process share.
        cursor.execute("PRAGMA cache_size = -8192")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode is None:  # SHORT_READ: no transaction, each statement reads its own snapshot
            return
        conn.exec_driver_sql(f"BEGIN {mode}")


# Execution options for a read of one or two small, independent statements (a login, a reader's marks)
# made very often: on SQLite no BEGIN and no ROLLBACK around them (each statement is atomic by itself),
# so a thread reading them gives up and takes back the interpreter lock half as often. Pass them to
# ``session.connection(execution_options=SHORT_READ)`` first thing in a new read session.
SHORT_READ = {"sqlite_begin": None}


def is_postgres(session: Session) -> bool:
    """Whether a session talks to PostgreSQL (else SQLite): for the few queries written per backend."""
    return session.get_bind().dialect.name == "postgresql"


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names; None for another backend, an in-memory database or a ``file:`` URI."""
    url = make_url(url)
    database = url.database
    if (
        url.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return None
    return Path(database)


def upsert(target: Any, postgres: bool) -> Any:
    """``INSERT`` into ``target`` (a model or table) with ``on_conflict_do_nothing``/``…_do_update`` (the
    PostgreSQL or SQLite dialect's insert; both have them, with the same arguments)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (pg_insert if postgres else sqlite_insert)(target)


@dataclass
class _SharedReader:
    """The read session open in this context, and whether it may still be handed out again."""

    session: Session
    fresh: bool = True


class Database:
    """One database: its engine, a session factory, the unit-of-work scope and migrations."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 5000,
        echo: bool = False,
        pool_size: int = 10,
        max_overflow: int = 20,
        pool_timeout: float = 10.0,
        replica_url: str | None = None,
    ) -> None:
        self.url = make_url(url)
        if replica_url and not self.is_postgres:
            raise ValueError(f"a read replica needs a PostgreSQL primary, not {self.backend}")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite or sqlite_file(self.url) is not None:  # a pool of connections to reuse
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)
        self.pool_capacity = pool_size + max_overflow
        if self.is_sqlite:
            path = sqlite_file(self.url)
            if path is not None:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the owner only
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _sqlite_pragmas(self.engine, busy_timeout_ms)
            self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self._write_engine = self.engine
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reader: ContextVar[_SharedReader | None] = ContextVar(f"reader_{id(self)}", default=None)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        # a transaction that writes what readers see raises the data version before it commits
        watch_writes(self.engine, self._sessions, self._write_sessions)
        self.replica = (
            Replica(
                replica_url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=pool_timeout,
            )
            if replica_url
            else None
        )
        self._reads_from: Replica | None = None  # on the view of on_replica(): where session() reads
        self._replica_view: Database | None = None
        if self.replica is not None:
            note_commits(self.engine)  # so that a writer can be handed the primary's new position

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database of ``settings``: its URL, SQLite lock timeout and pool sizes."""
        return cls(
            settings.resolved_database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
            replica_url=settings.database_replica_url or None,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session. It never commits: closing it rolls back anything changed, and leaves the
        objects it loaded readable (detached) for templates and serializers.

        Asked for again inside an open one (same thread and task: a page that, while reading, calls a
        function that reads), it is the same session: one request holds one pooled connection, never
        two, so busy requests cannot each hold one connection while waiting for a second one (the pool
        running dry). After a write in between (:meth:`transaction`), a new one is opened instead, so
        what follows sees the write.

        On the primary, except on the view of :meth:`on_replica`, which opens it on the replica while
        the replica may serve reads (one already open in the context is shared all the same)."""
        shared = self._reader.get()
        if shared is not None and shared.fresh:
            yield shared.session
            return
        opened = self._reads_from.open_session() if self._reads_from is not None else None
        with opened if opened is not None else self._sessions() as session:
            token = self._reader.set(_SharedReader(session))
            try:
                yield session
            finally:
                self._reader.reset(token)

    def on_replica(self) -> Database:
        """This database with its read sessions (:meth:`session`) on the replica, for reads that may be a
        moment old; still on the primary while the replica is unreachable or behind its
        :attr:`~dailypapers.store.replica.Replica.floor`. Writes (:meth:`transaction`,
        :meth:`write_connection`) always go to the primary. Without a replica: this database itself."""
        if self.replica is None or self._reads_from is not None:
            return self
        if self._replica_view is None:
            view = copy.copy(self)
            view._reads_from = self.replica
            self._replica_view = view
        return self._replica_view

    def wal_position(self) -> int:
        """The primary's current write-ahead log position (PostgreSQL): a replica that has replayed up to
        it holds every transaction that committed before this call."""
        with self.engine.connect() as connection:
            return lsn_number(connection.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one())

    @contextmanager
    def transaction(self, *, keep_version: bool = False) -> Iterator[Session]:
        """The unit of work: commits when the block ends, rolls back if it raises. If it wrote what readers
        see, the data version goes up in it, once (:mod:`dailypapers.store.state`), unless
        ``keep_version``: for a copy of another database, whose rows bring their own data version."""
        try:
            with (
                self._write_sessions(info={KEEP_VERSION: True} if keep_version else None) as session,
                session.begin(),
            ):
                yield session
        finally:
            self._written()

    @contextmanager
    def write_connection(self) -> Iterator[Any]:
        """A Core connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), for hot paths that
        need no ORM session: commits when the block ends (raising the data version first if it wrote
        what readers see), rolls back if it raises."""
        try:
            with self._write_engine.begin() as connection:
                yield connection
                bump_if_changed(connection)
        finally:
            self._written()

    def _written(self) -> None:
        """A write ended in this context: an open read session is not shared any more (its snapshot may
        predate the write)."""
        shared = self._reader.get()
        if shared is not None:
            shared.fresh = False

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` with Alembic (the one history for every backend)."""
        from alembic import command

        with self.engine.begin() as connection:
            cfg = alembic_config(connection)
            command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()


# made by migrations with raw SQL, described by no model: SQLite's FTS5 index (0003); PostgreSQL's
# weighted tsvector, pgvector column (0005) and per-model HNSW indexes (ensure_vector_index); the
# categories index kept by triggers (0021); the full texts' keyword index (0024)
RAW_SQL_TABLES = ("papers_fts", "paper_categories", "paper_texts_fts")
RAW_SQL_COLUMNS = {("papers", "search_tsv"), ("paper_vectors", "embedding"), ("paper_texts", "search_tsv")}
RAW_SQL_INDEX_PREFIXES = ("ix_papers_search_tsv", "ix_paper_vectors_hnsw_", "ix_paper_texts_search_tsv")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic's comparisons: skip what migrations make with raw SQL (no model describes it)."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(RAW_SQL_TABLES)
    if type_ == "column":
        return (parent_names.get("table_name"), name) not in RAW_SQL_COLUMNS
    if type_ == "index":
        return not name.startswith(RAW_SQL_INDEX_PREFIXES)
    return True


def alembic_config(connection: Any = None) -> Any:
    """An Alembic ``Config`` pointing at our migrations, optionally bound to an open connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg
