"""Slow, obviously-correct reference versions of hot-path functions, to test the fast ones against."""

import re

_WS = re.compile(r"\s+")
_PARA = re.compile(r"\n\s*\n")


def regex_clean_title(text):
    return _WS.sub(" ", text or "").strip()


def regex_clean_abstract(text):
    if text is None:
        return None
    paragraphs = (_WS.sub(" ", p).strip() for p in _PARA.split(text.strip()))
    return "\n\n".join(p for p in paragraphs if p) or None
