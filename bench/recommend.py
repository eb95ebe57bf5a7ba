"""Offline benchmark of the recommendation model on real arXiv authors.

    .venv/bin/python bench/recommend.py [--shared ../shared/data] [--authors 300] [--quick] [--seed 0]

An author stands in for a reader. From the arXiv math listings (2007..2026, with author lists) an author
with at least ``--min-papers`` papers is split in time: the earlier half of their papers are the likes,
the later half the held-out targets. The candidates are every paper listed on or after the day of the
first target (the math listings plus the cs 2025 listings as extra background; 108,874 papers in all
once duplicates are dropped), less the likes. Each method ranks the candidates from the likes alone.

Reported, as means over the readers: hit rate@20 (some target in the top 20) and nDCG@20 (binary
relevance), with all the likes and with only the most recent 1 and 3 likes (the cold start, where a new
reader has a few seed papers); the paired 95% bootstrap interval of each method's nDCG@20 minus the
bar's; and the latency of one recommendation (training and ranking included) for a reader with 20
likes against all 108,874 papers, p50/p95, the methods timed in turn, with the machine's load average.

Methods:

- ``default``: :func:`dailypapers.recommend.model.recommend` as shipped, with the term features of
  :mod:`dailypapers.recommend.lexical` (the product's own lexicon, fitted on every title + abstract).
  And the product's author feature (:mod:`dailypapers.recommend.coauthors`): candidates by co-authors
  of the liked papers score higher; the reader's own name never counts (it is on every target: it would
  be leakage).
- ``blend, embeddings only``: the same without term features (the recommender before words counted).
- ``logreg (bar, sklearn)``: scikit-learn's LogisticRegression on the MiniLM embeddings, the likes
  against 2,000 random candidates (balanced weights), the Scholar Inbox approach; C=30, the best of
  0.1..100 on 300 other authors. ``logreg (model, numpy)``: the model's own logistic regression.
- ``similarity``: the model's training-free scorer (centroid and closest-like cosines).
- ``svm (embeddings)``: scikit-learn's LinearSVC on the same training set as the bar.
- ``tfidf+svm (arxiv-sanity)``: the arxiv-sanity-lite recipe: TfidfVectorizer with its settings
  (uni+bigrams, 20,000 terms, min_df 5, max_df 0.1, sublinear tf) fitted once on every title + abstract,
  and a per-reader LinearSVC (C=0.01, balanced classes, tol 1e-6) trained on the likes against 2,000
  random candidates (arxiv-sanity trains on every paper, seconds per reader; on 300 other authors
  10,000 sampled negatives scored nDCG@20 0.345 against 0.338 with 2,000).
- ``embeddings only + 0.5 tfidf+svm``: the embedding blend with scikit-learn's tf-idf SVM added.

The settings of the model (C, the blend weight, the centroid weight) were chosen on 300 other authors
(the next 300 of the same seeded shuffle), not on the ones reported; those of the words and the author
feature (their weights, the words' C) on the first 150 of them.

Author names are the listing's strings, lightly normalised (TeX accents, diacritics, case, dots,
hyphens, stray commas and affiliations in parentheses); initials-only names and short given names with
very common surnames (``Wei Wang``) are skipped as likely to be several people.

Needs scikit-learn (the bar and the baselines; the model itself is numpy only).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import shlex
import sys
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dailypapers.recommend import model  # noqa: E402
from dailypapers.recommend.coauthors import AuthorIndex, liked_counts  # noqa: E402
from dailypapers.recommend.lexical import Lexicon, TermMatrix  # noqa: E402

K = 20
MODEL_DIR = Path("embeddings") / "all-MiniLM-L6-v2"
COLD_LIKES = (1, 3)
LATENCY_LIKES = 20
BOOTSTRAP = 2000
# C of the scikit-learn classifiers on the embeddings: the best on 300 other authors (logistic
# regression: of 0.1, 0.3, 1, 3, 10, 30, 100; the SVM: of 0.01, 0.1, 1).
BAR_C = 30.0
SVM_C = 1.0
# The tf-idf SVM's weight in the hybrid row (best of 0.5, 1, 2 on the other authors).
HYBRID_TFIDF_WEIGHT = 0.5
TARGET_RATIO = 1.10  # the default's nDCG@20 over tf-idf + SVM's, with all likes, 3 and 1
MANY_LIKES = (100, 300)
# Surnames shared by so many people that "<short given name> <surname>" is not one person.
COMMON_SURNAMES = frozenset(
    """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song
    tang han feng deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei su lu ding ren shen
    yao jin fan shi qian fu zhong kim lee park choi jung kang cho yoon jang lim nguyen tran pham le singh
    kumar
