"""Query words marked in Python (dailypapers.search.marks): the words PostgreSQL's ``english``
configuration would match, the best window of an abstract, the text itself never changed."""

from __future__ import annotations

import json
import re
from itertools import islice

import pytest
from sqlalchemy import text

from dailypapers.search import marks
from tests.conftest import need_shared_data
from tests.support.needs import require

pytestmark = pytest.mark.usefixtures("stemmer")


@pytest.fixture(scope="module")
def stemmer() -> None:
    require("Stemmer")


def _marked_words(marked: str) -> list[str]:
    return re.findall("\x02(.*?)\x03", marked)


def test_words_are_marked_by_their_stem_and_stopwords_never() -> None:
    lexemes = marks.query_lexemes(["Studies", "the", "diffusion", "IL-10"])
    assert lexemes == {"studi", "diffus", "il", "10"}
    marked = marks.mark_all("A study of diffusing <b>IL-10</b> in the diffusion studies", lexemes)
    assert _marked_words(marked) == ["study", "diffusing", "IL", "10", "diffusion", "studies"]
    # the text is the same once the markers are taken out, markup and all
    assert marked.replace("\x02", "").replace("\x03", "") == (
        "A study of diffusing <b>IL-10</b> in the diffusion studies"
    )
    assert marks.mark_all("Nothing here", lexemes) == "Nothing here"
    assert marks.query_lexemes(["the", "of"]) == frozenset()


def test_a_snippet_is_the_window_with_the_most_different_query_words() -> None:
    filler = " ".join(f"w{i}" for i in range(60))
    abstract = f"Protein intro. {filler} protein folding with protein models. {filler} end."
    lexemes = marks.query_lexemes(["protein", "folding"])
    snippet = marks.snippet(abstract, lexemes, words=10)
    # the window holding both words wins over the first, which holds one
    assert snippet.startswith("…") and snippet.endswith("…")
    assert _marked_words(snippet) == ["protein", "folding", "protein"]
    assert len(snippet.split()) == 10
    # short texts come whole; no match gives the beginning
    assert marks.snippet("Protein folding.", lexemes) == "\x02Protein\x03 \x02folding\x03."
    start = marks.snippet(filler, lexemes, words=5)
    assert start == "w0 w1 w2 w3 w4…"
    assert marks.snippet("", lexemes) == ""


@pytest.mark.postgres_only
def test_marks_agree_with_postgresqls_english_configuration(db) -> None:
    """On 300 real abstracts and claims: the words marked are those whose lexemes PostgreSQL's
    ``to_tsvector('english', …)`` finds among the query's, and a plain word's lexeme is PostgreSQL's."""
    corpus = need_shared_data("scifact", "corpus.jsonl")
    queries = need_shared_data("scifact", "queries.jsonl")
    with corpus.open(encoding="utf-8") as f:
        docs = [f"{r['title']}. {r['text']}" for r in map(json.loads, islice(f, 300))]
    with queries.open(encoding="utf-8") as f:
        claims = [r["text"] for r in map(json.loads, islice(f, 300))]
    words_differ, marks_differ = [], []
    with db.engine.connect() as c:
        for doc, claim in zip(docs, claims, strict=True):
            plain = [w for w in re.findall(r"\S+", claim) if w.isalpha()]
            theirs = set(
                c.execute(
                    text(
                        "SELECT coalesce(array_agg(DISTINCT l), '{}') FROM unnest(CAST(:w AS text[])) w, "
                        "unnest(tsvector_to_array(to_tsvector('english', w))) l"
                    ),
                    {"w": plain},
                ).scalar_one()
            )
            if marks.query_lexemes(plain) != theirs:
                words_differ.append((claim, theirs ^ marks.query_lexemes(plain)))
            vector = c.execute(text("SELECT tsvector_to_array(to_tsvector('english', :d))"), {"d": doc})
            in_doc = set(vector.scalar_one())
            marked = set(marks.stems(_marked_words(marks.mark_all(doc, frozenset(theirs)))))
            if marked != in_doc & theirs:
                marks_differ.append((doc[:60], marked ^ (in_doc & theirs)))
    # PostgreSQL 18 carries a newer Snowball than PyStemmer: a few words differ ("emergency")
    assert len(words_differ) <= 3, words_differ
    assert len(marks_differ) <= 3, marks_differ  # 300 texts: one differs ("0" of a signed number)
