"""The one import pipeline: a stream of records from any source → idempotent upserts, in batches.

Every source (``dailypapers.ingest.*``) yields records; :class:`Importer` groups them into batches and
writes each batch in one transaction: look the batch's papers up by arXiv id, merge each record into
what is stored (:func:`merge_paper`, :func:`merge_entry`), insert what is new, update what changed,
leave the rest alone. Running the same import twice changes nothing. A :class:`Checkpoint` record is
saved in the same transaction as the records before it, so a killed harvest resumes where it stopped.

Merge rules, in short: an unknown value (``None``, ``[]``, ``""``) never erases a known one; a record
that is not newer than what is stored (higher arXiv version, else later date) only fills blanks; counts
(upvotes, stars) never go down. Merging a record a second time never changes a row.

Only links :func:`~dailypapers.urls.safe_http_url` accepts are stored: any other (``javascript:``,
``data:``, relative, …) is dropped from its record, which is still imported, and counted in
``unsafe_links``; a stored link that is not safe counts as unknown, so the next record's link replaces it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from dailypapers.ingest.records import (
    Checkpoint,
    DailyEntryRecord,
    DeletedRecord,
    PaperRecord,
    Record,
    Rejected,
    drop_unsafe_links,
)
from dailypapers.store import categories
from dailypapers.store.db import Database
from dailypapers.store.models import (
    DailyEntry,
    IngestCheckpoint,
    LinkedRepo,
    LinkedRepoCount,
    Organization,
    Paper,
    PaperVersion,
    utcnow,
)
from dailypapers.summaries import Summary
from dailypapers.urls import safe_http_url

# Bibliographic fields: only a record of the same or a newer arXiv version may overwrite them.
BIBLIO_FIELDS = (
    "title",
    "abstract",
    "authors",
    "categories",
    "primary_category",
    "published_at",
    "updated_at",
    "comments",
    "journal_ref",
    "doi",
    "license",
)
# Fields a source knows first-hand (Hugging Face): the newest capture wins.
LIVE_FIELDS = ("ai_summary", "ai_keywords", "author_users")
# Counts never go down, so that importing old and new captures in any order ends the same.
COUNT_FIELDS = ("upvotes", "github_stars")
# Links: the first known one stays, unless the record is a first-hand capture (it carries stars).
LINK_FIELDS = ("code_url", "project_page")
PAPER_COLUMNS = (
    "id",
    "arxiv_id",
    "version",
    *BIBLIO_FIELDS,
    *LIVE_FIELDS,
    *LINK_FIELDS,
    *COUNT_FIELDS,
    "organization_id",
    "withdrawn",
)
ENTRY_FIELDS = (
    "submitted_at",
    "submitter_name",
    "submitter_fullname",
    "submitter_avatar_url",
    "upvotes",
    "num_comments",
    "thumbnail",
    "media_urls",
    "source",
)
ENTRY_COLUMNS = ("id", "paper_id", "day", *ENTRY_FIELDS)
MAX_KEPT_REJECTIONS = 1000


def _known(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


@dataclass
class ImportSummary(Summary):
    """Counts of one import: every record read is new, updated, unchanged, rejected or deleted;
    ``unsafe_links`` counts the links dropped from the records (see :func:`drop_unsafe_links`)."""

    UNREPORTED = ("rejections", "checkpoint")

    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0
    unsafe_links: int = 0
    rejections: list[Rejected] = field(default_factory=list)
    checkpoint: Checkpoint | None = None


_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)


def _is_newer(rec: PaperRecord, row: dict[str, Any]) -> bool:
    """Is ``rec`` a newer description of the paper than the stored ``row``: a higher arXiv version, or
    the same version and a later date? On a tie the stored text stays (the record only fills blanks),
    so running an import again never rewrites a row."""
    mine = (rec.version or 0, rec.updated_at or rec.published_at or _EPOCH)
    theirs = (row["version"] or 0, row["updated_at"] or row["published_at"] or _EPOCH)
    return mine > theirs


def merge_paper(
    current: dict[str, Any] | None, rec: PaperRecord, organization_id: int | None
) -> dict[str, Any]:
    """The stored row after ``rec`` is merged into ``current`` (``None``: not stored yet). Pure."""
    row: dict[str, Any] = (
        dict(current)
        if current
        else {
            "arxiv_id": rec.arxiv_id,
            "version": None,
            "title": "",
            "abstract": None,
            "authors": [],
            "categories": [],
            "primary_category": None,
            "published_at": None,
            "updated_at": None,
            "comments": None,
            "journal_ref": None,
            "doi": None,
            "license": None,
            "github_stars": None,
            "ai_summary": None,
            "ai_keywords": [],
            "author_users": None,
            "code_url": None,
            "project_page": None,
            "upvotes": 0,
            "organization_id": None,
            "withdrawn": False,
        }
    )
    older = current is not None and not _is_newer(rec, row)
    for name in BIBLIO_FIELDS:
        value = getattr(rec, name)
        if _known(value) and (not older or not _known(row[name])):
            row[name] = value
    for name in LIVE_FIELDS:
        value = getattr(rec, name)
        if _known(value):
            row[name] = value
    first_hand = rec.github_stars is not None
    for name in LINK_FIELDS:
        value = getattr(rec, name)
        if _known(value) and (first_hand or safe_http_url(row[name]) is None):
            row[name] = value
    if rec.version is not None and rec.version > (row["version"] or 0):
        row["version"] = rec.version
    for name in COUNT_FIELDS:
        value = getattr(rec, name)
        if value is not None and (row[name] is None or value > row[name]):
            row[name] = value
    if organization_id is not None:
        row["organization_id"] = organization_id
    row["withdrawn"] = False
    return row


def merge_entry(current: dict[str, Any] | None, rec: DailyEntryRecord, paper_id: int) -> dict[str, Any]:
    """The stored daily entry after ``rec`` is merged into ``current``. Pure."""
    row: dict[str, Any] = (
        dict(current)
        if current
        else {
            "paper_id": paper_id,
            "day": rec.day,
            "submitted_at": None,
            "submitter_name": None,
            "submitter_fullname": None,
            "submitter_avatar_url": None,
            "upvotes": 0,
            "num_comments": 0,
            "thumbnail": None,
            "media_urls": [],
            "source": rec.source,
        }
    )
    values = {
        "submitted_at": rec.submitted_at,
        "submitter_name": rec.submitter.name if rec.submitter else None,
        "submitter_fullname": rec.submitter.fullname if rec.submitter else None,
        "submitter_avatar_url": rec.submitter.avatar_url if rec.submitter else None,
        "upvotes": rec.upvotes,
        "num_comments": rec.num_comments,
        "thumbnail": rec.thumbnail,
        "media_urls": rec.media_urls,
    }
    for name, value in values.items():
        if _known(value):
            row[name] = value
    return row


class Importer:
    """Writes a stream of records into the database in batches of ``batch_size``, one transaction each.

    ``on_progress(n)`` is called after each batch with the number of records it held;
    ``on_reject(rejected)`` for each record that could not be read.
    """

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 2000,
        on_progress: Callable[[int], None] | None = None,
        on_reject: Callable[[Rejected], None] | None = None,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.on_progress = on_progress
        self.on_reject = on_reject
        self.summary = ImportSummary()

    def run(self, records: Iterable[Record]) -> ImportSummary:
        """Import every record; returns the counts. If the source itself fails part-way (a network
        error, say), what it yielded so far is still written before the error propagates, and the
        counts so far stay readable in :attr:`summary`."""
        self.summary = summary = ImportSummary()
        batch: list[PaperRecord | DailyEntryRecord | DeletedRecord] = []
        iterator = iter(records)
        while True:
            try:
                rec = next(iterator)
            except StopIteration:
                break
            except BaseException:
                self._flush(batch, summary)
                raise
            if isinstance(rec, Checkpoint):
                self._flush(batch, summary, checkpoint=rec)
                batch = []
                continue
            summary.read += 1
            if isinstance(rec, Rejected):
                summary.rejected += 1
                if len(summary.rejections) < MAX_KEPT_REJECTIONS:
                    summary.rejections.append(rec)
                if self.on_reject:
                    self.on_reject(rec)
                continue
            batch.append(rec)
            if len(batch) >= self.batch_size:
                self._flush(batch, summary)
                batch = []
        self._flush(batch, summary)
        return summary

    def _flush(self, batch: list[Any], summary: ImportSummary, checkpoint: Checkpoint | None = None) -> None:
        if not batch and checkpoint is None:
            return
        with self.db.transaction() as session:
            if batch:
                write_batch(session, batch, summary)
            if checkpoint is not None:
                save_checkpoint(session, checkpoint)
                summary.checkpoint = checkpoint
        if self.on_progress and batch:
            self.on_progress(len(batch))


def load_checkpoint(session: Session, key: str) -> IngestCheckpoint | None:
    """The saved checkpoint of the harvest named ``key``, or None."""
    return session.get(IngestCheckpoint, key)


def save_checkpoint(session: Session, checkpoint: Checkpoint) -> None:
    """Save ``checkpoint`` (new or updated row) in the caller's transaction."""
    row = session.get(IngestCheckpoint, checkpoint.key)
    if row is None:
        session.add(IngestCheckpoint(key=checkpoint.key, state=checkpoint.state, done=checkpoint.done))
    else:
        row.state = checkpoint.state
        row.done = checkpoint.done
        row.updated_at = utcnow()
    session.flush()


