"""The records every source produces, and the small helpers that make them canonical.

A source yields a stream of :data:`Record` values:

- :class:`PaperRecord` — what a source knows of one paper;
- :class:`DailyEntryRecord` — a paper listed on a day's "daily papers" (with its paper record);
- :class:`DeletedRecord` — the source says the paper was withdrawn from it (OAI-PMH deletions);
- :class:`Rejected` — a record the source could not read, with where it was and why;
- :class:`Checkpoint` — a network source's resume point: the importer commits everything before it,
  together with the checkpoint, so a killed import resumes from there.

``None`` (or an empty list) in a field means "this source does not know": the importer never erases a
known value with an unknown one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from dailypapers.errors import BadRequest
from dailypapers.urls import safe_http_url

__all__ = [
    "Checkpoint",
    "DailyEntryRecord",
    "DeletedRecord",
    "InvalidArxivId",
    "Organization",
    "PaperRecord",
    "Record",
    "Rejected",
    "Submitter",
    "canonical_arxiv_id",
    "clean_abstract",
    "clean_title",
    "drop_unsafe_links",
    "extract_code_url",
    "parse_arxiv_ref",
    "parse_datetime",
    "split_authors",
]


@dataclass(slots=True)
class Organization:
    """An organization (lab, company, university) a paper is filed under."""

    name: str
    fullname: str | None = None
    avatar_url: str | None = None


@dataclass(slots=True)
class Submitter:
    """The person who put a paper on the daily list."""

    name: str
    fullname: str | None = None
    avatar_url: str | None = None


@dataclass(slots=True)
class LinkedRepo:
    """A Hugging Face model, dataset or Space whose card cites a paper, as the Hub described it."""

    kind: str  # "model", "dataset" or "space"
    repo_id: str  # "namespace/name", checked by :func:`dailypapers.ingest.hf_papers.repo_id`
    likes: int = 0
    downloads: int | None = None  # models and datasets (the Hub's count of the last 30 days)
    last_modified: datetime | None = None
    pipeline_tag: str | None = None  # models: "text-generation", …
    num_parameters: int | None = None  # models
    gated: str | None = None  # models and datasets: "auto" or "manual" when access must be asked for
    title: str | None = None  # Spaces: their title, or short description
    emoji: str | None = None  # Spaces


@dataclass(slots=True)
class LinkedRepos:
    """Everything a source says was built on a paper: the repositories it listed, in its order, and
    its totals per kind (which may be more than it listed)."""

    repos: list[LinkedRepo] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class PaperRecord:
    """What one source knows of one paper. ``arxiv_id`` is canonical (no version)."""

    arxiv_id: str
    title: str
    abstract: str | None = None
    version: int | None = None
    # every version the source knows, with its date (arXivRaw lists them all; the text is the latest's)
    version_dates: dict[int, datetime] = field(default_factory=dict)
    authors: list[str] = field(default_factory=list)
    author_users: dict[str, str] = field(default_factory=dict)  # name -> Hugging Face handle (claimed)
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    comments: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    code_url: str | None = None
    project_page: str | None = None
    github_stars: int | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    upvotes: int | None = None
    organization: Organization | None = None
    # what a source says was built on the paper; None when it does not say (nothing stored changes)
    linked: LinkedRepos | None = None


@dataclass(slots=True)
class DailyEntryRecord:
    """A paper listed on one day of the daily papers."""

    paper: PaperRecord
    day: date
    submitted_at: datetime | None = None
    submitter: Submitter | None = None
    upvotes: int = 0
    num_comments: int = 0
    thumbnail: str | None = None
    media_urls: list[str] = field(default_factory=list)
    source: str = "hf"


@dataclass(slots=True)
class DeletedRecord:
    """The source withdrew this paper (an OAI-PMH ``status="deleted"`` header)."""

    arxiv_id: str


@dataclass(slots=True)
class Rejected:
    """A record that could not be read: ``position`` says where (file, line, entry), ``reason`` why."""

    position: str
    reason: str


@dataclass(slots=True)
class Checkpoint:
    """Resume point of a network source, saved with the records before it in one transaction.

    ``key`` names the harvest (source and its query); ``state`` is JSON-serializable and is handed back
    to the source when the same harvest runs again. ``done=True`` marks a finished harvest.
    """

    key: str
    state: dict
    done: bool = False


Record = PaperRecord | DailyEntryRecord | DeletedRecord | Rejected | Checkpoint


class InvalidArxivId(ValueError):
    """The text is not an arXiv identifier."""


# New style: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015-), optional version.
_NEW_ID = re.compile(r"(?P<id>\d{4}\.\d{4,5})(?:v(?P<v>\d+))?")
# Old style: archive[.SUBJECT-CLASS]/YYMMNNN, optional version.
_OLD_ID = re.compile(r"(?P<arch>[a-z]+(?:-[a-z]+)*)(?:\.[A-Za-z]{2})?/(?P<num>\d{7})(?:v(?P<v>\d+))?")
_PREFIXES = re.compile(
    r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/|oai:arxiv\.org:|arxiv:)",
    re.IGNORECASE,
)


def canonical_arxiv_id(text: str) -> tuple[str, int | None]:
    """Return ``(canonical id, version or None)`` for any common spelling of an arXiv id.

    Accepts bare ids (``2501.01234v2``, ``hep-th/9901001``, ``math.GT/0309136``), ``arXiv:`` and
    ``oai:arXiv.org:`` prefixes, and abs/pdf/html URLs. Ids stay strings: ``0704.0001`` keeps its zero.

    >>> canonical_arxiv_id("https://arxiv.org/pdf/2501.01234v2.pdf")
    ('2501.01234', 2)
    >>> canonical_arxiv_id("math.GT/0309136")
    ('math/0309136', None)
    """
    if not isinstance(text, str):
        raise InvalidArxivId(f"arXiv id must be text, got {type(text).__name__}")
    s = _PREFIXES.sub("", text.strip())
    s = s.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if s.lower().endswith(".pdf"):
        s = s[:-4]
    m = _NEW_ID.fullmatch(s)
    if m:
        month = int(s[2:4])
        if not 1 <= month <= 12:
            raise InvalidArxivId(f"not an arXiv id: {text!r}")
        return m["id"], int(m["v"]) if m["v"] else None
    m = _OLD_ID.fullmatch(s)
    if m:
        return f"{m['arch'].lower()}/{m['num']}", int(m["v"]) if m["v"] else None
    raise InvalidArxivId(f"not an arXiv id: {text!r}")


_OTHER_PREFIXES = re.compile(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/papers/", re.IGNORECASE)


def parse_arxiv_ref(raw: str, site_url: str = "") -> str:
    """The canonical arXiv id in what someone pasted: an id, ``arXiv:…``, an arXiv abs/pdf/html URL, a
    Hugging Face papers URL or one of this site's paper URLs (``site_url``). Raises :class:`BadRequest`."""
    text = (raw or "").strip()
    if site_url and text.startswith(site_url.rstrip("/") + "/papers/"):
        text = text[len(site_url.rstrip("/") + "/papers/") :]
    text = _OTHER_PREFIXES.sub("", text)
    try:
        return canonical_arxiv_id(text)[0]
    except InvalidArxivId:
        raise BadRequest(
            f"not an arXiv id or URL: {raw.strip()[:100]!r} (e.g. 2406.12345 or "
            "https://arxiv.org/abs/2406.12345)"
        ) from None


