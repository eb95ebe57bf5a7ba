"""Query words marked in a title and an abstract snippet, in Python, for PostgreSQL's keyword results.

``ts_headline`` parses each text again inside the database: 10–16 ms for one page of 20 results at
1M papers, a third of a whole search (``bench/postgres.py``). Here the words are found the way PostgreSQL's
``english`` configuration finds them — lower-cased, English stopwords left out, reduced by the same
Snowball English stemmer (``PyStemmer``, the Snowball project's C code) — so a word is marked when its
lexeme is one the query asked for (``tests/test_search_marks.py`` compares the two on 300 real abstracts
and claims: PostgreSQL 18 carries a newer Snowball release, and a rare word stems differently there,
"emergency": then that word alone goes unmarked).
The text itself is never changed: markers go around words and nothing else.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import cache
from typing import Any

MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
SNIPPET_WORDS = 40  # as many words as SQLite's snippet() gives
ELLIPSIS = "…"

# letters and digits; PostgreSQL's parser also reads "ad-hoc" as "ad", "hoc" (and the whole, which
# stems to nothing a plain query asks for) and "IL-10" as "il", "10"
_WORD = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")

# PostgreSQL's english.stop (the Snowball list): words it drops from a query and never marks
PG_STOPWORDS = frozenset(
    """
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
herself it its itself they them their theirs themselves what which who whom this that these those am is
are was were be been being have has had having do does did doing a an the and but if or because as until
while of at by for with about against between into through during before after above below to from up
down in out on off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will just don should now
""".split()
)

_lock = threading.Lock()
_known: dict[str, str] = {}  # word as written -> its lexeme ("" for a stopword)
KNOWN_AT_MOST = 200_000  # words remembered (then forgotten all at once)


@cache
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: the postgres extra

    return Stemmer.Stemmer("english")


def stems(words: Iterable[str]) -> list[str]:
    """Each word's lexeme as PostgreSQL's ``english`` configuration makes it ("" for a stopword). Words
    are remembered: a page of abstracts repeats most of its vocabulary and the last pages'."""
    words = list(words)
    found: dict[str, str] = {}
    unknown = []
    for word in set(words):
        lexeme = _known.get(word)
        if lexeme is None:
            unknown.append(word)
        else:
            found[word] = lexeme
    if unknown:
        lowered = [w.lower() for w in unknown]
        with _lock:  # a Stemmer object keeps state: not to be shared between threads unlocked
            stemmed = _stemmer().stemWords(lowered)
            if len(_known) + len(unknown) > KNOWN_AT_MOST:
                _known.clear()
            for word, low, lexeme in zip(unknown, lowered, stemmed, strict=True):
                found[word] = _known[word] = "" if low in PG_STOPWORDS else lexeme
    return [found[w] for w in words]


def query_lexemes(words: Iterable[str]) -> frozenset[str]:
    """The lexemes of the query's words and phrases (each may hold several words)."""
    tokens = [m.group() for w in words for m in _WORD.finditer(w)]
    return frozenset(s for s in stems(tokens) if s)


def _lowered(text: str) -> str:
    """``text`` lower-cased letter by letter, as long as ``text`` (offsets stay valid)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)  # "İ" lower-cases to two


def _hits(text: str, lexemes: frozenset[str]) -> list[tuple[int, int, str]]:
    """(start, end, lexeme) of each word of ``text`` whose lexeme is one of ``lexemes``, in order.

    A stem is the beginning of its word (Snowball's English stemmer only cuts endings, and turns a
    final "y" into "i"), so each lexeme is looked for as a word's beginning with ``str.find`` and each
    word found there is stemmed to check: a tokenizing regular expression over a whole abstract took
    ten times as long."""
    low = _lowered(text)
    size = len(low)
    ends: dict[int, int] = {}
    for lexeme in lexemes:
        prefixes = {lexeme, lexeme[:-1] + "y"} if lexeme.endswith("i") else {lexeme}
        for prefix in prefixes:
            at = low.find(prefix)
            while at != -1:
                if at == 0 or not low[at - 1].isalnum():
                    end = at + len(prefix)
                    while end < size and low[end].isalnum():
                        end += 1
                    ends[at] = end
                at = low.find(prefix, at + 1)
    starts = sorted(ends)
    lexemes_found = stems(text[a : ends[a]] for a in starts)
    return [(a, ends[a], x) for a, x in zip(starts, lexemes_found, strict=True) if x in lexemes]


def _marked(text: str, hits: list[tuple[int, int, str]], start: int, end: int) -> str:
    out, at = [], start
    for a, b, _ in hits:
        if a < start or b > end:
            continue
        out += [text[at:a], MARK_OPEN, text[a:b], MARK_CLOSE]
        at = b
    out.append(text[at:end])
    return "".join(out)


def mark_all(text: str, lexemes: frozenset[str]) -> str:
    """``text`` with every word of ``lexemes`` marked."""
    return _marked(text, _hits(text, lexemes), 0, len(text))


def _word_start(text: str, at: int) -> int:
    return max(text.rfind(c, 0, at) for c in " \n\t") + 1


def snippet(text: str, lexemes: frozenset[str], words: int = SNIPPET_WORDS) -> str:
    """``words`` consecutive words of ``text`` (split at white space): the stretch that holds the most
    different query words (then the most matches, then the earliest), marked, with "…" where the text
    was cut."""
    pieces = text.split(None, words)
    if len(pieces) <= words:  # short: all of it
        return _marked(text, _hits(text, lexemes), 0, len(text)).strip()
    hits = _hits(text, lexemes)
    if not hits:
        return text[: len(text) - len(pieces[-1])].rstrip() + ELLIPSIS
    width = len(text) * words // max(len(text.split()), 1)  # the window in characters
    best, first = (-1, -1), 0
    for i, (a, _, _) in enumerate(hits):
        inside = [x for b, _, x in hits[i:] if b < a + width]
        score = (len(set(inside)), len(inside))
        if score > best:
            best, first = score, a
    start = max(0, first - width // 6)  # some words before the first match
    start = max(0, min(start, len(text) - width))  # near the end: a whole window still
    start = 0 if start == 0 else _word_start(text, start)
    rest = text[start:].split(None, words)  # then exactly ``words`` words
    end = len(text) if len(rest) <= words else len(text) - len(rest[-1])
    end = len(text[:end].rstrip())
    body = _marked(text, hits, start, end).strip()
    return (ELLIPSIS if start > 0 else "") + body + (ELLIPSIS if end < len(text) else "")
