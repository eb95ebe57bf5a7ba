"""Hugging Face paper pages: ``GET /api/papers/{id}`` and ``GET /api/arxiv/{id}/repos`` → records.

A paper's answer carries, besides the paper, the models, datasets and Spaces whose cards cite it
(``linkedModels``, ``linkedDatasets``, ``linkedSpaces``) and their totals (``numTotalModels``, …); the
repos answer lists all three kinds whole (``{"models": [...], "datasets": [...], "spaces": [...]}``).
Both are read from saved responses (one JSON object per file, a list of them, or JSON lines) and fetched
live, politely, from Hugging Face or another dailypapers instance.

Everything in them is checked here, item by item: a repository id must look like one
(``namespace/name``, the characters the Hub allows); counts are non-negative integers; texts are
shortened and stripped of control characters; a private or malformed item is left out and the rest kept.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dailypapers.ingest import hf_daily
from dailypapers.ingest.http import FetchError, PoliteClient
from dailypapers.ingest.records import (
    Checkpoint,
    LinkedRepo,
    LinkedRepos,
    PaperRecord,
    Record,
    Rejected,
    canonical_arxiv_id,
    parse_datetime,
)

KINDS = ("model", "dataset", "space")
# the keys of each kind in a paper's answer, and in the repos answer
PAPER_KEYS = {"model": "linkedModels", "dataset": "linkedDatasets", "space": "linkedSpaces"}
TOTAL_KEYS = {"model": "numTotalModels", "dataset": "numTotalDatasets", "space": "numTotalSpaces"}
REPOS_KEYS = {"model": "models", "dataset": "datasets", "space": "spaces"}
MAX_PER_KIND = 100  # kept per paper and kind (the most liked first when a source lists more)
MAX_COUNT = 10**12

# the Hub's repository names: letters, digits, "-", "_", "."; no "--" or ".." ; at most 96 characters
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"{_NAME}/{_NAME}", re.ASCII)
_TAG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def repo_id(value: Any) -> str | None:
    """``value`` when it is a valid Hugging Face repository id (``namespace/name``), else None."""
    if not isinstance(value, str) or not _REPO_ID.fullmatch(value):
        return None
    if "--" in value or ".." in value:
        return None
    return value


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(number, MAX_COUNT) if number >= 0 else None


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text[:limit] or None


def parse_repo(kind: str, raw: Any) -> LinkedRepo | None:
    """One item of a ``linked*`` list → record, or None for one that is private or not well formed."""
    if not isinstance(raw, dict) or raw.get("private") is True:
        return None
    rid = repo_id(raw.get("id"))
    if rid is None:
        return None
    try:
        modified = (
            parse_datetime(raw.get("lastModified")) if isinstance(raw.get("lastModified"), str) else None
        )
    except ValueError:
        modified = None
    tag = raw.get("pipeline_tag")
    gated = raw.get("gated")
    emoji = raw.get("emoji")
    return LinkedRepo(
        kind=kind,
        repo_id=rid,
        likes=_count(raw.get("likes")) or 0,
        downloads=_count(raw.get("downloads")) if kind != "space" else None,
        last_modified=modified,
        pipeline_tag=tag if kind == "model" and isinstance(tag, str) and _TAG.fullmatch(tag) else None,
        num_parameters=_count(raw.get("numParameters")) if kind == "model" else None,
        gated=gated if gated in ("auto", "manual") and kind != "space" else None,
        title=_text(raw.get("title") or raw.get("shortDescription"), 200) if kind == "space" else None,
        emoji=_text(emoji, 8) if kind == "space" and isinstance(emoji, str) and len(emoji) <= 8 else None,
    )


def _repos(kind: str, items: Any) -> list[LinkedRepo]:
    kept: dict[str, LinkedRepo] = {}
    for raw in items if isinstance(items, list) else ():
        repo = parse_repo(kind, raw)
        if repo is not None and repo.repo_id not in kept:
            kept[repo.repo_id] = repo
    repos = list(kept.values())
    if len(repos) > MAX_PER_KIND:
        repos = sorted(repos, key=lambda r: -r.likes)[:MAX_PER_KIND]
    return repos


def linked_of_paper(doc: dict[str, Any]) -> LinkedRepos | None:
    """The linked repositories of a paper's answer; None when it says nothing of them."""
    if not any(key in doc for key in (*PAPER_KEYS.values(), *TOTAL_KEYS.values())):
        return None
    repos: list[LinkedRepo] = []
    totals: dict[str, int] = {}
    for kind in KINDS:
        listed = _repos(kind, doc.get(PAPER_KEYS[kind]))
        repos += listed
        totals[kind] = max(_count(doc.get(TOTAL_KEYS[kind])) or 0, len(listed))
    return LinkedRepos(repos=repos, totals=totals)


def linked_of_repos(doc: Any) -> LinkedRepos:
    """The answer of ``GET /api/arxiv/{id}/repos`` → record (its lists are whole: totals are counts).
    Raises ``ValueError`` when it is not an object."""
    if not isinstance(doc, dict):
        raise ValueError(f"expected an object with models, datasets and spaces, not a {type(doc).__name__}")
    repos: list[LinkedRepo] = []
    totals: dict[str, int] = {}
    for kind in KINDS:
        items = doc.get(REPOS_KEYS[kind])
        listed = _repos(kind, items)
        repos += listed
        totals[kind] = max(len(items) if isinstance(items, list) else 0, len(listed))
    return LinkedRepos(repos=repos, totals=totals)


