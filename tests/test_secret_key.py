"""The secret key: generated once into the data folder when none is configured, read from a file, refused
when weak and the site listens beyond loopback, rotated with previous keys, and required with PostgreSQL
beyond loopback. A key anyone knows (the old published default) opens nothing."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
import uvicorn
from itsdangerous import URLSafeTimedSerializer
from pydantic import ValidationError
from sqlalchemy import select
from typer.testing import CliRunner

from dailypapers.cli import app as cli_app
from dailypapers.community import accounts
from dailypapers.config import SecretKeyError, Settings, resolve_secret_key
from dailypapers.digest import subscriptions as subs
from dailypapers.errors import BadRequest
from dailypapers.store.db import Database
from dailypapers.store.models import Subscription, User
from dailypapers.web.auth import SESSION_COOKIE, Sessions
from tests.support.community import PASSWORD, clients, community_settings, make_user

OLD_DEFAULT = "dev-insecure-secret-key"  # the key every instance signed with, before keys were generated
KEY_ONE = "the-first-key-of-this-site-0123456789-abcdefgh"
KEY_TWO = "the-second-key-of-this-site-9876543210-hgfedcba"
BEYOND_LOOPBACK = ["0.0.0.0", "::", "192.168.1.20", "papers.example.org"]
LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"]


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch):
    """Every test starts from the defaults, whatever this machine's environment configures."""
    for name in ("SECRET_KEY", "SECRET_KEY_FILE", "PREVIOUS_SECRET_KEYS", "HOST", "ENVIRONMENT"):
        monkeypatch.delenv(f"DAILYPAPERS_{name}", raising=False)


def bare_settings(data_dir: Path, database_url: str | None = None, **changes) -> Settings:
    """Settings as a fresh start reads them: the defaults (no key configured) but for ``changes``."""
    if database_url:
        changes["database_url"] = database_url
    return Settings(data_dir=data_dir, load_demo=False, embedding_backend="none", _env_file=None, **changes)


@pytest.fixture
def site_dir(tmp_path) -> Path:
    return tmp_path / "site"


def test_a_first_start_writes_a_private_key_that_the_next_start_reuses(site_dir, db, database_url):
    key_file = site_dir / "secret_key"
    assert not key_file.exists()
    first = community_settings(resolve_secret_key(bare_settings(site_dir, database_url)))
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 60 and first.secret_key == key and key != OLD_DEFAULT
    make_user(db, "alice")
    with clients(first, db) as made:
        alice = made.user("alice")
        cookie = alice.client.cookies.get(SESSION_COOKIE)
        assert alice.get("/api/me").json()["name"] == "alice"
    # a restart: new settings, a new app (which resolves the key itself), the same data folder
    with clients(community_settings(bare_settings(site_dir, database_url)), db) as restarted:
        assert restarted.app.state.parts.application.settings.secret_key == key
        again = restarted.new()
        again.client.cookies.set(SESSION_COOKIE, cookie)
        assert again.get("/api/me").json()["name"] == "alice"  # the session survived the restart
    assert key_file.read_text().strip() == key


def test_workers_starting_together_agree_on_one_key(site_dir):
    barrier = threading.Barrier(8)
    keys: list[str] = []

    def start() -> None:
        barrier.wait()
        keys.append(resolve_secret_key(bare_settings(site_dir)).secret_key)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert (site_dir / "secret_key").read_text().strip() == keys[0]


@pytest.mark.parametrize("host", BEYOND_LOOPBACK)
@pytest.mark.parametrize("key", [OLD_DEFAULT, "changethis", "a-short-key-of-31-characters-xx"])
def test_a_weak_key_is_refused_beyond_loopback_even_in_development(site_dir, host, key):
    with pytest.raises(ValidationError, match="DAILYPAPERS_SECRET_KEY"):
        bare_settings(site_dir, environment="development", host=host, secret_key=key)
    with pytest.raises(ValidationError, match="DAILYPAPERS_PREVIOUS_SECRET_KEYS"):
        bare_settings(site_dir, host=host, secret_key=KEY_ONE, previous_secret_keys=key)
    # the same key, on loopback, in development: fine
    local = bare_settings(site_dir, environment="development", secret_key=key)
    with pytest.raises(SecretKeyError, match="DAILYPAPERS_SECRET_KEY"):  # `serve --host` beyond loopback
        resolve_secret_key(local, host=host)
    key_file = site_dir.parent / "mounted-key"
    key_file.write_text(key + "\n")
    from_file = bare_settings(site_dir, secret_key_file=str(key_file))
    with pytest.raises(SecretKeyError, match="DAILYPAPERS_SECRET_KEY_FILE"):
        resolve_secret_key(from_file, host=host)
    assert resolve_secret_key(from_file).secret_key == key


