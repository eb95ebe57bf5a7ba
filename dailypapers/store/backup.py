"""Backups of a running site: ``dailypapers db backup PATH`` and ``dailypapers db restore PATH``.

A backup is one moment of the database, taken while the site keeps serving and writing:

- **SQLite**: the online backup API copies every page in one step under one read transaction (in WAL mode
  writers go on meanwhile), into ``PATH.partial``, which is checked (``PRAGMA integrity_check``) and
  renamed to ``PATH`` only when whole. The backup is itself a SQLite database: open it, copy it, restore
  it.
- **PostgreSQL**: ``pg_dump --format=custom``, run on a snapshot exported from a ``REPEATABLE READ``
  transaction, which then reads the row checksums of that same snapshot. ``pg_dump`` comes from
  ``DAILYPAPERS_PG_BIN_DIR`` or the ``PATH``; its major version must be at least the server's.

Beside the backup, ``PATH.manifest.json`` records the format, the schema revision and each table's row count
and SHA-256 (:func:`dailypapers.store.copy.checksums`, the ones ``db copy`` verifies with). A restore goes
into a database without a dailypapers schema, compares the restored rows with the manifest, then migrates
the schema to this version's newest (a backup made by an older release upgrades on restore). A SQLite
backup restores into SQLite, or into PostgreSQL through :func:`dailypapers.store.copy.copy_database`; a
``pg_dump`` backup restores into PostgreSQL with ``pg_restore``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess  # nosec B404 # runs pg_dump/pg_restore, found by name, arguments as a list
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from dailypapers.store.copy import checksums, checksums_in, head_revision
from dailypapers.store.db import Database, sqlite_file

SQLITE = "sqlite"
PG_DUMP = "pg_dump"
MANIFEST_SUFFIX = ".manifest.json"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_DUMP_MAGIC = b"PGDMP"
TOOL_TIMEOUT = 6 * 3600  # seconds a pg_dump or pg_restore may run


class BackupError(Exception):
    """A backup or restore refused or failed; the message is one line for the operator."""


@dataclass
class BackupReport:
    """What a backup wrote and what it holds."""

    path: str
    format: str
    revision: str | None
    tables: dict[str, tuple[int, str]]
    bytes: int
    seconds: float
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def rows(self) -> int:
        """Rows in every table together."""
        return sum(n for n, _ in self.tables.values())

    def manifest(self) -> dict[str, Any]:
        """The manifest written beside the backup."""
        return {
            "format": self.format,
            "revision": self.revision,
            "created_at": self.created_at,
            "tables": {name: {"rows": n, "sha256": sha} for name, (n, sha) in self.tables.items()},
        }

    def as_dict(self) -> dict[str, Any]:
        """The summary a command prints."""
        return {
            "path": self.path,
            "format": self.format,
            "revision": self.revision,
            "rows": self.rows,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class RestoreReport:
    """What a restore put where, and whether its rows match the backup's manifest."""

    target: str
    format: str
    revision: str | None
    rows: int
    verified: bool
    differing: list[str]
    upgraded_to: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The summary a command prints."""
        return {
            "target": self.target,
            "format": self.format,
            "revision": self.revision,
            "rows": self.rows,
            "verified": self.verified,
            "differing": self.differing,
            "upgraded_to": self.upgraded_to,
            "seconds": round(self.seconds, 3),
        }


def manifest_path(path: Path) -> Path:
    """Where the manifest of the backup at ``path`` is kept."""
    return path.with_name(path.name + MANIFEST_SUFFIX)


def backup_format(path: Path) -> str:
    """``sqlite`` or ``pg_dump``, from the file's first bytes; :class:`BackupError` for anything else."""
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(_SQLITE_MAGIC):
        return SQLITE
    if head.startswith(_PG_DUMP_MAGIC):
        return PG_DUMP
    raise BackupError(f"{path} is neither a SQLite database nor a pg_dump archive")


def find_tool(name: str, bin_dir: Path | None) -> str:
    """The path of PostgreSQL's ``name`` (``pg_dump``, ``pg_restore``): in ``bin_dir`` when given, else on
    the ``PATH``; :class:`BackupError` saying how to get it when there is none."""
    if bin_dir is not None:
        candidate = Path(bin_dir) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise BackupError(f"no {name} in DAILYPAPERS_PG_BIN_DIR ({bin_dir})")
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client tools (the server's major version or newer) "
            "or set DAILYPAPERS_PG_BIN_DIR to the folder that holds them"
        )
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url`` without its password, and the environment carrying it (so it
    never shows in the process list)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(  # nosec B603 # a PostgreSQL tool, arguments as a list, no shell
            command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[0] if lines else f'exit status {done.returncode}'}")


