"""The mails accounts get (a password reset), as plain text plus HTML."""

from __future__ import annotations

from html import escape

from dailypapers.config import Settings
from dailypapers.mail import multipart_bytes
from dailypapers.store.models import User

RESET_PATH = "/account/reset/"


def reset_link(settings: Settings, token: str) -> str:
    return settings.site_url.rstrip("/") + RESET_PATH + token


def reset_mail(settings: Settings, user: User, token: str) -> bytes:
    link = reset_link(settings, token)
    site = settings.site_url.rstrip("/")
    text = (f"Hello {user.display_name},\n\n"
            f"someone (hopefully you) asked to reset the password of the account \"{user.username}\" "
            f"on {site}.\n\nSet a new password here (the link works once, for one hour):\n\n{link}\n\n"
            "If you did not ask for this, ignore this mail: your password stays as it is.\n")
    html = (f"<!doctype html><html><body style=\"font-family:system-ui,sans-serif;line-height:1.5\">"
            f"<p>Hello {escape(user.display_name)},</p>"
            f"<p>someone (hopefully you) asked to reset the password of the account "
            f"<strong>{escape(user.username)}</strong> on <a href=\"{escape(site)}\">{escape(site)}</a>.</p>"
            f"<p><a href=\"{escape(link)}\" style=\"display:inline-block;padding:8px 14px;background:#111;"
            f"color:#fff;border-radius:6px;text-decoration:none\">Set a new password</a></p>"
            f"<p style=\"color:#555\">The link works once, for one hour. If you did not ask for this, "
            f"ignore this mail: your password stays as it is.</p></body></html>")
    return multipart_bytes(settings, user.email, "Reset your dailypapers password", text, html)
