"""``dailypapers eval recommend``: the shipped recommender measured on a reader set, through the same
path as "For you" (accounts, upvotes, "not interested" marks, recommend_for), bad lines reported and
left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dailypapers.cli import app
from dailypapers.recommend.evaluate import evaluate_recommend
from dailypapers.search.embed import HashingBackend
from dailypapers.search.evaluate import ndcg_at_k

TOPICS = {
    "a": "protein folding structure residues chain fold",
    "b": "galaxy cluster redshift survey telescope stars",
    "c": "graph neural network message passing nodes edges",
}


def _corpus() -> list[dict]:
    papers = []
    for topic, words in TOPICS.items():
        for n in range(8):
            day = f"2024-01-{n + 1:02d}" if n < 4 else f"2024-06-{n + 1:02d}"
            papers.append(
                {
                    "_id": f"{topic}{n}",
                    "title": f"{words.split()[n % 6].title()} study {n}",
                    "text": f"{words} {words.split()[(n + 2) % 6]} experiment {n}",
                    "date": day,
                    "authors": [f"Author {topic.upper()}"],
                    "categories": [f"cat.{topic}"],
                }
            )
    return papers


def _write(folder: Path, corpus: list, readers: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for line in corpus:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    with (folder / "readers.jsonl").open("w", encoding="utf-8") as f:
        for line in readers:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return folder


SINCE = "2024-06-01"
READERS = [
    # likes the early protein papers, later reads the late ones; turns down one of them
    {"reader": "alice", "likes": ["a0", "a1", "a2"], "dislikes": ["a7"], "targets": ["a4", "a5"],
     "since": SINCE},
    {"reader": "bob", "likes": ["b0", "b1", "b3"], "targets": ["b4", "b6"], "since": SINCE},
    # what they liked says nothing of what they read later
    {"reader": "carol", "likes": ["a0", "a3"], "targets": ["c5"], "since": SINCE},
]  # fmt: skip


def test_the_recommender_is_scored_reader_by_reader(tmp_path: Path, database_url: str | None) -> None:
    folder = _write(tmp_path / "set", _corpus(), READERS)
    result = evaluate_recommend(folder, backend=HashingBackend(64), cache_dir=None, database_url=database_url)
    assert result.readers == 3 and result.docs == 24 and result.problems == []
    ranked = result.rankings
    # only papers dated from `since` on, never a like or a dislike
    late = {p["_id"] for p in _corpus() if p["date"] >= "2024-06-01"}
    assert all(set(r) <= late for r in ranked.values()), ranked
    assert "a7" not in ranked["alice"] and not set(ranked["alice"]) & {"a0", "a1", "a2"}
    # a reader's own topic first: their targets lead their lists, carol's does not
    assert all(d.startswith("a") for d in ranked["alice"][:3]), ranked["alice"]
    assert all(d.startswith("b") for d in ranked["bob"][:3]), ranked["bob"]
    assert result.per_reader["carol"] < result.per_reader["alice"]
    # the means are of the per-reader figures, nDCG as `eval beir` computes it
    for reader in READERS:
        expected = ndcg_at_k(ranked[reader["reader"]], dict.fromkeys(reader["targets"], 1.0), 20)
        assert result.per_reader[reader["reader"]] == pytest.approx(expected)
    assert result.ndcg == pytest.approx(sum(result.per_reader.values()) / 3)
    hits = [any(t in ranked[r["reader"]][:20] for t in r["targets"]) for r in READERS]
    assert result.hit_rate == pytest.approx(sum(hits) / 3)


def test_bad_lines_are_reported_by_number_and_the_rest_is_measured(
    tmp_path: Path, database_url: str | None
) -> None:
    broken = [{"_id": "bad", "title": "No date", "text": "x"}, "{not json", {"_id": 5, "title": "t"}]
    corpus = [*_corpus(), *broken]
    readers = [
        *READERS,
        {"reader": "dave", "likes": ["zzz"], "targets": ["a4"], "since": "2024-06-01"},
        {"reader": "erin", "likes": ["a0", "nope"], "targets": ["a5"], "since": "June"},
        {"reader": "alice", "likes": ["a0"], "targets": ["a4"], "since": "2024-06-01"},
        {"reader": "fay", "likes": "a0", "targets": ["a4"], "since": "2024-06-01"},
        "[1, 2]",
    ]
    folder = _write(tmp_path / "set", corpus, readers)
    runner = CliRunner()
    args = ["eval", "recommend", str(folder), "--backend", "hashing", "--json"]
    args += ["--cache", str(tmp_path / "cache")]
    if database_url:
        args += ["--database-url", database_url]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["readers"] == 3 and payload["docs"] == 24
    assert 0.0 <= payload["hr@20"] <= 1.0 and 0.0 <= payload["ndcg@20"] <= 1.0
    problems = "\n".join(payload["problems"])
    for expected in (
        "corpus.jsonl line 25: date must be a date",
        "corpus.jsonl line 26: not JSON",
        "corpus.jsonl line 27: _id must be",
        "readers.jsonl line 4: reader 'dave': no like is in the corpus",
        "readers.jsonl line 5: since must be a date",
        "readers.jsonl line 6: reader 'alice' again",
        "readers.jsonl line 7: likes must be a list",
        "readers.jsonl line 8: not a JSON object",
    ):
        assert expected in problems, problems
    assert "skipped: readers.jsonl line 4" in result.stderr


def test_a_folder_without_its_files_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "recommend", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "has no corpus.jsonl" in result.output, result.output


def test_a_readers_own_name_is_never_a_co_author(tmp_path: Path, database_url: str | None) -> None:
    """Two readers like the same paper by "Author B"; a later paper on another topic is by Author B too.
    For the reader named Author B that is their own name and counts for nothing; for the other it is
    a co-author of a liked paper. A name that is not text is reported."""
    corpus = _corpus()
    for paper in corpus:
        if paper["_id"] == "c5":
            paper["authors"] = ["Author C", "Author B"]
    readers = [
        {"reader": "self", "name": "author  b", "likes": ["b0"], "targets": ["b4"], "since": SINCE},
        {"reader": "other", "likes": ["b0"], "targets": ["b4"], "since": SINCE},
        {"reader": "odd", "name": 5, "likes": ["b0"], "targets": ["b4"], "since": SINCE},
    ]
    folder = _write(tmp_path / "set", corpus, readers)
    result = evaluate_recommend(folder, backend=HashingBackend(64), cache_dir=None, database_url=database_url)
    assert result.readers == 2
    assert any("reader 'odd': name must be text" in p for p in result.problems), result.problems
    other, own = result.rankings["other"], result.rankings["self"]
    # every b paper is by Author B too: c5 comes right after them, lifted by its co-author
    assert [d for d in other if not d.startswith("b")][0] == "c5", other
    assert own.index("c5") > other.index("c5"), (own, other)