@pytest.mark.parametrize("host", LOOPBACK)
def test_a_weak_key_is_allowed_on_loopback_in_development_only(site_dir, host):
    local = resolve_secret_key(bare_settings(site_dir, host=host, secret_key=OLD_DEFAULT))
    assert local.secret_key == OLD_DEFAULT
    with pytest.raises(ValidationError, match="DAILYPAPERS_SECRET_KEY"):
        bare_settings(site_dir, host=host, secret_key=OLD_DEFAULT, environment="production")


def test_serve_refuses_a_weak_key_in_one_line_before_listening(tmp_path, monkeypatch, database_env):
    listened: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kw: listened.append(kw))
    monkeypatch.setenv("DAILYPAPERS_SECRET_KEY", OLD_DEFAULT)
    monkeypatch.setenv("DAILYPAPERS_LOAD_DEMO", "false")
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0"], catch_exceptions=False)
    assert refused.exit_code == 2
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and "DAILYPAPERS_SECRET_KEY" in lines[0] and "0.0.0.0" in lines[0], refused.output
    monkeypatch.setenv("DAILYPAPERS_HOST", "0.0.0.0")
    refused = runner.invoke(cli_app, ["serve"], catch_exceptions=False)
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
    assert listened == []
    monkeypatch.setenv("DAILYPAPERS_SECRET_KEY", KEY_ONE)
    served = runner.invoke(cli_app, ["serve"], catch_exceptions=False)
    assert served.exit_code == 0, served.output
    assert [kw["host"] for kw in listened] == ["0.0.0.0"]


def test_postgresql_beyond_loopback_needs_a_configured_key(tmp_path):
    url = "postgresql+psycopg://papers@db.internal:5432/papers"
    for host in BEYOND_LOOPBACK:
        with pytest.raises(SecretKeyError, match="DAILYPAPERS_SECRET_KEY_FILE") as refused:
            resolve_secret_key(bare_settings(tmp_path / "web", url, host=host))
        assert "PostgreSQL" in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "web" / "secret_key").exists()  # no machine-local key was made
    mounted = tmp_path / "mounted-key"
    mounted.write_text(KEY_ONE + "\n")
    assert (
        resolve_secret_key(
            bare_settings(tmp_path / "web", url, host="0.0.0.0", secret_key_file=str(mounted))
        ).secret_key
        == KEY_ONE
    )
    assert (
        resolve_secret_key(
            bare_settings(tmp_path / "web", url, host="0.0.0.0", secret_key=KEY_TWO)
        ).secret_key
        == KEY_TWO
    )
    # one machine, on loopback (behind a proxy on the same host): a generated key is fine
    assert len(resolve_secret_key(bare_settings(tmp_path / "web", url)).secret_key) >= 60


def test_a_key_file_is_read_and_must_not_compete_with_the_setting(tmp_path):
    mounted = tmp_path / "mounted-key"
    mounted.write_text(f"  {KEY_ONE}\n")
    from_file = resolve_secret_key(bare_settings(tmp_path / "d", secret_key_file=str(mounted)))
    assert from_file.secret_key == KEY_ONE and from_file.signing_keys == [KEY_ONE]
    with pytest.raises(SecretKeyError, match="not both"):
        resolve_secret_key(bare_settings(tmp_path / "d", secret_key=KEY_TWO, secret_key_file=str(mounted)))
    with pytest.raises(SecretKeyError, match="cannot read"):
        resolve_secret_key(bare_settings(tmp_path / "d", secret_key_file=str(tmp_path / "missing")))
    with pytest.raises(RuntimeError, match="resolve_secret_key"):
        _ = bare_settings(tmp_path / "d").signing_keys  # nothing signs with an unresolved key


