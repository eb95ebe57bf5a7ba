"""The search-box parser (dailypapers.search.query): examples, and properties over any text: it never
raises, its FTS5 expression always compiles in a real SQLite FTS5 table, and it round-trips."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dailypapers.search.query import (
    MAX_CLAUSES,
    MAX_QUERY_BYTES,
    ParsedQuery,
    clean_text,
    excluded_fts5,
    format_query,
    parse_query,
    split_words,
    to_fts5,
)

pytestmark = pytest.mark.sqlite_only  # the parser and FTS5 expressions; no database of ours

ROWS = [
    (
        "Attention Is All You Need",
        "The Transformer, based solely on attention; GPT-4 and C++ aside.",
        "Ashish Vaswani, Noam Shazeer",
    ),
    (
        "Transformers are SSMs: state space duality",
        "Mamba-2 refines the state space model.",
        "Tri Dao, Albert Gu",
    ),
    ("Straße und Café", "Unicode: naïve façade, 中文, emoji 🚀.", "Zoë Ünal"),
    ("A survey of large language models", "We survey LLMs.", "Someone Else"),
]


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE papers_fts USING fts5(title, abstract, authors)")
    conn.executemany("INSERT INTO papers_fts VALUES (?, ?, ?)", ROWS)
    yield conn
    conn.close()


def titles(conn: sqlite3.Connection, q: str) -> list[str]:
    expression = to_fts5(parse_query(q))
    assert expression is not None
    rows = conn.execute("SELECT title FROM papers_fts WHERE papers_fts MATCH ? ORDER BY rowid", (expression,))
    return [r[0] for r in rows]


# --- examples ------------------------------------------------------------------------------------------


def test_words_phrases_exclusions_and_fields() -> None:
    q = parse_query(
        'Diffusion "State  Space" -survey -"large language" author:Dao author:"Tri Dao" '
        'cat:cs.CL org:"Google DeepMind" year:2020..2024'
    )
    assert q.terms == ("diffusion",)
    assert q.phrases == ("state space",)
    assert q.excluded == ("survey", "large language")
    assert q.authors == ("dao", "tri dao")
    assert q.categories == ("cs.cl",)
    assert q.organizations == ("google deepmind",)
    assert (q.year_from, q.year_to) == (2020, 2024)
    assert q.semantic_text == "diffusion state space"
    assert q.warnings == ()


def test_fts5_expression_quotes_everything() -> None:
    q = parse_query('gpt-4 "state space" author:dao -survey -"large language"')
    assert to_fts5(q) == (
        '("gpt-4" AND "state space" AND authors : "dao") NOT ("survey" OR "large language")'
    )
    assert to_fts5(q, author_column="creators").count("creators : ") == 1
    with pytest.raises(ValueError):
        to_fts5(q, author_column="authors) OR (x")


@pytest.mark.parametrize(
    ("text", "years", "dates"),
    [
        ("year:2024", (2024, 2024), (None, None)),
        ("year:2020..2024", (2020, 2024), (None, None)),
        ("year:2024..2020", (2020, 2024), (None, None)),
        ("year:2020-2024", (2020, 2024), (None, None)),
        ("year:>=2023", (2023, None), (None, None)),
        ("year:>2023", (2024, None), (None, None)),
        ("year:<=2020", (None, 2020), (None, None)),
        ("year:<2020", (None, 2019), (None, None)),
        ("year:2020..", (2020, None), (None, None)),
        ("year:..2020", (None, 2020), (None, None)),
        ("year:>=2020 year:<=2022 year:2021..2030", (2021, 2022), (None, None)),
        ("after:2025-01-01", (None, None), (date(2025, 1, 1), None)),
        ("before:2025-01-01", (None, None), (None, date(2024, 12, 31))),
        ("before:2025-03", (None, None), (None, date(2025, 2, 28))),
        ("after:2024 before:2025", (None, None), (date(2024, 1, 1), date(2024, 12, 31))),
        ("date:2024-02", (None, None), (date(2024, 2, 1), date(2024, 2, 29))),
        ("date:2025-01-01..2025-03-31", (None, None), (date(2025, 1, 1), date(2025, 3, 31))),
        ("date:2025..", (None, None), (date(2025, 1, 1), None)),
    ],
)
def test_years_and_dates(text: str, years: tuple, dates: tuple) -> None:
    q = parse_query(text)
    assert (q.year_from, q.year_to) == years
    assert (q.date_from, q.date_to) == dates
    assert q.warnings == () and q.terms == ()


def test_date_range_combines_years_and_dates() -> None:
    assert parse_query("year:2024 after:2024-06-15").date_range() == (date(2024, 6, 15), date(2024, 12, 31))
    assert parse_query("diffusion").date_range() == (None, None)


@pytest.mark.parametrize(
    "text",
    [
        "year:abc",
        "year:0000",
        "year:<0001",
        "year:>9999",
        "year:20245",
        "after:2025-13-01",
        "before:2025-02-30",
        "date:..",
        "date:x..2020",
        "cat:???",
        "author:",
        'org:"!!"',
    ],
)
def test_unusable_filters_are_ignored_with_a_warning(text: str) -> None:
    q = parse_query(text)
    assert q.is_empty and q.warnings


def test_negated_filter_is_ignored_not_inverted() -> None:
    q = parse_query("mamba -author:gu")
    assert q.terms == ("mamba",) and q.authors == () and q.excluded == () and q.warnings


def test_words_keep_inner_punctuation() -> None:
    assert split_words("GPT-4, c++ C# o'brien 3.5 end. foo_bar tcp/ip --x") == [
        "GPT-4",
        "c++",
        "C#",
        "o'brien",
        "3.5",
        "end",
        "foo",
        "bar",
        "tcp/ip",
        "x",
    ]
    assert split_words("🚀rocket❤️love __ ++ ...") == ["rocket", "love"]


def test_unknown_prefixes_and_fts_operators_are_plain_words() -> None:
    q = parse_query('title:attention NEAR(a b) OR x* ^y {authors}: "a" AND NOT')
    assert q.terms == ("title", "attention", "near", "a", "b", "or", "x", "y", "authors", "and", "not")
    assert q.phrases == ("a",)


def test_unicode_case_folding_and_cleaning() -> None:
    q = parse_query("ＧＰＴ ﬁne STRASSE Straße\x00Café\u200b \u202eevil 🚀")
    assert q.terms == ("gpt", "fine", "strasse", "straße", "café", "evil")
    assert clean_text("a\tb\nc\x7fd") == "a b c d"
    assert clean_text("\ud800x") == "x"  # a lone surrogate
    assert parse_query("“curly quotes”").phrases == ("curly quotes",)


def test_unbalanced_quotes_and_emoji_only() -> None:
    assert parse_query('"state space').phrases == ("state space",)
    assert parse_query('author:"tri dao').authors == ("tri dao",)
    assert parse_query('"""').is_empty
    q = parse_query("🚀🔥 ❤️")
    assert q.is_empty and to_fts5(q) is None and q.semantic_text == ""


