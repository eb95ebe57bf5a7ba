"""Shared fixtures: a real, migrated database per test (no mocks of our own storage)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dailypapers.config import Settings
from dailypapers.store.db import Database
from tests.support.harvest import FakeTime

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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", load_demo=False, _env_file=None)


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
