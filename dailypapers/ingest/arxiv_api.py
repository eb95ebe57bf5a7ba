"""The arXiv Atom API (``export.arxiv.org/api/query``) as a source of :class:`PaperRecord`.

:func:`build_search_query` writes arXiv ``search_query`` syntax, :func:`parse_feed` turns one Atom page
into records (pure), and :func:`harvest` walks a query page by page through a
:class:`~dailypapers.ingest.http.PoliteClient`, yielding a :class:`Checkpoint` after every page. arXiv asks
for at most one request every 3 seconds: that is the client's ``min_interval``, and :func:`harvest`
refuses a faster client when it talks to arxiv.org.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # nosec B405 # element types only; parsing goes through defusedxml
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from dailypapers.ingest.http import FetchError, PoliteClient
from dailypapers.ingest.records import (
    Checkpoint,
    InvalidArxivId,
    PaperRecord,
    Record,
    Rejected,
    canonical_arxiv_id,
    clean_abstract,
    clean_title,
    extract_code_url,
    parse_datetime,
)

__all__ = ["API_URL", "FeedPage", "build_search_query", "harvest", "parse_feed"]

API_URL = "https://export.arxiv.org/api/query"
ARXIV_MIN_INTERVAL = 3.0  # seconds between requests, arXiv's published rule
MAX_PAGE_SIZE = 2000  # arXiv's largest max_results per call

_ATOM = "{http://www.w3.org/2005/Atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
_ARXIV = "{http://arxiv.org/schemas/atom}"

_ERROR_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/errors", re.IGNORECASE)
_FIELDED = re.compile(r"\b(?:ti|au|abs|co|jr|cat|rn|id|all|submittedDate|lastUpdatedDate):")
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z-]*(?:\.(?:[A-Za-z][A-Za-z-]*|\*))?")
_DOI_URL = re.compile(r"^https?://(?:dx\.)?doi\.org/", re.IGNORECASE)
# Open ends of a submittedDate range: arXiv opened in 1991; the far end only has to be later than now.
_EARLIEST = date(1991, 7, 1)
_LATEST = date(2099, 12, 31)


@dataclass(slots=True)
class FeedPage:
    """One page of an Atom answer: its records (one per entry, in order) and the OpenSearch counts."""

    records: list[Record] = field(default_factory=list)
    total_results: int = 0
    start_index: int = 0
    items_per_page: int = 0


def build_search_query(
    search: str | None = None,
    categories: Sequence[str] = (),
    since: date | None = None,
    until: date | None = None,
) -> str:
    """Write an arXiv ``search_query``: free text, any of ``categories``, submitted between two days.

    Plain text becomes a phrase over all fields (``all:"diffusion models"``); text that already uses
    arXiv field prefixes (``ti:``, ``au:``, ``cat:``...) is kept as written. The date range covers whole
    days (00:00 to 23:59); an open end is filled with arXiv's first year or a far future day.

    >>> build_search_query("diffusion", ["cs.CL", "cs.LG"], date(2025, 1, 1), date(2025, 1, 31))
    'all:"diffusion" AND (cat:cs.CL OR cat:cs.LG) AND submittedDate:[202501010000 TO 202501312359]'

    Raises ``ValueError`` when nothing is given, for a malformed category, or when since > until.
    """
    if isinstance(categories, str):
        categories = [categories]
    parts: list[str] = []
    text = (search or "").strip()
    fielded = bool(text) and _FIELDED.search(text) is not None
    if text and fielded:
        parts.append(text)
    elif text:
        phrase = clean_title(text.replace('"', " "))
        if phrase:
            parts.append(f'all:"{phrase}"')
    cats: list[str] = []
    for raw in categories:
        cat = raw.strip()
        if not cat:
            continue
        if not _CATEGORY.fullmatch(cat):
            raise ValueError(f"not an arXiv category: {raw!r}")
        if cat not in cats:
            cats.append(cat)
    if len(cats) == 1:
        parts.append(f"cat:{cats[0]}")
    elif cats:
        parts.append("(" + " OR ".join(f"cat:{c}" for c in cats) + ")")
    if since is not None or until is not None:
        low, high = since or _EARLIEST, until or _LATEST
        if low > high:
            raise ValueError(f"since ({low}) is after until ({high})")
        parts.append(f"submittedDate:[{low:%Y%m%d}0000 TO {high:%Y%m%d}2359]")
    if not parts:
        raise ValueError("build_search_query needs a search text, a category or a date")
    if fielded and len(parts) > 1:
        parts[0] = f"({parts[0]})"
    return " AND ".join(parts)


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    return found.text if found is not None and found.text is not None else None


def _line(element: ET.Element, path: str) -> str | None:
    """Text of a one-line field (comment, journal ref), whitespace collapsed; ``None`` when empty."""
    return clean_title(_text(element, path)) or None


def _first_doi(value: str | None) -> str | None:
    """arXiv sometimes lists several DOIs separated by spaces; the record keeps the first."""
    return value.split()[0] if value and value.split() else None


def _count(root: ET.Element, name: str, default: int | None, where: str, url: str | None) -> int:
    raw = _text(root, f"{_OPENSEARCH}{name}")
    if raw is None or not raw.strip():
        if default is None:
            raise FetchError(f"{where}: the feed has no opensearch:{name}", url=url)
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise FetchError(f"{where}: opensearch:{name} is not a number: {raw!r}", url=url) from None


def _error_message(entry: ET.Element) -> str | None:
    """The message of arXiv's "error as entry" answer, or ``None`` for an ordinary entry."""
    entry_id = (_text(entry, f"{_ATOM}id") or "").strip()
    if not _ERROR_ID.match(entry_id):
        return None
    return (
        clean_abstract(_text(entry, f"{_ATOM}summary"))
        or clean_title(_text(entry, f"{_ATOM}title"))
        or entry_id
    )


