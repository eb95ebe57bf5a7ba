"""One logging configuration for every process: ``dailypapers serve`` (each of its workers too), the worker
and every command; text or one JSON object per line. Without an SMTP server each mail is in the log,
decoded, so a password-reset link from a fresh install can be copied and used."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from dailypapers.cli import app as cli_app
from dailypapers.config import Settings
from dailypapers.logs import configure_logging
from tests.support.community import PASSWORD, clients, community_settings, make_user
from tests.support.serve import serving

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def restore_logging() -> Any:
    """The root logger (and those configure_logging sets) as they were before the test."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "httpx", "httpcore"]
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in names}
    yield
    for name, (handlers, level) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object (fails on a line that is not one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_serve_with_workers_logs_json_and_the_mails_it_cannot_send(database_env, settings, db, tmp_path):
    make_user(db, "alice")
    env = dict(
        DAILYPAPERS_LOAD_DEMO="false",
        DAILYPAPERS_EMBEDDING_BACKEND="none",
        DAILYPAPERS_SMTP_HOST="",
        DAILYPAPERS_LOG_FORMAT="json",
        DAILYPAPERS_RESPONSE_CACHE="false",
    )
    log = tmp_path / "serve.log"
    with serving(log, env, workers=2) as base:
        reset = httpx.post(base + "/api/auth/reset", json={"email": "alice@example.org"}, timeout=30)
        assert reset.status_code == 202, reset.text
        subscribe = httpx.post(base + "/api/subscriptions", json={"email": "bob@example.org"}, timeout=30)
        assert subscribe.status_code == 202, subscribe.text
        deadline = time.monotonic() + 30
        while "/digest/confirm/" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        records = json_lines(log.read_text())
        mails = [r["message"] for r in records if r["logger"] == "dailypapers.mail"]
        assert len(mails) == 2, mails
        assert all(r["level"] == "WARNING" for r in records if r["logger"] == "dailypapers.mail")
        links = re.findall(re.escape(base) + r"/account/reset/\S+", mails[0] + mails[1])
        assert len(links) == 1
        token = links[0].rsplit("/", 1)[1]
        changed = httpx.post(
            base + "/api/auth/reset/confirm", json={"token": token, "password": NEW_PASSWORD}, timeout=30
        )
        assert changed.status_code == 200, changed.text  # the logged link works as it is
        assert (
            httpx.post(
                base + "/api/auth/login", json={"login": "alice", "password": NEW_PASSWORD}, timeout=30
            ).status_code
            == 200
        )
        confirm = re.findall(re.escape(base) + r"/digest/confirm/\S+", mails[0] + mails[1])
        assert len(confirm) == 1 and httpx.get(confirm[0], timeout=30).status_code == 200
        records = json_lines(log.read_text())
        access = [
            (r.get("method"), r.get("path"), r.get("status"))
            for r in records
            if r["logger"] == "uvicorn.access"
        ]
        assert ("POST", "/api/auth/reset", 202) in access
        started = [r for r in records if r["message"].startswith("Started server process")]
        assert len(started) == 2  # each worker process logs through the same configuration
    json_lines(log.read_text())  # to the last line, shutdown included


def test_json_format_is_one_object_per_line(restore_logging, capsys):
    configure_logging(Settings(log_format="json", _env_file=None))
    configure_logging(Settings(log_format="json", _env_file=None))  # again: still one handler
    log = logging.getLogger("dailypapers.example")
    log.info('two\nlines and a "quote"')
    log.debug("not at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    records = json_lines(capsys.readouterr().err)
    assert [r["message"] for r in records] == ['two\nlines and a "quote"', "failed"]
    assert records[0]["level"] == "INFO" and records[0]["logger"] == "dailypapers.example"
    assert "ValueError: boom" in records[1]["exception"]


def test_a_reset_without_smtp_is_in_the_text_log_with_a_working_link(restore_logging, settings, db, capsys):
    make_user(db, "alice")
    app_settings = community_settings(settings, smtp_host="", site_url="https://papers.example.org")
    configure_logging(app_settings)
    with clients(app_settings, db, base_url="https://testserver") as made:
        api = made.new()
        assert api.post("/api/auth/reset", json={"email": "alice@example.org"}).status_code == 202
        err = capsys.readouterr().err
        assert "WARNING dailypapers.mail: mail to alice@example.org not sent (no smtp_host set)" in err
        assert "Subject: Reset your dailypapers password" in err
        links = re.findall(r"https://papers\.example\.org/account/reset/\S+", err)
        assert len(links) == 1 and "=3D" not in err
        token = links[0].rsplit("/", 1)[1]
        assert (
            api.post("/api/auth/reset/confirm", json={"token": token, "password": NEW_PASSWORD}).status_code
            == 200
        )
        assert api.login("alice", NEW_PASSWORD).status_code == 200
        assert made.new().login("alice", PASSWORD).status_code == 401


def test_every_command_logs_as_configured(restore_logging, database_env, monkeypatch, capsys):
    monkeypatch.setenv("DAILYPAPERS_LOG_FORMAT", "json")
    monkeypatch.setenv("DAILYPAPERS_LOG_LEVEL", "warning")
    result = CliRunner().invoke(cli_app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    logging.getLogger("dailypapers.example").info("below the level")
    logging.getLogger("dailypapers.example").warning("after a command")
    records = json_lines(capsys.readouterr().err)
    assert [(r["level"], r["message"]) for r in records] == [("WARNING", "after a command")]
