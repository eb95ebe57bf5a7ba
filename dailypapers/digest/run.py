"""One digest run: compose the due editions into the outbox and send it, side by side.

When this process has no other thread and can fork (Linux, the CLI and the worker), composing runs in
one child process and each SMTP connection in its own child process: every core works, and a sender
records a mail as sent and writes its end-of-data line without waiting for another thread's turn at the
interpreter, which keeps the instant between the two as short as it can be. Otherwise (a process with
threads, such as a test server) the same work runs in threads.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from dailypapers.config import Settings
from dailypapers.digest.send import Sender, SendSummary
from dailypapers.store.db import Database


def make_composer(db: Database, settings: Settings, method: str | None = None) -> Any:
    """A digest composer whose "For you" sections come from the recommender (none without a model;
    ``method``: the recommendation method of those sections, default ``DIGEST_METHOD``)."""
    from dailypapers.digest.compose import Composer
    from dailypapers.search.embed import backend_for_setting

    personal = None
    backend = backend_for_setting(settings.embedding_backend, precision=settings.embedding_precision)
    if backend is not None:
        from dailypapers.recommend.service import DIGEST_METHOD, CandidatePool, digest_picks

        personal = digest_picks(db, CandidatePool(db, backend.name), method=method or DIGEST_METHOD)
    return Composer(db, settings, personal)


def _die_with_parent() -> None:
    """In a forked child: be killed when the parent dies (Linux), so that killing ``digest send`` (even
    with SIGKILL) stops every sender it started, as a kill of a single process would."""
    import ctypes
    import os
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _blas_beside_senders() -> Any:
    """Composing holds BLAS to one thread: its products are small, and idle BLAS threads spin on the
    cores the senders need (10,000 digests on two cores: 85 s with two BLAS threads, 64 s with one;
    ``bench/digest.py``)."""
    from dailypapers.recommend.model import one_blas_thread

    return one_blas_thread()


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _summary(data: dict[str, Any]) -> SendSummary:
    summary = SendSummary(
        **{k: data[k] for k in ("sent", "retried", "failed", "bounced", "skipped", "seconds")}
    )
    summary.errors = list(data.get("errors", []))
    return summary


def run_digests(
    db: Database,
    settings: Settings,
    *,
    edition: date | None = None,
    dry_run: bool = False,
    connections: int = 4,
    composer: Any = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Compose the due editions (or those of ``edition``) and send the outbox; returns both summaries."""
    composer = composer or make_composer(db, settings)
    if dry_run:
        composed = composer.compose(edition_date=edition, dry_run=True)
        return {
            "composed": composed.as_dict(),
            "sample": readable(composed.sample) if composed.sample else None,
        }
    if _can_fork():
        composed, sent = _run_forked(db, settings, composer, edition, connections)
    else:
        composed, sent = _run_threaded(db, settings, composer, edition, connections, on_progress)
    return {"composed": composed, "sent": sent.as_dict(), "errors": sent.errors}


def _run_threaded(
    db: Database,
    settings: Settings,
    composer: Any,
    edition: date | None,
    connections: int,
    on_progress: Callable[[int], None] | None,
) -> tuple[dict[str, Any], SendSummary]:
    box: dict[str, Any] = {}
    composing = threading.Event()
    composing.set()

    def compose() -> None:
        try:
            with _blas_beside_senders():
                box["composed"] = composer.compose(edition_date=edition).as_dict()
        except BaseException as exc:  # noqa: BLE001 — raised below, after the sending stopped
            box["error"] = exc
        finally:
            composing.clear()

    thread = threading.Thread(target=compose, name="digest-compose", daemon=True)
    thread.start()
    sent = Sender(db, settings).run(
        connections=connections, on_progress=on_progress, more_coming=composing.is_set
    )
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["composed"], sent


def _run_forked(
    db: Database, settings: Settings, composer: Any, edition: date | None, connections: int
) -> tuple[dict[str, Any], SendSummary]:
    context = multiprocessing.get_context("fork")
    composing = context.Event()
    composing.set()
    results = context.Queue()

    def compose_child() -> None:
        _die_with_parent()
        db.engine.dispose(close=False)  # the parent's connections stay the parent's
        try:
            with _blas_beside_senders():
                composed = composer.compose(edition_date=edition).as_dict()
            results.put(("composed", "ok", composed))
        except BaseException as exc:  # noqa: BLE001 — reported by the parent
            results.put(("composed", "error", f"{type(exc).__name__}: {exc}"))

    def send_child() -> None:
        _die_with_parent()
        db.engine.dispose(close=False)
        try:
            summary = Sender(db, settings).run(connections=1, more_coming=composing.is_set)
            results.put(("sent", "ok", {**summary.as_dict(), "errors": summary.errors}))
        except BaseException as exc:  # noqa: BLE001
            results.put(("sent", "error", f"{type(exc).__name__}: {exc}"))

    composer_process = context.Process(target=compose_child, name="digest-compose")
    composer_process.start()
    senders = [
        context.Process(target=send_child, name=f"digest-send-{i}") for i in range(max(1, connections))
    ]
    for process in senders:
        process.start()
    composer_process.join()
    composing.clear()
    for process in senders:
        process.join()
    outcomes = [results.get(timeout=10) for _ in range(1 + len(senders))]
    composed: dict[str, Any] | None = None
    sent = SendSummary()
    problems = []
    for kind, status, payload in outcomes:
        if status != "ok":
            problems.append(f"{kind}: {payload}")
        elif kind == "composed":
            composed = payload
        else:
            sent.add(_summary(payload))
            sent.seconds = max(sent.seconds, payload["seconds"])
    if problems or composed is None:
        raise RuntimeError("digest run failed: " + "; ".join(problems or ["the composer gave no answer"]))
    rest = Sender(db, settings).run()  # what a sender that failed left behind, if anything
    sent.add(rest)
    return composed, sent


def readable(message: bytes) -> str:
    """A composed message for people: its headers and its plain-text part, decoded."""
    import email
    import email.policy

    parsed = email.message_from_bytes(message, policy=email.policy.default)
    head = "\n".join(
        f"{k}: {v}" for k, v in parsed.items() if k.lower() not in ("content-type", "mime-version")
    )
    body = parsed.get_body(("plain",))
    return head + "\n\n" + (body.get_content() if body is not None else "")