""".split()
)


# ---------------------------------------------------------------------------------------------- data


@dataclass
class Corpus:
    """Every paper, sorted by listing day: vectors (float32, unit length), day numbers, title + abstract
    texts, and the normalised author names' papers (positions, in time order)."""

    vectors: np.ndarray
    days: np.ndarray
    texts: list[str]
    authors: dict[str, list[int]]
    n_math: int
    n_cs: int
    math_rows: np.ndarray  # positions of the math papers (the ones with authors)
    tfidf: object = field(default=None, repr=False)
    lexicon: Lexicon | None = field(default=None, repr=False)
    terms: TermMatrix | None = field(default=None, repr=False)
    author_index: AuthorIndex | None = field(default=None, repr=False)
    row_authors: list[list[str]] = field(default_factory=list, repr=False)
    reader: str = ""  # the author standing in for the reader now (left out of the author feature)


def clean(text: str) -> str:
    return " ".join(text.split())


_TEX_ACCENT = re.compile(r"\\[\"'`^~=.uvHcdbk]\s*\{?([A-Za-z])\}?")


def author_keys(raw: str) -> list[str]:
    """The normalised names in one author string: TeX accents and diacritics stripped, affiliations in
    parentheses dropped (an unclosed one with all that follows it; a fragment with only a closing one is
    an affiliation's tail, dropped whole), split at commas and ' and ', lower case, dots and hyphens
    out, empty parts dropped."""
    text = clean(raw)
    text = re.sub(r"\([^()]*\)", " ", text)
    if "(" in text or ")" in text:
        text = re.split(r"[()]", text)[0] if "(" in text else ""
    text = _TEX_ACCENT.sub(r"\1", text).replace("{", "").replace("}", "").replace("\\", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    keys = []
    for part in re.split(r",|\band\b", text):
        part = part.lower().replace("-", "").replace(".", " ")
        part = " ".join(re.sub(r"[^a-z' ]", " ", part).split())
        if part:
            keys.append(part)
    return keys


def collision_prone(key: str) -> bool:
    """True for names that likely stand for several people: one word, initials only, or a short given
    name with a very common surname."""
    words = key.split()
    if len(words) < 2:
        return True
    given, surname = words[:-1], words[-1]
    if all(len(w) == 1 for w in given):
        return True
    return surname in COMMON_SURNAMES and len(given) == 1 and len(given[0]) <= 4


def arxiv_id(link: str) -> str:
    return re.sub(r"v\d+$", "", link.split("/abs/")[-1])


def load_corpus(shared: Path) -> Corpus:
    """The math and cs listings with their precomputed vectors, duplicates dropped, sorted by day."""
    folder = shared / MODEL_DIR
    vectors, days, texts, authors_of, seen = [], [], [], [], set()
    for name, id_of, abstract in (
        ("math_2007_2026", lambda r: r["id"], "summary"),
        ("cs_2025", lambda r: arxiv_id(r["link"]), "abstract"),
    ):
        ids = (folder / f"{name}.ids.txt").read_text().split("\n")
        vecs = np.load(folder / f"{name}.npy")
        keep = []
        with gzip.open(shared / "arxiv_listings" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                rec = json.loads(line)
                pid = id_of(rec)
                if ids[i] not in (pid, rec.get("link")):
                    raise SystemExit(f"{name}: row {i} of the vectors is {ids[i]!r}, the listing {pid!r}")
                if pid in seen:
                    continue
                seen.add(pid)
                keep.append(i)
                days.append(np.datetime64(rec["_archive_date"][:10], "D").astype(np.int64))
                texts.append(clean(f"{rec['title']}. {rec[abstract]}"))
                authors_of.append({k for a in rec.get("authors") or () for k in author_keys(a)})
        vectors.append(vecs[keep])
    n_math = sum(1 for a in authors_of if a)  # every math listing has authors, no cs one has
    all_vectors = np.vstack(vectors)
    days_arr = np.asarray(days, dtype=np.int64)
    order = np.argsort(days_arr, kind="stable")
    authors: dict[str, list[int]] = defaultdict(list)
    for pos, old in enumerate(order):
        for key in authors_of[old]:
            authors[key].append(pos)
    math_rows = np.flatnonzero([bool(authors_of[old]) for old in order])
    row_authors = [sorted(authors_of[old]) for old in order]
    author_index = AuthorIndex(row_authors)
    return Corpus(
        vectors=np.ascontiguousarray(all_vectors[order], dtype=np.float32),
        days=days_arr[order],
        texts=[texts[i] for i in order],
        authors=dict(authors),
        n_math=n_math,
        n_cs=len(order) - n_math,
        math_rows=math_rows,
        author_index=author_index,
        row_authors=row_authors,
    )


@dataclass
class Reader:
    name: str
    likes: np.ndarray  # corpus positions, in time order
    targets: np.ndarray
    start: int  # first candidate position (the candidates are corpus rows start..end)


def eligible_authors(corpus: Corpus, min_papers: int) -> list[str]:
    return sorted(
        name for name, pos in corpus.authors.items() if len(pos) >= min_papers and not collision_prone(name)
    )


def make_reader(corpus: Corpus, name: str) -> Reader:
    papers = np.asarray(corpus.authors[name], dtype=np.int64)  # already in day order
    cut = len(papers) // 2
    likes, targets = papers[:cut], papers[cut:]
    start = int(np.searchsorted(corpus.days, corpus.days[targets[0]], side="left"))
    return Reader(name=name, likes=likes, targets=targets, start=start)


def pick_readers(corpus: Corpus, n: int, min_papers: int, seed: int) -> tuple[list[Reader], int]:
    names = eligible_authors(corpus, min_papers)
    rng = np.random.default_rng(seed)
    picked = rng.permutation(len(names))[:n]
    return [make_reader(corpus, names[i]) for i in sorted(picked)], len(names)


# ------------------------------------------------------------------------------------------- methods

# A method scores the candidates, corpus rows start..end, for one reader's likes (corpus positions).
Method = Callable[[Corpus, np.ndarray, int], np.ndarray]


@dataclass
class Contender:
    name: str
    method: Method
    cold: bool = False  # also run with the most recent 1 and 3 likes
    ranks: bool = False  # the method ranks too (model.recommend), so timing adds no top_k


def default_method(corpus: Corpus, likes: np.ndarray, start: int) -> np.ndarray:
    """:func:`model.recommend` as shipped (ranking and reasons included): the embeddings and the term
    features of :mod:`dailypapers.recommend.lexical` (its lexicon fitted on the whole corpus, as
    ``dailypapers index`` fits it on the papers there are), the background sampled from the candidates."""
    candidates = corpus.vectors[start:]
    background = model.sample_background(len(candidates), model.N_BACKGROUND, 0)
    # never the reader's own name
    liked = liked_counts([corpus.row_authors[r] for r in likes], exclude=[corpus.reader])
    terms = model.Terms(
        positives=corpus.terms[likes],
        candidates=corpus.terms[start:],
        background=corpus.terms[start + background],
        lexicon=corpus.lexicon,
    )
    return model.recommend(
        corpus.vectors[likes],
        candidates,
        k=K,
        terms=terms,
        background=candidates[background],
        coauthors=corpus.author_index.scores(liked)[start:],
    ).scores


def embeddings_only(corpus: Corpus, likes: np.ndarray, start: int) -> np.ndarray:
    """:func:`model.recommend` without term features (the recommender before they were added)."""
    return model.recommend(corpus.vectors[likes], corpus.vectors[start:], k=K).scores


def fit_terms(corpus: Corpus) -> tuple[Lexicon, TermMatrix]:
    """The product's lexicon fitted on every title + abstract, and every paper's features."""
    lexicon = Lexicon.fit(corpus.texts)
    return lexicon, TermMatrix.from_rows([lexicon.features(t) for t in corpus.texts], len(lexicon))


def scorer_method(name: str, **options) -> Method:
    """One of the model's scorers."""

    def run(corpus: Corpus, likes: np.ndarray, start: int) -> np.ndarray:
        return model.METHODS[name](corpus.vectors[likes], corpus.vectors[start:], **options)

    return run


def _one_thread():
    """A small fit runs several times slower with BLAS/OpenMP threads fighting over two cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def sklearn_linear(kind: str, C: float) -> Method:
    """scikit-learn's LogisticRegression (the bar) or LinearSVC, default settings but ``C``, on the
    model's training set (the likes against ``model.N_BACKGROUND`` sampled candidates, balanced)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    def run(corpus: Corpus, likes: np.ndarray, start: int) -> np.ndarray:
        candidates = corpus.vectors[start:]
        rows, labels, weights = model.training_set(
            corpus.vectors[likes], candidates, None, None, None, None, model.N_BACKGROUND, 0
        )
        clf = LogisticRegression(C=C) if kind == "logreg" else LinearSVC(C=C)
        with _one_thread():
            clf.fit(rows, labels, sample_weight=weights)
        return candidates @ clf.coef_.ravel().astype(np.float32)

    return run


def fit_tfidf(corpus: Corpus):
    """arxiv-sanity-lite's features: word uni+bigrams, 20,000 of them, min_df 5, max_df 0.1."""
    return tfidf_vectorizer().fit_transform(corpus.texts).tocsr()


def tfidf_vectorizer():
    """arxiv-sanity-lite's TfidfVectorizer settings (also bench/recommend_hf.py's)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        input="content",
        encoding="utf-8",
        decode_error="replace",
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.1,
        min_df=5,
        dtype=np.float32,
    )


def tfidf_svm(
    corpus: Corpus,
    likes: np.ndarray,
    start: int,
    *,
    C: float = 0.01,
    n_negatives: int = model.N_BACKGROUND,
    seed: int = 0,
) -> np.ndarray:
    """arxiv-sanity-lite's per-reader LinearSVC (C=0.01, balanced classes, tol 1e-6) on tf-idf rows: the
    likes against ``n_negatives`` candidates sampled with ``seed``."""
    from sklearn.svm import LinearSVC

    X = corpus.tfidf
    negatives = start + model.sample_background(X.shape[0] - start, n_negatives, seed)
    negatives = np.setdiff1d(negatives, likes)
    rows = X[np.r_[likes, negatives]]
    labels = np.r_[np.ones(len(likes)), np.zeros(len(negatives))]
    with _one_thread():
        clf = LinearSVC(class_weight="balanced", max_iter=10000, tol=1e-6, C=C).fit(rows, labels)
    return np.asarray(X[start:] @ clf.coef_.ravel().astype(np.float32)).ravel()


BAR = "logreg (bar, sklearn)"
DEFAULT = f"default ({model.DEFAULT_METHOD} + words)"
EMBEDDINGS_ONLY = f"{model.DEFAULT_METHOD}, embeddings only"
TFIDF = "tfidf+svm (arxiv-sanity)"
HYBRID = f"embeddings only + {HYBRID_TFIDF_WEIGHT:g} tfidf+svm"


def contenders() -> list[Contender]:
    """The default first, then the bar, the model's other scorers, a linear SVM on the embeddings and
    the tf-idf baseline (the hybrid row is made from the embeddings-only scores and the baseline's)."""
    out = [
        Contender(DEFAULT, default_method, cold=True, ranks=True),
        Contender(BAR, sklearn_linear("logreg", BAR_C), cold=True),
        Contender(EMBEDDINGS_ONLY, embeddings_only, cold=True, ranks=True),
    ]
    for name in model.METHODS:
        if name != model.DEFAULT_METHOD:
            label = "logreg (model, numpy)" if name == "logreg" else name
            out.append(Contender(label, scorer_method(name), cold=name == "similarity"))
    out.append(Contender(f"svm (embeddings, C={SVM_C:g})", sklearn_linear("svm", SVM_C)))
    out.append(Contender(TFIDF, tfidf_svm, cold=True))
    return out


def check_logistic(corpus: Corpus, readers: list[Reader], n: int = 30) -> tuple[float, float]:
    """The model's numpy logistic regression against scikit-learn's run to convergence, on the training
    sets of ``n`` readers: the worst relative difference of the weights, and the mean share of the top
    20 candidates the two agree on."""
    from sklearn.linear_model import LogisticRegression

    worst, overlap = 0.0, []
    for reader in readers[:n]:
        candidates = corpus.vectors[reader.start :]
        rows, labels, weights = model.training_set(
            corpus.vectors[reader.likes], candidates, None, None, None, None, model.N_BACKGROUND, 0
        )
        ours, _ = model.fit_logistic(rows, labels, weights, model.LOGREG_C)
        with _one_thread():
            ref = (
                LogisticRegression(C=model.LOGREG_C, tol=1e-10, max_iter=10000)
                .fit(rows, labels, sample_weight=weights)
                .coef_.ravel()
            )
        worst = max(worst, float(np.linalg.norm(ours - ref) / np.linalg.norm(ref)))
        a, b = model.top_k(candidates @ ours, K), model.top_k(candidates @ ref.astype(np.float32), K)
        overlap.append(len(np.intersect1d(a, b)) / K)
    return worst, float(np.mean(overlap))


# ------------------------------------------------------------------------------------------- metrics


def metrics(scores: np.ndarray, reader: Reader) -> tuple[float, float]:
    """Hit rate and nDCG (binary relevance) of the top ``K`` candidates, the reader's likes left out."""
    scores = np.array(scores, dtype=np.float32)
    scores[reader.likes[reader.likes >= reader.start] - reader.start] = -np.inf
    targets = set((reader.targets - reader.start).tolist())
    ranked = model.top_k(scores, K)
    gains = [1.0 / math.log2(r + 2) for r, idx in enumerate(ranked.tolist()) if idx in targets]
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(targets), K)))
    return float(bool(gains)), sum(gains) / ideal


