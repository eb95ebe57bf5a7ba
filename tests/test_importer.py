"""The import pipeline on a real database (the run's backend): idempotency, merge rules, rejections,
checkpoints."""

from datetime import date, datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import (
    Checkpoint,
    DailyEntryRecord,
    DeletedRecord,
    Organization,
    PaperRecord,
    Rejected,
    Submitter,
)
from dailypapers.store.importer import Importer, load_checkpoint, merge_paper
from dailypapers.store.models import DailyEntry, IngestCheckpoint, Paper
from dailypapers.store import models
from tests.conftest import TEST_DATA

T = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def paper(arxiv_id="2501.00001", **kw):
    kw.setdefault("title", "A paper")
    return PaperRecord(arxiv_id=arxiv_id, **kw)


def count(db, model):
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def get(db, arxiv_id):
    with db.session() as s:
        return s.scalars(select(Paper).where(Paper.arxiv_id == arxiv_id)).one()


def test_import_twice_changes_nothing(db):
    first = Importer(db, batch_size=5).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    assert first.as_dict() == {
        "read": 12,
        "new": 12,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "deleted": 0,
        "unsafe_links": 0,
    }
    with db.session() as s:
        before = s.execute(text("select * from papers order by id")).all()
    second = Importer(db, batch_size=7).run(hf_daily.iter_path(TEST_DATA / "hf_daily"))
    assert second.as_dict() == {
        "read": 12,
        "new": 0,
        "updated": 0,
        "unchanged": 12,
        "rejected": 0,
        "deleted": 0,
        "unsafe_links": 0,
    }
    with db.session() as s:
        assert s.execute(text("select * from papers order by id")).all() == before
    assert count(db, Paper) == 12 and count(db, DailyEntry) == 12 and count(db, models.Organization) >= 1


def test_stored_fields_round_trip(db):
    Importer(db).run(hf_daily.iter_path(TEST_DATA / "hf_daily" / "2026-06-30.json"))
    p = get(db, "2606.26740")
    assert p.authors == ["Xinyu Wang", "Chongbo Zhao", "Fangneng Zhan", "Yue Ma"]
    assert p.published_at == datetime(2026, 6, 25, tzinfo=timezone.utc) and p.published_at.tzinfo
    assert p.github_stars == 12 and p.upvotes == 57
    with db.session() as s:
        entry = s.scalars(select(DailyEntry).where(DailyEntry.paper_id == p.id)).one()
        org = s.get(models.Organization, p.organization_id)
    assert entry.day == date(2026, 6, 30) and entry.submitter_name == "YueMafighting"
    assert org.name == "Tsinghua" and org.fullname == "Tsinghua University"


def test_newer_version_updates_older_only_fills_blanks(db):
    Importer(db).run([paper(version=2, title="Title v2", abstract="Abstract v2", authors=["A", "B"])])
    s = Importer(db).run([paper(version=1, title="Title v1", abstract="Abstract v1", doi="10.1/x")])
    p = get(db, "2501.00001")
    assert (p.version, p.title, p.abstract, p.doi) == (2, "Title v2", "Abstract v2", "10.1/x")
    assert s.updated == 1
    s = Importer(db).run([paper(version=3, title="Title v3", authors=["A", "B", "C"])])
    p = get(db, "2501.00001")
    assert (p.version, p.title, p.abstract, p.authors) == (3, "Title v3", "Abstract v2", ["A", "B", "C"])
    assert s.updated == 1


def test_unknown_values_never_erase_known_ones(db):
    Importer(db).run([paper(abstract="Known", categories=["cs.CL"], code_url="https://github.com/a/b")])
    s = Importer(db).run([paper(abstract=None, categories=[], code_url=None)])
    p = get(db, "2501.00001")
    assert (p.abstract, p.categories, p.code_url) == ("Known", ["cs.CL"], "https://github.com/a/b")
    assert s.unchanged == 1


def test_counts_never_go_down_so_order_does_not_matter(db):
    Importer(db).run([paper(upvotes=10, github_stars=50)])
    Importer(db).run([paper(upvotes=3, github_stars=20)])
    p = get(db, "2501.00001")
    assert (p.upvotes, p.github_stars) == (10, 50)


def test_code_link_from_text_does_not_replace_a_first_hand_one(db):
    Importer(db).run([paper(code_url="https://github.com/real/repo", github_stars=5)])
    Importer(db).run([paper(code_url="https://github.com/mentioned/elsewhere")])
    assert get(db, "2501.00001").code_url == "https://github.com/real/repo"


def test_daily_entry_is_updated_by_a_newer_capture(db):
    def entry(upvotes):
        return DailyEntryRecord(
            paper=paper(),
            day=date(2025, 1, 2),
            upvotes=upvotes,
            num_comments=upvotes,
            submitter=Submitter("ak", "AK"),
            submitted_at=T,
        )

    assert Importer(db).run([entry(5)]).new == 1
    s = Importer(db).run([entry(9)])
    assert s.updated == 1
    with db.session() as sess:
        e = sess.scalars(select(DailyEntry)).one()
    assert (e.upvotes, e.num_comments, e.submitter_fullname, e.submitted_at) == (9, 9, "AK", T)


