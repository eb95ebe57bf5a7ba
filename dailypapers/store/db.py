"""Engines, sessions and migrations. Transactions begin and end here, and nowhere else.

:class:`Database` is built from explicit settings (no module-level engine). Readers use
:meth:`Database.session`; every write goes through :meth:`Database.transaction`, which on SQLite starts
with ``BEGIN IMMEDIATE`` so writers queue on SQLite's one write lock instead of failing half-way.
Repositories take a session and never commit. A transaction that writes what readers see raises the
data version before it commits, whoever wrote (:func:`dailypapers.store.state.watch_writes`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.config import Settings
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
        cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


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


class Database:
    """One database: its engine, a session factory, the unit-of-work scope and migrations."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> None:
        self.url = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
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
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        # a transaction that writes what readers see raises the data version before it commits
        watch_writes(self.engine, self._sessions, self._write_sessions)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)

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
        objects it loaded readable (detached) for templates and serializers."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def transaction(self, *, keep_version: bool = False) -> Iterator[Session]:
        """The unit of work: commits when the block ends, rolls back if it raises. If it wrote what readers
        see, the data version goes up in it, once (:mod:`dailypapers.store.state`), unless
        ``keep_version``: for a copy of another database, whose rows bring their own data version."""
        with (
            self._write_sessions(info={KEEP_VERSION: True} if keep_version else None) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Any]:
        """A Core connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), for hot paths that
        need no ORM session: commits when the block ends (raising the data version first if it wrote
        what readers see), rolls back if it raises."""
        with self._write_engine.begin() as connection:
            yield connection
            bump_if_changed(connection)

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


# made by migrations with raw SQL, described by no model: SQLite's FTS5 index (0003); PostgreSQL's
# weighted tsvector, pgvector column (0005) and per-model HNSW indexes (ensure_vector_index)
RAW_SQL_COLUMNS = {("papers", "search_tsv"), ("paper_vectors", "embedding")}
RAW_SQL_INDEX_PREFIXES = ("ix_papers_search_tsv", "ix_paper_vectors_hnsw_")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic's comparisons: skip what migrations make with raw SQL (no model describes it)."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith("papers_fts")
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