def parse_paper(raw: Any, *, source: str = "hf") -> PaperRecord:
    """A saved ``GET /api/papers/{id}`` answer → record with its linked repositories. Raises
    ``ValueError`` if it is not a paper."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected a paper object, not a {type(raw).__name__}")
    doc = raw["paper"] if isinstance(raw.get("paper"), dict) else raw  # a daily entry works too
    record = hf_daily.paper_record(doc, raw if doc is not raw else None, source=source)
    record.linked = linked_of_paper(doc)
    return record


def parse_papers(docs: Iterable[Any], where: str, source: str = "hf") -> Iterator[Record]:
    """Records of paper answers; a broken one becomes :class:`Rejected` naming ``where`` and its place."""
    for i, raw in enumerate(docs):
        try:
            yield parse_paper(raw, source=source)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            yield Rejected(position=f"{where} paper {i}", reason=f"{exc.__class__.__name__}: {exc}")


def iter_file(path: Path, *, source: str = "hf") -> Iterator[Record]:
    """Records of one saved answer (``.json``: one paper object or a list of them) or JSON-lines file
    (``.jsonl``/``.ndjson``, a paper per line), gzipped or not; a broken one is :class:`Rejected`."""
    return hf_daily.read_saved(
        path,
        lambda doc: doc if isinstance(doc, list) else [doc],
        lambda docs, where: parse_papers(docs, where, source),
    )


def iter_path(path: Path, *, source: str = "hf") -> Iterator[Record]:
    """Records of every saved answer under ``path`` (itself if it is a file)."""
    for file in hf_daily.list_files(path):
        yield from iter_file(file, source=source)


def _short(linked: LinkedRepos) -> bool:
    """Does ``linked`` list fewer repositories of some kind than its totals (up to what is kept)?"""
    return any(
        min(linked.totals.get(k, 0), MAX_PER_KIND) > sum(1 for r in linked.repos if r.kind == k)
        for k in KINDS
    )


def complete_linked(client: PoliteClient, base_url: str, arxiv_id: str, linked: LinkedRepos) -> LinkedRepos:
    """``linked`` from a paper's answer, made whole with ``GET /api/arxiv/{id}/repos`` when it lists
    fewer than its totals (a site may list only the first of many)."""
    if not _short(linked):
        return linked
    response = client.get(f"{base_url.rstrip('/')}/api/arxiv/{arxiv_id}/repos")
    if response.status_code == 404:
        return linked
    try:
        full = linked_of_repos(hf_daily._loads(response.content))
    except ValueError as exc:
        raise FetchError(f"{response.request.url}: not a repos answer: {exc}") from exc
    full.totals = {k: max(full.totals.get(k, 0), linked.totals.get(k, 0)) for k in KINDS}
    return full


def fetch_linked(client: PoliteClient, base_url: str, arxiv_id: str) -> LinkedRepos | None:
    """What ``base_url`` says was built on one paper (``GET /api/papers/{id}``, made whole by
    :func:`complete_linked`). None when the site does not know the paper (404) or says nothing of it."""
    response = client.get(f"{base_url.rstrip('/')}/api/papers/{arxiv_id}")
    if response.status_code == 404:
        return None
    try:
        doc = hf_daily._loads(response.content)
    except ValueError as exc:
        raise FetchError(f"{response.request.url}: not a paper: {exc}") from exc
    linked = linked_of_paper(doc) if isinstance(doc, dict) else None
    return complete_linked(client, base_url, arxiv_id, linked) if linked is not None else None


def harvest_key(base_url: str, arxiv_ids: list[str]) -> str:
    """The checkpoint key of a harvest of these ids from ``base_url`` (the same list resumes)."""
    digest = hashlib.sha256("\n".join(arxiv_ids).encode()).hexdigest()[:16]
    return f"hf-papers:{base_url.rstrip('/')}:{digest}"


def harvest(
    client: PoliteClient,
    base_url: str,
    arxiv_ids: list[str],
    *,
    state: dict[str, Any] | None = None,
    source: str | None = None,
) -> Iterator[Record]:
    """Fetch ``GET {base_url}/api/papers/{id}`` (and the repos answer when needed) for each id, in
    order, as records with their linked repositories; a :class:`Checkpoint` after each, so a killed run
    resumes with the next id. An id the site does not know is skipped (404)."""
    base = base_url.rstrip("/")
    tag = source or ("hf" if "huggingface.co" in base else f"mirror:{base}")
    key = harvest_key(base_url, arxiv_ids)
    start = int(state.get("next", 0)) if state else 0
    for i in range(start, len(arxiv_ids)):
        arxiv_id, _ = canonical_arxiv_id(arxiv_ids[i])
        response = client.get(f"{base}/api/papers/{arxiv_id}")
        if response.status_code != 404:
            try:
                record = parse_paper(hf_daily._loads(response.content), source=tag)
            except (ValueError, TypeError, KeyError) as exc:
                yield Rejected(position=str(response.request.url), reason=f"{exc.__class__.__name__}: {exc}")
            else:
                if record.linked is not None:
                    record.linked = complete_linked(client, base, arxiv_id, record.linked)
                yield record
        yield Checkpoint(key=key, state={"next": i + 1}, done=i + 1 >= len(arxiv_ids))