def _organization_ids(session: Session, papers: Iterable[PaperRecord]) -> dict[str, int]:
    """The ids of the organizations the papers name, creating or completing them."""
    wanted = {}
    for rec in papers:
        if rec.organization is not None and rec.organization.name:
            wanted[rec.organization.name] = rec.organization
    if not wanted:
        return {}
    existing = {
        row.name: row
        for row in session.execute(
            select(Organization.id, Organization.name, Organization.fullname, Organization.avatar_url).where(
                Organization.name.in_(list(wanted))
            )
        )
    }
    ids = {name: row.id for name, row in existing.items()}
    new = [
        {"name": org.name, "fullname": org.fullname, "avatar_url": org.avatar_url, "created_at": utcnow()}
        for name, org in wanted.items()
        if name not in existing
    ]
    if new:
        result = session.execute(
            insert(Organization).returning(Organization.id, Organization.name, sort_by_parameter_order=True),
            new,
        )
        ids.update({row.name: row.id for row in result})
    changed = []
    for name, row in existing.items():
        org = wanted[name]
        fullname = org.fullname or row.fullname
        avatar = org.avatar_url or row.avatar_url
        if (fullname, avatar) != (row.fullname, row.avatar_url):
            changed.append({"id": row.id, "fullname": fullname, "avatar_url": avatar})
    if changed:
        session.execute(update(Organization), changed)
    return ids


