"""Helpers for tests of network harvests: a fake clock the polite client sleeps on, a client built on
it, and a collector that keeps what a harvest yielded before it failed."""

from __future__ import annotations

from collections.abc import Iterable

from dailypapers.ingest.http import PoliteClient
from dailypapers.ingest.records import Record


class FakeTime:
    """A clock that only moves when the client sleeps, and a record of every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(fake_time: FakeTime, **kwargs: object) -> PoliteClient:
    options: dict = {"min_interval": 3.0, "retries": 2, "backoff": 1.0, **kwargs}
    return PoliteClient(sleep=fake_time.sleep, clock=fake_time.clock, **options)


def collect(records: Iterable[Record]) -> tuple[list[Record], Exception | None]:
    """Everything a harvest yields before it stops, and the exception that stopped it (if any)."""
    out: list[Record] = []
    try:
        for record in records:
            out.append(record)
    except Exception as exc:  # the test inspects it
        return out, exc
    return out, None
