"""`dailypapers serve` as a child process on 127.0.0.1: start it, wait until every worker answers, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.browser import free_port


def wait_until_up(base: str, process: subprocess.Popen, log: Path, workers: int) -> None:
    """Until every worker process has started and the site answers."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            started = log.read_text().count("Application startup complete")
            if started >= workers and httpx.get(base + "/api/daily_papers", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"serve did not start:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a person would; killed if it has not ended within 30 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving(log: Path, env: dict[str, str], workers: int = 1) -> Iterator[str]:
    """Run ``dailypapers serve`` on a free port with ``env`` added to this process's environment, its
    log in ``log``; yields the base URL once every worker answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "dailypapers.cli", "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("w") as stderr:
        process = subprocess.Popen(
            command,
            env={**os.environ, "DAILYPAPERS_SITE_URL": base, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_until_up(base, process, log, workers=workers)
        yield base
    finally:
        stop(process)