_WS = re.compile(r"\s+")
_PARA = re.compile(r"\n\s*\n")
_ASCII_WS = ("  ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


def clean_title(text: str | None) -> str:
    """Collapse the hard line wraps and runs of whitespace arXiv titles carry; strip the ends.

    ``str.split()`` splits on exactly what regex ``\\s`` matches, so this equals
    ``re.sub(r"\\s+", " ", text).strip()``; most texts are ASCII with single spaces and ``\\n`` wraps, and
    for those a ``replace`` and a few substring tests avoid building a word list (ingest hot path).
    """
    if not text:
        return ""
    if "\n" in text:
        text = text.replace("\n", " ")
    if text.isascii():
        for ws in _ASCII_WS:
            if ws in text:
                return " ".join(text.split())
        return text.strip()
    return " ".join(text.split())


def clean_abstract(text: str | None) -> str | None:
    """Join wrapped lines into paragraphs; keep blank-line paragraph breaks. ``None`` stays ``None``."""
    if text is None:
        return None
    if "\n" in text and _PARA.search(text):
        paragraphs = (clean_title(p) for p in _PARA.split(text.strip()))
        return "\n\n".join(p for p in paragraphs if p) or None
    return clean_title(text) or None


_CODE_URL = re.compile(
    r"https?://(?:www\.)?(?:github\.com|gitlab\.com|bitbucket\.org|codeberg\.org)/"
    r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
    re.IGNORECASE,
)


def extract_code_url(*texts: str | None) -> str | None:
    """The first code-repository URL (GitHub, GitLab, Bitbucket, Codeberg) in the texts, cleaned.

    >>> extract_code_url("Code is available at https://github.com/foo/bar.git.")
    'https://github.com/foo/bar'
    """
    for text in texts:
        if not text:
            continue
        m = _CODE_URL.search(text)
        if m:
            url = m.group(0).rstrip(".")
            if url.lower().endswith(".git"):
                url = url[:-4]
            return url.rstrip(".")
    return None


def _safe_link(value: object) -> tuple[str | None, int]:
    """``(the link to keep, 1 if a link was dropped else 0)`` for one link field."""
    if value is None or value == "":
        return None, 0
    url = safe_http_url(value)
    return url, int(url is None)


def drop_unsafe_links(rec: PaperRecord | DailyEntryRecord) -> int:
    """Keep only the links of ``rec`` that :func:`~dailypapers.urls.safe_http_url` accepts, in place.

    Every other link (``javascript:``, ``data:``, relative, not text at all, …) becomes ``None`` (a
    list keeps its safe items), so the rest of the record is still imported. Returns how many links were
    dropped; an empty or missing link is not counted.
    """
    dropped = 0
    if isinstance(rec, DailyEntryRecord):
        dropped += drop_unsafe_links(rec.paper)
        rec.thumbnail, n = _safe_link(rec.thumbnail)
        dropped += n
        if rec.submitter is not None:
            rec.submitter.avatar_url, n = _safe_link(rec.submitter.avatar_url)
            dropped += n
        media = rec.media_urls if isinstance(rec.media_urls, list) else [rec.media_urls]
        kept = [url for url in (safe_http_url(m) for m in media) if url is not None]
        dropped += sum(1 for m in media if m is not None and m != "") - len(kept)
        rec.media_urls = kept
        return dropped
    rec.code_url, n = _safe_link(rec.code_url)
    dropped += n
    rec.project_page, n = _safe_link(rec.project_page)
    dropped += n
    if rec.organization is not None:
        rec.organization.avatar_url, n = _safe_link(rec.organization.avatar_url)
        dropped += n
    return dropped


def parse_datetime(value: str | None) -> datetime | None:
    """Parse the timestamp spellings our sources use into an aware UTC datetime.

    ``2024-05-31T17:50:01.000Z``, ``2025-04-01 12:00:00``, ``2007-05-24``, RFC 3339 with offsets.
    A naive value is taken as UTC. Empty or ``None`` gives ``None``; anything else unreadable raises
    ``ValueError``.
    """
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "c": "\u0327",
    "v": "\u030c",
    "u": "\u0306",
    "=": "\u0304",
    ".": "\u0307",
    "H": "\u030b",
    "k": "\u0328",
}
_TEX_ACCENT = re.compile(r"""\\(['`^"~=.]|[cvuHk](?=[\s{]))\s*\{?\\?([A-Za-z])\}?""")
_TEX_LETTERS = {
    r"\o": "ø",
    r"\O": "Ø",
    r"\l": "ł",
    r"\L": "Ł",
    r"\ss": "ß",
    r"\aa": "å",
    r"\AA": "Å",
    r"\ae": "æ",
    r"\AE": "Æ",
    r"\i": "ı",
}
_TEX_LETTER = re.compile(r"\{?(\\(?:ss|aa|AA|ae|AE|o|O|l|L|i))(?![A-Za-z])\}?")


