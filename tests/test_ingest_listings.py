"""The arXiv listing-file source (dailypapers.ingest.listings)."""

from __future__ import annotations

import gzip
import shutil
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dailypapers.ingest.listings import iter_listings, listing_record
from dailypapers.ingest.records import PaperRecord, Rejected, clean_abstract, clean_title
from dailypapers.ingest.snapshot import iter_json_lines
from tests.support.oracles import regex_clean_abstract, regex_clean_title
from tests.conftest import need_shared_data

DATA = Path(__file__).parent / "data" / "listings"
PLAIN = DATA / "sample.jsonl"
GZ = DATA / "sample.jsonl.gz"
REAL = {"cs_2025.jsonl.gz": 48_623, "math_2007_2026.jsonl.gz": 63_052}
GOOD_IDS = [
    "cond-mat/9909265",
    "cond-mat/0004376",
    "1805.07445",
    "2501.09760",  # Atom layout (cs_2025)
    "0705.3347",
    "math/0612717",
    "0706.0421",
    "0706.1489",
    "solv-int/9909027",
    "1904.00644",
    "2603.20427",
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def papers(path: Path) -> dict[str, PaperRecord]:
    return {r.arxiv_id: r for r in iter_listings(path) if isinstance(r, PaperRecord)}


def daily(**fields: object) -> dict:
    """A minimal daily-layout object, fields overridden."""
    obj = {
        "id": "0705.4531",
        "authors": ["A. Author"],
        "title": "T",
        "categories": ["math.CO"],
        "comment": None,
        "summary": "S.",
        "_archive_date": "2007-06-01",
    }
    obj.update(fields)
    return obj


def test_atom_layout_field_by_field():
    rec = papers(PLAIN)["cond-mat/0004376"]
    assert rec == PaperRecord(
        arxiv_id="cond-mat/0004376",
        title="Trading behavior and excess volatility in toy markets",
        abstract=rec.abstract,
        version=2,  # from the link .../cond-mat/0004376v2
        authors=[],  # this layout has none: "unknown", not "no authors"
        categories=["cond-mat.stat-mech", "cond-mat.dis-nn", "nlin.AO", "q-fin.TR"],
        primary_category="cond-mat.stat-mech",
        published_at=utc(2000, 4, 21, 15, 52, 24),
    )
    assert rec.abstract.startswith("We study the relation between the trading behavior of agents")
    assert rec.abstract.endswith("leads to turbulent dynamics of the market.")
    assert "\n" not in rec.abstract


def test_daily_layout_field_by_field():
    rec = papers(PLAIN)["0705.3347"]
    assert rec == PaperRecord(
        arxiv_id="0705.3347",
        title=(
            "On critical normal sections for two-dimensional immersions in R^n and a Riemann-Hilbert problem"
        ),
        abstract=(
            "For orthonormal normal sections of two-dimensional immersions in R^4 we define torsion "
            "coefficients and a functional for the total torsion. We discuss normal sections which are "
            "critical for this functional. In particular, a global estimate for the torsion coefficients "
            "of a critical normal section in terms of the curvature of the normal bundle is provided."
        ),
        version=None,
        authors=["Steffen Froehlich", "Frank Mueller"],
        categories=["math.DG", "math.AP"],
        primary_category="math.DG",
        published_at=utc(2007, 5, 24),  # the listing day, in the id's month
        comments=None,
    )


def test_ids_stay_strings_in_both_layouts():
    got = papers(PLAIN)
    assert list(got) == GOOD_IDS
    assert all(type(r.arxiv_id) is str for r in got.values())


def test_daily_authors_are_cleaned():
    got = papers(PLAIN)
    assert got["0706.0421"].authors == [
        "Oliver C. Schnürer",
        "Felix Schulze",
        "Miles Simon",
    ]  # \"u, "Schulze,"
    # ["Lorenzo Brandolese (1)", "Francois Vigneron (2) ((1) Universit\'e de\n  Lyon 1",
    #  "(2) Ecole ... CMLS)"]
    assert got["0706.1489"].authors == ["Lorenzo Brandolese", "Francois Vigneron"]
    assert got["1904.00644"].authors == ["Tommi Brander", "Torbjørn Ringholm"]  # Torbj{\o}rn
    assert listing_record(daily(authors=["A. One", "and B. Two"])).authors == ["A. One", "B. Two"]


def test_comments_code_url_and_categories():
    got = papers(PLAIN)
    assert got["1904.00644"].comments == (
        "24 pages, of which 3 are figures. Source code available at https://github.com/tringholm/bdry-data-calderon"
    )
    assert got["1904.00644"].code_url == "https://github.com/tringholm/bdry-data-calderon"  # from the comment
    assert got["1805.07445"].code_url == "https://github.com/QuadrantAI/dvae"  # from the abstract
    assert got["0705.3347"].code_url is None
    sakovich = got["solv-int/9909027"]
    assert sakovich.categories == ["solv-int", "math-ph", "math.AP", "math.MP", "nlin.SI"]
    assert sakovich.primary_category == "solv-int"


def test_daily_published_at_is_the_listing_day_only_when_it_can_be_the_submission():
    got = papers(PLAIN)
    assert got["0706.0421"].published_at == utc(2007, 6, 5)
    assert got["2603.20427"].published_at == utc(2026, 3, 24)  # "_archive_date": "2026-03-24_AI_kimi"
    assert got["math/0612717"].published_at is None  # 2006-12 paper listed again on 2007-05-25
    assert got["solv-int/9909027"].published_at is None  # 1999 paper listed in 2013
    assert listing_record(daily()).published_at == utc(2007, 6, 1)  # sent in May, listed on 1 June
    assert listing_record(daily(_archive_date="2007-07-02")).published_at is None
    assert listing_record(daily(_archive_date="2007-04-30")).published_at is None  # before the id existed
    assert listing_record(daily(_archive_date="not a day")).published_at is None


def test_atom_published_falls_back_to_the_listing_day():
    obj = {
        "title": "T",
        "abstract": "A",
        "link": "http://arxiv.org/abs/2504.00001v3",
        "categories": ["cs.LG"],
        "primary_category": "cs.LG",
        "_archive_date": "2025-04-02",
    }
    assert listing_record({**obj, "published": "2025-04-01 08:00:00"}).published_at == utc(2025, 4, 1, 8)
    assert listing_record(obj).published_at == utc(2025, 4, 2)
    assert listing_record(obj).version == 3


def test_rejected_lines_have_positions_and_the_import_goes_on():
    items = list(iter_listings(PLAIN))
    assert len(items) == 11 + 4  # the blank line 5 gives nothing
    bad = [r for r in items if isinstance(r, Rejected)]
    assert [r.position for r in bad] == [f"{PLAIN}:{n}" for n in range(13, 17)]
    assert bad[0].reason.startswith("invalid JSON")
    assert "not an arXiv id" in bad[1].reason and "0913.0001" in bad[1].reason
    assert bad[2].reason.startswith("unknown layout")
    assert bad[3].reason == "missing title"


def test_gzip_and_plain_give_the_same_records(tmp_path: Path):
    expected = papers(PLAIN)
    assert papers(GZ) == expected
    no_suffix = tmp_path / "listing"
    shutil.copy(GZ, no_suffix)  # told by magic bytes
    assert papers(no_suffix) == expected
    assert [r.position for r in iter_listings(no_suffix) if isinstance(r, Rejected)][0] == f"{no_suffix}:13"


@pytest.mark.parametrize("text", ["a  b\n c", "p1\n\np2", "x\u00a0y\u2009 z", "\tq\x0b", "", "\n", "é\n  e"])
def test_fast_cleaners_match_records_helpers(text: str):
    assert clean_abstract(text) == regex_clean_abstract(text)
    assert clean_title(text) == regex_clean_title(text)


def test_constant_memory_while_streaming(tmp_path: Path):
    lines = PLAIN.read_bytes().split(b"\n")
    good = [lines[i] for i in (0, 1, 2, 3, 5, 6, 7, 8)]  # both layouts
    path = tmp_path / "big.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(2_500):
            f.write(b"\n".join(good) + b"\n")
    count = 0
    tracemalloc.start()
    try:
        for record in iter_listings(path):
            count += isinstance(record, PaperRecord)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"  # the ~22 MB of lines are never all held


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_listing_files(name: str):
    path = need_shared_data("arxiv_listings", name)
    count = 0
    for record in iter_listings(path):
        assert isinstance(record, PaperRecord), record
        assert type(record.arxiv_id) is str and record.title and record.categories
        count += 1
    assert count == REAL[name]
    # the fast text cleaners agree with records.clean_abstract / clean_title (every 3rd line: time)
    for item in iter_json_lines(path):
        assert isinstance(item, tuple)
        line_no, obj = item
        if line_no % 3:
            continue
        abstract = obj.get("abstract") or obj.get("summary")
        assert clean_abstract(abstract) == regex_clean_abstract(abstract)
        assert clean_title(obj["title"]) == regex_clean_title(obj["title"])
