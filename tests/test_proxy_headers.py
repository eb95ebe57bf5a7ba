"""`dailypapers serve` believes `X-Forwarded-For` only from the proxies in `forwarded_allow_ips`: the
client address it records (sessions, rate limits, login throttling) is the forwarded one behind a trusted
proxy, and the connection's own address otherwise, so nobody can pick their own address."""

from __future__ import annotations

import httpx
import pytest

from tests.support.community import PASSWORD, make_users
from tests.support.serve import serving

CLAIMED = "198.51.100.7"


def recorded_address(tmp_path, trusted: str) -> str:
    """Start `serve` trusting ``trusted``, log in saying we are ``CLAIMED``; the session's address."""
    env = {
        "DAILYPAPERS_LOAD_DEMO": "false",
        "DAILYPAPERS_EMBEDDING_BACKEND": "none",
        "DAILYPAPERS_FORWARDED_ALLOW_IPS": trusted,
    }
    with (
        serving(tmp_path / f"serve-{trusted}.log", env) as base,
        httpx.Client(base_url=base, timeout=30, headers={"X-Forwarded-For": CLAIMED}) as client,
    ):
        login = client.post("/api/auth/login", json={"login": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        sessions = client.get("/api/me/sessions")
        assert sessions.status_code == 200, sessions.text
        (only,) = sessions.json()
        return only["address"]


@pytest.mark.parametrize(("trusted", "expected"), [("127.0.0.1", CLAIMED), ("192.0.2.1", "127.0.0.1")])
def test_forwarded_for_counts_only_from_a_trusted_proxy(database_env, db, tmp_path, trusted, expected):
    make_users(db, ["alice"])
    assert recorded_address(tmp_path, trusted) == expected
