"""User-written text as safe HTML: comments are plain text with links and a little markdown.

Everything is escaped first; then ``http(s)://`` links become ``<a rel="nofollow ugc noopener">``,
```inline code``` becomes ``<code>``, ``**bold**`` and ``*italic*`` become ``<strong>``/``<em>``, blank lines
separate paragraphs and single newlines are line breaks. No other HTML can come out of it.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_CODE = re.compile(r"`([^`\n]{1,500})`")
_BOLD = re.compile(r"\*\*(?=\S)([^*\n]{1,500}?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]{1,500}?)(?<=\S)\*(?![*\w])")


def _inline(text: str) -> str:
    """One paragraph: escaped text with links, code, bold and italic."""
    out: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        trail = ""
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            trail = url[-1] + trail
            url = url[:-1]
        out.append(_format(text[position:match.start()]))
        shown = url if len(url) <= 80 else url[:77] + "…"
        out.append(f'<a href="{escape(url)}" rel="nofollow ugc noopener noreferrer">{escape(shown)}</a>')
        out.append(_format(trail))
        position = match.end()
    out.append(_format(text[position:]))
    return "".join(out).replace("\n", "<br>\n")


def _format(text: str) -> str:
    html = str(escape(text))
    html = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html)
    html = _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", html)
    return _ITALIC.sub(lambda m: f"<em>{m.group(1)}</em>", html)


def comment_html(text: str | None) -> Markup:
    if not text:
        return Markup("")
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    return Markup("".join(f"<p>{_inline(p)}</p>" for p in paragraphs))
