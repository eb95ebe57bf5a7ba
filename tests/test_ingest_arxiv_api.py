"""The arXiv Atom API source: query syntax, feed parsing, and harvesting through a real local HTTP server.

Recorded answers live in tests/data/arxiv_api/. Only the network edge is replaced: a LocalServer serves
the recordings to a real PoliteClient whose sleep and clock are fake, so rate-limit waits are observed
without waiting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from dailypapers.ingest.arxiv_api import FeedPage, build_search_query, harvest, parse_feed
from dailypapers.ingest.http import FetchError
from dailypapers.ingest.records import Checkpoint, PaperRecord, Record, Rejected
from tests.support.harvest import FakeTime, client_for, collect
from tests.support.local_server import LocalServer, Reply, Request

DATA = Path(__file__).parent / "data" / "arxiv_api"
ATOM = "application/atom+xml; charset=utf-8"
QUERY = 'all:attention OR ti:"large N"'
KEY = f"arxiv-api:{QUERY}"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def atom(name: str, status: int = 200) -> Reply:
    return Reply(status, load(name), content_type=ATOM)


def paper_ids(items: Iterable[Record]) -> list[str]:
    return [r.arxiv_id for r in items if isinstance(r, PaperRecord)]


def paging(pages: dict[str, Callable[[], Reply]]) -> Callable[[Request], Reply]:
    def respond(req: Request) -> Reply:
        return pages[req.arg("start") or "0"]()

    return respond


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


# --- build_search_query ---------------------------------------------------------------------------------


def test_build_search_query_combines_text_categories_and_dates() -> None:
    query = build_search_query("diffusion", ["cs.CL", "cs.LG"], date(2025, 1, 1), date(2025, 1, 31))
    assert query == (
        'all:"diffusion" AND (cat:cs.CL OR cat:cs.LG) AND submittedDate:[202501010000 TO 202501312359]'
    )


def test_build_search_query_single_parts_and_open_date_ranges() -> None:
    assert build_search_query(categories=["cs.CL"]) == "cat:cs.CL"
    assert build_search_query(categories=["cs.CL", "cs.CL", " "]) == "cat:cs.CL"
    assert build_search_query(categories="hep-th") == "cat:hep-th"
    assert build_search_query('large  "language"\n models') == 'all:"large language models"'
    assert build_search_query(since=date(2025, 1, 1)) == "submittedDate:[202501010000 TO 209912312359]"
    assert build_search_query(until=date(2007, 4, 2)) == "submittedDate:[199107010000 TO 200704022359]"


def test_build_search_query_keeps_fielded_queries_and_brackets_them() -> None:
    assert build_search_query("ti:transformer AND au:vaswani") == "ti:transformer AND au:vaswani"
    assert (
        build_search_query("ti:transformer OR abs:attention", ["cs.CL"])
        == "(ti:transformer OR abs:attention) AND cat:cs.CL"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"search": "   ", "categories": []},
        {"categories": ["cs CL"]},
        {"categories": ['cs.CL" OR all:"x']},
        {"since": date(2025, 2, 1), "until": date(2025, 1, 1)},
    ],
)
def test_build_search_query_rejects_empty_or_malformed_input(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        build_search_query(**kwargs)


# --- parse_feed -----------------------------------------------------------------------------------------


def test_parse_feed_maps_every_field_record_by_record() -> None:
    page = parse_feed(load("search_page1.xml"))
    assert (page.total_results, page.start_index, page.items_per_page) == (3, 0, 2)
    maldacena, vaswani = page.records
    assert isinstance(maldacena, PaperRecord) and isinstance(vaswani, PaperRecord)

    assert dataclasses.replace(maldacena, abstract=None) == PaperRecord(
        arxiv_id="hep-th/9711200",
        version=3,
        title="The Large N Limit of Superconformal Field Theories and Supergravity",
        authors=["Juan M. Maldacena"],
        categories=["hep-th"],
        primary_category="hep-th",
        published_at=utc(1997, 11, 27, 23, 59, 35),
        updated_at=utc(1998, 1, 22, 21, 49, 13),
        comments="20 pages, harvmac, v2: section on AdS_2 corrected, references added, v3: More references "
        "and a sign in eqns 2.8 and 2.9 corrected",
        journal_ref="Adv.Theor.Math.Phys.2:231-252,1998",
        doi="10.1023/A:1026654312961",
    )
    assert maldacena.abstract is not None
    assert maldacena.abstract.startswith("We show that the large N limit of certain conformal field theories")
    assert maldacena.abstract.endswith("a new method for proving dualities among field theories.")

    assert dataclasses.replace(vaswani, abstract=None) == PaperRecord(
        arxiv_id="1706.03762",
        version=7,
        title="Attention Is All You Need",
        authors=[
            "Ashish Vaswani",
            "Noam Shazeer",
            "Niki Parmar",
            "Jakob Uszkoreit",
            "Llion Jones",
            "Aidan N. Gomez",
            "Lukasz Kaiser",
            "Illia Polosukhin",
        ],
        categories=["cs.CL", "cs.LG"],
        primary_category="cs.CL",
        published_at=utc(2017, 6, 12, 17, 57, 34),
        updated_at=utc(2023, 8, 2, 0, 41, 18),
        comments="15 pages, 5 figures",
    )
    assert vaswani.abstract is not None and vaswani.abstract.startswith("The dominant sequence transduction")
    assert vaswani.license is None  # the Atom API does not carry licenses


def test_parse_feed_unwraps_titles_and_finds_code_url_in_comments() -> None:
    page = parse_feed(load("search_page2.xml"))
    (vit,) = page.records
    assert isinstance(vit, PaperRecord)
    assert vit.arxiv_id == "2010.11929" and vit.version == 2
    assert vit.title == "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale"
    assert vit.code_url == "https://github.com/google-research/vision_transformer"
    assert vit.categories == ["cs.CV", "cs.AI", "cs.LG"] and vit.primary_category == "cs.CV"
    assert len(vit.authors) == 12
    assert vit.authors[0] == "Alexey Dosovitskiy" and vit.authors[-1] == "Neil Houlsby"
    assert vit.abstract is not None and "\n" not in vit.abstract


def test_parse_feed_reads_doi_from_link_and_version_from_pdf_link() -> None:
    xml = load("search_page1.xml")
    xml = xml.replace(b"<arxiv:doi>10.1023/A:1026654312961</arxiv:doi>", b"")
    xml = xml.replace(b"/abs/hep-th/9711200v3</id>", b"/abs/hep-th/9711200</id>")
    maldacena = parse_feed(xml).records[0]
    assert isinstance(maldacena, PaperRecord)
    assert maldacena.doi == "10.1023/A:1026654312961"
    assert maldacena.version == 3


def test_parse_feed_puts_a_primary_category_missing_from_the_categories_first() -> None:
    cv = b'<category term="cs.CV" scheme="http://arxiv.org/schemas/atom"/>'
    xml = load("search_page2.xml").replace(cv, b"")
    vit = parse_feed(xml).records[0]
    assert isinstance(vit, PaperRecord)
    assert vit.primary_category == "cs.CV" and vit.categories == ["cs.CV", "cs.AI", "cs.LG"]


def test_parse_feed_rejects_broken_entries_and_keeps_the_others() -> None:
    page = parse_feed(load("broken_entries.xml"), url="http://example.test/api/query?start=0")
    where = "http://example.test/api/query?start=0"
    assert [type(r) for r in page.records] == [Rejected, PaperRecord, Rejected, Rejected]
    no_id, chizat, bad_id, bad_date = page.records
    assert no_id == Rejected(position=f"{where} entry 1", reason="entry has no <id>")
    assert isinstance(bad_id, Rejected) and bad_id.position == f"{where} entry 3"
    assert "2513.00001" in bad_id.reason
    assert isinstance(bad_date, Rejected) and bad_date.position == f"{where} entry 4"
    assert "1805.09546" in bad_date.reason and "yesterday" in bad_date.reason

    assert isinstance(chizat, PaperRecord)
    assert chizat.arxiv_id == "1805.09545" and chizat.version == 2
    assert chizat.authors == ["Lénaïc Chizat", "Francis Bach"]
    assert chizat.title == (
        "On the Global Convergence of Gradient Descent for Over-parameterized Models using Optimal Transport"
    )
    assert chizat.comments == (
        "Advances in Neural Information Processing Systems (NIPS), Dec 2018, Montréal, Canada"
    )
    assert chizat.categories == ["math.OC", "cs.NE", "stat.ML"] and chizat.primary_category == "math.OC"
    assert chizat.published_at == utc(2018, 5, 24, 8, 0, 49)


def test_parse_feed_positions_default_to_feed() -> None:
    assert parse_feed(load("broken_entries.xml")).records[0] == Rejected("feed entry 1", "entry has no <id>")


def test_parse_feed_raises_the_error_entry_message() -> None:
    with pytest.raises(FetchError, match="incorrect id format for 1234.12345"):
        parse_feed(load("error_entry.xml"))


def test_parse_feed_empty_page_and_no_results() -> None:
    empty = FeedPage(records=[], total_results=3, start_index=2, items_per_page=2)
    assert parse_feed(load("empty_page.xml")) == empty
    assert parse_feed(load("no_results.xml")).total_results == 0


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Rate exceeded.</body></html>",
        b"Service Unavailable",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>no counts</title></feed>',
    ],
)
def test_parse_feed_raises_on_answers_that_are_not_a_usable_feed(body: bytes) -> None:
    with pytest.raises(FetchError):
        parse_feed(body)


# --- harvest --------------------------------------------------------------------------------------------

TWO_PAGES = {"0": lambda: atom("search_page1.xml"), "2": lambda: atom("search_page2.xml")}


def test_harvest_walks_pages_with_checkpoints_and_rate_limit(fake_time: FakeTime) -> None:
    with LocalServer(paging(TWO_PAGES)) as server, client_for(fake_time) as client:
        items = list(harvest(client, QUERY, base_url=server.url + "/api/query", page_size=2))

    assert paper_ids(items) == ["hep-th/9711200", "1706.03762", "2010.11929"]
    assert [type(r) for r in items] == [PaperRecord, PaperRecord, Checkpoint, PaperRecord, Checkpoint]
    assert items[2] == Checkpoint(key=KEY, state={"start": 2})
    assert items[4] == Checkpoint(key=KEY, state={"start": 3}, done=True)
    assert [r.path for r in server.requests] == ["/api/query", "/api/query"]
    assert [r.query for r in server.requests] == [
        {
            "search_query": [QUERY],
            "start": [s],
            "max_results": ["2"],
            "sortBy": ["submittedDate"],
            "sortOrder": ["ascending"],
        }
        for s in ("0", "2")
    ]
    assert fake_time.sleeps == [pytest.approx(3.0)]  # one wait of min_interval between the two requests


def test_harvest_resumes_from_a_saved_checkpoint(fake_time: FakeTime) -> None:
    with LocalServer(paging(TWO_PAGES)) as server, client_for(fake_time) as client:
        url = server.url + "/api/query"
        saved = None
        for item in harvest(client, QUERY, base_url=url, page_size=2):
            if isinstance(item, Checkpoint):
                saved = item  # the import is killed right after committing its first checkpoint
                break
        assert saved == Checkpoint(key=KEY, state={"start": 2})
        first_run = len(server.requests)

        resumed = list(harvest(client, QUERY, base_url=url, page_size=2, state=saved.state))

    assert first_run == 1
    assert server.requests[1].arg("start") == "2"
    assert paper_ids(resumed) == ["2010.11929"]
    assert resumed[-1] == Checkpoint(key=KEY, state={"start": 3}, done=True)


def test_harvest_retries_an_empty_page_before_the_end(fake_time: FakeTime) -> None:
    replies = iter([atom("empty_page.xml"), atom("empty_page.xml"), atom("search_page2.xml")])
    pages = {"0": lambda: atom("search_page1.xml"), "2": lambda: next(replies)}
    with LocalServer(paging(pages)) as server, client_for(fake_time) as client:
        items = list(harvest(client, QUERY, base_url=server.url + "/api/query", page_size=2))

    assert [r.arg("start") for r in server.requests] == ["0", "2", "2", "2"]
    assert paper_ids(items) == ["hep-th/9711200", "1706.03762", "2010.11929"]
    assert items[-1] == Checkpoint(key=KEY, state={"start": 3}, done=True)
    assert fake_time.sleeps == [pytest.approx(3.0)] * 3  # retries go through the rate limit too


def test_harvest_stops_with_a_clear_error_when_the_page_stays_empty(fake_time: FakeTime) -> None:
    pages = {"0": lambda: atom("search_page1.xml"), "2": lambda: atom("empty_page.xml")}
    with LocalServer(paging(pages)) as server, client_for(fake_time) as client:
        items, error = collect(
            harvest(client, QUERY, base_url=server.url + "/api/query", page_size=2, empty_page_retries=3)
        )

    assert [r.arg("start") for r in server.requests] == ["0", "2", "2", "2", "2"]
    assert isinstance(error, FetchError)
    assert "empty page" in str(error) and "start=2" in str(error) and "totalResults=3" in str(error)
    assert items[-1] == Checkpoint(key=KEY, state={"start": 2})  # the first page is safe to commit


def test_harvest_raises_the_error_entry_instead_of_importing_it(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: atom("error_entry.xml")) as server, client_for(fake_time) as client:
        items, error = collect(harvest(client, "id:1234.12345", base_url=server.url + "/api/query"))

    assert items == []
    assert isinstance(error, FetchError) and "incorrect id format for 1234.12345" in str(error)
    assert len(server.requests) == 1


def test_harvest_does_not_retry_an_error_entry_sent_with_http_400(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: atom("error_entry.xml", 400)) as server, client_for(fake_time) as client:
        items, error = collect(harvest(client, "id:1234.12345", base_url=server.url + "/api/query"))

    assert items == []
    assert isinstance(error, FetchError) and error.status == 400
    assert "incorrect id format for 1234.12345" in str(error)  # arXiv's own words reach the user
    assert len(server.requests) == 1


def test_harvest_waits_out_a_503_with_retry_after(fake_time: FakeTime) -> None:
    replies = iter([Reply(503, "busy", headers={"Retry-After": "7"}), atom("search_page1.xml")])
    pages = {"0": lambda: next(replies), "2": lambda: atom("search_page2.xml")}
    with LocalServer(paging(pages)) as server, client_for(fake_time) as client:
        items = list(harvest(client, QUERY, base_url=server.url + "/api/query", page_size=2))

    assert [r.arg("start") for r in server.requests] == ["0", "0", "2"]
    assert paper_ids(items) == ["hep-th/9711200", "1706.03762", "2010.11929"]
    assert fake_time.sleeps == [pytest.approx(7.0), pytest.approx(3.0)]


def test_harvest_of_a_query_without_results_is_done_at_once(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: atom("no_results.xml")) as server, client_for(fake_time) as client:
        items = list(harvest(client, "all:xqzjwqvxnonexistentterm", base_url=server.url + "/api/query"))

    assert items == [Checkpoint(key="arxiv-api:all:xqzjwqvxnonexistentterm", state={"start": 0}, done=True)]
    assert server.requests[0].arg("max_results") == "100"


def test_harvest_max_results_bounds_the_harvest_across_resumes(fake_time: FakeTime) -> None:
    with LocalServer(paging(TWO_PAGES)) as server, client_for(fake_time) as client:
        url = server.url + "/api/query"
        items = list(harvest(client, QUERY, base_url=url, max_results=2))
        again = list(harvest(client, QUERY, base_url=url, max_results=2, state={"start": 2}))

    assert server.requests[0].arg("max_results") == "2"
    assert len(server.requests) == 1
    assert paper_ids(items) == ["hep-th/9711200", "1706.03762"]
    assert items[-1] == Checkpoint(key=KEY, state={"start": 2}, done=True)
    assert again == [Checkpoint(key=KEY, state={"start": 2}, done=True)]


def test_harvest_reports_broken_entries_at_the_request_url(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: atom("broken_entries.xml")) as server, client_for(fake_time) as client:
        items = list(harvest(client, "au:chizat", base_url=server.url + "/api/query", page_size=4))

    rejected = [r for r in items if isinstance(r, Rejected)]
    assert len(rejected) == 3
    assert rejected[0].position.startswith(server.url + "/api/query?")
    assert rejected[0].position.endswith(" entry 1") and "start=0" in rejected[0].position
    assert items[-1] == Checkpoint(key="arxiv-api:au:chizat", state={"start": 4}, done=True)


def test_harvest_turns_a_404_into_fetch_error(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: Reply(404, "Not Found")) as server, client_for(fake_time) as client:
        _, error = collect(harvest(client, QUERY, base_url=server.url + "/api/query"))
    assert isinstance(error, FetchError) and error.status == 404


def test_harvest_refuses_a_client_faster_than_arxiv_allows(fake_time: FakeTime) -> None:
    with client_for(fake_time, min_interval=1.0) as client:
        with pytest.raises(ValueError, match="3 s"):
            harvest(client, QUERY)  # checked at call time, before any request
        with pytest.raises(ValueError, match="3 s"):
            harvest(client, QUERY, base_url="http://export.arxiv.org/api/query")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"state": {"start": -1}},
        {"state": {"start": "2"}},
        {"page_size": 0},
        {"page_size": 2001},
        {"max_results": -1},
        {"empty_page_retries": -1},
    ],
)
def test_harvest_checks_its_arguments_at_call_time(fake_time: FakeTime, kwargs: dict) -> None:
    with client_for(fake_time) as client:
        with pytest.raises(ValueError):
            harvest(client, QUERY, base_url="http://127.0.0.1:9/api/query", **kwargs)
    assert fake_time.sleeps == []


def test_a_feed_declaring_entities_is_refused_unexpanded():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x "xxxxxxxxxxxxxxxx">'
        b'<!ENTITY y "&x;&x;&x;&x;&x;&x;&x;&x;">]>'
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&y;</title></feed>'
    )
    with pytest.raises(FetchError, match="declares XML entities"):
        parse_feed(bomb, url="https://export.arxiv.org/api/query")
