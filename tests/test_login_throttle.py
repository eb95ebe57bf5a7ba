"""Login throttling: failed logins slow the client that makes them, never lock the owner out, and
answer alike whether or not the account exists; counts live in the database (every worker shares them)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from dailypapers.community import accounts
from dailypapers.errors import TooManyRequests, Unauthorized
from dailypapers.store.models import LoginFailure, utcnow
from dailypapers.web.auth import SESSION_COOKIE
from tests.support.community import PASSWORD, clients, community_settings, make_user

ATTACKER = "203.0.113.9"
OWNER = "198.51.100.7"
DEVICE_COOKIE = "dp_device"


def time_passes(db, hours: float = 1.0) -> None:
    """Every count's last failure moved ``hours`` back: each wait (15 minutes at most) is over, the
    counts stay (they are forgotten after a day)."""
    with db.transaction() as session:
        session.execute(update(LoginFailure).values(last_failure_at=utcnow() - timedelta(hours=hours)))


def last_failure_in(db, seconds: float) -> None:
    """Every count's last failure set to ``seconds`` from now: the next try's wait is known exactly."""
    with db.transaction() as session:
        session.execute(update(LoginFailure).values(last_failure_at=utcnow() + timedelta(seconds=seconds)))


def retry_after(response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"]
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    value = response.headers["retry-after"]
    assert value.isdigit(), value
    return int(value)


def test_the_owner_logs_in_from_another_client_after_an_attackers_50_failures(settings, db):
    make_user(db, "alice")
    with clients(community_settings(settings), db) as made:
        attacker = made.new(address=ATTACKER)
        for n in range(50):
            time_passes(db)  # the attacker waits out every delay: 50 real failures
            assert attacker.login("alice", f"wrong password {n}").status_code == 401
        assert made.new(address=OWNER).login("alice").status_code == 200
        assert made.new(address=OWNER).login("alice@example.org").status_code == 200
        retry_after(attacker.login("alice"))  # while the attacker's own client is held back


def test_each_failure_makes_the_attackers_client_wait_longer(settings, db):
    make_user(db, "alice")
    config = community_settings(settings, login_throttle_max_seconds=20)
    start = utcnow()
    for n in range(3):  # the first three failures cost nothing
        with pytest.raises(Unauthorized):
            accounts.authenticate(db, config, "alice", f"wrong {n}", client=ATTACKER, now=start)
    waits, now = [], start
    for n in range(6):
        with pytest.raises(TooManyRequests) as held:  # even the right password, until the wait is over
            accounts.authenticate(db, config, "alice", PASSWORD, client=ATTACKER, now=now)
        waits.append(held.value.retry_after)
        now += timedelta(seconds=held.value.retry_after)
        with pytest.raises(Unauthorized):
            accounts.authenticate(db, config, "alice", f"wrong again {n}", client=ATTACKER, now=now)
    assert waits == [1, 2, 4, 8, 16, 20]  # doubling, up to the cap
    with pytest.raises(TooManyRequests):
        accounts.authenticate(db, config, "alice", PASSWORD, client=ATTACKER, now=now + timedelta(seconds=19))
    # another client is not held back by the attacker's count, and the wait, once over, is over
    assert accounts.authenticate(db, config, "alice", PASSWORD, client=OWNER, now=now).username == "alice"
    later = now + timedelta(seconds=20)
    back = accounts.authenticate(db, config, "alice", PASSWORD, client=ATTACKER, now=later)
    assert back.username == "alice"


def test_over_http_the_wait_is_a_429_with_retry_after_that_grows(settings, db):
    make_user(db, "alice")
    with clients(community_settings(settings), db) as made:
        attacker = made.new(address=ATTACKER)
        for n in range(3):
            assert attacker.login("alice", f"wrong password {n}").status_code == 401
        seen = []
        for n in range(3):
            last_failure_in(db, 0)
            seen.append(retry_after(attacker.login("alice")))
            time_passes(db)
            assert attacker.login("alice", f"wrong again {n}").status_code == 401
        assert seen == sorted(seen) and seen[0] < seen[-1], seen


def test_answers_are_the_same_for_existing_and_unknown_accounts(settings, db):
    make_user(db, "alice")
    with clients(community_settings(settings), db) as made:
        names = (("alice", "nobody"), ("alice@example.org", "nobody@example.org"))
        for n, (real_name, unknown_name) in enumerate(names):
            to_real, to_unknown = made.new(address=f"192.0.2.{n}"), made.new(address=f"192.0.2.{n + 100}")
            for attempt in range(3):
                real = to_real.login(real_name, f"wrong password {attempt}")
                unknown = to_unknown.login(unknown_name, f"wrong password {attempt}")
                assert (
                    (real.status_code, real.json())
                    == (unknown.status_code, unknown.json())
                    == (401, {"error": "wrong username or password"})
                )
            last_failure_in(db, 30)
            real, unknown = to_real.login(real_name, PASSWORD), to_unknown.login(unknown_name, PASSWORD)
            assert (real.status_code, real.json(), retry_after(real)) == (
                unknown.status_code,
                unknown.json(),
                retry_after(unknown),
            )
            assert real.headers.get("set-cookie") == unknown.headers.get("set-cookie")


def test_a_known_device_logs_in_during_an_account_wide_throttle(settings, db):
    make_user(db, "alice")
    make_user(db, "mallory")
    config = community_settings(settings, login_throttle_account_after=5)
    with clients(config, db) as made:
        laptop = made.new(address=OWNER)
        assert laptop.login("alice").status_code == 200
        assert DEVICE_COOKIE in laptop.client.cookies
        assert laptop.post("/api/auth/logout").status_code == 204
        elsewhere = made.new(address="198.51.100.99")
        assert elsewhere.login("mallory").status_code == 200  # a device known to another account
        assert elsewhere.post("/api/auth/logout").status_code == 204
        for n in range(8):  # from many addresses: the account-wide count
            time_passes(db)
            assert made.new(address=f"203.0.113.{n + 10}").login("alice", f"wrong {n}").status_code == 401
        last_failure_in(db, 0)
        retry_after(made.new(address="198.51.100.50").login("alice"))  # a browser never seen
        retry_after(elsewhere.login("alice"))  # one known to mallory, not to alice
        assert laptop.login("alice").status_code == 200  # the owner's own browser
        assert laptop.get("/api/me").json()["name"] == "alice"
        # a cookie signed with another key, or one from before a password change, is no known device
        other = made.new(address=OWNER)
        other.client.cookies.set(DEVICE_COOKIE, laptop.client.cookies[DEVICE_COOKIE] + "x")
        retry_after(other.login("alice"))


def test_a_new_password_forgets_the_known_devices(settings, db):
    make_user(db, "alice")
    config = community_settings(settings, login_throttle_account_after=1)
    with clients(config, db) as made:
        laptop = made.new(address=OWNER)
        assert laptop.login("alice").status_code == 200
        changed = laptop.post(
            "/api/me/password", json={"current": PASSWORD, "new": "a brand new passphrase 42"}
        )
        assert changed.status_code == 200, changed.text
        assert laptop.post("/api/auth/logout").status_code == 204
        assert made.new(address=ATTACKER).login("alice", "wrong").status_code == 401
        last_failure_in(db, 0)
        retry_after(laptop.login("alice", "a brand new passphrase 42"))


def test_counts_are_shared_by_every_worker_and_hold_no_typed_name(settings, db):
    make_user(db, "alice")
    with clients(community_settings(settings), db) as one, clients(community_settings(settings), db) as two:
        assert one.app is not two.app
        for n in range(3):
            worker = (one, two)[n % 2]
            assert worker.new(address=ATTACKER).login("alice", f"correct horse {n}").status_code == 401
        last_failure_in(db, 0)
        retry_after(two.new(address=ATTACKER).login("alice"))
        retry_after(one.new(address=ATTACKER).login("alice"))
    with db.session() as session:
        keys = list(session.scalars(select(LoginFailure.key)))
    assert len(keys) == 3
    assert not any("alice" in key or "horse" in key or ATTACKER in key for key in keys)


def test_parallel_tries_cannot_slip_past_the_count(settings, db):
    make_user(db, "alice")
    config = community_settings(settings)
    now = utcnow()
    start = threading.Barrier(10)

    def attempt(n: int) -> str:
        start.wait(timeout=30)
        try:
            accounts.authenticate(db, config, "alice", f"guess {n}", client=ATTACKER, now=now)
        except Unauthorized:
            return "checked"
        except TooManyRequests:
            return "held back"
        return "logged in"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = sorted(pool.map(attempt, range(10)))
    assert outcomes == ["checked"] * 3 + ["held back"] * 7


def test_the_login_page_is_throttled_alike_and_remembers_the_device(settings, db):
    make_user(db, "alice")
    with clients(community_settings(settings), db) as made:
        browser = made.new(address=ATTACKER)
        page = browser.get("/account/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

        def submit(password: str):
            return browser.client.post(
                "/account/login",
                data={"login": "alice", "password": password, "csrf_token": token},
                follow_redirects=False,
            )

        for n in range(3):
            assert submit(f"wrong password {n}").status_code == 401
        last_failure_in(db, 30)
        held = submit(PASSWORD)
        assert held.status_code == 429 and held.headers["retry-after"] == "31"
        assert "too many failed logins" in held.text
        owner = made.new(address=OWNER)
        token = re.search(r'name="csrf_token" value="([^"]+)"', owner.get("/account/login").text).group(1)
        done = owner.client.post(
            "/account/login",
            data={"login": "alice", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert done.status_code == 303 and DEVICE_COOKIE in owner.client.cookies
