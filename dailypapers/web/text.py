"""User-written text as safe HTML: comments are plain text with links and a little markdown.

A paragraph is read in three steps, each on the raw text:

1. ```inline code``` spans: their contents are shown as they are (no links, no bold inside);
2. ``http(s)://`` links outside code (only those :func:`~dailypapers.urls.safe_http_url` accepts) become
   ``<a rel="nofollow ugc noopener noreferrer">``;
3. ``**bold**`` and ``*italic*`` around the rest; they may hold whole code spans and links, never half.

Every span is a node of a tree that is then written out, escaping all text, so the HTML is always well
formed: each tag closed, nothing overlapping. Blank lines separate paragraphs and single newlines are
line breaks. No other HTML can come out of it: ``p``, ``br``, ``a``, ``code``, ``strong`` and ``em``.
"""

from __future__ import annotations

import difflib

import re

from markupsafe import Markup, escape

from dailypapers.urls import safe_http_url

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\"*"
_CODE = re.compile(r"`([^`\n]{1,500})`")
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


def _leaves(text: str) -> list[_Span]:
    """Code spans, then the links outside them."""
    leaves: list[_Span] = [
        (m.start(), m.end(), "code", f"<code>{escape(m.group(1))}</code>") for m in _CODE.finditer(text)
    ]
    codes = [(start, end) for start, end, _, _ in leaves]
    k = 0
    for match in _URL.finditer(text):
        while k < len(codes) and codes[k][1] <= match.start():
            k += 1
        if k < len(codes) and codes[k][0] <= match.start():
            continue  # inside a code span
        end = _link_end(match)
        url = safe_http_url(text[match.start() : end])
        if url is None:
            continue
        shown = url if len(url) <= 80 else url[:77] + "…"
        leaves.append(
            (match.start(), end, "a", f'<a href="{escape(url)}" rel="{LINK_REL}">{escape(shown)}</a>')
        )
    return leaves


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
