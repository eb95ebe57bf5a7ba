"""E-mail addresses as typed into a form: trimmed, lower-cased and checked for one plausible shape."""

from __future__ import annotations

import re

from dailypapers.errors import BadRequest

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
MAX_EMAIL = 320


def clean_email(raw: str) -> str:
    """``raw`` trimmed and lower-cased; :class:`BadRequest` when it does not look like an address."""
    email = (raw or "").strip().lower()
    if len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise BadRequest("email: give an address like name@example.org")
    return email