def test_exclusions_alone_give_no_match_expression_but_an_exclusion_one() -> None:
    q = parse_query('-survey -"large language"')
    assert to_fts5(q) is None
    assert excluded_fts5(q) == '"survey" OR "large language"'
    assert not q.is_empty and not q.has_text


def test_caps() -> None:
    many = " ".join(f"w{i}" for i in range(5000))
    q = parse_query(many)
    assert len(q.terms) == MAX_CLAUSES and q.warnings
    assert len(clean_text("é" * 20_000).encode()) <= MAX_QUERY_BYTES
    assert parse_query("a" * 100_000).terms == ()  # one absurd "word" is ignored
    assert len(parse_query(" ".join(["year:x%d" % i for i in range(500)])).warnings) <= 8


def test_matches_in_a_real_fts5_table(fts: sqlite3.Connection) -> None:
    assert titles(fts, "attention") == ["Attention Is All You Need"]
    assert titles(fts, '"state space" author:dao') == ["Transformers are SSMs: state space duality"]
    assert titles(fts, 'author:"albert gu"') == ["Transformers are SSMs: state space duality"]
    assert titles(fts, "author:vaswani transformer") == ["Attention Is All You Need"]
    assert titles(fts, "gpt-4 c++") == ["Attention Is All You Need"]
    assert titles(fts, "TRANSFORMER") == ["Attention Is All You Need"]
    assert titles(fts, "state -mamba") == []
    assert titles(fts, "straße café") == ["Straße und Café"]
    assert titles(fts, 'survey -"large language"') == []
    assert titles(fts, "survey -author:else") == ["A survey of large language models"]


