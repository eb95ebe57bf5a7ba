"""Import every real file in ../shared/data (the whole HF dump and both arXiv listing files) into one
database, then check the counts and a few known papers field by field."""

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from dailypapers.ingest import hf_daily, listings
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.store.models import DailyEntry, Organization, Paper
from tests.conftest import need_shared_data

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full_db(request, tmp_path_factory):
    hf_dir = need_shared_data("hf_daily_papers")
    cs = need_shared_data("arxiv_listings", "cs_2025.jsonl.gz")
    math = need_shared_data("arxiv_listings", "math_2007_2026.jsonl.gz")
    if request.config.getoption("--db") == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('full') / 'full.db'}"
    db = Database(url)
    db.migrate()
    summaries = {
        "hf": Importer(db).run(hf_daily.iter_path(hf_dir)),
        "cs": Importer(db, batch_size=2000).run(listings.iter_listings(cs)),
        "math": Importer(db, batch_size=2000).run(listings.iter_listings(math)),
    }
    yield db, summaries
    db.dispose()


def one(db, arxiv_id):
    with db.session() as s:
        return s.scalars(select(Paper).where(Paper.arxiv_id == arxiv_id)).one()


def test_counts(full_db):
    db, summaries = full_db
    hf = summaries["hf"]
    assert (hf.read, hf.new, hf.rejected) == (9126, 9126, 0)  # ~290 repr-string entries and the wrapper file
    assert summaries["cs"].read == 48623 and summaries["cs"].rejected == 0
    assert summaries["math"].read == 63052 and summaries["math"].rejected == 0
    with db.session() as s:
        count = lambda model: s.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(DailyEntry) == 9126
        assert count(Organization) == 700
        assert count(Paper) == 116482
        assert s.scalar(select(func.count(func.distinct(DailyEntry.day)))) == 542
        assert s.scalar(select(func.min(DailyEntry.day))) == date(2024, 5, 27)
        assert s.scalar(select(func.max(DailyEntry.day))) == date(2026, 6, 30)
        assert s.scalar(select(func.count()).select_from(Paper).where(Paper.arxiv_id.like("%/%"))) == 965


def test_hf_paper_from_the_old_schema(full_db):
    db, _ = full_db
    p = one(db, "2405.21060")
    assert p.title.startswith("Transformers are SSMs: Generalized Models and Efficient Algorithms")
    assert p.authors[:2] == ["Tri Dao", "Albert Gu"]
    assert p.upvotes == 27
    with db.session() as s:
        days = s.scalars(select(DailyEntry.day).where(DailyEntry.paper_id == p.id)).all()
    assert days == [date(2024, 6, 3)]


def test_hf_paper_merged_with_its_arxiv_listing(full_db):
    db, _ = full_db
    p = one(db, "2506.16141")  # on HF daily papers and in the cs listing
    assert p.title == "GRPO-CARE: Consistency-Aware Reinforcement Learning for Multimodal Reasoning"
    assert p.categories == ["cs.CV", "cs.AI", "cs.CL", "cs.LG"] and p.primary_category == "cs.CV"
    assert p.code_url == "https://github.com/TencentARC/GRPO-CARE" and p.github_stars == 19
    assert p.upvotes == 19 and p.version == 1


def test_listing_papers_of_both_layouts(full_db):
    db, _ = full_db
    old = one(db, "cond-mat/9909265")
    assert old.title == "Modeling Market Mechanism with Minority Game"
    assert old.categories == ["cond-mat.stat-mech", "cond-mat.dis-nn", "q-fin.TR"]
    assert old.primary_category == "cond-mat.stat-mech" and old.version == 1
    assert old.published_at == datetime(1999, 9, 17, 14, 39, 2, tzinfo=timezone.utc)
    math = one(db, "0705.3347")
    assert math.authors == ["Steffen Froehlich", "Frank Mueller"]
    assert math.categories == ["math.DG", "math.AP"] and math.primary_category == "math.DG"
    assert math.title == (
        "On critical normal sections for two-dimensional immersions in R^n and a Riemann-Hilbert problem"
    )
    assert math.abstract.startswith(
        "For orthonormal normal sections of two-dimensional immersions in R^4 we define torsion coefficients"
    )


def test_organization_and_submitter_from_the_new_schema(full_db):
    db, _ = full_db
    p = one(db, "2606.26740")
    with db.session() as s:
        org = s.get(Organization, p.organization_id)
        entry = s.scalars(select(DailyEntry).where(DailyEntry.paper_id == p.id)).one()
    assert (org.name, org.fullname) == ("Tsinghua", "Tsinghua University")
    assert entry.submitter_name == "YueMafighting" and entry.upvotes == 57


def test_importing_everything_again_changes_nothing(full_db):
    db, _ = full_db
    again = Importer(db).run(hf_daily.iter_path(need_shared_data("hf_daily_papers")))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 9126)
