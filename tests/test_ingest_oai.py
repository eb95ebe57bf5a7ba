"""The OAI-PMH (arXivRaw) source: page parsing, and harvesting through a real local HTTP server.

Recorded answers live in tests/data/oai/. Only the network edge is replaced: a LocalServer serves the
recordings to a real PoliteClient whose sleep and clock are fake, so rate-limit and Retry-After waits are
observed without waiting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from dailypapers.ingest.http import FetchError
from dailypapers.ingest.oai import OaiPage, harvest, parse_list_records
from dailypapers.ingest.records import Checkpoint, DeletedRecord, PaperRecord, Rejected
from tests.support.harvest import FakeTime, client_for, collect
from tests.support.local_server import LocalServer, Reply, Request

DATA = Path(__file__).parent / "data" / "oai"
XML = "text/xml; charset=utf-8"
TOKEN = "6960524|1001"
KEY = "oai:*:2023-08-01:2023-08-03"
NONEXCLUSIVE = "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def oai(name: str, status: int = 200) -> Reply:
    return Reply(status, load(name), content_type=XML)


def by_token(pages: dict[str | None, Callable[[], Reply]]) -> Callable[[Request], Reply]:
    def respond(req: Request) -> Reply:
        return pages[req.arg("resumptionToken")]()

    return respond


TWO_PAGES: dict[str | None, Callable[[], Reply]] = {
    None: lambda: oai("list_page1.xml"),
    TOKEN: lambda: oai("list_page2.xml"),
}
FIRST_QUERY = {
    "verb": ["ListRecords"],
    "metadataPrefix": ["arXivRaw"],
    "from": ["2023-08-01"],
    "until": ["2023-08-03"],
}
NEXT_QUERY = {"verb": ["ListRecords"], "resumptionToken": [TOKEN]}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


# --- parse_list_records ---------------------------------------------------------------------------------


def test_parse_first_page_maps_every_arxivraw_field() -> None:
    page = parse_list_records(load("list_page1.xml"))
    assert (page.resumption_token, page.complete_list_size) == (TOKEN, 5)
    balazs, vaswani = page.records
    assert isinstance(balazs, PaperRecord) and isinstance(vaswani, PaperRecord)

    assert dataclasses.replace(balazs, abstract=None) == PaperRecord(
        arxiv_id="0704.0001",
        version=2,
        title="Calculation of prompt diphoton production cross sections at Tevatron and LHC energies",
        authors=["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"],
        categories=["hep-ph"],
        primary_category="hep-ph",
        published_at=utc(2007, 4, 2, 19, 18, 42),
        updated_at=utc(2007, 7, 24, 20, 10, 27),
        version_dates={1: utc(2007, 4, 2, 19, 18, 42), 2: utc(2007, 7, 24, 20, 10, 27)},
        comments="37 pages, 15 figures; published version",
        journal_ref="Phys.Rev.D76:013009,2007",
        doi="10.1103/PhysRevD.76.013009",
        license=None,
    )
    assert balazs.abstract is not None and "\n" not in balazs.abstract
    assert balazs.abstract.startswith("A fully differential calculation in perturbative quantum")
    assert balazs.abstract.endswith("judicious selection of events.")

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
        published_at=utc(2017, 6, 12, 17, 57, 34),  # v1
        updated_at=utc(2023, 8, 2, 0, 41, 18),  # v7
        version_dates={
            1: utc(2017, 6, 12, 17, 57, 34),
            2: utc(2017, 6, 19, 16, 49, 45),
            3: utc(2017, 6, 20, 5, 20, 2),
            4: utc(2017, 6, 30, 17, 29, 30),
            5: utc(2017, 12, 6, 3, 30, 32),
            6: utc(2023, 7, 24, 0, 48, 54),
            7: utc(2023, 8, 2, 0, 41, 18),
        },
        comments="15 pages, 5 figures",
        license=NONEXCLUSIVE,
    )


def test_parse_last_page_old_id_deletion_wrapped_authors_and_code_url() -> None:
    page = parse_list_records(load("list_page2.xml"))
    assert (page.resumption_token, page.complete_list_size) == (None, 5)  # empty token element: the end
    maldacena, deleted, vit = page.records

    assert isinstance(maldacena, PaperRecord)
    assert maldacena.arxiv_id == "hep-th/9711200" and maldacena.version == 3
    assert maldacena.authors == ["Juan M. Maldacena"]  # the affiliation in parentheses is dropped
    assert maldacena.published_at == utc(1997, 11, 27, 23, 59, 35)
    assert maldacena.updated_at == utc(1998, 1, 22, 21, 49, 13)
    assert maldacena.journal_ref == "Adv.Theor.Math.Phys.2:231-252,1998"
    assert maldacena.doi == "10.1023/A:1026654312961"
    assert maldacena.comments == (
        "20 pages, harvmac, v2: section on AdS_2 corrected, references added, v3: More references and a sign "
        "in eqns 2.8 and 2.9 corrected"
    )
    assert maldacena.code_url is None

    assert deleted == DeletedRecord(arxiv_id="math/0309136")

    assert isinstance(vit, PaperRecord)
    assert vit.arxiv_id == "2010.11929" and vit.version == 2
    assert vit.title == "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale"
    assert vit.authors == [
        "Alexey Dosovitskiy",
        "Lucas Beyer",
        "Alexander Kolesnikov",
        "Dirk Weissenborn",
        "Xiaohua Zhai",
        "Thomas Unterthiner",
        "Mostafa Dehghani",
        "Matthias Minderer",
        "Georg Heigold",
        "Sylvain Gelly",
        "Jakob Uszkoreit",
        "Neil Houlsby",
    ]  # "Georg\n  Heigold" is wrapped mid-name in the raw record
    assert vit.categories == ["cs.CV", "cs.AI", "cs.LG"] and vit.primary_category == "cs.CV"
    assert vit.code_url == "https://github.com/google-research/vision_transformer"
    assert vit.comments is not None and vit.comments.startswith("Fine-tuning code and pre-trained models are")
    assert "\n" not in vit.comments
    assert vit.license == NONEXCLUSIVE


def test_parse_no_records_match_is_an_empty_page() -> None:
    assert parse_list_records(load("no_records.xml")) == OaiPage(
        records=[], resumption_token=None, complete_list_size=0
    )


def test_parse_other_oai_errors_raise_with_code_and_message() -> None:
    with pytest.raises(FetchError, match="badResumptionToken.*invalid or expired"):
        parse_list_records(load("bad_token.xml"))
    bad_argument = load("no_records.xml").replace(b'code="noRecordsMatch"', b'code="badArgument"')
    with pytest.raises(FetchError, match="badArgument"):
        parse_list_records(bad_argument)


def test_parse_rejects_broken_records_and_keeps_the_others() -> None:
    page = parse_list_records(load("broken_records.xml"), url="http://example.test/oai?verb=ListRecords")
    where = "http://example.test/oai?verb=ListRecords"
    assert (page.resumption_token, page.complete_list_size) == (None, None)  # no token element at all
    assert [type(r) for r in page.records] == [Rejected, PaperRecord, Rejected, Rejected]
    bad_id, streinu, bad_date, no_title = page.records
    assert isinstance(bad_id, Rejected) and bad_id.position == f"{where} record 1"
    assert "0713.0001" in bad_id.reason
    assert isinstance(bad_date, Rejected) and bad_date.position == f"{where} record 3"
    assert "0704.0003" in bad_date.reason and "a while ago" in bad_date.reason
    assert no_title == Rejected(position=f"{where} record 4", reason="0704.0004: record has no <title>")

    assert isinstance(streinu, PaperRecord)
    assert streinu.arxiv_id == "0704.0002" and streinu.version == 2
    assert streinu.authors == ["Ileana Streinu", "Louis Theran"]
    assert streinu.categories == ["math.CO", "cs.CG"] and streinu.primary_category == "math.CO"
    assert streinu.published_at == utc(2007, 3, 31, 2, 26, 18)
    assert streinu.updated_at == utc(2008, 12, 13, 17, 26, 0)


def test_parse_positions_default_to_response() -> None:
    first = parse_list_records(load("broken_records.xml")).records[0]
    assert isinstance(first, Rejected) and first.position == "response record 1"


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"not xml at all",
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>x</responseDate></OAI-PMH>',
    ],
)
def test_parse_raises_on_answers_that_are_not_list_records(body: bytes) -> None:
    with pytest.raises(FetchError):
        parse_list_records(body)


# --- harvest --------------------------------------------------------------------------------------------


def test_harvest_follows_the_resumption_token_with_checkpoints(fake_time: FakeTime) -> None:
    with LocalServer(by_token(TWO_PAGES)) as server, client_for(fake_time) as client:
        items = list(
            harvest(client, base_url=server.url + "/oai", from_=date(2023, 8, 1), until=date(2023, 8, 3))
        )

    assert [type(r) for r in items] == [
        PaperRecord,
        PaperRecord,
        Checkpoint,
        PaperRecord,
        DeletedRecord,
        PaperRecord,
        Checkpoint,
    ]
    assert [r.arxiv_id for r in items if isinstance(r, PaperRecord | DeletedRecord)] == [
        "0704.0001",
        "1706.03762",
        "hep-th/9711200",
        "math/0309136",
        "2010.11929",
    ]
    assert items[2] == Checkpoint(key=KEY, state={"resumption_token": TOKEN})
    assert items[-1] == Checkpoint(key=KEY, state={"resumption_token": None}, done=True)
    assert [r.path for r in server.requests] == ["/oai", "/oai"]
    assert server.requests[0].query == FIRST_QUERY
    assert server.requests[1].query == NEXT_QUERY  # only the verb and the token
    assert fake_time.sleeps == [pytest.approx(3.0)]  # one min_interval wait between the two requests


def test_harvest_resumes_from_a_saved_token(fake_time: FakeTime) -> None:
    with LocalServer(by_token(TWO_PAGES)) as server, client_for(fake_time) as client:
        url = server.url + "/oai"
        saved = None
        for item in harvest(client, base_url=url, from_=date(2023, 8, 1), until=date(2023, 8, 3)):
            if isinstance(item, Checkpoint):
                saved = item  # the import is killed right after committing its first checkpoint
                break
        assert saved is not None and saved.state == {"resumption_token": TOKEN}

        resumed = list(
            harvest(client, base_url=url, from_=date(2023, 8, 1), until=date(2023, 8, 3), state=saved.state)
        )

    assert len(server.requests) == 2
    assert server.requests[1].query == NEXT_QUERY  # the resumed run starts at the token
    assert [r.arxiv_id for r in resumed if isinstance(r, PaperRecord)] == ["hep-th/9711200", "2010.11929"]
    assert resumed[-1] == Checkpoint(key=KEY, state={"resumption_token": None}, done=True)


def test_harvest_with_a_finished_state_starts_over(fake_time: FakeTime) -> None:
    with LocalServer(by_token(TWO_PAGES)) as server, client_for(fake_time) as client:
        items = list(
            harvest(
                client,
                base_url=server.url + "/oai",
                from_=date(2023, 8, 1),
                until=date(2023, 8, 3),
                state={"resumption_token": None},
            )
        )
    assert server.requests[0].query == FIRST_QUERY
    assert items[-1].done  # type: ignore[union-attr]


def test_harvest_waits_out_oai_flow_control_503(fake_time: FakeTime) -> None:
    first = iter([Reply(503, "Retry after 5 seconds", headers={"Retry-After": "5"}), oai("list_page1.xml")])
    pages = {**TWO_PAGES, None: lambda: next(first)}
    with LocalServer(by_token(pages)) as server, client_for(fake_time) as client:
        items = list(
            harvest(client, base_url=server.url + "/oai", from_=date(2023, 8, 1), until=date(2023, 8, 3))
        )

    assert [r.query for r in server.requests] == [FIRST_QUERY, FIRST_QUERY, NEXT_QUERY]
    assert fake_time.sleeps == [pytest.approx(5.0), pytest.approx(3.0)]  # Retry-After, then min_interval
    assert len([r for r in items if isinstance(r, PaperRecord)]) == 4
    assert items[-1] == Checkpoint(key=KEY, state={"resumption_token": None}, done=True)


def test_harvest_gives_up_when_503_persists(fake_time: FakeTime) -> None:
    busy = Reply(503, "Retry after 5 seconds", headers={"Retry-After": "5"})
    with LocalServer(lambda req: busy) as server, client_for(fake_time, retries=2) as client:
        items, error = collect(harvest(client, base_url=server.url + "/oai"))
    assert items == [] and isinstance(error, FetchError) and error.status == 503
    assert len(server.requests) == 3


def test_harvest_sends_the_set_and_treats_no_records_as_done(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: oai("no_records.xml")) as server, client_for(fake_time) as client:
        items = list(
            harvest(
                client,
                base_url=server.url + "/oai",
                set_spec="cs",
                from_=date(2023, 8, 5),
                until=date(2023, 8, 6),
            )
        )

    key = "oai:cs:2023-08-05:2023-08-06"
    assert items == [Checkpoint(key=key, state={"resumption_token": None}, done=True)]
    assert server.requests[0].query == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXivRaw"],
        "from": ["2023-08-05"],
        "until": ["2023-08-06"],
        "set": ["cs"],
    }


def test_harvest_without_dates_sends_neither_from_nor_until(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: oai("broken_records.xml")) as server, client_for(fake_time) as client:
        items = list(harvest(client, base_url=server.url + "/oai", set_spec="math"))

    assert server.requests[0].query == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXivRaw"],
        "set": ["math"],
    }
    assert [type(r) for r in items] == [Rejected, PaperRecord, Rejected, Rejected, Checkpoint]
    assert items[0].position.startswith(server.url + "/oai?")  # type: ignore[union-attr]
    assert items[-1] == Checkpoint(key="oai:math:None:None", state={"resumption_token": None}, done=True)


def test_harvest_with_an_expired_token_raises(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: oai("bad_token.xml")) as server, client_for(fake_time) as client:
        expired = {"resumption_token": "old"}
        items, error = collect(harvest(client, base_url=server.url + "/oai", state=expired))
    assert items == []
    assert isinstance(error, FetchError) and "badResumptionToken" in str(error)
    assert server.requests[0].query == {"verb": ["ListRecords"], "resumptionToken": ["old"]}


def test_harvest_stops_when_the_server_repeats_a_token(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: oai("list_page1.xml")) as server, client_for(fake_time) as client:
        items, error = collect(harvest(client, base_url=server.url + "/oai"))
    assert isinstance(error, FetchError) and "same resumptionToken" in str(error)
    assert len(server.requests) == 2
    assert items[2] == Checkpoint(key="oai:*:None:None", state={"resumption_token": TOKEN})


def test_harvest_reads_no_records_match_sent_with_404(fake_time: FakeTime) -> None:
    with LocalServer(lambda req: oai("no_records.xml", 404)) as server, client_for(fake_time) as client:
        items = list(harvest(client, base_url=server.url + "/oai"))
    assert items == [Checkpoint(key="oai:*:None:None", state={"resumption_token": None}, done=True)]


def test_harvest_turns_other_404s_into_fetch_error(fake_time: FakeTime) -> None:
    not_found = Reply(404, "<html>Not Found</html>")
    with LocalServer(lambda req: not_found) as server, client_for(fake_time) as client:
        _, error = collect(harvest(client, base_url=server.url + "/oai"))
    assert isinstance(error, FetchError) and error.status == 404


def test_harvest_refuses_a_client_faster_than_arxiv_allows(fake_time: FakeTime) -> None:
    with client_for(fake_time, min_interval=0.5) as client:
        with pytest.raises(ValueError, match="3 s"):
            harvest(client)  # the default base URL is arXiv's; checked before any request


@pytest.mark.parametrize(
    "kwargs",
    [{"from_": date(2023, 8, 3), "until": date(2023, 8, 1)}, {"state": {"resumption_token": 42}}],
)
def test_harvest_checks_its_arguments_at_call_time(fake_time: FakeTime, kwargs: dict) -> None:
    with client_for(fake_time) as client:
        with pytest.raises(ValueError):
            harvest(client, base_url="http://127.0.0.1:9/oai", **kwargs)


ENTITY_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>&lol3;</responseDate></OAI-PMH>"""


def test_a_response_declaring_entities_is_refused_unexpanded():
    with pytest.raises(FetchError, match="declares XML entities"):
        parse_list_records(ENTITY_BOMB, url="https://oai.example/oai")
