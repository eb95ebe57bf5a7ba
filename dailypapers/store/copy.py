"""Move a whole instance from one database to another (SQLite ⇄ PostgreSQL, either way), then verify it.

:func:`copy_database` is ``dailypapers db copy``. It refuses a source that is not at the code's Alembic
head and a target that already holds data, migrates the target, then copies every table of the models
(``Base.metadata.sorted_tables``: parents first, so a new table is copied without a change here) with
ids unchanged, ``batch_size`` rows per transaction on the target. Every table is read from one snapshot
of the source (one read transaction), so a site that keeps running while it copies gives a consistent
copy of one moment.

What no model describes is rebuilt on the target instead of copied: the full-text index (SQLite's
``papers_fts``, PostgreSQL's ``papers.search_tsv``) by the triggers that fire on each inserted paper,
pgvector's ``paper_vectors.embedding`` from the float16 blob (through
:func:`dailypapers.store.vectors.insert_vectors`) and its HNSW index per model. On PostgreSQL the
id sequences are moved past the copied ids.

Verification: :func:`checksums` reads each table in primary-key order and hashes every row normalised
the same way on each backend; the source side is hashed from the very rows that were copied.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from itertools import groupby
from typing import Any

import numpy as np
from sqlalchemy import JSON, Connection, Integer, Select, String, Table, func, literal, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dailypapers.errors import first_line
from dailypapers.store import categories
from dailypapers.store.db import Database, alembic_config, sqlite_file
from dailypapers.store.models import Base, PaperVector
from dailypapers.store.vectors import ensure_vector_index, insert_vectors

BATCH_SIZE = 5000
# filled by a migration (site_state's one row): overwritten by the copy instead of making it refuse
SEEDED_TABLES = frozenset({"site_state"})

# on_progress(step, rows, total): ``rows`` more rows of ``step`` ("copy papers", "verify", ...) are done
# out of ``total``; called once with rows=0 when a step starts
ProgressFn = Callable[[str, int, int], None]


class CopyError(Exception):
    """The copy was refused before anything was written, or it stopped (``partial``: the target holds
    part of the data and must be emptied before trying again)."""

    def __init__(self, message: str, *, partial: bool = False) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class TableCheck:
    """One table compared: row counts and checksums on both sides."""

    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def match(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sha256 == self.target_sha256


@dataclass(frozen=True)
class CopyReport:
    """The outcome of a copy: both databases (passwords hidden), each table compared, and the time
    taken."""

    source: str  # URLs, passwords hidden
    target: str
    tables: list[TableCheck]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(t.match for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    @property
    def differing(self) -> list[str]:
        return [t.table for t in self.tables if not t.match]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "ok": self.ok,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "tables": {
                t.table: {
                    "source_rows": t.source_rows,
                    "target_rows": t.target_rows,
                    "source_sha256": t.source_sha256,
                    "target_sha256": t.target_sha256,
                    "match": t.match,
                }
                for t in self.tables
            },
        }


# --- checksums --------------------------------------------------------------------------------------


def _normalise(value: Any, is_json: bool) -> Any:
    """A value as the same JSON-ready value on every backend."""
    if value is None:
        return None
    if is_json:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # Decimal, UUID: not in the models today


class _TableDigest:
    """Row count and SHA-256 of one table's rows, fed in primary-key order."""

    def __init__(self, table: Table) -> None:
        columns = list(table.columns)
        self._json = [isinstance(c.type, JSON) for c in columns]
        self._sha = hashlib.sha256(json.dumps([table.name, [c.name for c in columns]]).encode() + b"\n")
        self.count = 0

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            values = [_normalise(v, j) for v, j in zip(row, self._json, strict=True)]
            self._sha.update(json.dumps(values, separators=(",", ":")).encode("ascii") + b"\n")
            self.count += 1

    def result(self) -> tuple[int, str]:
        return self.count, self._sha.hexdigest()


def _ordered(table: Table, postgres: bool) -> Select[Any]:
    """All of ``table`` in primary-key order; strings in byte order on both backends (PostgreSQL's
    default collation would sort them by locale, SQLite's BINARY by bytes)."""
    keys = list(table.primary_key.columns) or list(table.columns)
    if postgres:
        keys = [c.collate("C") if isinstance(c.type, String) else c for c in keys]
    return select(table).order_by(*keys)


@contextmanager
def _snapshot(db: Database) -> Iterator[Connection]:
    """One read transaction, so that every table is read as of one moment (REPEATABLE READ on
    PostgreSQL; on SQLite a WAL read transaction is a snapshot)."""
    with db.engine.connect() as conn:
        if db.is_postgres:
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def _batches(conn: Connection, table: Table, postgres: bool, batch_size: int) -> Iterator[Sequence[Any]]:
    result = conn.execute(_ordered(table, postgres).execution_options(yield_per=batch_size))
    yield from result.partitions()


