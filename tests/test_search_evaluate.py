"""Search evaluation: the metrics on hand-made rankings, a tiny BEIR folder end to end on the run's
backend (the figures are what the site's search returns), the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from dailypapers.eval_cli import eval_app
from dailypapers.search import evaluate
from dailypapers.search.embed import HashingBackend
from dailypapers.search.evaluate import (
    evaluate_beir,
    load_beir,
    ndcg_at_k,
    recall_at_k,
    related_recall,
    search_box_text,
)
from dailypapers.search.hybrid import SearchEngine
from dailypapers.search.query import parse_query
from dailypapers.store.db import Database
from dailypapers.store.models import Paper

# ------------------------------------------------------------------------------------------ metrics


def test_ndcg_perfect_and_empty() -> None:
    assert ndcg_at_k(["a", "b"], {"a": 2, "b": 1}) == pytest.approx(1.0)
    assert ndcg_at_k([], {"a": 1}) == 0.0
    assert ndcg_at_k(["a"], {}) == 0.0
    assert ndcg_at_k(["a"], {"a": 0, "b": 0}) == 0.0  # judged, none relevant


def test_ndcg_graded_exact_value() -> None:
    # ranking c (0), a (3), b (1); ideal a (3), b (1)
    got = ndcg_at_k(["c", "a", "b"], {"a": 3, "b": 1, "c": 0})
    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3)
    assert got == pytest.approx(dcg / idcg)


def test_ndcg_cuts_at_k_and_ignores_duplicates() -> None:
    ranking = [f"x{i}" for i in range(10)] + ["a"]
    assert ndcg_at_k(ranking, {"a": 1}, k=10) == 0.0
    assert ndcg_at_k(["a", "a", "b"], {"b": 1}) == pytest.approx(1 / math.log2(3))
    # the ideal is cut at k too: 11 relevant docs, all found in the top 10 -> 1.0
    many = {f"d{i}": 1 for i in range(11)}
    assert ndcg_at_k([f"d{i}" for i in range(10)], many, k=10) == pytest.approx(1.0)


def test_recall_exact_values() -> None:
    qrels = {"a": 1, "b": 2, "c": 0, "d": 1}
    assert recall_at_k(["a", "c", "x"], qrels, k=100) == pytest.approx(1 / 3)
    assert recall_at_k(["x", "a", "b", "d"], qrels, k=3) == pytest.approx(2 / 3)
    assert recall_at_k(["a", "b", "d"], qrels) == 1.0
    assert recall_at_k(["a"], {"a": 0}) == 0.0


def test_search_box_text_has_no_syntax() -> None:
    parsed = parse_query(search_box_text('Cats AND dogs OR author:smith -not "quoted words" year:2020'))
    assert parsed.authors == () and parsed.excluded == () and parsed.phrases == ()
    assert parsed.year_from is None
    assert parsed.terms == (
        "cats",
        "and",
        "dogs",
        "or",
        "author",
        "smith",
        "not",
        "quoted",
        "words",
        "year",
        "2020",
    )


# ------------------------------------------------------------------------------------------ tiny set

DOCS = {
    "d1": ("Aerodynamics of wings", "lift and drag of a wing in a propeller slipstream"),
    "d2": ("Heat transfer", "boundary layer heat transfer at hypersonic speed"),
    "d3": ("Protein folding", "molecular dynamics of protein folding in water"),
    "d4": ("Gene expression", "gene expression in cancer cells measured by arrays"),
    "d5": ("Wing flutter", "flutter of a swept wing at transonic speed"),
}
QUERIES = {
    "q1": "wing slipstream lift",
    "q2": "cancer gene expression",
    "q3": "protein water folding",
    "q4": "unjudged query",
    # stopwords, capitals and punctuation; no paper has every word, so any-word matches are ranked
    "q5": "The Flutter of swept wings, at high speed!",
}
QRELS = [
    ("q1", "d1", 2),
    ("q1", "d5", 1),
    ("q2", "d4", 1),
    ("q2", "d3", 0),
    ("q3", "d3", 1),
    ("q5", "d5", 2),
    ("q5", "d1", 1),
    ("q5", "d2", 0),
]


def make_beir(root: Path, split: str = "test") -> Path:
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as fh:
        for doc_id, (title, body) in DOCS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": body}) + "\n")
    with (root / "queries.jsonl").open("w") as fh:
        for qid, q in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": q}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_load_beir(tmp_path: Path) -> None:
    beir = load_beir(make_beir(tmp_path / "tiny"))
    assert beir.split == "test" and list(beir.corpus) == list(DOCS)
    assert beir.corpus["d2"] == DOCS["d2"]
    assert beir.qrels["q1"] == {"d1": 2.0, "d5": 1.0}
    assert beir.qrels["q2"]["d3"] == 0.0
    assert len(beir.queries) == 5


def test_default_split_falls_back_to_train(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny", split="train")
    assert evaluate.default_split(root) == "train"
    assert load_beir(root).split == "train"


def test_keyword_end_to_end(tmp_path: Path, database_url: str | None) -> None:
    root = make_beir(tmp_path / "tiny")
    result = evaluate_beir(
        root, modes=("keyword",), cache_dir=None, database_url=database_url, limit_queries=3
    )
    assert result.queries == 3 and result.docs == 5
    assert result.database == ("postgresql" if database_url else "sqlite")
    # q1, q2 and q3 find their best doc first; q1's "wing" alone finds d5 too, after d1 (which has every
    # word), as the site's search adds any-word matches when every word finds fewer than 10 papers
    assert result.modes["keyword"]["recall@100"] == pytest.approx(1.0)
    assert result.modes["keyword"]["ndcg@10"] == pytest.approx(1.0)


def test_semantic_and_hybrid_with_hashing_backend_and_cache(tmp_path: Path, database_url: str | None) -> None:
    root = make_beir(tmp_path / "tiny")
    cache = tmp_path / "cache"
    backend = HashingBackend(64)
    first = evaluate_beir(root, backend=backend, cache_dir=cache, database_url=database_url)
    assert set(first.modes) == {"keyword", "semantic", "hybrid"}
    assert first.embedded == 5
    files = list(cache.rglob("*.npy"))
    assert len(files) == 1 and np.load(files[0]).shape == (5, 64)
    again = evaluate_beir(root, backend=backend, cache_dir=cache, database_url=database_url)
    assert again.embedded == 0  # from the cache
    assert again.modes == first.modes
    for r in first.modes.values():
        assert 0.0 <= r["ndcg@10"] <= 1.0 and 0.0 <= r["recall@100"] <= 1.0
    assert first.modes["semantic"]["recall@100"] == 1.0  # 5 docs: everything is in the top 100


def test_reported_figures_are_what_search_returns(tmp_path: Path, database_url: str | None) -> None:
    """Each mode's figures are those of the rankings SearchEngine.search (the web's search) returns for
    each query as typed, on the run's backend."""
    root = make_beir(tmp_path / "tiny")
    backend = HashingBackend(64)
    reported = evaluate_beir(root, backend=backend, cache_dir=None, database_url=database_url)
    beir = load_beir(root)
    queries, qrels = evaluate.judged_queries(beir)
    assert "q5" in queries
    with evaluate.indexed_set(beir, backend, cache_dir=None, database_url=database_url) as indexed:
        site = SearchEngine(indexed.db, backend)
        with indexed.db.session() as session:
            for mode in evaluate.EVAL_MODES:
                ranked = evaluate.search_rankings(SearchEngine(indexed.db, backend), session, queries, mode)
                ndcgs, recalls = [], []
                for qid, query in queries.items():
                    hits = site.search(session, query, mode=mode, limit=100).hits
                    assert ranked[qid] == [h.paper_id for h in hits], (mode, qid)
                    docs = [indexed.doc_of_id[h.paper_id] for h in hits]
                    ndcgs.append(ndcg_at_k(docs, qrels[qid], 10))
                    recalls.append(recall_at_k(docs, qrels[qid], 100))
                assert reported.modes[mode]["ndcg@10"] == pytest.approx(sum(ndcgs) / len(ndcgs)), mode
                assert reported.modes[mode]["recall@100"] == pytest.approx(sum(recalls) / len(recalls)), mode


