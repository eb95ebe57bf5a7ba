"""Password reset by mail, end to end: the app sends the link through a real SMTP server (aiosmtpd on
127.0.0.1), the test reads the mail as a mail client would, follows the link's token and logs in."""

from __future__ import annotations

import email
import re
import socket
import time
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import itsdangerous.timed
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from dailypapers.community import accounts
from dailypapers.errors import BadRequest
from dailypapers.store.models import User
from tests.support.community import PASSWORD, clients, community_settings, make_user

SITE = "https://papers.example.org"
HTTPS = "https://testserver"  # the site is served over HTTPS: its cookies are Secure
NEW_PASSWORD = "a brand new passphrase 42"
MAIL_FROM = "dailypapers <noreply@papers.example.org>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 — aiosmtpd's hook name
        self.envelopes.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
            )
        )
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for _, _, raw in self.envelopes]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def mail_settings(settings, smtp):
    return community_settings(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_timeout=10,
        mail_from=MAIL_FROM,
        site_url=SITE,
    )


@pytest.fixture
def site(mail_settings, db):
    make_user(db, "alice")
    with clients(mail_settings, db, base_url=HTTPS) as made:
        yield made


def parts(message: EmailMessage) -> dict[str, str]:
    assert message.get_content_type() == "multipart/alternative", message.get_content_type()
    found = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert set(found) == {"text/plain", "text/html"}, set(found)
    return found


def reset_link(message: EmailMessage) -> str:
    text = parts(message)["text/plain"]
    links = re.findall(r"^\s*(https?://\S+)\s*$", text, re.MULTILINE)  # the link, on a line of its own
    assert len(links) == 1, text
    return links[0]


def token_of(link: str) -> str:
    return urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1]


def ask_reset(api, address: str = "alice@example.org"):
    r = api.client.post("/api/auth/reset", json={"email": address})
    assert r.status_code == 202, r.text
    return r


