"""Hugging Face daily papers: raw ``GET /api/daily_papers`` responses → :class:`DailyEntryRecord`.

Reads saved responses (a folder of ``YYYY-MM-DD.json`` files, one file, or JSON lines) and fetches the
live API day by day (from huggingface.co or another dailypapers instance, which speaks the same API).

The real archive has defects an importer must survive, all handled here: a file that is a wrapper
object ``{status, date, count, data}``; entries stored as Python-repr strings (``{'paper': {...}}``)
instead of JSON objects; ``mediaUrl`` vs ``mediaUrls``; fields that exist only in later years
(``submittedOnDailyAt`` 2025-03, ``ai_summary`` 2025-05, ``githubStars`` 2025-06, ``organization`` 2025-10).

The list day is the date of ``paper.submittedOnDailyAt`` when present (Hugging Face stamps it on the
list day), else the date in the file's name. Hugging Face writes some avatars as paths on its own site
(``/avatars/….svg``); those become absolute ``https://huggingface.co/…`` links. Links are checked by the
importer (:func:`~dailypapers.ingest.records.drop_unsafe_links`), not here.
"""

from __future__ import annotations

import ast
import gzip
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency; this keeps the module importable
    import json

    _loads = json.loads

from dailypapers.ingest.http import FetchError, PoliteClient
from dailypapers.names import hf_handle
from dailypapers.ingest.records import (
    Checkpoint,
    DailyEntryRecord,
    Organization,
    PaperRecord,
    Record,
    Rejected,
    Submitter,
    canonical_arxiv_id,
    clean_abstract,
    clean_title,
    extract_code_url,
    parse_datetime,
)

_DAY_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
HF_SITE = "https://huggingface.co"


def _site_link(value: Any, source: str) -> Any:
    """A link of a Hugging Face record: a path on huggingface.co (``/avatars/x.svg``) made absolute."""
    if source == "hf" and isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return HF_SITE + value
    return value