def _entry_record(entry: ET.Element, position: str) -> PaperRecord | Rejected:
    raw_id = (_text(entry, f"{_ATOM}id") or "").strip()
    if not raw_id:
        return Rejected(position=position, reason="entry has no <id>")
    try:
        arxiv_id, version = canonical_arxiv_id(raw_id)
    except InvalidArxivId as exc:
        return Rejected(position=position, reason=str(exc))
    title = clean_title(_text(entry, f"{_ATOM}title"))
    if not title:
        return Rejected(position=position, reason=f"{arxiv_id}: entry has no <title>")
    try:
        published = parse_datetime(_text(entry, f"{_ATOM}published"))
        updated = parse_datetime(_text(entry, f"{_ATOM}updated"))
    except ValueError as exc:
        return Rejected(position=position, reason=f"{arxiv_id}: bad date: {exc}")

    doi = _first_doi(_text(entry, f"{_ARXIV}doi"))
    for link in entry.findall(f"{_ATOM}link"):
        href = (link.get("href") or "").strip()
        if link.get("title") == "pdf" and version is None and href:
            try:  # a versionless <id> still names the version in its pdf link
                pdf_id, pdf_version = canonical_arxiv_id(href)
            except InvalidArxivId:
                continue
            version = pdf_version if pdf_id == arxiv_id else None
        elif link.get("title") == "doi" and doi is None and href:
            doi = _DOI_URL.sub("", href) or None

    names = (clean_title(_text(author, f"{_ATOM}name")) for author in entry.findall(f"{_ATOM}author"))
    authors = [name for name in names if name]
    categories: list[str] = []
    for cat in entry.findall(f"{_ATOM}category"):
        term = (cat.get("term") or "").strip()
        if term and term not in categories:
            categories.append(term)
    primary_el = entry.find(f"{_ARXIV}primary_category")
    primary = ((primary_el.get("term") or "").strip() or None) if primary_el is not None else None
    if primary and primary not in categories:
        categories.insert(0, primary)
    abstract = clean_abstract(_text(entry, f"{_ATOM}summary"))
    comments = _line(entry, f"{_ARXIV}comment")
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        version=version,
        authors=authors,
        categories=categories,
        primary_category=primary or (categories[0] if categories else None),
        published_at=published,
        updated_at=updated,
        comments=comments,
        journal_ref=_line(entry, f"{_ARXIV}journal_ref"),
        doi=doi,
        code_url=extract_code_url(comments, abstract),
    )


