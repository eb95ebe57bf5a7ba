"""One error hierarchy for every room: each error carries the HTTP status it maps to.

The web layer has one handler that renders these as JSON for the API and feeds, and as a friendly page
for HTML; the CLI prints the message. A user never sees a traceback.
"""

from __future__ import annotations


class DailyPapersError(Exception):
    """Base class: ``status`` is the HTTP status, ``message`` what the user is told."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(DailyPapersError):
    """The request itself is wrong: a bad date, an out-of-range limit, an unknown sort."""

    status = 400


class NotFound(DailyPapersError):
    """No such paper, organization or page."""

    status = 404


def first_line(exc: BaseException) -> str:
    """The first line of what the database driver (or any error) said: for one-line messages."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
