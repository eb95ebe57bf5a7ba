"""arXiv's HTML of a paper (LaTeXML's conversion, ``https://arxiv.org/html/{id}``) → Markdown.

What is kept: the sections' headings, paragraphs and lists, math as TeX (``$…$`` inline, ``$$…$$`` on
its own line, from each formula's ``alttext``), figures and tables as their captions (a table's cells
too, as a Markdown table), footnotes in brackets where they stand, and the references. What goes: the
site's header, navigation and footer, scripts and styles, images, buttons ("Report issue"), the title
and authors block (the page that shows the text has them), and links other than absolute http(s) ones.

The conversion is markdownify's (BeautifulSoup underneath); the math is set aside before and put back
after, so that no Markdown escaping touches the TeX. Pages are hostile input like any other: sizes are
capped on the way in and out, and nothing of the HTML survives as HTML (the Markdown is rendered later
with raw HTML off).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag
from markdownify import MarkdownConverter

MAX_HTML_BYTES = 40 * 1024 * 1024  # arXiv's largest pages (MathML for every formula) run to tens of MB
MAX_MARKDOWN_CHARS = 2_000_000
TRUNCATED = "\n\n*(The text ends here: it was longer than this site keeps.)*\n"
_PRIVATE = re.compile("[\ue000\ue001]")
_TOKEN = re.compile("\ue000(\\d+)\ue001")
_DROP = (
    "script, style, noscript, template, iframe, object, embed, svg, button, form, input, nav, header, "
    "footer, .ltx_page_header, .ltx_page_footer, .ltx_page_logo, .ltx_page_navbar, .package-alerts, "
    ".ltx_authors, .ltx_dates, .ltx_title_document, .ltx_keywords, .ltx_classification, .ltx_note_mark, "
    "#header, #footer, #target-section"
)


class NotAPaper(ValueError):
    """The page is not a converted paper (arXiv answers a paper it has no HTML for with a stub)."""


@dataclass(frozen=True, slots=True)
class Converted:
    """A page's text as Markdown, and whether it was cut at :data:`MAX_MARKDOWN_CHARS`."""

    markdown: str
    truncated: bool


def is_paper(html: str) -> bool:
    """Does ``html`` hold LaTeXML's conversion of a paper (not arXiv's "no HTML for this paper" page)?"""
    return "ltx_document" in html or "ltx_page_content" in html


class _Converter(MarkdownConverter):
    def convert_a(self, el, text, parent_tags):  # type: ignore[no-untyped-def]
        href = el.get("href") or ""
        if not re.match(r"https?://", href, re.IGNORECASE):
            return text  # citations and cross references inside the page: their text only
        return super().convert_a(el, text, parent_tags)


def _tex(math: Tag) -> str:
    """A formula's TeX: its ``alttext``, else its TeX annotation, else its text."""
    tex = math.get("alttext")
    if not isinstance(tex, str) or not tex.strip():
        note = math.find("annotation", attrs={"encoding": "application/x-tex"})
        tex = note.get_text() if note is not None else math.get_text()
    return " ".join(_PRIVATE.sub("", str(tex)).split())


def to_markdown(html: str | bytes) -> Converted:
    """The paper in ``html`` as Markdown. Raises :class:`NotAPaper` for a page without a converted
    paper, ``ValueError`` for one over :data:`MAX_HTML_BYTES`."""
    if isinstance(html, bytes):
        if len(html) > MAX_HTML_BYTES:
            raise ValueError(f"the page is {len(html):,} bytes, over {MAX_HTML_BYTES:,}")
        html = html.decode("utf-8", errors="replace")
    elif len(html) > MAX_HTML_BYTES:
        raise ValueError(f"the page is {len(html):,} characters, over {MAX_HTML_BYTES:,}")
    if not is_paper(html):
        raise NotAPaper("not a converted paper (no LaTeXML document in the page)")
    soup = BeautifulSoup(_PRIVATE.sub("", html), "html.parser")
    root = soup.select_one("article.ltx_document") or soup.select_one(".ltx_page_content") or soup.body
    if root is None:
        raise NotAPaper("no document in the page")
    for el in root.select(_DROP):
        el.decompose()
    for img in root.find_all("img"):
        img.decompose()
    maths: list[str] = []

    def token(tex: str, block: bool) -> str:
        maths.append(f"$${tex}$$" if block else f"${tex}$")
        return f"\ue000{len(maths) - 1}\ue001"

    # numbered equations are tables of formulas and their numbers: one display formula per line
    for table in root.select("table.ltx_equation, table.ltx_equationgroup"):
        block = soup.new_tag("p")
        block.string = "\n\n".join(token(_tex(m), True) for m in table.find_all("math"))
        table.replace_with(block)
    for math in root.find_all("math"):
        math.replace_with(token(_tex(math), math.get("display") == "block"))
    for tag in root.select(".ltx_tag_item"):  # a list's bullets: Markdown has its own
        tag.decompose()
    for tag in root.select(".ltx_tag, .ltx_bibblock"):  # "1" + "Introduction", "Figure 1:" + "A plot"
        tag.append(" ")
    for note in root.select(".ltx_note_outer"):  # a footnote, in brackets where its mark stood
        for tag in note.select(".ltx_tag_note"):
            tag.decompose()
        text = " ".join(note.get_text(" ").split())
        note.replace_with(f" ({text})" if text else "")
    for figure in root.select("figure"):
        caption = figure.find("figcaption")
        text = " ".join(caption.get_text().split()) if caption is not None else ""
        tabular = (
            figure.select_one("table.ltx_tabular") if "ltx_table" in (figure.get("class") or []) else None
        )
        para = soup.new_tag("p")
        if text:
            em = soup.new_tag("em")
            em.string = text
            para.append(em)
        figure.replace_with(para)
        if tabular is not None:
            para.insert_after(tabular)
    for heading in root.select("h6.ltx_title_abstract"):
        heading.name = "h2"
    for item in root.select("li.ltx_bibitem"):
        item.string = " ".join(item.get_text().split())
    markdown = _Converter(
        heading_style="ATX", bullets="-", escape_misc=False, table_infer_header=True
    ).convert_soup(root)
    markdown = _TOKEN.sub(lambda m: maths[int(m.group(1))], markdown)
    markdown = re.sub(r"[ \t]+\n", "\n", markdown)
    markdown = re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"
    if len(markdown) > MAX_MARKDOWN_CHARS:
        cut = markdown.rfind("\n\n", 0, MAX_MARKDOWN_CHARS)
        return Converted(markdown[: cut if cut > 0 else MAX_MARKDOWN_CHARS] + TRUNCATED, True)
    return Converted(markdown, False)


def saved_pages(folder: Path) -> Iterator[tuple[str, Path]]:
    """``(name, path)`` of each saved page in ``folder``: ``2406.12345.html`` (or ``2406.12345v2.html``;
    an old-style id with its slash written as ``_``: ``hep-th_9901001.html``)."""
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith((".html", ".htm")):
            yield path.name.rsplit(".", 1)[0].replace("_", "/"), path