def parse_feed(xml: bytes, url: str | None = None) -> FeedPage:
    """Read one Atom answer of the arXiv API into a :class:`FeedPage` (no I/O).

    Each entry gives one record, in feed order: a :class:`PaperRecord`, or a :class:`Rejected` at
    ``"{url or 'feed'} entry {i}"`` (``i`` from 1) when its id is missing or unreadable. Raises
    :class:`FetchError` for arXiv's "error as entry" answer (with arXiv's message), for a body that is
    not an Atom feed, and for a feed without ``opensearch:totalResults``.
    """
    where = url or "feed"
    try:
        root = defused_fromstring(xml)
    except ET.ParseError as exc:
        raise FetchError(f"{where}: the answer is not XML ({exc})", url=url) from exc
    except DefusedXmlException as exc:  # entity declarations, external references: never expanded
        raise FetchError(f"{where}: the answer declares XML entities, refused ({exc!r})", url=url) from exc
    if root.tag != f"{_ATOM}feed":
        raise FetchError(f"{where}: the answer is not an Atom feed (root <{root.tag}>)", url=url)
    entries = root.findall(f"{_ATOM}entry")
    for entry in entries:
        message = _error_message(entry)
        if message is not None:
            raise FetchError(f"arXiv API error: {message}", url=url)
    return FeedPage(
        records=[_entry_record(e, f"{where} entry {i}") for i, e in enumerate(entries, 1)],
        total_results=_count(root, "totalResults", None, where, url),
        start_index=_count(root, "startIndex", 0, where, url),
        items_per_page=_count(root, "itemsPerPage", len(entries), where, url),
    )


def _check_rate_limit(client: PoliteClient, base_url: str) -> None:
    host = (urlsplit(base_url).hostname or "").lower()
    if (host == "arxiv.org" or host.endswith(".arxiv.org")) and client.min_interval < ARXIV_MIN_INTERVAL:
        raise ValueError(
            f"arXiv asks for at most one request every {ARXIV_MIN_INTERVAL:g} s; "
            f"this client waits only {client.min_interval:g} s (PoliteClient(min_interval=...))"
        )


def _fetch_page(client: PoliteClient, base_url: str, params: dict[str, str | int], retries: int) -> FeedPage:
    """GET one page; an empty page while ``start < totalResults`` is asked again up to ``retries`` times."""
    start = int(params["start"])
    url, total = base_url, 0
    for _ in range(retries + 1):
        try:
            response = client.get(base_url, params=params)
        except FetchError as exc:  # arXiv explains a refused query (HTTP 400) in an error entry
            if exc.status != 400 or not exc.body:
                raise
            try:
                parse_feed(exc.body, url=exc.url)
            except FetchError as explained:
                raise FetchError(f"{exc.url}: HTTP 400: {explained}", status=400, url=exc.url) from exc
            raise
        url = str(response.url)
        if not response.is_success:  # PoliteClient hands 404s back; arXiv may explain them in an error entry
            try:
                parse_feed(response.content, url=url)
            except FetchError as exc:
                raise FetchError(
                    f"{url}: HTTP {response.status_code}: {exc}", status=response.status_code, url=url
                ) from exc
            raise FetchError(f"{url}: HTTP {response.status_code}", status=response.status_code, url=url)
        page = parse_feed(response.content, url=url)
        if page.records or start >= page.total_results:
            return page
        total = page.total_results
    raise FetchError(
        f"{url}: arXiv answered an empty page at start={start} although totalResults={total} "
        f"({retries + 1} tries); stopping here, resume from the last checkpoint later",
        url=url,
    )


