"""`dailypapers serve` believes `X-Forwarded-For` only from the proxies in `forwarded_allow_ips`: the
client address it records (sessions, rate limits, login throttling) is the forwarded one behind a trusted
proxy, and the connection's own address otherwise, so nobody can pick their own address."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.community import PASSWORD, make_users
from tests.test_logging import free_port, wait_until_up

CLAIMED = "198.51.100.7"


def recorded_address(tmp_path, trusted: str) -> str:
    """Start `serve` trusting ``trusted``, log in saying we are ``CLAIMED``; the session's address."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, DAILYPAPERS_LOAD_DEMO="false", DAILYPAPERS_EMBEDDING_BACKEND="none",
               DAILYPAPERS_SITE_URL=base, DAILYPAPERS_FORWARDED_ALLOW_IPS=trusted)
    log = tmp_path / f"serve-{port}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "dailypapers.cli", "serve", "--port", str(port)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until_up(base, process, log, workers=1)
        with httpx.Client(base_url=base, timeout=30, headers={"X-Forwarded-For": CLAIMED}) as client:
            login = client.post("/api/auth/login", json={"login": "alice", "password": PASSWORD})
            assert login.status_code == 200, login.text
            sessions = client.get("/api/me/sessions")
            assert sessions.status_code == 200, sessions.text
            (only,) = sessions.json()
            return only["address"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize(("trusted", "expected"), [("127.0.0.1", CLAIMED), ("192.0.2.1", "127.0.0.1")])
def test_forwarded_for_counts_only_from_a_trusted_proxy(database_env, db, tmp_path, trusted, expected):
    make_users(db, ["alice"])
    assert recorded_address(tmp_path, trusted) == expected
