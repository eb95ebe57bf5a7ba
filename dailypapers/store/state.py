"""The data version: one number that goes up whenever what a page shows changes.

Nobody bumps it by hand. :func:`watch_writes` (installed by :class:`dailypapers.store.db.Database` on its
engine and session factories) looks at every statement that reaches the database, whatever issued it
(an ORM flush, ``insert()``/``update()``/``delete()``, raw ``text()`` SQL, a Core connection), and marks
the transaction when one writes a table of :data:`READER_VISIBLE_TABLES`; just before that transaction
commits, the version is raised once (:func:`bump_version`), inside it, so the new version becomes
visible exactly when the new data does, and a rolled-back write raises nothing. Readers such as the web
response cache (:mod:`dailypapers.web.cache`) compare :func:`current_version` with the version a stored
page was rendered under; because the number lives in the database, any number of worker processes agree
on it without sharing memory. Works the same on SQLite and PostgreSQL (a plain one-row table).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy import Connection, Engine, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from dailypapers.store.models import SiteState

STATE_ID = 1

# What a cached anonymous answer can show (listings, paper pages, search, feeds, comments, public
# collections): a write to one of these tables raises the data version. Not here, because no page shows
# them: logins (user_sessions), rate_counters, login_failures, jobs, schedules, the digest outbox
# (digest_deliveries), subscriptions, ingest_checkpoints, a reader's own marks and interests.
READER_VISIBLE_TABLES = frozenset(
    {
        "papers",
        "paper_versions",
        "linked_repos",
        "linked_repo_counts",
        "paper_texts",
        "paper_texts_fts",
        "papers_fts",
        "daily_entries",
        "organizations",
        "paper_vectors",
        "votes",
        "comments",
        "users",
        "collections",
        "collection_items",
    }
)
# Columns of those tables that no page shows: an UPDATE that sets nothing else raises nothing (a login
# stamps ``last_login_at``; an address or password changes). Anything else set on them counts.
UNSEEN_COLUMNS = {
    "users": frozenset(
        {"last_login_at", "password_hash", "email", "email_verified_at", "pending_email", "hide_marked"}
    ),
}

_CHANGED = "dailypapers.changes_what_readers_see"  # in Connection.info, reset when a transaction begins
_CONNECTION = "dailypapers.write_connection"  # in Session.info: the connection of its transaction
# in Session.info: a copy of another database writes its rows and its data version as they are
KEEP_VERSION = "dailypapers.keep_version"
_NAME = r'(?:"?\w+"?\.)?"?(\w+)"?'  # a table name, maybe quoted, maybe with its schema
_WRITE = re.compile(
    r"\b(?:(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO|MERGE\s+INTO|DELETE\s+FROM(?:\s+ONLY)?"
    r"|TRUNCATE(?:\s+TABLE)?(?:\s+ONLY)?|(UPDATE)(?:\s+OR\s+\w+)?(?:\s+ONLY)?)\s+" + _NAME,
    re.IGNORECASE,
)
_SET = re.compile(r"\s+SET\s+(.*?)(?:\s+(?:WHERE|FROM|RETURNING)\s|$)", re.IGNORECASE | re.DOTALL)
_ASSIGNED = re.compile(r'"?(\w+)"?\s*=')
_VERB = re.compile(r"\s*(\w+)")
_WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "TRUNCATE"})


# Longest statement whose answer is kept: the same few statements come again and again (each batch of an
# import, each page), while a long multi-row INSERT is rarely the same twice.
_KEPT_SQL_LENGTH = 4096


def changes_what_readers_see(sql: str) -> bool:
    """Whether one SQL statement writes what a page may show: an INSERT, UPDATE or DELETE (also in a
    ``WITH`` clause) on a table of :data:`READER_VISIBLE_TABLES`, unless it only sets
    :data:`UNSEEN_COLUMNS`. Reads, and writes to other tables, do not. The answer for a statement of
    up to 4,096 characters is kept (the last 1,024 of them), as statements repeat."""
    if len(sql) > _KEPT_SQL_LENGTH:
        return _changes_what_readers_see(sql)
    return _kept_answers(sql)


def _changes_what_readers_see(sql: str) -> bool:
    verb = _VERB.match(sql)
    if verb is None:
        return False
    word = verb.group(1).upper()
    if word == "WITH":
        matches = list(_WRITE.finditer(sql, verb.end()))
    elif word in _WRITE_VERBS:
        match = _WRITE.match(sql, verb.start(1))
        matches = [match] if match else []
    else:
        return False
    for match in matches:
        table = match.group(2).lower()
        if table not in READER_VISIBLE_TABLES:
            continue
        unseen = UNSEEN_COLUMNS.get(table)
        if unseen and match.group(1):  # an UPDATE: which columns does it set?
            assignments = _SET.match(sql, match.end())
            columns = {c.lower() for c in _ASSIGNED.findall(assignments.group(1))} if assignments else None
            if columns is not None and columns <= unseen:
                continue
        return True
    return False


_kept_answers = functools.lru_cache(maxsize=1024)(_changes_what_readers_see)


# --- the sessions version: what may end a login ----------------------------------------------------

# Writes that may end a session or change what it opens: deleting sessions or accounts, changing an
# account (its role, name, password) or a session (but its last visit). Logging in inserts: nothing kept
# can be wrong after an insert.
_ACCOUNT_WRITE = re.compile(
    r'^\s*(?:DELETE\s+FROM|(UPDATE))\s+"?(users|user_sessions)"?(?:\s(.*)|;?\s*$)', re.I | re.S
)
_ACCOUNT_SET = re.compile(r"SET\s+(.*?)(?:\s+(?:WHERE|FROM|RETURNING)\s|$)", re.I | re.S)
_ACCOUNT_UNSEEN = {"users": frozenset({"last_login_at"}), "user_sessions": frozenset({"last_seen_at"})}
_ENDS = "dailypapers.may_end_sessions"  # in Connection.info while its transaction has such a write
_ONLY_EXPIRED = "dailypapers_only_expired_sessions"
# the execution options of a statement that deletes expired sessions only (no kept login is wrong after)
ONLY_EXPIRED = {_ONLY_EXPIRED: True}


@functools.lru_cache(maxsize=256)
def may_end_sessions(sql: str) -> bool:
    """Whether a statement may end a session or change the account it opens: a DELETE from ``users`` or
    ``user_sessions``, or an UPDATE of them that sets more than the last login or visit."""
    match = _ACCOUNT_WRITE.match(sql)
    if match is None:
        return False
    if match.group(1):  # an UPDATE: of which columns?
        assigned = _ACCOUNT_SET.match((match.group(3) or "").lstrip())
        columns = {c.lower() for c in re.findall(r'"?(\w+)"?\s*=', assigned.group(1))} if assigned else None
        if columns and columns <= _ACCOUNT_UNSEEN[match.group(2).lower()]:
            return False
    return True


def ends_sessions(statement: str, context: Any) -> bool:
    """:func:`may_end_sessions`, unless the statement runs with :data:`ONLY_EXPIRED`."""
    if context is not None and context.execution_options.get(_ONLY_EXPIRED):
        return False
    return may_end_sessions(statement)


def bump_version(connection: Session | Connection, *, data: bool = True, sessions: bool = False) -> None:
    """Raise the data version (``data``) and the sessions version (``sessions``) by one, inside the
    caller's transaction (never commits). Called by the hooks of :func:`watch_writes` before a
    transaction that changed what readers see, or may have ended a login, commits."""
    table = SiteState.__table__
    values: dict[str, Any] = {}
    if data:
        values["version"] = table.c.version + 1
    if sessions:
        values["sessions_version"] = table.c.sessions_version + 1
    if not values:
        return
    result = connection.execute(update(table).where(table.c.id == STATE_ID).values(**values))
    if result.rowcount == 0:  # the row is missing (deleted by hand): recreate it
        connection.execute(insert(table).values(id=STATE_ID, version=1, sessions_version=1))


def current_version(session: Session) -> int:
    """The data version now (0 before anything was ever written)."""
    return session.scalar(select(SiteState.version).where(SiteState.id == STATE_ID)) or 0


def sessions_version(session: Session) -> int:
    """The sessions version now (see :func:`may_end_sessions`)."""
    return session.scalar(select(SiteState.sessions_version).where(SiteState.id == STATE_ID)) or 0


def bump_if_changed(connection: Connection) -> bool:
    """Before a commit: raise the data version once if this transaction of ``connection`` wrote what
    readers see, and the sessions version once if it may have ended a login; returns whether the data
    version went up."""
    changed = connection.info.pop(_CHANGED, False)
    ends = connection.info.pop(_ENDS, False)
    if changed or ends:
        bump_version(connection, data=changed, sessions=ends)
    return changed


def watch_writes(engine: Engine, *session_factories: sessionmaker[Session]) -> None:
    """Make every transaction on ``engine`` that writes what readers see raise the data version once,
    just before it commits: statements are watched on the engine, and the sessions of
    ``session_factories`` bump before their commit (a Core connection calls :func:`bump_if_changed`)."""

    @event.listens_for(engine, "begin")
    def _new_transaction(connection: Connection) -> None:
        connection.info.pop(_CHANGED, None)
        connection.info.pop(_ENDS, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _look(
        connection: Connection, _cursor: Any, statement: str, _params: Any, context: Any, *_args: Any
    ) -> None:
        if not connection.info.get(_CHANGED) and changes_what_readers_see(statement):
            connection.info[_CHANGED] = True
        if not connection.info.get(_ENDS) and ends_sessions(statement, context):
            connection.info[_ENDS] = True

    for factory in session_factories:
        event.listen(factory, "after_begin", _remember_connection)
        event.listen(factory, "before_commit", _bump_before_commit)
        event.listen(factory, "after_transaction_end", _forget_connection)


def _remember_connection(session: Session, _transaction: Any, connection: Connection) -> None:
    session.info[_CONNECTION] = connection


def _forget_connection(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_CONNECTION, None)


def _bump_before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the outer transaction bumps when it commits
        return
    if session.info.get(KEEP_VERSION):
        return
    session.flush()  # what is still pending is written now, so that it is seen
    connection = session.info.get(_CONNECTION)
    if connection is not None:
        bump_if_changed(connection)
