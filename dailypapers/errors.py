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

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries (``Retry-After`` for a rate limit)."""
        return {}


class BadRequest(DailyPapersError):
    """The request itself is wrong: a bad date, an out-of-range limit, an unknown sort."""

    status = 400


class NotFound(DailyPapersError):
    """No such paper, organization or page."""

    status = 404


class Unauthorized(DailyPapersError):
    """Not logged in (or the login was wrong)."""

    status = 401


class Forbidden(DailyPapersError):
    """Logged in, but not allowed to do this (a missing CSRF token, another user's comment)."""

    status = 403


class Conflict(DailyPapersError):
    """The request clashes with what is stored: a taken username, a paper already listed."""

    status = 409


class TooManyRequests(DailyPapersError):
    """A rate limit or a login lockout; ``retry_after`` is in seconds."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(DailyPapersError):
    """Something we depend on (the mail server, arXiv) did not answer."""

    status = 503


def first_line(exc: BaseException) -> str:
    """The first line of what the database driver (or any error) said: for one-line messages."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