def test_reset_mail_link_sets_a_new_password_once(site, smtp, db):
    phone = site.user("alice")  # a session from before the reset
    api = site.new()
    answer = ask_reset(api)
    assert len(smtp.envelopes) == 1
    mail_from, rcpt_tos, _ = smtp.envelopes[0]
    assert mail_from == "noreply@papers.example.org" and rcpt_tos == ["alice@example.org"]
    message = smtp.messages()[0]
    assert message["To"] == "alice@example.org"
    assert message["From"] == MAIL_FROM
    assert "password" in message["Subject"].lower()
    assert message["Message-ID"]
    body = parts(message)
    link = reset_link(message)
    assert link.startswith(SITE + "/account/reset/")
    token = token_of(link)
    assert len(token) > 20
    assert link in body["text/html"].replace("&amp;", "&")
    assert "alice" in body["text/plain"] and "<" not in body["text/plain"]

    weak = api.client.post("/api/auth/reset/confirm", json={"token": token, "password": "short"})
    assert weak.status_code == 400 and "password" in weak.json()["error"]
    done = api.client.post("/api/auth/reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    assert done.json()["message"]

    assert site.new().login("alice", PASSWORD).status_code == 401
    fresh = site.new()
    assert fresh.login("alice", NEW_PASSWORD).status_code == 200
    assert fresh.get("/api/me").json()["name"] == "alice"
    assert phone.get("/api/me").status_code == 401  # the reset ended the older sessions

    again = api.client.post(
        "/api/auth/reset/confirm", json={"token": token, "password": "yet another passphrase 7"}
    )
    assert again.status_code == 400 and again.json()["error"]
    assert site.new().login("alice", NEW_PASSWORD).status_code == 200
    # an unknown address gets the same answer, and no mail
    for address in ("nobody@example.org", "not an address"):
        other = ask_reset(site.new(), address)
        assert other.json() == answer.json()
    assert len(smtp.envelopes) == 1


def test_the_mail_has_a_date(site, smtp):
    ask_reset(site.new())
    message = smtp.messages()[0]
    assert message["Date"], "a mail without a Date header (RFC 5322 requires it)"
    assert abs(time.time() - parsedate_to_datetime(message["Date"]).timestamp()) < 600


def test_the_mail_shows_names_as_text_not_markup(mail_settings, smtp, db):
    make_user(db, "mallory", display_name='<img src=x onerror="alert(1)"> & co')
    with clients(mail_settings, db, base_url=HTTPS) as made:
        ask_reset(made.new(), "mallory@example.org")
    body = parts(smtp.messages()[0])
    assert "<img" not in body["text/html"] and "&lt;img" in body["text/html"]
    assert '<img src=x onerror="alert(1)"> & co' in body["text/plain"]


def test_expired_tampered_and_foreign_tokens_are_refused(site, smtp, db, mail_settings, monkeypatch):
    real_time = time.time

    def token_aged(seconds: float) -> str:
        stopped = real_time() - seconds  # the clock itsdangerous signs with, set back
        clock = type("Clock", (), {"time": staticmethod(lambda: stopped)})
        with monkeypatch.context() as patch:
            patch.setattr(itsdangerous.timed, "time", clock)
            ask_reset(site.new())
        return token_of(reset_link(smtp.messages()[-1]))

    api = site.new()
    expired = token_aged(2 * 3600)
    r = api.client.post("/api/auth/reset/confirm", json={"token": expired, "password": NEW_PASSWORD})
    assert r.status_code == 400 and "expired" in r.json()["error"]
    with pytest.raises(BadRequest, match="expired"):
        accounts.user_for_reset_token(db, mail_settings, expired)

    ask_reset(api)
    token = token_of(reset_link(smtp.messages()[-1]))  # a new one: fine with the default age
    assert accounts.user_for_reset_token(db, mail_settings, token).username == "alice"
    time.sleep(1.05)
    with pytest.raises(BadRequest, match="expired"):
        accounts.user_for_reset_token(db, mail_settings, token, max_age=0)

    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with db.session() as session:
        alice = session.scalar(select(User).where(User.username == "alice"))
    other_site = mail_settings.model_copy(update={"secret_key": "another-secret-" + "k" * 32})
    foreign = accounts.reset_token(other_site, alice)
    for bad in (tampered, foreign, "", "x"):
        r = api.client.post("/api/auth/reset/confirm", json={"token": bad, "password": NEW_PASSWORD})
        assert r.status_code == 400, bad
    assert site.new().login("alice", PASSWORD).status_code == 200  # nothing changed

    recent = token_aged(50 * 60)  # within the hour: still good
    r = api.client.post("/api/auth/reset/confirm", json={"token": recent, "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text


def test_a_reset_lifts_the_account_wide_login_throttle(settings, smtp, db):
    throttled = community_settings(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        site_url=SITE,
        login_throttle_account_after=1,
    )
    make_user(db, "alice")
    with clients(throttled, db, base_url=HTTPS) as made:
        assert made.new().login("alice", "a wrong password").status_code == 401
        assert made.new().login("alice").status_code == 429  # one failure slows the name everywhere
        api = made.new()
        ask_reset(api)
        token = token_of(reset_link(smtp.messages()[-1]))
        assert (
            api.client.post(
                "/api/auth/reset/confirm", json={"token": token, "password": NEW_PASSWORD}
            ).status_code
            == 200
        )
        assert made.new().login("alice", NEW_PASSWORD).status_code == 200


def test_reset_answers_503_when_the_mail_server_is_down(settings, db):
    down = community_settings(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_security="none",
        smtp_timeout=5,
        site_url=SITE,
    )
    make_user(db, "alice")
    with clients(down, db, base_url=HTTPS) as made:
        r = made.new().client.post("/api/auth/reset", json={"email": "alice@example.org"})
        assert r.status_code == 503, r.text
        assert r.json()["error"] and "Traceback" not in r.text
        assert made.new().login("alice").status_code == 200  # the password did not change
