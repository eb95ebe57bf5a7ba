r"""User-written text as safe HTML: comments are plain text with links and a little markdown.

A paragraph is read in four steps, each on the raw text:

1. ```inline code``` spans: their contents are shown as they are (no links, no bold inside);
2. links outside code, written ``[text](https://…)`` or as a bare ``http(s)://`` address (only those
   :func:`~dailypapers.urls.safe_http_url` accepts) become ``<a rel="nofollow ugc noopener noreferrer">``;
3. math outside those, ``$…$``, ``$$…$$``, ``\(…\)`` or ``\[…\]``: kept whole as escaped text, with no
   markup inside, for KaTeX to typeset in the browser as it does abstracts (``.tex``; KaTeX's own
   safety rules: no ``\href``, no HTML);
4. ``**bold**`` and ``*italic*`` around the rest; they may hold whole code spans, links and math, never half.

Every span is a node of a tree that is then written out, escaping all text, so the HTML is always well
formed: each tag closed, nothing overlapping. Blank lines separate paragraphs and single newlines are
line breaks (but inside math). No other HTML can come out of it: ``p``, ``br``, ``a``, ``code``,
``strong`` and ``em``.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from dailypapers.ingest.hf_papers import repo_id
from dailypapers.urls import safe_http_url

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\"*"
_CODE = re.compile(r"`([^`\n]{1,500})`")
# [text](url): the text on one line, no brackets; the url may hold one level of balanced parentheses
_MD_LINK = re.compile(
    r"\[([^\[\]\n]{1,300})\]\((https?://[^\s()<>\"'`]{1,2000}(?:\([^\s()<>\"'`]*\)[^\s()<>\"'`]*)*)\)", re.I
)
_MATH = re.compile(r"\$\$[^$]{1,2000}?\$\$|\\\[[\s\S]{1,2000}?\\\]|\\\([\s\S]{1,500}?\\\)|\$[^$\n]{1,500}?\$")
_BOLD = re.compile(r"\*\*(?=\S)([^*\n]{1,500}?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]{1,500}?)(?<=\S)\*(?![*\w])")
# Stands in for code, links and bold markers while emphasis is matched: not a space, a word character,
# a ``*`` or a newline, so a span can hold them whole but never start, end or split inside them.
_MASK = "\x01"
LINK_REL = "nofollow ugc noopener noreferrer"

# A span of a paragraph: (start, end, tag, inner) where ``inner`` is the HTML of a code span or link
# (a leaf) or the width of the ``*`` markers of bold and italic.
_Span = tuple[int, int, str, "str | int"]


def _link_end(match: re.Match[str]) -> int:
    """Where a found link really ends: trailing punctuation is the sentence's, unless it closes a
    parenthesis the link opened."""
    url = match.group(0)
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return match.start() + len(url)


def _link(url: str, shown: str) -> str:
    return f'<a href="{escape(url)}" rel="{LINK_REL}">{escape(shown)}</a>'


class _Taken:
    """The leaves found so far, sorted: a new one is kept only where it overlaps none of them."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.spans: list[_Span] = []

    def free(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start)
        if i > 0 and self.spans[i - 1][1] > start:
            return False
        return i == len(self.spans) or self.spans[i][0] >= end

    def add(self, span: _Span) -> None:
        i = bisect.bisect_right(self.starts, span[0])
        self.starts.insert(i, span[0])
        self.spans.insert(i, span)


