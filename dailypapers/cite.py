"""Citations of papers in the formats reference managers read: BibTeX (arXiv's own style of entry), RIS
and CSL-JSON, for one paper or many (a collection, a list, a search).

Everything here comes from imported records, so it is treated as hostile: BibTeX fields are braced with
their braces balanced (an unbalanced brace would end the field early and let the rest be read as more
fields or entries), RIS lines carry no line breaks (a line break would start a tag of the attacker's
choice), and CSL-JSON is JSON. Names are split into family and given names the way arXiv's author
lists write them ("Ada Lovelace", "Johannes van der Waals"; a name with a comma is "Family, Given").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = {
    "bib": ("application/x-bibtex; charset=utf-8", "bib"),
    "ris": ("application/x-research-info-systems; charset=utf-8", "ris"),
    "csl": ("application/vnd.citationstyles.csl+json; charset=utf-8", "csl.json"),
}
PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "du", "le", "la", "ter"}
)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Name:
    """An author's family and given names."""

    family: str
    given: str = ""


def split_name(name: str) -> Name:
    """``"Ada Lovelace"`` -> Lovelace, Ada; ``"Lovelace, Ada"`` the same; particles (van, de…) stay with
    the family name; a one-word name is all family."""
    text = _SPACE.sub(" ", _CONTROL.sub(" ", name or "")).strip()
    if "," in text:
        family, _, given = text.partition(",")
        return Name(family.strip(), given.strip())
    words = text.split(" ")
    if len(words) == 1:
        return Name(words[0])
    at = len(words) - 1
    while at > 1 and words[at - 1].lower() in PARTICLES:
        at -= 1
    return Name(" ".join(words[at:]), " ".join(words[:at]))


def _clean(value: Any) -> str:
    """One line of text: control characters and line breaks become spaces, runs of space one."""
    return _SPACE.sub(" ", _CONTROL.sub(" ", str(value or "")).replace("\n", " ")).strip()


def _paper_fields(paper: Any) -> dict[str, Any]:
    published = getattr(paper, "published_at", None)
    authors = [a for a in (getattr(paper, "authors", None) or ()) if isinstance(a, str) and a.strip()]
    return {
        "arxiv_id": paper.arxiv_id,
        "title": _clean(paper.title),
        "abstract": _clean(getattr(paper, "abstract", "") or ""),
        "authors": [split_name(a) for a in authors],
        "raw_authors": [_clean(a) for a in authors],
        "date": published.date() if published is not None else None,
        "category": _clean(getattr(paper, "primary_category", None) or ""),
        "doi": _clean(getattr(paper, "doi", None) or ""),
        "journal": _clean(getattr(paper, "journal_ref", None) or ""),
    }


# --- BibTeX -----------------------------------------------------------------------------------------


def _balanced(text: str) -> str:
    """``text`` less every brace that has no partner (BibTeX counts braces whatever precedes them, so a
    lone one, escaped or not, would end the field or swallow the next): a field stays one field."""
    out: list[str] = []
    open_at: list[int] = []
    for ch in text:
        if ch == "{":
            open_at.append(len(out))
            out.append(ch)
        elif ch == "}":
            if open_at:
                open_at.pop()
                out.append(ch)
        else:
            out.append(ch)
    for index in open_at:
        out[index] = ""
    return "".join(out)


def bib_value(text: str) -> str:
    """A BibTeX field's braced value: one line, braces balanced; ``@`` is harmless inside braces."""
    return "{" + _clean(_balanced(_clean(text))) + "}"


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


_SKIP_TITLE = frozenset({"a", "an", "the", "on", "of", "for", "and", "in", "to", "towards", "toward", "with"})


def bib_key(fields: dict[str, Any]) -> str:
    """arXiv's key style: first author's family name, the year, the first significant title word
    (``lovelace2026notes``); ASCII letters and digits only, the arXiv id when nothing is left."""
    family = _ascii_word(fields["authors"][0].family) if fields["authors"] else ""
    year = str(fields["date"].year) if fields["date"] else ""
    words = [_ascii_word(w) for w in fields["title"].split()]
    word = next((w for w in words if w and w not in _SKIP_TITLE), "")
    key = f"{family}{year}{word}"
    return key if family or word else "arxiv" + re.sub(r"[^0-9a-z]", "", fields["arxiv_id"].lower())


