"""People's names, compared the one way every room uses (author pages, co-author scores).

:func:`author_key` folds accents, case, dots, hyphens and spacing: "Zoë Ångström", "zoe angstrom" and
"Zoe  Ang-strom" are one key. Nothing more: initials are not expanded ("J. Smith" and "John Smith" stay
two people, as they may be) and the order of the words counts ("Wei Huang" is not "Huang Wei").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any


@functools.lru_cache(maxsize=262_144)
def author_key(name: str) -> str:
    """``name`` folded for comparison: accents stripped, lower case, dots and hyphens out, spaces single."""
    folded = unicodedata.normalize("NFKD", name.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(folded.replace(".", " ").replace("-", "").split())


def name_words(name: str) -> str:
    """``name`` as the words a full-text index holds of it (accents kept, the index folds them where it
    can): lower case, dots and hyphens as spaces ("Jean-Luc Picard" -> "jean luc picard")."""
    return " ".join(name.lower().replace(".", " ").replace("-", " ").split())


_HANDLE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?")


def hf_handle(value: Any) -> str | None:
    """``value`` if it is a plausible Hugging Face account name (letters, digits, ``-``, ``_``, ``.``; at
    most 96 characters; no leading dot or hyphen), else ``None``: a handle goes into a link."""
    if isinstance(value, str) and _HANDLE.fullmatch(value) and ".." not in value:
        return value
    return None
