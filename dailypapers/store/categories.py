"""``paper_categories``: each paper's arXiv categories and their archives (``cs.cl`` and ``cs`` for cs.CL),
lower-cased, one row each, so that "the newest papers in cs.CL" is an index range instead of a look into
every paper's JSON list (migration 0021). A derived table, described by no model (a copy between
databases rebuilds it instead of copying it): the importer writes a paper's rows with the paper, in bulk;
:func:`rebuild` makes them all again from ``papers.categories``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

MAX_LENGTH = 64
TABLE = Table(
    "paper_categories",
    MetaData(),
    Column("category", String(MAX_LENGTH), primary_key=True),
    Column("paper_id", Integer, primary_key=True),
)


def names(categories: Any) -> set[str]:
    """The rows' names for one paper's categories: each lower-cased, and its archive (the part before the
    dot); anything but short text left out."""
    found: set[str] = set()
    if not isinstance(categories, list | tuple):
        return found
    for value in categories:
        if isinstance(value, str) and 1 <= len(value) <= MAX_LENGTH:
            lowered = value.lower()
            found.add(lowered)
            archive = lowered.split(".", 1)[0]
            if "." in lowered and archive:
                found.add(archive)
    return found


def any_exist(session: Session) -> bool:
    """Whether any paper has a category (papers from Hugging Face's daily lists come without): a
    category filter is only offered where it can match."""
    return session.execute(select(TABLE.c.paper_id).limit(1)).first() is not None


def write(connection: Connection, papers: Iterable[tuple[int, Any]], *, replace: Sequence[int] = ()) -> None:
    """The rows of ``papers`` ((id, categories) pairs), after removing those of the ids in ``replace``."""
    if replace:
        ids = list(replace)
        for start in range(0, len(ids), 900):
            connection.execute(delete(TABLE).where(TABLE.c.paper_id.in_(ids[start : start + 900])))
    rows = [{"category": name, "paper_id": paper_id} for paper_id, cats in papers for name in names(cats)]
    if rows:
        connection.execute(insert(TABLE), rows)


def rebuild(connection: Connection) -> int:
    """Make every row again from ``papers.categories`` (after a copy between databases); how many."""
    connection.execute(delete(TABLE))
    done = 0
    last = 0
    while True:
        batch = connection.execute(
            text("SELECT id, categories FROM papers WHERE id > :last ORDER BY id LIMIT 5000"), {"last": last}
        ).all()
        if not batch:
            return done
        pairs = [(row[0], _decoded(row[1])) for row in batch]
        write(connection, pairs)
        done += len(pairs)
        last = batch[-1][0]


def _decoded(value: Any) -> Any:
    if isinstance(value, str):  # SQLite hands JSON back as text
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