def bibtex(paper: Any) -> str:
    """One ``@misc`` entry in arXiv's style (title, author, year, eprint, archivePrefix, primaryClass,
    url; doi and journal reference when known)."""
    fields = _paper_fields(paper)
    authors = " and ".join(f"{n.family}, {n.given}" if n.given else n.family for n in fields["authors"])
    lines = [f"@misc{{{bib_key(fields)},"]
    entry = [
        ("title", fields["title"]),
        ("author", authors),
        ("year", str(fields["date"].year) if fields["date"] else ""),
        ("eprint", fields["arxiv_id"]),
        ("archivePrefix", "arXiv"),
        ("primaryClass", fields["category"]),
        ("url", f"https://arxiv.org/abs/{fields['arxiv_id']}"),
        ("doi", fields["doi"]),
        ("note", fields["journal"]),
    ]
    lines += [f"      {name}={bib_value(value)}," for name, value in entry if value]
    lines.append("}")
    return "\n".join(lines) + "\n"


def bibtex_all(papers: Iterable[Any]) -> str:
    """Entries for many papers; a key used twice gets a letter (``lovelace2026notesb``)."""
    seen: dict[str, int] = {}
    out = []
    for paper in papers:
        entry = bibtex(paper)
        key = entry[len("@misc{") : entry.index(",")]
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count:
            suffix = chr(ord("a") + min(count, 25))
            entry = entry.replace(f"@misc{{{key},", f"@misc{{{key}{suffix},", 1)
        out.append(entry)
    return "\n".join(out)


# --- RIS --------------------------------------------------------------------------------------------


def ris(paper: Any) -> str:
    """One RIS record (``TY  - UNPB``, as Zotero writes a preprint), CRLF line ends."""
    fields = _paper_fields(paper)
    arxiv = fields["arxiv_id"]
    lines = [("TY", "UNPB"), ("TI", fields["title"])]
    lines += [("AU", f"{n.family}, {n.given}" if n.given else n.family) for n in fields["authors"]]
    if fields["date"]:
        lines += [("PY", str(fields["date"].year)), ("DA", fields["date"].strftime("%Y/%m/%d/"))]
    lines += [
        ("AB", fields["abstract"]),
        ("PB", "arXiv"),
        ("UR", f"https://arxiv.org/abs/{arxiv}"),
        ("L1", f"https://arxiv.org/pdf/{arxiv}"),
        ("DO", fields["doi"] or f"10.48550/arXiv.{arxiv}"),
        ("M3", f"arXiv:{arxiv}"),
        ("KW", fields["category"]),
        ("N1", fields["journal"]),
    ]
    body = [f"{tag}  - {_clean(value)}" for tag, value in lines if value]
    return "\r\n".join([*body, "ER  - ", ""])


def ris_all(papers: Iterable[Any]) -> str:
    """RIS records for many papers."""
    return "\r\n".join(ris(p) for p in papers)


# --- CSL-JSON ---------------------------------------------------------------------------------------


def csl_item(paper: Any) -> dict[str, Any]:
    """A CSL-JSON item (type ``article``, genre Preprint, publisher arXiv), as Zotero exports a preprint."""
    fields = _paper_fields(paper)
    arxiv = fields["arxiv_id"]
    item: dict[str, Any] = {
        "id": f"arXiv:{arxiv}",
        "type": "article",
        "title": fields["title"],
        "author": [
            {"family": n.family, "given": n.given} if n.given else {"literal": n.family}
            for n in fields["authors"]
        ],
        "publisher": "arXiv",
        "genre": "Preprint",
        "number": f"arXiv:{arxiv}",
        "URL": f"https://arxiv.org/abs/{arxiv}",
        "DOI": fields["doi"] or f"10.48550/arXiv.{arxiv}",
    }
    if fields["date"]:
        d = fields["date"]
        item["issued"] = {"date-parts": [[d.year, d.month, d.day]]}
    if fields["abstract"]:
        item["abstract"] = fields["abstract"]
    if fields["category"]:
        item["keyword"] = fields["category"]
    return item


def csl_json(papers: Sequence[Any]) -> str:
    """A CSL-JSON array of the papers."""
    return json.dumps([csl_item(p) for p in papers], ensure_ascii=False, indent=2) + "\n"


def render(fmt: str, papers: Sequence[Any]) -> str:
    """``papers`` in ``fmt`` (``bib``, ``ris`` or ``csl``)."""
    if fmt == "bib":
        return bibtex_all(papers)
    if fmt == "ris":
        return ris_all(papers)
    if fmt == "csl":
        return csl_json(papers)
    raise ValueError(f"unknown citation format {fmt!r}")
