""" "Did you mean": a query's unknown words corrected from the collection's own vocabulary.

The vocabulary is the words of the papers' titles, with the number of papers whose title has each (read
once per process and again after an import, at most every ``ttl`` seconds). A query word no paper has is
replaced by the closest vocabulary word (Levenshtein distance, by RapidFuzz: at most 1 edit for words of
up to 5 letters, 2 for longer ones; among the closest, the word in most titles). A suggestion is only
made when it finds papers.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dailypapers.search import fulltext
from dailypapers.search.query import ParsedQuery, format_query
from dailypapers.store.db import is_postgres
from dailypapers.store.models import Paper

_WORD = re.compile(r"[^\W\d_][\w'-]*[^\W_]|[^\W\d_]{2}", re.UNICODE)
MIN_WORD = 3  # shorter words are never corrected
BATCH = 20_000  # titles read per statement


def max_edits(word: str) -> int:
    """How many edits away a correction of ``word`` may be."""
    return 1 if len(word) <= 5 else 2


@dataclass(frozen=True, slots=True)
class Words:
    """The vocabulary as read: word -> papers, the words in a list for the fuzzy match, and the state of
    the collection it was read at."""

    counts: dict[str, int]
    choices: list[str]
    key: tuple[int, int]


class Vocabulary:
    """The titles' words, shared by the requests of one process."""

    def __init__(self, ttl: float = 300.0, min_papers: int = 2) -> None:
        self.ttl = ttl
        self.min_papers = min_papers  # a word in fewer titles is not offered (typos, one-off names)
        self._words: Words | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def words(self, session: Session) -> Words:
        now = time.monotonic()
        current = self._words
        if current is not None and now - self._checked_at < self.ttl:
            return current
        with self._lock:
            key = tuple(
                session.execute(select(func.coalesce(func.max(Paper.id), 0), func.count(Paper.id))).one()
            )
            if self._words is None or self._words.key != key:
                self._words = self._read(session, key)
            self._checked_at = time.monotonic()
            return self._words

    def _read(self, session: Session, key: tuple[int, int]) -> Words:
        counts: Counter[str] = Counter()
        last = 0
        while True:
            rows = session.execute(
                select(Paper.id, Paper.title).where(Paper.id > last).order_by(Paper.id).limit(BATCH)
            ).all()
            if not rows:
                break
            for _, title in rows:
                counts.update(set(_WORD.findall((title or "").lower())))
            last = rows[-1][0]
        floor = self.min_papers if key[1] >= 1000 else 1  # a small collection: every word counts
        kept = {w: n for w, n in counts.items() if n >= floor and len(w) >= MIN_WORD}
        return Words(kept, list(kept), key)

    def closest(self, session: Session, word: str) -> str | None:
        """The vocabulary word closest to ``word`` (``None`` if none is within :func:`max_edits`)."""
        words = self.words(session)
        limit = max_edits(word)
        found = process.extract(
            word, words.choices, scorer=Levenshtein.distance, score_cutoff=limit, limit=20
        )
        found = [(choice, distance) for choice, distance, _ in found if choice != word]
        if not found:
            return None
        return min(found, key=lambda f: (f[1], -words.counts[f[0]], f[0]))[0]


def unknown_words(session: Session, parsed: ParsedQuery, known: dict[str, int]) -> list[str]:
    """The query's words no paper has (``known``: papers per word, as :class:`fulltext.TermCounts` says;
    on PostgreSQL a 0 there may be a rare word, so it is checked)."""
    postgres = is_postgres(session)
    out = []
    for term in parsed.terms:
        if len(term) < MIN_WORD or not term.isalpha() or known.get(term, 0) > 0:
            continue
        if postgres and fulltext.match_count(session, ParsedQuery(terms=(term,)), 1):
            continue
        out.append(term)
    return out


def suggest(session: Session, parsed: ParsedQuery, unknown: list[str], vocabulary: Vocabulary) -> str | None:
    """The query with its ``unknown`` words (:func:`unknown_words`) corrected, as text for the search box,
    if that finds papers."""
    fixes = {}
    for term in unknown:
        better = vocabulary.closest(session, term)
        if better is not None:
            fixes[term] = better
    if not fixes:
        return None
    corrected = replace(parsed, terms=tuple(dict.fromkeys(fixes.get(t, t) for t in parsed.terms)))
    words = ParsedQuery(terms=corrected.terms, phrases=corrected.phrases)
    if not fulltext.match_count(session, words, 1):
        return None
    return format_query(corrected)
