"""Term features for the recommender: tokens, the fitted vocabulary, packing, the fixed-width matrix
against a dense one, the term classifier against the dense logistic regression, and the blend with
words in it."""

from __future__ import annotations

import numpy as np
import pytest

from dailypapers.recommend import lexical, model
from dailypapers.recommend.lexical import Lexicon, TermMatrix


def test_tokens_fold_accents_drop_stopwords_and_pair_neighbours() -> None:
    assert lexical.tokens("The Schrödinger equation of a Quantum-walk") == [
        "schrodinger",
        "equation",
        "quantum",
        "walk",
        "schrodinger equation",
        "equation quantum",
        "quantum walk",
    ]
    assert lexical.tokens("a 3d x") == []  # one letter, digits first: not words


def corpus() -> list[str]:
    topics = ["graph neural networks", "diffusion models", "protein folding", "sparse attention"]
    texts = []
    for i in range(40):
        t = topics[i % 4]
        texts.append(f"{t} study {i}: we improve {t} with common words shared everywhere")
    return texts


def test_fit_keeps_terms_between_min_df_and_max_df() -> None:
    lex = Lexicon.fit(corpus(), min_df=5, max_df=0.3)
    assert "diffusion models" in lex.index and "protein" in lex.index
    assert "common" not in lex.index  # in every paper: above max_df
    assert "study" not in lex.index
    assert list(lex.terms) == sorted(lex.terms)
    assert lex.papers == 40
    df = 10
    assert lex.idf[lex.index["protein"]] == pytest.approx(np.log(41 / (1 + df)) + 1)
    again = Lexicon.from_json(lex.to_json())
    assert again.terms == lex.terms and np.array_equal(again.idf, lex.idf)


def test_fit_caps_the_vocabulary_at_the_most_common_terms() -> None:
    texts = corpus() + ["diffusion"] * 5
    lex = Lexicon.fit(texts, min_df=5, max_df=0.5, max_terms=1)
    assert lex.terms == ("diffusion",)  # in 15 papers, the most of all


def test_features_are_the_heaviest_terms_at_unit_length_and_ignore_unknown_words() -> None:
    lex = Lexicon.fit(corpus(), min_df=5, max_df=0.3)
    ids, weights = lex.features("protein folding protein folding and zebra crossing")
    names = [lex.terms[i] for i in ids]
    assert set(names) == {"protein", "folding", "protein folding", "folding protein"} & set(lex.terms)
    assert np.linalg.norm(weights) == pytest.approx(1.0, abs=1e-6)
    ids2, weights2 = lex.features("protein folding protein folding", width=1)
    assert len(ids2) == 1 and weights2[0] == pytest.approx(1.0)
    empty_ids, empty_weights = lex.features("zebra crossing")
    assert len(empty_ids) == 0 and len(empty_weights) == 0


def test_pack_round_trips_at_half_precision() -> None:
    ids = np.array([0, 7, 65535], dtype=np.uint16)
    weights = np.array([0.5, 0.25, 0.8125], dtype=np.float32)
    blob = lexical.pack(ids, weights)
    assert len(blob) == 12
    back_ids, back_weights = lexical.unpack(blob)
    assert back_ids.tolist() == [0, 7, 65535]
    assert np.allclose(back_weights, weights)
    with pytest.raises(ValueError):
        lexical.unpack(b"abc")


def random_rows(rng: np.random.Generator, n: int, size: int, width: int) -> tuple[TermMatrix, np.ndarray]:
    """A term matrix and the same rows as a dense matrix."""
    rows = []
    dense = np.zeros((n, size), dtype=np.float32)
    for r in range(n):
        k = int(rng.integers(0, width + 1))
        ids = np.sort(rng.choice(size, size=k, replace=False))
        w = rng.random(k).astype(np.float32)
        rows.append((ids, w))
        dense[r, ids] = w
    return TermMatrix.from_rows(rows, size, width), dense


def test_term_matrix_products_match_the_dense_matrix() -> None:
    rng = np.random.default_rng(3)
    m, dense = random_rows(rng, 40_000, 300, 8)  # more rows than one block
    w = rng.standard_normal(300)
    assert np.allclose(m @ w, dense @ w, atol=1e-4)
    r = rng.standard_normal(40_000)
    assert np.allclose(m.T @ r, dense.T @ r, atol=1e-3)
    sub = m[np.array([5, 2])]
    assert np.allclose(sub @ w, dense[[5, 2]] @ w, atol=1e-5)
    assert len(TermMatrix.stack([sub, m[:3]])) == 5


def test_the_term_classifier_is_the_dense_logistic_regression() -> None:
    rng = np.random.default_rng(5)
    pos, pos_dense = random_rows(rng, 12, 60, 6)
    bg, bg_dense = random_rows(rng, 200, 60, 6)
    coef = lexical.fit_terms(pos, bg, C=10.0)
    rows, labels, weights = model.training_set(
        pos_dense, bg_dense, None, None, None, bg_dense, len(bg_dense), 0
    )
    dense_coef, _ = model.fit_logistic(rows, labels, weights, 10.0)
    assert np.allclose(coef, dense_coef, atol=2e-3)