def checksums(
    db: Database,
    *,
    tables: Sequence[Table] | None = None,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, tuple[int, str]]:
    """``{table: (rows, sha256)}`` for every table of the models (or ``tables``), read from one snapshot;
    equal on two databases exactly when they hold the same rows."""
    with _snapshot(db) as conn:
        return checksums_in(
            conn, postgres=db.is_postgres, tables=tables, batch_size=batch_size, on_progress=on_progress
        )


def checksums_in(
    conn: Connection,
    *,
    postgres: bool,
    tables: Sequence[Table] | None = None,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, tuple[int, str]]:
    """:func:`checksums` read through ``conn``, in the transaction it is in (e.g. the snapshot a backup
    exported)."""
    tables = list(Base.metadata.sorted_tables if tables is None else tables)
    sums = {}
    for table in tables:
        digest = _TableDigest(table)
        for rows in _batches(conn, table, postgres, batch_size):
            digest.add(rows)
            if on_progress:
                on_progress(len(rows))
        sums[table.name] = digest.result()
    return sums


# --- copy -------------------------------------------------------------------------------------------


def head_revision() -> str | None:
    """The newest migration of this version of the code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def _stage(what: str, *, partial: bool) -> Iterator[None]:
    """Database errors while doing ``what`` as a :class:`CopyError`."""
    try:
        yield
    except SQLAlchemyError as exc:
        message = f"{what} failed: {first_line(exc)}"
        if partial:
            message += (
                "; the target now holds part of the data: empty it (drop the database and create "
                "it again) before copying again"
            )
        raise CopyError(message, partial=partial) from exc


def _same_database(a: Database, b: Database) -> bool:
    if a.backend != b.backend:
        return False
    if a.is_sqlite:
        files = [sqlite_file(db.url) for db in (a, b)]
        if files[0] is None or files[1] is None:  # in memory, or a file: URI
            names = [db.url.database or ":memory:" for db in (a, b)]
            return names[0] == names[1] and names[0] != ":memory:"
        return files[0].resolve() == files[1].resolve()
    return (a.url.host, a.url.port, a.url.database) == (b.url.host, b.url.port, b.url.database)


def _check_source(source: Database) -> None:
    head = head_revision()
    revision = source.current_revision()
    if revision is None:
        raise CopyError(
            "the source database has no dailypapers schema (no Alembic revision): is the --from URL right?"
        )
    if revision != head:
        raise CopyError(
            f"the source database is at revision {revision}, this version of dailypapers at "
            f"{head}: run `dailypapers db upgrade` on it first (with DAILYPAPERS_DATABASE_URL "
            "set to its URL)"
        )


def _refuse_rows(target: Database, tables: Sequence[Table]) -> None:
    """Refuse a target whose tables hold rows (but for those a migration seeds)."""
    present = set(target.table_names())
    with target.session() as session:
        for table in tables:
            if table.name in SEEDED_TABLES or table.name not in present:
                continue
            if session.execute(select(literal(1)).select_from(table).limit(1)).first() is not None:
                raise CopyError(
                    f"the target database is not empty: table {table.name} has rows; "
                    "copy into a new, empty database"
                )


def _insert_rows(session: Session, table: Table, rows: Sequence[Any]) -> None:
    session.execute(table.insert(), [row._asdict() for row in rows])


def _insert_pg_vectors(session: Session, table: Table, rows: Sequence[Any]) -> None:
    """``paper_vectors`` rows into PostgreSQL through :func:`insert_vectors`, which fills pgvector's
    ``embedding`` from the vector too. It stamps one ``embedded_at`` per call, so the rows go in groups
    of one (model, dim, embedded_at): each keeps its own time (the index's freshness check reads it)."""

    def key(row: Any) -> tuple[str, int, datetime]:
        return row.model, row.dim, row.embedded_at

    for (model, dim, embedded_at), group_rows in groupby(sorted(rows, key=key), key=key):
        group = list(group_rows)
        for row in group:
            if len(row.vector) != 2 * dim:
                raise CopyError(
                    f"paper_vectors row ({row.paper_id}, {model!r}) holds {len(row.vector)} "
                    f"bytes, not {dim} float16 values",
                    partial=True,
                )
        blob = b"".join(bytes(r.vector) for r in group)
        vectors = np.frombuffer(blob, dtype="<f2").reshape(len(group), dim)
        insert_vectors(
            session,
            model,
            [r.paper_id for r in group],
            [r.text_hash for r in group],
            vectors,
            now=embedded_at,
        )


def _copy_table(
    conn: Connection,
    source: Database,
    target: Database,
    table: Table,
    total: int,
    batch_size: int,
    on_progress: ProgressFn | None,
) -> tuple[int, str]:
    """Copy one table, a transaction on the target per batch; (rows, sha256) of what was read."""
    write = _insert_rows
    if table.name == PaperVector.__tablename__ and target.is_postgres:
        write = _insert_pg_vectors
    step = f"copy {table.name}"
    if on_progress:
        on_progress(step, 0, total)
    digest = _TableDigest(table)
    clear = table.name in SEEDED_TABLES
    for rows in _batches(conn, table, source.is_postgres, batch_size):
        digest.add(rows)
        with target.transaction(keep_version=True) as session:  # site_state is copied as it is
            if clear:
                session.execute(table.delete())
            write(session, table, rows)
        clear = False
        if on_progress:
            on_progress(step, len(rows), total)
    if clear:  # the source's table is empty: so is the copy
        with target.transaction(keep_version=True) as session:
            session.execute(table.delete())
    return digest.result()


def _reset_sequences(target: Database, tables: Sequence[Table]) -> None:
    """On PostgreSQL, move each integer id's sequence past the copied ids (they were given explicitly)."""
    if not target.is_postgres:
        return
    with target.transaction() as session:
        for table in tables:
            key = list(table.primary_key.columns)
            if len(key) != 1 or not isinstance(key[0].type, Integer):
                continue
            sequence = session.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": key[0].name},
            )
            if sequence is None:  # not autoincrementing (site_state)
                continue
            highest = select(func.coalesce(func.max(key[0]), 0)).scalar_subquery()
            session.execute(select(func.setval(sequence, highest + 1, False)))


