"""Full texts: arXiv's HTML (LaTeXML's conversion) → Markdown, fetched at arXiv's pace from a local
server or read from saved pages, kept per paper, and served by ``/papers/{id}.md``, the "Read" page,
the MCP ``read_paper`` tool and ``huggingface_hub``'s ``read_paper``."""

import json
from datetime import date, timedelta

import anyio
import pytest
from sqlalchemy import delete
from fastapi.testclient import TestClient
from mcp import Client
from typer.testing import CliRunner

from dailypapers.application import Application
from dailypapers.cli import app
from dailypapers.ingest import arxiv_html, hf_daily
from dailypapers.ingest.http import PoliteClient
from dailypapers.store import texts
from dailypapers.store.models import PaperText, utcnow
from dailypapers.store.importer import Importer
from dailypapers.tasks import handlers
from dailypapers.web.app import create_app
from dailypapers.web.text import markdown_html
from tests.conftest import TEST_DATA
from tests.support.browser import free_port, live_server
from tests.support.local_server import LocalServer, Reply

PAGES = TEST_DATA / "arxiv_html"
PAGE = PAGES / "2405.21060.html"


def test_conversion_keeps_the_text_math_captions_and_references():
    converted = arxiv_html.to_markdown(PAGE.read_bytes())
    md = converted.markdown
    assert not converted.truncated
    assert md.startswith("## Abstract\n\nWhile Transformers have been the main architecture")
    assert "## 1 Introduction" in md and "### 1.1 Contributions" in md
    assert "a sequence $x\\in\\mathbb{R}^{T}$ to $y$ through a recurrence (Gu and Dao, 2023)" in md
    assert "\n$$h_{t}=A_{t}h_{t-1}+B_{t}x_{t},\\quad y_{t}=C_{t}^{\\top}h_{t}$$\n" in md
    assert (
        "*Figure 1: Structured state space duality connects SSMs and attention through $\\mathtt{M}$.*" in md
    )
    assert "*Table 1: Perplexity at 2.7B parameters.*" in md
    assert "| Model | Pile ppl |\n| --- | --- |\n| Mamba-2 | 6.09 |" in md
    assert "(Both authors contributed equally.)" in md  # the footnote where its mark stood
    assert "[github.com/state-spaces/mamba](https://github.com/state-spaces/mamba)" in md
    assert "- A framework of *structured* matrices;" in md
    assert md.rstrip().endswith("arXiv preprint arXiv:2312.00752, 2023.")
    # what the page has around the paper, and what is not text, is gone
    for gone in (
        "Report issue",
        "Why HTML",
        "failed: minted",
        "x1.png",
        "javascript:",
        "LaTeXML",
        "color: #333",
    ):
        assert gone not in md
    assert "Transformers are SSMs" not in md  # the title and authors are the page's own
    assert "•" not in md and "$$ (1)" not in md and "\n(1)" not in md  # no bullets, no equation numbers


def test_pages_that_are_not_papers_or_too_big_are_refused(monkeypatch):
    with pytest.raises(arxiv_html.NotAPaper):
        arxiv_html.to_markdown("<html><body>No HTML for '2405.21060'.</body></html>")
    monkeypatch.setattr(arxiv_html, "MAX_HTML_BYTES", 100)
    with pytest.raises(ValueError, match="over 100"):
        arxiv_html.to_markdown(PAGE.read_bytes())


def test_a_long_text_is_cut_at_a_paragraph_and_says_so(monkeypatch):
    monkeypatch.setattr(arxiv_html, "MAX_MARKDOWN_CHARS", 400)
    converted = arxiv_html.to_markdown(PAGE.read_bytes())
    assert converted.truncated and converted.markdown.endswith(arxiv_html.TRUNCATED)
    assert len(converted.markdown) <= 400 + len(arxiv_html.TRUNCATED)


