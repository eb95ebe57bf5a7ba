"""How close in meaning a paper must be to a query to be a result: the similarity floor, measured on the
six relevance sets.

    .venv/bin/python bench/similarity_floor.py [--shared ../shared/data] [--floors 0,0.2,0.25,...]

A semantic search always finds nearest papers, even for a query no paper is about ("xqzvwkjj plorf"),
so the semantic side keeps only papers whose cosine to the query reaches a floor
(``dailypapers.search.hybrid.SIMILARITY_FLOOR``). For each set (SciFact on its train split, MED, CRAN,
CISI, CACM, ADI on their test splits) and each floor, the script runs the site's own search
(``SearchEngine.search``, as ``dailypapers eval beir`` does) and prints:

- ``rel kept``: of the judged-relevant papers among a query's 100 nearest, the share at or above the floor;
- ``cut``: of all the 100 nearest, the share below it (what the floor removes);
- nDCG@10 and recall@100 of semantic and hybrid search with that floor;
- the closest paper to 20 nonsense queries (random letters, seeded) and to misspelt words.

The floor is chosen as the highest that keeps hybrid nDCG@10 no lower than without a floor on every set
and at least 99% of the relevant nearest papers over the six sets pooled. A query none of whose words is
in any paper gets a higher floor (``UNKNOWN_WORDS_FLOOR``), above the closest paper of every nonsense
query in every set. Corpus vectors come from ``data/cache/embeddings`` (as
``dailypapers eval beir`` leaves them) or are embedded once (minutes per set on 2 cores).
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dailypapers.search import evaluate, hybrid  # noqa: E402
from dailypapers.search.embed import get_backend  # noqa: E402

SETS = (("scifact", "train"), ("ir_classic/med", None), ("ir_classic/cran", None))
SETS += (("ir_classic/cisi", None), ("ir_classic/cacm", None), ("ir_classic/adi", None))
FLOORS = (0.0, 0.15, 0.2, 0.25, 0.28, 0.3, 0.32, 0.35, 0.4)
MISSPELT = ("difusion", "transfomer", "reinforcment learning", "segmantation", "langauge model")


def nonsense(n: int = 20, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = lambda: "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))  # noqa: E731
    return [" ".join(words() for _ in range(rng.randint(1, 3))) for _ in range(n)]


class Nearest:
    """The vector search's answers, remembered per query text (so each floor re-ranks the same lists)."""

    def __init__(self, search_text) -> None:
        self.search_text = search_text
        self.memo: dict[tuple[str, int], list[tuple[int, float]]] = {}

    def __call__(self, text: str, k: int) -> list[tuple[int, float]]:
        if (text, k) not in self.memo:
            self.memo[(text, k)] = self.search_text(text, k)
        return self.memo[(text, k)]


def measure(directory: Path, split: str | None, backend, floors: tuple[float, ...]) -> dict:
    beir = evaluate.load_beir(directory, split)
    queries, qrels = evaluate.judged_queries(beir, None)
    out: dict = {"set": directory.name, "queries": len(queries), "floors": {}}
    with evaluate.indexed_set(beir, backend, evaluate.DEFAULT_CACHE) as indexed:
        engine = hybrid.SearchEngine(indexed.db, backend)
        nearest = Nearest(engine.vectors.search_text)
        engine.vectors.search_text = nearest
        doc = indexed.doc_of_id
        with indexed.db.session() as session:
            sims_relevant, sims_all = [], []
            for qid, query in queries.items():
                text = evaluate.search_box_text(query)
                for paper_id, similarity in nearest(text, hybrid.SEMANTIC_CANDIDATES):
                    sims_all.append(similarity)
                    if qrels[qid].get(doc[paper_id], 0) > 0:
                        sims_relevant.append(similarity)
            out["nonsense"] = [nearest(q, 1)[0][1] for q in nonsense()]
            out["misspelt"] = {q: nearest(q, 1)[0][1] for q in MISSPELT}
            rel, every = np.array(sims_relevant), np.array(sims_all)
            for floor in floors:
                engine.similarity_floor = floor
                row = {
                    "rel_kept": float((rel >= floor).mean()),
                    "cut": float((every < floor).mean()),
                    "rel": (int((rel >= floor).sum()), len(rel)),
                }
                for mode in ("semantic", "hybrid"):
                    ranked = evaluate.search_rankings(engine, session, queries, mode)
                    scores = evaluate.score({q: [doc[i] for i in ids] for q, ids in ranked.items()}, qrels)
                    row[mode] = (scores["ndcg@10"], scores["recall@100"])
                out["floors"][floor] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--shared", type=Path, default=shared)
    parser.add_argument("--floors", default=",".join(str(f) for f in FLOORS))
    args = parser.parse_args()
    floors = tuple(float(f) for f in args.floors.split(","))
    backend = get_backend("minilm")
    results = []
    for name, split in SETS:
        start = time.perf_counter()
        result = measure(args.shared / name, split, backend, floors)
        results.append(result)
        print(f"\n{result['set']} ({result['queries']} queries, {time.perf_counter() - start:.0f} s)")
        head = f"{'floor':>6} {'rel kept':>9} {'cut':>6} {'semantic nDCG/R@100':>20}"
        print(f"{head} {'hybrid nDCG/R@100':>18}")
        for floor, row in result["floors"].items():
            mark = " <- shipped" if abs(floor - hybrid.SIMILARITY_FLOOR) < 1e-9 else ""
            print(
                f"{floor:6.2f} {row['rel_kept']:9.3f} {row['cut']:6.3f} "
                f"{row['semantic'][0]:10.4f}/{row['semantic'][1]:.3f} "
                f"{row['hybrid'][0]:10.4f}/{row['hybrid'][1]:.3f}{mark}"
            )
        sims = np.array(result["nonsense"])
        print(
            f"nonsense queries, closest paper: min {sims.min():.3f} median {np.median(sims):.3f} "
            f"max {sims.max():.3f}; misspelt: "
            + ", ".join(f"{q!r} {s:.3f}" for q, s in result["misspelt"].items())
        )
    print(
        "\nper floor, over the six sets: the worst change of hybrid nDCG@10 from no floor, the least share of"
    )
    print("relevant nearest papers kept in one set, the share kept over all sets pooled")
    for floor in floors:
        drops = [r["floors"][floor]["hybrid"][0] - r["floors"][floors[0]]["hybrid"][0] for r in results]
        kept = [r["floors"][floor]["rel_kept"] for r in results]
        pooled = sum(r["floors"][floor]["rel"][0] for r in results) / sum(
            r["floors"][floor]["rel"][1] for r in results
        )
        mark = " <- shipped" if abs(floor - hybrid.SIMILARITY_FLOOR) < 1e-9 else ""
        print(f"{floor:6.2f} {min(drops):+.4f} {min(kept):.3f} {pooled:.4f}{mark}")
    worst = max(max(r["nonsense"]) for r in results)
    print(
        f"closest paper to any nonsense query, over the sets: {worst:.3f} "
        f"(floor when no word of a query is in any paper: {hybrid.UNKNOWN_WORDS_FLOOR})"
    )


if __name__ == "__main__":
    main()