def test_corpus_is_built_apart_and_removed(db: Database, database_url: str | None) -> None:
    """The corpus goes into a database of its own on the run's backend, never the one named, and that
    database is gone after close."""
    indexed = evaluate.index_corpus(DOCS, None, database_url=database_url, cache_dir=None)
    built = indexed.db.url
    try:
        assert indexed.db.backend == db.backend
        with indexed.db.session() as session:
            assert session.scalar(select(func.count()).select_from(Paper)) == len(DOCS)
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Paper)) == 0
    finally:
        indexed.close()
    if db.is_postgres:
        assert built.database != db.url.database
        with db.engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": built.database}
            )
            assert left.scalar_one() == 0
    else:
        assert not Path(built.database).exists()


def test_related_recall(tmp_path: Path, database_url: str | None) -> None:
    root = make_beir(tmp_path / "tiny")
    (root / "citation_links.tsv").write_text("doc-a\tdoc-b\nd1\td5\nd1\td3\nd3\td3\nd9\td1\n")
    result = related_recall(root, k=4, backend=HashingBackend(64), cache_dir=None, database_url=database_url)
    # only d1 cites docs in the corpus (d3 -> d3 is a self-link, d9 is unknown); k=4 of 4 others: all found
    assert result["citing_docs"] == 1 and result["links"] == 2
    assert result["recall@4"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ CLI


def _on(database_url: str | None) -> list[str]:
    return ["--database-url", database_url] if database_url else []


def test_cli_beir_json_and_table(tmp_path: Path, database_url: str | None) -> None:
    root = make_beir(tmp_path / "tiny")
    runner = CliRunner()
    out = runner.invoke(eval_app, ["beir", str(root), "--mode", "keyword", "--json", *_on(database_url)])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert set(payload) >= {"ndcg@10", "recall@100"} and payload["split"] == "test"
    assert payload["database"] == ("postgresql" if database_url else "sqlite")
    out = runner.invoke(
        eval_app,
        [
            "beir",
            str(root),
            "--mode",
            "all",
            "--json",
            "--backend",
            "hashing",
            "--limit-queries",
            "2",
            "--cache",
            str(tmp_path / "c"),
            *_on(database_url),
        ],
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert payload["queries"] == 2
    for mode in ("keyword", "semantic", "hybrid"):
        assert set(payload[mode]) == {"ndcg@10", "recall@100"}
    out = runner.invoke(eval_app, ["beir", str(root), "--mode", "keyword", *_on(database_url)])
    assert out.exit_code == 0 and "nDCG@10" in out.output


def test_cli_rejects_bad_input(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    runner = CliRunner()
    assert runner.invoke(eval_app, ["beir", str(root), "--mode", "fuzzy"]).exit_code == 2
    assert runner.invoke(eval_app, ["beir", str(root), "--split", "dev"]).exit_code == 2
    bad = runner.invoke(eval_app, ["beir", str(root), "--backend", "hashing", "--precision", "int8"])
    assert bad.exit_code == 2 and "choose from auto, fp32, bf16" in bad.output
    assert runner.invoke(eval_app, ["beir", str(tmp_path)]).exit_code == 2
    for url, why in (("not a url", "not a database URL"), ("mysql://user@host/db", "only sqlite")):
        refused = runner.invoke(eval_app, ["beir", str(root), "--database-url", url])
        assert refused.exit_code == 2 and why in " ".join(refused.output.split()), refused.output


def test_cli_related(tmp_path: Path, database_url: str | None) -> None:
    root = make_beir(tmp_path / "tiny")
    (root / "citation_links.tsv").write_text("doc-a\tdoc-b\nd1\td5\n")
    out = CliRunner().invoke(
        eval_app,
        [
            "related",
            str(root),
            "--backend",
            "hashing",
            "--json",
            "--cache",
            str(tmp_path / "c"),
            *_on(database_url),
        ],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["recall@10"] == pytest.approx(1.0)