@functools.cache
def _fields_of(kind: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """The field names of a record type, and a function that reads their values from one record at once."""
    names = tuple(f.name for f in fields(kind))
    values = operator.attrgetter(*names)
    return names, (values if len(names) > 1 else lambda rec: (values(rec),))


@functools.cache
def _is_record(kind: type) -> bool:
    return hasattr(kind, "__dataclass_fields__")


def _has_nul(texts: list[Any]) -> bool:
    try:
        return "\x00" in "".join(texts)
    except TypeError:  # not only text
        return any(isinstance(v, str) and "\x00" in v for v in texts)


def drop_nul_characters(rec: Any) -> None:
    """Remove NUL characters from every text of ``rec`` and the records in it, in place: PostgreSQL
    stores none (in text or JSON), and no title, name or abstract means one."""
    names, values_of = _fields_of(type(rec))
    for name, value in zip(names, values_of(rec)):
        if value is None:
            continue
        if isinstance(value, str):
            if "\x00" in value:
                setattr(rec, name, value.replace("\x00", ""))
        elif isinstance(value, list):
            if value and _has_nul(value):
                setattr(rec, name, [v.replace("\x00", "") if isinstance(v, str) else v for v in value])
        elif _is_record(type(value)):  # a record in the record (not a record class)
            drop_nul_characters(value)


def write_batch(session: Session, batch: list[Any], summary: ImportSummary) -> None:
    """Merge one batch of records into the database inside the caller's transaction."""
    for rec in batch:
        if not isinstance(rec, DeletedRecord):
            summary.unsafe_links += drop_unsafe_links(rec)
            drop_nul_characters(rec)
    paper_recs = [
        r.paper if isinstance(r, DailyEntryRecord) else r for r in batch if not isinstance(r, DeletedRecord)
    ]
    org_ids = _organization_ids(session, paper_recs)
    ids = {r.arxiv_id for r in paper_recs} | {r.arxiv_id for r in batch if isinstance(r, DeletedRecord)}
    stored: dict[str, dict[str, Any]] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), 900):
        chunk = id_list[start : start + 900]
        for row in session.execute(
            select(*[getattr(Paper, c) for c in PAPER_COLUMNS]).where(Paper.arxiv_id.in_(chunk))
        ):
            stored[row.arxiv_id] = row._asdict()
    state: dict[str, dict[str, Any]] = {k: dict(v) for k, v in stored.items()}

    entry_keys: list[tuple[int, date]] = [
        (stored[r.paper.arxiv_id]["id"], r.day)
        for r in batch
        if isinstance(r, DailyEntryRecord) and r.paper.arxiv_id in stored
    ]
    stored_entries: dict[tuple[str, date], dict[str, Any]] = {}
    if entry_keys:
        by_id = {v["id"]: k for k, v in stored.items()}
        keys = list(set(entry_keys))
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            query = select(*[getattr(DailyEntry, c) for c in ENTRY_COLUMNS]).where(
                tuple_(DailyEntry.paper_id, DailyEntry.day).in_(chunk)
            )
            for row in session.execute(query):
                stored_entries[(by_id[row.paper_id], row.day)] = row._asdict()
    entry_state = {k: dict(v) for k, v in stored_entries.items()}

    statuses: dict[str, str] = {}
    for rec in batch:
        if isinstance(rec, DeletedRecord):
            row = state.get(rec.arxiv_id)
            if row is not None and not row["withdrawn"]:
                row["withdrawn"] = True
            summary.deleted += 1
            continue
        paper = rec.paper if isinstance(rec, DailyEntryRecord) else rec
        org_id = org_ids.get(paper.organization.name) if paper.organization else None
        before = state.get(paper.arxiv_id)
        after = merge_paper(before, paper, org_id)
        state[paper.arxiv_id] = after
        status = "new" if before is None else ("updated" if after != before else "unchanged")
        if isinstance(rec, DailyEntryRecord):
            key = (paper.arxiv_id, rec.day)
            e_before = entry_state.get(key)
            e_after = merge_entry(e_before, rec, after.get("id", 0))
            entry_state[key] = e_after
            if e_before is None:
                status = "new"
            elif status == "unchanged" and e_after != e_before:
                status = "updated"
        setattr(summary, status, getattr(summary, status) + 1)
        statuses[paper.arxiv_id] = status

    now = utcnow()
    new_papers = [
        dict(row, first_seen_at=now, modified_at=now) for k, row in state.items() if k not in stored
    ]
    changed = [
        dict(row, modified_at=now, **_released(stored[k], row, now))
        for k, row in state.items()
        if k in stored and row != stored[k]
    ]
    papers = Paper.__table__
    if new_papers:
        result = session.connection().execute(
            insert(papers).returning(papers.c.id, papers.c.arxiv_id, sort_by_parameter_order=True), new_papers
        )
        for row in result:
            state[row.arxiv_id]["id"] = row.id
    _update_rows(session, papers, changed)
    recategorized = [
        k for k, row in state.items() if k in stored and row.get("categories") != stored[k].get("categories")
    ]
    categories.write(
        session.connection(),
        [(state[row["arxiv_id"]]["id"], row.get("categories")) for row in new_papers]
        + [(state[k]["id"], state[k].get("categories")) for k in recategorized],
        replace=[state[k]["id"] for k in recategorized],
    )

    new_entries, changed_entries = [], []
    for key, row in entry_state.items():
        if key not in stored_entries:
            row["paper_id"] = state[key[0]]["id"]
            new_entries.append(dict(row, first_seen_at=now, modified_at=now))
        elif row != stored_entries[key]:
            changed_entries.append(dict(row, modified_at=now))
    if new_entries:
        session.connection().execute(insert(DailyEntry.__table__), new_entries)
    _update_rows(session, DailyEntry.__table__, changed_entries)
    _write_versions(session, paper_recs, state, now)
    for arxiv_id in _write_linked(session, paper_recs, state, now):
        if statuses.get(arxiv_id) == "unchanged":  # only what was built on it changed
            summary.unchanged -= 1
            summary.updated += 1


