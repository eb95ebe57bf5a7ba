"""Security headers on every answer: pages, API, feeds, static files, errors (404, 413, 500 and the CSRF
403), 304s and answers from the response cache; a strict Content-Security-Policy everywhere; the API
docs pages' policy admits the inline styles Swagger UI and ReDoc write, but still no other host and no
inline script."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dailypapers.web.app import create_app
from tests.support.community import LATEST_DAY, PAPER, community_settings, load_papers

POLICY = {
    "default-src": {"'none'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "font-src": {"'self'"},
    "img-src": {"'self'"},
    "connect-src": {"'self'"},
    "form-action": {"'self'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
}
# features a page of this site never uses, each of which must be switched off
UNUSED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb", "browsing-topics")


def parse_csp(value: str) -> dict[str, set[str]]:
    directives: dict[str, set[str]] = {}
    for part in value.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} twice in {value}"
        directives[name] = set(sources)
    return directives


def assert_secured(response, policy: dict[str, set[str]] | None = None) -> None:
    """Every security header is there, once, with its value; the CSP is ``policy`` (default: the site's)."""
    headers = response.headers
    for name in (
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "cross-origin-opener-policy",
        "permissions-policy",
    ):
        assert len(headers.get_list(name)) == 1, (name, headers.get_list(name), response.url)
    assert parse_csp(headers["content-security-policy"]) == (policy or POLICY)
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    features = dict(item.strip().split("=", 1) for item in headers["permissions-policy"].split(","))
    assert all(features.get(name) == "()" for name in UNUSED_FEATURES), features
    assert "strict-transport-security" not in headers  # the test site is served over plain HTTP


@pytest.fixture
def client(settings, db) -> Iterator[TestClient]:
    load_papers(db)
    with TestClient(create_app(community_settings(settings), database=db)) as made:
        yield made


@pytest.mark.parametrize(
    "path",
    [
        "/",
        f"/papers/{PAPER}",
        f"/papers/date/{LATEST_DAY}",
        "/account/login",
        "/api/daily_papers",
        f"/api/papers/{PAPER}",
        "/feeds/daily.atom",
        "/static/style.css",
        "/static/vendor/htmx/htmx.min.js",
        "/openapi.json",
    ],
)
def test_pages_api_answers_feeds_and_static_files_carry_every_header(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_secured(response)


@pytest.mark.parametrize("path", ["/no/such/page", "/api/papers/2101.99999", "/static/missing.css"])
def test_not_found_answers_carry_every_header(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert_secured(response)


@pytest.mark.parametrize("path", ["/api/daily_papers", "/feeds/daily.atom"])
def test_answers_from_the_response_cache_and_its_304s_carry_every_header(client, path):
    first = client.get(path)
    second = client.get(path)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert_secured(second)
    not_modified = client.get(path, headers={"If-None-Match": second.headers["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.headers["x-cache"] == "HIT"
    assert_secured(not_modified)


def test_a_static_file_304_carries_every_header(client):
    etag = client.get("/static/app.js").headers["etag"]
    response = client.get("/static/app.js", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert_secured(response)


def test_the_csrf_refusal_carries_every_header(client):
    response = client.post("/account/login", data={"login": "alice", "password": "x"})
    assert response.status_code == 403
    assert_secured(response)


def test_a_refused_oversized_body_carries_every_header(client):
    response = client.post(
        "/api/auth/login",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert_secured(response)


def test_an_unexpected_server_error_carries_every_header(settings, db):
    app = create_app(community_settings(settings), database=db)

    @app.get("/api/broken")
    def broken() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/broken")
    assert response.status_code == 500
    assert response.json() == {"error": "something went wrong on our side; it has been logged"}
    assert_secured(response)


def test_a_header_the_app_sets_itself_is_not_doubled(client):
    response = client.get(f"/papers/{PAPER}.md")
    assert response.status_code == 200
    assert_secured(response)  # the Markdown route sets X-Content-Type-Options itself


def test_strict_transport_security_only_when_the_site_is_served_over_https(settings, db):
    secure = community_settings(settings, site_url="https://papers.example.org")
    with TestClient(create_app(secure, database=db)) as client:
        for path in ("/", "/api/daily_papers", "/static/style.css"):
            assert client.get(path).headers.get_list("strict-transport-security") == ["max-age=31536000"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_pages_load_from_this_site_only_and_run_no_inline_script(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = parse_csp(response.headers["content-security-policy"])
    assert policy["script-src"] == {"'self'"}  # no inline script, no eval, no CDN
    assert policy["style-src"] == {"'self'", "'unsafe-inline'"}  # the styles Swagger UI and ReDoc write
    assert policy["img-src"] == {"'self'", "data:"}  # Swagger UI's icons
    assert policy["worker-src"] == {"blob:"}  # ReDoc's search runs in a worker made from a blob
    assert all("//" not in source for sources in policy.values() for source in sources), policy
    expected = {name: sources for name, sources in POLICY.items() if name not in ("style-src", "img-src")}
    assert {name: policy[name] for name in expected} == expected
    assert_secured(response, policy)
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", response.text) == []
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert "fonts.googleapis.com" not in response.text


def test_there_is_no_oauth2_redirect_page(client):
    assert client.get("/docs/oauth2-redirect").status_code == 404
