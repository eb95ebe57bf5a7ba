"""arXiv's OAI-PMH interface (``oaipmh.arxiv.org/oai``), ``ListRecords`` in the ``arXivRaw`` format.

arXivRaw is the richest bulk metadata arXiv offers: every version with its date, the license, the
submitter. :func:`parse_list_records` turns one answer page into records (pure); :func:`harvest` follows
the resumptionTokens through a :class:`~dailypapers.ingest.http.PoliteClient` and yields a
:class:`Checkpoint` after every page, so a killed harvest resumes from its last token. OAI's flow control
(HTTP 503 with ``Retry-After``) is honoured by the client's retries.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # nosec B405 # element types only; parsing goes through defusedxml
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from dailypapers.ingest.http import FetchError, PoliteClient
from dailypapers.ingest.records import (
    Checkpoint,
    DeletedRecord,
    InvalidArxivId,
    PaperRecord,
    Record,
    Rejected,
    canonical_arxiv_id,
    clean_abstract,
    clean_title,
    extract_code_url,
    split_authors,
)

__all__ = ["OAI_URL", "OaiPage", "harvest", "parse_list_records"]

OAI_URL = "https://oaipmh.arxiv.org/oai"
METADATA_PREFIX = "arXivRaw"
ARXIV_MIN_INTERVAL = 3.0  # seconds between requests, arXiv's published rule for all its APIs

_OAI = "{http://www.openarchives.org/OAI/2.0/}"
_RAW = "{http://arxiv.org/OAI/arXivRaw/}"
_VERSION = re.compile(r"v(\d+)")


@dataclass(slots=True)
class OaiPage:
    """One ``ListRecords`` answer: its records in order, the token of the next page, the list size."""

    records: list[Record] = field(default_factory=list)
    resumption_token: str | None = None
    complete_list_size: int | None = None


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    return found.text if found is not None and found.text is not None else None


def _line(element: ET.Element, path: str) -> str | None:
    return clean_title(_text(element, path)) or None


def _version_date(value: str | None) -> datetime:
    """arXivRaw version dates are RFC 2822 (``Mon, 2 Apr 2007 19:18:42 GMT``); returns aware UTC."""
    if not value or not value.strip():
        raise ValueError("a <version> has no <date>")
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"unreadable version date {value.strip()!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def _deleted(header: ET.Element, position: str) -> DeletedRecord | Rejected:
    identifier = (_text(header, f"{_OAI}identifier") or "").strip()
    try:
        return DeletedRecord(arxiv_id=canonical_arxiv_id(identifier)[0])
    except InvalidArxivId as exc:
        return Rejected(position=position, reason=f"deleted record: {exc}")


def _record(record: ET.Element, position: str) -> PaperRecord | DeletedRecord | Rejected:
    header = record.find(f"{_OAI}header")
    if header is None:
        return Rejected(position=position, reason="record has no <header>")
    if header.get("status") == "deleted":
        return _deleted(header, position)
    identifier = (_text(header, f"{_OAI}identifier") or "").strip()
    raw = record.find(f"{_OAI}metadata/{_RAW}arXivRaw")
    if raw is None:
        return Rejected(position=position, reason=f"{identifier or 'record'}: no arXivRaw metadata")
    raw_id = (_text(raw, f"{_RAW}id") or "").strip() or identifier
    if not raw_id:
        return Rejected(position=position, reason="record has no <id>")
    try:
        arxiv_id, _ = canonical_arxiv_id(raw_id)
    except InvalidArxivId as exc:
        return Rejected(position=position, reason=str(exc))
    title = clean_title(_text(raw, f"{_RAW}title"))
    if not title:
        return Rejected(position=position, reason=f"{arxiv_id}: record has no <title>")

    versions: dict[int, datetime] = {}
    try:
        for element in raw.findall(f"{_RAW}version"):
            label = (element.get("version") or "").strip()
            match = _VERSION.fullmatch(label)
            if not match:
                raise ValueError(f"bad version label {label!r}")
            versions[int(match[1])] = _version_date(_text(element, f"{_RAW}date"))
    except ValueError as exc:
        return Rejected(position=position, reason=f"{arxiv_id}: {exc}")
    latest = max(versions) if versions else None

    categories = list(dict.fromkeys((_text(raw, f"{_RAW}categories") or "").split()))
    abstract = clean_abstract(_text(raw, f"{_RAW}abstract"))
    comments = _line(raw, f"{_RAW}comments")
    doi = (_text(raw, f"{_RAW}doi") or "").split()
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        version=latest,
        # arXivRaw wraps long author lists mid-name; split_authors takes a newline for a separator.
        authors=split_authors(clean_title(_text(raw, f"{_RAW}authors"))),
        categories=categories,
        primary_category=categories[0] if categories else None,
        published_at=versions.get(1, versions[min(versions)]) if versions else None,
        updated_at=versions[latest] if latest is not None else None,
        version_dates=dict(versions),
        comments=comments,
        journal_ref=_line(raw, f"{_RAW}journal-ref"),
        doi=doi[0] if doi else None,  # several DOIs are space-separated; the record keeps the first
        license=_line(raw, f"{_RAW}license"),
        code_url=extract_code_url(comments, abstract),
    )


def parse_list_records(xml: bytes, url: str | None = None) -> OaiPage:
    """Read one OAI-PMH ``ListRecords`` answer in the arXivRaw format (no I/O).

    Records come in document order: a :class:`PaperRecord` (latest version number, ``published_at`` =
    v1 date, ``updated_at`` = latest version date, first category = primary), a :class:`DeletedRecord`
    for a ``status="deleted"`` header, or a :class:`Rejected` at ``"{url or 'response'} record {i}"``
    (``i`` from 1). The OAI error ``noRecordsMatch`` is an empty page; any other OAI error, and a body
    that is not an OAI-PMH answer, raises :class:`FetchError` with the code and message.
    """
    where = url or "response"
    try:
        root = defused_fromstring(xml)
    except ET.ParseError as exc:
        raise FetchError(f"{where}: the answer is not XML ({exc})", url=url) from exc
    except DefusedXmlException as exc:  # entity declarations, external references: never expanded
        raise FetchError(f"{where}: the answer declares XML entities, refused ({exc!r})", url=url) from exc
    if root.tag != f"{_OAI}OAI-PMH":
        raise FetchError(f"{where}: the answer is not OAI-PMH (root <{root.tag}>)", url=url)
    errors = [(e.get("code") or "?", clean_title(e.text)) for e in root.findall(f"{_OAI}error")]
    for code, message in errors:
        if code != "noRecordsMatch":
            hint = " (expired or unknown token: restart the harvest)" if code == "badResumptionToken" else ""
            raise FetchError(f"OAI-PMH error {code}: {message or 'no message'}{hint}", url=url)
    if errors:
        return OaiPage(records=[], resumption_token=None, complete_list_size=0)
    listing = root.find(f"{_OAI}ListRecords")
    if listing is None:
        raise FetchError(f"{where}: the answer has neither <ListRecords> nor <error>", url=url)
    records: list[Record] = [
        _record(r, f"{where} record {i}") for i, r in enumerate(listing.findall(f"{_OAI}record"), 1)
    ]
    token_el = listing.find(f"{_OAI}resumptionToken")
    token = ((token_el.text or "").strip() or None) if token_el is not None else None
    size: int | None = None
    if token_el is not None and (token_el.get("completeListSize") or "").strip().isdigit():
        size = int(token_el.get("completeListSize", "").strip())
    return OaiPage(records=records, resumption_token=token, complete_list_size=size)


def _day(value: date) -> str:
    """OAI from/until at arXiv's day granularity (a datetime is cut to its day)."""
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _check_rate_limit(client: PoliteClient, base_url: str) -> None:
    host = (urlsplit(base_url).hostname or "").lower()
    if (host == "arxiv.org" or host.endswith(".arxiv.org")) and client.min_interval < ARXIV_MIN_INTERVAL:
        raise ValueError(
            f"arXiv asks for at most one request every {ARXIV_MIN_INTERVAL:g} s; "
            f"this client waits only {client.min_interval:g} s (PoliteClient(min_interval=...))"
        )