def test_sessions_and_reset_links_signed_with_the_old_default_key_are_refused(settings, db):
    """What an attacker could sign from public data (the published default key) opens nothing on a site
    started with default settings."""
    config = community_settings(bare_settings(settings.data_dir.parent / "site", settings.database_url))
    alice = make_user(db, "alice")
    stamp = int(alice.created_at.timestamp() * 1_000_000)
    session_signer = URLSafeTimedSerializer(OLD_DEFAULT, salt="dailypapers.session")
    forged_cookies = [
        session_signer.dumps({"u": alice.id, "e": epoch, "n": "x", "b": stamp}) for epoch in range(3)
    ]
    forged_cookies.append(session_signer.dumps("a-token-of-my-choosing"))
    fingerprint = accounts._fingerprint(alice)
    forged_reset = URLSafeTimedSerializer(OLD_DEFAULT, salt="dailypapers.password-reset").dumps(
        {"u": alice.id, "f": fingerprint}
    )
    with clients(config, db) as made:
        for cookie in forged_cookies:
            attacker = made.new()
            attacker.client.cookies.set(SESSION_COOKIE, cookie)
            assert attacker.get("/api/me").status_code == 401
        anonymous = made.new()
        r = anonymous.client.post(
            "/api/auth/reset/confirm", json={"token": forged_reset, "password": "the attacker's password 1"}
        )
        assert r.status_code == 400
        assert made.new().login("alice", PASSWORD).status_code == 200  # the password did not change
        assert made.new().login("alice", "the attacker's password 1").status_code == 401


def test_a_previous_key_verifies_while_listed_and_not_after_removal(settings, db):
    alice = make_user(db, "alice")
    with db.transaction() as session:
        sub = Subscription(email="reader@example.org", confirmed_at=alice.created_at)
        session.add(sub)
        session.flush()
    before = community_settings(settings, secret_key=KEY_ONE, previous_secret_keys="")
    rotating = community_settings(settings, secret_key=KEY_TWO, previous_secret_keys=f"{KEY_ONE}")
    after = community_settings(settings, secret_key=KEY_TWO, previous_secret_keys="")
    reset = accounts.reset_token(before, alice)
    unsubscribe = subs.unsubscribe_token(before, sub)
    cookie = Sessions(before, db).issue(alice).cookie

    assert accounts.user_for_reset_token(db, rotating, reset).id == alice.id
    assert Sessions(rotating, db).read(cookie) is not None
    with clients(rotating, db) as made:
        old = made.new()
        old.client.cookies.set(SESSION_COOKIE, cookie)
        assert old.get("/api/me").json()["name"] == "alice"
        fresh = made.new()
        assert fresh.login("alice").status_code == 200
        new_cookie = fresh.client.cookies.get(SESSION_COOKIE)
    new_reset = accounts.reset_token(rotating, alice)  # signed with the newest key

    with pytest.raises(BadRequest):
        accounts.user_for_reset_token(db, after, reset)
    assert accounts.user_for_reset_token(db, after, new_reset).id == alice.id
    with clients(after, db) as made:
        old = made.new()
        old.client.cookies.set(SESSION_COOKIE, cookie)
        assert old.get("/api/me").status_code == 401
        current = made.new()
        current.client.cookies.set(SESSION_COOKIE, new_cookie)
        assert current.get("/api/me").json()["name"] == "alice"
        assert made.new().client.post(f"/digest/unsubscribe/{unsubscribe}").status_code == 400
    with clients(rotating, db) as made:
        assert made.new().client.post(f"/digest/unsubscribe/{unsubscribe}").status_code < 400
    with db.session() as session:
        assert session.scalar(select(Subscription.unsubscribed_at)) is not None
        assert session.scalar(select(User.username)) == "alice"


def test_a_new_data_folder_is_private_to_its_owner(tmp_path):
    fresh = tmp_path / "instance"
    resolve_secret_key(Settings(data_dir=fresh, load_demo=False, _env_file=None))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700


@pytest.mark.sqlite_only
def test_a_new_sqlite_folder_is_private_to_its_owner(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'files' / 'dailypapers.db'}")
    try:
        database.migrate()
    finally:
        database.dispose()
    assert stat.S_IMODE((tmp_path / "files").stat().st_mode) == 0o700