def _leaves(text: str) -> list[_Span]:
    """Code spans, then the links outside them ([text](url), then bare), then the math outside both."""
    taken = _Taken()
    for m in _CODE.finditer(text):
        taken.add((m.start(), m.end(), "code", f"<code>{escape(m.group(1))}</code>"))
    for m in _MD_LINK.finditer(text):
        url = safe_http_url(m.group(2))
        if url is not None and taken.free(m.start(), m.end()):
            taken.add((m.start(), m.end(), "a", _link(url, m.group(1))))
    for match in _URL.finditer(text):
        end = _link_end(match)
        if not taken.free(match.start(), end):
            continue  # inside a code span or a [text](url) link
        url = safe_http_url(text[match.start() : end])
        if url is None:
            continue
        taken.add((match.start(), end, "a", _link(url, url if len(url) <= 80 else url[:77] + "…")))
    for m in _MATH.finditer(text):
        if taken.free(m.start(), m.end()):
            taken.add((m.start(), m.end(), "math", str(escape(m.group(0)))))
    return taken.spans


def _masked(text: str, spans: list[_Span]) -> str:
    chars = list(text)
    for start, end, _, _ in spans:
        chars[start:end] = _MASK * (end - start)
    return "".join(chars)


def _emphasis(text: str, leaves: list[_Span]) -> list[_Span]:
    """Bold, then italic, matched with code and links masked (and, for italic, the bold markers)."""
    masked = _masked(text, leaves)
    bold: list[_Span] = [(m.start(), m.end(), "strong", 2) for m in _BOLD.finditer(masked)]
    markers = [(s, s + 2, "", 0) for s, _, _, _ in bold] + [(e - 2, e, "", 0) for _, e, _, _ in bold]
    masked = _masked(masked, markers)
    return bold + [(m.start(), m.end(), "em", 1) for m in _ITALIC.finditer(masked)]


def _nested(spans: list[_Span]) -> list[_Span]:
    """The spans sorted, keeping only those that fit inside the content of every span around them."""
    kept: list[_Span] = []
    stack: list[tuple[int, int]] = []  # content (start, end) of the open spans
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        start, end, _, inner = span
        while stack and stack[-1][1] <= start:
            stack.pop()
        if stack and not (stack[-1][0] <= start and end <= stack[-1][1]):
            continue  # it would cross a span around it: its markers stay plain text
        kept.append(span)
        if isinstance(inner, int):
            stack.append((start + inner, end - inner))
        else:
            stack.append((end, end))  # a leaf holds nothing
    return kept


def _plain(text: str) -> str:
    return str(escape(text)).replace("\n", "<br>\n")


def _write(text: str, spans: list[_Span], start: int, end: int) -> str:
    """HTML of ``text[start:end]``; ``spans`` (sorted, nested) all lie inside that range."""
    out: list[str] = []
    position, i = start, 0
    while i < len(spans):
        s, e, tag, inner = spans[i]
        j = i + 1
        while j < len(spans) and spans[j][0] < e:
            j += 1
        out.append(_plain(text[position:s]))
        if isinstance(inner, int):
            out.append(f"<{tag}>{_write(text, spans[i + 1 : j], s + inner, e - inner)}</{tag}>")
        else:
            out.append(inner)
        position, i = e, j
    out.append(_plain(text[position:end]))
    return "".join(out)


def _inline(text: str) -> str:
    """One paragraph: escaped text with code, links, bold and italic."""
    leaves = _leaves(text)
    return _write(text, _nested(leaves + _emphasis(text, leaves)), 0, len(text))


def comment_html(text: str | None) -> Markup:
    """A comment as HTML paragraphs (see the module's docstring for what is recognised)."""
    if not text:
        return Markup("")
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    return Markup("".join(f"<p>{_inline(p)}</p>" for p in paragraphs))  # nosec B704 # _inline escapes every text


def word_diff(before: str | None, after: str | None) -> Markup:
    """``after`` against ``before``, word by word: removed words in ``<del>``, added ones in ``<ins>``,
    every word escaped (both are imported text)."""
    old, new = (before or "").split(), (after or "").split()
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(str(escape(" ".join(old[i1:i2]))))
            continue
        if i2 > i1:
            out.append(f"<del>{escape(' '.join(old[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{escape(' '.join(new[j1:j2]))}</ins>")
    return Markup(" ".join(out))  # nosec B704 # every piece escaped above


