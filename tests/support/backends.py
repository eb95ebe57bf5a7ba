"""Keeps every test on the backend ``--db`` names: a test that builds a database of the other kind fails,
by name. Allowed anyway: SQLite in tests marked ``sqlite_only`` (about SQLite itself), and either kind in
tests that request the ``postgres`` fixture (about PostgreSQL itself) or are marked ``both_backends``
(about moving data between the two);
PostgreSQL on the SQLite run only on a server the ``postgres`` fixture started."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, make_url


def _server_address(url: URL) -> tuple[Any, ...]:
    return url.host, url.port, url.username, url.query.get("host")


class BackendGuard:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.item: pytest.Item | None = None
        self.servers: set[tuple[Any, ...]] = set()
        self.wrong: list[str] = []

    def add_server(self, url: URL) -> None:
        """A PostgreSQL server started for tests of PostgreSQL itself (its databases are allowed)."""
        self.servers.add(_server_address(url))

    def problem(self, url: URL | str) -> str | None:
        """Why the running test may not build a database at ``url`` (``None``: it may)."""
        url = make_url(url)
        kind = url.get_backend_name()
        item = self.item
        if item is None or kind == self.backend:
            return None
        if "postgres" in item.fixturenames or item.get_closest_marker("both_backends") is not None:
            return None
        if kind == "sqlite" and item.get_closest_marker("sqlite_only") is not None:
            return None
        if kind == "postgresql" and _server_address(url) in self.servers and self.backend == "sqlite":
            return None
        return (
            f"{item.nodeid} builds a {kind} database ({url.render_as_string(hide_password=True)}) on the "
            f"--db {self.backend} run: take it from the db/settings/database_url/database_env fixtures, "
            "mark the test sqlite_only if it is about SQLite itself (both_backends: about moving data "
            "between the two), or request the postgres fixture if it is about PostgreSQL itself"
        )

    def check(self, url: URL | str) -> None:
        """Fails the running test at once when it builds a database of the wrong kind."""
        if (why := self.problem(url)) is not None:
            pytest.fail(why)

    def _on_connect(self, connection: Any) -> None:
        why = self.problem(connection.engine.url)
        if why is not None and why not in self.wrong:
            self.wrong.append(why)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Checks every ``Database`` built (failing the test at once) and every engine that connects
        (engines made without a ``Database``; see :meth:`take_wrong`)."""
        from dailypapers.store.db import Database

        guard = self
        original = Database.__init__

        def checked_init(self: Database, url: str, *args: Any, **kwargs: Any) -> None:
            guard.check(url)
            original(self, url, *args, **kwargs)

        Database.__init__ = checked_init  # type: ignore[method-assign]
        event.listen(Engine, "engine_connect", self._on_connect)
        try:
            yield
        finally:
            event.remove(Engine, "engine_connect", self._on_connect)
            Database.__init__ = original  # type: ignore[method-assign]

    def take_wrong(self) -> list[str]:
        """The engines of the wrong kind that connected since the last call."""
        wrong, self.wrong = self.wrong, []
        return wrong