def _as_entry(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        text = raw.strip()
        try:
            raw = _loads(text)
        except ValueError:
            raw = ast.literal_eval(text)  # Python-repr entries in the archive; literal_eval runs no code
    if not isinstance(raw, dict):
        raise ValueError(f"entry is a {type(raw).__name__}, not an object")
    if "paper" not in raw and "id" in raw:  # a bare paper object (e.g. from /api/papers/{id})
        raw = {"paper": raw}
    if not isinstance(raw.get("paper"), dict):
        raise ValueError("entry has no 'paper' object")
    return raw


def _organization(value: Any, source: str) -> Organization | None:
    if isinstance(value, dict) and value.get("name"):
        return Organization(
            name=str(value["name"]),
            fullname=value.get("fullname"),
            avatar_url=_site_link(value.get("avatar") or value.get("avatarUrl"), source),
        )
    return None


def _submitter(value: Any, source: str) -> Submitter | None:
    if isinstance(value, dict):
        name = value.get("user") or value.get("name")
        if name:
            return Submitter(
                name=str(name),
                fullname=value.get("fullname"),
                avatar_url=_site_link(value.get("avatarUrl"), source),
            )
    return None


def _author_users(authors: Any) -> dict[str, str]:
    """Author name -> the Hugging Face account that claimed it (``authors[].user.user``), for the names
    shown (not ``hidden``) whose handle is plausible (:func:`~dailypapers.names.hf_handle`)."""
    found: dict[str, str] = {}
    for a in authors if isinstance(authors, list) else ():
        if not isinstance(a, dict) or a.get("hidden") is True or not a.get("name"):
            continue
        user = a.get("user")
        handle = hf_handle(user.get("user")) if isinstance(user, dict) else None
        name = str(a["name"]).strip()
        if handle and name:
            found[name[:300]] = handle
    return found


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def paper_record(
    p: dict[str, Any], entry: dict[str, Any] | None = None, *, source: str = "hf"
) -> PaperRecord:
    """The paper object of a Hugging Face response (``paper`` of a daily entry, or the whole answer of
    ``GET /api/papers/{id}``) → record; ``entry`` (the daily entry around it) fills what the paper
    object lacks. Raises ``ValueError`` if it has no id or no title."""
    entry = entry or {}
    if not p.get("id"):
        raise ValueError("paper has no id")
    arxiv_id, version = canonical_arxiv_id(str(p["id"]))
    title = clean_title(p.get("title") or entry.get("title"))
    if not title:
        raise ValueError(f"paper {arxiv_id} has no title")
    abstract = clean_abstract(p.get("summary") or entry.get("summary"))
    authors = [
        str(a["name"]).strip() for a in p.get("authors") or [] if isinstance(a, dict) and a.get("name")
    ]
    keywords = p.get("ai_keywords") or []
    return PaperRecord(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=abstract,
        authors=authors,
        author_users=_author_users(p.get("authors")),
        published_at=parse_datetime(p.get("publishedAt")),
        code_url=p.get("githubRepo") or extract_code_url(abstract),
        project_page=p.get("projectPage") or None,
        github_stars=_int(p.get("githubStars")),
        ai_summary=p.get("ai_summary") or None,
        ai_keywords=[str(k) for k in keywords] if isinstance(keywords, list) else [],
        upvotes=_int(p.get("upvotes")),
        organization=_organization(p.get("organization") or entry.get("organization"), source),
    )


def parse_entry(raw: Any, file_day: date | None = None, *, source: str = "hf") -> DailyEntryRecord:
    """One daily-papers entry (object or Python-repr string) → record. Raises ``ValueError`` if broken."""
    entry = _as_entry(raw)
    p = entry["paper"]
    paper = paper_record(p, entry, source=source)
    submitted_at = parse_datetime(p.get("submittedOnDailyAt"))
    day = submitted_at.date() if submitted_at else file_day
    if day is None:
        raise ValueError(
            f"paper {paper.arxiv_id}: no list day (no submittedOnDailyAt and no date in the file name)"
        )
    media = p.get("mediaUrls") or entry.get("mediaUrls") or []
    if not media and entry.get("mediaUrl"):
        media = [entry["mediaUrl"]]
    if not isinstance(media, list):
        media = [media]
    return DailyEntryRecord(
        paper=paper,
        day=day,
        submitted_at=submitted_at,
        submitter=_submitter(p.get("submittedOnDailyBy") or entry.get("submittedBy"), source),
        upvotes=_int(p.get("upvotes")) or 0,
        num_comments=_int(entry.get("numComments")) or 0,
        thumbnail=entry.get("thumbnail") or None,
        media_urls=[str(m) for m in media if m],
        source=source,
    )


def parse_entries(
    entries: list[Any], file_day: date | None, where: str, *, source: str = "hf"
) -> Iterator[Record]:
    """Records for a list of raw entries; a broken one becomes :class:`Rejected` naming its position."""
    for i, raw in enumerate(entries):
        try:
            yield parse_entry(raw, file_day, source=source)
        except (ValueError, TypeError, KeyError, SyntaxError, MemoryError, RecursionError) as exc:
            yield Rejected(position=f"{where} entry {i}", reason=f"{exc.__class__.__name__}: {exc}")


def _unwrap(doc: Any) -> list[Any]:
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        return doc["data"]  # the wrapper-object form {status, date, count, data}
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "paper" in doc:
        return [doc]
    raise ValueError("expected a list of entries or an object with a 'data' list")


def file_day(path: Path) -> date | None:
    """The date a file's name holds (``2026-06-30.json``), or None without a valid one."""
    m = _DAY_NAME.search(path.name)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


def _open(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def read_saved(
    path: Path,
    split: Callable[[Any], list[Any]],
    parse: Callable[[list[Any], str], Iterator[Record]],
) -> Iterator[Record]:
    """Records of one saved response (``.json``) or JSON-lines file (``.jsonl``/``.ndjson``, a response
    per line), gzipped or not: each document ``split`` into its items, which ``parse`` turns into records
    given where they stand. A line that is not JSON (or ``split`` refuses) is :class:`Rejected` and the
    next read; a truncated ``.gz`` keeps what was read before the break."""
    if path.name.removesuffix(".gz").endswith((".jsonl", ".ndjson")):
        n = 0
        try:
            with _open(path) as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        items = split(_loads(line))
                    except ValueError as exc:
                        yield Rejected(position=f"{path}:{n}", reason=f"invalid JSON: {exc}")
                        continue
                    yield from parse(items, f"{path}:{n}")
        except (OSError, EOFError) as exc:  # a truncated or corrupt .gz: keep what was read
            yield Rejected(position=f"{path}:{n + 1}", reason=f"unreadable from here on: {exc}")
        return
    try:
        with _open(path) as fh:
            items = split(_loads(fh.read()))
    except (ValueError, OSError, EOFError) as exc:
        yield Rejected(position=str(path), reason=f"unreadable file: {exc}")
        return
    yield from parse(items, str(path))


def iter_file(path: Path, *, source: str = "hf") -> Iterator[Record]:
    """Records of one saved response (``.json``) or JSON-lines file (``.jsonl``/``.ndjson``), either
    of them gzipped or not."""
    day = file_day(path)
    return read_saved(path, _unwrap, lambda entries, where: parse_entries(entries, day, where, source=source))


def list_files(path: Path) -> list[Path]:
    """The response files under ``path`` (itself if it is a file), in date order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    return sorted(p for p in path.iterdir() if p.name.endswith(_SUFFIXES) and p.is_file())


def iter_path(path: Path, *, source: str = "hf") -> Iterator[Record]:
    """Records of every response file under ``path``."""
    for file in list_files(path):
        yield from iter_file(file, source=source)


def harvest_api(
    client: PoliteClient,
    base_url: str,
    since: date,
    until: date,
    *,
    state: dict[str, Any] | None = None,
    page_size: int = 100,
    source: str | None = None,
    linked: bool = False,
) -> Iterator[Record]:
    """Fetch ``GET {base_url}/api/daily_papers?date=D`` for each day from ``since`` to ``until``.

    With ``linked``, each paper's own answer too (``GET /api/papers/{id}``, see
    :func:`dailypapers.ingest.hf_papers.fetch_linked`): the models, datasets and Spaces built on it.

    Pages with ``p``/``limit`` until a short page. After each day yields a :class:`Checkpoint`
    (``state={"next_day": ...}``) so a killed run resumes with the next day; the last one has
    ``done=True``. A day the server does not know (404) is skipped. A server that ignores paging and
    answers the same page again stops the paging of that day.
    """
    base = base_url.rstrip("/")
    key = f"hf-daily:{base}:{since.isoformat()}:{until.isoformat()}"
    day = since
    if state and state.get("next_day"):
        day = max(since, date.fromisoformat(state["next_day"]))
    url = f"{base}/api/daily_papers"
    tag = source or ("hf" if "huggingface.co" in base else f"mirror:{base}")
    while day <= until:
        page, first_id = 0, None
        while True:
            response = client.get(url, params={"date": day.isoformat(), "limit": page_size, "p": page})
            if response.status_code == 404:
                break
            try:
                entries = _unwrap(_loads(response.content))
            except ValueError as exc:
                raise FetchError(f"{response.request.url}: not a daily-papers response: {exc}") from exc
            head = repr(entries[0])[:200] if entries else None
            if page and head == first_id:
                break
            first_id = first_id if page else head
            for rec in parse_entries(entries, day, f"{url}?date={day.isoformat()}&p={page}", source=tag):
                if linked and isinstance(rec, DailyEntryRecord):
                    from dailypapers.ingest.hf_papers import fetch_linked

                    rec.paper.linked = fetch_linked(client, base, rec.paper.arxiv_id)
                yield rec
            if len(entries) < page_size:
                break
            page += 1
        day += timedelta(days=1)
        yield Checkpoint(key=key, state={"next_day": day.isoformat()}, done=day > until)
