"""The request body limit (``max_body_bytes``, 1 MiB by default) on every route: a declared Content-Length
over it gets 413 before anything is read or any route runs; a chunked body is counted as it streams and
cut off with 413 the moment it passes the limit, in process and on a live uvicorn, which then closes the
connection instead of reading the rest."""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select as sql_select

from dailypapers.store.models import User
from dailypapers.web.app import create_app
from tests.support.browser import free_port
from tests.support.community import PASSWORD, community_settings

MIB = 1024 * 1024
CHUNK = 64 * 1024


def users(db) -> int:
    with db.session() as session:
        return session.scalar(sql_select(func.count()).select_from(User))


def registration(size: int) -> bytes:
    """A valid registration, padded with an ignored field to exactly ``size`` bytes of JSON."""
    body = {"username": "padded", "email": "padded@example.org", "password": PASSWORD, "pad": ""}
    short = len(json.dumps(body).encode())
    body["pad"] = "x" * (size - short)
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


@pytest.fixture
def app(settings, db) -> Any:
    return create_app(community_settings(settings), database=db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as made:
        yield made


def test_the_limit_is_one_mib_by_default(settings):
    assert settings.max_body_bytes == MIB


def test_a_2_mib_json_post_gets_413_and_the_route_never_runs(client, db):
    response = client.post(
        "/api/auth/register", content=registration(2 * MIB), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"error": f"request body too large: at most {MIB} bytes are accepted"}
    assert response.headers["connection"] == "close"
    assert users(db) == 0


def test_a_chunked_body_over_the_limit_gets_413_and_the_route_never_runs(client, db):
    body = registration(2 * MIB)
    chunks = (body[i : i + CHUNK] for i in range(0, len(body), CHUNK))
    response = client.post("/api/auth/register", content=chunks, headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert "request body too large" in response.json()["error"]
    assert users(db) == 0


def test_a_body_at_the_limit_is_accepted_and_one_byte_more_is_refused(client, db):
    refused = client.post(
        "/api/auth/register", content=registration(MIB + 1), headers={"content-type": "application/json"}
    )
    assert refused.status_code == 413
    assert users(db) == 0
    accepted = client.post(
        "/api/auth/register", content=registration(MIB), headers={"content-type": "application/json"}
    )
    assert accepted.status_code == 201, accepted.text
    assert users(db) == 1


def test_a_chunked_form_over_the_limit_gets_413_from_the_csrf_check_without_an_error_logged(client, caplog):
    chunks = (b"a" * CHUNK for _ in range(2 * MIB // CHUNK))
    with caplog.at_level(logging.WARNING):
        response = client.post(
            "/account/login", content=chunks, headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert response.status_code == 413
    assert "request body too large" in response.json()["error"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_the_csrf_check_reads_forms_up_to_the_setting(settings, db):
    app = create_app(community_settings(settings, max_body_bytes=4 * MIB), database=db)
    with TestClient(app) as client:
        response = client.post(
            "/account/login",
            content=b"login=a&pad=" + b"x" * (2 * MIB),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 403  # read whole, then refused for its missing token, not its size
    assert "expired" in response.json()["error"]


class Stream:
    """An ASGI ``receive`` that hands over ``total`` bytes in ``CHUNK``-byte messages, counting them."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.handed = 0

    async def __call__(self) -> dict[str, Any]:
        size = min(CHUNK, self.total - self.handed)
        self.handed += size
        return {"type": "http.request", "body": b"x" * size, "more_body": self.handed < self.total}


def call(app: Any, path: str, headers: list[tuple[bytes, bytes]], receive: Any) -> list[dict[str, Any]]:
    """Run one request through the ASGI app and return what it sent."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    return sent


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(app):
    stream = Stream(2 * MIB)
    sent = call(
        app,
        "/api/auth/register",
        [(b"content-type", b"application/json"), (b"content-length", str(2 * MIB).encode())],
        stream,
    )
    assert sent[0]["status"] == 413
    assert stream.handed == 0


def test_a_50_mib_stream_is_cut_off_one_chunk_past_the_limit(app, db):
    stream = Stream(50 * MIB)
    sent = call(app, "/api/auth/register", [(b"content-type", b"application/json")], stream)
    assert sent[0]["status"] == 413
    assert stream.handed <= MIB + CHUNK
    assert users(db) == 0


class Counting:
    """Wraps an ASGI app and counts the request body bytes the server hands to it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received = 0
        self.largest = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            size = len(message.get("body", b""))
            self.received += size
            self.largest = max(self.largest, size)
            return message

        await self.app(scope, counted if scope["type"] == "http" else receive, send)


@contextmanager
def uvicorn_serving(app: Any) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def read_until_closed(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection, and whether it did close it."""
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        except TimeoutError:
            return data, False
        if not piece:
            return data, True
        data += piece


def test_a_live_server_answers_413_to_a_50_mib_chunked_upload_and_closes_the_connection(app, db):
    counting = Counting(app)
    frame = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
    sent = 0
    with uvicorn_serving(counting) as port, socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        while sent < 50 * MIB:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered before the body ended
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        else:
            sock.sendall(b"0\r\n\r\n")
        answer, closed = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"request body too large" in answer
    assert closed
    assert MIB < counting.received <= MIB + counting.largest
    assert sent < 50 * MIB
    assert users(db) == 0