def tex_to_unicode(text: str) -> str:
    """Turn the LaTeX accents arXiv metadata uses (``Fr\\'ed\\'eric``, ``{\\"u}``) into Unicode."""
    import unicodedata

    if "\\" not in text:
        return text
    text = _TEX_LETTER.sub(lambda m: _TEX_LETTERS[m.group(1)], text)
    text = _TEX_ACCENT.sub(lambda m: unicodedata.normalize("NFC", m.group(2) + _ACCENTS[m.group(1)]), text)
    return text.replace("{", "").replace("}", "") if "\\" not in text else text


def _strip_parenthesized(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*;\s*")


def split_authors(text: str | None) -> list[str]:
    """Split an arXiv author string (``"A. One, B. Two (MIT) and C. Three"``) into names, in order.

    Parenthesized affiliations are dropped, LaTeX accents become Unicode, "et al." is dropped.
    """
    if not text:
        return []
    names = []
    text = " ".join(text.split())  # arXiv wraps long author lists mid-name
    for part in _AUTHOR_SPLIT.split(_strip_parenthesized(tex_to_unicode(text))):
        name = _WS.sub(" ", part).strip(" .")
        if name and name.lower() not in {"et al", "et al.", "others"}:
            names.append(name if not part.strip().endswith(".") or " " not in name else part.strip())
    return names
