"""One author's papers, co-authors and organizations (the author page and its feed).

Papers carry their authors as the names the sources spell. An author is a name key
(:func:`dailypapers.names.author_key`: accents, case, dots, hyphens and spacing folded), so "Zoë
Ångström", "Zoe Angstrom" and "ZOE ANGSTROM" are one page while "Angstrom Zoe" (another order) is not.
Initials ("Z. Angstrom") join a full name's page only on the evidence of the papers: a paper where the
initials stand is counted when it shares a co-author with the full name's own papers (the same group,
so the same person as far as the data can tell); otherwise the initials stay a page of their own. The
full-text index
finds the papers whose author list holds the name's words in order (fast on either backend, at most
:data:`MAX_PAPERS`), and each is kept only if one of its authors has exactly the key: a phrase across two
authors ("Grace Ada, Lovelace Smith" for "Ada Lovelace") is not the author.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, joinedload, selectinload

from dailypapers.names import author_key, hf_handle, initial_keys, name_words
from dailypapers.search.fulltext import keyword_hits, newest_matches
from dailypapers.search.query import ParsedQuery, clean_text
from dailypapers.store import queries
from dailypapers.store.models import Organization, Paper

MAX_PAPERS = 2000  # papers considered per author page (newest first among them)
MAX_NAME = 300  # characters of a name looked up
COAUTHORS = 20
ORGANIZATIONS = 10


@dataclass
class AuthorProfile:
    """An author as the papers show them: the spelling most of their papers use, their papers' ids
    (newest first), the co-authors they share most papers with and the organizations of their papers."""

    name: str
    key: str
    paper_ids: list[int] = field(default_factory=list)
    coauthors: list[tuple[str, int]] = field(default_factory=list)
    organizations: list[tuple[Organization, int]] = field(default_factory=list)
    handle: str | None = None  # the Hugging Face account that claimed the name on most of their papers

    @property
    def total(self) -> int:
        return len(self.paper_ids)


def author_profile(session: Session, name: str) -> AuthorProfile | None:
    """The author named ``name`` (any spelling with the same key), or ``None`` when no paper has them."""
    name = (name or "")[:MAX_NAME]
    key = author_key(name)
    words = clean_text(name_words(name))
    if not key or not words.strip():
        return None
    hits = keyword_hits(session, ParsedQuery(authors=(words,)), limit=MAX_PAPERS)
    if not hits:
        return None
    rows = _rows(session, [h.paper_id for h in hits])
    spellings: Counter[str] = Counter()
    others: Counter[str] = Counter()
    display: dict[str, Counter[str]] = {}
    orgs: Counter[int] = Counter()
    mine: list[tuple[datetime | None, int]] = []
    handles: Counter[str] = Counter()

    def count(row: Any, keys: set[str], names: list[str]) -> None:
        paper_id, _, published, org_id, users = row
        matched = [a for a in names if author_key(a) in keys]
        if key in {author_key(a) for a in matched}:
            spellings[next(a for a in matched if author_key(a) == key)] += 1
        claimed = hf_handle((users or {}).get(matched[0])) if isinstance(users, dict) else None
        if claimed:
            handles[claimed] += 1
        mine.append((published, paper_id))
        if org_id is not None:
            orgs[org_id] += 1
        for other_key, other in {author_key(a): a for a in names if author_key(a) not in keys}.items():
            others[other_key] += 1
            display.setdefault(other_key, Counter())[other] += 1

    seen: set[int] = set()
    for row in rows:
        names = _names(row[1])
        if any(author_key(a) == key for a in names):
            count(row, {key}, names)
            seen.add(row[0])
    # the same name with initials, where a paper shares a co-author with the full name's own papers
    forms = initial_keys(key) if mine else ()
    if forms:
        known = set(others)
        for form in forms:
            found = keyword_hits(session, ParsedQuery(authors=(clean_text(form),)), limit=MAX_PAPERS)
            candidates = [h.paper_id for h in found if h.paper_id not in seen]
            for row in _rows(session, candidates):
                names = _names(row[1])
                keys = {author_key(a) for a in names}
                if form in keys and (keys - {form}) & known:
                    count(row, {form, key}, names)
                    seen.add(row[0])
    if not mine:
        return None
    mine.sort(key=lambda p: (p[0] is not None, p[0] or datetime.min, p[1]), reverse=True)
    top_orgs = orgs.most_common(ORGANIZATIONS)
    wanted = [i for i, _ in top_orgs]
    loaded = {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(wanted)))}
    return AuthorProfile(
        name=spellings.most_common(1)[0][0],
        key=key,
        paper_ids=[p for _, p in mine],
        coauthors=[(display[k].most_common(1)[0][0], n) for k, n in others.most_common(COAUTHORS)],
        organizations=[(loaded[i], n) for i, n in top_orgs if i in loaded],
        handle=handles.most_common(1)[0][0] if handles else None,
    )


def _rows(session: Session, ids: list[int]) -> list[Any]:
    """Each paper's id, authors, publication time, organization id and claimed names."""
    if not ids:
        return []
    return list(
        session.execute(
            select(
                Paper.id, Paper.authors, Paper.published_at, Paper.organization_id, Paper.author_users
            ).where(Paper.id.in_(ids))
        )
    )


