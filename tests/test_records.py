from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dailypapers.ingest.records import (
    InvalidArxivId,
    canonical_arxiv_id,
    clean_abstract,
    clean_title,
    extract_code_url,
    parse_datetime,
    split_authors,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2501.01234", ("2501.01234", None)),
        ("2501.01234v2", ("2501.01234", 2)),
        ("0704.0001", ("0704.0001", None)),
        ("arXiv:1706.03762v7", ("1706.03762", 7)),
        ("https://arxiv.org/abs/1706.03762v5", ("1706.03762", 5)),
        ("http://arxiv.org/pdf/2501.01234v2.pdf", ("2501.01234", 2)),
        ("https://arxiv.org/pdf/2501.01234", ("2501.01234", None)),
        ("https://www.arxiv.org/abs/2501.01234/", ("2501.01234", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("hep-th/9901001v3", ("hep-th/9901001", 3)),
        ("http://arxiv.org/abs/cond-mat/9909265v1", ("cond-mat/9909265", 1)),
        ("math.GT/0309136", ("math/0309136", None)),
        ("oai:arXiv.org:astro-ph/0001001", ("astro-ph/0001001", None)),
        ("  2412.07730 ", ("2412.07730", None)),
    ],
)
def test_canonical_arxiv_id(text, expected):
    assert canonical_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text", ["", "hello", "2513.01234", "12345.6789", "hep-th/990100", "https://example.org/x"]
)
def test_canonical_arxiv_id_rejects(text):
    with pytest.raises(InvalidArxivId):
        canonical_arxiv_id(text)


def test_ids_stay_strings():
    arxiv_id, _ = canonical_arxiv_id("0704.0010")
    assert arxiv_id == "0704.0010" and isinstance(arxiv_id, str)


@given(st.text(max_size=200))
def test_canonical_arxiv_id_never_crashes(text):
    try:
        arxiv_id, version = canonical_arxiv_id(text)
    except InvalidArxivId:
        return
    assert canonical_arxiv_id(arxiv_id) == (arxiv_id, None)
    assert version is None or version >= 0


@given(
    st.integers(7, 99), st.integers(1, 12), st.integers(1, 99999), st.one_of(st.none(), st.integers(1, 30))
)
def test_new_style_round_trip(yy, mm, num, version):
    digits = 4 if (yy, mm) < (15, 1) else 5
    ident = f"{yy:02d}{mm:02d}.{num % 10**digits:0{digits}d}"
    text = ident + (f"v{version}" if version else "")
    assert canonical_arxiv_id(f"https://arxiv.org/abs/{text}") == (ident, version)


def test_clean_title_and_abstract():
    assert clean_title("Transformers are SSMs: Generalized\n  Through Duality ") == (
        "Transformers are SSMs: Generalized Through Duality"
    )
    assert (
        clean_abstract("First line\nwrapped.\n\n  Second  para.\n") == "First line wrapped.\n\nSecond para."
    )
    assert clean_abstract(None) is None
    assert clean_abstract("  \n ") is None


@pytest.mark.parametrize(
    ("texts", "url"),
    [
        (("Code is available at https://github.com/foo/bar.",), "https://github.com/foo/bar"),
        ((None, "see https://github.com/Org-X/repo.name.git for code"), "https://github.com/Org-X/repo.name"),
        (("https://gitlab.com/a/b/-/tree/main",), "https://gitlab.com/a/b"),
        (("no code here", "https://example.org/x/y"), None),
    ],
)
def test_extract_code_url(texts, url):
    assert extract_code_url(*texts) == url


def test_split_authors():
    assert split_authors("A. One, B. Two (1) ((1) MIT, USA) and C. Three") == ["A. One", "B. Two", "C. Three"]
    assert split_authors("J. M\\\"uller and F. Fr\\'ed\\'eric") == ["J. Müller", "F. Frédéric"]
    assert split_authors("Solo Author") == ["Solo Author"]
    assert split_authors("") == []
    assert split_authors("A. B, C. D, et al.") == ["A. B", "C. D"]


def test_parse_datetime():
    utc = timezone.utc
    assert parse_datetime("2024-05-31T17:50:01.000Z") == datetime(2024, 5, 31, 17, 50, 1, tzinfo=utc)
    assert parse_datetime("1999-09-17 14:39:02") == datetime(1999, 9, 17, 14, 39, 2, tzinfo=utc)
    assert parse_datetime("2025-01-01T05:00:00+05:00") == datetime(2025, 1, 1, 0, 0, tzinfo=utc)
    assert parse_datetime("2007-05-24") == datetime(2007, 5, 24, tzinfo=utc)
    assert parse_datetime("") is None and parse_datetime(None) is None
    with pytest.raises(ValueError):
        parse_datetime("yesterday")


def test_split_authors_joins_names_wrapped_across_lines():
    assert split_authors("Alexey Dosovitskiy, Georg\n  Heigold and Neil\n Houlsby") == [
        "Alexey Dosovitskiy",
        "Georg Heigold",
        "Neil Houlsby",
    ]
