"""The Kaggle arXiv metadata snapshot source (dailypapers.ingest.snapshot)."""

from __future__ import annotations

import gzip
import shutil
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dailypapers.ingest.records import PaperRecord, Rejected, clean_abstract, clean_title
from dailypapers.ingest.snapshot import (
    count_lines,
    iter_json_lines,
    iter_snapshot,
    snapshot_record,
)
from tests.support.oracles import regex_clean_abstract, regex_clean_title

DATA = Path(__file__).parent / "data" / "snapshot"
PLAIN = DATA / "sample.json"
GZ = DATA / "sample.json.gz"
GOOD_IDS = [
    "0704.0001",
    "0704.0002",
    "0704.0003",
    "hep-th/9711200",
    "math/0211159",
    "1706.03762",
    "2010.11929",
    "0706.0421",
    "0706.1489",
    "2106.09685",
    "0704.0004",
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def papers(path: Path) -> dict[str, PaperRecord]:
    return {r.arxiv_id: r for r in iter_snapshot(path) if isinstance(r, PaperRecord)}


def rejected(path: Path) -> list[Rejected]:
    return [r for r in iter_snapshot(path) if isinstance(r, Rejected)]


def kaggle(**fields: object) -> dict:
    """A minimal snapshot object, fields overridden."""
    obj = {
        "id": "0704.0002",
        "title": "T",
        "authors": "A. B",
        "categories": "math.CO",
        "abstract": "x",
        "versions": [{"version": "v1", "created": "Sat, 31 Mar 2007 02:26:18 GMT"}],
        "update_date": "2008-12-13",
        "authors_parsed": [["B", "A.", ""]],
    }
    obj.update(fields)
    return obj


def test_first_paper_field_by_field():
    first = next(iter_snapshot(PLAIN))
    assert first == PaperRecord(
        arxiv_id="0704.0001",
        title="Calculation of prompt diphoton production cross sections at Tevatron and LHC energies",
        abstract=first.abstract,
        version=2,
        authors=["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"],
        categories=["hep-ph"],
        primary_category="hep-ph",
        published_at=utc(2007, 4, 2, 19, 18, 42),
        updated_at=utc(2007, 7, 24, 20, 10, 27),
        comments="37 pages, 15 figures; published version",
        journal_ref="Phys.Rev.D76:013009,2007",
        doi="10.1103/PhysRevD.76.013009",
        license=None,
        code_url=None,
    )
    assert first.abstract.startswith(
        "A fully differential calculation in perturbative quantum chromodynamics"
    )
    assert first.abstract.endswith("can be obtained with judicious selection of events.")
    assert "\n" not in first.abstract and "  " not in first.abstract


def test_ids_stay_strings_and_keep_their_form():
    got = papers(PLAIN)
    assert list(got) == GOOD_IDS
    assert all(type(r.arxiv_id) is str for r in got.values())
    assert got["0704.0001"].arxiv_id == "0704.0001"  # the leading zero survives


def test_versions_and_dates():
    got = papers(PLAIN)
    attention = got["1706.03762"]
    assert attention.version == 7
    assert attention.published_at == utc(2017, 6, 12, 17, 57, 34)
    assert attention.updated_at == utc(2023, 8, 2, 0, 41, 18)
    maldacena = got["hep-th/9711200"]
    assert (maldacena.version, maldacena.published_at, maldacena.updated_at) == (
        3,
        utc(1997, 11, 27, 22, 1, 33),
        utc(1998, 1, 22, 4, 21, 36),
    )
    perelman = got["math/0211159"]
    assert perelman.version == 1 and perelman.published_at == perelman.updated_at == utc(
        2002, 11, 11, 16, 11, 49
    )


def test_highest_version_is_by_number_not_text_nor_order():
    versions = [{"version": f"v{n}", "created": f"Mon, {n} Jan 2024 10:00:00 GMT"} for n in (10, 1, 9, 2)]
    rec = snapshot_record(kaggle(versions=versions))
    assert rec.version == 10
    assert rec.published_at == utc(2024, 1, 1, 10)
    assert rec.updated_at == utc(2024, 1, 10, 10)


def test_no_versions_falls_back_to_update_date():
    rec = snapshot_record(kaggle(versions=[]))
    assert rec.version is None and rec.published_at is None
    assert rec.updated_at == utc(2008, 12, 13)


def test_metadata_fields():
    got = papers(PLAIN)
    vit = got["2010.11929"]
    assert vit.title == "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale"
    assert vit.categories == ["cs.CV", "cs.AI", "cs.LG"] and vit.primary_category == "cs.CV"
    assert vit.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert vit.comments.startswith(
        "Fine-tuning code and pre-trained models are available at https://github.com/"
    )
    assert "\n" not in vit.comments
    maldacena = got["hep-th/9711200"]
    assert maldacena.journal_ref == "Adv.Theor.Math.Phys.2:231-252,1998; Int.J.Theor.Phys.38:1113-1133,1999"
    assert maldacena.doi == "10.1023/A:1026654312961"
    assert got["0704.0002"].doi is None and got["0704.0002"].journal_ref is None


def test_code_url_from_comments_then_abstract():
    got = papers(PLAIN)
    assert got["2010.11929"].code_url == "https://github.com/google-research/vision_transformer"  # comments
    assert got["2106.09685"].code_url == "https://github.com/microsoft/LoRA"  # abstract
    assert got["0704.0001"].code_url is None
    both = snapshot_record(
        kaggle(comments="code: https://github.com/a/first", abstract="see https://github.com/b/second")
    )
    assert both.code_url == "https://github.com/a/first"


def test_authors():
    got = papers(PLAIN)
    assert got["0706.0421"].authors == ["Oliver C. Schnürer", "Felix Schulze", "Miles Simon"]  # TeX accent
    assert got["1706.03762"].authors[-2:] == ["Lukasz Kaiser", "Illia Polosukhin"]
    assert len(got["2010.11929"].authors) == 12
    # empty authors_parsed: the "authors" string, wrapped over two lines with affiliations, is split
    assert got["0706.1489"].authors == ["Lorenzo Brandolese", "Francois Vigneron"]


def test_author_suffix_extra_items_and_wrapped_fallback():
    parsed = [
        ["Gates", "S. James", "Jr."],
        ["Doe", "Jane", "", "MIT"],
        ["ATLAS Collaboration", "", ""],
        ["Lee"],
    ]
    rec = snapshot_record(kaggle(authors_parsed=parsed))
    assert rec.authors == ["S. James Gates Jr.", "Jane Doe", "ATLAS Collaboration", "Lee"]
    rec = snapshot_record(kaggle(authors_parsed=None, authors="Edward J. Hu, Yuanzhi\n  Li and Lu Wang"))
    assert rec.authors == ["Edward J. Hu", "Yuanzhi Li", "Lu Wang"]


def test_rejected_lines_have_positions_and_reasons_and_the_import_goes_on():
    items = list(iter_snapshot(PLAIN))
    assert len(items) == 11 + 6  # the blank line 4 gives nothing
    bad = [r for r in items if isinstance(r, Rejected)]
    assert [r.position for r in bad] == [f"{PLAIN}:{n}" for n in range(13, 19)]
    reasons = [r.reason for r in bad]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "missing id"
    assert "not an arXiv id" in reasons[2] and "07O4.0002" in reasons[2]
    assert "must be text" in reasons[3]  # 704.0002 as a JSON number lost its zero: not accepted
    assert reasons[4] == "missing title"
    assert reasons[5].startswith("not a JSON object")


def test_gzip_and_plain_give_the_same_records():
    assert papers(GZ) == papers(PLAIN)
    assert [r.position for r in rejected(GZ)] == [f"{GZ}:{n}" for n in range(13, 19)]


def test_gzip_is_told_by_magic_bytes_not_suffix(tmp_path: Path):
    gz_named_plain = tmp_path / "snapshot.json"
    shutil.copy(GZ, gz_named_plain)
    plain_named_gz = tmp_path / "snapshot.json.gz"
    shutil.copy(PLAIN, plain_named_gz)
    expected = papers(PLAIN)
    assert papers(gz_named_plain) == expected
    assert papers(plain_named_gz) == expected


def test_truncated_gzip_yields_what_it_read_then_one_rejected(tmp_path: Path):
    data = GZ.read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    items = list(iter_snapshot(cut))  # must not raise
    assert isinstance(items[-1], Rejected) and "cannot read on" in items[-1].reason
    good = [r.arxiv_id for r in items if isinstance(r, PaperRecord)]
    assert len(good) >= 3 and good == GOOD_IDS[: len(good)]
    line_of: dict[str, int] = {}
    for item in iter_json_lines(PLAIN):
        if isinstance(item, tuple) and isinstance(item[1].get("id"), str):
            line_of.setdefault(item[1]["id"], item[0])
    assert items[-1].position == f"{cut}:{line_of[good[-1]] + 1}"  # the line the cut fell in


def test_crlf_bom_and_no_final_newline(tmp_path: Path):
    lines = PLAIN.read_bytes().split(b"\n")[:3]
    path = tmp_path / "crlf.json"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines))
    assert list(papers(path)) == ["0704.0001", "0704.0002", "0704.0003"]


