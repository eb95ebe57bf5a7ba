"""The application: what the product does, built once from :class:`~dailypapers.config.Settings`.

One :class:`Application` holds the database, the embedding backend, the search engine, the candidate pool
of recommendations, the rate limiter and the outside HTTP client's settings, and offers every action of the
product as a method: ingest a source (with its checkpoint), index, sync, register, change an address,
reset a password, subscribe, vote, submit, send digests. Each method is the one place its policy lives
(what follows an import, which mail goes out after which action, which interval a harvest keeps);
``cli.py``, the worker (:mod:`dailypapers.tasks`) and the web routes only translate their input into a
call and its result into their output. Parts are made on first use, so a command that only imports
never loads the embedding model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dailypapers import metrics
from dailypapers.config import Settings, resolve_secret_key
from dailypapers.errors import ServiceUnavailable
from dailypapers.ingest.http import FetchError, PoliteClient, client_from_settings
from dailypapers.ingest.records import Record, Rejected
from dailypapers.periods import today
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer, ImportSummary, load_checkpoint
from dailypapers.summaries import Summary

if TYPE_CHECKING:
    from dailypapers.community.actions import VoteState
    from dailypapers.community.follows import NewestCache
    from dailypapers.community.ratelimit import RateLimiter
    from dailypapers.digest.subscriptions import Preferences, Subscribed
    from dailypapers.ingest.records import PaperRecord
    from dailypapers.recommend.service import CandidatePool
    from dailypapers.search.embed import EmbeddingBackend
    from dailypapers.search.hybrid import SearchEngine
    from dailypapers.search.semantic import IndexSummary
    from dailypapers.store.models import DailyEntry, Paper, User

log = logging.getLogger("dailypapers.application")

AUTO_INDEX_MAX = 5_000  # papers an ingest embeds afterwards; more is left to `dailypapers index`
SYNC_DAYS = 2  # the worker's sync: yesterday and today (New York)

Progress = Callable[[int], None]


class SourceFailed(Exception):
    """A source stopped answering part-way through an import: what was read before is stored (and, for a
    harvest with a checkpoint, the same call resumes after it); ``summary`` counts it."""

    def __init__(self, summary: ImportSummary, cause: Exception) -> None:
        super().__init__(str(cause))
        self.summary = summary
        self.cause = cause


@dataclass
class AfterIngest:
    """What followed an import: ``action`` is ``off`` (no embedding wanted), ``queued`` (a job for
    ``dailypapers worker``; ``job_id`` None when one was already waiting), ``deferred`` (``missing``
    papers lack a vector, more than :data:`AUTO_INDEX_MAX`: left to ``dailypapers index``) or ``index``
    (the caller embeds them now with :meth:`Application.index`)."""

    action: str
    missing: int = 0
    job_id: int | None = None
    limit: int = 0  # the most papers an import embeds itself


@dataclass
class Hooks:
    """How an entry point watches a long action: records done so far, each rejected record, a resumed
    checkpoint's state."""

    on_progress: Progress | None = None
    on_reject: Callable[[Rejected], None] | None = None
    on_resume: Callable[[str, dict[str, Any]], None] | None = None


NO_HOOKS = Hooks()


@dataclass
class FullTextSummary(Summary):
    """Counts of one run of full-text fetching: papers asked about, texts saved (``truncated`` of them
    cut at the size kept), papers arXiv has no HTML for, and failures (each named in ``failures``)."""

    UNREPORTED = ("failures",)

    asked: int = 0
    saved: int = 0
    truncated: int = 0
    missing: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


def hf_daily_key(base_url: str, first: date, last: date) -> str:
    """The checkpoint key of a harvest of ``/api/daily_papers`` from ``base_url``, days ``first``–``last``."""
    return f"hf-daily:{base_url.rstrip('/')}:{first.isoformat()}:{last.isoformat()}"


def arxiv_api_key(search_query: str) -> str:
    """The checkpoint key of an arXiv API harvest."""
    return f"arxiv-api:{search_query}"


def oai_key(set_spec: str | None, first: date | None, last: date | None) -> str:
    """The checkpoint key of an OAI-PMH harvest."""
    return f"oai:{set_spec or '*'}:{first}:{last}"


