"""Every arXiv version a source reports is kept; the paper page shows the version and what changed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest.arxiv_api import parse_feed
from dailypapers.ingest.oai import parse_list_records
from dailypapers.ingest.records import PaperRecord
from dailypapers.store import queries
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from dailypapers.web.text import word_diff
from tests.conftest import TEST_DATA

VIT = "2010.11929"


def _vit_v2() -> PaperRecord:
    page = parse_feed((TEST_DATA / "arxiv_api" / "search_page2.xml").read_bytes())
    (record,) = [r for r in page.records if isinstance(r, PaperRecord) and r.arxiv_id == VIT]
    assert record.version == 2
    return record


def _vit_v1(v2: PaperRecord) -> PaperRecord:
    """The first version as it was: another title word, and an abstract without its last sentence."""
    abstract = v2.abstract.rsplit(". ", 1)[0] + "."
    return dataclasses.replace(
        v2,
        version=1,
        title=v2.title.replace("Recognition", "Classification"),
        abstract=abstract,
        updated_at=v2.published_at,
        version_dates={},
    )


@pytest.fixture
def site(settings, db):
    # the version is read on every request: the test imports between two of them
    changed = settings.model_copy(update={"embedding_backend": "hashing", "cache_check_interval": 0.0})
    with TestClient(create_app(changed, database=db)) as c:
        yield c


def versions(db, arxiv_id: str) -> list[tuple[int, str | None, bool]]:
    with db.session() as session:
        paper = queries.paper_by_arxiv_id(session, arxiv_id)
        return [
            (v.version, v.dated.date().isoformat() if v.dated else None, v.title is not None)
            for v in queries.paper_versions(session, paper.id)
        ]


def test_two_versions_from_recorded_arxiv_answers_show_what_changed(site, db):
    v2 = _vit_v2()
    v1 = _vit_v1(v2)
    Importer(db).run([v1])
    assert versions(db, VIT) == [(1, v2.published_at.date().isoformat(), True)]
    summary = Importer(db).run([v2])
    assert summary.updated == 1
    assert versions(db, VIT) == [
        (1, v2.published_at.date().isoformat(), True),
        (2, v2.updated_at.date().isoformat(), True),
    ]
    again = Importer(db).run([v1, v2])  # older text arriving again changes nothing
    assert again.unchanged == 2 and len(versions(db, VIT)) == 2
    with db.session() as session:
        stored = queries.paper_versions(session, queries.paper_by_arxiv_id(session, VIT).id)
        assert stored[0].title == v1.title and stored[1].abstract == v2.abstract

    html = site.get(f"/papers/{VIT}").text
    day = v2.updated_at
    assert f'class="paper-versions">v2, <time datetime="{day.date().isoformat()}">' in html
    assert "earlier: v1 (" in html
    assert "What changed in v2 (since v1)" in html
    assert "<del>Classification</del> <ins>Recognition</ins>" in html
    last_sentence = v2.abstract.rsplit(". ", 1)[1]
    assert "<ins>" + last_sentence.split()[0] in html


def test_an_oai_record_brings_every_version_date_and_the_latest_text(site, db):
    page = parse_list_records((TEST_DATA / "oai" / "list_page1.xml").read_bytes())
    Importer(db).run(page.records)
    found = versions(db, "1706.03762")
    assert [v for v, _, _ in found] == [1, 2, 3, 4, 5, 6, 7]
    assert found[0][1] == "2017-06-12" and found[-1][1] == "2023-08-02"
    assert [has_text for _, _, has_text in found] == [False] * 6 + [True]  # only v7's text is in the record
    html = site.get("/papers/1706.03762").text
    assert 'class="paper-versions">v7, <time datetime="2023-08-02">' in html
    assert "What changed" not in html  # one text known: nothing to compare
    # the arXiv API later brings v1's text: it fills the row, the dates stay
    v1 = PaperRecord(
        arxiv_id="1706.03762",
        title="Attention Is All You Need",
        abstract="An earlier abstract.",
        version=1,
        published_at=datetime(2017, 6, 12, 17, 57, 34, tzinfo=UTC),
    )
    Importer(db).run([v1])
    assert [has_text for _, _, has_text in versions(db, "1706.03762")] == [True] + [False] * 5 + [True]
    assert "What changed in v7 (since v1)" in site.get("/papers/1706.03762").text


def test_the_word_diff_escapes_both_sides():
    diff = str(word_diff("a <b>bold</b> claim", "a <i>new</i> claim"))
    assert diff == "a <del>&lt;b&gt;bold&lt;/b&gt;</del> <ins>&lt;i&gt;new&lt;/i&gt;</ins> claim"
    assert str(word_diff(None, "new text")) == "<ins>new text</ins>"