def test_count_lines(tmp_path: Path):
    assert count_lines(PLAIN) == 18
    assert count_lines(GZ) is None
    no_newline = tmp_path / "a.json"
    no_newline.write_bytes(b"{}\n{}")
    assert count_lines(no_newline) == 2
    empty = tmp_path / "b.json"
    empty.write_bytes(b"")
    assert count_lines(empty) == 0


@pytest.mark.parametrize(
    "text",
    [
        "  Two\n  wrapped lines\n",
        "a\u00a0\u2003b",
        "p one\n\n  p two\n \n p three",
        "\t x \r\n y \x0c",
        "",
        " \n ",
        "ascii  double",
        "caf\u00e9  x\n y",
        "\x1c sep",
    ],
)
def test_fast_cleaners_match_records_helpers(text: str):
    assert clean_abstract(text) == regex_clean_abstract(text)
    assert clean_title(text) == regex_clean_title(text)


LINE = (
    '{"id":"%s","submitter":"A. Person","authors":"A. Person, B. Person","title":"Paper number %d on a '
    'topic","comments":"%d pages","journal-ref":null,"doi":null,"report-no":null,'
    '"categories":"math.CO cs.DM","license":null,"abstract":"  %s\\n",'
    '"versions":[{"version":"v1","created":"Mon, 2 Apr 2007 19:18:42 GMT"}],'
    '"update_date":"2008-11-13","authors_parsed":[["Person","A.",""],["Person","B.",""]]}\n'
)


