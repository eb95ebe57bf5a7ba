"""`dailypapers index` (resumable backfill), the indexing after each ingest, and the demo's vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dailypapers.cli import app
from dailypapers.config import Settings
from dailypapers.demo import DEMO_VECTORS, load_demo
from dailypapers.search.embed import MINILM_NAME, HashingBackend, paper_text
from dailypapers.search.semantic import text_hash
from dailypapers.store.db import Database
from dailypapers.store.models import Paper, PaperVector
from tests.conftest import TEST_DATA
from tests.support.cli_output import summary_table, summary_tables

HASHING = HashingBackend().name  # hashing-64


@pytest.fixture
def env(tmp_path, monkeypatch, database_env):
    monkeypatch.setenv("DAILYPAPERS_EMBEDDING_BACKEND", "hashing")
    monkeypatch.delenv("DAILYPAPERS_EMBED_AFTER_INGEST", raising=False)
    return tmp_path


@pytest.fixture
def cli(env):
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    return invoke


def database(env) -> Database:
    return Database.from_settings(Settings(data_dir=env / "data", _env_file=None))


def vectors(env, model=HASHING) -> dict[int, str]:
    db = database(env)
    with db.session() as s:
        rows = dict(
            s.execute(
                select(PaperVector.paper_id, PaperVector.embedded_at).where(PaperVector.model == model)
            ).all()
        )
    db.dispose()
    return rows


def summary(result) -> dict:
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_index_is_resumable_and_embeds_each_paper_once(cli, env):
    cli("ingest", "hf-daily", str(TEST_DATA / "hf_daily"), "--no-index")
    assert vectors(env) == {}
    first = cli("index", "--limit", "5", "--batch-size", "2", "--json")
    assert summary(first)["embedded"] == 5
    # the term features are cheap: every paper is described on the first run (12 papers are too few
    # for any term to qualify: an empty vocabulary)
    assert summary(first)["described"] == 12 and summary(first)["vocabulary"] == 0
    done = vectors(env)
    assert len(done) == 5
    second = cli("index", "--json")  # as after a kill: goes on from there
    assert summary(second) == {"considered": 12, "embedded": 7, "skipped": 5, "described": 0, "vocabulary": 0}
    after = vectors(env)
    assert len(after) == 12
    assert {k: after[k] for k in done} == done  # the first five were not embedded again
    third = cli("index", "--json")
    done_again = {"considered": 12, "embedded": 0, "skipped": 12, "described": 0, "vocabulary": 0}
    assert summary(third) == done_again
    table = cli("index")
    assert summary_table(table.stdout) == done_again


def test_index_refuses_an_unknown_backend(env):
    result = CliRunner().invoke(app, ["index", "--backend", "nope"])
    assert result.exit_code == 2 and "unknown embedding backend" in result.output


def test_ingest_then_indexes(cli, env):
    result = cli("ingest", "hf-daily", str(TEST_DATA / "hf_daily"))
    assert "index hashing-64" in result.stdout
    assert summary_tables(result.stdout)[1] == {
        "considered": 12,
        "embedded": 12,
        "skipped": 0,
        "described": 12,
        "vocabulary": 0,
    }
    assert len(vectors(env)) == 12
    as_json = cli("ingest", "hf-daily", str(TEST_DATA / "hf_daily"), "--json")
    assert summary(as_json)["unchanged"] == 12  # stdout is still one JSON object
    assert "considered" in as_json.stderr


def test_ingest_without_indexing(cli, env, monkeypatch):
    monkeypatch.setenv("DAILYPAPERS_EMBED_AFTER_INGEST", "false")
    cli("ingest", "hf-daily", str(TEST_DATA / "hf_daily"))
    assert vectors(env) == {}


def test_demo_vectors_are_loaded_with_the_demo(db):
    assert DEMO_VECTORS.exists()
    with np.load(DEMO_VECTORS) as data:
        assert data["vectors"].dtype == np.float16 and data["vectors"].shape[1] == 384
        assert len(data["arxiv_ids"]) == len(data["vectors"]) >= 1700
    load_demo(db)
    with db.session() as s:
        papers = s.scalar(select(func.count()).select_from(Paper))
        rows = s.execute(
            select(Paper.title, Paper.abstract, PaperVector.text_hash, PaperVector.dim)
            .join(PaperVector, PaperVector.paper_id == Paper.id)
            .where(PaperVector.model == MINILM_NAME)
        ).all()
    assert len(rows) == papers
    assert all(r.dim == 384 and r.text_hash == text_hash(paper_text(r.title, r.abstract)) for r in rows)
    from dailypapers.search.semantic import count_missing

    with db.session() as s:
        assert count_missing(s, MINILM_NAME) == 0  # `dailypapers index` has nothing left to do


def test_a_bulk_import_leaves_indexing_to_the_index_command(cli, env, monkeypatch):
    import dailypapers.application

    monkeypatch.setattr(dailypapers.application, "AUTO_INDEX_MAX", 5)
    result = cli("ingest", "hf-daily", str(TEST_DATA / "hf_daily"))
    assert "12 papers lack a vector" in result.stderr and "dailypapers index" in result.stderr
    assert vectors(env) == {}
    assert summary(cli("index", "--json"))["embedded"] == 12