# --- properties ----------------------------------------------------------------------------------------

PIECES = [
    '"',
    "-",
    " ",
    "author:",
    "cat:",
    "org:",
    "year:",
    "after:",
    "before:",
    "date:",
    "..",
    ">=",
    "<",
    "2024",
    "2024-02-30",
    "NOT",
    "AND",
    "OR",
    "NEAR(",
    ")",
    "(",
    "*",
    "^",
    ":",
    "{",
    "}",
    "+",
    "title:",
    "\x00",
    "\t",
    "🚀",
    "❤️",
    "ß",
    "İ",
    "\u0301",
    "\u200d",
    "ﬁ",
    "“",
    "'",
    "''",
    "\\",
    "%",
    "_",
    "c++",
    "gpt-4",
    "中文",
]
QUERYISH = st.lists(
    st.sampled_from(PIECES) | st.text(max_size=6),
    max_size=30,
).map("".join)
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=200) | QUERYISH


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ANY_TEXT)
@example("\x00")
@example('"a\x00b"')
@example("\ud800")
@example("a" * 20_000 + " b")
def test_parse_never_raises_and_fts5_always_compiles(fts: sqlite3.Connection, text: str) -> None:
    parsed = parse_query(text)
    assert isinstance(parsed, ParsedQuery)
    assert (
        len(parsed.terms)
        + len(parsed.phrases)
        + len(parsed.excluded)
        + len(parsed.authors)
        + len(parsed.categories)
        + len(parsed.organizations)
        <= MAX_CLAUSES
    )
    for expression in (to_fts5(parsed), excluded_fts5(parsed)):
        if expression is not None:
            fts.execute("SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?", (expression,)).fetchone()
    parsed.date_range()
    parsed.semantic_text.encode("utf-8")


@settings(max_examples=300)
@given(ANY_TEXT)
def test_format_round_trips(text: str) -> None:
    parsed = parse_query(text)
    again = parse_query(format_query(parsed))
    assert again == parsed
    assert sorted(again.semantic_text.split()) == sorted(parsed.semantic_text.split())


@settings(max_examples=200)
@given(ANY_TEXT)
def test_cleaning_is_idempotent_and_case_insensitive(text: str) -> None:
    assert clean_text(clean_text(text)) == clean_text(text)
    assert parse_query(text.upper()).terms == parse_query(text.upper().lower()).terms


@settings(max_examples=200)
@given(
    st.lists(
        st.text(alphabet=st.characters(categories=["Ll", "Lu", "Lo", "Nd"]), min_size=1, max_size=12),
        max_size=10,
    )
)
def test_plain_words_come_back_as_terms(words: list[str]) -> None:
    expected = list(dict.fromkeys(w for t in words for w in split_words(clean_text(t))))
    assert list(parse_query(" ".join(words)).terms) == expected[:MAX_CLAUSES]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ROWS), st.data())
def test_words_of_a_row_find_that_row(fts: sqlite3.Connection, row: tuple[str, str, str], data) -> None:
    words = split_words(row[0] + " " + row[1])
    picked = data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=4))
    found = titles(fts, " ".join(picked))
    assert row[0] in found
