"""A polite HTTP client for the sources we harvest: rate limit, timeouts, retries with backoff.

arXiv asks for at most one request every 3 seconds; Hugging Face rate-limits too. Every network source
goes through :class:`PoliteClient`, so that rule lives in one place. Tests pass an ``httpx`` transport
or point the client at a local server, and a fake ``sleep`` to keep them fast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from dailypapers import __version__

if TYPE_CHECKING:
    from dailypapers.config import Settings

USER_AGENT = f"dailypapers/{__version__} (+https://github.com/dailypapers/dailypapers)"
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class FetchError(RuntimeError):
    """A request failed for good: a 4xx other than rate limiting, or every retry used up."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None, body: bytes = b""):
        super().__init__(message)
        self.status = status
        self.url = url
        self.body = body  # the start of the refused answer, for APIs that explain errors in the body


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


class PoliteClient:
    """``httpx.Client`` wrapper: waits ``min_interval`` seconds between requests, retries transient
    failures (timeouts, connection errors, 408/425/429/5xx) with exponential backoff that honours
    ``Retry-After``, and raises :class:`FetchError` when it gives up."""

    def __init__(
        self,
        *,
        min_interval: float = 3.0,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 2.0,
        max_backoff: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.min_interval = min_interval
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock
        self._last: float | None = None
        self.requests = 0
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
        )

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _wait_turn(self) -> None:
        if self._last is not None:
            wait = self.min_interval - (self._clock() - self._last)
            if wait > 0:
                self._sleep(wait)
        self._last = self._clock()

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """GET with rate limit and retries; returns a 2xx response or raises :class:`FetchError`.

        A 404 is returned to the caller (some APIs answer "no such day" with it) rather than raised.
        """
        attempt = 0
        while True:
            self._wait_turn()
            self.requests += 1
            delay = min(self.max_backoff, self.backoff * (2**attempt))
            try:
                response = self._client.get(url, params=params)
            except httpx.TransportError as exc:  # timeouts, refused connections, broken reads
                if attempt >= self.retries:
                    raise FetchError(f"{url}: {exc.__class__.__name__}: {exc}", url=url) from exc
            else:
                if response.is_success or response.status_code == 404:
                    return response
                if response.status_code not in RETRY_STATUS or attempt >= self.retries:
                    raise FetchError(
                        f"{response.request.url}: HTTP {response.status_code}",
                        status=response.status_code,
                        url=str(response.request.url),
                        body=response.content[:65536],
                    )
                hinted = _retry_after(response)
                if hinted is not None:
                    delay = min(self.max_backoff, max(delay, hinted))
            attempt += 1
            self._sleep(delay)


def client_from_settings(settings: Settings, **overrides: Any) -> PoliteClient:
    """A :class:`PoliteClient` with the interval, timeout and retries of ``settings``; ``overrides``
    (any :class:`PoliteClient` option) take precedence."""
    options: dict[str, Any] = {
        "min_interval": settings.http_min_interval,
        "timeout": settings.http_timeout,
        "retries": settings.http_retries,
    }
    return PoliteClient(**{**options, **overrides})
