"""Which outside links may become an ``href`` or ``src``: absolute ``http``/``https`` URLs with a host.

Links come from other people's data (Hugging Face records, another instance's API, arXiv metadata), so
a ``projectPage`` may be ``javascript:alert(1)``, ``data:text/html,…``, ``//evil.example``, a relative
path, or a disguise such as ``" JaVa\\tscript:…"`` that a browser still runs. :func:`safe_http_url` is
the one check: the importers store only what it accepts, and the pages, feeds, mails and the JSON API
show only what it accepts, so rows written before the check are harmless too.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MAX_URL_LENGTH", "safe_href", "safe_http_url"]

MAX_URL_LENGTH = 2048
_SCHEME = re.compile(r"https?://", re.IGNORECASE)
# Whitespace, ASCII control characters, and the backslash (a browser reads it as ``/``, Python does not).
_BAD_ASCII = re.compile(r"[\x00-\x20\x7f\\]")
# Control, format (zero-width, bidi overrides), surrogate and private-use characters, and every kind of space.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp"})
# A host name: dot-separated labels of letters, digits, ``-`` and ``_`` (any script), an optional final dot.
_HOST_LABEL = re.compile(r"\w+(?:-+\w+)*")
# The start of the usual link, up to its path, query or fragment: ASCII host labels, a port of at most
# four digits.
_PLAIN_START = re.compile(
    r"(?i:https?)://\w+(?:-+\w+)*(?:\.\w+(?:-+\w+)*)*\.?(?::[0-9]{1,4})?(?=[/?#]|\Z)", re.ASCII
)


def _plain(url: str) -> bool:
    """Whether ``url`` is the usual link, which the full check keeps as it is: printable ASCII without
    spaces or backslashes, starting as :data:`_PLAIN_START` says. Much faster than the full check."""
    return (
        url.isascii()
        and url.isprintable()
        and " " not in url
        and "\\" not in url
        and _PLAIN_START.match(url) is not None
    )


def _clean_text(url: str) -> bool:
    if _BAD_ASCII.search(url):
        return False
    return url.isascii() or all(
        unicodedata.category(ch) not in _BAD_CATEGORIES for ch in url if not ch.isascii()
    )


def _valid_host(netloc: str, hostname: str | None) -> bool:
    if not hostname or "@" in netloc:
        return False
    if netloc.startswith("["):
        try:
            return isinstance(ipaddress.ip_address(hostname), ipaddress.IPv6Address)
        except ValueError:
            return False
    labels = hostname[:-1].split(".") if hostname.endswith(".") else hostname.split(".")
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def safe_http_url(value: Any) -> str | None:
    """``value`` if it is a link that is safe to put in an ``href`` or ``src``, else ``None``.

    Safe means: text of at most :data:`MAX_URL_LENGTH` characters, starting with ``http://`` or
    ``https://`` (any case), with a host name or IP address and no user name or password, a valid port
    if any, and no whitespace, control or invisible characters or backslashes anywhere (quotes and angle
    brackets may stay: every place that shows a link escapes it). Leading and trailing whitespace is
    dropped. Never raises, whatever ``value`` is.

    >>> safe_http_url(" https://example.org/page?q=1 ")
    'https://example.org/page?q=1'
    >>> safe_http_url("JaVa\\tscript:alert(1)") is None, safe_http_url("//evil.example") is None
    (True, True)
    """
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH + 64:
        return None
    return _checked(value)


@functools.lru_cache(maxsize=8192)
def _checked(value: str) -> str | None:
    """The check itself, on text; cached, as imports and pages see the same links again and again."""
    url = value.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        return None
    if _plain(url):  # most links an import sees are new to the cache
        return url
    if not _SCHEME.match(url) or not _clean_text(url):
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number in range raises ValueError
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not _valid_host(parts.netloc, parts.hostname):
        return None
    return url


def safe_href(value: Any) -> str:
    """:func:`safe_http_url` for templates (the ``safe_url`` filter): the link, or ``""`` when it is not
    safe, so that ``{% if p.code_url|safe_url %}<a href="{{ p.code_url|safe_url }}">`` shows no link."""
    return safe_http_url(value) or ""
