"""arXiv listing files (JSON lines, plain or gzip) → records.

Two field layouts are in use, told apart line by line:

- *Atom layout* (``cs_2025``): ``title, abstract, published, link, categories[], primary_category,
  _archive_date``. ``link`` is the abs URL with its version; ``published`` is the v1 time. No authors.
- *daily layout* (``math_2007_2026``): ``id, pdf, abs, authors[], title, categories[], comment,
  summary, _archive_date``. The first category is the primary one. No submission time.

:func:`iter_listings` streams a file one line at a time; a line it cannot read becomes a
:class:`~dailypapers.ingest.records.Rejected` and the import goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from dailypapers.ingest.records import (
    PaperRecord,
    Record,
    canonical_arxiv_id,
    clean_abstract,
    clean_title,
    parse_datetime,
    split_authors,
    tex_to_unicode,
)
from dailypapers.ingest.snapshot import (
    categories_of,
    code_url_of,
    iter_line_records,
    one_line,
    text_or_none,
)

__all__ = ["iter_listings", "listing_record"]


def _date(value: Any) -> datetime | None:
    """A listing timestamp or day as an aware UTC datetime; missing or unreadable → ``None``."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


_cached_date = lru_cache(maxsize=4096)(_date)  # listing days repeat line after line


def _archive_day(obj: dict[str, Any]) -> datetime | None:
    """``_archive_date`` (the day the paper was listed) as midnight UTC.

    Only its first 10 characters are read: the AI-enhanced lines of ``math_2007_2026`` carry
    ``"2026-03-24_AI_kimi"``.
    """
    value = obj.get("_archive_date")
    return _cached_date(value[:10]) if isinstance(value, str) else None


def _id_month(arxiv_id: str) -> int:
    """The month an id was issued in, as ``year * 12 + month - 1`` (``0705.3347`` → May 2007).

    Both id styles carry it: ``YYMM.NNNNN`` and ``archive/YYMMNNN`` (old ids run 1991..2007).
    """
    digits = arxiv_id.rsplit("/", 1)[-1]
    yy, mm = int(digits[:2]), int(digits[2:4])
    return (1900 + yy if yy >= 91 else 2000 + yy) * 12 + mm - 1


def _listed_as_new(arxiv_id: str, listed: datetime | None) -> datetime | None:
    """The daily layout's stand-in for the publication time, or ``None`` when it cannot be one.

    This layout has no submission time and the id's YYMM gives only the month, so the day the paper
    was listed (``_archive_date``, midnight UTC) stands in for it. But a paper is listed again when it
    is replaced or cross-listed: in ``math_2007_2026`` about half the listing days fall after the id's
    month, a quarter more than a year after. A listing day in the id's month or the next (a paper
    sent on the 31st is listed on the 1st) is taken; a later one is no publication date, so ``None``
    ("unknown"): the importer then keeps whatever date a better source gave.
    """
    if listed is None:
        return None
    months_late = listed.year * 12 + listed.month - 1 - _id_month(arxiv_id)
    return listed if 0 <= months_late <= 1 else None


def _authors(value: Any) -> list[str]:
    """Clean the daily layout's author list.

    The list is pre-split, but not cleanly: ``"Felix Schulze,"``, ``"Lorenzo Brandolese (1)"``,
    affiliations split across items (``"X (2) ((1) Univ. de\\n Lyon 1", "(2) Ecole ...)"``), TeX
    accents. Such a list is joined back and handed to :func:`split_authors`.
    """
    if not isinstance(value, list):
        return []
    names = [" ".join(a.split()) for a in value if isinstance(a, str)]
    joined = "\x00" + "\x00".join(names)
    if "(" in joined or "," in joined or ";" in joined or "and " in joined or "\x00." in joined:
        return split_authors(", ".join(names))
    if "\\" in joined:  # accents only: what split_authors would do, without its slow paren scan
        return [tex_to_unicode(n) for n in names if n]
    return [n for n in names if n]


def _atom_record(obj: dict[str, Any]) -> PaperRecord:
    arxiv_id, version = canonical_arxiv_id(obj["link"])
    categories = categories_of(obj.get("categories"))
    primary = text_or_none(obj.get("primary_category")) or (categories[0] if categories else None)
    abstract = clean_abstract(text_or_none(obj.get("abstract")))
    comments = one_line(obj.get("comment"))
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=_title(obj),
        abstract=abstract,
        version=version,
        categories=categories,
        primary_category=primary,
        # ``published`` is the v1 submission time; the listing day only if it is missing or unreadable.
        published_at=_date(obj.get("published")) or _listed_as_new(arxiv_id, _archive_day(obj)),
        comments=comments,
        code_url=code_url_of(comments, abstract),
    )


def _daily_record(obj: dict[str, Any]) -> PaperRecord:
    raw_id = obj.get("id") or obj.get("abs")
    if raw_id is None or raw_id == "":
        raise ValueError("missing id")
    arxiv_id, version = canonical_arxiv_id(raw_id)
    categories = categories_of(obj.get("categories"))
    abstract = clean_abstract(text_or_none(obj.get("summary")))
    comments = one_line(obj.get("comment"))
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=_title(obj),
        abstract=abstract,
        version=version,
        authors=_authors(obj.get("authors")),
        categories=categories,
        primary_category=categories[0] if categories else None,
        published_at=_listed_as_new(arxiv_id, _archive_day(obj)),
        comments=comments,
        code_url=code_url_of(comments, abstract),
    )


def _title(obj: dict[str, Any]) -> str:
    title = obj.get("title")
    title = clean_title(title) if isinstance(title, str) else ""
    if not title:
        raise ValueError("missing title")
    return title


def listing_record(obj: dict[str, Any]) -> PaperRecord:
    """Map one parsed listing line (either layout) to a :class:`PaperRecord`.

    Raises ``ValueError`` (``InvalidArxivId`` included) when the line has no usable id or title or
    matches neither layout.
    """
    if "link" in obj:
        return _atom_record(obj)
    if "id" in obj or "abs" in obj:
        return _daily_record(obj)
    raise ValueError("unknown layout: neither 'link' nor 'id'")


def iter_listings(path: Path) -> Iterator[Record]:
    """Stream an arXiv listing file at ``path`` (plain or gzip) as records, one line at a time.

    Each readable line gives a :class:`PaperRecord`; a line with invalid JSON, no id, an id that is not
    an arXiv id, or no title gives ``Rejected(position="{path}:{line_no}", reason=...)``. Blank lines
    are skipped. Memory use does not grow with the file.
    """
    return iter_line_records(path, listing_record)