_LINKED_COLUMNS = (
    "likes",
    "downloads",
    "last_modified",
    "pipeline_tag",
    "num_parameters",
    "gated",
    "title",
    "emoji",
)


def _write_linked(
    session: Session, recs: list[PaperRecord], state: dict[str, dict[str, Any]], now: datetime
) -> set[str]:
    """Store what the records say was built on their papers: a record that says it (``linked`` not
    None) replaces the paper's stored repositories and totals; one that does not leaves them. Returns
    the arXiv ids whose stored repositories or totals changed."""
    latest: dict[int, tuple[str, Any]] = {}
    for rec in recs:
        paper_id = state.get(rec.arxiv_id, {}).get("id")
        if paper_id and rec.linked is not None:
            latest[paper_id] = (rec.arxiv_id, rec.linked)  # the last record of a batch wins
    if not latest:
        return set()
    repos, counts = LinkedRepo.__table__, LinkedRepoCount.__table__
    ids = sorted(latest)
    stored: dict[int, list[tuple[Any, ...]]] = {i: [] for i in ids}
    stored_counts: dict[int, tuple[int, int, int]] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for row in session.execute(
            select(repos).where(repos.c.paper_id.in_(chunk)).order_by(repos.c.paper_id, repos.c.position)
        ):
            stored[row.paper_id].append((row.kind, row.repo_id, *(getattr(row, c) for c in _LINKED_COLUMNS)))
        for row in session.execute(select(counts).where(counts.c.paper_id.in_(chunk))):
            stored_counts[row.paper_id] = (row.models, row.datasets, row.spaces)
    changed: set[str] = set()
    conn = session.connection()
    for paper_id, (arxiv_id, linked) in latest.items():
        wanted = [(r.kind, r.repo_id, *(getattr(r, c) for c in _LINKED_COLUMNS)) for r in linked.repos]
        totals = tuple(linked.totals.get(k, 0) for k in ("model", "dataset", "space"))
        if wanted == stored[paper_id] and stored_counts.get(paper_id) == totals:
            continue
        changed.add(arxiv_id)
        if stored[paper_id]:
            conn.execute(delete(repos).where(repos.c.paper_id == paper_id))
        if wanted:
            conn.execute(
                insert(repos),
                [
                    {
                        "paper_id": paper_id,
                        "position": i,
                        "kind": w[0],
                        "repo_id": w[1],
                        **dict(zip(_LINKED_COLUMNS, w[2:])),
                    }
                    for i, w in enumerate(wanted)
                ],
            )
        values = dict(zip(("models", "datasets", "spaces"), totals), updated_at=now)
        if paper_id in stored_counts:
            conn.execute(update(counts).where(counts.c.paper_id == paper_id).values(**values))
        else:
            conn.execute(insert(counts).values(paper_id=paper_id, **values))
    return changed


