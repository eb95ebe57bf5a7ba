"""People's names, compared the one way every room uses (author pages, co-author scores).

:func:`author_key` folds accents, case, dots, hyphens and spacing: "Zoë Ångström", "zoe angstrom" and
"Zoe  Ang-strom" are one key. Nothing more: initials are not expanded ("J. Smith" and "John Smith" stay
two keys, as they may be two people) and the order of the words counts ("Wei Huang" is not "Huang Wei").
:func:`initial_keys` gives the keys a full name takes when its given names are written as initials; the
author pages merge those only where the papers show it is the same person (a co-author in common).
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


def initial_keys(key: str) -> tuple[str, ...]:
    """The keys of ``key`` (an :func:`author_key`) with its given names as initials, the surname last:
    "john ronald smith" -> ("j r smith", "j smith"); "john smith" -> ("j smith",). Nothing for one word
    or for a name already written with initials (a one-letter given name)."""
    words = key.split()
    if len(words) < 2 or any(len(w) == 1 for w in words[:-1]):
        return ()
    given, surname = words[:-1], words[-1]
    forms = [" ".join([*(w[0] for w in given), surname])]
    if len(given) > 1:
        forms.append(f"{given[0][0]} {surname}")
    return tuple(forms)


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
