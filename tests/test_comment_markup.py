"""Comment markup (plain text, links, code, bold, italic) always comes out as well-formed, escaped HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import example, given, settings, strategies as st

from dailypapers.urls import safe_http_url
from dailypapers.web.text import LINK_REL, comment_html, title_html

ALLOWED = {"p", "strong", "em", "code", "a"}
VOID = {"br"}
_TAG = re.compile(r"</?(?:p|strong|em|code|a|br)(?:\s[^<>]*)?>")


class _WellFormed(HTMLParser):
    """Fails on any tag but the allowed ones, any attribute but a link's, and any end tag that does not
    close the innermost open tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED | VOID, tag
        if tag == "a":
            attributes = dict(attrs)
            assert set(attributes) == {"href", "rel"} and attributes["rel"] == LINK_REL, attrs
            assert safe_http_url(attributes["href"]) == attributes["href"], attrs
        else:
            assert attrs == [], (tag, attrs)
        if tag == "p":
            assert self.stack == [], "a paragraph inside another element"
        elif tag not in VOID:
            assert self.stack, f"<{tag}> outside a paragraph"
            assert tag not in self.stack, f"<{tag}> inside <{tag}>"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"</{tag}>"
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.stack:
            assert data.strip() == "", f"text outside a paragraph: {data!r}"
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        raise AssertionError(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        raise AssertionError(f"declaration {data!r}")


def check_well_formed(html: str) -> str:
    """Assert ``html`` is well-formed comment HTML; return its text."""
    assert "<" not in _TAG.sub("", html), "a raw < that is not one of our tags"
    parser = _WellFormed()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"left open: {parser.stack}"
    return "".join(parser.text)


PIECES = [
    "**",
    "*",
    "`",
    "``",
    " ",
    "\n",
    "\n\n",
    "a",
    "b",
    "x",
    "_",
    "https://",
    "http://",
    "example.org/",
    "(",
    ")",
    ".",
    "<",
    ">",
    "&",
    '"',
    "'",
    "<script>",
    "</p>",
    "&lt;",
    "javascript:",
    "\x01",
    "é",
    "\r\n",
    "[",
    "]",
    "](",
    "[a](https://example.org/x)",
    "$",
    "$$",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
]
comment_texts = st.one_of(
    st.text(max_size=120),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=40).map("".join),
)


@settings(max_examples=600, deadline=None)
@given(comment_texts)
@example("**a `b** x`")
@example("*a `b* x`")
@example("**a https://x.org/** b**")
@example("`**a` b**")
def test_any_comment_is_well_formed_html_with_only_the_allowed_tags(text):
    html = str(comment_html(text))
    shown = check_well_formed(html)
    if "<" in text:  # each < the writer typed is shown as text, never read as markup
        assert shown.count("<") == text.count("<")


def test_a_code_span_wins_over_bold_that_would_cross_it():
    assert str(comment_html("**a `b** x`")) == "<p>**a <code>b** x</code></p>"
    assert str(comment_html("*a `b* x`")) == "<p>*a <code>b* x</code></p>"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "Nice result, see `eq. 3` and **Table 2**.",
            "<p>Nice result, see <code>eq. 3</code> and <strong>Table 2</strong>.</p>",
        ),
        ("**see `x` now**", "<p><strong>see <code>x</code> now</strong></p>"),
        ("*a **b** c*", "<p><em>a <strong>b</strong> c</em></p>"),
        ("`**not bold** <b>`", "<p><code>**not bold** &lt;b&gt;</code></p>"),
        ("`https://example.org`", "<p><code>https://example.org</code></p>"),
        ("**a *b** c*", "<p>**a *b** c*</p>"),
        ("line one\nline two\n\nnext", "<p>line one<br>\nline two</p><p>next</p>"),
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ],
)
def test_markup(text, html):
    assert str(comment_html(text)) == html


def test_links_are_http_only_and_marked_as_user_content():
    html = str(
        comment_html(
            "see https://example.org/a_(b)). and javascript:alert(1) "
            "and https://user:pw@evil.example/ and **https://example.org/x**"
        )
    )
    assert re.findall(r'<a href="([^"]*)" rel="([^"]*)">', html) == [
        ("https://example.org/a_(b)", "nofollow ugc noopener noreferrer"),
        ("https://example.org/x", "nofollow ugc noopener noreferrer"),
    ]
    assert "<strong><a " in html
    check_well_formed(html)


@pytest.mark.parametrize(
    ("text", "html"),
    [
        (
            "see [the proof](https://example.org/a_(b)?x=1&y=2).",
            '<p>see <a href="https://example.org/a_(b)?x=1&amp;y=2" rel="nofollow ugc noopener noreferrer">'
            "the proof</a>.</p>",
        ),
        (
            "[x](javascript:alert(1)) [y](https://u:p@evil.example/)",
            "<p>[x](javascript:alert(1)) [y](https://u:p@evil.example/)</p>",
        ),
        (
            '[<b>"hi"</b>](https://example.org)',
            '<p><a href="https://example.org" rel="nofollow ugc noopener noreferrer">'
            "&lt;b&gt;&#34;hi&#34;&lt;/b&gt;</a></p>",
        ),
        (
            "**[a](https://example.org)**",
            '<p><strong><a href="https://example.org" rel="nofollow ugc noopener noreferrer">a</a>'
            "</strong></p>",
        ),
        # math stays whole (no emphasis, no line break inside) for KaTeX; its text escaped
        ("$a*b*c < d$ and *e*", "<p>$a*b*c &lt; d$ and <em>e</em></p>"),
        ("$$\\sum_i x_i\nx$$", "<p>$$\\sum_i x_i\nx$$</p>"),
        ("\\(a*b*c\\) \\[x*y*z\\]", "<p>\\(a*b*c\\) \\[x*y*z\\]</p>"),
        ("`$x*y*z$`", "<p><code>$x*y*z$</code></p>"),
    ],
)
def test_links_and_math(text, html):
    assert str(comment_html(text)) == html
    check_well_formed(html)


@pytest.mark.parametrize(
    ("title", "html"),
    [
        ("DR^{3}: Dense Retrieval", "DR<sup>3</sup>: Dense Retrieval"),
        ("VLA^2 and Codebook Size 2^{128}", "VLA<sup>2</sup> and Codebook Size 2<sup>128</sup>"),
        ("360^circ Panorama, x^2.5, a ^2, X^{n}", "360^circ Panorama, x^2.5, a ^2, X^{n}"),  # left as written
        ("$\\mathcal{O}(n^2)$ Sorting <b>", "$\\mathcal{O}(n^2)$ Sorting &lt;b&gt;"),  # math whole for KaTeX
        ("Earn $1 Million, not 1$", "Earn $1 Million, not 1$"),
        ('<script>"x"</script>y^2', "&lt;script&gt;&#34;x&#34;&lt;/script&gt;y<sup>2</sup>"),
    ],
)
def test_title_html(title, html):
    assert str(title_html(title)) == html


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["^", "{", "}", "2", "$", "<", "&", "a", " ", "\\(", "\\)", "x"]), max_size=30
    ).map("".join)
)
def test_a_title_only_ever_gains_superscripts(title):
    html = str(title_html(title))
    assert "<" not in re.sub(r"</?sup>", "", html)
