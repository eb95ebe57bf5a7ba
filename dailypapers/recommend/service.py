"""Recommendations for one reader, from what they did on the site (the model is in :mod:`.model`).

A reader's profile, read from the database:

- positives: papers they upvoted or saved to a collection (weight 1), papers they picked when starting
  out (weight 1), and for each author, category or organization they picked, that interest's most
  upvoted papers (weight 0.5 each: a cold start, until they vote);
- negatives: papers they marked "not interested";
- excluded from the results: everything they voted, saved, marked read or not interested.

Candidates are the papers with a vector of the current embedding model, held in memory per process
(:class:`CandidatePool`, refreshed when new vectors appear), optionally only those published within
``window_days`` of the newest paper. Each result says which liked paper it is closest to.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import String, cast, delete, desc, func, or_, select
from sqlalchemy.orm import Session

from dailypapers.errors import BadRequest
from dailypapers.ingest.records import parse_arxiv_ref
from dailypapers.recommend import model as rec_model
from dailypapers.recommend.coauthors import AuthorIndex, liked_counts, shared_authors
from dailypapers.recommend.lexical import WIDTH, Lexicon, TermMatrix, unpack
from dailypapers.store.db import Database
from dailypapers.store.models import (
    INTEREST_KINDS,
    Collection,
    CollectionItem,
    Organization,
    Paper,
    PaperMark,
    PaperVector,
    User,
    UserInterest,
    Vote,
    utcnow,
)
from dailypapers.store.terms import current_lexicon, iter_terms, terms_version
from dailypapers.store.vectors import iter_vectors

SEEDS_PER_INTEREST = 10
SEED_WEIGHT = 0.5
MAX_INTERESTS = 50


@dataclass(frozen=True, slots=True)
class Profile:
    """What the recommender knows of a reader: the liked papers with weight and reason, the papers
    marked not interested, and the papers never to recommend (liked, picked or marked)."""

    positives: dict[
        int, tuple[float, str]
    ]  # paper id -> (weight, why: "upvoted", "saved", "picked", "cs.CL"…)
    negatives: list[int]
    excluded: set[int]
    names: tuple[str, ...] = ()  # the reader's own (display name, username): no author feature counts them
    liked_authors: dict[int, list[str]] | None = None  # positive paper id -> its authors, when read

    @property
    def empty(self) -> bool:
        return not self.positives


def read_profile(session: Session, user_id: int) -> Profile:
    """The :class:`Profile` of one reader (:func:`read_profiles`)."""
    return read_profiles(session, [user_id])[user_id]


def seed_papers(session: Session, kind: str, value: str, limit: int = SEEDS_PER_INTEREST) -> list[int]:
    """The most upvoted papers (newest first among equals) of an author, category or organization."""
    query = select(Paper.id).where(Paper.withdrawn.is_(False))

    def in_json_list(column: Any) -> Any:
        # the JSON text of the list holds the value quoted, with non-ASCII letters as they are (JSONB)
        # or as \\u escapes (SQLite's JSON): match either spelling
        forms = {json.dumps(value), json.dumps(value, ensure_ascii=False)}
        text = cast(column, String)
        return or_(*[text.like("%" + f.replace("%", "").replace("_", "") + "%") for f in forms])

    if kind == "category":
        query = query.where(or_(Paper.primary_category == value, in_json_list(Paper.categories)))
    elif kind == "organization":
        query = query.join(Organization, Organization.id == Paper.organization_id).where(
            Organization.name == value
        )
    elif kind == "author":
        query = query.where(in_json_list(Paper.authors))
    else:
        return []
    query = query.where(Paper.id.in_(select(PaperVector.paper_id)))
    rows = session.scalars(
        query.order_by(desc(Paper.upvotes + Paper.community_upvotes), desc(Paper.published_at)).limit(limit)
    ).all()
    return list(rows)


# --- interests (cold start) --------------------------------------------------------------------------


def set_interests(db: Database, user: User, picks: dict[str, list[str]]) -> int:
    """Replace the reader's picked interests (``{"paper": [...], "author": [...], ...}``); returns how
    many are kept once duplicates are dropped."""
    rows: list[tuple[str, str]] = []
    for kind, values in picks.items():
        if kind not in INTEREST_KINDS:
            raise BadRequest(f"interest kind must be one of {', '.join(INTEREST_KINDS)}, got {kind!r}")
        for value in values:
            value = " ".join(str(value).split())
            if value:
                if len(value) > 300:
                    raise BadRequest(f"{kind}: each at most 300 characters")
                if kind == "paper":
                    value = parse_arxiv_ref(value)
                rows.append((kind, value))
    rows = list(dict.fromkeys(rows))
    if len(rows) > MAX_INTERESTS:
        raise BadRequest(f"at most {MAX_INTERESTS} interests")
    with db.transaction() as session:
        session.execute(delete(UserInterest).where(UserInterest.user_id == user.id))
        now = utcnow()
        session.add_all([UserInterest(user_id=user.id, kind=k, value=v, created_at=now) for k, v in rows])
    return len(rows)


def interests_of(session: Session, user_id: int) -> dict[str, list[str]]:
    """The reader's picked interests by kind, oldest first (every kind of :data:`INTEREST_KINDS`,
    empty when none is picked)."""
    found: dict[str, list[str]] = {k: [] for k in INTEREST_KINDS}
    for kind, value in session.execute(
        select(UserInterest.kind, UserInterest.value)
        .where(UserInterest.user_id == user_id)
        .order_by(UserInterest.created_at)
    ):
        found.setdefault(kind, []).append(value)
    return found


def popular(session: Session, kind: str, limit: int = 30) -> list[tuple[str, int]]:
    """The categories or organizations with the most papers, for the cold-start form."""
    if kind == "category":
        rows = session.execute(
            select(Paper.primary_category, func.count())
            .where(Paper.primary_category.is_not(None))
            .group_by(Paper.primary_category)
            .order_by(func.count().desc())
            .limit(limit)
        )
    elif kind == "organization":
        rows = session.execute(
            select(Organization.name, func.count())
            .join(Paper, Paper.organization_id == Organization.id)
            .group_by(Organization.name)
            .order_by(func.count().desc())
            .limit(limit)
        )
    else:
        raise ValueError(kind)
    return [(name, n) for name, n in rows]


# --- candidates --------------------------------------------------------------------------------------


class CandidatePool:
    """Every paper vector of one model, in memory: ids (int64), vectors (float32, unit length), each
    paper's publication time and, once the lexicon is fitted, its term features (``terms``, row for row;
    a paper not yet described has none). Reloaded when the newest ``embedded_at`` or the described
    papers move (checked at most every ``refresh_every`` seconds), so one process serves many readers
    from one copy."""

    def __init__(self, db: Database, model: str, *, refresh_every: float = 60.0) -> None:
        self.db = db
        self.model = model
        self.refresh_every = refresh_every
        self._checked = -1e18
        self._newest: datetime | None = None
        self._lock = threading.Lock()
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self.published = np.zeros(0, dtype="datetime64[s]")
        self._row: dict[int, int] = {}
        self._derived: dict[tuple[Any, ...], Any] = {}  # background samples, windows: until the next reload
        self.terms: TermMatrix | None = None
        self.authors: AuthorIndex | None = None
        self.lexicon: Lexicon | None = None
        self._terms_version: tuple[int | None, int] | None = None

    def refresh(self) -> CandidatePool:
        now = time.monotonic()
        if now - self._checked < self.refresh_every:
            return self
        with self._lock:
            if now - self._checked < self.refresh_every:
                return self
            with self.db.session() as session:
                newest = session.scalar(
                    select(func.max(PaperVector.embedded_at)).where(PaperVector.model == self.model)
                )
                if newest != self._newest or not len(self.ids):
                    chunks = list(iter_vectors(session, self.model))
                    if chunks:
                        ids = np.concatenate([c[0] for c in chunks])
                        vectors = np.ascontiguousarray(
                            np.concatenate([c[1] for c in chunks]), dtype=np.float32
                        )
                    else:
                        ids, vectors = np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
                    withdrawn = set(session.scalars(select(Paper.id).where(Paper.withdrawn.is_(True))))
                    if withdrawn and len(ids):
                        keep = ~np.isin(ids, np.fromiter(withdrawn, dtype=np.int64))
                        ids, vectors = ids[keep], vectors[keep]
                    published: dict[int, Any] = {}
                    authors: dict[int, list[str]] = {}
                    for paper_id, when, names in session.execute(
                        select(Paper.id, Paper.published_at, Paper.authors).where(
                            Paper.id.in_(select(PaperVector.paper_id).where(PaperVector.model == self.model))
                        )
                    ):
                        published[paper_id] = when
                        authors[paper_id] = [n for n in names or () if isinstance(n, str)]
                    self.authors = AuthorIndex([authors.get(int(i), ()) for i in ids])
                    self.published = np.array(
                        [
                            np.datetime64(published.get(int(i)).replace(tzinfo=None), "s")
                            if published.get(int(i))
                            else np.datetime64("NaT")
                            for i in ids
                        ],
                        dtype="datetime64[s]",
                    )
                    self.ids, self.vectors = ids, vectors
                    self._row = {int(i): r for r, i in enumerate(ids)}
                    self._derived = {}
                    self._newest = newest
                    self._terms_version = None
                version = terms_version(session)
                if version != self._terms_version:
                    self._load_terms(session, version)
            self._checked = now
        return self

    def _load_terms(self, session: Session, version: tuple[int | None, int]) -> None:
        """The term features of the pool's papers, row for row (zero rows for those without)."""
        lexicon_id, _ = version
        self._derived = {k: v for k, v in self._derived.items() if k[0] != "terms"}
        if lexicon_id is None or not len(self.ids):
            self.terms, self.lexicon, self._terms_version = None, None, version
            return
        if self.lexicon is None or self._terms_version is None or self._terms_version[0] != lexicon_id:
            row = current_lexicon(session)
            if row is None or row[0] != lexicon_id:
                return  # refitted meanwhile: the next check loads the new one
            self.lexicon = Lexicon.from_json(row[1])
        if not len(self.lexicon):  # too few papers for any term to qualify
            self.terms, self._terms_version = None, version
            return
        ids = np.zeros((len(self.ids), WIDTH), dtype=np.uint16)
        weights = np.zeros((len(self.ids), WIDTH), dtype=np.float32)
        for chunk, blobs in iter_terms(session, lexicon_id):
            at = np.searchsorted(self.ids, chunk)
            for r, paper_id, blob in zip(at.tolist(), chunk.tolist(), blobs):
                if r < len(self.ids) and self.ids[r] == paper_id:
                    term_ids, term_weights = unpack(blob)
                    n = min(len(term_ids), WIDTH)
                    ids[r, :n] = term_ids[:n]
                    weights[r, :n] = term_weights[:n]
        self.terms = TermMatrix(ids, weights, len(self.lexicon))
        self._terms_version = version

    def background(self, size: int, seed: int = 0) -> np.ndarray:
        """A fixed random sample of ``size`` pool vectors: the "everything else" a reader's classifier
        learns against (drawn from the whole pool, not from the few candidates of a digest edition)."""
        key = ("background", size, seed)
        if key not in self._derived:
            self._derived[key] = self.vectors[self._background_rows(size, seed)]
        return self._derived[key]

    def _background_rows(self, size: int, seed: int) -> np.ndarray:
        return rec_model.sample_background(len(self.ids), min(size, len(self.ids)), seed)

    def background_terms(self, size: int, seed: int = 0) -> TermMatrix | None:
        """The term features of :meth:`background`'s papers."""
        if self.terms is None:
            return None
        key = ("terms", "background", size, seed)
        if key not in self._derived:
            self._derived[key] = self.terms[self._background_rows(size, seed)]
        return self._derived[key]

    def window_terms(self, days: int) -> TermMatrix | None:
        """The term features of :meth:`window_matrix`'s papers, kept like it."""
        if self.terms is None:
            return None
        key = ("terms", "window", days)
        if key not in self._derived:
            rows, _ = self.window_matrix(days)
            self._derived[key] = self.terms if len(rows) == len(self.ids) else self.terms[rows]
        return self._derived[key]

    def row_numbers(self, paper_ids: list[int]) -> np.ndarray:
        """The pool rows of those of ``paper_ids`` that have a vector, in their order."""
        return np.array([self._row[p] for p in paper_ids if p in self._row], dtype=np.int64)

    def rows(self, paper_ids: list[int]) -> tuple[list[int], np.ndarray]:
        """(the ids that have a vector, their vectors)."""
        found = [(p, self._row[p]) for p in paper_ids if p in self._row]
        if not found:
            return [], np.zeros((0, self.vectors.shape[1] if self.vectors.ndim == 2 else 0), dtype=np.float32)
        return [p for p, _ in found], self.vectors[[r for _, r in found]]

    def window_matrix(self, days: int) -> tuple[np.ndarray, np.ndarray]:
        """(row numbers, their vectors) of :meth:`window`, kept until the pool reloads: copying 100k
        vectors costs as much as ranking them."""
        key = ("window", days)
        if key not in self._derived:
            rows = self.window(days)
            matrix = self.vectors if len(rows) == len(self.ids) else np.ascontiguousarray(self.vectors[rows])
            self._derived[key] = (rows, matrix)
        return self._derived[key]

    def window(self, days: int) -> np.ndarray:
        """Row numbers of the papers published within ``days`` of the newest one (all when 0)."""
        if not days or not len(self.ids):
            return np.arange(len(self.ids))
        newest = (
            self.published[~np.isnat(self.published)].max() if (~np.isnat(self.published)).any() else None
        )
        if newest is None:
            return np.arange(len(self.ids))
        keep = self.published >= newest - np.timedelta64(days, "D")
        return np.flatnonzero(keep)