def harvest(
    client: PoliteClient,
    *,
    base_url: str = OAI_URL,
    set_spec: str | None = None,
    from_: date | None = None,
    until: date | None = None,
    state: dict | None = None,
) -> Iterator[Record]:
    """Harvest ``ListRecords`` (arXivRaw) for ``set_spec`` and the datestamp range ``from_``..``until``.

    The first request carries verb, metadataPrefix, from, until and set; later ones only the
    resumptionToken. After each page's records comes ``Checkpoint(key=f"oai:{set_spec or '*'}:{from_}:
    {until}", state={"resumption_token": token})``, with ``done=True`` once the token is empty or absent.
    A ``state`` holding a token resumes from that token (OAI tokens expire: an old one gives a
    ``badResumptionToken`` :class:`FetchError`). Arguments are checked at once (``ValueError``).
    """
    if from_ is not None and until is not None and _day(from_) > _day(until):
        raise ValueError(f"from_ ({from_}) is after until ({until})")
    token = (state or {}).get("resumption_token")
    if token is not None and not isinstance(token, str):
        raise ValueError(f"bad oai checkpoint state: {state!r}")
    _check_rate_limit(client, base_url)
    key = f"oai:{set_spec or '*'}:{from_}:{until}"
    return _harvest(client, base_url, key, set_spec, from_, until, token or None)


def _harvest(
    client: PoliteClient,
    base_url: str,
    key: str,
    set_spec: str | None,
    from_: date | None,
    until: date | None,
    token: str | None,
) -> Iterator[Record]:
    while True:
        params: dict[str, str] = {"verb": "ListRecords"}
        if token:
            params["resumptionToken"] = token
        else:
            params["metadataPrefix"] = METADATA_PREFIX
            if from_ is not None:
                params["from"] = _day(from_)
            if until is not None:
                params["until"] = _day(until)
            if set_spec:
                params["set"] = set_spec
        response = client.get(base_url, params=params)
        url = str(response.url)
        if response.is_success:
            page = parse_list_records(response.content, url=url)
        else:  # PoliteClient hands 404s back: some OAI servers send noRecordsMatch with one
            try:
                page = parse_list_records(response.content, url=url)
            except FetchError as exc:
                raise FetchError(
                    f"{url}: HTTP {response.status_code}: {exc}", status=response.status_code, url=url
                ) from exc
            if page.records or page.resumption_token:
                raise FetchError(f"{url}: HTTP {response.status_code}", status=response.status_code, url=url)
        yield from page.records
        next_token = page.resumption_token
        if next_token is not None and next_token == token:
            raise FetchError(f"{url}: the server answered with the same resumptionToken again", url=url)
        yield Checkpoint(key=key, state={"resumption_token": next_token}, done=next_token is None)
        if next_token is None:
            return
        token = next_token
