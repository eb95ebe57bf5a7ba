"""The command line, run in-process on a real database."""

import json

import pytest
from typer.testing import CliRunner

from dailypapers.cli import app
from tests.conftest import TEST_DATA
from tests.support.cli_output import summary_tables


@pytest.fixture
def cli(tmp_path, monkeypatch, database_env):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_ingest_hf_daily_prints_a_summary_and_is_idempotent(cli):
    first = cli("ingest", "hf-daily", str(TEST_DATA / "hf_daily"), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout[first.stdout.index("{") :]) == {
        "read": 12,
        "new": 12,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "deleted": 0,
        "unsafe_links": 0,
    }
    second = cli("ingest", "hf-daily", str(TEST_DATA / "hf_daily"))
    assert second.exit_code == 0
    assert summary_tables(second.stdout)[0] == {
        "read": 12,
        "new": 0,
        "updated": 0,
        "unchanged": 12,
        "rejected": 0,
        "deleted": 0,
        "unsafe_links": 0,
    }
    stats = cli("db", "stats", "--json")
    assert json.loads(stats.stdout) == {"papers": 12, "daily_entries": 12, "organizations": 4, "days": 4}


def test_rejected_record_is_named_on_stderr(cli, tmp_path):
    bad = tmp_path / "2025-02-03.json"
    bad.write_text(json.dumps([{"paper": {"id": "nonsense", "title": "x"}}]))
    result = cli("ingest", "hf-daily", str(bad))
    assert result.exit_code == 0
    assert "rejected" in result.stderr and "2025-02-03.json entry 0" in result.stderr
    assert "not an arXiv id" in result.stderr


def test_missing_path_is_a_clear_error(cli, tmp_path):
    result = cli("ingest", "hf-daily", str(tmp_path / "nope"))
    assert result.exit_code == 2 and "no such file or folder" in result.stderr


def test_path_or_api_but_not_both(cli):
    result = cli("ingest", "hf-daily")
    assert result.exit_code == 2 and "either PATH or --api" in result.stderr


def test_bad_date_is_refused(cli):
    result = cli("ingest", "hf-daily", "--api", "http://127.0.0.1:9", "--since", "2025-13-01")
    assert result.exit_code == 2 and "not a date" in result.stderr


def test_demo_load_once(cli):
    first = cli("demo", "load")
    assert first.exit_code == 0 and "1,712" in first.stdout
    again = cli("demo", "load")
    assert "already has papers" in again.stdout


def test_db_upgrade(cli):
    result = cli("db", "upgrade")
    from dailypapers.store.db import alembic_config
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert result.exit_code == 0 and f"revision {head}" in result.stdout


def test_a_bad_setting_is_named_by_its_variable(cli, monkeypatch):
    monkeypatch.setenv("DAILYPAPERS_EMBEDDING_PRECISION", "fp16")
    result = cli("db", "stats")
    assert result.exit_code == 2
    assert (
        "settings: DAILYPAPERS_EMBEDDING_PRECISION: Input should be 'auto', 'fp32' or 'bf16'" in result.stderr
    )