@dataclass(frozen=True, slots=True)
class Pick:
    """One recommended paper: its score and the liked paper it is closest to, with why it was liked."""

    paper_id: int
    score: float
    because_id: int | None  # the liked paper it is closest to
    because_why: str  # "upvoted", "saved", "picked", or the interest it came from
    similarity: float
    words: tuple[str, ...] = ()  # the terms that raised its score most (when term features are in)
    coauthors: tuple[str, ...] = ()  # its authors who are on papers the reader liked


def recommend_for(
    db: Database,
    pool: CandidatePool,
    user_id: int,
    *,
    limit: int = 20,
    window_days: int = 0,
    only: list[int] | None = None,
    method: str | None = None,
    lexical_weight: float = rec_model.LEXICAL_WEIGHT,
    coauthor_weight: float = rec_model.COAUTHOR_WEIGHT,
) -> list[Pick]:
    """The reader's best ``limit`` papers: among ``only`` (paper ids, e.g. an edition's papers) or the
    whole pool (within ``window_days``), leaving out what they have seen, voted or dismissed."""
    with db.session() as session:
        profile = read_profile(session, user_id)
    return recommend_profile(
        pool,
        profile,
        limit=limit,
        window_days=window_days,
        only=only,
        method=method,
        lexical_weight=lexical_weight,
        coauthor_weight=coauthor_weight,
    )