def _vector_indexes(target: Database, on_progress: ProgressFn | None) -> None:
    """On PostgreSQL, the HNSW index of each model's vectors (made once the rows are in: faster)."""
    if not target.is_postgres:
        return
    with target.session() as session:
        models = session.execute(
            select(PaperVector.model, func.min(PaperVector.dim))
            .group_by(PaperVector.model)
            .order_by(PaperVector.model)
        ).all()
    if on_progress and models:
        on_progress("vector indexes", 0, len(models))
    for model, dim in models:
        ensure_vector_index(target, model, dim)
        if on_progress:
            on_progress("vector indexes", 1, len(models))


def copy_database(
    source: Database, target: Database, *, batch_size: int = BATCH_SIZE, on_progress: ProgressFn | None = None
) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target`` (migrated here first), then compare both
    table by table. Raises :class:`CopyError` when refused (nothing written) or stopped (``partial``)."""
    started = time.monotonic()
    tables = list(Base.metadata.sorted_tables)
    if _same_database(source, target):
        raise CopyError("--from and --to name the same database")
    with _stage("reading the source database", partial=False):
        _check_source(source)
    with _stage("checking the target database", partial=False):
        _refuse_rows(target, tables)  # before migrating: leave a database holding data untouched
    try:
        target.migrate()
    except SQLAlchemyError as exc:
        raise CopyError(f"migrating the target database failed: {first_line(exc)}") from exc
    except Exception as exc:  # Alembic: a revision this code does not know
        raise CopyError(f"migrating the target database failed: {exc}") from exc
    with _stage("checking the target database", partial=False):
        _refuse_rows(target, tables)

    source_sums: dict[str, tuple[int, str]] = {}
    with _stage("copying", partial=True):
        with _snapshot(source) as conn:
            totals = {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in tables}
            for table in tables:
                with _stage(f"copying {table.name}", partial=True):
                    source_sums[table.name] = _copy_table(
                        conn, source, target, table, totals[table.name], batch_size, on_progress
                    )
        with _stage("resetting the id sequences", partial=True):
            _reset_sequences(target, tables)
        with _stage("making the vector indexes", partial=True):
            _vector_indexes(target, on_progress)
        with _stage("indexing the categories", partial=True), target.engine.begin() as connection:
            categories.rebuild(connection)  # a derived table: made from the papers copied

    total = sum(count for count, _ in source_sums.values())
    if on_progress:
        on_progress("verify", 0, total)

    def verified(n: int) -> None:
        if on_progress:
            on_progress("verify", n, total)

    with _stage("verifying the target", partial=False):
        target_sums = checksums(target, tables=tables, batch_size=batch_size, on_progress=verified)
    checks = [
        TableCheck(
            t.name,
            source_sums[t.name][0],
            target_sums[t.name][0],
            source_sums[t.name][1],
            target_sums[t.name][1],
        )
        for t in tables
    ]
    return CopyReport(
        source.url.render_as_string(hide_password=True),
        target.url.render_as_string(hide_password=True),
        checks,
        time.monotonic() - started,
    )
