"""The ``dailypapers`` command line: a thin layer that parses options, builds objects, calls services.

Every long job shows a progress bar on stderr, prints a summary of counts at the end, and can be run
again: imports are idempotent, and network harvests resume from their last checkpoint.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dailypapers.config import SecretKeyError, Settings, resolve_secret_key
from dailypapers.errors import first_line
from dailypapers.eval_cli import eval_app
from dailypapers import metrics
from dailypapers.application import Application, Hooks, SourceFailed
from dailypapers.ingest.records import Rejected
from dailypapers.logs import configure_logging, logging_config
from dailypapers.store.db import Database, sqlite_file
from dailypapers.store.importer import ImportSummary

app = typer.Typer(help="dailypapers: research-paper discovery you can run yourself.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema and maintenance.", no_args_is_help=True)
ingest_app = typer.Typer(
    help="Import papers from every source (all imports are idempotent).", no_args_is_help=True
)
demo_app = typer.Typer(help="The bundled demo papers.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
user_app = typer.Typer(
    help="Accounts: create users, set roles, list them, recount votes.", no_args_is_help=True
)
app.add_typer(demo_app, name="demo")
app.add_typer(user_app, name="user")
digest_app = typer.Typer(help="E-mail digests: compose due editions and send them.", no_args_is_help=True)
app.add_typer(digest_app, name="digest")
app.add_typer(eval_app, name="eval")

out = Console()
err = Console(stderr=True)
MAX_PRINTED_REJECTIONS = 50


@app.callback()
def _logging() -> None:
    # every command logs the same way (DAILYPAPERS_LOG_LEVEL, DAILYPAPERS_LOG_FORMAT); a command that needs
    # settings reports bad ones itself
    try:
        configure_logging(Settings())
    except ValueError:
        pass


def _variable(loc: object) -> str:
    """``DAILYPAPERS_NAME: `` for the setting a validation error is about (empty when it names none)."""
    if isinstance(loc, tuple) and loc and isinstance(loc[0], str):
        return f"DAILYPAPERS_{loc[0].upper()}: "
    return ""


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:  # its messages, on one line
        message = "; ".join(
            f"{_variable(e.get('loc'))}{e.get('ctx', {}).get('error') or e['msg']}" for e in exc.errors()
        )
        raise _fail(f"settings: {message}", 2) from None
    except ValueError as exc:  # e.g. a list setting that is not JSON
        raise _fail(f"settings: {first_line(exc)}", 2) from None


def _signing_settings(settings: Settings, host: str | None = None) -> Settings:
    """``settings`` with the secret key resolved (for commands that sign cookies or links), or a one-line
    error."""
    try:
        return resolve_secret_key(settings, host=host)
    except SecretKeyError as exc:
        raise _fail(str(exc), 2) from None


def open_database(settings: Settings | None = None, *, migrate: bool = True) -> Database:
    """The database of ``settings`` (default: the environment's), its schema migrated unless told not to."""
    db = Database.from_settings(settings or _settings())
    if migrate:
        db.migrate()
    return db


def _progress_bar(bounded: bool) -> Progress:
    """Rich progress on stderr: a bar when totals are known, else a running count; the rate beside."""
    columns: list[Any] = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
    if bounded:
        columns += [BarColumn(), TaskProgressColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed:,} records")]
    columns += [TextColumn("[dim]{task.fields[rate]}"), TimeElapsedColumn()]
    return Progress(*columns, console=err, transient=False)


def _advance(bar: Progress, task: Any, n: int) -> None:
    bar.advance(task, n)
    speed = next(t for t in bar.tasks if t.id == task).speed
    if speed:
        bar.update(task, rate=f"{speed:,.0f}/s")


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for one step; yields the function that advances it by ``n``."""
    with _progress_bar(bool(total)) as bar:
        task = bar.add_task(label, total=total, rate="")
        yield lambda n: _advance(bar, task, n)


def _printer() -> Callable[[Rejected], None]:
    shown = 0

    def on_reject(rec: Rejected) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_PRINTED_REJECTIONS:
            err.print(f"[yellow]rejected[/] {rec.position}: {rec.reason}", highlight=False, soft_wrap=True)
        elif shown == MAX_PRINTED_REJECTIONS + 1:
            err.print("[yellow]… more rejected records are counted in the summary[/]")

    return on_reject


def print_summary(summary: ImportSummary, *, as_json: bool = False, title: str = "Import") -> None:
    """An import's counts as a table on stdout, or as one JSON object with ``as_json``."""
    if as_json:
        out.print_json(json.dumps(summary.as_dict()))
        return
    table = Table(title=title, show_header=True, header_style="bold")
    for name in summary.as_dict():
        table.add_column(name, justify="right")
    table.add_row(*(f"{v:,}" for v in summary.as_dict().values()))
    out.print(table)


def open_application(settings: Settings | None = None, *, migrate: bool = True) -> Application:
    """The :class:`Application` of ``settings`` (default: the environment's), its schema migrated."""
    application = Application(settings or _settings())
    if migrate:
        application.db.migrate()
    return application


def _hooks(on_progress: Callable[[int], None]) -> Hooks:
    return Hooks(
        on_progress=on_progress,
        on_reject=_printer(),
        on_resume=lambda key, state: err.print(f"resuming {key} from {state}", highlight=False),
    )


def run_import(
    label: str,
    action: Callable[[Hooks], ImportSummary],
    *,
    total: int | None = None,
    as_json: bool = False,
) -> ImportSummary:
    """Run one import action with a progress bar and a summary; a source failure exits 1 after the
    summary of what was stored before it."""
    with progress(label, total) as advance:
        try:
            summary = action(_hooks(advance))
        except SourceFailed as exc:
            print_summary(exc.summary, as_json=as_json, title=f"{label} (stopped)")
            err.print(f"[red]error:[/] {exc.cause}. Run the same command again to resume.")
            raise typer.Exit(1) from exc
    print_summary(summary, as_json=as_json, title=label)
    return summary


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from exc


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
NoIndexOpt = Annotated[
    bool, typer.Option("--no-index", help="Do not embed the new papers afterwards (see `dailypapers index`).")
]
RestartOpt = Annotated[bool, typer.Option("--restart", help="Ignore a saved checkpoint; start over.")]
HfIntervalOpt = Annotated[
    float | None,
    typer.Option(help="Seconds between requests (default from DAILYPAPERS_HF_MIN_INTERVAL)."),
]


def _arxiv_ids(values: list[str] | None, option: str = "--paper") -> list[str]:
    """The canonical arXiv ids of an option's values; a value that is not one is a usage error."""
    from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id

    ids: list[str] = []
    for raw in values or ():
        try:
            ids.append(canonical_arxiv_id(raw)[0])
        except InvalidArxivId as exc:
            raise typer.BadParameter(f"{raw!r} is not an arXiv id", param_hint=option) from exc
    return ids


def _import_saved(
    application: Application,
    label: str,
    path: Path,
    list_files: Callable[[Path], list[Path]],
    iter_file: Callable[[Path], Iterator[Any]],
    *,
    as_json: bool,
) -> None:
    """Import the saved responses under ``path`` (a folder or a file) with a progress bar and summary."""
    try:
        files = list_files(path)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="PATH") from exc
    records = (rec for f in files for rec in iter_file(f))
    run_import(f"{label} {path}", lambda hooks: application.ingest(records, hooks=hooks), as_json=as_json)


