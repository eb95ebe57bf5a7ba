"""Mail for the digest tests: a real SMTP server (aiosmtpd on 127.0.0.1) whose answers can be set per
recipient, the app served by uvicorn on a port chosen beforehand (so the site URL in mails is the real
one), and small readers of what arrives (the parts of a multipart mail, the links of its HTML)."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from dailypapers.config import Settings
from dailypapers.store.db import Database
from tests.support.browser import free_port, live_server


class Inbox:
    """An aiosmtpd handler keeping every accepted message. ``rcpt_replies`` / ``data_replies`` map a
    recipient to the reply given at RCPT or at the end of DATA instead of accepting (e.g. ``"550 no such
    user"``, ``"451 try later"``); ``delay`` seconds pass before each accepted message is answered.

    Once ``freeze_after`` messages were kept the server freezes (``frozen``): it answers no RCPT and no
    end of DATA (it keeps that message first) until ``frozen`` is set false again, so every client
    connection comes to wait on it at one of those two points."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: dict[str, str] = {}
        self.delay = 0.0
        self.freeze_after: int | None = None
        self.frozen = False
        self.port = 0
        self._lock = threading.Lock()

    async def _while_frozen(self) -> None:
        while self.frozen:
            await asyncio.sleep(0.01)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001
        await self._while_frozen()
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001
        for rcpt in envelope.rcpt_tos:
            reply = self.data_replies.get(rcpt.lower())
            if reply:
                return reply
        # kept as soon as the end of data arrives, like a real server's queue: a client that goes away
        # while waiting for the slow reply below has still handed the message over
        with self._lock:
            self.envelopes.append(
                (
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    bytes(envelope.original_content or envelope.content),
                )
            )
            if self.freeze_after is not None and len(self.envelopes) >= self.freeze_after:
                self.frozen = True
        await self._while_frozen()
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def __len__(self) -> int:
        with self._lock:
            return len(self.envelopes)

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            raw = [r for _, _, r in self.envelopes]
        return [email.message_from_bytes(r, policy=policy.default) for r in raw]  # type: ignore[misc]

    def to_counts(self) -> Counter[str]:
        """How many messages each address got (by the To header)."""
        return Counter(str(m["To"]).lower() for m in self.messages())

    def clear(self) -> None:
        with self._lock:
            self.envelopes.clear()

    def wait_until_still(self, quiet: float = 0.5, timeout: float = 60.0) -> None:
        """Wait until the server is frozen and no message arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while True:
            now = time.monotonic()
            if len(self) != seen:
                seen, since = len(self), now
            elif self.frozen and now - since >= quiet:
                return
            if now > deadline:
                raise AssertionError(
                    f"the server did not come to rest ({len(self)} messages, frozen={self.frozen})"
                )
            time.sleep(0.01)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self)} messages arrived, waited for {count}")
            time.sleep(0.005)


class _ReadsToTheEnd(SMTP):
    """aiosmtpd drops whatever a client sent just before going away (its end of DATA included) the
    instant the connection ends; a mail server reads what arrived first. So does this one: the session
    ends a moment after the client's end instead of at once."""

    def eof_received(self) -> bool:
        self.loop.call_later(0.2, self._end_session)
        return True  # half-closed: the bytes already received are still read

    def _end_session(self) -> None:
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()
        if self.transport is not None:
            self.transport.close()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _ReadsToTheEnd(self.handler, **self.SMTP_kwargs)


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = free_port()
    controller = _Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def serve(settings: Settings, db: Database, port: int) -> Any:
    """Serve the app on 127.0.0.1:``port`` (known before, so that mailed links point at it)."""
    return live_server(settings, db, port)


def parts(message: EmailMessage) -> dict[str, str]:
    """The text and HTML of a multipart/alternative mail (fails on any other shape)."""
    assert message.get_content_type() == "multipart/alternative", message.get_content_type()
    found = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert set(found) == {"text/plain", "text/html"}, set(found)
    return found


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.forms: list[tuple[str, str]] = []
        self.headings: list[str] = []
        self._href: str | None = None
        self._text: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in values:
            self._href, self._text = values["href"], []
        elif tag == "form":
            self.forms.append((values.get("method", "get").lower(), values.get("action", "")))
        elif tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._heading is not None:
            self._heading.append(data)


def read_html(html: str) -> _Links:
    """Parse ``html``: ``.links`` (href, text), ``.forms`` (method, action), ``.headings``."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser
