"""Who wrote it, for the recommender: papers by the co-authors of the papers a reader liked.

A reader who liked three papers of one group reads that group's next paper more often than its topic
alone predicts: ``bench/recommend.py`` (arXiv authors as readers, their own name left out of every
author feature, as it must be: a reader is not shown their own papers for being theirs) and
``bench/recommend_hf.py`` measured it. The score of a candidate is the sum over its authors of
``ln(1 + n)``, ``n`` the (weighted) number of liked papers that author is on; the reader's own name
counts for nothing.

Names are compared by :func:`dailypapers.names.author_key` (accents, case, dots, hyphens and spacing
folded; initials not expanded), the reader's own name more generously (:func:`same_person`).

Numpy only; :class:`AuthorIndex` holds a pool's papers' authors as hashed keys (a few bytes a name).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from itertools import chain

import numpy as np

from dailypapers.names import author_key

__all__ = ["AuthorIndex", "OwnName", "author_key", "liked_counts", "same_person", "shared_authors"]


def key_hash(key: str) -> int:
    """A key as a 64-bit number (within one process: the index and its queries share it)."""
    return hash(key)


class AuthorIndex:
    """The authors of ``n`` papers (rows): each row's author keys, and each key's rows."""

    def __init__(self, authors_per_row: Sequence[Iterable[str]]) -> None:
        keys = [
            sorted({key_hash(author_key(a)) for a in names if a and a.strip()}) for names in authors_per_row
        ]
        lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
        self.n = len(keys)
        self.indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        self.flat = np.fromiter(chain.from_iterable(keys), dtype=np.int64, count=int(lengths.sum()))
        rows = np.repeat(np.arange(self.n, dtype=np.int64), lengths)
        order = np.argsort(self.flat, kind="stable")
        self.sorted_keys = self.flat[order]
        self.sorted_rows = rows[order]

    def keys_of(self, row: int) -> np.ndarray:
        return self.flat[self.indptr[row] : self.indptr[row + 1]]

    def scores(self, counts: dict[int, float]) -> np.ndarray:
        """Every row's sum of ``ln(1 + count)`` over its authors (float32, zero for most)."""
        out = np.zeros(self.n, dtype=np.float32)
        if not counts:
            return out
        keys = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        gains = np.log1p(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        lo = np.searchsorted(self.sorted_keys, keys, side="left")
        lengths = np.searchsorted(self.sorted_keys, keys, side="right") - lo
        total = int(lengths.sum())
        if total:
            # every position lo[i] .. lo[i] + lengths[i] - 1 at once
            ends = np.cumsum(lengths)
            positions = np.arange(total) - np.repeat(ends - lengths, lengths) + np.repeat(lo, lengths)
            np.add.at(out, self.sorted_rows[positions], np.repeat(gains, lengths).astype(np.float32))
        return out


def _forms(words: list[str]) -> set[str]:
    """A name's words run together, in either order, and as surname + initials either way round."""
    if len(words) == 1:
        return {words[0]}
    given, surname = words[:-1], words[-1]
    initials = "".join(w[0] for w in given)
    return {
        "".join(words),
        "".join(reversed(words)),
        surname + initials,
        initials + surname,
        words[0] + "".join(w[0] for w in words[1:]),
    }


@functools.lru_cache(maxsize=262_144)
def same_person(name: str, other: str) -> bool:
    """Whether two spellings may name one person, as generously as the reader's own name needs (it must
    never count as a co-author, and an account's name is often spelt otherwise than on papers): equal
    keys; equal without spaces or digits ("YuandongPu", "Yuandong Pu"); the same words in another order
    ("Huang Wei"); a surname with initials ("SunZX", "Zhongxiang Sun"); or a one-word name of three
    letters or more that is one of the other's words ("Duan", "Jiafei Duan")."""
    a, b = _shape(name), _shape(other)
    if not a[0] or not b[0]:
        return False
    if a[1] == b[1] or a[2] & b[2]:
        return True
    if len(a[0]) == 1 and len(a[0][0]) >= 3 and a[0][0] in b[0]:
        return True
    return len(b[0]) == 1 and len(b[0][0]) >= 3 and b[0][0] in a[0]


@functools.lru_cache(maxsize=65_536)
def _shape(name: str) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """A name's words (digits out), the same sorted, and its :func:`_forms` (cached: names repeat)."""
    words = [w for w in "".join(c for c in author_key(name) if not c.isdigit()).split() if w]
    return tuple(words), tuple(sorted(words)), frozenset(_forms(words)) if words else frozenset()


class OwnName:
    """The reader's own names, ready to test many author names against (:func:`same_person` with any of
    them, each test a few set lookups)."""

    def __init__(self, names: Iterable[str]) -> None:
        shapes = [_shape(n) for n in names if n and n.strip()]
        shapes = [s for s in shapes if s[0]]
        self.sorted_words = {s[1] for s in shapes}
        self.forms = frozenset().union(*(s[2] for s in shapes))
        self.words = frozenset(w for s in shapes for w in s[0])
        self.single = frozenset(s[0][0] for s in shapes if len(s[0]) == 1 and len(s[0][0]) >= 3)
        # a name can match only if one of its words or forms is one of these (see ``_paper``)
        self.tokens = self.words | self.forms

    def __bool__(self) -> bool:
        return bool(self.sorted_words)

    def matches(self, name: str) -> bool:
        words, sorted_words, forms = _shape(name)
        if not words:
            return False
        if sorted_words in self.sorted_words or not forms.isdisjoint(self.forms):
            return True
        if len(words) == 1 and len(words[0]) >= 3 and words[0] in self.words:
            return True
        return bool(self.single) and not self.single.isdisjoint(words)


def liked_counts(
    liked_authors: Sequence[Sequence[str]],
    weights: Sequence[float] | None = None,
    exclude: Iterable[str] = (),
) -> dict[int, float]:
    """Per author key (hashed), the weighted number of liked papers (each given by its author names) the
    author is on; any name that may be one of ``exclude`` (the reader's own: :func:`same_person`) left
    out."""
    own = OwnName(exclude)
    counts: dict[int, float] = {}
    for names, w in zip(liked_authors, weights if weights is not None else [1.0] * len(liked_authors)):
        keys, tokens = _paper(tuple(n for n in names if isinstance(n, str)))
        if own and not own.tokens.isdisjoint(tokens):  # the reader may be on it: name by name
            keys = frozenset(
                key_hash(author_key(n))
                for n in names
                if isinstance(n, str) and n.strip() and not own.matches(n)
            )
        for k in keys:
            counts[k] = counts.get(k, 0.0) + float(w)
    return counts


@functools.lru_cache(maxsize=16_384)
def _paper(names: tuple[str, ...]) -> tuple[frozenset[int], frozenset[str]]:
    """One paper's author keys (hashed), and every word and form of its names: a reader's name can be
    among them only if one of its words or forms is (:meth:`OwnName.matches`' tests each need one), so a
    paper whose tokens miss the reader's is counted whole, without a test per name (papers repeat across
    readers; cached)."""
    keys = frozenset(key_hash(author_key(n)) for n in names if n.strip())
    tokens: set[str] = set()
    for n in names:
        words, _, forms = _shape(n)
        tokens.update(words)
        tokens.update(forms)
    return keys, frozenset(tokens)


def shared_authors(names: Iterable[str], counts: dict[int, float]) -> list[str]:
    """Those of one paper's author ``names`` that are in ``counts`` (co-authors of liked papers), the
    most liked first."""
    found = [(counts.get(key_hash(author_key(n)), 0.0), i, n) for i, n in enumerate(names) if n]
    return [n for c, _, n in sorted(found, key=lambda x: (-x[0], x[1])) if c > 0]
