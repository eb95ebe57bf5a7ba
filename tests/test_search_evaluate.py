"""Search evaluation: the metrics on hand-made rankings, a tiny BEIR folder end to end, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dailypapers.eval_cli import eval_app
from dailypapers.search import evaluate
from dailypapers.search.embed import HashingBackend
from dailypapers.search.evaluate import (
    EvalParams,
    evaluate_beir,
    load_beir,
    ndcg_at_k,
    plain_query,
    recall_at_k,
    related_recall,
)


# ------------------------------------------------------------------------------------------ metrics

# the evaluation indexes its corpus in a temporary SQLite database of its own, whatever the site runs on
EVAL_ON_SQLITE = pytest.mark.sqlite_only


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


def test_plain_query_has_no_syntax() -> None:
    parsed = plain_query('Cats AND dogs OR author:smith -not "quoted words" year:2020')
    assert parsed.authors == () and parsed.excluded == () and parsed.phrases == ()
    assert parsed.year_from is None
    assert set(parsed.terms) >= {"cats", "and", "dogs", "or", "author", "smith", "not", "quoted", "2020"}
    assert "author:smith" in parsed.semantic_text


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
}
QRELS = [("q1", "d1", 2), ("q1", "d5", 1), ("q2", "d4", 1), ("q2", "d3", 0), ("q3", "d3", 1)]


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
    assert len(beir.queries) == 4


def test_default_split_falls_back_to_train(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny", split="train")
    assert evaluate.default_split(root) == "train"
    assert load_beir(root).split == "train"


@EVAL_ON_SQLITE
def test_keyword_end_to_end_and_vs_or(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    result = evaluate_beir(root, modes=("keyword",), cache_dir=None, params=evaluate.AND_ONLY)
    assert result.queries == 3 and result.docs == 5
    # AND of every word: q1, q2, q3 each find their best doc first; q1 misses d5 (no "slipstream")
    r = result.modes["keyword"]
    assert r["recall@100"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    ideal_q1 = 2 + 1 / math.log2(3)
    assert r["ndcg@10"] == pytest.approx((2 / ideal_q1 + 1 + 1) / 3)
    # OR of the words: d5 ("wing") is found as well
    either = evaluate_beir(root, modes=("keyword",), cache_dir=None, params=EvalParams(keyword_or=True))
    assert either.modes["keyword"]["recall@100"] == pytest.approx(1.0)
    assert either.modes["keyword"]["ndcg@10"] == pytest.approx(1.0)


@EVAL_ON_SQLITE
def test_semantic_and_hybrid_with_hashing_backend_and_cache(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    cache = tmp_path / "cache"
    backend = HashingBackend(64)
    first = evaluate_beir(root, backend=backend, cache_dir=cache)
    assert set(first.modes) == {"keyword", "semantic", "hybrid"}
    assert first.embedded == 5
    files = list(cache.rglob("*.npy"))
    assert len(files) == 1 and np.load(files[0]).shape == (5, 64)
    again = evaluate_beir(root, backend=backend, cache_dir=cache)
    assert again.embedded == 0  # from the cache
    assert again.modes == first.modes
    for r in first.modes.values():
        assert 0.0 <= r["ndcg@10"] <= 1.0 and 0.0 <= r["recall@100"] <= 1.0
    assert first.modes["semantic"]["recall@100"] == 1.0  # 5 docs: everything is in the top 100


@EVAL_ON_SQLITE
def test_fuse_matches_search_engine(tmp_path: Path) -> None:
    """The eval's own fusion is what SearchEngine.search returns for the same query."""
    root = make_beir(tmp_path / "tiny")
    backend = HashingBackend(64)
    beir = load_beir(root)
    with evaluate.indexed_set(beir, backend, cache_dir=None) as indexed:
        rankings = evaluate.run_rankings(indexed, backend, beir.queries, depth=200)[
            evaluate._list_name(evaluate.CURRENT)
        ]
        engine = evaluate.hybrid.SearchEngine(indexed.db, backend)
        with indexed.db.session() as session:
            for qid, q in beir.queries.items():
                for mode in ("keyword", "semantic", "hybrid"):
                    ours = evaluate.fuse(
                        rankings.keyword[qid], rankings.semantic[qid], mode, evaluate.CURRENT
                    )
                    assert ours == evaluate.engine_search_ranking(engine, session, q, mode), (qid, mode)


@EVAL_ON_SQLITE
def test_related_recall(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    (root / "citation_links.tsv").write_text("doc-a\tdoc-b\nd1\td5\nd1\td3\nd3\td3\nd9\td1\n")
    result = related_recall(root, k=4, backend=HashingBackend(64), cache_dir=None)
    # only d1 cites docs in the corpus (d3 -> d3 is a self-link, d9 is unknown); k=4 of 4 others: all found
    assert result["citing_docs"] == 1 and result["links"] == 2
    assert result["recall@4"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ CLI


@EVAL_ON_SQLITE
def test_cli_beir_json_and_table(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    runner = CliRunner()
    out = runner.invoke(eval_app, ["beir", str(root), "--mode", "keyword", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert set(payload) >= {"ndcg@10", "recall@100"} and payload["split"] == "test"
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
        ],
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert payload["queries"] == 2
    for mode in ("keyword", "semantic", "hybrid"):
        assert set(payload[mode]) == {"ndcg@10", "recall@100"}
    out = runner.invoke(eval_app, ["beir", str(root), "--mode", "keyword"])
    assert out.exit_code == 0 and "nDCG@10" in out.output


def test_cli_rejects_bad_input(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    runner = CliRunner()
    assert runner.invoke(eval_app, ["beir", str(root), "--mode", "fuzzy"]).exit_code == 2
    assert runner.invoke(eval_app, ["beir", str(root), "--split", "dev"]).exit_code == 2
    assert runner.invoke(eval_app, ["beir", str(tmp_path)]).exit_code == 2


@EVAL_ON_SQLITE
def test_cli_related(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    (root / "citation_links.tsv").write_text("doc-a\tdoc-b\nd1\td5\n")
    out = CliRunner().invoke(
        eval_app, ["related", str(root), "--backend", "hashing", "--json", "--cache", str(tmp_path / "c")]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["recall@10"] == pytest.approx(1.0)


@EVAL_ON_SQLITE
def test_keyword_candidates_match_prepared_rankings(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    beir = load_beir(root)
    with evaluate.indexed_set(beir, None, cache_dir=None) as indexed:
        rankings = evaluate.run_rankings(indexed, None, beir.queries, depth=50, semantic=False)
        settings = [
            EvalParams(),
            EvalParams(keyword_or=True),
            EvalParams(keyword_or=True, drop_stopwords=True),
            *(EvalParams(keyword_or=True, fallback_below=b) for b in evaluate.FALLBACKS),
            evaluate.CURRENT,
        ]
        with indexed.db.session() as session:
            for p in settings:
                for qid, q in beir.queries.items():
                    got = evaluate.keyword_candidates(session, plain_query(q), p, 50)
                    assert got == rankings[evaluate._list_name(p)].keyword[qid], (p, qid)


def test_stopwords_left_out_of_or() -> None:
    parsed = plain_query("the effect of the wing")
    assert evaluate.or_fts5(parsed, drop_stopwords=True) == '"effect" OR "wing"'
    assert evaluate.without_stopwords(plain_query("of the")).terms == ("of", "the")