@contextmanager
def _writing(path: Path, force: bool) -> Iterator[Path]:
    """A ``.partial`` file beside ``path`` to write into, renamed to ``path`` when the block succeeds and
    removed when it fails."""
    if path.exists() and not force:
        raise BackupError(f"{path} exists: choose another name (or --force to replace it)")
    if not path.parent.is_dir():
        raise BackupError(f"no folder {path.parent}")
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def backup(db: Database, path: Path, *, pg_bin_dir: Path | None = None, force: bool = False) -> BackupReport:
    """Write a consistent backup of ``db`` to ``path`` (and its manifest) while the site keeps running."""
    started = time.perf_counter()
    path = Path(path)
    with _writing(path, force) as partial:
        if db.is_sqlite:
            fmt, revision = SQLITE, _backup_sqlite(db, partial)
            with _opened(partial) as copy:
                sums = checksums(copy)
        else:
            fmt = PG_DUMP
            revision, sums = _backup_postgres(db, partial, pg_bin_dir)
    report = BackupReport(str(path), fmt, revision, sums, path.stat().st_size, time.perf_counter() - started)
    manifest_path(path).write_text(json.dumps(report.manifest(), indent=1) + "\n", encoding="utf-8")
    return report


@contextmanager
def _opened(path: Path) -> Iterator[Database]:
    copy = Database(f"sqlite:///{path.as_posix()}")
    try:
        yield copy
    finally:
        copy.dispose()


def _backup_sqlite(db: Database, partial: Path) -> str | None:
    source = sqlite_file(db.url)
    if source is None or not source.is_file():
        raise BackupError("only a SQLite database in a file can be backed up")
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(partial)) as dst:
        src.backup(dst)  # every page in one step: one read transaction, one moment
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy failed its integrity check: {problems[0]}")
        return _sqlite_revision(dst)


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _backup_postgres(
    db: Database, partial: Path, pg_bin_dir: Path | None
) -> tuple[str | None, dict[str, tuple[int, str]]]:
    pg_dump = find_tool("pg_dump", pg_bin_dir)
    conninfo, env = _libpq(db.url)
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            # pg_dump reads the exported snapshot while this transaction holds it open
            command = [pg_dump, "--format=custom", "--no-owner", "--no-privileges"]
            command += [f"--snapshot={snapshot}", f"--file={partial}", f"--dbname={conninfo}"]
            _run(command, env, "pg_dump")
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            sums = checksums_in(conn, postgres=True)
    return revision, sums


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of the backup at ``path`` (None when it has none)."""
    where = manifest_path(path)
    if not where.is_file():
        return None
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{where}: not a readable manifest ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
        raise BackupError(f"{where}: not a backup manifest")
    return data


def _has_schema(db: Database) -> bool:
    with db.engine.connect() as conn:
        return "alembic_version" in inspect(conn).get_table_names()


def restore(db: Database, path: Path, *, pg_bin_dir: Path | None = None) -> RestoreReport:
    """Restore the backup at ``path`` into ``db``, which must hold no dailypapers schema yet; the rows are
    compared with the manifest, then the schema is migrated to this version's newest."""
    started = time.perf_counter()
    path = Path(path)
    fmt = backup_format(path)
    manifest = read_manifest(path)
    shown = db.url.render_as_string(hide_password=True)
    if _has_schema(db):
        raise BackupError(f"{shown} already holds a dailypapers database: restore into a new, empty one")
    if fmt == PG_DUMP:
        if not db.is_postgres:
            raise BackupError("a pg_dump backup restores into PostgreSQL only (set DAILYPAPERS_DATABASE_URL)")
        conninfo, env = _libpq(db.url)
        command = [find_tool("pg_restore", pg_bin_dir), "--no-owner", "--no-privileges", "--exit-on-error"]
        command += ["--single-transaction", f"--dbname={conninfo}", str(path)]
        _run(command, env, "pg_restore")
    elif db.is_sqlite:
        _restore_sqlite(db, path)
    else:
        _restore_sqlite_into_postgres(db, path)
    revision = db.current_revision()
    differing: list[str] = []
    verified = False
    rows = 0
    if manifest is not None and revision == manifest.get("revision"):
        expected = {name: (t["rows"], t["sha256"]) for name, t in manifest["tables"].items()}
        found = checksums(db, tables=_tables_named(expected))
        differing = sorted(name for name in expected if found.get(name) != expected[name])
        verified = not differing
        rows = sum(n for n, _ in found.values())
    upgraded = None
    if revision != head_revision():
        db.migrate()
        upgraded = db.current_revision()
    if differing:
        raise BackupError(f"the restored rows differ from the backup's manifest in {', '.join(differing)}")
    return RestoreReport(
        shown, fmt, revision, rows, verified, differing, upgraded, time.perf_counter() - started
    )


def _tables_named(expected: dict[str, Any]) -> list[Any]:
    from dailypapers.store.models import Base

    tables = {t.name: t for t in Base.metadata.sorted_tables}
    missing = [name for name in expected if name not in tables]
    if missing:
        raise BackupError(f"the manifest names tables this version does not know: {', '.join(missing)}")
    return [tables[name] for name in expected]


def _restore_sqlite(db: Database, path: Path) -> None:
    target = sqlite_file(db.url)
    if target is None:
        raise BackupError("a SQLite backup restores into a SQLite database in a file")
    db.dispose()  # no pooled connection sees the file change under it
    with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")


def _restore_sqlite_into_postgres(db: Database, path: Path) -> None:
    from dailypapers.store.copy import CopyError, copy_database

    with _opened(path) as source:
        try:
            report = copy_database(source, db)
        except CopyError as exc:
            raise BackupError(f"restore into PostgreSQL: {exc}") from None
    if not report.ok:
        raise BackupError(f"the restored rows differ from the backup in {', '.join(report.differing)}")
