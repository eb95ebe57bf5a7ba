"""User input cannot multiply the size of an SQL statement: a repeatable filter takes at most 20 values
(a clear 400 naming it, on the API, the pages and the feeds), a query string at most 8 KiB (414), and the
search box keeps at most 32 of its words and filters."""

from __future__ import annotations

import itertools
import string
from typing import Any
from urllib.parse import urlencode

import pytest

from dailypapers.search.query import MAX_CLAUSES, parse_query
from dailypapers.web.guards import MAX_QUERY_BYTES, MAX_VALUES_PER_PARAMETER
from tests.support.community import clients, community_settings, load_papers

SEARCHES = {"api": "/api/papers/search", "page": "/papers", "feed": "/feeds/search.atom"}


@pytest.fixture
def client(settings, db) -> Any:
    load_papers(db)
    with clients(community_settings(settings), db) as made:
        yield made.new().client


def short_names(n: int) -> list[str]:
    """``n`` distinct valid arXiv-like category names of two or three letters (``aa``, ``ab``, …)."""
    letters = string.ascii_lowercase
    names = ["".join(p) for size in (2, 3) for p in itertools.product(letters, repeat=size)]
    return names[:n]


def assert_refused(response: Any, where: str, status: int, *words: str) -> None:
    assert response.status_code == status, response.text[:300]
    if where == "page":
        assert response.headers["content-type"].startswith("text/html")
        text = response.text
    else:
        text = response.json()["error"]
    for word in words:
        assert word in text


@pytest.mark.parametrize("where", SEARCHES)
@pytest.mark.parametrize("name", ["category", "organization"])
def test_a_thousand_filter_values_are_a_400_naming_the_parameter(client, where, name):
    query = urlencode([("q", "model")] + [(name, value) for value in short_names(1000)])
    assert_refused(client.get(f"{SEARCHES[where]}?{query}"), where, 400, name, "at most 20")


@pytest.mark.parametrize("where", SEARCHES)
def test_comma_separated_values_count_one_by_one(client, where):
    too_many = ",".join(short_names(MAX_VALUES_PER_PARAMETER + 1))
    response = client.get(f"{SEARCHES[where]}?{urlencode({'q': 'model', 'category': too_many})}")
    assert_refused(response, where, 400, "category", f"at most {MAX_VALUES_PER_PARAMETER}", "got 21")


@pytest.mark.parametrize("where", SEARCHES)
def test_twenty_values_of_each_filter_still_search(client, where):
    names = short_names(MAX_VALUES_PER_PARAMETER)
    query = urlencode(
        [("q", "model cat:cs")] + [("category", n) for n in names] + [("organization", n) for n in names]
    )
    assert client.get(f"{SEARCHES[where]}?{query}").status_code == 200
    one_more = urlencode([("q", "model")] + [("category", n) for n in short_names(21)])
    assert client.get(f"{SEARCHES[where]}?{one_more}").status_code == 400


def test_any_repeated_parameter_is_capped(client):
    response = client.get("/api/daily_papers?" + "&".join(["date=2026-06-30"] * 1000))
    assert_refused(response, "api", 400, "date", "at most 20 values, got 1000")


@pytest.mark.parametrize("where", SEARCHES)
def test_a_query_string_over_8_kib_is_a_414(client, where):
    response = client.get(f"{SEARCHES[where]}?q={'a' * (MAX_QUERY_BYTES + 1)}")
    assert_refused(response, where, 414, "too long", "8,192")


@pytest.mark.parametrize(("field", "count"), [("cat", 1000), ("org", 1000), ("author", 700)])
def test_a_search_box_full_of_filters_is_bounded(client, field, count):
    text = " ".join(f"{field}:{name}" for name in short_names(count))
    parsed = parse_query(text)
    assert len(parsed.categories + parsed.organizations + parsed.authors) == MAX_CLAUSES
    fits = urlencode({"q": text}, safe=":")
    assert len(fits) < MAX_QUERY_BYTES  # about 7 kB: 1,000 filters reach the parser, which keeps 32
    for where, path in SEARCHES.items():
        response = client.get(f"{path}?{fits}")
        assert response.status_code == 200, (where, response.text[:300])
    longer = urlencode({"q": " ".join(f"{field}:{name}" for name in short_names(1000))})  # ':' as %3A
    assert_refused(client.get(f"/api/papers/search?{longer}"), "api", 414, "too long")