def test_markdown_is_rendered_without_any_markup_of_its_own():
    html = str(
        markdown_html(
            "A <script>alert(1)</script> [x](javascript:alert(2)) ![i](https://e.example/p.png) "
            "[ok](https://example.org) $a_{1} * b_{2}$ and\n\n$$x_{i}^{*} < y$$\n"
        )
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html and "<img" not in html
    assert '<a rel="noopener noreferrer nofollow" href="https://example.org">ok</a>' in html
    assert "$a_{1} * b_{2}$" in html and "$$x_{i}^{*} &lt; y$$" in html  # no emphasis inside math


def _site(settings, db):
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    return settings.model_copy(update={"cache_check_interval": 0.0})


def test_kept_text_is_served_as_markdown_and_as_a_page_to_read(settings, db):
    settings = _site(settings, db)
    application = Application(settings, database=db)
    with TestClient(create_app(settings, database=db)) as client:
        before = client.get("/papers/2405.21060.md").text
        assert "## Abstract\n\nWhile Transformers" in before and "## 1 Introduction" not in before
        assert 'href="/papers/2405.21060/read"' not in client.get("/papers/2405.21060").text
        assert client.get("/papers/2405.21060/read").status_code == 404
        summary = application.load_full_texts(PAGES)
        assert (summary.asked, summary.saved, summary.failed) == (1, 1, 0)
        md = client.get("/papers/2405.21060.md").text
        assert md.startswith("# Transformers are SSMs") and "## 1 Introduction" in md
        assert md.count("## Abstract") == 1 and "Upvotes: 27" in md
        assert 'href="/papers/2405.21060/read"' in client.get("/papers/2405.21060").text
        page = client.get("/papers/2405.21060v1/read")
        assert page.status_code == 200
        assert "<h2>1 Introduction</h2>" in page.text and "&lt;script&gt;alert(1)" in page.text
        assert "$$h_{t}=A_{t}h_{t-1}+B_{t}x_{t},\\quad y_{t}=C_{t}^{\\top}h_{t}$$" in page.text
        assert client.get("/papers/2401.00000/read").status_code == 404


def _no_waiting(monkeypatch, waits=None):
    """Requests keep their pace, but the waits are counted instead of slept (only the clock is faked)."""

    def client(self, **options):
        return PoliteClient(**{**options, "retries": 0, "sleep": (waits if waits is not None else []).append})

    monkeypatch.setattr(Application, "http_client", client)


def _arxiv(pages, seen):
    def respond(req):
        seen.append(req.path)
        name = req.path.rsplit("/", 1)[-1]
        if name in pages:
            status, body = pages[name]
            return Reply(status, body, content_type="text/html")
        return Reply(404, b"Not Found", content_type="text/html")

    return respond


def test_fetching_keeps_texts_notes_missing_ones_and_goes_on_past_failures(settings, db, monkeypatch):
    settings = _site(settings, db)
    seen: list[str] = []
    pages = {
        "2405.21060": (200, PAGE.read_bytes()),
        "2405.21075": (200, b"<html><body>No HTML for this paper.</body></html>"),
        "2405.21048": (500, b"down"),
    }
    with LocalServer(_arxiv(pages, seen)) as server:
        configured = settings.model_copy(
            update={"arxiv_html_url": server.url + "/html", "http_min_interval": 0}
        )
        application = Application(configured, database=db)
        waits: list[float] = []
        _no_waiting(monkeypatch, waits)
        summary = application.fetch_full_texts(limit=50, listed_since=date(2024, 6, 1))
        # every paper listed since then, each once; the others are unknown to this server (404)
        listed = {
            r.paper.arxiv_id
            for r in hf_daily.iter_path(TEST_DATA / "hf_daily")
            if hasattr(r, "day") and r.day >= date(2024, 6, 1)
        }
        assert len(seen) == len(listed) and {p.removeprefix("/html/") for p in seen} == listed
        assert {"/html/2405.21048", "/html/2405.21060", "/html/2405.21075"} <= set(seen)
        assert (summary.asked, summary.saved, summary.missing, summary.failed) == (
            len(listed),
            1,
            len(listed) - 2,
            1,
        )
        assert summary.failures[0].startswith("2405.21048: ") and "HTTP 500" in summary.failures[0]
        assert waits and min(waits) > 2.9  # arXiv's pace holds whatever the setting says
        # the next run asks only for the one that failed: a missing text waits RETRY_MISSING
        seen.clear()
        pages["2405.21048"] = (404, b"")
        again = application.fetch_full_texts(limit=50, listed_since=date(2024, 6, 1))
        assert seen == ["/html/2405.21048"] and (again.asked, again.missing) == (1, 1)
        assert application.fetch_full_texts(limit=50, listed_since=date(2024, 6, 1)).asked == 0
    with db.session() as session:
        wanted_later = texts.wanted(session, 50, now=utcnow() + texts.RETRY_MISSING + timedelta(days=1))
        assert {w.arxiv_id for w in wanted_later} >= {"2405.21075", "2405.21048"}
        assert "2405.21060" not in {w.arxiv_id for w in wanted_later}


def test_three_failures_in_a_row_stop_a_run(settings, db, monkeypatch):
    settings = _site(settings, db)
    down = settings.model_copy(update={"arxiv_html_url": f"http://127.0.0.1:{free_port()}/html"})
    _no_waiting(monkeypatch)
    summary = Application(down, database=db).fetch_full_texts(limit=10)
    assert summary.failed == 3 and summary.asked == 3 and "ConnectError" in summary.failures[0]


def test_the_cli_and_the_worker_job(settings, db, tmp_path, monkeypatch, database_env):
    settings = _site(settings, db)
    runner = CliRunner()
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "2405.21060.html").write_bytes(PAGE.read_bytes())
    (folder / "2401.00000.html").write_bytes(PAGE.read_bytes())  # a paper not stored here
    (folder / "not-an-id.html").write_text("<html></html>")
    deep = '<article class="ltx_document">' + "<div>" * 5000 + "x" + "</div>" * 5000 + "</article>"
    (folder / "2405.21075.html").write_text(deep)  # absurdly deep markup: this page fails, not the run
    result = runner.invoke(app, ["ingest", "arxiv-html", str(folder), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout[result.stdout.index("{") :])
    assert out == {"asked": 4, "saved": 1, "truncated": 0, "missing": 0, "failed": 3}
    assert "no paper 2401.00000 here" in result.stderr and "not-an-id.html" in result.stderr
    assert "2405.21075.html" in result.stderr
    bad = runner.invoke(app, ["ingest", "arxiv-html", "--paper", "nonsense"])
    assert bad.exit_code == 2 and "'nonsense' is not an arXiv id" in bad.output
    seen: list[str] = []
    with LocalServer(_arxiv({"2405.21075": (200, PAGE.read_bytes())}, seen)) as server:
        monkeypatch.setenv("DAILYPAPERS_ARXIV_HTML_URL", server.url + "/html")
        _no_waiting(monkeypatch)
        from dailypapers.config import Settings

        worker_app = Application(Settings())
        result = handlers(worker_app)["fulltext"](worker_app.db, {"limit": 1})
        worker_app.close()
    newest = json.loads((TEST_DATA / "hf_daily" / "2026-06-30.json").read_text())
    assert result["asked"] == 1 and result["missing"] == 1  # the newest listing first; arXiv has none
    assert seen[0].removeprefix("/html/") in {e["paper"]["id"] for e in newest}


def test_assistants_read_the_full_text(settings, db, monkeypatch):
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    settings = _site(settings, db)
    Application(settings, database=db).load_full_texts(PAGES)
    with live_server(settings, db) as site:
        assert "## 1 Introduction" in HfApi(endpoint=site, token=False).read_paper("2405.21060")

        async def run() -> str:
            async with Client(f"{site}/mcp") as client:
                result = await client.call_tool("read_paper", {"id": "2405.21060"})
                assert not result.is_error
                return result.content[0].text

        text = anyio.run(run)
    assert text.startswith("# Transformers are SSMs") and "$$h_{t}=A_{t}h_{t-1}" in text


def test_keyword_search_finds_words_of_full_texts_when_asked(settings, db):
    settings = _site(settings, db)
    with TestClient(create_app(settings, database=db)) as client:

        def ids(query: str, **extra: str) -> list[str]:
            params = {"q": query, "mode": "keyword", **extra}
            return [i["paper"]["id"] for i in client.get("/api/papers/search", params=params).json()]

        assert ids("perplexity pile") == []  # words of the body only
        assert "In full texts too" not in client.get("/papers", params={"q": "pile"}).text
        Application(settings, database=db).load_full_texts(PAGES)
        assert ids("perplexity pile") == []  # not unless asked
        assert ids("perplexity pile", fulltext="true") == ["2405.21060"]
        assert ids('"selective state spaces" perplexity', fulltext="true") == ["2405.21060"]
        # filters and the query's own restrictions hold for body matches too
        assert ids("perplexity pile", fulltext="true", **{"from": "2025-01-01"}) == []
        assert ids("perplexity pile author:dao", fulltext="true") == ["2405.21060"]
        assert ids("perplexity pile author:nobody", fulltext="true") == []
        # a match in the paper's own fields comes before a match in a body
        in_abstracts = ids("sequence")
        assert sorted(in_abstracts) == ["2405.21075", "2501.05453"]
        assert ids("sequence", fulltext="true") == [*in_abstracts, "2405.21060"]
        assert client.get("/api/papers/search", params={"q": "x", "fulltext": "maybe"}).status_code == 400
        page = client.get("/papers", params={"q": "perplexity pile", "fulltext": "true", "mode": "keyword"})
        assert "In full texts too" in page.text and 'name="fulltext" value="true" checked' in page.text
        assert "/papers/2405.21060" in page.text


def test_the_text_index_follows_each_change(settings, db):
    from dailypapers.search import fulltext
    from dailypapers.search.query import parse_query

    _site(settings, db)
    with db.session() as session:
        paper_id = texts.wanted(session, 1, arxiv_ids=["2405.21060"])[0].paper_id

    def found(word: str) -> list[int]:
        with db.session() as session:
            return [h.paper_id for h in fulltext.body_hits(session, parse_query(word))]

    for markdown, present, absent in (
        ("## 1 Introduction\n\nZanzibar quokkas", "quokkas", None),
        ("## 1 Introduction\n\nWombats only", "wombats", "quokkas"),
        (None, None, "wombats"),  # arXiv has none any more: nothing of the old text is found
    ):
        with db.transaction() as session:
            texts.save(session, paper_id, markdown, source_url=None, version=1, postgres=db.is_postgres)
        if present:
            assert found(present) == [paper_id]
        if absent:
            assert found(absent) == []
    with db.transaction() as session:
        texts.save(session, paper_id, "Quolls", source_url=None, version=1, postgres=db.is_postgres)
    with db.transaction() as session:
        session.execute(delete(PaperText).where(PaperText.paper_id == paper_id))
    assert found("quolls") == []