def test_words_rank_a_paper_that_embeddings_alone_miss() -> None:
    """Two candidates equally far from the liked papers in meaning; one shares their rare terms."""
    lex = Lexicon.fit(corpus(), min_df=5, max_df=0.3)
    liked = ["sparse attention study: sparse attention"] * 3
    texts = ["protein folding study", "sparse attention study"] + ["graph neural networks"] * 50
    pos = TermMatrix.from_rows([lex.features(t) for t in liked], len(lex))
    cand = TermMatrix.from_rows([lex.features(t) for t in texts], len(lex))
    rng = np.random.default_rng(1)
    dim = 16
    topic = rng.standard_normal(dim)
    positives = np.tile(topic / np.linalg.norm(topic), (3, 1)).astype(np.float32)
    candidates = rng.standard_normal((len(texts), dim)).astype(np.float32)
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    candidates[1] = candidates[0]  # the same in meaning
    plain = model.recommend(positives, candidates, k=2, method="similarity")
    assert plain.scores[0] == plain.scores[1]
    for method in ("similarity", "blend"):
        terms = model.Terms(positives=pos, candidates=cand, background=cand, lexicon=lex)
        rec = model.recommend(positives, candidates, k=len(texts), method=method, terms=terms)
        assert rec.scores[1] > rec.scores[0]
        assert rec.words is not None and len(rec.words) == len(texts)
        shared = rec.words[list(rec.top).index(1)]
        assert shared and set(shared) <= {"sparse", "attention", "sparse attention"}
        assert rec.words[list(rec.top).index(0)] == []  # nothing in common
    with pytest.raises(ValueError, match="one row per"):
        model.recommend(
            positives, candidates, terms=model.Terms(positives=pos[:1], candidates=cand, background=cand)
        )


# --- co-authors ---------------------------------------------------------------------------------------


def test_author_keys_fold_accents_case_dots_and_hyphens() -> None:
    from dailypapers.recommend.coauthors import author_key

    assert author_key("Zoë  Ångström") == author_key("zoe angstrom") == "zoe angstrom"
    assert author_key("Jean-Luc  Picard") == "jeanluc picard"
    assert author_key("J. Smith") == "j smith" != author_key("John Smith")


def test_coauthor_scores_count_liked_papers_and_never_the_readers_own_name() -> None:
    from dailypapers.recommend.coauthors import AuthorIndex, liked_counts, same_person, shared_authors

    papers = [
        ["Ada Lovelace", "Charles Babbage"],  # 0 liked
        ["Ada Lovelace", "Mary Somerville"],  # 1 liked
        ["Charles Babbage"],  # 2
        ["Mary Somerville", "Ada Lovelace"],  # 3
        ["Alan Turing"],  # 4
        [],  # 5
    ]
    index = AuthorIndex(papers)
    counts = liked_counts([papers[0], papers[1]], exclude=["ada lovelace"])
    scores = index.scores(counts)
    assert scores[2] == pytest.approx(np.log(2))  # Babbage on one liked paper
    assert scores[3] == pytest.approx(np.log(2))  # Somerville; Lovelace is the reader: nothing
    assert scores[4] == scores[5] == 0.0
    with_self = index.scores(liked_counts([papers[0], papers[1]]))
    assert with_self[3] == pytest.approx(np.log(2) + np.log(3))
    assert shared_authors(papers[3], counts) == ["Mary Somerville"]
    weighted = index.scores(liked_counts([papers[0], papers[1]], [0.5, 1.0], exclude=["Ada Lovelace"]))
    assert weighted[2] == pytest.approx(np.log(1.5))
    # the reader's own name however it is spelt: run together, in another order
    for own in ("AdaLovelace", "Lovelace Ada", "ADA LOVELACE", "LovelaceA", "Lovelace", "ada-lovelace42"):
        assert same_person(own, "Ada Lovelace"), own
        assert liked_counts([papers[1]], exclude=[own]) == liked_counts([["Mary Somerville"]])
    for other in ("Ada Byron", "", "Al", "Lovelace Babbage Smith", "Adam Lovelaces"):
        assert not same_person(other, "Ada Lovelace"), other


def test_the_readers_own_names_are_matched_as_same_person_would() -> None:
    from dailypapers.recommend.coauthors import OwnName, liked_counts, same_person

    names = [
        "Ada Lovelace",
        "AdaLovelace",
        "Lovelace Ada",
        "LovelaceA",
        "Lovelace",
        "ada-lovelace42",
        "Ada Byron",
        "",
        " ",
        "Al",
        "Lovelace Babbage Smith",
        "Adam Lovelaces",
        "Zhongxiang Sun",
        "SunZX",
        "Duan",
        "Jiafei Duan",
        "Wei Huang",
        "Huang Wei",
        "J. Smith",
        "John Smith",
        "42",
    ]
    for own in (["Ada Lovelace"], ["Duan", "jiafeiduan"], ["SunZX"], ["Wei Huang", ""], [], ["42"]):
        reader = OwnName(own)
        for name in names:
            expected = any(same_person(name, o) for o in own if o and o.strip())
            assert reader.matches(name) == expected, (own, name)
        # a paper counts every author but the reader's, whether or not it shares a word with them
        for paper in (names, ["Alan Turing", "Grace Hopper"], ["Ada Byron", "Alan Turing"]):
            kept = [n for n in paper if not any(same_person(n, o) for o in own if o and o.strip())]
            expected = liked_counts([kept])
            assert liked_counts([paper], exclude=own) == expected, (own, paper)
    assert not OwnName([" ", "42"])  # nothing to match: the fast path skips the tests


def test_coauthor_scores_join_the_blend() -> None:
    rng = np.random.default_rng(2)
    positives = rng.standard_normal((3, 8)).astype(np.float32)
    candidates = rng.standard_normal((50, 8)).astype(np.float32)
    plain = model.recommend(positives, candidates, k=5, method="similarity")
    last = int(np.argsort(plain.scores)[0])  # the worst candidate
    bonus = np.zeros(50, dtype=np.float32)
    bonus[last] = 10.0
    boosted = model.recommend(positives, candidates, k=5, method="similarity", coauthors=bonus)
    assert int(boosted.top[0]) == last
    with pytest.raises(ValueError, match="one score per candidate"):
        model.recommend(positives, candidates, coauthors=bonus[:3])