def test_same_paper_on_two_days_and_twice_in_one_batch(db):
    recs = [
        DailyEntryRecord(paper=paper(upvotes=n), day=date(2025, 1, d), upvotes=n)
        for d, n in [(2, 1), (3, 4), (2, 2)]
    ]
    s = Importer(db).run(recs)
    assert (s.new, s.updated) == (2, 1)
    assert count(db, Paper) == 1 and count(db, DailyEntry) == 2
    assert get(db, "2501.00001").upvotes == 4


def test_rejected_records_are_counted_and_the_rest_imported(db):
    seen = []
    recs = [paper("2501.00001"), Rejected("file.json entry 1", "bad"), paper("2501.00002")]
    s = Importer(db, on_reject=seen.append).run(recs)
    assert (s.read, s.new, s.rejected) == (3, 2, 1)
    assert seen == [Rejected("file.json entry 1", "bad")] and s.rejections == seen


def test_deleted_record_marks_withdrawn_and_a_later_record_revives(db):
    Importer(db).run([paper()])
    s = Importer(db).run([DeletedRecord("2501.00001"), DeletedRecord("2501.99999")])
    assert s.deleted == 2 and get(db, "2501.00001").withdrawn is True
    Importer(db).run([paper(version=2)])
    assert get(db, "2501.00001").withdrawn is False


def test_organizations_are_shared_and_updated(db):
    Importer(db).run(
        [
            paper("2501.00001", organization=Organization("mit")),
            paper("2501.00002", organization=Organization("mit", "MIT")),
        ]
    )
    with db.session() as s:
        orgs = s.scalars(select(models.Organization)).all()
    assert [(o.name, o.fullname) for o in orgs] == [("mit", "MIT")]
    assert get(db, "2501.00001").organization_id == get(db, "2501.00002").organization_id == orgs[0].id


def test_checkpoint_is_saved_with_the_records_before_it(db):
    def source():
        yield paper("2501.00001")
        yield Checkpoint("test:key", {"page": 1})
        yield paper("2501.00002")
        raise RuntimeError("network went away")

    importer = Importer(db)
    try:
        importer.run(source())
    except RuntimeError:
        pass
    assert count(db, Paper) == 2  # what came before the failure is kept
    with db.session() as s:
        row = load_checkpoint(s, "test:key")
        assert (row.state, row.done) == ({"page": 1}, False)
    Importer(db).run([Checkpoint("test:key", {"page": 2}, done=True)])
    with db.session() as s:
        assert s.get(IngestCheckpoint, "test:key").done is True
    assert importer.summary.new == 2


def test_nul_characters_are_dropped_from_every_text(db):
    entry = DailyEntryRecord(
        paper=paper(
            title="Nul\x00 title",
            abstract="An\x00 abstract",
            authors=["Ada\x00", "Bob"],
            ai_keywords=["k\x00w"],
            organization=Organization("org\x00", "Org\x00 Inc"),
        ),
        day=date(2025, 1, 2),
        submitter=Submitter("sub\x00", "Sub\x00 Mitter"),
        upvotes=1,
    )
    assert Importer(db).run([entry]).new == 1
    p = get(db, "2501.00001")
    assert (p.title, p.abstract, p.authors, p.ai_keywords) == (
        "Nul title",
        "An abstract",
        ["Ada", "Bob"],
        ["kw"],
    )
    with db.session() as s:
        org = s.get(models.Organization, p.organization_id)
        stored = s.scalars(select(DailyEntry)).one()
    assert (org.name, org.fullname) == ("org", "Org Inc")
    assert (stored.submitter_name, stored.submitter_fullname) == ("sub", "Sub Mitter")


def test_merge_paper_is_pure():
    current = merge_paper(None, paper(title="T", authors=["A"]), None)
    snapshot = dict(current)
    merge_paper(current, paper(title="T2", version=4), 7)
    assert current == snapshot


_records = st.builds(
    PaperRecord,
    arxiv_id=st.just("2501.00001"),
    title=st.sampled_from(["T1", "T2", "T3"]),
    abstract=st.one_of(st.none(), st.sampled_from(["A1", "A2"])),
    version=st.one_of(st.none(), st.integers(1, 3)),
    categories=st.lists(st.sampled_from(["cs.CL", "cs.LG"]), max_size=2, unique=True),
    published_at=st.one_of(st.none(), st.sampled_from([T, T.replace(year=2024)])),
    upvotes=st.one_of(st.none(), st.integers(0, 5)),
    doi=st.one_of(st.none(), st.sampled_from(["10.1/a", "10.1/b"])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_records, min_size=1, max_size=6))
def test_merging_any_record_again_changes_nothing(recs):
    row = None
    for rec in recs:
        row = merge_paper(row, rec, None)
    # a re-run import rewrites no row, whatever mix of versions, dates and blanks came before
    assert all(merge_paper(row, rec, None) == row for rec in recs)
    assert row["version"] == max((r.version for r in recs if r.version is not None), default=None)