BIG = 50_000


@pytest.fixture(scope="module")
def big_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 50,000-line gzip snapshot, ~65 MB of JSON once decompressed.

    Fewer lines than the 2.7M of the real file, but each line is long: holding the lines (readlines) or
    the records would take well over 50 MB, and the test stays a few seconds under tracemalloc.
    """
    path = tmp_path_factory.mktemp("snapshot") / "big.json.gz"
    abstract = "We study a problem with a long abstract. " * 30
    with gzip.open(path, "wt", compresslevel=1) as f:
        for n in range(BIG):
            f.write(LINE % (f"{1001 + n // 99_999:04d}.{n % 99_999 + 1:05d}", n, n % 50, abstract))
    return path


def test_constant_memory_while_streaming(big_snapshot: Path):
    with gzip.open(big_snapshot, "rb") as f:
        assert len(f.readline()) > 1200
    count = 0
    tracemalloc.start()
    try:
        for record in iter_snapshot(big_snapshot):
            assert isinstance(record, PaperRecord)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == BIG
    # readlines() here peaks near 67 MB; even keeping every id in a list would add about 3 MB.
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_iter_snapshot_is_lazy(big_snapshot: Path):
    it = iter_snapshot(big_snapshot)
    first = next(it)
    assert isinstance(first, PaperRecord) and first.arxiv_id == "1001.00001"
    it.close()