# --- semantic index -------------------------------------------------------------------------------


def run_index(
    application: Application,
    backend_name: str | None = None,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    as_json: bool = False,
    console: Console | None = None,
    refit_terms: bool = False,
) -> Any:
    """:meth:`Application.index` with a progress bar and a summary table (or JSON)."""
    try:
        backend = application.embedding_backend(backend_name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--backend") from exc
    missing = application.missing_vectors(backend_name)
    total = min(missing, limit) if limit is not None else missing
    with progress(f"index {backend.name}", total or None) as advance:
        summary = application.index(
            backend_name, batch_size=batch_size, on_progress=advance, limit=limit, refit_terms=refit_terms
        )
    counts = summary.as_dict()
    console = console or out
    if as_json:
        console.print_json(json.dumps(counts))
    else:
        table = Table(title=f"index {backend.name}", show_header=True, header_style="bold")
        for name in counts:
            table.add_column(name, justify="right")
        table.add_row(*(f"{v:,}" for v in counts.values()))
        console.print(table)
    return summary


def after_ingest(application: Application, *, no_index: bool, as_json: bool) -> None:
    """What :meth:`Application.after_ingest` decides, shown; with ``--json`` an index's summary goes to
    stderr, so stdout stays the import's one JSON object."""
    if no_index:
        return
    done = application.after_ingest()
    if done.action == "queued":
        which = f"job {done.job_id}" if done.job_id is not None else "already queued"
        err.print(f"embedding queued for `dailypapers worker` ({which})")
    elif done.action == "deferred":
        err.print(
            f"{done.missing:,} papers lack a vector, more than the {done.limit:,} embedded after an "
            "import: run `dailypapers index` (resumable) to make them searchable by meaning"
        )
    elif done.action == "index":
        run_index(application, as_json=as_json, console=err if as_json else out)


@app.command("index")
def index(
    backend: Annotated[
        str | None,
        typer.Option(
            help="Embedding backend: minilm, hashing or static (default from DAILYPAPERS_EMBEDDING_BACKEND)."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=4096, help="Papers embedded and committed together.")
    ] = 64,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Embed at most this many papers, then stop.")
    ] = None,
    refit_terms: Annotated[
        bool,
        typer.Option(
            "--refit-terms",
            help="Fit the recommender's vocabulary again on every paper (it is refitted by itself when "
            "the papers have grown by half since the last fit) and describe every paper with it.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Embed papers that lack a current vector, for semantic search, and describe their words for the
    recommender (resumable; run it again to go on)."""
    settings = _settings()
    name = backend or settings.embedding_backend
    if name == "none":
        raise typer.BadParameter(
            "the embedding backend is `none`; pick one with --backend", param_hint="--backend"
        )
    run_index(
        open_application(settings),
        name,
        batch_size=batch_size,
        limit=limit,
        as_json=as_json,
        refit_terms=refit_terms,
    )


@app.command("worker")
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Stop when no job is due instead of waiting for more.")
    ] = False,
    max_jobs: Annotated[int | None, typer.Option(min=1, help="Stop after this many jobs.")] = None,
    idle_sleep: Annotated[
        float, typer.Option(min=0.1, help="Seconds between looks at an empty queue.")
    ] = 2.0,
    no_schedule: Annotated[
        bool, typer.Option("--no-schedule", help="Run queued jobs only; queue no periodic ones.")
    ] = False,
) -> None:
    """Run queued jobs (embedding after ingests, …) and the periodic ones (sync, index, digests; see
    DAILYPAPERS_WORKER_SCHEDULE) until stopped; start as many as you like, on any machines that reach the
    database."""
    import signal

    from dailypapers.store.jobs import run_jobs
    from dailypapers.tasks import handlers, parse_schedule, queue_due

    settings = _settings()
    try:
        periods = {} if no_schedule else parse_schedule(settings.worker_schedule)
    except ValueError as exc:
        raise _fail(f"DAILYPAPERS_WORKER_SCHEDULE: {exc}", 2) from None
    application = open_application(settings)
    db = application.db

    def tick() -> None:
        for name in queue_due(db, periods):
            out.print(f"queued periodic {name}")

    stopping = {"now": False}

    def on_job(job: Any, status: str) -> None:
        metrics.count_job(job.kind, status.split(":", 1)[0])  # done, retry or failed
        out.print(f"job {job.id} {job.kind}: {status}")

    def _stop(*_: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    summary = run_jobs(
        db,
        handlers(application),
        once=once,
        max_jobs=max_jobs,
        idle_sleep=idle_sleep,
        stop=lambda: stopping["now"],
        tick=tick,
        on_job=on_job,
    )
    out.print(f"{summary.done} done, {summary.retried} to retry, {summary.failed} failed")


# --- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the schema (Alembic)."""
    db = open_database(migrate=False)
    db.migrate(revision)
    out.print(f"database at revision {db.current_revision()} ({db.url.render_as_string(hide_password=True)})")


@db_app.command("stats")
def db_stats(as_json: JsonOpt = False) -> None:
    """Count papers, daily entries and organizations."""
    from sqlalchemy import func, select

    from dailypapers.store.models import DailyEntry, Organization, Paper

    db = open_database()
    with db.session() as s:
        counts = {
            "papers": s.scalar(select(func.count()).select_from(Paper)),
            "daily_entries": s.scalar(select(func.count()).select_from(DailyEntry)),
            "organizations": s.scalar(select(func.count()).select_from(Organization)),
            "days": s.scalar(select(func.count(func.distinct(DailyEntry.day)))),
        }
    if as_json:
        out.print_json(json.dumps(counts))
    else:
        for k, v in counts.items():
            out.print(f"{k:>14}: {v:,}")


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="File to write (a SQLite database, or a pg_dump archive).")],
    force: Annotated[bool, typer.Option("--force", help="Replace PATH if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a consistent backup of the database while the site keeps running (SQLite's online backup;
    pg_dump on PostgreSQL), with a manifest of row checksums beside it."""
    from dailypapers.store.backup import BackupError, backup

    settings = _settings()
    db = open_database(settings, migrate=False)
    try:
        with progress(f"backup to {path}") as _:
            report = backup(db, path, pg_bin_dir=settings.pg_bin_dir, force=force)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    out.print(
        f"backup {report.path} ({report.format}, revision {report.revision}): {report.rows:,} rows in "
        f"{len(report.tables)} tables, {report.bytes:,} bytes, {report.seconds:.1f} s",
        highlight=False,
    )


@db_app.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="A file `dailypapers db backup` wrote.")],
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup into the configured database, which must be new and empty; verified against the
    backup's row checksums, then upgraded to this version's schema."""
    from dailypapers.store.backup import BackupError, restore

    settings = _settings()
    db = open_database(settings, migrate=False)
    try:
        with progress(f"restore {path}") as _:
            report = restore(db, path, pg_bin_dir=settings.pg_bin_dir)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    checked = "verified against the manifest" if report.verified else "no manifest to verify against"
    upgraded = f", upgraded to {report.upgraded_to}" if report.upgraded_to else ""
    out.print(
        f"restored {path} into {report.target} ({report.format}, revision {report.revision}{upgraded}): "
        f"{report.rows:,} rows, {checked}, {report.seconds:.1f} s",
        highlight=False,
    )


def _open_url(url: str, option: str, *, must_exist: bool) -> Database:
    """A database named on the command line, connected once to check it; exit 2 with one line if not."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    def fail(message: str) -> typer.Exit:
        err.print(f"[red]error:[/] {option}: {message}", highlight=False, soft_wrap=True)
        return typer.Exit(2)

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise fail(f"not a database URL: {url!r}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise fail(f"{shown}: only sqlite:/// and postgresql+psycopg:// URLs are supported")
    path = sqlite_file(parsed)
    if must_exist and path is not None and not path.is_file():
        raise fail(f"no SQLite database at {parsed.database}")
    try:
        db = Database(url)
        with db.engine.connect():
            pass
    except (NoSuchModuleError, ImportError) as exc:
        raise fail(f"{shown}: no driver for it ({exc})") from None
    except (SQLAlchemyError, OSError) as exc:
        raise fail(f"cannot connect to {shown}: {first_line(exc)}") from None
    return db


@contextmanager
def copy_progress() -> Iterator[Callable[[str, int, int], None]]:
    """One bar per step of a copy (as :func:`progress` draws them), made when the step starts."""
    with _progress_bar(True) as bar:
        tasks: dict[str, Any] = {}

        def on_progress(step: str, n: int, total: int) -> None:
            if step not in tasks:
                if not total:  # an empty table: nothing to draw
                    return
                tasks[step] = bar.add_task(step, total=total, rate="")
            _advance(bar, tasks[step], n)

        yield on_progress


@db_app.command("copy")
def db_copy(
    source_url: Annotated[
        str, typer.Option("--from", help="URL of the database to copy, e.g. sqlite:///data/dailypapers.db.")
    ],
    target_url: Annotated[
        str,
        typer.Option(
            "--to",
            help="URL of a new, empty database, e.g. "
            "postgresql+psycopg://user@host/dailypapers "
            "(migrated first).",
        ),
    ],
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows copied and committed together.")
    ] = 5000,
    as_json: JsonOpt = False,
) -> None:
    """Copy a whole instance into another database (SQLite ⇄ PostgreSQL) and verify every table."""
    from dailypapers.store.copy import CopyError, copy_database

    source = _open_url(source_url, "--from", must_exist=True)
    target = _open_url(target_url, "--to", must_exist=False)
    try:
        with copy_progress() as on_progress:
            report = copy_database(source, target, batch_size=batch_size, on_progress=on_progress)
    except CopyError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1 if exc.partial else 2) from None
    finally:
        source.dispose()
        target.dispose()
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        table = Table(
            title=f"copy {source.backend} → {target.backend}", show_header=True, header_style="bold"
        )
        table.add_column("table")
        table.add_column("rows", justify="right")
        table.add_column("target rows", justify="right")
        table.add_column("sha256")
        table.add_column("checksum")
        for check in report.tables:
            table.add_row(
                check.table,
                f"{check.source_rows:,}",
                f"{check.target_rows:,}",
                check.source_sha256[:12],
                "[green]match[/]" if check.match else "[red]differs[/]",
            )
        out.print(table)
        out.print(
            f"{report.rows:,} rows in {len(report.tables)} tables copied in {report.seconds:.1f} s\n"
            f"from {report.source}\nto   {report.target}",
            highlight=False,
            soft_wrap=True,
        )
    if not report.ok:
        err.print(
            f"[red]error:[/] the target differs from the source in {', '.join(report.differing)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


# --- ingest ---------------------------------------------------------------------------------------


@ingest_app.command("hf-daily")
def ingest_hf_daily(
    path: Annotated[
        Path | None,
        typer.Argument(help="A folder of YYYY-MM-DD.json responses, one file, or JSON lines (.gz too)."),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            help="Fetch from this base URL instead (https://huggingface.co or another dailypapers instance)."
        ),
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day to fetch (YYYY-MM-DD), with --api.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day to fetch; default today (New York).")] = None,
    min_interval: HfIntervalOpt = None,
    linked: Annotated[
        bool,
        typer.Option(
            "--linked",
            help="With --api: also fetch each paper's own answer (the models, datasets, Spaces built on it).",
        ),
    ] = False,
    restart: RestartOpt = False,
    as_json: JsonOpt = False,
    no_index: NoIndexOpt = False,
) -> None:
    """Import Hugging Face daily papers: saved API responses, or fetched day by day with --api."""
    from dailypapers.ingest import hf_daily

    settings = _settings()
    if (path is None) == (api is None):
        raise typer.BadParameter("give either PATH or --api URL")
    application = open_application(settings)
    if path is not None:
        _import_saved(application, "hf-daily", path, hf_daily.list_files, hf_daily.iter_file, as_json=as_json)
    else:
        first, last = _date(since, "--since"), _date(until, "--until")
        if first and last and last < first:
            raise typer.BadParameter("--until is before --since")

        def harvest(hooks: Hooks) -> ImportSummary:
            return application.ingest_hf_daily_api(
                api, first, last, restart=restart, min_interval=min_interval, linked=linked, hooks=hooks
            )

        run_import(f"hf-daily {api}", harvest, as_json=as_json)
    after_ingest(application, no_index=no_index, as_json=as_json)


@ingest_app.command("hf-papers")
def ingest_hf_papers(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Saved GET /api/papers/{id} answers: a folder, a file (an object or a list), or JSON lines."
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(help="Fetch from this base URL instead (https://huggingface.co or another instance)."),
    ] = None,
    paper: Annotated[
        list[str] | None,
        typer.Option("--paper", "-p", help="With --api: an arXiv id to fetch (repeatable)."),
    ] = None,
    listed_since: Annotated[
        str | None,
        typer.Option(help="With --api: every paper listed on or after this day (YYYY-MM-DD)."),
    ] = None,
    min_interval: HfIntervalOpt = None,
    restart: RestartOpt = False,
    as_json: JsonOpt = False,
    no_index: NoIndexOpt = False,
) -> None:
    """Import Hugging Face paper pages with the models, datasets and Spaces built on each paper."""
    from dailypapers.ingest import hf_papers

    settings = _settings()
    if (path is None) == (api is None):
        raise typer.BadParameter("give either PATH or --api URL")
    if path is not None and (paper or listed_since):
        raise typer.BadParameter("--paper and --listed-since go with --api")
    application = open_application(settings)
    if path is not None:
        list_files = hf_papers.hf_daily.list_files
        _import_saved(application, "hf-papers", path, list_files, hf_papers.iter_file, as_json=as_json)
    else:
        ids = _arxiv_ids(paper)
        first = _date(listed_since, "--listed-since")
        if first is not None:
            ids += [i for i in application.listed_since(first) if i not in set(ids)]
        if not ids:
            raise typer.BadParameter("nothing to fetch: give --paper ID or --listed-since DAY")

        def harvest(hooks: Hooks) -> ImportSummary:
            return application.ingest_hf_papers_api(
                api, ids, restart=restart, min_interval=min_interval, hooks=hooks
            )

        run_import(f"hf-papers {api}", harvest, as_json=as_json)
    after_ingest(application, no_index=no_index, as_json=as_json)


@ingest_app.command("arxiv-api")
def ingest_arxiv_api(
    query: Annotated[str | None, typer.Option("--query", "-q", help="Words to search for.")] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", "-c", help="arXiv category, e.g. cs.CL (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Submitted on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Submitted on or before (YYYY-MM-DD).")] = None,
    max_results: Annotated[int | None, typer.Option(help="Stop after this many results.")] = None,
    page_size: Annotated[int, typer.Option(help="Results per request (arXiv allows up to 2000).")] = 100,
    restart: RestartOpt = False,
    as_json: JsonOpt = False,
    no_index: NoIndexOpt = False,
) -> None:
    """Import from the arXiv Atom API (at most one request per 3 s; resumable)."""
    from dailypapers.ingest import arxiv_api

    settings = _settings()
    try:
        search_query = arxiv_api.build_search_query(
            query, category or (), _date(since, "--since"), _date(until, "--until")
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    application = open_application(settings)

    def harvest(hooks: Hooks) -> ImportSummary:
        try:
            return application.ingest_arxiv_api(
                search_query, page_size=page_size, max_results=max_results, restart=restart, hooks=hooks
            )
        except ValueError as exc:  # arguments are checked before the first request
            raise typer.BadParameter(str(exc)) from exc

    run_import(f"arxiv-api {search_query}", harvest, as_json=as_json)
    after_ingest(application, no_index=no_index, as_json=as_json)


@ingest_app.command("arxiv-categories")
def ingest_arxiv_categories(
    limit: Annotated[
        int, typer.Option(min=1, help="At most this many papers, the newest first (100 per request).")
    ] = 1000,
    as_json: JsonOpt = False,
    no_index: NoIndexOpt = False,
) -> None:
    """Ask the arXiv API for the categories of papers that have none (Hugging Face's daily lists carry
    none), so that category filters and follows match them; the worker's sync does this for its newest
    papers (DAILYPAPERS_SYNC_CATEGORIES)."""
    application = open_application(_settings())
    wanted = len(application.papers_without_categories(limit))
    if not wanted:
        out.print("Every paper has a category.")
        return

    def fill(hooks: Hooks) -> ImportSummary:
        return application.fill_categories(limit, hooks=hooks) or ImportSummary()

    run_import("arxiv-categories", fill, total=wanted, as_json=as_json)
    after_ingest(application, no_index=no_index, as_json=as_json)


@ingest_app.command("arxiv-html")
def ingest_arxiv_html(
    folder: Annotated[
        Path | None,
        typer.Argument(help="Saved pages instead of fetching: {arXiv id}.html files of stored papers."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="At most this many papers, the newest listing first.")
    ] = 50,
    paper: Annotated[
        list[str] | None, typer.Option("--paper", "-p", help="This paper (repeatable), text or not.")
    ] = None,
    listed_since: Annotated[
        str | None, typer.Option(help="Only papers listed on or after this day (YYYY-MM-DD).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Keep papers' full text as Markdown, from arXiv's HTML (one request per 3 s at most): listed
    papers without one, the newest first; `/papers/{id}.md`, the MCP read_paper tool and the paper's
    "Read" page show it."""
    application = open_application(_settings())
    if folder is not None:
        if paper or listed_since:
            raise typer.BadParameter("--paper and --listed-since fetch; a FOLDER is read as it is")
        if not folder.is_dir():
            raise typer.BadParameter(f"no such folder: {folder}", param_hint="FOLDER")
        with progress("arxiv-html " + str(folder)) as advance:
            summary = application.load_full_texts(folder, hooks=Hooks(on_progress=advance))
    else:
        ids = _arxiv_ids(paper)
        first = _date(listed_since, "--listed-since")
        with progress("arxiv-html", limit if not ids else len(ids)) as advance:
            summary = application.fetch_full_texts(
                limit, listed_since=first, arxiv_ids=ids, hooks=Hooks(on_progress=advance)
            )
    for failure in summary.failures[:MAX_PRINTED_REJECTIONS]:
        err.print(f"[yellow]failed[/] {failure}", highlight=False, soft_wrap=True)
    print_summary(summary, as_json=as_json, title="arxiv-html")  # type: ignore[arg-type]


@ingest_app.command("oai")
def ingest_oai(
    set_spec: Annotated[str | None, typer.Option("--set", help="OAI set, e.g. cs or physics:hep-th.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Changed on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Changed on or before (YYYY-MM-DD).")] = None,
    restart: RestartOpt = False,
    as_json: JsonOpt = False,
    no_index: NoIndexOpt = False,
) -> None:
    """Harvest arXiv over OAI-PMH (arXivRaw), following resumption tokens; resumable."""

    settings = _settings()
    first, last = _date(from_, "--from"), _date(until, "--until")
    application = open_application(settings)

    def harvest(hooks: Hooks) -> ImportSummary:
        return application.ingest_oai(set_spec, first, last, restart=restart, hooks=hooks)

    run_import(f"oai {set_spec or 'all'}", harvest, as_json=as_json)
    after_ingest(application, no_index=no_index, as_json=as_json)


@ingest_app.command("snapshot")
def ingest_snapshot(
    path: Annotated[Path, typer.Argument(help="arxiv-metadata-oai-snapshot.json (JSON lines, .gz too).")],
    as_json: JsonOpt = False,
    no_index: NoIndexOpt = False,
) -> None:
    """Import the Kaggle arXiv metadata snapshot, streamed in constant memory."""
    from dailypapers.ingest import snapshot

    if not path.is_file():
        raise typer.BadParameter(f"no such file: {path}", param_hint="PATH")
    application = open_application()
    run_import(
        f"snapshot {path.name}",
        lambda hooks: application.ingest(snapshot.iter_snapshot(path), batch_size=2000, hooks=hooks),
        total=snapshot.count_lines(path),
        as_json=as_json,
    )
    after_ingest(application, no_index=no_index, as_json=as_json)


@ingest_app.command("listings")
def ingest_listings(
    paths: Annotated[list[Path], typer.Argument(help="arXiv listing JSON-lines files (.gz too).")],
    as_json: JsonOpt = False,
    no_index: NoIndexOpt = False,
) -> None:
    """Import arXiv listing files (both the cs and the math field layouts)."""
    from dailypapers.ingest import listings

    for p in paths:
        if not p.is_file():
            raise typer.BadParameter(f"no such file: {p}", param_hint="PATHS")
    application = open_application()
    records = (rec for p in paths for rec in listings.iter_listings(p))
    run_import(
        "listings", lambda hooks: application.ingest(records, batch_size=2000, hooks=hooks), as_json=as_json
    )
    after_ingest(application, no_index=no_index, as_json=as_json)


# --- demo and serve -------------------------------------------------------------------------------


@demo_app.command("load")
def demo_load(
    force: Annotated[bool, typer.Option(help="Load even if the database already has papers.")] = False,
) -> None:
    """Import the bundled demo papers (done automatically on the first start)."""
    from dailypapers.demo import DEMO_FILE, load_demo

    db = open_database()
    with progress(f"demo {DEMO_FILE.name}") as advance:
        summary = load_demo(db, only_if_empty=not force, on_progress=advance)
    if summary is None:
        out.print("the database already has papers; use --force to load the demo anyway")
    else:
        print_summary(summary, title="demo")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (about one per CPU core).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput under load).")] = True,
) -> None:
    """Serve the site and the JSON API (migrates and, on first start, loads the demo papers)."""
    import uvicorn

    if reload and workers > 1:
        raise typer.BadParameter("--reload runs one process; drop --workers", param_hint="--workers")
    settings = _signing_settings(_settings(), host=host)  # before listening: workers then read the same key
    db = open_database(settings)
    if settings.load_demo:
        from dailypapers.demo import load_demo

        summary = load_demo(db)
        if summary is not None:
            out.print(f"loaded {summary.new:,} demo papers")
    db.dispose()
    uvicorn.run(
        "dailypapers.web.app:serving_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        workers=workers,
        access_log=access_log,
        log_config=logging_config(settings),
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # with --workers, the parent kills a worker that does not answer its ping within this many
        # seconds, starting ones included: uvicorn's 5 s killed workers still importing on a busy
        # 2-core machine (a new worker spawns, imports the app for 3-13 s, is killed, again), and each
        # replacement left requests waiting seconds
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT,
    )


