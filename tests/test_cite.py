"""Citing a paper: BibTeX read back by bibtexparser, RIS, CSL-JSON rendered by citeproc-py, the
``citation_*`` meta tags reference managers read, and hostile records that must not break out of a field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import bibtexparser
import pytest
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from fastapi.testclient import TestClient

from dailypapers import cite
from dailypapers.ingest.records import DailyEntryRecord, PaperRecord
from dailypapers.store.importer import Importer
from dailypapers.web.app import create_app
from tests.support.community import PAPER, load_papers

HOSTILE = "2606.00666"
HOSTILE_TITLE = "Braces } close early @misc{evil, title={x}} and a\nline break TY  - JOUR"


@pytest.fixture
def site(settings, db):
    load_papers(db)  # real recorded Hugging Face records
    hostile = PaperRecord(
        arxiv_id=HOSTILE,
        title=HOSTILE_TITLE,
        abstract="An abstract\r\nER  - \r\nTY  - JOUR with {unbalanced braces",
        authors=["Ada Lovelace", "Johannes van der Waals", "Plato", "Byron, George Gordon", "Eve }{ Mallory"],
        categories=["cs.CL"],
        primary_category="cs.CL",
        published_at=datetime(2026, 6, 2, 9, tzinfo=UTC),
    )
    Importer(db).run([DailyEntryRecord(paper=hostile, day=date(2026, 6, 2))])
    app = create_app(settings.model_copy(update={"cache_check_interval": 0.0}), database=db)
    with TestClient(app) as client:
        yield client


def parse_bib(text: str) -> list[dict]:
    parser = bibtexparser.bparser.BibTexParser(common_strings=True)
    return bibtexparser.loads(text, parser=parser).entries


def test_a_real_paper_as_bibtex_in_arxivs_style(site):
    response = site.get(f"/papers/{PAPER}.bib")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-bibtex; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    paper = site.get(f"/api/papers/{PAPER}").json()
    [entry] = parse_bib(response.text)
    assert entry["ENTRYTYPE"] == "misc"
    assert entry["title"] == paper["title"]
    assert entry["eprint"] == PAPER and entry["archiveprefix"] == "arXiv"
    assert entry["url"] == f"https://arxiv.org/abs/{PAPER}"
    assert entry["year"] == paper["publishedAt"][:4]
    names = [a["name"] for a in paper["authors"]]
    assert entry["author"].split(" and ") == [
        f"{n.family}, {n.given}" if n.given else n.family for n in map(cite.split_name, names)
    ]
    first = cite.split_name(names[0]).family.lower()
    assert entry["ID"].startswith("".join(c for c in first if c.isascii() and c.isalnum()))


def test_a_hostile_record_stays_one_entry_one_record_one_item(site):
    [entry] = parse_bib(site.get(f"/papers/{HOSTILE}.bib").text)  # one entry, not two
    assert entry["ENTRYTYPE"] == "misc" and entry["eprint"] == HOSTILE
    assert "evil" in entry["title"] and "line break" in entry["title"]  # the text is kept, in its field
    assert entry["author"].split(" and ") == [
        "Lovelace, Ada",
        "van der Waals, Johannes",
        "Plato",
        "Byron, George Gordon",
        "Mallory, Eve",
    ]
    ris = site.get(f"/papers/{HOSTILE}.ris").text
    records = ris.split("ER  - ")
    assert len(records) == 2 and records[1].strip() == ""  # one record, ended once
    tags = [line[:2] for line in ris.split("\r\n") if line]
    assert tags.count("TY") == 1 and tags[0] == "TY"
    assert all(line[2:6] == "  - " for line in ris.split("\r\n") if line), ris
    assert tags.count("AU") == 5
    items = json.loads(site.get(f"/papers/{HOSTILE}.csl.json").text)
    assert len(items) == 1 and items[0]["title"] == " ".join(HOSTILE_TITLE.split())


def test_csl_json_renders_with_a_real_citation_processor(site):
    response = site.get(f"/papers/{HOSTILE}.csl.json")
    assert response.headers["content-type"].startswith("application/vnd.citationstyles.csl+json")
    source = CiteProcJSON(response.json())
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)  # bundled with citeproc-py
    bibliography = CitationStylesBibliography(style, source, formatter.plain)
    bibliography.register(Citation([CitationItem(f"arXiv:{HOSTILE}")]))
    [rendered] = [str(item) for item in bibliography.bibliography()]
    assert "Lovelace, A." in rendered and "2026" in rendered and "Braces" in rendered


class _Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "meta" and (values.get("name") or "").startswith("citation_"):
            self.tags.append((values["name"], values.get("content") or ""))


def test_the_paper_page_carries_citation_meta_tags_and_a_cite_box(site):
    html = site.get(f"/papers/{HOSTILE}").text
    meta = _Meta()
    meta.feed(html)
    found = dict(meta.tags)
    assert found["citation_title"] == HOSTILE_TITLE  # an attribute value, escaped by the template
    assert [v for k, v in meta.tags if k == "citation_author"][:2] == [
        "Lovelace, Ada",
        "van der Waals, Johannes",
    ]
    assert found["citation_date"] == "2026/06/02"
    assert found["citation_arxiv_id"] == HOSTILE
    assert found["citation_pdf_url"] == f"https://arxiv.org/pdf/{HOSTILE}"
    assert found["citation_publisher"] == "arXiv"
    assert 'data-copy="#bibtex"' in html and f'href="/papers/{HOSTILE}.ris"' in html
    box = html.split('<textarea id="bibtex"', 1)[1].split("</textarea>", 1)[0]
    assert "@misc{" in box


def test_unknown_papers_and_bad_ids_are_404(site):
    assert site.get("/papers/2606.99999.bib").status_code == 404
    assert site.get("/papers/not-an-id.ris").status_code == 404


@pytest.mark.parametrize(
    ("name", "family", "given"),
    [
        ("Ada Lovelace", "Lovelace", "Ada"),
        ("Johannes Diderik van der Waals", "van der Waals", "Johannes Diderik"),
        ("Lovelace, Ada", "Lovelace", "Ada"),
        ("Plato", "Plato", ""),
        ("  Grace   Brewster\tHopper ", "Hopper", "Grace Brewster"),
    ],
)
def test_names_split_into_family_and_given(name, family, given):
    assert cite.split_name(name) == cite.Name(family, given)


def test_many_papers_with_one_key_get_letters(site):
    class P:
        def __init__(self, arxiv_id):
            self.arxiv_id, self.title, self.authors = arxiv_id, "Notes", ["Ada Lovelace"]
            self.published_at = datetime(2026, 1, 1, tzinfo=UTC)
            self.abstract = self.primary_category = self.doi = self.journal_ref = None

    entries = parse_bib(cite.render("bib", [P("2601.00001"), P("2601.00002"), P("2601.00003")]))
    assert [e["ID"] for e in entries] == ["lovelace2026notes", "lovelace2026notesb", "lovelace2026notesc"]


def _ids_in(fmt: str, body: str) -> list[str]:
    if fmt == "bib":
        return [e["eprint"] for e in parse_bib(body)]
    if fmt == "ris":
        return [line.split("arXiv:", 1)[1] for line in body.split("\r\n") if line.startswith("M3  - arXiv:")]
    return [item["id"].removeprefix("arXiv:") for item in json.loads(body)]


@pytest.mark.parametrize("fmt", ["bib", "ris", "csl"])
def test_every_list_exports_all_its_papers_in_its_order(site, fmt):
    day = site.get("/api/daily_papers?date=2026-06-30").json()
    listed = [item["paper"]["id"] for item in day]
    assert len(listed) >= 2
    for path in ("/papers/date/2026-06-30", "/"):
        response = site.get(f"{path}?format={fmt}")
        assert response.status_code == 200, path
        assert response.headers["content-type"] == cite.FORMATS[fmt][0]
        assert _ids_in(fmt, response.text) == listed, path
    # the filters and the order are kept; the page number is not (all of it)
    by_stars = [
        item["paper"]["id"] for item in site.get("/api/daily_papers?date=2026-06-30&sort=stars").json()
    ]
    assert _ids_in(fmt, site.get(f"/papers/date/2026-06-30?sort=stars&p=3&format={fmt}").text) == by_stars
    assert _ids_in(fmt, site.get(f"/papers/date/2026-06-30?category=q-bio&format={fmt}").text) == []
    trending = [i["paper"]["id"] for i in site.get("/api/daily_papers?sort=trending&limit=100").json()]
    assert _ids_in(fmt, site.get(f"/papers/trending?format={fmt}").text) == trending
    searched = _ids_in(fmt, site.get(f"/papers?q=braces&mode=keyword&format={fmt}").text)
    assert searched == [HOSTILE]
    assert _ids_in(fmt, site.get(f"/authors/Ada%20Lovelace?format={fmt}").text) == [HOSTILE]


def test_list_pages_link_their_exports_and_refuse_a_bad_format(site):
    html = site.get("/papers/date/2026-06-30?sort=stars").text
    assert 'href="/papers/date/2026-06-30?sort=stars&amp;format=bib"' in html
    assert 'href="/papers/date/2026-06-30?sort=stars&amp;format=csl"' in html
    response = site.get("/papers/date/2026-06-30?format=docx")
    assert response.status_code == 400 and "format must be one of" in response.text
    assert site.get("/papers?q=&format=bib").status_code == 400


def test_a_collection_exports_its_papers_and_a_private_one_only_to_its_owner(settings, db):
    from tests.support.community import clients, community_settings

    load_papers(db)
    with clients(community_settings(settings), db) as made:
        owner = made.account(db, "owner")
        made_collection = owner.post("/api/collections", json={"name": "Reading", "public": False}).json()
        cid = made_collection["id"]
        assert owner.put(f"/api/collections/{cid}/papers/{PAPER}").status_code in (200, 204)
        entries = parse_bib(owner.client.get(f"/collections/{cid}?format=bib").text)
        assert [e["eprint"] for e in entries] == [PAPER]
        assert made.new().get(f"/collections/{cid}?format=bib").status_code == 404
