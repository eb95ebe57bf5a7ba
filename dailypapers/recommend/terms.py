"""Keeping papers' term features current: fit the lexicon when there is none (or on a refit), describe
the papers that lack terms under it. Run by ``dailypapers index`` after the embeddings (and so by the
worker's index job and an import's own indexing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dailypapers.recommend.lexical import Lexicon, pack
from dailypapers.search.semantic import text_hash
from dailypapers.store import terms as store
from dailypapers.store.db import Database
from dailypapers.summaries import Summary

# The lexicon is fitted again when the corpus has grown by this share since its fit (new fields bring
# words the vocabulary lacks), and never on fewer papers than this (a vocabulary needs MIN_DF papers a
# term: a tiny corpus is refitted as it grows).
REFIT_GROWTH = 0.5
FIT_AT_LEAST = 1_000


@dataclass
class TermsSummary(Summary):
    """Counts of one run."""

    fitted: bool = False
    vocabulary: int = 0
    described: int = 0
    skipped: int = 0  # already described under the current lexicon


def text_of(title: str, abstract: str | None) -> str:
    """The text a paper's terms describe: title and abstract."""
    return f"{title}. {abstract or ''}"


def fit(db: Database) -> tuple[int, Lexicon]:
    """Fit a lexicon on every paper and make it the current one (the older ones' rows go)."""
    with db.session() as session:
        lexicon = Lexicon.fit(text_of(t, a) for _, t, a in store.iter_texts(session))
    with db.transaction() as session:
        lexicon_id = store.add_lexicon(session, lexicon.to_json(), lexicon.papers)
    return lexicon_id, lexicon


def load(db: Database) -> tuple[int, Lexicon] | None:
    """The current lexicon, None before the first fit."""
    with db.session() as session:
        row = store.current_lexicon(session)
    return (row[0], Lexicon.from_json(row[1])) if row else None


def due(papers_now: int, fitted_on: int | None) -> bool:
    """Whether the lexicon should be fitted (again)."""
    if fitted_on is None:
        return papers_now > 0
    if fitted_on < FIT_AT_LEAST and papers_now > fitted_on:
        return True
    return papers_now >= fitted_on * (1 + REFIT_GROWTH)


def update_terms(
    db: Database,
    *,
    refit: bool = False,
    batch_size: int = 2_000,
    on_progress: Callable[[int], None] | None = None,
) -> TermsSummary:
    """Fit the lexicon when it is due (or ``refit``), then describe every paper without current terms;
    a batch a transaction, so a killed run resumes."""
    summary = TermsSummary()
    current = load(db)
    with db.session() as session:
        papers_now = store.count_papers(session)
    if refit or due(papers_now, current[1].papers if current else None):
        current = fit(db)
        summary.fitted = True
    if current is None:
        return summary
    lexicon_id, lexicon = current
    summary.vocabulary = len(lexicon)
    after = 0
    while True:
        with db.session() as session:
            rows = store.stale_papers(session, lexicon_id, after, batch_size)
        if not rows:
            break
        after = rows[-1][0]
        out = []
        for paper_id, title, abstract, stored in rows:
            text = text_of(title, abstract)
            digest = text_hash(text)
            if stored == digest:
                summary.skipped += 1
                continue
            out.append((paper_id, pack(*lexicon.features(text)), digest))
        if out:
            with db.transaction() as session:
                store.replace_terms(session, lexicon_id, out)
            summary.described += len(out)
        if on_progress is not None:
            on_progress(len(rows))
    return summary
