"""The network imports end to end: CLI → polite client → local server → importer → database, and a
failed harvest resumed from its checkpoint."""

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from dailypapers.cli import app
from dailypapers.application import SourceFailed
from tests.conftest import TEST_DATA
from tests.support.local_server import LocalServer, Reply


@pytest.fixture
def cli(tmp_path, monkeypatch, database_env):
    monkeypatch.setenv("DAILYPAPERS_HTTP_MIN_INTERVAL", "0")
    monkeypatch.setenv("DAILYPAPERS_HTTP_RETRIES", "1")
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result

    return invoke


def summary(result):
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_oai_harvest_fails_part_way_then_resumes(cli, monkeypatch):
    page1 = (TEST_DATA / "oai" / "list_page1.xml").read_bytes()
    page2 = (TEST_DATA / "oai" / "list_page2.xml").read_bytes()
    broken = {"on": True}

    def respond(req):
        if req.arg("resumptionToken"):
            if broken["on"]:
                return Reply(500, "down")
            return Reply(200, page2, content_type="text/xml")
        return Reply(200, page1, content_type="text/xml")

    with LocalServer(respond) as server:
        monkeypatch.setenv("DAILYPAPERS_OAI_URL", server.url + "/oai")
        first = cli("ingest", "oai", "--set", "cs", "--from", "2024-01-01", "--json")
        assert first.exit_code == 1 and "Run the same command again to resume" in first.stderr
        assert summary(first)["new"] == 2  # page 1 was kept
        broken["on"] = False
        second = cli("ingest", "oai", "--set", "cs", "--from", "2024-01-01", "--json")
        assert second.exit_code == 0, second.output
        assert "resuming" in second.stderr
        assert server.requests[-1].query == {"verb": ["ListRecords"], "resumptionToken": ["6960524|1001"]}
        assert summary(second) == {
            "read": 3,
            "new": 2,
            "updated": 0,
            "unchanged": 0,
            "rejected": 0,
            "deleted": 1,
            "unsafe_links": 0,
        }
        # finished: the next run starts over and finds everything unchanged
        third = cli("ingest", "oai", "--set", "cs", "--from", "2024-01-01", "--json")
        assert summary(third)["unchanged"] == 4
    stats = json.loads(cli("db", "stats", "--json").stdout)
    assert stats["papers"] == 4


def test_arxiv_api_import(cli, monkeypatch):
    pages = {"0": "search_page1.xml", "2": "search_page2.xml"}

    def respond(req):
        return Reply(
            200,
            (TEST_DATA / "arxiv_api" / pages[req.arg("start")]).read_bytes(),
            content_type="application/atom+xml",
        )

    with LocalServer(respond) as server:
        monkeypatch.setenv("DAILYPAPERS_ARXIV_API_URL", server.url + "/api/query")
        result = cli("ingest", "arxiv-api", "-q", "attention", "-c", "cs.CL", "--page-size", "2", "--json")
    assert result.exit_code == 0, result.output
    assert summary(result)["new"] == 3
    assert "cat:cs.CL" in server.requests[0].arg("search_query")


def test_arxiv_api_refuses_to_hammer_arxiv(cli):
    result = cli("ingest", "arxiv-api", "-q", "attention")  # default URL is arxiv.org, interval 0 here
    assert result.exit_code == 2 and "one request every 3" in result.stderr


def test_arxiv_api_needs_a_query(cli):
    result = cli("ingest", "arxiv-api")
    assert result.exit_code == 2


def test_hf_daily_mirror_from_api(cli):
    days = {"2026-06-30": json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())}

    def respond(req):
        return Reply(200, json.dumps(days.get(req.arg("date"), [])), content_type="application/json")

    with LocalServer(respond) as server:
        result = cli(
            "ingest",
            "hf-daily",
            "--api",
            server.url,
            "--since",
            "2026-06-29",
            "--until",
            "2026-06-30",
            "--min-interval",
            "0",
            "--json",
        )
    assert result.exit_code == 0, result.output
    assert summary(result)["new"] == 4


def test_worker_sync_resumes_like_the_ingest_command(cli, monkeypatch):
    """The worker's sync is the checkpointed harvest of `ingest hf-daily --api`: a sync that fails on the
    second day keeps the first, and the command over the same days resumes after it."""
    from dailypapers.application import Application
    from dailypapers.config import Settings
    from dailypapers.periods import today
    from dailypapers.store.db import Database
    from dailypapers.store.models import DailyEntry
    from dailypapers.tasks import handlers

    last = today()
    first = last - timedelta(days=1)
    recorded = json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())
    down = {"on": True}

    def respond(req):
        if req.arg("date") == last.isoformat():
            if down["on"]:
                return Reply(500, "down")
            return Reply(200, json.dumps(recorded[2:]), content_type="application/json")
        return Reply(200, json.dumps(recorded[:2]), content_type="application/json")

    with LocalServer(respond) as server:
        monkeypatch.setenv("DAILYPAPERS_SYNC_URL", server.url)
        monkeypatch.setenv("DAILYPAPERS_HF_MIN_INTERVAL", "0")
        application = Application(Settings())
        application.db.migrate()
        with pytest.raises(SourceFailed):
            handlers(application)["sync"](application.db, {})
        asked = [r.arg("date") for r in server.requests]
        assert asked.count(first.isoformat()) == 1 and last.isoformat() in asked
        down["on"] = False
        before = len(server.requests)
        result = cli("ingest", "hf-daily", "--api", server.url, "--no-index", "--json")
        assert result.exit_code == 0, result.output
        assert "resuming" in result.stderr
        assert [r.arg("date") for r in server.requests[before:]] == [last.isoformat()]
        application.close()
    with Database(Settings().resolved_database_url).session() as session:
        listed = session.query(DailyEntry).count()
    assert listed == len(recorded) == 4  # both days' papers, none twice
