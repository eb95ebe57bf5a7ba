"""Delivering the outbox: claim queued mails, send each over SMTP, record the outcome.

Each (subscription, edition) has one outbox row, so it is sent at most once:

- claiming: a sender takes up to ``batch`` due rows in one transaction (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL: concurrent senders never take the same row and never wait on each other; SQLite admits one
  writer at a time) and marks them ``sending`` under a lease naming the sender (host and process id);
- sending: :class:`~dailypapers.mail.Mailer` records a row as ``sent`` in the instant before
  the end-of-data line that lets the server accept the message, so a sender killed (even with SIGKILL) at
  any point leaves every row either sent (and recorded) or unsent (and not recorded);
- resuming: rows still ``sending`` whose sender process is gone (same host) or whose lease ran out are
  claimed again and sent: they were never accepted by the server.

Temporary failures (4xx, connection trouble) are retried with backoff (2, 4, 8… minutes, at most
``max_attempts`` tries, then ``failed``); permanent ones (5xx) mark the row ``bounced`` and the
subscription bounced, which stops every later mail to that address.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from dailypapers.config import Settings
from dailypapers.mail import Mailer
from dailypapers.store.db import Database
from dailypapers.store.models import DigestDelivery, Subscription, utcnow
from dailypapers.summaries import Summary

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 6
BATCH = 50
_statements: dict[tuple[str, ...], Any] = {}  # the outbox updates, by the columns they set


def _pid_space() -> str:
    """This process's PID namespace (containers that share a host name do not share one)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def sender_name() -> str:
    """This process's name on the rows it claims: ``host:pid-namespace:pid``."""
    return f"{socket.gethostname()}:{_pid_space()}:{os.getpid()}"


def _dead_local_senders(names: set[str]) -> list[str]:
    """The names (host:pid-namespace:pid) of senders in this host and PID namespace whose process no
    longer exists; anyone else's rows wait for their lease to run out."""
    here = f"{socket.gethostname()}:{_pid_space()}"
    dead = []
    for name in names:
        owner, _, pid = name.rpartition(":")
        if owner != here or not pid.isdigit() or int(pid) == os.getpid():
            continue
        if not _alive(int(pid)):
            dead.append(name)
    return dead


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


@dataclass
class Claimed:
    """An outbox row taken for sending: the mail, its try count, and whether its subscription is still
    active (neither unsubscribed nor bounced)."""

    id: int
    to_address: str
    message: bytes
    attempts: int
    active: bool


