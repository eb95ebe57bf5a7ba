"""Recommendations for real readers: the people who submitted papers to Hugging Face Daily Papers.

    .venv/bin/python bench/recommend_hf.py [--shared ../shared/data] [--min-papers 4] [--keep DIR]

Each account in ``hf_daily_papers`` that submitted papers (``paper.submittedOnDailyBy``, in older files
``submittedBy``) is a reader:
their submissions in the order of the days they were listed, the earlier half as likes, the later half
as targets; the candidates are every paper listed from the day of their first target on, less their
likes. The two accounts that submitted the most are left out: they post hundreds of papers for everyone
(curators, not readers). Readers need ``--min-papers`` submissions (so at least two likes and two
targets). The set is written in ``dailypapers eval recommend``'s layout (``corpus.jsonl``,
``readers.jsonl``; ``--keep DIR`` keeps it) and measured two ways, reader by reader, on the same
candidates:

- ``shipped``: :func:`dailypapers.recommend.evaluate.evaluate_recommend`, the product's path (accounts,
  upvotes, ``recommend_for``), all-MiniLM-L6-v2 vectors (cached under data/cache/embeddings);
- ``tfidf+svm``: arxiv-sanity-lite's recipe (bench/recommend.py: tf-idf of title + abstract fitted on the
  whole set, a per-reader LinearSVC against 2,000 sampled candidates).

The shipped path counts co-authors of the liked papers; each reader's own name (the author name the
account claimed on a paper, else its full name; ``name`` in ``readers.jsonl``) never counts, as the
product never counts a reader's own name.

Prints nDCG@20 and hit rate@20 of both, their ratio and the paired 95% bootstrap interval of the
difference, against the target (shipped >= 1.10x tf-idf + SVM). Needs scikit-learn for the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dailypapers.recommend import model  # noqa: E402
from dailypapers.recommend.evaluate import K, evaluate_recommend  # noqa: E402
from dailypapers.search.evaluate import ndcg_at_k  # noqa: E402

TARGET = 1.10
NAMES: dict[str, str] = {}  # account -> the author name it claimed on a paper
FULL_NAMES: dict[str, str] = {}  # account -> its full name
CURATORS = 2  # the accounts with the most submissions, left out
BOOTSTRAP = 10_000


def read_dump(folder: Path) -> tuple[dict[str, dict], dict[str, list[tuple[str, str]]], int]:
    """(papers by arXiv id: title, text, date, authors; submissions by account: (date, id); entries that
    could not be read). A paper listed on several days counts from its first."""
    papers: dict[str, dict] = {}
    submitted: dict[str, list[tuple[str, str]]] = defaultdict(list)
    broken = 0
    for path in sorted(folder.glob("*.json")):
        day = path.stem
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            broken += 1
            continue
        for entry in entries if isinstance(entries, list) else []:
            paper = entry.get("paper") if isinstance(entry, dict) else None
            if not isinstance(paper, dict) or not isinstance(paper.get("id"), str):
                broken += 1
                continue
            arxiv_id = paper["id"]
            title = entry.get("title") or paper.get("title") or ""
            text = paper.get("summary") or entry.get("summary") or ""
            if not isinstance(title, str) or not isinstance(text, str) or not (title + text).strip():
                broken += 1
                continue
            for a in paper.get("authors") or []:
                claimed = a.get("user") if isinstance(a, dict) else None
                if isinstance(claimed, dict) and isinstance(claimed.get("user"), str):
                    if isinstance(a.get("name"), str) and a["name"].strip():
                        NAMES.setdefault(claimed["user"], a["name"].strip())
            if arxiv_id not in papers:
                authors = [a.get("name") for a in paper.get("authors") or [] if isinstance(a, dict)]
                papers[arxiv_id] = {
                    "_id": arxiv_id,
                    "title": title,
                    "text": text,
                    "date": day,
                    "authors": [a for a in authors if isinstance(a, str) and a],
                }
                by = paper.get("submittedOnDailyBy") or entry.get("submittedBy")  # newer and older files
                if isinstance(by, dict) and isinstance(by.get("user"), str):
                    submitted[by["user"]].append((day, arxiv_id))
                    if isinstance(by.get("fullname"), str) and by["fullname"].strip():
                        FULL_NAMES.setdefault(by["user"], by["fullname"].strip())
    return papers, submitted, broken


def make_readers(
    submitted: dict[str, list[tuple[str, str]]], min_papers: int
) -> tuple[list[dict], list[str]]:
    counts = Counter({user: len(items) for user, items in submitted.items()})
    curators = [user for user, _ in counts.most_common(CURATORS)]
    readers = []
    for user, items in sorted(submitted.items()):
        if user in curators or len(items) < min_papers:
            continue
        items = sorted(items)
        half = len(items) // 2
        likes, targets = items[:half], items[half:]
        reader = {
            "reader": user,
            "likes": [i for _, i in likes],
            "targets": [i for _, i in targets],
            "since": targets[0][0],
        }
        # the reader's own name, which the recommender never counts as a co-author: the author name the
        # account claimed on some paper, else the account's full name
        name = NAMES.get(user) or FULL_NAMES.get(user)
        if name:
            reader["name"] = name[:100]
        readers.append(reader)
    return readers, curators


def tfidf_rankings(papers: dict[str, dict], readers: list[dict], seed: int = 0) -> dict[str, list[str]]:
    """arxiv-sanity-lite's tf-idf + per-reader LinearSVC, the top ``K`` of each reader's candidates."""
    from recommend import _one_thread, tfidf_vectorizer
    from sklearn.svm import LinearSVC

    ids = list(papers)
    row = {d: i for i, d in enumerate(ids)}
    texts = [f"{papers[d]['title']}. {papers[d]['text']}" for d in ids]
    vectorizer = tfidf_vectorizer()
    X = vectorizer.fit_transform(texts).tocsr()
    dates = np.array([papers[d]["date"] for d in ids])
    out = {}
    for reader in readers:
        likes = np.array([row[d] for d in reader["likes"]])
        candidates = np.setdiff1d(np.flatnonzero(dates >= reader["since"]), likes)
        picked = model.sample_background(len(candidates), min(model.N_BACKGROUND, len(candidates)), seed)
        negatives = candidates[picked]
        labels = np.r_[np.ones(len(likes)), np.zeros(len(negatives))]
        with _one_thread():
            clf = LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=0.01)
            clf.fit(X[np.r_[likes, negatives]], labels)
        scores = np.asarray(X[candidates] @ clf.coef_.ravel().astype(np.float32)).ravel()
        top = candidates[np.argsort(-scores, kind="stable")[:K]]
        out[reader["reader"]] = [ids[i] for i in top]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--min-papers", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="Write the set here and keep it.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    papers, submitted, broken = read_dump(args.shared / "hf_daily_papers")
    readers, curators = make_readers(submitted, args.min_papers)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dp-hf-readers-"))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for paper in papers.values():
            f.write(json.dumps(paper) + "\n")
    with (folder / "readers.jsonl").open("w", encoding="utf-8") as f:
        for reader in readers:
            f.write(json.dumps(reader) + "\n")
    print(
        f"{len(papers):,} papers ({broken} entries unreadable), {len(submitted):,} submitting accounts; "
        f"left out as curators: {', '.join(f'{c} ({len(submitted[c])})' for c in curators)}; "
        f"{len(readers)} readers with >= {args.min_papers} submissions; set in {folder}",
        flush=True,
    )
    from dailypapers.search.embed import get_backend

    backend = get_backend("minilm")
    shipped = evaluate_recommend(folder, backend=backend)
    for problem in shipped.problems:
        print("skipped:", problem)
    # the same path with one part of the model off at a time
    parts = {
        "  without co-authors": evaluate_recommend(folder, backend=backend, weights={"coauthor_weight": 0.0}),
        "  without words": evaluate_recommend(folder, backend=backend, weights={"lexical_weight": 0.0}),
        "  embeddings only": evaluate_recommend(
            folder, backend=backend, weights={"coauthor_weight": 0.0, "lexical_weight": 0.0}
        ),
    }
    baseline = tfidf_rankings(papers, readers, args.seed)
    names = [r["reader"] for r in readers if r["reader"] in shipped.per_reader]
    targets = {r["reader"]: dict.fromkeys(r["targets"], 1.0) for r in readers}

    def hit(ranking: list[str], name: str) -> float:
        return 1.0 if any(d in targets[name] for d in ranking[:K]) else 0.0

    ours = np.array([shipped.per_reader[n] for n in names])
    theirs = np.array([ndcg_at_k(baseline[n], targets[n], K) for n in names])
    ours_hr = np.mean([hit(shipped.rankings[n], n) for n in names])
    theirs_hr = np.mean([hit(baseline[n], n) for n in names])
    diff = ours - theirs
    rng = np.random.default_rng(args.seed)
    means = diff[rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    ratio = ours.mean() / theirs.mean() if theirs.mean() else float("inf")
    print(f"\n{len(names)} readers, candidates: every paper listed from their split day on, less their likes")
    print(f"{'method':<26} {'nDCG@20':>8} {'HR@20':>7}")
    print(f"{'shipped (For you path)':<26} {ours.mean():>8.3f} {ours_hr:>7.3f}")
    for label, part in parts.items():
        part_hr = np.mean([hit(part.rankings[n], n) for n in names])
        print(f"{label:<26} {np.mean([part.per_reader[n] for n in names]):>8.3f} {part_hr:>7.3f}")
    print(f"{'tfidf+svm (arxiv-sanity)':<26} {theirs.mean():>8.3f} {theirs_hr:>7.3f}")
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(
        f"shipped / tf-idf+SVM nDCG@20: {ratio:.2f}x ({verdict} >= {TARGET:.2f}x); difference "
        f"{diff.mean():+.3f}, paired 95% bootstrap interval [{low:+.3f}, {high:+.3f}]"
    )
    print(f"whole run {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
