"""Sending mail over SMTP (password resets, digests), with the settings ``smtp_*`` and ``mail_from``.

:class:`Mailer` keeps one SMTP connection open across many messages (``with Mailer(settings) as m:``)
and reconnects when the server drops it. Failures are sorted into :class:`TemporaryMailError` (4xx
replies, refused or dropped connections: try again later) and :class:`PermanentMailError` (5xx replies:
the address or the message is refused; do not try again). With no ``smtp_host`` set, messages are
written to the log instead (development).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from types import TracebackType

from dailypapers.config import Settings

log = logging.getLogger("dailypapers.mail")


class MailError(RuntimeError):
    """A message was not sent."""


class TemporaryMailError(MailError):
    """The server may take it later (4xx, connection trouble)."""


class PermanentMailError(MailError):
    """The server refused it for good (5xx); ``code`` is the SMTP reply code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def new_message(settings: Settings, to: str, subject: str, text: str, html: str | None = None,
                headers: dict[str, str] | None = None) -> EmailMessage:
    """A message from ``mail_from``: plain text, plus an HTML alternative when given."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    domain = settings.mail_from.rpartition("@")[2].strip(" >") or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


class Mailer:
    """An SMTP client for many messages; a context manager that closes the connection at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self.sent = 0

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except smtplib.SMTPResponseException as exc:
            raise self._classify(exc) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryMailError(f"cannot reach the mail server {s.smtp_host}:{s.smtp_port}: {exc}") from exc
        return smtp

    @staticmethod
    def _classify(exc: smtplib.SMTPResponseException) -> MailError:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        if 500 <= exc.smtp_code < 600:
            return PermanentMailError(f"{exc.smtp_code} {text}", exc.smtp_code)
        return TemporaryMailError(f"{exc.smtp_code} {text}")

    def send(self, message: EmailMessage) -> None:
        """Send one message (to its ``To``); raises :class:`MailError` if it was not taken."""
        if not self.configured:
            log.info("mail (no smtp_host set, not sent):\n%s", message.as_string())
            self.sent += 1
            return
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                refused = self._smtp.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
                if 500 <= code < 600:
                    raise PermanentMailError(f"{code} {reply}", code) from exc
                raise TemporaryMailError(f"{code} {reply}") from exc
            except smtplib.SMTPServerDisconnected as exc:
                self._smtp = None
                if attempt == 2:
                    raise TemporaryMailError(f"the mail server closed the connection: {exc}") from exc
                continue
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise self._classify(exc) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise TemporaryMailError(f"sending failed: {exc}") from exc
            if refused:
                code, text = next(iter(refused.values()))
                if 500 <= code < 600:
                    raise PermanentMailError(f"{code} {text!r}", code)
                raise TemporaryMailError(f"{code} {text!r}")
            self.sent += 1
            return

    def _reset(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (OSError, smtplib.SMTPException):
                self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None


def send_one(settings: Settings, message: EmailMessage) -> None:
    """Send a single message on its own connection."""
    with Mailer(settings) as mailer:
        mailer.send(message)
