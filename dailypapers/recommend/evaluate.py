"""Recommendation quality on anyone's data: nDCG@20 and hit rate@20 of the shipped recommender.

A folder holds ``corpus.jsonl`` (one paper a line: ``_id``, ``title``, ``text``, ``date`` YYYY-MM-DD,
optional ``authors`` and ``categories``, lists of strings) and ``readers.jsonl`` (one reader a line:
``reader``, ``likes``, optional ``dislikes``, ``targets``, ``since`` YYYY-MM-DD, ``name``; each list
holds corpus ``_id``s). The corpus goes into a database of its own through the ordinary importer and is
embedded by the path of ``dailypapers index`` (:func:`dailypapers.search.evaluate.index_corpus`, vectors
cached as for ``eval beir``; then the term features, :func:`dailypapers.recommend.terms.update_terms`).
Each reader becomes an account (named ``name`` when given: the recommender never counts a reader's own
name as a co-author) whose likes are upvotes and whose dislikes are "not interested" marks, and is
recommended to by :func:`dailypapers.recommend.service.recommend_for`, what "For you" runs, among the
corpus papers dated on or after their ``since``, less their likes and dislikes.
Relevance is binary (a target is relevant); nDCG@20 as in ``eval beir`` (BEIR's definition), hit
rate@20 whether any target is in the top 20. A line that cannot be read is reported by number and left
out; it never stops the evaluation.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from dailypapers.recommend.service import CandidatePool, recommend_for
from dailypapers.recommend.terms import update_terms
from dailypapers.search.embed import EmbeddingBackend
from dailypapers.search.evaluate import DEFAULT_CACHE, index_corpus, ndcg_at_k
from dailypapers.store.models import Paper, PaperMark, User, Vote

K = 20
MAX_LINE = 1_000_000  # bytes of one JSON line
MAX_LIST = 10_000  # ids in one reader's list


class RecordError(ValueError):
    """One line of an input file that cannot be used."""


@dataclass(frozen=True, slots=True)
class CorpusPaper:
    """One line of ``corpus.jsonl``."""

    doc_id: str
    title: str
    text: str
    day: date
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reader:
    """One line of ``readers.jsonl``, its ids those found in the corpus."""

    name: str
    likes: tuple[str, ...]
    dislikes: tuple[str, ...]
    targets: tuple[str, ...]
    since: date
    full_name: str = ""  # the reader's own name ("name"), never counted as a co-author


@dataclass
class RecommendResult:
    """Means over the readers evaluated, with what was left out and why."""

    ndcg: float
    hit_rate: float
    readers: int
    docs: int
    problems: list[str] = field(default_factory=list)  # "readers.jsonl line 3: …"
    per_reader: dict[str, float] = field(default_factory=dict)  # reader -> nDCG@20
    rankings: dict[str, list[str]] = field(default_factory=dict)  # reader -> the ids recommended, best first

    def as_dict(self) -> dict[str, Any]:
        return {
            "ndcg@20": round(self.ndcg, 4),
            "hr@20": round(self.hit_rate, 4),
            "readers": self.readers,
            "docs": self.docs,
            "problems": self.problems,
        }


def _strings(value: Any, what: str, *, required: bool = False) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RecordError(f"{what} must be a list of non-empty strings")
    if len(value) > MAX_LIST:
        raise RecordError(f"{what} holds {len(value):,} entries, at most {MAX_LIST:,}")
    return tuple(value)


def _day(value: Any, what: str) -> date:
    if not isinstance(value, str):
        raise RecordError(f"{what} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{what} must be a date YYYY-MM-DD, got {value[:40]!r}") from None


def _lines(path: Path, problems: list[str]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{path.name} line {number}"
            if len(raw) > MAX_LINE:
                problems.append(f"{where}: longer than {MAX_LINE:,} bytes")
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                problems.append(f"{where}: not JSON ({exc})")
                continue
            if not isinstance(record, dict):
                problems.append(f"{where}: not a JSON object")
                continue
            out.append((number, record))
    return out


def read_corpus(path: Path, problems: list[str]) -> dict[str, CorpusPaper]:
    """The papers of ``corpus.jsonl`` by ``_id``; each unusable line is a line in ``problems``."""
    papers: dict[str, CorpusPaper] = {}
    for number, r in _lines(path, problems):
        try:
            doc_id = r.get("_id")
            if not isinstance(doc_id, str) or not doc_id.strip() or len(doc_id) > 64:
                raise RecordError("_id must be a non-empty string of at most 64 characters")
            if doc_id in papers:
                raise RecordError(f"_id {doc_id!r} again")
            title, body = r.get("title", ""), r.get("text", "")
            if not isinstance(title, str) or not isinstance(body, str) or not (title + body).strip():
                raise RecordError("title and text must be strings, not both empty")
            papers[doc_id] = CorpusPaper(
                doc_id,
                title,
                body,
                _day(r.get("date"), "date"),
                _strings(r.get("authors"), "authors"),
                _strings(r.get("categories"), "categories"),
            )
        except RecordError as exc:
            problems.append(f"{path.name} line {number}: {exc}")
    return papers


def read_readers(path: Path, corpus: dict[str, CorpusPaper], problems: list[str]) -> list[Reader]:
    """The readers of ``readers.jsonl`` who can be evaluated: a like and a target in the corpus, and a
    ``since``; unknown ids are left out of their lists, each unusable reader is a line in ``problems``."""
    readers: list[Reader] = []
    seen: set[str] = set()
    for number, r in _lines(path, problems):
        where = f"{path.name} line {number}"
        try:
            name = r.get("reader")
            if isinstance(name, int) and not isinstance(name, bool):
                name = str(name)
            if not isinstance(name, str) or not name.strip():
                raise RecordError("reader must be a non-empty string")
            if name in seen:
                raise RecordError(f"reader {name!r} again")
            lists = {
                k: _strings(r.get(k), k, required=k in ("likes", "targets"))
                for k in ("likes", "dislikes", "targets")
            }
            known = {k: tuple(dict.fromkeys(i for i in v if i in corpus)) for k, v in lists.items()}
            unknown = sum(len(lists[k]) - len(known[k]) for k in lists)
            if not known["likes"]:
                raise RecordError(f"reader {name!r}: no like is in the corpus")
            targets = tuple(t for t in known["targets"] if t not in known["likes"])
            if not targets:
                raise RecordError(f"reader {name!r}: no target is in the corpus")
            since = _day(r.get("since"), "since")
            if unknown:
                problems.append(f"{where}: reader {name!r}: {unknown} ids not in the corpus, left out")
            full_name = r.get("name") or ""
            if not isinstance(full_name, str) or len(full_name) > 100:
                raise RecordError(f"reader {name!r}: name must be text of at most 100 characters")
            seen.add(name)
            readers.append(Reader(name, known["likes"], known["dislikes"], targets, since, full_name.strip()))
        except RecordError as exc:
            problems.append(f"{where}: {exc}")
    return readers


def evaluate_recommend(
    folder: str | Path,
    *,
    backend: EmbeddingBackend | None = None,
    database_url: str | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    on_progress: Callable[[int], None] | None = None,
    method: str | None = None,
    weights: dict[str, float] | None = None,
) -> RecommendResult:
    """nDCG@20 and hit rate@20 of the shipped recommender on ``folder`` (see the module); ``weights``
    (``lexical_weight``, ``coauthor_weight``) replace the model's, to measure what each part brings."""
    folder = Path(folder)
    problems: list[str] = []
    for name in ("corpus.jsonl", "readers.jsonl"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} has no {name}")
    corpus = read_corpus(folder / "corpus.jsonl", problems)
    readers = read_readers(folder / "readers.jsonl", corpus, problems)
    if not corpus:
        raise ValueError(f"{folder / 'corpus.jsonl'}: no paper could be read")
    if backend is None:
        from dailypapers.search.embed import get_backend

        backend = get_backend("minilm")
    indexed = index_corpus(
        {d: (p.title, p.text) for d, p in corpus.items()},
        backend,
        database_url=database_url,
        cache_dir=cache_dir,
        on_progress=on_progress,
    )
    try:
        db, id_of = indexed.db, indexed.id_of_doc
        with db.transaction() as session:  # one statement, executed per row by primary key
            session.execute(
                update(Paper),
                [
                    {
                        "id": id_of[doc_id],
                        "published_at": datetime(paper.day.year, paper.day.month, paper.day.day, tzinfo=UTC),
                        "authors": list(paper.authors),
                        "categories": list(paper.categories),
                        "primary_category": paper.categories[0] if paper.categories else None,
                    }
                    for doc_id, paper in corpus.items()
                ],
            )
        users: dict[str, int] = {}
        with db.transaction() as session:
            taken: set[str] = set()
            for n, reader in enumerate(readers):
                # "!" is no argon2 hash: no password opens these accounts of a scratch database
                locked = "!"  # noqa: S105 # nosec B105 # not a password
                # the reader's id as the username where it can be one: an account's own names (display
                # name and username) never count as co-authors
                username = re.sub(r"[^a-z0-9_-]", "", reader.name.lower())[:40]
                suffix = n
                while not username or username in taken:
                    username, suffix = f"reader-{suffix}", suffix + len(readers)
                taken.add(username)
                user = User(
                    username=username,
                    display_name=(reader.full_name or reader.name)[:100],
                    password_hash=locked,
                )
                session.add(user)
                session.flush()
                users[reader.name] = user.id
                # likes in the order given: the model keeps the latest when it caps them
                for i, doc_id in enumerate(reader.likes):
                    session.add(
                        Vote(
                            user_id=user.id,
                            paper_id=id_of[doc_id],
                            created_at=datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
                        )
                    )
                for doc_id in reader.dislikes:
                    session.add(PaperMark(user_id=user.id, paper_id=id_of[doc_id], kind="not_interested"))
        update_terms(db)  # what `dailypapers index` does after the vectors
        pool = CandidatePool(db, backend.name, refresh_every=1e9)
        ndcgs: dict[str, float] = {}
        rankings: dict[str, list[str]] = {}
        hits: list[float] = []
        for reader in readers:
            candidates = [id_of[d] for d, p in corpus.items() if p.day >= reader.since]
            picks = recommend_for(
                db, pool, users[reader.name], limit=K, only=candidates, method=method, **(weights or {})
            )
            ranking = rankings[reader.name] = [indexed.doc_of_id[p.paper_id] for p in picks]
            relevant = {t: 1.0 for t in reader.targets}
            ndcgs[reader.name] = ndcg_at_k(ranking, relevant, K)
            hits.append(1.0 if any(d in relevant for d in ranking[:K]) else 0.0)
        return RecommendResult(
            ndcg=statistics.fmean(ndcgs.values()) if ndcgs else 0.0,
            hit_rate=statistics.fmean(hits) if hits else 0.0,
            readers=len(ndcgs),
            docs=len(corpus),
            problems=problems,
            per_reader=ndcgs,
            rankings=rankings,
        )
    finally:
        indexed.close()
