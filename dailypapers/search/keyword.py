"""Keyword search over titles and abstracts: every word must appear (case-insensitive), title matches
rank first, then votes, then recency. Simple and exact; the full-text engine replaces it behind the
same function."""

from __future__ import annotations

import re

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, joinedload

from dailypapers.errors import BadRequest
from dailypapers.store.models import Paper

MAX_QUERY_CHARS = 500
_WORD = re.compile(r"\w[\w.+#-]*", re.UNICODE)


def query_words(q: str) -> list[str]:
    """The words of a query (no operators, no wildcards: ``%`` and ``_`` are not words)."""
    return [w.lower() for w in _WORD.findall(q[:MAX_QUERY_CHARS])][:12]


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def keyword_search(session: Session, q: str, *, limit: int = 20, offset: int = 0) -> tuple[list[Paper], int]:
    """Papers matching every word of ``q``; one page and the total count."""
    words = query_words(q or "")
    if not words:
        raise BadRequest("the search needs at least one word")
    conditions = [
        or_(func.lower(Paper.title).like(_like(w), escape="\\"), func.lower(Paper.abstract).like(_like(w), escape="\\"))
        for w in words
    ]
    in_title = sum(case((func.lower(Paper.title).like(_like(w), escape="\\"), 1), else_=0) for w in words)
    base = select(Paper).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    query = (
        base.options(joinedload(Paper.organization))
        .order_by(in_title.desc(), Paper.upvotes.desc(), Paper.published_at.desc().nulls_last(), Paper.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query).unique()), total