def recommend_profile(
    pool: CandidatePool,
    profile: Profile,
    *,
    limit: int = 20,
    window_days: int = 0,
    only: list[int] | None = None,
    method: str | None = None,
    n_background: int = rec_model.N_BACKGROUND,
    lexical_weight: float = rec_model.LEXICAL_WEIGHT,
    coauthor_weight: float = rec_model.COAUTHOR_WEIGHT,
    candidate_authors: dict[int, Any] | None = None,
) -> list[Pick]:
    """The best ``limit`` papers of ``pool`` for ``profile`` (:func:`recommend_for`); none when no
    liked paper has a vector in the pool."""
    pool.refresh()
    if profile.empty or not len(pool.ids):
        return []
    pos_ids, positives = pool.rows(list(profile.positives))
    if not pos_ids:
        return []
    weights = np.array([profile.positives[p][0] for p in pos_ids], dtype=np.float32)
    _, negatives = pool.rows(profile.negatives)
    candidate_terms = None
    if only is not None:
        rows = np.array(
            [pool._row[p] for p in only if p in pool._row and p not in profile.excluded], dtype=np.int64
        )
        candidates = pool.vectors[rows]
        if pool.terms is not None:
            candidate_terms = pool.terms[rows]
    else:
        rows, candidates = pool.window_matrix(window_days)
        candidate_terms = pool.window_terms(window_days)
    if not len(rows):
        return []
    # among ``only`` the excluded papers are out already; in the pool they are still there to skip
    k = min(len(rows), limit + (0 if only is not None else len(profile.excluded)))
    options: dict[str, Any] = {}
    trained = (method or rec_model.DEFAULT_METHOD) != "similarity"
    if trained:
        options["background"] = pool.background(n_background)
    if pool.terms is not None and candidate_terms is not None and lexical_weight > 0:
        options["terms"] = rec_model.Terms(
            positives=pool.terms[pool.row_numbers(pos_ids)],
            candidates=candidate_terms,
            background=pool.background_terms(n_background),
            negatives=pool.terms[pool.row_numbers(profile.negatives)] if profile.negatives else None,
            lexicon=pool.lexicon,
        )
    liked_authors: dict[int, float] = {}
    coauthor_scores = None
    if pool.authors is not None and coauthor_weight > 0:
        known = profile.liked_authors
        if known is None:
            with pool.db.session() as session:
                rows_ = session.execute(select(Paper.id, Paper.authors).where(Paper.id.in_(pos_ids))).all()
            known = {p: [n for n in names or () if isinstance(n, str)] for p, names in rows_}
        liked_authors = liked_counts([known.get(p, []) for p in pos_ids], weights, exclude=profile.names)
        if liked_authors:
            coauthor_scores = pool.authors.scores(liked_authors)
            options["coauthors"] = coauthor_scores[rows]
    result = rec_model.recommend(
        positives,
        candidates,
        negatives=negatives if len(negatives) else None,
        positive_weights=weights,
        k=k,
        method=method,
        lexical_weight=lexical_weight,
        coauthor_weight=coauthor_weight,
        **options,
    )
    picks: list[Pick] = []
    for r, top in enumerate(result.top):
        paper_id = int(pool.ids[rows[int(top)]])
        if paper_id in profile.excluded:
            continue
        because = pos_ids[int(result.nearest_positive[r])]
        picks.append(
            Pick(
                paper_id,
                float(result.top_scores[r]),
                because,
                profile.positives[because][1],
                float(result.nearest_similarity[r]),
                tuple(result.words[r]) if result.words is not None else (),
            )
        )
        if len(picks) >= limit:
            break
    if coauthor_scores is not None:  # only picks by a co-author need their names read
        by_coauthor = [p for p in picks if coauthor_scores[pool._row[p.paper_id]] > 0]
    else:
        by_coauthor = []
    if liked_authors and by_coauthor:
        names = candidate_authors
        if names is None:
            with pool.db.session() as session:
                names = dict(
                    session.execute(
                        select(Paper.id, Paper.authors).where(Paper.id.in_([p.paper_id for p in by_coauthor]))
                    ).all()
                )
        picks = [
            replace(
                p,
                coauthors=tuple(
                    shared_authors(
                        [n for n in names.get(p.paper_id) or () if isinstance(n, str)], liked_authors
                    )[:2]
                ),
            )
            if p in by_coauthor
            else p
            for p in picks
        ]
    return picks