def _write_versions(
    session: Session, recs: list[PaperRecord], state: dict[str, dict[str, Any]], now: datetime
) -> None:
    """Keep every arXiv version the records report: a record's own version with its title and abstract
    (the text of that version), the others it lists with their dates. What is known stays (a version's
    text does not change on arXiv); only what was missing (text, date) is filled in."""
    wanted: dict[tuple[int, int], dict[str, Any]] = {}
    for rec in recs:
        paper_id = state.get(rec.arxiv_id, {}).get("id")
        if not paper_id:
            continue
        for number, dated in rec.version_dates.items():
            wanted.setdefault((paper_id, number), {"dated": dated, "title": None, "abstract": None})
        if rec.version:
            own = rec.version_dates.get(rec.version) or rec.updated_at
            if own is None and rec.version == 1:
                own = rec.published_at
            row = wanted.setdefault((paper_id, rec.version), {"dated": own, "title": None, "abstract": None})
            row["dated"] = row["dated"] or own
            if rec.title and row["title"] is None:
                row["title"], row["abstract"] = rec.title, rec.abstract
    if not wanted:
        return
    table = PaperVersion.__table__
    existing: dict[tuple[int, int], Any] = {}
    ids = sorted({k[0] for k in wanted})
    for start in range(0, len(ids), 900):
        for row in session.execute(
            select(table.c.paper_id, table.c.version, table.c.dated, table.c.title).where(
                table.c.paper_id.in_(ids[start : start + 900])
            )
        ):
            existing[(row.paper_id, row.version)] = row
    new_rows = [
        {"paper_id": k[0], "version": k[1], "seen_at": now, **v}
        for k, v in wanted.items()
        if k not in existing
    ]
    if new_rows:
        session.connection().execute(insert(table), new_rows)
    for key, values in wanted.items():
        have = existing.get(key)
        if have is None:
            continue
        fill: dict[str, Any] = {}
        if have.title is None and values["title"] is not None:
            fill.update(title=values["title"], abstract=values["abstract"])
        if have.dated is None and values["dated"] is not None:
            fill["dated"] = values["dated"]
        if fill:
            session.execute(
                update(table).where(table.c.paper_id == key[0], table.c.version == key[1]).values(**fill)
            )


def _released(before: dict[str, Any], after: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``code_added_at`` / ``page_added_at`` = ``now`` when this import brings a paper stored without a
    (usable) code repository / project page its first one; ``stars_before`` and ``stars_changed_at``
    when it raises the paper's GitHub stars."""
    found: dict[str, Any] = {}
    if safe_http_url(after["code_url"]) and not safe_http_url(before["code_url"]):
        found["code_added_at"] = now
    if safe_http_url(after["project_page"]) and not safe_http_url(before["project_page"]):
        found["page_added_at"] = now
    old_stars, new_stars = before["github_stars"], after["github_stars"]
    if old_stars is not None and new_stars is not None and new_stars > old_stars:
        found.update(stars_before=old_stars, stars_changed_at=now)
    return found


def _update_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """``UPDATE table SET <every column given> WHERE id = :id``, one executemany per set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for keys, group in groups.items():
        columns = [c for c in keys if c != "id"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({c: bindparam(f"_{c}") for c in columns})
        )
        session.connection().execute(statement, [{f"_{k}": v for k, v in row.items()} for row in group])