@dataclass
class SendSummary(Summary):
    """Counts of one sending run (``errors``: the first few, not reported)."""

    UNREPORTED = ("errors",)

    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    skipped: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SendSummary) -> None:
        for name in ("sent", "retried", "failed", "bounced", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors[: max(0, 20 - len(self.errors))]


class Sender:
    """Claims due outbox rows under a lease in its name and delivers them over SMTP, recording each
    outcome (:meth:`run` is the loop)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        name: str | None = None,
        batch: int = BATCH,
        lease: timedelta = LEASE,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.db = db
        self.settings = settings
        self.name = name or sender_name()
        self.batch = batch
        self.lease = lease
        self.max_attempts = max_attempts
        self.envelope_from = parseaddr(settings.mail_from)[1] or "noreply@localhost"

    def claim(self, now: datetime | None = None, *, name: str | None = None) -> list[Claimed]:
        now = now or utcnow()
        owner = name or self.name
        with self.db.transaction() as session:
            holders = set(
                session.scalars(
                    select(DigestDelivery.locked_by)
                    .where(DigestDelivery.status == "sending", DigestDelivery.locked_until >= now)
                    .distinct()
                )
            )
            dead = _dead_local_senders({h for h in holders if h})
            due = or_(
                and_(DigestDelivery.status == "queued", DigestDelivery.run_after <= now),
                and_(DigestDelivery.status == "sending", DigestDelivery.locked_until < now),
            )
            if dead:
                due = or_(due, and_(DigestDelivery.status == "sending", DigestDelivery.locked_by.in_(dead)))
            rows = session.scalars(
                select(DigestDelivery)
                .where(due)
                .order_by(DigestDelivery.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return []
            active = dict(
                session.execute(
                    select(
                        Subscription.id,
                        and_(Subscription.unsubscribed_at.is_(None), Subscription.bounced_at.is_(None)),
                    ).where(Subscription.id.in_({r.subscription_id for r in rows}))
                ).all()
            )
            claimed = []
            for row in rows:
                row.status = "sending"
                row.locked_by = owner
                row.locked_until = now + self.lease
                row.attempts += 1
                claimed.append(
                    Claimed(
                        row.id,
                        row.to_address,
                        row.message,
                        row.attempts,
                        bool(active.get(row.subscription_id)),
                    )
                )
            return claimed

    def _set(self, delivery_id: int, **values: Any) -> None:
        """One row's new state, committed at once (a Core statement, built once per set of columns and
        reused: this runs once per mail)."""
        statement = _statements.get(tuple(sorted(values)))
        if statement is None:
            table = DigestDelivery.__table__
            statement = (
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values({name: bindparam(f"new_{name}") for name in values})
            )
            _statements[tuple(sorted(values))] = statement
        with self.db.write_connection() as connection:
            connection.execute(
                statement, {"row_id": delivery_id, **{f"new_{k}": v for k, v in values.items()}}
            )

    def send_batch(self, mailer: Mailer, batch: list[Claimed]) -> SendSummary:
        summary = SendSummary()
        for item in batch:
            if not item.active:
                self._set(item.id, status="skipped", locked_until=None, last_error="unsubscribed or bounced")
                summary.skipped += 1
                continue
            result = None
            for _ in range(2):  # a dropped connection is tried once more at once, on a new one
                result = mailer.deliver(
                    self.envelope_from,
                    item.to_address,
                    item.message,
                    commit=lambda i=item: self._set(i.id, status="sent", sent_at=utcnow(), locked_until=None),
                    uncommit=lambda i=item: self._set(
                        i.id, status="sending", sent_at=None, locked_until=utcnow() + self.lease
                    ),
                )
                if not (result.outcome == "temporary" and result.detail.startswith("connection")):
                    break
            if result is None:  # the loop above always runs at least once
                raise RuntimeError(f"no delivery attempt for outbox row {item.id}")
            if result.outcome == "sent":
                summary.sent += 1
            elif result.outcome == "permanent":
                self._bounce(item, result.detail)
                summary.bounced += 1
                summary.errors.append(f"{item.to_address}: {result.detail}")
            else:
                if item.attempts >= self.max_attempts:
                    self._set(item.id, status="failed", locked_until=None, last_error=result.detail[-2000:])
                    summary.failed += 1
                else:
                    backoff = timedelta(minutes=2**item.attempts)
                    self._set(
                        item.id,
                        status="queued",
                        locked_until=None,
                        locked_by=None,
                        run_after=utcnow() + backoff,
                        last_error=result.detail[-2000:],
                    )
                    summary.retried += 1
                summary.errors.append(f"{item.to_address}: {result.detail}")
        return summary

    def _bounce(self, item: Claimed, reason: str) -> None:
        now = utcnow()
        with self.db.transaction() as session:
            row = session.get(DigestDelivery, item.id)
            if row is None:
                return
            row.status = "bounced"
            row.locked_until = None
            row.last_error = reason[-2000:]
            sub = session.get(Subscription, row.subscription_id)
            if sub is not None and sub.bounced_at is None:
                sub.bounced_at = now
                sub.bounce_reason = reason[-2000:]

    def run(
        self,
        *,
        connections: int = 1,
        max_messages: int | None = None,
        on_progress: Any = None,
        more_coming: Any = None,
    ) -> SendSummary:
        """Send until nothing is due (or ``max_messages`` were handled), over ``connections`` SMTP
        connections in parallel (threads, each its own claims). While ``more_coming()`` is true (mails
        still being composed), an empty outbox is looked at again instead of ending."""
        started = time.perf_counter()
        total = SendSummary()
        lock = threading.Lock()
        handled = {"n": 0}

        def work() -> None:
            with Mailer(self.settings) as mailer:
                while True:
                    with lock:
                        if max_messages is not None and handled["n"] >= max_messages:
                            return
                    batch = self.claim()
                    if not batch:
                        if more_coming is not None and more_coming():
                            time.sleep(0.05)
                            continue
                        batch = self.claim()  # what was written just before composing ended
                        if not batch:
                            return
                    part = self.send_batch(mailer, batch)
                    with lock:
                        total.add(part)
                        handled["n"] += len(batch)
                        if on_progress:
                            on_progress(len(batch))

        if connections <= 1:
            work()
        else:
            threads = [threading.Thread(target=work, daemon=True) for i in range(connections)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        total.seconds = time.perf_counter() - started
        return total
