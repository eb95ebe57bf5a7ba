"""E-mail addresses count only once confirmed: the links go through a real SMTP server (aiosmtpd on
127.0.0.1) and are followed as a reader would; subscriptions, exports and deletions go by account, so
typing someone else's address (registering, or changing one's own) opens nothing of theirs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from dailypapers.community import accounts
from dailypapers.store.db import Database, alembic_config
from dailypapers.store.models import Subscription, User, UserInterest, utcnow
from tests.support.community import (
    GENEROUS_LIMITS,
    PASSWORD,
    clients,
    community_settings,
    make_user,
    password_hash,
)
from tests.support.mailbox import parts, smtp_server

SITE = "https://papers.example.org"
HTTPS = "https://testserver"  # the site is served over HTTPS: its cookies are Secure
NEW_PASSWORD = "a brand new passphrase 42"
CONFIRM = "/account/email/confirm/"


@pytest.fixture
def inbox():
    with smtp_server() as server:
        yield server


@pytest.fixture
def mail_settings(settings, inbox):
    return community_settings(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_security="none",
        smtp_timeout=10,
        site_url=SITE,
        rate_limits=GENEROUS_LIMITS + ",verify=5/hour,subscribe=10000/hour",
    )


@pytest.fixture
def site(mail_settings, db):
    with clients(mail_settings, db, base_url=HTTPS) as made:
        yield made


def mails_to(inbox, address: str) -> list[dict[str, str]]:
    """The mails ``address`` got: subject and plain text."""
    return [
        {"subject": str(m["Subject"]), "text": parts(m)["text/plain"]}
        for m in inbox.messages()
        if str(m["To"]).lower() == address
    ]


def confirm_links(inbox, address: str) -> list[str]:
    return [
        link
        for mail in mails_to(inbox, address)
        for link in re.findall(r"^\s*(https?://\S+)\s*$", mail["text"], re.MULTILINE)
        if CONFIRM in link
    ]


def token_of(link: str) -> str:
    return urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1]


def subscribed(db, address: str, user_id: int | None = None) -> int:
    """A confirmed weekly subscription of ``address`` (of the account ``user_id``, when given)."""
    with db.transaction() as session:
        sub = Subscription(
            email=address,
            user_id=user_id,
            frequency="weekly",
            categories=["cs.CL"],
            organizations=[],
            timezone="Europe/Berlin",
            send_hour=6,
            confirmed_at=utcnow(),
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(sub)
        session.flush()
        return sub.id


def subscription_state(db, sub_id: int) -> tuple | None:
    with db.session() as session:
        sub = session.get(Subscription, sub_id)
        if sub is None:
            return None
        return (
            sub.email,
            sub.user_id,
            sub.frequency,
            sub.categories,
            sub.timezone,
            sub.send_hour,
            sub.confirmed_at,
            sub.unsubscribed_at,
        )


def follow_confirm_page(made, link: str):
    """Open a mailed confirmation link in a browser that is not logged in, then press its button."""
    browser = made.new()
    path = urlsplit(link).path
    page = browser.get(path)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return page, browser.client.post(path, data={"csrf_token": token})


def test_an_address_changed_to_someone_elses_opens_nothing_of_theirs(site, db, inbox):
    victim = make_user(db, "victim")
    theirs = subscribed(db, "victim@example.org", victim.id)
    by_address = subscribed(db, "reader@example.org")  # subscribed with an address only, no account
    before = {sub: subscription_state(db, sub) for sub in (theirs, by_address)}
    mallory = site.account(db, "mallory")
    refused = mallory.patch("/api/me", json={"email": "victim@example.org"})  # no password
    assert refused.status_code == 400 and "password" in refused.json()["error"]
    for address in ("victim@example.org", "reader@example.org"):
        asked = mallory.patch("/api/me", json={"email": address, "password": PASSWORD})
        assert asked.status_code == 200, asked.text
        assert asked.json()["email"] == "mallory@example.org" and asked.json()["pendingEmail"] == address
        assert mallory.get("/api/me/subscription").status_code == 404
        changed = mallory.post(
            "/api/subscriptions", json={"email": address, "frequency": "daily", "sendHour": 3}
        )
        assert changed.status_code == 202 and "confirmed" not in changed.json()
        assert mallory.post("/api/subscriptions", json={"email": address, "forYou": True}).status_code == 400
        assert mallory.get("/api/me/subscription").status_code == 404
        assert mallory.get("/api/me/export").json()["subscription"] == []
    assert mallory.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    assert {sub: subscription_state(db, sub) for sub in (theirs, by_address)} == before
    # the victim's inbox got a notice about its address, never a link confirming it for mallory
    inbox.wait_for(4)
    assert confirm_links(inbox, "victim@example.org") == []
    notices = [
        m for m in mails_to(inbox, "victim@example.org") if "another dailypapers account" in m["subject"]
    ]
    assert len(notices) == 1 and "victim" in notices[0]["text"] and "mallory" not in notices[0]["text"]
    assert site.new().login("victim@example.org").status_code == 200


def test_registering_with_someone_elses_address_answers_as_usual_and_tells_its_owner(site, db, inbox):
    victim = make_user(db, "victim")
    theirs = subscribed(db, "victim@example.org", victim.id)
    before = subscription_state(db, theirs)
    fresh_client, mallory = site.new(), site.new()
    fresh = fresh_client.register("newcomer", "newcomer@example.org")
    taken = mallory.register("mallory", "Victim@Example.org ")

    def shape(response) -> tuple:
        body = {
            k: v
            for k, v in response.json().items()
            if k not in ("name", "fullname", "createdAt", "csrfToken")
        }
        cookies = sorted(c.split("=", 1)[0] for c in response.headers.get_list("set-cookie"))
        domain = body.pop("pendingEmail").split("@")[1]
        return response.status_code, sorted(response.json()), domain, body, cookies

    assert shape(fresh) == shape(taken)
    assert shape(taken)[0] == 201 and taken.json()["email"] is None
    inbox.wait_for(2)
    assert len(confirm_links(inbox, "newcomer@example.org")) == 1
    assert confirm_links(inbox, "victim@example.org") == []
    [notice] = mails_to(inbox, "victim@example.org")
    assert "another dailypapers account" in notice["subject"]
    # nothing of the victim's is the new account's
    assert mallory.get("/api/me/subscription").status_code == 404
    assert mallory.post("/api/subscriptions", json={"frequency": "daily"}).status_code == 400
    assert mallory.get("/api/me/export").json()["subscription"] == []
    assert mallory.post("/api/me/email/resend").status_code == 202  # again a notice, never a link
    inbox.wait_for(3)
    assert confirm_links(inbox, "victim@example.org") == []
    assert site.new().login("victim@example.org", PASSWORD).status_code == 200
    assert site.new().login("victim@example.org", PASSWORD + "x").status_code == 401
    assert mallory.delete("/api/me", json={"password": PASSWORD}).status_code == 204
    assert subscription_state(db, theirs) == before


def test_a_new_address_needs_the_password_and_counts_only_after_its_link(site, db, inbox, mail_settings):
    user = make_user(db, "alice")
    alice = site.session(user)
    mine = subscribed(db, "alice@example.org", user.id)
    for body in (
        {"email": "alice.new@example.org"},
        {"email": "alice.new@example.org", "password": "wrong one!"},
    ):
        r = alice.patch("/api/me", json=body)
        assert r.status_code == 400 and "password" in r.json()["error"]
    assert alice.get("/api/me").json()["pendingEmail"] is None and len(inbox) == 0
    asked = alice.patch("/api/me", json={"email": "Alice.New@example.org", "password": PASSWORD})
    assert asked.status_code == 200, asked.text
    assert asked.json()["email"] == "alice@example.org"
    assert asked.json()["pendingEmail"] == "alice.new@example.org"
    inbox.wait_for(1)
    [link] = confirm_links(inbox, "alice.new@example.org")
    assert link.startswith(SITE + CONFIRM)
    # until the link is followed, the confirmed address stays the account's, for everything
    assert alice.get("/api/me/subscription").json()["email"] == "alice@example.org"
    assert site.new().login("alice.new@example.org").status_code == 401
    assert site.new().login("alice@example.org").status_code == 200
    assert "not confirmed" in alice.get("/account").text
    page, done = follow_confirm_page(site, link)
    assert "alice.new@example.org" in page.text
    assert done.status_code == 200 and "Confirmed" in done.text
    me = alice.get("/api/me").json()
    assert (me["email"], me["emailVerified"], me["pendingEmail"]) == ("alice.new@example.org", True, None)
    assert subscription_state(db, mine)[:2] == ("alice.new@example.org", user.id)  # it moved along
    assert site.new().login("alice.new@example.org").status_code == 200
    assert site.new().login("alice@example.org").status_code == 401
    assert "not confirmed" not in alice.get("/account").text
    _, again = follow_confirm_page(site, link)  # following it twice is fine
    assert again.status_code == 200
    # a link for an address the account no longer asks for is refused
    other = accounts.email_token(site.app.state.parts.application.settings, user, "elsewhere@example.org")
    r = site.new().client.post("/api/auth/email/confirm", json={"token": other})
    assert r.status_code == 400 and r.json()["error"]
    # the account page asks the same way
    form = {"email": "third@example.org", "csrf_token": alice.csrf}
    wrong = alice.client.post("/account/email", data={**form, "password": "not my password"})
    assert wrong.status_code == 400 and "not your password" in wrong.text
    page = alice.client.post("/account/email", data={**form, "password": PASSWORD})
    assert page.status_code == 200 and "Check your inbox" in page.text and "third@example.org" in page.text
    assert alice.get("/api/me").json()["email"] == "alice.new@example.org"
    inbox.wait_for(2)
    assert len(confirm_links(inbox, "third@example.org")) == 1


def test_registration_mails_a_link_and_the_account_page_sends_it_again(site, db, inbox):
    carol = site.new()
    assert carol.register("carol", "carol@example.org").status_code == 201
    inbox.wait_for(1)
    [first] = confirm_links(inbox, "carol@example.org")
    page = carol.get("/account").text
    assert "not confirmed" in page and 'action="/account/email/resend"' in page
    # no digest and no "for you" before the address is confirmed
    assert carol.post("/api/subscriptions", json={"frequency": "daily"}).status_code == 400
    for_you = carol.post("/api/subscriptions", json={"email": "carol@example.org", "forYou": True})
    assert for_you.status_code == 400
    for _ in range(4):  # five an hour, the limit set above
        assert carol.post("/api/me/email/resend").status_code == 202
    resent = carol.client.post("/account/email/resend", data={"csrf_token": carol.csrf})
    assert resent.status_code == 200 and "Check your inbox" in resent.text
    inbox.wait_for(6)
    assert len(confirm_links(inbox, "carol@example.org")) == 6
    limited = carol.post("/api/me/email/resend")
    assert limited.status_code == 429 and limited.headers["retry-after"].isdigit()
    done = site.new().client.post("/api/auth/email/confirm", json={"token": token_of(first)})
    assert done.status_code == 200 and done.json()["email"] == "carol@example.org"
    assert carol.get("/api/me").json()["emailVerified"] is True
    assert "not confirmed" not in carol.get("/account").text
    assert carol.post("/api/me/email/resend").status_code == 400  # nothing left to confirm
    assert carol.post("/api/subscriptions", json={"frequency": "daily"}).status_code == 202


def test_a_reset_link_mailed_to_a_pending_address_confirms_it(site, db, inbox):
    registered = site.new().register("dora", "dora@example.org")
    assert registered.status_code == 201 and registered.json()["emailVerified"] is False
    inbox.wait_for(1)
    assert site.new().client.post("/api/auth/reset", json={"email": "dora@example.org"}).status_code == 202
    inbox.wait_for(2)
    [reset] = [m for m in mails_to(inbox, "dora@example.org") if "/account/reset/" in m["text"]]
    token = token_of(re.search(r"https?://\S+/account/reset/\S+", reset["text"]).group(0))
    done = site.new().client.post("/api/auth/reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    dora = site.new()
    assert dora.login("dora@example.org", NEW_PASSWORD).status_code == 200
    me = dora.get("/api/me").json()
    assert (me["email"], me["emailVerified"], me["pendingEmail"]) == ("dora@example.org", True, None)


def test_upgrading_makes_every_address_pending_and_keeps_what_refers_to_accounts(settings):
    database = Database.from_settings(settings)
    try:
        database.migrate()
        with database.engine.begin() as conn:  # the schema as it was before e-mail addresses were confirmed
            command.downgrade(alembic_config(conn), "0010")
        with database.engine.begin() as conn:
            table = sa.Table("users", sa.MetaData(), autoload_with=conn)
            values = {
                "username": "old",
                "email": "old@example.org",
                "display_name": "Old Timer",
                "password_hash": password_hash(),
                "role": "user",
                "failed_logins": 0,
                "created_at": utcnow(),
            }
            values = {k: v for k, v in values.items() if k in table.c}
            values.update(
                {c.name: 0 for c in table.c if c.name not in values and not c.nullable and c.name != "id"}
            )
            user_id = conn.execute(table.insert().values(**values)).inserted_primary_key[0]
            subs = sa.Table("subscriptions", sa.MetaData(), autoload_with=conn)
            conn.execute(
                subs.insert().values(
                    email="old@example.org",
                    user_id=user_id,
                    frequency="weekly",
                    trending=True,
                    for_you=True,
                    categories=[],
                    organizations=[],
                    timezone="UTC",
                    send_hour=7,
                    confirmed_at=utcnow(),
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            interests = sa.Table("user_interests", sa.MetaData(), autoload_with=conn)
            conn.execute(
                interests.insert().values(
                    user_id=user_id, kind="category", value="cs.CL", created_at=utcnow()
                )
            )
        database.migrate()
        with database.session() as session:
            user = session.get(User, user_id)
            assert (user.email, user.pending_email, user.email_verified_at) == (None, "old@example.org", None)
            sub = session.scalar(select(Subscription))
            assert (sub.email, sub.user_id, sub.confirmed_at is not None) == ("old@example.org", None, True)
            interest = session.scalar(select(UserInterest.value).where(UserInterest.user_id == user_id))
            assert interest == "cs.CL"
        assert accounts.authenticate(database, settings, "old@example.org", PASSWORD).username == "old"
        with database.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0010")
        with database.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT email FROM users")).scalar_one() == "old@example.org"
            assert conn.execute(sa.text("SELECT count(*) FROM user_interests")).scalar_one() == 1
    finally:
        database.dispose()


def test_a_forged_or_tampered_confirmation_token_confirms_nothing(site, db):
    user = make_user(db, "alice")
    alice = site.session(user)
    asked = alice.patch("/api/me", json={"email": "alice.new@example.org", "password": PASSWORD})
    assert asked.status_code == 200, asked.text
    real = accounts.email_token(site.app.state.parts.application.settings, user, "alice.new@example.org")
    tampered = real[:-2] + ("AA" if not real.endswith("AA") else "BB")
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("a key somebody guessed " * 3).dumps(
        {"u": user.id, "a": "alice.new@example.org"}
    )
    for token in (tampered, forged, "", "x" * 5000):
        r = site.new().client.post("/api/auth/email/confirm", json={"token": token})
        assert 400 <= r.status_code < 500, (token[:20], r.status_code)
    me = alice.get("/api/me").json()
    assert (me["email"], me["pendingEmail"]) == ("alice@example.org", "alice.new@example.org")
