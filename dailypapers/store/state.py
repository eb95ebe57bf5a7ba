"""The data version: one number that goes up whenever what a page shows changes.

Every writer that changes papers, entries, organizations, votes or comments calls :func:`bump_version`
inside its own transaction (the importer does it once per batch that changed anything), so the new
version becomes visible exactly when the new data does. Readers such as the web response cache
(:mod:`dailypapers.web.cache`) compare :func:`current_version` with the version a stored page was
rendered under; because the number lives in the database, any number of worker processes agree on it
without sharing memory. Works the same on SQLite and PostgreSQL (a plain one-row table).
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from dailypapers.store.models import SiteState

STATE_ID = 1


def bump_version(session: Session) -> None:
    """Raise the data version by one, inside the caller's transaction (never commits)."""
    table = SiteState.__table__
    result = session.execute(
        update(table).where(table.c.id == STATE_ID).values(version=table.c.version + 1)
    )
    if result.rowcount == 0:  # the row is missing (deleted by hand): recreate it
        session.execute(insert(table).values(id=STATE_ID, version=1))


def current_version(session: Session) -> int:
    """The data version now (0 before anything was ever written)."""
    return session.scalar(select(SiteState.version).where(SiteState.id == STATE_ID)) or 0