def hf_discussion_url(arxiv_id: str) -> str:
    """The paper's discussion on Hugging Face (where the comment counts of its listings come from)."""
    return f"https://huggingface.co/papers/{quote(str(arxiv_id), safe='./')}#community"


HF_REPO_PATHS = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def hf_repo_url(repo: Any) -> str | None:
    """The Hugging Face page of a stored linked repository (a model, dataset or Space), or None for an
    id that is not a valid repository id (checked again where it is shown)."""
    rid = repo_id(getattr(repo, "repo_id", None))
    prefix = HF_REPO_PATHS.get(getattr(repo, "kind", ""))
    if rid is None or prefix is None:
        return None
    return f"https://huggingface.co/{prefix}{rid}"


def hf_repos_url(arxiv_id: str, kind: str) -> str:
    """Hugging Face's list of every model, dataset or Space that cites the paper."""
    plural = {"model": "models", "dataset": "datasets", "space": "spaces"}[kind]
    return f"https://huggingface.co/{plural}?other=arxiv:{quote(str(arxiv_id), safe='./')}"


# Math a title carries: $$…$$, $…$ (on one line), \(…\) or \[…\]; left whole for KaTeX in the browser.
_TITLE_MATH = re.compile(r"\$\$[^$]+?\$\$|\$[^$\n]+?\$|\\\(.+?\\\)|\\\[.+?\\\]")
# A superscript written without math delimiters, as Hugging Face spells titles whose arXiv form was
# ``DR$^{3}$`` (it drops the dollars): a number after a letter, digit or bracket, bare or in braces.
_BARE_POWER = re.compile(r"(?<=[\w)\]])\^(?:\{(\d{1,4})\}|(\d{1,4})(?![\w.]))")


def title_html(title: str | None) -> Markup:
    """A paper's title as HTML: escaped, its delimited math kept whole for KaTeX (the element has
    ``class="tex"``), and, outside math, a bare ``X^2`` or ``DR^{3}`` written as ``X<sup>2</sup>``."""
    text = title or ""
    out: list[str] = []
    position = 0
    for m in _TITLE_MATH.finditer(text):
        out.append(_bare_powers(text[position : m.start()]))
        out.append(str(escape(m.group(0))))
        position = m.end()
    out.append(_bare_powers(text[position:]))
    return Markup("".join(out))  # nosec B704 # every piece escaped; only <sup> of digits added


def _bare_powers(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for m in _BARE_POWER.finditer(text):
        pieces.append(str(escape(text[position : m.start()])))
        pieces.append(f"<sup>{m.group(1) or m.group(2)}</sup>")
        position = m.end()
    pieces.append(str(escape(text[position:])))
    return "".join(pieces)


# Math in a paper's Markdown: $$…$$ (display) or $…$ (inline, on one line), set aside before the
# Markdown is rendered (so that no _ or * in TeX becomes emphasis) and put back as escaped text for KaTeX.
_MD_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.DOTALL)


@functools.cache
def _markdown_renderer() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def markdown_html(text: str) -> Markup:
    """A paper's Markdown (its full text) as HTML: CommonMark with tables, raw HTML off (any markup in
    the text shows as text), no images, links only where markdown-it's check allows them (never
    ``javascript:``, ``vbscript:``, ``file:``, nor ``data:`` but images); math left whole, escaped, for
    KaTeX in the browser."""
    maths: list[str] = []

    def hold(match: re.Match[str]) -> str:
        maths.append(match.group(0))
        return f"\ue000{len(maths) - 1}\ue001"

    held = _MD_MATH.sub(hold, text.replace("\ue000", "").replace("\ue001", ""))
    html = _markdown_renderer().render(held)
    html = re.sub("\ue000(\\d+)\ue001", lambda m: str(escape(maths[int(m.group(1))])), html)
    html = html.replace("<a href=", '<a rel="noopener noreferrer nofollow" href=')
    return Markup(html)  # nosec B704 # rendered with raw HTML off; the math put back escaped
