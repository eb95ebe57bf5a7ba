"""What a search means, as properties over real data (the bundled demo papers, with their MiniLM
vectors and the model embedding each query), on the backend ``--db`` names:

- a filter only ever removes results, in every mode, whether given as a parameter or in the query;
- sorting reorders the matching set, never pulls in more;
- the semantic side keeps only papers above the similarity floor;
- nonsense gets an honest empty answer, a typo a "did you mean" from the collection's own words.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from dailypapers.config import Settings
from dailypapers.demo import load_demo
from dailypapers.search import hybrid
from dailypapers.search.embed import backend_for_setting
from dailypapers.search.hybrid import MODES, SORTS, Filters, SearchEngine
from dailypapers.store.db import Database
from dailypapers.store.models import Organization, Paper

# real words of the demo's titles (common, rare and in between), a typo and a word no paper has
WORDS = (
    "diffusion", "video", "language", "models", "reasoning", "agents", "mixture", "experts", "routing",
    "robot", "benchmark", "reinforcement", "learning", "image", "editing", "speech", "3d", "attention",
    "efficient", "multimodal", "code", "math", "retrieval", "difusion", "xqzvwkjj",
)  # fmt: skip
ALL = 100_000  # no paging: the whole matching set


@pytest.fixture(scope="module")
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One database with the demo papers for the module (built once: loading them takes seconds)."""
    url = None
    server = None
    if request.config.getoption("--db") == "postgresql":
        server = request.getfixturevalue("postgres")
        url = server.new_database()
    data = Path(tmp_path_factory.mktemp("semantics")) / "data"
    extra = {"database_url": url} if url else {}
    db = Database.from_settings(Settings(data_dir=data, load_demo=False, _env_file=None, **extra))
    db.migrate()
    load_demo(db)
    with db.session() as session:
        days = sorted(d.date() for d in session.scalars(select(Paper.published_at)) if d is not None)
        orgs = sorted(session.scalars(select(Organization.name)))
        authors = sorted(
            {a for names in session.scalars(select(Paper.authors).limit(200)) for a in names or []}
        )
    engine = SearchEngine(db, backend_for_setting("minilm", web=True))
    yield {"engine": engine, "db": db, "days": days, "orgs": orgs, "authors": authors[:60]}
    db.dispose()
    if server is not None:
        server.drop_database(url)


@pytest.fixture(autouse=True)
def whole_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every match counted (no cut at the candidates' number), so sets can be compared."""
    monkeypatch.setattr(hybrid, "CANDIDATES", ALL)


def ids(demo: dict, q: str, **options) -> list[int]:
    with demo["db"].session() as session:
        return [h.paper_id for h in demo["engine"].search(session, q, limit=ALL, **options).hits]


def filters(data: st.DataObject, demo: dict) -> tuple[Filters, str]:
    """A draw of filters: some as parameters, some as words of the query."""
    days = demo["days"]
    lo = data.draw(st.sampled_from(days))
    hi = data.draw(st.sampled_from(days))
    lo, hi = min(lo, hi), max(lo, hi)
    params = Filters(
        date_from=data.draw(st.sampled_from([None, lo])),
        date_to=data.draw(st.sampled_from([None, hi])),
        organizations=tuple(data.draw(st.lists(st.sampled_from(demo["orgs"]), max_size=1))),
        has_code=data.draw(st.booleans()),
    )
    in_query = data.draw(
        st.lists(
            st.sampled_from(
                [
                    f"year:{lo.year}",
                    f"after:{(hi - timedelta(days=30)).isoformat()}",
                    "-models",
                    "-survey",
                    f'author:"{data.draw(st.sampled_from(demo["authors"]))}"',
                ]
            ),
            max_size=2,
        )
    )
    return params, " ".join(in_query)


def words(data: st.DataObject) -> str:
    return " ".join(data.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_filter_only_removes_results(demo, data):
    q = words(data)
    mode = data.draw(st.sampled_from(MODES))
    params, in_query = filters(data, demo)
    unfiltered = set(ids(demo, q, mode=mode))
    filtered = ids(demo, f"{q} {in_query}".strip(), mode=mode, filters=params)
    assert set(filtered) <= unfiltered, (q, in_query, params, mode)
    assert len(filtered) == len(set(filtered))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sorting_reorders_the_same_set(demo, data):
    q = words(data)
    mode = data.draw(st.sampled_from(MODES))
    params, in_query = filters(data, demo)
    query = f"{q} {in_query}".strip()
    by_relevance = ids(demo, query, mode=mode, filters=params)
    for sort in SORTS:
        assert sorted(ids(demo, query, mode=mode, filters=params, sort=sort)) == sorted(by_relevance), sort


def test_filters_that_narrow_a_search_do_not_widen_it(demo):
    """The case that used to widen: few papers have every word after a date filter, and the any-word
    fallback then brought in papers with one of them."""
    q = "mixture of experts routing"
    unfiltered = ids(demo, q, mode="keyword")
    last = demo["days"][-1]
    for start in (last - timedelta(days=d) for d in (10, 30, 60, 120)):
        narrowed = ids(demo, q, mode="keyword", filters=Filters(date_from=start))
        assert set(narrowed) <= set(unfiltered)


def test_semantic_results_are_above_the_floor(demo):
    engine = demo["engine"]
    assert engine.similarity_floor == hybrid.SIMILARITY_FLOOR > 0
    with demo["db"].session() as session:
        hits = engine.search(session, "protein structure prediction", mode="semantic", limit=ALL).hits
    assert hits
    assert all(h.similarity >= engine.similarity_floor for h in hits)


def test_nonsense_is_an_honest_empty_result(demo):
    with demo["db"].session() as session:
        for mode in MODES:
            results = demo["engine"].search(session, "xqzvwkjj plorf", mode=mode, limit=ALL)
            assert results.hits == [] and results.total == 0, mode
            assert results.suggestion is None


def test_a_typo_gets_did_you_mean(demo):
    with demo["db"].session() as session:
        results = demo["engine"].search(session, "difusion", mode="hybrid")
        assert results.suggestion == "diffusion"
        assert results.hits == []  # no paper has the word, none is close enough in meaning
        both = demo["engine"].search(session, "video difusion", mode="keyword")
        assert both.suggestion == "video diffusion"
        right = demo["engine"].search(session, "video diffusion", mode="keyword")
        assert right.suggestion is None and right.hits


def test_an_unquoted_author_name_is_one_name(demo):
    name = next(a for a in demo["authors"] if len(a.split()) == 2 and a.isascii())
    quoted = ids(demo, f'author:"{name}"', mode="keyword")
    assert quoted
    assert ids(demo, f"author:{name}", mode="keyword") == quoted
    assert ids(demo, f"author:{name.lower()}", mode="keyword") == quoted
    with demo["db"].session() as session:
        title = session.get(Paper, quoted[0]).title
    word = next(w for w in title.lower().split() if w.isalpha() and len(w) > 3)
    with_word = ids(demo, f"author:{name} {word}", mode="keyword")
    assert quoted[0] in with_word and set(with_word) <= set(quoted)  # the word is searched, not the name


def test_date_window_is_inclusive(demo):
    day = demo["days"][len(demo["days"]) // 2]
    found = ids(demo, "", mode="keyword", filters=Filters(date_from=day, date_to=day))
    with demo["db"].session() as session:
        published = {
            p.id: p.published_at.date() for p in session.scalars(select(Paper).where(Paper.id.in_(found)))
        }
    assert found and set(published.values()) == {day}