def _names(authors: Any) -> list[str]:
    return [a for a in authors or () if isinstance(a, str) and a.strip()]


def newest_paper_ids(session: Session, name: str, *, limit: int = 100) -> list[int]:
    """The ids of the author's papers (names matched as on their page, initials included on the same
    evidence), the most recently imported first, at most ``limit``: read newest first in batches from the
    full-text index, so a follow costs what its newest papers cost, not the author's whole list."""
    name = (name or "")[:MAX_NAME]
    key = author_key(name)
    words = clean_text(name_words(name))
    if not key or not words.strip():
        return []
    found: list[int] = []
    coauthors: set[str] = set()
    batch = max(limit, 50)
    for offset in range(0, MAX_PAPERS, batch):
        ids = newest_matches(session, ParsedQuery(authors=(words,)), limit=batch, offset=offset)
        if not ids:
            break
        for paper_id, keys in _author_keys(session, ids).items():
            if key in keys:
                found.append(paper_id)
                coauthors |= keys - {key}
        if len(found) >= limit or len(ids) < batch:
            break
    for form in initial_keys(key) if found else ():
        ids = newest_matches(session, ParsedQuery(authors=(clean_text(form),)), limit=batch)
        found += [
            i
            for i, keys in _author_keys(session, ids).items()
            if form in keys and (keys - {form}) & coauthors
        ]
    return sorted(set(found), reverse=True)[:limit]


def _author_keys(session: Session, ids: list[int]) -> dict[int, set[str]]:
    """The name keys of each paper's authors, in the order of ``ids``."""
    if not ids:
        return {}
    listed = ", ".join(str(int(i)) for i in ids)  # ints only
    rows = dict(session.execute(text(f"SELECT id, authors FROM papers WHERE id IN ({listed})")).all())  # nosec B608 # ints
    out = {}
    for paper_id in ids:
        names = rows.get(paper_id)
        if isinstance(names, str):
            try:
                names = json.loads(names)
            except ValueError:
                names = None
        out[paper_id] = {author_key(a) for a in _names(names if isinstance(names, list) else None)}
    return out


def author_papers(
    session: Session,
    profile: AuthorProfile,
    *,
    filters: queries.PaperFilter = queries.NO_FILTER,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Paper], int]:
    """One page of the author's papers that ``filters`` takes, newest first, with their organization and
    listings loaded, and how many there are."""
    chosen = queries.filter_ids(session, profile.paper_ids, filters)
    ids = chosen[offset : offset + limit]
    if not ids:
        return [], len(chosen)
    papers = {
        p.id: p
        for p in session.scalars(
            select(Paper)
            .where(Paper.id.in_(ids))
            .options(joinedload(Paper.organization), selectinload(Paper.entries))
        ).unique()
    }
    return [papers[i] for i in ids if i in papers], len(chosen)
