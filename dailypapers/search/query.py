"""The search box, parsed: a pure function from text to a :class:`ParsedQuery`, and from that to a safe
SQLite FTS5 ``MATCH`` expression.

Syntax (case-insensitive, Unicode-aware)::

    diffusion "state space" -survey -"large language"   words, exact phrases, exclusions
    author:dao  author:"tri dao"  author:tri dao  cat:cs.CL  org:"google deepmind"  org:google deepmind
    year:2024  year:2020..2024  year:>=2023  year:<2020
    after:2025-01-01  before:2025-06  date:2025-03  date:2025-01-01..2025-03-31

An unquoted ``author:`` or ``org:`` may take the words after it as part of the name: ``author:Yue Ma
diffusion`` is the author "yue ma" and the word "diffusion" when some paper has an author "Yue Ma" (the
search decides, :func:`with_names`); quotes take anything. ``after:`` is inclusive, ``before:``
exclusive; a bare ``YYYY`` or ``YYYY-MM`` means its first day (and, for ``date:``, the whole year or
month). Filters combine with AND. Nothing raises: text is truncated to
10 kB, control characters are dropped, unknown ``field:`` prefixes are plain words, unusable filters are
ignored with a warning, and at most ``MAX_CLAUSES`` words/phrases/filters are kept. Every term reaches FTS5
inside double quotes (sqlite-utils' ``quote_fts`` habit), so no input can inject FTS syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TypeVar

T = TypeVar("T", int, date)

MAX_QUERY_BYTES = 10 * 1024
MAX_CLAUSES = 32
MAX_PHRASE_WORDS = 32
MAX_WARNINGS = 8
MAX_WORD_CHARS = 100  # longer "words" (a pasted hash, a run of one letter) are ignored

_FIELDS = {
    "author": "author",
    "authors": "author",
    "cat": "cat",
    "category": "cat",
    "org": "org",
    "organization": "org",
    "year": "year",
    "after": "after",
    "before": "before",
    "date": "date",
}
_FIELD = re.compile(r"([a-z]+):")
_QUOTES = str.maketrans({c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"})
_JOINERS = ".-'\u2019/"  # kept inside a word when a letter or digit follows
_TRAILERS = "+#"  # kept after a word: c++, c#
_YEAR = r"([0-9]{4})"
_YEAR_ONE = re.compile(rf"{_YEAR}")
_YEAR_CMP = re.compile(rf"(>=|<=|>|<){_YEAR}")
_YEAR_RANGE = re.compile(rf"{_YEAR}?(?:\.\.|-){_YEAR}?")
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")
_CATEGORY = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)?")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ParsedQuery:
    """What a search box asked for. All text is lower-cased; ``warnings`` say what was ignored."""

    terms: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # words and phrases; a phrase contains a space
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    date_from: date | None = None  # inclusive
    date_to: date | None = None  # inclusive
    # the free text (words and phrases in the order typed), for the embedding model; derived, so not compared
    semantic_text: str = field(default="", compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # after an unquoted author: or org: value, the plain words that followed it (kind "author" or "org",
    # the value, the words): :func:`with_names` makes them part of the name where the collection has it
    name_words: tuple[tuple[str, str, tuple[str, ...]], ...] = field(default=(), compare=False)

    @property
    def has_text(self) -> bool:
        """Whether there is anything to match as text (words, phrases or authors)."""
        return bool(self.terms or self.phrases or self.authors)

    @property
    def is_empty(self) -> bool:
        """Whether the query asks for nothing at all."""
        return not (
            self.has_text
            or self.excluded
            or self.categories
            or self.organizations
            or self.date_range() != (None, None)
        )

    def date_range(self) -> tuple[date | None, date | None]:
        """The year and date filters as one inclusive date range (``None``: open end)."""
        lo, hi = self.date_from, self.date_to
        if self.year_from is not None:
            lo = max(lo or date.min, date(self.year_from, 1, 1))
        if self.year_to is not None:
            hi = min(hi or date.max, date(self.year_to, 12, 31))
        return lo, hi


def clean_text(text: str) -> str:
    """Control, format and private-use characters dropped, NFKC, lower case, cut to 10 kB of UTF-8."""
    text = text[:MAX_QUERY_BYTES]
    if not (text.isascii() and text.isprintable()):
        text = "".join(_clean_char(ch) for ch in text)
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())
    return text.translate(_QUOTES).encode("utf-8")[:MAX_QUERY_BYTES].decode("utf-8", "ignore")


def _clean_char(ch: str) -> str:
    kind = unicodedata.category(ch)
    if kind[0] != "C" and kind not in ("Zl", "Zp"):
        return ch
    return " " if kind in ("Cc", "Zl", "Zp") else ""


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch)[0] == "M"


def split_words(text: str) -> list[str]:
    """Words: runs of letters, digits and marks, keeping ``-./'`` inside (``gpt-4``, ``3.5``) and ``+#``
    after (``c++``). Underscores, symbols and emoji separate words."""
    words: list[str] = []
    start = -1
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if start < 0:
            if ch.isalnum():
                start = i
        elif _is_word_char(ch):
            pass
        elif ch in _JOINERS and i + 1 < n and text[i + 1].isalnum():
            pass
        else:
            while i < n and text[i] in _TRAILERS:
                i += 1
            words.append(text[start:i])
            start = -1
            continue
        i += 1
    if start >= 0:
        words.append(text[start:])
    return words


def _has_alnum(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """The text between the quote at ``i`` and the next one (or the end), and the index after it."""
    end = text.find('"', i + 1)
    if end < 0:
        return text[i + 1 :], len(text)
    return text[i + 1 : end], end + 1


def _read_bare(text: str, i: int) -> tuple[str, int]:
    j = i
    while j < len(text) and not text[j].isspace() and text[j] != '"':
        j += 1
    return text[i:j], j


def _phrase(raw: str) -> str:
    return " ".join(raw.split()[:MAX_PHRASE_WORDS])


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def _parse_date(value: str) -> tuple[date, date] | None:
    """The first and last day that ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` covers."""
    m = _DATE.fullmatch(value)
    if not m:
        return None
    try:
        year = int(m.group(1))
        if m.group(3):
            day = date(year, int(m.group(2)), int(m.group(3)))
            return day, day
        if m.group(2):
            return date(year, int(m.group(2)), 1), _month_end(year, int(m.group(2)))
        return date(year, 1, 1), date(year, 12, 31)
    except ValueError:
        return None


def parse_years(value: str) -> tuple[int | None, int | None] | None:
    """``2024``, ``2020..2024`` (or ``2020-2024``; open ends allowed), ``>=2023``, ``>``, ``<=``, ``<``."""
    lo: int | None
    hi: int | None
    if m := _YEAR_ONE.fullmatch(value):
        lo = hi = int(m.group(1))
    elif m := _YEAR_CMP.fullmatch(value):
        op, year = m.group(1), int(m.group(2))
        lo, hi = {">=": (year, None), ">": (year + 1, None), "<=": (None, year), "<": (None, year - 1)}[op]
    elif (m := _YEAR_RANGE.fullmatch(value)) and (m.group(1) or m.group(2)):
        lo, hi = (int(g) if g else None for g in m.groups())
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
    else:
        return None
    if any(y is not None and not date.min.year <= y <= date.max.year for y in (lo, hi)):
        return None
    return lo, hi


def _parse_date_range(value: str) -> tuple[date | None, date | None] | None:
    """``D``, ``D..D``, ``D..`` or ``..D`` where each ``D`` is ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``."""
    if ".." not in value:
        return _parse_date(value)
    first, _, last = value.partition("..")
    lo = _parse_date(first) if first else (None, None)
    hi = _parse_date(last) if last else (None, None)
    if lo is None or hi is None or (first == last == ""):
        return None
    if lo[0] is not None and hi[1] is not None and lo[0] > hi[1]:
        return hi[0], lo[1]
    return lo[0], hi[1]


def _intersect(old: tuple[T | None, T | None], new: tuple[T | None, T | None]) -> tuple[T | None, T | None]:
    """Two ranges with open ends (``None``), both required: the later start and the earlier end."""
    starts = [x for x in (old[0], new[0]) if x is not None]
    ends = [x for x in (old[1], new[1]) if x is not None]
    return (max(starts) if starts else None), (min(ends) if ends else None)


class _Builder:
    """Collects clauses while the lexer walks the text."""

    def __init__(self) -> None:
        kinds = ("terms", "phrases", "excluded", "authors", "categories", "organizations")
        self.lists: dict[str, list[str]] = {k: [] for k in kinds}
        self.free: list[str] = []
        self.warnings: list[str] = []
        self.years: tuple[int | None, int | None] = (None, None)
        self.dates: tuple[date | None, date | None] = (None, None)
        self.clauses = 0
        self.name_words: list[tuple[str, str, tuple[str, ...]]] = []

    def add(self, kind: str, value: str, free: bool = False) -> None:
        items = self.lists[kind]
        if value in items:
            return
        if self.clauses >= MAX_CLAUSES:
            if not self.warnings or not self.warnings[-1].startswith("only the first"):
                self.warnings.append(f"only the first {MAX_CLAUSES} words, phrases and filters are used")
            return
        self.clauses += 1
        items.append(value)
        if free:
            self.free.append(value)

    def field(self, name: str, value: str, quoted: bool) -> None:
        if name in ("author", "org"):
            text = _phrase(value) if quoted else " ".join(split_words(value))
            if _has_alnum(text):
                self.add("authors" if name == "author" else "organizations", text)
            else:
                self.warnings.append(f"ignored an empty {name}: filter")
        elif name == "cat":
            if _CATEGORY.fullmatch(value.strip()):
                self.add("categories", value.strip())
            else:
                self.warnings.append(f"ignored cat:{value[:40]} (not an arXiv category)")
        elif name == "year":
            years = parse_years(value.strip())
            if years is None:
                self.warnings.append(f"ignored year:{value[:40]} (use year:2024, 2020..2024 or >=2023)")
            else:
                self.years = _intersect(self.years, years)
        else:
            span = _parse_date_range(value.strip()) if name == "date" else _parse_date(value.strip())
            if span is None:
                self.warnings.append(f"ignored {name}:{value[:40]} (use YYYY, YYYY-MM or YYYY-MM-DD)")
            elif name == "after":
                self.dates = _intersect(self.dates, (span[0], None))
            elif name == "before":
                last = span[0] - timedelta(days=1) if span[0] > date.min else span[0]
                self.dates = _intersect(self.dates, (None, last))
            else:
                self.dates = _intersect(self.dates, span)

    def result(self) -> ParsedQuery:
        return ParsedQuery(
            **{k: tuple(v) for k, v in self.lists.items()},
            year_from=self.years[0],
            year_to=self.years[1],
            date_from=self.dates[0],
            date_to=self.dates[1],
            semantic_text=" ".join(self.free),
            warnings=tuple(dict.fromkeys(self.warnings))[:MAX_WARNINGS],
            name_words=tuple(self.name_words),
        )


NAME_WORDS = 3  # words after an unquoted author: or org: that may still be part of the name


def _next_words(text: str, i: int) -> tuple[str, ...]:
    """The plain words after index ``i`` (up to a quote, an exclusion, a filter or :data:`NAME_WORDS`),
    which may continue an unquoted name: the search decides with the collection's names."""
    words: list[str] = []
    j = i
    while len(words) < NAME_WORDS:
        while j < len(text) and text[j].isspace():
            j += 1
        if j >= len(text) or text[j] in '"-' or _FIELD.match(text, j):
            break
        token, j = _read_bare(text, j)
        split = split_words(token)
        if len(split) != 1:
            break
        words.append(split[0])
    return tuple(words)


def parse_query(text: str) -> ParsedQuery:
    """Parse a search box; never raises, whatever the text."""
    text = clean_text(text if isinstance(text, str) else "")
    out = _Builder()
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        if text[i] == '"':
            raw, i = _read_quoted(text, i)
            phrase = _phrase(raw)
            if _has_alnum(phrase):
                out.add("excluded" if negated else "phrases", phrase, free=not negated)
            continue
        m = _FIELD.match(text, i)
        if m and m.group(1) in _FIELDS:
            name, i = _FIELDS[m.group(1)], m.end()
            quoted = i < n and text[i] == '"'
            value, i = _read_quoted(text, i) if quoted else _read_bare(text, i)
            if not quoted and name in ("author", "org") and value and (after := _next_words(text, i)):
                out.name_words.append((name, " ".join(split_words(value)), after))
            if negated:
                out.warnings.append(f"ignored -{m.group(0)}{value[:40]} (filters cannot be negated)")
            else:
                out.field(name, value, quoted)
            continue
        token, i = _read_bare(text, i)
        words = split_words(token)
        if any(len(w) > MAX_WORD_CHARS for w in words):
            out.warnings.append(f"ignored words longer than {MAX_WORD_CHARS} characters")
            words = [w for w in words if len(w) <= MAX_WORD_CHARS]
        if negated and len(words) > 1:
            out.add("excluded", _phrase(" ".join(words)))
        for word in words if not negated or len(words) == 1 else ():
            out.add("excluded" if negated else "terms", word, free=not negated)
    return out.result()


def with_names(parsed: ParsedQuery, is_name: Callable[[str, str], bool]) -> ParsedQuery:
    """``parsed`` with each unquoted author or organization name extended over the words typed after it,
    as far as ``is_name(kind, longer_name)`` says such a name exists (longest first); the words taken
    are no longer words of the query."""
    if not parsed.name_words:
        return parsed
    authors, orgs, terms = list(parsed.authors), list(parsed.organizations), list(parsed.terms)
    taken: list[str] = []
    for kind, value, after in parsed.name_words:
        names = authors if kind == "author" else orgs
        if value not in names:
            continue
        for n in range(len(after), 0, -1):
            longer = " ".join((value, *after[:n]))
            if all(w in terms for w in after[:n]) and is_name(kind, longer):
                names[names.index(value)] = longer
                for word in after[:n]:
                    terms.remove(word)
                    taken.append(word)
                break
    if not taken:
        return parsed
    free = parsed.semantic_text.split()
    for word in taken:
        if word in free:
            free.remove(word)
    return replace(
        parsed,
        authors=tuple(dict.fromkeys(authors)),
        organizations=tuple(dict.fromkeys(orgs)),
        terms=tuple(terms),
        semantic_text=" ".join(free),
        name_words=(),
    )


def quote_fts(text: str) -> str:
    """One FTS5 string: the text in double quotes, inner quotes doubled. FTS5 reads it as a phrase."""
    return '"' + text.replace('"', '""') + '"'


def to_fts5(parsed: ParsedQuery, *, author_column: str = "authors", column: str | None = None) -> str | None:
    """A safe FTS5 ``MATCH`` expression: every word, phrase and author must match (authors within
    ``author_column``; words and phrases within ``column`` when given), exclusions with ``NOT``. ``None``
    when there is nothing positive to match; the caller then filters exclusions with
    :func:`excluded_fts5`."""
    for name in (author_column, column or "x"):
        if not _COLUMN.fullmatch(name):
            raise ValueError(f"not a column name: {name!r}")
    positive = [quote_fts(t) for t in (*parsed.terms, *parsed.phrases)]
    if column is not None and positive:
        positive = [f"{column} : ({' AND '.join(positive)})"]
    positive += [f"{author_column} : {quote_fts(a)}" for a in parsed.authors]
    if not positive:
        return None
    expression = " AND ".join(positive)
    negative = excluded_fts5(parsed)
    return f"({expression}) NOT ({negative})" if negative else expression


def excluded_fts5(parsed: ParsedQuery) -> str | None:
    """An FTS5 expression matching any excluded word or phrase (``None`` if none): for
    ``rowid NOT IN (... MATCH ...)`` when the query has no positive text."""
    return " OR ".join(quote_fts(x) for x in parsed.excluded) or None


def format_query(parsed: ParsedQuery) -> str:
    """The canonical text of a parsed query: ``parse_query(format_query(q)) == q``."""
    parts = [*parsed.terms, *(f'"{p}"' for p in parsed.phrases)]
    parts += [f"-{x}" if split_words(x) == [x] else f'-"{x}"' for x in parsed.excluded]
    parts += [f'author:"{a}"' for a in parsed.authors]
    parts += [f"cat:{c}" for c in parsed.categories]
    parts += [f'org:"{o}"' for o in parsed.organizations]
    parts += _format_range("year", parsed.year_from, parsed.year_to)
    parts += _format_range("date", parsed.date_from, parsed.date_to)
    return " ".join(parts)


def words_only(parsed: ParsedQuery) -> str:
    """The query's words, phrases and exclusions without its filters, as search-box text."""
    return format_query(ParsedQuery(terms=parsed.terms, phrases=parsed.phrases, excluded=parsed.excluded))


def _format_range(name: str, lo: int | date | None, hi: int | date | None) -> list[str]:
    text = [str(x) if isinstance(x, int) else x.isoformat() if x else "" for x in (lo, hi)]
    if lo is None and hi is None:
        return []
    if lo is not None and lo == hi and name == "year":
        return [f"year:{text[0]}"]
    if lo is not None and hi is not None and lo > hi:  # (an empty range, from two filters)
        return [f"{name}:{text[0]}..", f"{name}:..{text[1]}"]
    return [f"{name}:{text[0]}..{text[1]}"]