def fetch_paper(client: PoliteClient, arxiv_id: str, *, base_url: str = API_URL) -> PaperRecord | None:
    """One paper by its arXiv id (``id_list``), or None when arXiv does not know it.

    Raises :class:`FetchError` when arXiv cannot be reached or refuses the request."""
    _check_rate_limit(client, base_url)
    page = _fetch_page(client, base_url, {"id_list": arxiv_id, "start": 0, "max_results": 1}, retries=1)
    for rec in page.records:
        if isinstance(rec, PaperRecord) and rec.arxiv_id == arxiv_id:
            return rec
    return None


def fetch_papers(
    client: PoliteClient, arxiv_ids: Sequence[str], *, base_url: str = API_URL, batch: int = 100
) -> Iterator[PaperRecord]:
    """The papers of ``arxiv_ids`` that arXiv knows, ``batch`` ids a request (``id_list``), each request
    spaced as the client's interval says (arXiv: at least 3 s). Raises :class:`FetchError` when arXiv cannot
    be reached; what was yielded before stays yielded."""
    _check_rate_limit(client, base_url)
    if not 1 <= batch <= MAX_PAGE_SIZE:
        raise ValueError(f"batch must be between 1 and {MAX_PAGE_SIZE}, got {batch}")
    wanted = list(dict.fromkeys(arxiv_ids))
    for first in range(0, len(wanted), batch):
        chunk = wanted[first : first + batch]
        params: dict[str, str | int] = {"id_list": ",".join(chunk), "start": 0, "max_results": len(chunk)}
        page = _fetch_page(client, base_url, params, retries=1)
        asked = set(chunk)
        for rec in page.records:
            if isinstance(rec, PaperRecord) and rec.arxiv_id in asked:
                yield rec


def _resume_start(state: dict | None) -> int:
    if not state:
        return 0
    start = state.get("start", 0)
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ValueError(f"bad arxiv-api checkpoint state: {state!r}")
    return start


def harvest(
    client: PoliteClient,
    search_query: str,
    *,
    base_url: str = API_URL,
    page_size: int = 100,
    max_results: int | None = None,
    state: dict | None = None,
    empty_page_retries: int = 3,
) -> Iterator[Record]:
    """Walk every result of ``search_query``, oldest submission first, ``page_size`` entries a request.

    After each page's records comes ``Checkpoint(key=f"arxiv-api:{search_query}",
    state={"start": next_start})``; the checkpoint after the last page has ``done=True`` (a query with
    no result yields just that one). ``state`` (a previous checkpoint's state) resumes at its ``start``.
    ``max_results`` bounds the result positions harvested (``0 .. max_results - 1``), resumes included.
    An empty page before ``totalResults`` is reached (a known arXiv glitch) is asked again up to
    ``empty_page_retries`` times, then :class:`FetchError` stops the harvest.

    Arguments are checked at once (``ValueError``), including a client faster than arXiv's 3 s rule.
    """
    if not search_query or not search_query.strip():
        raise ValueError("search_query is empty")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    if max_results is not None and max_results < 0:
        raise ValueError(f"max_results must be >= 0, got {max_results}")
    if empty_page_retries < 0:
        raise ValueError(f"empty_page_retries must be >= 0, got {empty_page_retries}")
    _check_rate_limit(client, base_url)
    start = _resume_start(state)
    return _harvest(client, search_query, base_url, page_size, max_results, start, empty_page_retries)


def _harvest(
    client: PoliteClient,
    search_query: str,
    base_url: str,
    page_size: int,
    max_results: int | None,
    start: int,
    empty_page_retries: int,
) -> Iterator[Record]:
    key = f"arxiv-api:{search_query}"
    while True:
        if max_results is not None and start >= max_results:
            yield Checkpoint(key=key, state={"start": start}, done=True)
            return
        count = page_size if max_results is None else min(page_size, max_results - start)
        params: dict[str, str | int] = {
            "search_query": search_query,
            "start": start,
            "max_results": count,
            "sortBy": "submittedDate",
            "sortOrder": "ascending",
        }
        page = _fetch_page(client, base_url, params, empty_page_retries)
        yield from page.records
        start += len(page.records)
        end = page.total_results if max_results is None else min(page.total_results, max_results)
        done = start >= end
        yield Checkpoint(key=key, state={"start": start}, done=done)
        if done:
            return
