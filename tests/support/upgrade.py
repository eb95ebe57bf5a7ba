"""Databases of an older release, kept as backend-neutral dumps (tests/data/upgrade/), for upgrade tests.

A dump is a gzipped JSON object ``{"revision": ..., "tables": {name: {"columns": [...], "rows": [[...]]}}}``
holding every table of a database at the Alembic ``revision`` it was made at, parents before children.
Values are JSON-safe: datetimes are ISO 8601 strings in UTC (with ``+00:00``), dates ``YYYY-MM-DD``, bytes
base64 (standard alphabet, padded), JSON columns their JSON value, booleans ``true``/``false``.

:func:`load_dump` migrates an empty database to the dump's revision (not to the newest: that is the
upgrade under test) and inserts the rows through tables *reflected* from that database, so it never
depends on today's models, which grow with later migrations. What no row holds is filled by the database
itself as rows arrive (the full-text index: SQLite's FTS5 triggers, PostgreSQL's tsvector trigger) or
rebuilt here (pgvector's ``paper_vectors.embedding`` and its index, the id sequences on PostgreSQL).
"""

from __future__ import annotations

import base64
import hashlib
import gzip
import json
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.exc import SAWarning

from dailypapers.store.copy import _reset_sequences
from dailypapers.store.db import Database
from dailypapers.store.vectors import from_blobs, pg_vector_literal
from tests.conftest import TEST_DATA

UPGRADE_DATA = TEST_DATA / "upgrade"
# the password of every account in the dumps (their rows hold its argon2 hash)
DUMP_PASSWORD = "correct horse battery staple"
# made by migrations or by the database itself, never dumped: Alembic's bookkeeping (the dump's
# ``revision``) and SQLite's FTS5 index with its shadow tables (filled again by triggers on ``papers``)
NOT_DUMPED_PREFIXES = ("alembic_version", "papers_fts", "sqlite_")


@dataclass(frozen=True)
class Dump:
    """A database of an older release: its schema revision and each table's columns and rows."""

    revision: str
    tables: dict[str, dict[str, Any]]

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows of ``table`` as dicts (column name to its JSON value, undecoded)."""
        spec = self.tables[table]
        return [dict(zip(spec["columns"], row, strict=True)) for row in spec["rows"]]

    def row(self, table: str, **match: Any) -> dict[str, Any]:
        """The one row of ``table`` whose columns equal ``match``."""
        found = [r for r in self.rows(table) if all(r[k] == v for k, v in match.items())]
        assert len(found) == 1, f"{len(found)} rows of {table} match {match}"
        return found[0]

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(spec["rows"]) for name, spec in self.tables.items()}


def read_dump(path: Path) -> Dump:
    """A dump file (gzipped JSON)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    return Dump(data["revision"], data["tables"])


def _reflect(bind: Engine | Connection, only: list[str] | None = None) -> MetaData:
    metadata = MetaData()
    with warnings.catch_warnings():
        # pgvector's column type is unknown to SQLAlchemy: reflected as NullType, never written here
        warnings.filterwarnings("ignore", category=SAWarning, message="Did not recognize type")
        metadata.reflect(bind, only=only)
    return metadata


# --- writing a dump ----------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite keeps naive UTC
        return aware.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value  # None, bool, int, float, str, and the decoded value of a JSON column


def dump_database(db: Database) -> dict[str, Any]:
    """Every table of ``db`` (reflected, parents first, rows in primary-key order) as a dump object."""
    metadata = _reflect(db.engine)
    tables: dict[str, dict[str, Any]] = {}
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name.startswith(NOT_DUMPED_PREFIXES):
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(select(table).order_by(*order)).all()
            tables[table.name] = {
                "columns": [c.name for c in table.columns],
                "rows": [[_encode(v) for v in row] for row in rows],
            }
    return {"revision": db.current_revision(), "tables": tables}


# --- loading a dump ----------------------------------------------------------------------------------


def _decoder(table: Table, column: str, sqlite: bool) -> Any:
    """How a JSON value of ``column`` becomes what the reflected column takes."""
    type_ = table.c[column].type
    if isinstance(type_, JSON):
        type_.none_as_null = True  # a missing value is SQL NULL, as the release wrote it, not JSON null
        return None
    if isinstance(type_, DateTime):

        def to_datetime(value: str) -> datetime:
            moment = datetime.fromisoformat(value).astimezone(timezone.utc)
            return moment.replace(tzinfo=None) if sqlite else moment

        return to_datetime
    if isinstance(type_, Date):
        return date.fromisoformat
    if isinstance(type_, LargeBinary):
        return base64.b64decode
    if isinstance(type_, Boolean):
        return bool
    return None


def _decoded_rows(table: Table, columns: list[str], rows: list[list[Any]], sqlite: bool) -> list[dict]:
    decoders = [_decoder(table, c, sqlite) for c in columns]
    return [
        {
            column: value if value is None or decode is None else decode(value)
            for column, decode, value in zip(columns, decoders, row, strict=True)
        }
        for row in rows
    ]


def _fill_pg_vectors(db: Database, rows: list[dict[str, Any]]) -> None:
    """pgvector's ``embedding`` of each ``paper_vectors`` row, from its float16 blob (as the release's
    indexing wrote it), and the HNSW index of each model as the release made it."""
    dims: dict[str, int] = {}
    with db.transaction(keep_version=True) as session:
        for row in rows:
            vector = from_blobs([row["vector"]], row["dim"])[0]
            session.execute(
                text(
                    "UPDATE paper_vectors SET embedding = CAST(:embedding AS vector) "
                    "WHERE paper_id = :paper_id AND model = :model"
                ),
                {"embedding": pg_vector_literal(vector), "paper_id": row["paper_id"], "model": row["model"]},
            )
            dims[row["model"]] = row["dim"]
    with db.transaction(keep_version=True) as session:
        for model, dim in sorted(dims.items()):  # the index as 0.1.0 made it: full precision
            digest = hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:12]
            name = "ix_paper_vectors_hnsw_" + digest
            session.execute(
                text(
                    f"CREATE INDEX {name} ON paper_vectors USING hnsw ((embedding::vector({int(dim)})) "
                    f"vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE model = '{model}'"
                )
            )


def load_dump(db: Database, dump: Dump) -> None:
    """Make the empty database ``db`` the dumped one: its schema at the dump's revision, then every row."""
    db.migrate(dump.revision)
    assert db.current_revision() == dump.revision
    metadata = _reflect(db.engine, only=list(dump.tables))
    tables = [metadata.tables[name] for name in dump.tables]
    vectors: list[dict[str, Any]] = []
    with db.transaction(keep_version=True) as session:  # site_state holds the release's data version
        for table in tables:
            spec = dump.tables[table.name]
            rows = _decoded_rows(table, spec["columns"], spec["rows"], db.is_sqlite)
            session.execute(table.delete())  # rows a migration seeded (site_state's one row)
            if rows:
                session.execute(table.insert(), rows)
            if table.name == "paper_vectors" and db.is_postgres and "embedding" in table.c:
                vectors = rows
    if vectors:
        _fill_pg_vectors(db, vectors)
    _reset_sequences(db, tables)


def row_counts(db: Database, names: list[str]) -> dict[str, int]:
    """Rows per table, for the tables ``names`` (reflected: they need not be in today's models)."""
    metadata = _reflect(db.engine, only=names)
    with db.session() as session:
        return {
            name: session.scalar(select(func.count()).select_from(metadata.tables[name])) or 0
            for name in names
        }