def evaluate(
    corpus: Corpus, readers: list[Reader], entrants: list[Contender]
) -> dict[str, dict[int | None, tuple[np.ndarray, np.ndarray]]]:
    """Per method and number of likes (None: all of them): per-reader hit rate@K and nDCG@K."""
    out: dict[str, dict[int | None, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    spent: dict[str, float] = defaultdict(float)
    for reader in readers:
        corpus.reader = reader.name
        kept = {}
        for entrant in entrants:
            for n in (None, *COLD_LIKES) if entrant.cold else (None,):
                likes = reader.likes if n is None else reader.likes[-n:]
                t0 = time.perf_counter()
                scores = entrant.method(corpus, likes, reader.start)
                spent[entrant.name] += time.perf_counter() - t0
                out[entrant.name][n].append(metrics(scores, reader))
                if n is None and entrant.name in (EMBEDDINGS_ONLY, TFIDF):
                    kept[entrant.name] = scores
        hybrid = model._standardise(kept[EMBEDDINGS_ONLY]) + HYBRID_TFIDF_WEIGHT * model._standardise(
            kept[TFIDF].astype(np.float32)
        )
        out[HYBRID][None].append(metrics(hybrid, reader))
    for name, secs in spent.items():
        print(f"  {name}: {secs:.0f} s", file=sys.stderr)
    return {
        name: {n: (np.asarray([h for h, _ in v]), np.asarray([g for _, g in v])) for n, v in per.items()}
        for name, per in out.items()
    }


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[float, float]:
    """95% bootstrap interval of mean(a - b) over readers."""
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def latency(
    corpus: Corpus, likes: np.ndarray, entrants: list[Contender], runs: int
) -> dict[str, tuple[float, float]]:
    """p50 and p95 milliseconds of one recommendation (training and top 50 included) over every corpus
    row, the methods timed in turn run by run so that background load hits them alike."""
    times: dict[str, list[float]] = {e.name: [] for e in entrants}
    for run in range(runs + 2):
        for entrant in entrants:
            t0 = time.perf_counter()
            scores = entrant.method(corpus, likes, 0)
            if not entrant.ranks:
                model.top_k(scores, 50)
            if run >= 2:  # two warm-up rounds
                times[entrant.name].append((time.perf_counter() - t0) * 1000)
    return {name: (float(np.percentile(t, 50)), float(np.percentile(t, 95))) for name, t in times.items()}


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--authors", type=int, default=300, help="readers sampled (default 300)")
    parser.add_argument("--min-papers", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per method (default 30)")
    parser.add_argument("--quick", action="store_true", help="100 readers, 10 timed runs")
    args = parser.parse_args()
    if args.quick:
        args.authors, args.runs = min(args.authors, 100), 10
    if not (args.shared / MODEL_DIR).is_dir():
        print(f"shared data not found under {args.shared}", file=sys.stderr)
        return 1
    print(" ".join(["$ .venv/bin/python bench/recommend.py", *map(shlex.quote, sys.argv[1:])]))
    t_start = time.perf_counter()
    corpus = load_corpus(args.shared)
    print(
        f"corpus: {len(corpus.texts):,} papers ({corpus.n_math:,} math with authors, "
        f"{corpus.n_cs:,} cs as background), loaded in {time.perf_counter() - t_start:.1f} s"
    )
    t0 = time.perf_counter()
    corpus.lexicon, corpus.terms = fit_terms(corpus)
    print(
        f"term features for the default: {len(corpus.lexicon):,} terms, fitted and every paper described "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    corpus.tfidf = fit_tfidf(corpus)
    print(
        f"tf-idf features for tfidf+svm: {corpus.tfidf.shape[1]:,} terms, "
        f"fitted in {time.perf_counter() - t0:.1f} s"
    )
    readers, n_eligible = pick_readers(corpus, args.authors, args.min_papers, args.seed)
    n_likes = np.asarray([len(r.likes) for r in readers])
    n_targets = np.asarray([len(r.targets) for r in readers])
    n_cands = np.asarray([len(corpus.texts) - r.start - int((r.likes >= r.start).sum()) for r in readers])
    print(
        f"readers: {len(readers)} of {n_eligible:,} authors with >= {args.min_papers} papers "
        f"(seed {args.seed}); likes median {np.median(n_likes):.0f} (range {n_likes.min()}-"
        f"{n_likes.max()}), targets median {np.median(n_targets):.0f}, candidates median "
        f"{np.median(n_cands):,.0f} (range {n_cands.min():,}-{n_cands.max():,})"
    )

    entrants = contenders()
    t0 = time.perf_counter()
    results = evaluate(corpus, readers, entrants)
    eval_secs = time.perf_counter() - t0
    prolific = max(readers, key=lambda r: len(r.likes))
    rng = np.random.default_rng(args.seed)
    if len(prolific.likes) >= LATENCY_LIKES:
        lat_likes = prolific.likes[-LATENCY_LIKES:]
    else:
        lat_likes = np.sort(rng.choice(corpus.math_rows, LATENCY_LIKES, replace=False))
    load_before = os.getloadavg()[0]
    corpus.reader = prolific.name
    timing = latency(corpus, lat_likes, entrants, args.runs)
    many = {
        n: latency(
            corpus,
            np.sort(rng.choice(corpus.math_rows, n, replace=False)),
            entrants[:1],
            max(5, args.runs // 3),
        )[DEFAULT]
        for n in MANY_LIKES
    }
    load_after = os.getloadavg()[0]
    worst, agree = check_logistic(corpus, readers)

    bar = results[BAR][None][1]
    cold_head = "".join(f"{f'HR@20 {n} like' + ('s' if n > 1 else ''):>15}{'nDCG':>7}" for n in COLD_LIKES)
    head = (
        f"{'method':<33}{'HR@20':>7}{'nDCG@20':>9}  {'nDCG - bar [95% CI]':<25}{cold_head}"
        f"{'p50 ms':>8}{'p95 ms':>8}"
    )
    print()
    print(
        f"{len(readers)} readers, top {K} of their candidates; latency: {LATENCY_LIKES} likes against "
        f"{len(corpus.texts):,} candidates, training and ranking included, {args.runs} runs "
        f"(load average {load_before:.1f} before, {load_after:.1f} after, {os.cpu_count()} cores)"
    )
    print(head)
    print("-" * len(head))
    for name in [e.name for e in entrants] + [HYBRID]:
        hit, ndcg = results[name][None]
        if name == BAR:
            delta = "(the bar)"
        else:
            lo, hi = paired_interval(ndcg, bar, args.seed)
            delta = f"{ndcg.mean() - bar.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]"
        cold = "".join(
            f"{results[name][n][0].mean():>15.3f}{results[name][n][1].mean():>7.3f}"
            if n in results[name]
            else f"{'-':>15}{'-':>7}"
            for n in COLD_LIKES
        )
        p50, p95 = timing.get(name, (math.nan, math.nan))
        lat = f"{p50:>8.1f}{p95:>8.1f}" if name in timing else f"{'-':>8}{'-':>8}"
        print(f"{name:<33}{hit.mean():>7.3f}{ndcg.mean():>9.3f}  {delta:<25}{cold}{lat}")
    print()
    for n in (None, *COLD_LIKES):
        ours, theirs = results[DEFAULT][n][1], results[TFIDF][n][1]
        lo, hi = paired_interval(ours, theirs, args.seed)
        ratio = ours.mean() / theirs.mean() if theirs.mean() else math.inf
        likes = "all likes" if n is None else f"{n} like{'s' if n > 1 else ''}"
        print(
            f"default / tf-idf+SVM nDCG@20, {likes}: {ours.mean():.3f} / {theirs.mean():.3f} = {ratio:.2f}x "
            f"({'meets' if ratio >= TARGET_RATIO else 'MISSES'} >= {TARGET_RATIO:.2f}x); paired 95% interval "
            f"of the difference [{lo:+.3f}, {hi:+.3f}]"
        )
    print("cold-start columns: the same readers with only their most recent 1 or 3 likes")
    print(
        f"hybrid row: the standardised scores of the embeddings-only blend + {HYBRID_TFIDF_WEIGHT:g} x the "
        f"standardised tf-idf SVM's (scikit-learn's features, for comparison with the default's own)"
    )
    print(
        "default with more likes (random math papers, same candidates): "
        + ", ".join(f"{n} likes p50 {p50:.0f} ms / p95 {p95:.0f} ms" for n, (p50, p95) in many.items())
    )
    print(
        f"numpy logistic regression vs scikit-learn's at convergence (C={model.LOGREG_C:g}, 30 readers): "
        f"weights differ by at most {worst:.1e} (relative), top {K} agree {agree:.1%}"
    )
    print(f"evaluation {eval_secs:.0f} s, whole run {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