def reason_text(pick: Pick, titles: dict[int, str]) -> str:
    """Why a paper was picked, in words: close to a paper the reader upvoted, saved or picked, or
    from one of their interests."""
    title = titles.get(pick.because_id or -1, "")
    if pick.because_why in ("upvoted", "saved", "picked"):
        verb = {"upvoted": "you upvoted", "saved": "you saved", "picked": "you picked"}[pick.because_why]
        reason = f"close to “{title}”, which {verb}"
    else:
        reason = f"close to “{title}”, from your interest in {pick.because_why}"
    if pick.coauthors:
        reason += "; by " + " and ".join(pick.coauthors) + ", on papers you liked"
    if pick.words:
        reason += "; shares the words " + ", ".join(f"“{w}”" for w in pick.words)
    return reason


def read_profiles(session: Session, user_ids: list[int]) -> dict[int, Profile]:
    """The profiles of many readers, with a few queries per 500 of them; likes oldest first (the model
    keeps the latest when it caps them)."""
    profiles: dict[int, Profile] = {}
    seeds: dict[tuple[str, str], list[int]] = {}
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        positives: dict[int, dict[int, tuple[float, str]]] = {u: {} for u in chunk}
        for user_id, paper_id in session.execute(
            select(Vote.user_id, Vote.paper_id).where(Vote.user_id.in_(chunk)).order_by(Vote.created_at)
        ):
            positives[user_id][paper_id] = (1.0, "upvoted")
        for user_id, paper_id in session.execute(
            select(Collection.user_id, CollectionItem.paper_id)
            .join(Collection, Collection.id == CollectionItem.collection_id)
            .where(Collection.user_id.in_(chunk))
        ):
            positives[user_id].setdefault(paper_id, (1.0, "saved"))
        marks: dict[int, list[tuple[int, str]]] = {u: [] for u in chunk}
        for user_id, paper_id, kind in session.execute(
            select(PaperMark.user_id, PaperMark.paper_id, PaperMark.kind).where(PaperMark.user_id.in_(chunk))
        ):
            marks[user_id].append((paper_id, kind))
        own_names = {
            u: (display, username)
            for u, display, username in session.execute(
                select(User.id, User.display_name, User.username).where(User.id.in_(chunk))
            )
        }
        interests: dict[int, list[tuple[str, str]]] = {u: [] for u in chunk}
        for user_id, kind, value in session.execute(
            select(UserInterest.user_id, UserInterest.kind, UserInterest.value).where(
                UserInterest.user_id.in_(chunk)
            )
        ):
            interests[user_id].append((kind, value))
        for user_id in chunk:
            pos = positives[user_id]
            negatives = [p for p, kind in marks[user_id] if kind == "not_interested"]
            excluded = set(pos) | {p for p, _ in marks[user_id]}
            for kind, value in interests[user_id]:
                if kind == "paper":
                    paper_id = session.scalar(select(Paper.id).where(Paper.arxiv_id == value))
                    if paper_id is not None:
                        pos.setdefault(paper_id, (1.0, "picked"))
                        excluded.add(paper_id)
                    continue
                if (kind, value) not in seeds:
                    seeds[(kind, value)] = seed_papers(session, kind, value)
                for paper_id in seeds[(kind, value)]:
                    pos.setdefault(paper_id, (SEED_WEIGHT, value))
            for paper_id in negatives:
                pos.pop(paper_id, None)
            profiles[user_id] = Profile(pos, negatives, excluded, own_names.get(user_id, ()))
    # the authors of every liked paper, for the co-author feature: a few queries for all these readers
    wanted = sorted({p for profile in profiles.values() for p in profile.positives})
    authors: dict[int, list[str]] = {}
    for start in range(0, len(wanted), 5000):
        for paper_id, names in session.execute(
            select(Paper.id, Paper.authors).where(Paper.id.in_(wanted[start : start + 5000]))
        ):
            authors[paper_id] = [n for n in names or () if isinstance(n, str)]
    return {
        user_id: replace(profile, liked_authors={p: authors.get(p, []) for p in profile.positives})
        for user_id, profile in profiles.items()
    }