class Application:
    """Every action of the product, on one database, configured by one :class:`Settings`.

    ``web=True`` sizes the parts for a web process (the embedding model on one thread per process).
    ``database`` lets a caller (tests, ``db copy``) hand in an open :class:`Database`; otherwise one is
    made from the settings and :meth:`close` disposes of it."""

    def __init__(self, settings: Settings, *, database: Database | None = None, web: bool = False) -> None:
        self.settings = settings
        metrics.configure(settings)
        self.db = database if database is not None else Database.from_settings(settings)
        self._owns_db = database is None
        self.web = web
        self.warmed = threading.Event()  # set once :meth:`warm_up` has finished, however it ended
        self._warming: threading.Thread | None = None

    def close(self) -> None:
        """Release the database connections (when this application opened the database)."""
        if self._owns_db:
            self.db.dispose()

    # --- parts, made on first use ----------------------------------------------------------------------

    @cached_property
    def embedder(self) -> EmbeddingBackend | None:
        """The embedding backend ``embedding_backend`` names (None for ``none``)."""
        from dailypapers.search.embed import backend_for_setting

        return backend_for_setting(
            self.settings.embedding_backend, web=self.web, precision=self.settings.embedding_precision
        )

    @cached_property
    def search(self) -> SearchEngine:
        """The hybrid search engine (keyword, and semantic when there is an embedder)."""
        from dailypapers.search.hybrid import SearchEngine

        return SearchEngine(self.db, self.embedder)

    @cached_property
    def candidates(self) -> CandidatePool | None:
        """The recommendation candidate pool (None without an embedder)."""
        from dailypapers.recommend.service import CandidatePool

        return CandidatePool(self.db, self.embedder.name) if self.embedder is not None else None

    @cached_property
    def follows_cache(self) -> NewestCache:
        """What each followed thing brings, shared by this process's readers (``/following``)."""
        from dailypapers.community.follows import NewestCache

        return NewestCache()

    @cached_property
    def limiter(self) -> RateLimiter:
        """The rate limits of ``rate_limits``, counted in the database."""
        from dailypapers.community.ratelimit import RateLimiter, parse_limits

        return RateLimiter(self.db, parse_limits(self.settings.rate_limits))

    @cached_property
    def signing_settings(self) -> Settings:
        """The settings with the secret key resolved, for what signs links (digests, mails)."""
        return resolve_secret_key(self.settings)

    def warm_up(self) -> None:
        """Load what the first search would otherwise wait for: the embedding model (queries embedded),
        this process's vector index and the titles' vocabulary (for "did you mean")."""
        try:
            engine = self.search
            if engine.backend is not None:
                # a short query and a longer one: OpenVINO compiles a model per query length it pads to
                engine.backend.embed(["warm up"])
                engine.backend.embed(["warm up the model that embeds the queries of this site's readers"])
            if engine.vectors is not None:
                len(engine.vectors)
            with self.db.session() as session:
                engine.vocabulary.words(session)  # for "did you mean"
        finally:
            self.warmed.set()

    def warm_up_in_background(self) -> None:
        """:meth:`warm_up` on a thread of its own, once per application however often it is asked
        (:attr:`warmed` tells when it is done); a failure is logged, the first search tries again."""
        if self._warming is None:
            self._warming = threading.Thread(target=self._warm_up_logged, name="warm-up", daemon=True)
            self._warming.start()

    def _warm_up_logged(self) -> None:
        try:
            self.warm_up()
        except Exception:  # noqa: BLE001 - the first search will try again; /readyz tells
            log.exception("warming up the search failed")

    def readiness(self) -> dict[str, str]:
        """What a load balancer asks before sending traffic: ``database`` reachable, ``schema`` at this
        version's newest migration, ``search`` index loaded; each ``ok`` or what is wrong."""
        from sqlalchemy.exc import SQLAlchemyError

        from dailypapers.store.copy import head_revision

        checks = {"database": "ok", "schema": "ok", "search": "ok"}
        try:
            revision = self.db.current_revision()
        except SQLAlchemyError as exc:
            return {
                "database": f"unreachable: {type(exc).__name__}",
                "schema": "unknown",
                "search": "unknown",
            }
        head = self._head_revision = getattr(self, "_head_revision", None) or head_revision()
        if revision != head:
            checks["schema"] = f"at {revision}, this version needs {head}: run `dailypapers db upgrade`"
        vectors = self.search.vectors
        if vectors is not None and not vectors.loaded:
            checks["search"] = "loading the vector index"
        return checks

    def replica_status(self) -> dict[str, Any] | None:
        """The read replica as ``/readyz`` reports it, None without one: reachable or what is wrong, where
        reads go now, and its lag behind the primary (bytes of WAL, seconds). Never part of readiness: while
        the replica is down, the primary serves the reads."""
        from sqlalchemy.exc import SQLAlchemyError

        replica = self.db.replica
        if replica is None:
            return None
        try:
            primary = self.db.wal_position()
        except SQLAlchemyError:
            primary = None
        return replica.status(primary)

    def http_client(self, **overrides: Any) -> PoliteClient:
        """A polite HTTP client with the configured interval, timeout and retries (``overrides`` win)."""
        return client_from_settings(self.settings, **overrides)

    def fetch_paper(self, arxiv_id: str) -> PaperRecord | None:
        """One paper from the arXiv API (a submission of a paper not stored yet); one retry at most."""
        from dailypapers.ingest import arxiv_api

        with self.http_client(retries=1) as client:
            return arxiv_api.fetch_paper(client, arxiv_id, base_url=self.settings.arxiv_api_url)

    # --- ingest ----------------------------------------------------------------------------------------

    def ingest(
        self, records: Iterable[Record], *, batch_size: int = 1000, hooks: Hooks = NO_HOOKS
    ) -> ImportSummary:
        """Import ``records`` (idempotent; one broken record is counted, never fatal). A source that fails
        part-way raises :class:`SourceFailed` carrying what was stored before."""
        importer = Importer(
            self.db, batch_size=batch_size, on_progress=hooks.on_progress, on_reject=hooks.on_reject
        )
        try:
            summary = importer.run(records)
        except FetchError as exc:
            metrics.count_import(importer.summary.as_dict())
            raise SourceFailed(importer.summary, exc) from exc
        metrics.count_import(summary.as_dict())
        return summary

    def resume_state(
        self, key: str, *, restart: bool = False, hooks: Hooks = NO_HOOKS
    ) -> dict[str, Any] | None:
        """The saved state of the unfinished harvest ``key`` (None when there is none, it finished, or
        ``restart``)."""
        if restart:
            return None
        with self.db.session() as session:
            row = load_checkpoint(session, key)
            if row is None or row.done:
                return None
            state = dict(row.state)
        if hooks.on_resume is not None:
            hooks.on_resume(key, state)
        return state

    def ingest_hf_daily_api(
        self,
        base_url: str,
        first: date | None = None,
        last: date | None = None,
        *,
        restart: bool = False,
        min_interval: float | None = None,
        linked: bool = False,
        hooks: Hooks = NO_HOOKS,
    ) -> ImportSummary:
        """Harvest ``/api/daily_papers`` of Hugging Face or another instance, day by day from ``first``
        (default yesterday) to ``last`` (default today, New York), resuming an interrupted run of the
        same window from its checkpoint; with ``linked``, each paper's own answer too (what was built
        on it)."""
        from dailypapers.ingest import hf_daily

        last = last or today()
        first = first or last - timedelta(days=1)
        if last < first:
            raise ValueError("the last day is before the first")
        state = self.resume_state(hf_daily_key(base_url, first, last), restart=restart, hooks=hooks)
        interval = self.settings.hf_min_interval if min_interval is None else min_interval
        with self.http_client(min_interval=interval) as client:
            return self.ingest(
                hf_daily.harvest_api(client, base_url, first, last, state=state, linked=linked), hooks=hooks
            )

    def listed_since(self, first: date) -> list[str]:
        """The arXiv ids of the papers listed on ``first`` or a later day, the newest listing first."""
        from sqlalchemy import func, select

        from dailypapers.store.models import DailyEntry, Paper

        with self.db.session() as session:
            rows = session.execute(
                select(Paper.arxiv_id)
                .join(DailyEntry, DailyEntry.paper_id == Paper.id)
                .where(DailyEntry.day >= first)
                .group_by(Paper.arxiv_id)
                .order_by(func.max(DailyEntry.day).desc(), Paper.arxiv_id)
            )
            return [r.arxiv_id for r in rows]

    def ingest_hf_papers_api(
        self,
        base_url: str,
        arxiv_ids: list[str],
        *,
        restart: bool = False,
        min_interval: float | None = None,
        hooks: Hooks = NO_HOOKS,
    ) -> ImportSummary:
        """Fetch each paper's ``GET /api/papers/{id}`` from Hugging Face or another instance (with the
        models, datasets and Spaces built on it), resuming an interrupted run of the same ids."""
        from dailypapers.ingest import hf_papers

        key = hf_papers.harvest_key(base_url, arxiv_ids)
        state = self.resume_state(key, restart=restart, hooks=hooks)
        interval = self.settings.hf_min_interval if min_interval is None else min_interval
        with self.http_client(min_interval=interval) as client:
            return self.ingest(hf_papers.harvest(client, base_url, arxiv_ids, state=state), hooks=hooks)

    def ingest_arxiv_api(
        self,
        search_query: str,
        *,
        page_size: int = 100,
        max_results: int | None = None,
        restart: bool = False,
        hooks: Hooks = NO_HOOKS,
    ) -> ImportSummary:
        """Harvest the arXiv Atom API for ``search_query`` (resumable)."""
        from dailypapers.ingest import arxiv_api

        state = self.resume_state(arxiv_api_key(search_query), restart=restart, hooks=hooks)
        with self.http_client() as client:
            records = arxiv_api.harvest(
                client,
                search_query,
                base_url=self.settings.arxiv_api_url,
                page_size=page_size,
                max_results=max_results,
                state=state,
            )
            return self.ingest(records, hooks=hooks)

    def ingest_oai(
        self,
        set_spec: str | None = None,
        first: date | None = None,
        last: date | None = None,
        *,
        restart: bool = False,
        hooks: Hooks = NO_HOOKS,
    ) -> ImportSummary:
        """Harvest arXiv over OAI-PMH, following resumption tokens (resumable)."""
        from dailypapers.ingest import oai

        state = self.resume_state(oai_key(set_spec, first, last), restart=restart, hooks=hooks)
        with self.http_client() as client:
            records = oai.harvest(
                client,
                base_url=self.settings.oai_url,
                set_spec=set_spec,
                from_=first,
                until=last,
                state=state,
            )
            return self.ingest(records, hooks=hooks)

    def sync(self, days: int = SYNC_DAYS) -> ImportSummary | None:
        """The worker's periodic sync: the daily papers of the last ``days`` days from ``sync_url``,
        through the same checkpointed harvest as ``dailypapers ingest hf-daily --api``; None when no
        ``sync_url`` is set."""
        if not self.settings.sync_url:
            return None
        last = today()
        summary = self.ingest_hf_daily_api(
            self.settings.sync_url,
            last - timedelta(days=max(days, 1) - 1),
            last,
            linked=self.settings.sync_linked,
        )
        if self.settings.sync_categories:
            try:
                self.fill_categories(self.settings.sync_categories)
            except SourceFailed as exc:  # the daily papers are in; their categories come at the next sync
                log.warning("asking arXiv for categories failed: %s", exc)
        return summary

    def papers_without_categories(self, limit: int) -> list[str]:
        """The arXiv ids of the newest ``limit`` papers with no arXiv category (those of Hugging Face's
        daily lists come without)."""
        from sqlalchemy import exists, select

        from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id
        from dailypapers.store import categories
        from dailypapers.store.models import Paper

        has_one = exists().where(categories.TABLE.c.paper_id == Paper.id)
        with self.db.session() as session:
            rows = session.scalars(
                select(Paper.arxiv_id).where(~has_one).order_by(Paper.id.desc()).limit(limit)
            )
            found = []
            for arxiv_id in rows:
                try:
                    found.append(canonical_arxiv_id(arxiv_id)[0])
                except InvalidArxivId:
                    continue  # (a paper of an evaluation set, say: nothing to ask arXiv)
            return found

    def fill_categories(self, limit: int = 1000, *, hooks: Hooks = NO_HOOKS) -> ImportSummary | None:
        """Ask the arXiv API (``arxiv_api_url``, 100 ids a request at its pace) about the newest ``limit``
        papers without a category, and import what it says like any other source: their categories (and
        what else arXiv knows of them) join the papers. None when every paper has a category."""
        from dailypapers.ingest import arxiv_api

        wanted = self.papers_without_categories(limit)
        if not wanted:
            return None
        with self.http_client() as client:
            records = arxiv_api.fetch_papers(client, wanted, base_url=self.settings.arxiv_api_url)
            return self.ingest(records, hooks=hooks)

    def fetch_full_texts(
        self,
        limit: int = 50,
        *,
        listed_since: date | None = None,
        arxiv_ids: list[str] | None = None,
        hooks: Hooks = NO_HOOKS,
    ) -> FullTextSummary:
        """Fetch arXiv's HTML of up to ``limit`` listed papers lacking a full text (or the named ones),
        at arXiv's pace (``http_min_interval``, never under 3 s), and keep each as Markdown. A paper that
        fails is counted and named and the others go on; three failures in a row stop the run (the site
        is down or refusing)."""
        from dailypapers.ingest import arxiv_html
        from dailypapers.store import texts

        with self.db.session() as session:
            todo = texts.wanted(session, limit, listed_since=listed_since, arxiv_ids=arxiv_ids or ())
        summary = FullTextSummary()
        base = self.settings.arxiv_html_url.rstrip("/")
        in_a_row = 0
        with self.http_client(min_interval=max(3.0, self.settings.http_min_interval)) as client:
            for item in todo:
                summary.asked += 1
                url = f"{base}/{item.arxiv_id}"
                try:
                    response = client.get(url)
                    if response.status_code == 404:
                        converted = None
                    else:
                        converted = arxiv_html.to_markdown(response.content)
                except arxiv_html.NotAPaper:
                    converted = None
                # RecursionError: markup nested absurdly deep fails its page, not the run
                except (FetchError, ValueError, RecursionError) as exc:
                    summary.failed += 1
                    summary.failures.append(f"{item.arxiv_id}: {exc}")
                    in_a_row += 1
                    if in_a_row >= 3:
                        break
                    continue
                in_a_row = 0
                self._keep_text(item, converted, url, summary)
                if hooks.on_progress:
                    hooks.on_progress(1)
        return summary

    def load_full_texts(self, folder: Path, *, hooks: Hooks = NO_HOOKS) -> FullTextSummary:
        """Keep the full texts of saved arXiv HTML pages (``{arxiv id}.html`` in ``folder``) of stored
        papers; a page of an unknown paper or one that is not a converted paper is counted as failed."""
        from dailypapers.ingest import arxiv_html
        from dailypapers.ingest.records import InvalidArxivId, canonical_arxiv_id
        from dailypapers.store import texts

        summary = FullTextSummary()
        for name, path in arxiv_html.saved_pages(folder):
            summary.asked += 1
            try:
                arxiv_id, version = canonical_arxiv_id(name)
                with self.db.session() as session:
                    found = texts.wanted(session, 1, arxiv_ids=[arxiv_id])
                if not found:
                    raise ValueError(f"no paper {arxiv_id} here")
                converted = arxiv_html.to_markdown(path.read_bytes())
            except (InvalidArxivId, ValueError, OSError, RecursionError) as exc:
                summary.failed += 1
                summary.failures.append(f"{path}: {exc}")
                continue
            item = found[0]
            self._keep_text(
                dataclasses.replace(item, version=version or item.version), converted, None, summary
            )
            if hooks.on_progress:
                hooks.on_progress(1)
        return summary

    def _keep_text(self, item: Any, converted: Any, url: str | None, summary: FullTextSummary) -> None:
        from dailypapers.store import texts

        with self.db.transaction() as session:
            texts.save(
                session,
                item.paper_id,
                converted.markdown if converted else None,
                source_url=url,
                version=item.version,
                truncated=bool(converted and converted.truncated),
                postgres=self.db.is_postgres,
            )
        if converted is None:
            summary.missing += 1
        else:
            summary.saved += 1
            summary.truncated += int(converted.truncated)

    def after_ingest(self) -> AfterIngest:
        """What follows an import: queue the embedding for the worker (``index_in_worker``), leave a bulk
        load to ``dailypapers index``, or tell the caller to index now (``embed_after_ingest``)."""
        backend = self.settings.embedding_backend
        if not self.settings.embed_after_ingest or backend == "none":
            return AfterIngest("off")
        if self.settings.index_in_worker:
            from dailypapers.store.jobs import enqueue

            with self.db.transaction() as session:
                job = enqueue(session, "index", {"backend": backend}, key=index_job_key(backend))
            return AfterIngest("queued", job_id=job.id if job is not None else None)
        missing = self.missing_vectors(backend)
        if missing > AUTO_INDEX_MAX:
            # a bulk load (a snapshot, a year of listings) takes hours with MiniLM on a small machine:
            # left to the resumable `dailypapers index` instead of holding the import's command hostage
            return AfterIngest("deferred", missing=missing, limit=AUTO_INDEX_MAX)
        return AfterIngest("index", missing=missing)

    # --- semantic index --------------------------------------------------------------------------------

    def embedding_backend(self, name: str | None = None) -> EmbeddingBackend:
        """The backend ``name`` (default ``embedding_backend``) for indexing; ValueError for an unknown one
        or ``none``."""
        from dailypapers.search.embed import backend_for_setting

        name = name or self.settings.embedding_backend
        if self.embedder is not None and name == self.settings.embedding_backend and not self.web:
            return self.embedder
        backend = backend_for_setting(name, precision=self.settings.embedding_precision)
        if backend is None:
            raise ValueError("the embedding backend is `none`; pick one")
        return backend

    def missing_vectors(self, name: str | None = None) -> int:
        """How many papers lack a vector under backend ``name``."""
        from dailypapers.store.vectors import count_missing

        model = self.embedding_backend(name).name
        with self.db.session() as session:
            return count_missing(session, model)

    def index(
        self,
        name: str | None = None,
        *,
        batch_size: int = 64,
        limit: int | None = None,
        on_progress: Progress | None = None,
        refit_terms: bool = False,
    ) -> IndexSummary:
        """Embed the papers lacking a current vector (each batch committed: a killed run resumes), then
        bring the recommender's term features up to date (:func:`~dailypapers.recommend.terms.update_terms`:
        the lexicon fitted when due or ``refit_terms``). The vectors are reader-visible rows, so the
        data version goes up with each batch."""
        from dailypapers.recommend.terms import update_terms
        from dailypapers.search.semantic import embed_missing

        backend = self.embedding_backend(name)
        started = time.perf_counter()
        summary = embed_missing(self.db, backend, batch_size=batch_size, on_progress=on_progress, limit=limit)
        metrics.count_embedded(summary.embedded, time.perf_counter() - started)
        terms = update_terms(self.db, refit=refit_terms)
        summary.described, summary.vocabulary = terms.described, terms.vocabulary
        return summary

    # --- accounts, with the mails that follow ---------------------------------------------------------

    def register(self, *, username: str, email: str, password: str, display_name: str | None = None) -> User:
        """Create an account and mail the link that confirms its address (a mail that cannot go out is
        logged: the account page offers to send it again)."""
        from dailypapers.community import accounts

        user = accounts.register(
            self.db, username=username, email=email, password=password, display_name=display_name
        )
        self.send_address_mail(user.id, quiet=True)
        return user

    def send_address_mail(self, user_id: int, *, quiet: bool = False) -> None:
        """Mail the confirmation link of the account's pending address, or, when another account confirmed
        that address, a notice to that account instead (the asker is told the same either way). A mail
        that cannot be sent is a 503 (:class:`ServiceUnavailable`), or only logged when ``quiet``."""
        from dailypapers.community import accounts
        from dailypapers.community.mails import address_in_use_mail, confirm_email_mail
        from dailypapers.mail import MailError, send_one

        settings = self.settings
        mail = accounts.pending_address_mail(self.db, settings, user_id)
        if mail is None:
            return
        if mail.token is not None:
            message = confirm_email_mail(settings, mail.user, mail.address, mail.token)
        else:
            if mail.holder is None:
                raise RuntimeError("an address-in-use notice needs the holder's account")
            message = address_in_use_mail(settings, mail.holder)
        try:
            send_one(settings, mail.address, message)
        except MailError as exc:
            if quiet:
                log.warning("the mail about account %s's new address was not sent: %s", user_id, exc)
                return
            raise ServiceUnavailable("the confirmation mail could not be sent; try again later") from exc

    def change_profile(
        self, user: User, *, display_name: str | None, email: str | None, password: str | None
    ) -> User:
        """Change the display name and ask for a new address, mailing its confirmation link."""
        from dailypapers.community import accounts

        updated = accounts.update_profile(
            self.db, user.id, display_name=display_name, email=email, password=password
        )
        if updated.pending_email and updated.pending_email != user.pending_email:
            self.send_address_mail(user.id)
        return updated

    def request_password_reset(self, email: str) -> None:
        """Mail a reset link if an account has ``email``; the caller answers the same either way (a mail
        server that is down is a 503 for every address alike)."""
        from dailypapers.community import accounts
        from dailypapers.community.mails import reset_mail
        from dailypapers.mail import MailError, check_server, send_one

        settings = self.settings
        found = accounts.request_reset(self.db, settings, email)
        try:
            if found is None:
                check_server(settings)
                return
            send_one(settings, found.address, reset_mail(settings, found.user, found.token, to=found.address))
        except MailError as exc:
            raise ServiceUnavailable("the reset mail could not be sent; try again later") from exc

    def reset_password(self, token: str, password: str) -> User:
        """Set a new password with a mailed reset token (ends every session of the account)."""
        from dailypapers.community import accounts

        return accounts.reset_password(self.db, self.settings, token, password)

    # --- community ------------------------------------------------------------------------------------

    def vote(self, user: User, arxiv_id: str, voted: bool) -> VoteState:
        """Upvote a paper (or take the upvote back)."""
        from dailypapers.community import actions

        return actions.set_vote(self.db, user, arxiv_id, voted)

    def submit(self, user: User, paper: str) -> DailyEntry:
        """List a paper (arXiv id or URL) on today's page, fetching it from arXiv when not stored yet."""
        from dailypapers.community import actions

        return actions.submit_paper(self.db, self.settings, user, paper, self.fetch_paper)

    def index_paper(self, paper: str) -> tuple[Paper, bool]:
        """Store a paper (arXiv id or URL), fetched from arXiv when not stored yet; whether it is new."""
        from dailypapers.community import actions

        return actions.index_paper(self.db, self.settings, paper, self.fetch_paper)

    # --- digests --------------------------------------------------------------------------------------

    def subscribe(self, address: str, prefs: Preferences, *, user: User | None = None) -> Subscribed:
        """Subscribe ``address`` to the digest and mail the confirmation link, unless ``user`` owns the
        address (then the subscription holds at once)."""
        from dailypapers.digest import subscriptions
        from dailypapers.digest.compose import confirmation_mail
        from dailypapers.mail import MailError, send_one

        done = subscriptions.subscribe(self.db, address, prefs, user=user)
        if not done.owner:
            try:
                send_one(
                    self.settings,
                    done.subscription.email,
                    confirmation_mail(self.settings, done.subscription, done.to_confirm),
                )
            except MailError as exc:
                raise ServiceUnavailable("the confirmation mail could not be sent; try again later") from exc
        return done

    def send_digests(
        self,
        *,
        edition: date | None = None,
        dry_run: bool = False,
        connections: int = 4,
        on_progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Compose the due digest editions (or those of ``edition``) and send the outbox; both summaries."""
        from dailypapers.digest.run import run_digests

        return run_digests(
            self.db,
            self.signing_settings,
            edition=edition,
            dry_run=dry_run,
            connections=connections,
            on_progress=on_progress,
        )


def index_job_key(backend: str) -> str:
    """The queue key of the embedding job of ``backend`` (one waiting at a time)."""
    return f"index:{backend}"