WORKER_HEALTHCHECK_TIMEOUT = 60


@app.command("mcp")
def mcp_stdio() -> None:
    """Serve the MCP tools (search_papers, daily_papers, paper, related_papers, read_paper) over stdio,
    for an assistant that starts this command; the site serves the same at /mcp."""
    from dailypapers.application import Application
    from dailypapers.web.mcp import build_server

    settings = _settings()
    db = open_database(settings)
    application = Application(settings, database=db)
    try:
        build_server(application).run("stdio")
    finally:
        application.close()
        db.dispose()


@app.command()
def version() -> None:
    """Print the version."""
    from dailypapers import __version__

    out.print(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()


# --- accounts ----------------------------------------------------------------------------------------


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Lower-case letters, digits, '-' or '_'.")],
    email: Annotated[str, typer.Option("--email", help="The account's e-mail address.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make it an administrator.")] = False,
    moderator: Annotated[bool, typer.Option("--moderator", help="Make it a moderator.")] = False,
    display_name: Annotated[
        str | None, typer.Option("--name", help="Display name (default: the username).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an account (asks for the password unless --password-stdin)."""
    from dailypapers.community import accounts
    from dailypapers.errors import DailyPapersError

    if admin and moderator:
        raise _fail("give --admin or --moderator, not both", 2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    role = "admin" if admin else "moderator" if moderator else "user"
    db = open_database()
    try:
        user = accounts.register(
            db, username=username, email=email, password=password, display_name=display_name, role=role
        )
    except DailyPapersError as exc:
        raise _fail(f"user {username!r}: {exc.message}") from None
    out.print(
        f"created {user.role} [bold]{user.username}[/] <{user.pending_email}> (the address counts once "
        "confirmed: log in and send its link from the account page)",
        highlight=False,
    )


@user_app.command("role")
def user_role(
    username: Annotated[str, typer.Argument(help="The account.")],
    role: Annotated[str, typer.Argument(help="user, moderator or admin.")],
) -> None:
    """Give an account a role."""
    from dailypapers.community import accounts
    from dailypapers.errors import DailyPapersError

    try:
        user = accounts.set_role(open_database(), username, role)
    except DailyPapersError as exc:
        raise _fail(f"user {username!r}: {exc.message}") from None
    out.print(f"{user.username} is now {user.role}", highlight=False)


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List the accounts (username, e-mail, role, created)."""
    from sqlalchemy import select

    from dailypapers.store.models import User

    with open_database().session() as session:
        users = session.scalars(select(User).order_by(User.id)).all()
    rows = [
        {
            "username": u.username,
            "email": u.email,
            "pendingEmail": u.pending_email,
            "role": u.role,
            "created": u.created_at.isoformat(),
        }
        for u in users
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("username", "e-mail", "role", "created")
    for row in rows:
        shown = row["email"] or f"{row['pendingEmail'] or ''} (unconfirmed)"
        table.add_row(row["username"], shown, row["role"], row["created"][:10])
    out.print(table)


@user_app.command("logout-all")
def user_logout_all(
    username: Annotated[
        str | None, typer.Argument(help="Only this account (default: every account).")
    ] = None,
) -> None:
    """End every login session (of one account, or of everyone: after a leaked secret key, say)."""
    from sqlalchemy import select

    from dailypapers.community.sessions import end_every_session
    from dailypapers.store.models import User

    db = open_database()
    user_id = None
    if username is not None:
        with db.session() as session:
            user_id = session.scalar(select(User.id).where(User.username == username.strip().lower()))
        if user_id is None:
            raise _fail(f"user {username!r}: no such account")
    ended = end_every_session(db, user_id)
    out.print(f"{ended} session{'s' if ended != 1 else ''} ended", highlight=False)


@user_app.command("recount-votes")
def user_recount_votes() -> None:
    """Set every paper's community upvote count to its number of votes (repairs a restored backup)."""
    from dailypapers.community.actions import recount_votes

    fixed = recount_votes(open_database())
    out.print(f"{fixed} paper{'s' if fixed != 1 else ''} recounted")


# --- digests -----------------------------------------------------------------------------------------


@digest_app.command("send")
def digest_send(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compose and show the first mail; write and send nothing.")
    ] = False,
    edition: Annotated[
        str | None,
        typer.Option(
            "--edition",
            help="Compose the editions of this date "
            "(YYYY-MM-DD) for every subscriber, "
            "whatever their send hour.",
        ),
    ] = None,
    connections: Annotated[int, typer.Option(min=1, max=32, help="SMTP connections in parallel.")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Compose the due digest editions into the outbox and send them (each subscriber gets an edition
    once, even if this is killed and run again, or runs on several machines at once)."""
    settings = _signing_settings(_settings())
    day = None
    if edition:
        try:
            day = date.fromisoformat(edition)
        except ValueError:
            raise _fail(f"--edition must be a date (YYYY-MM-DD), got {edition!r}", 2) from None
    application = open_application(settings)
    result = application.send_digests(edition=day, dry_run=dry_run, connections=connections)
    if as_json:
        out.print_json(json.dumps(result))
        return
    c = result["composed"]
    out.print(
        f"composed {c['composed']} mails ({c['already']} already in the outbox, {c['empty']} with "
        f"nothing to send) in {c['seconds']:.1f} s"
    )
    if dry_run:
        out.print("[dim]dry run: nothing written or sent[/]")
        if result.get("sample"):
            out.print(result["sample"][:4000], highlight=False, markup=False)
        return
    t = result["sent"]
    out.print(
        f"sent {t['sent']}, to retry {t['retried']}, failed {t['failed']}, bounced {t['bounced']}, "
        f"skipped {t['skipped']} in {t['seconds']:.1f} s"
    )
    for line in result["errors"][:10]:
        err.print(f"[yellow]{line}[/]", highlight=False, markup=False)


@digest_app.command("status")
def digest_status(as_json: JsonOpt = False) -> None:
    """Subscriptions and the outbox, counted by state."""
    from sqlalchemy import func, select

    from dailypapers.store.models import DigestDelivery, Subscription

    with open_database().session() as session:
        outbox = dict(
            session.execute(select(DigestDelivery.status, func.count()).group_by(DigestDelivery.status)).all()
        )
        subs = session.scalars(select(Subscription)).all()
    counts = {
        "subscriptions": len(subs),
        "active": sum(1 for s in subs if s.active),
        "unconfirmed": sum(1 for s in subs if s.confirmed_at is None),
        "unsubscribed": sum(1 for s in subs if s.unsubscribed_at is not None),
        "bounced": sum(1 for s in subs if s.bounced_at is not None),
        "outbox": outbox,
    }
    if as_json:
        out.print_json(json.dumps(counts))
        return
    for key, value in counts.items():
        out.print(f"{key:>14}: {value}")