# Digests rank for every reader in one run: the similarity method needs no training (~0.1 ms a reader
# against ~5-8 ms for the blend's classifier with 500 background papers). bench/recommend.py: nDCG@20
# 0.259 (similarity) against 0.283 (blend) and 0.244 (the logistic-regression bar); bench/digest.py:
# 10,000 readers in 35.9 s with it against 83.5 s with the blend (same version). The "For you" page
# uses the blend.
DIGEST_METHOD = "similarity"
DIGEST_BACKGROUND = 500


def digest_picks(
    db: Database,
    pool: CandidatePool,
    *,
    limit: int = 5,
    method: str | None = DIGEST_METHOD,
    n_background: int = DIGEST_BACKGROUND,
    lexical_weight: float = rec_model.LEXICAL_WEIGHT,
    coauthor_weight: float = rec_model.COAUTHOR_WEIGHT,
) -> Any:
    """The ``personal`` function of :class:`~dailypapers.digest.compose.Composer`: each reader's best
    papers among an edition's candidates, with the reason in words (``DIGEST_METHOD``)."""

    def personal(user_ids: list[int], candidate_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
        with db.session() as session:
            profiles = read_profiles(session, user_ids)
            # the edition's authors once, for the co-author reasons (not a query per reader)
            authors = dict(
                session.execute(select(Paper.id, Paper.authors).where(Paper.id.in_(candidate_ids))).all()
            )
            picks = {
                u: recommend_profile(
                    pool,
                    p,
                    limit=limit,
                    only=candidate_ids,
                    method=method,
                    n_background=n_background,
                    candidate_authors=authors,
                    lexical_weight=lexical_weight,
                    coauthor_weight=coauthor_weight,
                )
                for u, p in profiles.items()
            }
            wanted = {p.because_id for ps in picks.values() for p in ps if p.because_id is not None}
            titles = (
                dict(session.execute(select(Paper.id, Paper.title).where(Paper.id.in_(wanted))).all())
                if wanted
                else {}
            )
        return {u: [(p.paper_id, reason_text(p, titles)) for p in ps] for u, ps in picks.items()}

    return personal
