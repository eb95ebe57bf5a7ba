"""The mails accounts get (a password reset, a link confirming an address, a notice that someone gave an
address another account holds), as plain text plus HTML."""

from __future__ import annotations

from html import escape

from dailypapers.config import Settings
from dailypapers.mail import multipart_bytes
from dailypapers.store.models import User

RESET_PATH = "/account/reset/"
CONFIRM_EMAIL_PATH = "/account/email/confirm/"
_BUTTON = (
    "display:inline-block;padding:8px 14px;background:#111;color:#fff;border-radius:6px;text-decoration:none"
)


def _site(settings: Settings) -> str:
    return settings.site_url.rstrip("/")


def _html(paragraphs: list[str]) -> str:
    """A small HTML mail of ``paragraphs`` (already escaped markup)."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    style = "font-family:system-ui,sans-serif;line-height:1.5"
    return f'<!doctype html><html><body style="{style}">{body}</body></html>'


def reset_link(settings: Settings, token: str) -> str:
    """The address on this site that sets a new password with ``token``."""
    return _site(settings) + RESET_PATH + token


def reset_mail(settings: Settings, user: User, token: str, to: str | None = None) -> bytes:
    """The reset link for ``user``, to ``to`` (default: the account's confirmed address)."""
    link = reset_link(settings, token)
    site = _site(settings)
    text = (
        f"Hello {user.display_name},\n\n"
        f'someone (hopefully you) asked to reset the password of the account "{user.username}" '
        f"on {site}.\n\nSet a new password here (the link works once, for one hour):\n\n{link}\n\n"
        "If you did not ask for this, ignore this mail: your password stays as it is.\n"
    )
    html = (
        f'<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5">'
        f"<p>Hello {escape(user.display_name)},</p>"
        f"<p>someone (hopefully you) asked to reset the password of the account "
        f'<strong>{escape(user.username)}</strong> on <a href="{escape(site)}">{escape(site)}</a>.</p>'
        f'<p><a href="{escape(link)}" style="display:inline-block;padding:8px 14px;background:#111;'
        f'color:#fff;border-radius:6px;text-decoration:none">Set a new password</a></p>'
        f'<p style="color:#555">The link works once, for one hour. If you did not ask for this, '
        f"ignore this mail: your password stays as it is.</p></body></html>"
    )
    return multipart_bytes(settings, to or user.email or "", "Reset your dailypapers password", text, html)


def confirm_email_link(settings: Settings, token: str) -> str:
    """The page of a confirmation token, on the public site."""
    return _site(settings) + CONFIRM_EMAIL_PATH + token


def confirm_email_mail(settings: Settings, user: User, address: str, token: str) -> bytes:
    """The link that makes ``address`` the address of ``user``."""
    link = confirm_email_link(settings, token)
    site = _site(settings)
    text = (
        f"Hello {user.display_name},\n\n"
        f'the account "{user.username}" on {site} gave this address ({address}) as its own.\n\n'
        f"If that is you, confirm the address here (the link works for seven days):\n\n{link}\n\n"
        "If it is not you, ignore this mail: nothing is sent to this address until it is confirmed.\n"
    )
    html = _html(
        [
            f"Hello {escape(user.display_name)},",
            f"the account <strong>{escape(user.username)}</strong> on "
            f'<a href="{escape(site)}">{escape(site)}</a> gave this address ({escape(address)}) as its own.',
            f'<a href="{escape(link)}" style="{_BUTTON}">Confirm my address</a>',
            '<span style="color:#555">The link works for seven days. If it is not you, ignore this mail: '
            "nothing is sent to this address until it is confirmed.</span>",
        ]
    )
    return multipart_bytes(settings, address, "Confirm your e-mail address on dailypapers", text, html)


def address_in_use_mail(settings: Settings, holder: User) -> bytes:
    """A notice to ``holder``: someone gave its confirmed address for another account (registering, or
    changing an account's address). It stays ``holder``'s; nothing else happens."""
    site = _site(settings)
    reset = site + RESET_PATH.rstrip("/")
    address = holder.email or ""
    text = (
        f"Hello {holder.display_name},\n\n"
        f"someone gave this address ({address}) for another account on {site}. It stays the address "
        f'of your account "{holder.username}", and that other account gets nothing from it.\n\n'
        f'If it was you, log in as "{holder.username}" instead; forgot your password? {reset}\n\n'
        "If it was not you, there is nothing to do.\n"
    )
    html = _html(
        [
            f"Hello {escape(holder.display_name)},",
            f"someone gave this address ({escape(address)}) for another account on "
            f'<a href="{escape(site)}">{escape(site)}</a>. It stays the address of your account '
            f"<strong>{escape(holder.username)}</strong>, and that other account gets nothing from it.",
            f"If it was you, log in as <strong>{escape(holder.username)}</strong> instead; "
            "forgot your password? "
            f'<a href="{escape(reset)}">Reset it</a>.',
            '<span style="color:#555">If it was not you, there is nothing to do.</span>',
        ]
    )
    return multipart_bytes(
        settings, address, "Your address was given for another dailypapers account", text, html
    )
