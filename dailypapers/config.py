"""Settings, read once per process from the environment (prefix ``DAILYPAPERS_``) or a ``.env`` file.

Nothing here creates an engine or a client: :func:`dailypapers.store.db.Database.from_settings` and the
web app factory take a :class:`Settings` and build what they need. Nor is the secret key read at import:
:func:`resolve_secret_key` finds it (the setting, a file, or one generated once under ``data_dir``) where
the app or a command that signs is built.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "secret", "dev-insecure-secret-key"})
MIN_SECRET_LENGTH = 32
GENERATED_KEY_FILE = "secret_key"  # under data_dir: the key made on first start when none is configured
NEW_KEY_HINT = "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"


class SecretKeyError(ValueError):
    """The secret key is missing, unreadable or too weak for where the site listens (one line to show)."""


class Settings(BaseSettings):
    """Every setting of a dailypapers instance. Each one is documented in README.md."""

    model_config = SettingsConfigDict(env_prefix="DAILYPAPERS_", env_file=".env", extra="ignore")

    environment: str = Field(
        "development",
        description="`development` or anything else (e.g. `production`): outside development a placeholder "
        "or short secret key is refused (as it is, in any environment, when the host is not a loopback "
        "address).",
    )
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Folder for the SQLite database and caches.")
    database_url: str = Field(
        "", description="SQLAlchemy URL. Empty: a SQLite file `dailypapers.db` under `data_dir`."
    )
    database_replica_url: str = Field(
        "",
        description="PostgreSQL only: the URL of one streaming replica of `database_url`. Read-only "
        "requests (pages, feeds, search, API GETs) read from it; writes and a reader's pages right after "
        "their own write use the primary, as do all reads while the replica is down. Empty: no replica.",
    )
    database_replica_wait: float = Field(
        0.5,
        ge=0,
        le=5,
        description="Seconds a reader's page waits for the replica to replay that reader's latest write "
        "before it is read from the primary instead.",
    )
    secret_key: str = Field(
        "",
        description="Signs cookies, CSRF tokens and mailed links (at least 32 characters). Empty: read "
        "from `secret_key_file`, else a random key generated on first start into `data_dir/secret_key`.",
    )
    secret_key_file: str = Field(
        "", description="A file holding the secret key (e.g. a mounted secret), instead of `secret_key`."
    )
    previous_secret_keys: str = Field(
        "",
        description="Comma-separated older keys, still accepted when verifying (never used to sign): "
        "for rotating the key without logging everyone out.",
    )
    host: str = Field("127.0.0.1", description="Address `dailypapers serve` binds.")
    port: int = Field(8000, description="Port `dailypapers serve` listens on.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Addresses of the reverse proxies whose `X-Forwarded-For`/`-Proto` headers "
        "`dailypapers serve` believes (comma-separated; the client address counts rate limits and login "
        "throttling). Never `*` on a port the internet reaches.",
    )
    site_url: str = Field("http://127.0.0.1:8000", description="Public base URL, used in feeds and mails.")
    load_demo: bool = Field(True, description="Load the bundled demo papers when the database is empty.")
    embedding_backend: Literal["minilm", "hashing", "static", "none"] = Field(
        "minilm",
        description="Model behind semantic and hybrid search: `minilm` (all-MiniLM-L6-v2, offline), "
        "`hashing` (no model; tests and development), `static` (a model2vec model) or `none` (keyword only).",
    )
    embedding_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="How MiniLM multiplies, when indexing and (on OpenVINO) embedding queries: `auto` "
        "(bfloat16 on a CPU with AMX, 2-3x faster, vectors within a cosine of 0.9999 of float32's; float32 "
        "elsewhere), `fp32` or `bf16`. Queries run in bfloat16 on OpenVINO when it is installed (the "
        "`semantic` extra), else in float32 on ONNX Runtime.",
    )
    embed_after_ingest: bool = Field(
        True, description="After each `dailypapers ingest …`, embed the papers that lack a current vector."
    )
    index_in_worker: bool = Field(
        False,
        description="After an ingest, queue the embedding as a job for `dailypapers worker` (any "
        "machine, e.g. one with a GPU) instead of embedding in the ingest command; no 5,000-paper cap.",
    )
    database_pool_size: int = Field(
        10, ge=3, le=1000, description="Database connections each process keeps open for reuse (at least 3)."
    )
    database_max_overflow: int = Field(
        20,
        ge=0,
        le=1000,
        description="Connections a process may open beyond the pool when busy; a web process runs at most "
        "pool size + overflow - 2 requests' database work at once, so none waits for a second connection.",
    )
    database_pool_timeout: float = Field(
        10.0, gt=0, description="Seconds a request waits for a free connection before it is answered 503."
    )
    sqlite_busy_timeout_ms: int = Field(5000, description="How long a SQLite writer waits for the lock.")
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv Atom API endpoint.")
    oai_url: str = Field("https://oaipmh.arxiv.org/oai", description="arXiv OAI-PMH endpoint.")
    arxiv_html_url: str = Field(
        "https://arxiv.org/html",
        description="Where papers' HTML is fetched for their full text (`{url}/{arXiv id}`), at most one "
        "request per 3 s.",
    )
    fulltext_batch: int = Field(
        50, ge=1, le=10000, description="Papers the worker's `fulltext` task asks arXiv about per run."
    )
    http_min_interval: float = Field(
        3.0, description="Seconds between two requests to arXiv (never less than 3) or OAI-PMH."
    )
    hf_min_interval: float = Field(
        1.0,
        ge=0,
        description="Seconds between two requests to Hugging Face or another dailypapers instance "
        "(`ingest hf-daily --api`, the worker's `sync`).",
    )
    pg_bin_dir: Path | None = Field(
        None,
        description="Folder holding PostgreSQL's `pg_dump` and `pg_restore` for `db backup` and `db restore` "
        "(default: found on the PATH; their major version must be at least the server's).",
    )
    http_timeout: float = Field(30.0, description="Seconds before an outside request times out.")
    http_retries: int = Field(4, description="Retries of a failed outside request, with backoff.")
    response_cache: bool = Field(
        True,
        description="Keep rendered anonymous pages, feeds and API answers in memory until the data changes.",
    )
    cache_check_interval: float = Field(
        1.0, ge=0, description="Seconds between two reads of the data version by a cache (0: every request)."
    )
    cache_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Memory bound of the response cache per worker process, in bytes.",
    )
    cache_max_age: float = Field(
        60.0,
        ge=0,
        description="Seconds a cached response is kept at most, even if the data did not change "
        "(0: no limit).",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=0,
        description="Largest request body accepted, in bytes; a larger one gets 413 before it is read.",
    )

    smtp_host: str = Field(
        "", description="SMTP server for mail (password resets, digests). Empty: mails are only logged."
    )
    smtp_port: int = Field(587, description="SMTP port (587 STARTTLS, 465 SSL, 25 plain).")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="How to secure the SMTP connection: `starttls`, `ssl` or `none`."
    )
    smtp_username: str = Field("", description="SMTP login (empty: no login).")
    smtp_password: str = Field("", description="SMTP password.")
    smtp_timeout: float = Field(30.0, description="Seconds before an SMTP conversation times out.")
    mail_from: str = Field(
        "dailypapers <noreply@localhost>", description="The From address of every mail the site sends."
    )
    rate_limits: str = Field(
        "",
        description="Overrides of the per-client rate limits, e.g. `login=10/minute,vote=300/hour` "
        "(actions: login, register, reset, submit, vote, comment, write, subscribe, verify; see README).",
    )
    login_throttle_after: int = Field(
        3,
        ge=1,
        description="Failed logins of one account name from one client address after which each "
        "next try from there waits 1, 2, 4… s after the last failure.",
    )
    login_throttle_client_after: int = Field(
        30,
        ge=1,
        description="Failed logins from one client address, whatever the account name, after which "
        "its tries wait the same way.",
    )
    login_throttle_account_after: int = Field(
        100,
        ge=1,
        description="Failed logins of one account name from all clients together after which its "
        "tries wait the same way, except from a browser with the account's known-device cookie.",
    )
    login_throttle_max_seconds: float = Field(
        900.0, ge=1, description="The longest wait between two login tries (15 minutes)."
    )
    login_throttle_forget_hours: float = Field(
        24.0, gt=0, description="Hours without a failed login after which a count starts again from zero."
    )
    known_device_days: int = Field(
        365,
        ge=1,
        description="Days a browser stays known to an account after logging in to it (the "
        "`dp_device` cookie), exempt from the account-wide login throttle.",
    )
    submit_daily_cap: int = Field(5, ge=0, description="Papers one user may submit per day (admins: no cap).")
    submit_max_age_days: int = Field(
        14, ge=1, description="Only papers published on arXiv within this many days can be submitted."
    )
    session_days: int = Field(30, ge=1, description="Days a login stays valid.")
    session_check_interval: float = Field(
        1.0,
        ge=0,
        le=60,
        description=(
            "Seconds between two checks, per worker, of whether any login may have ended (a logout, a "
            "revoked session, an account changed): one in another worker process or the CLI takes effect "
            "within this (0: every request reads its login)."
        ),
    )
    registration_open: bool = Field(True, description="Whether anyone may create an account.")

    recommend_window_days: int = Field(
        365,
        ge=0,
        description="Recommend papers published within this many days of the newest paper (0: all papers).",
    )
    sync_url: str = Field(
        "https://huggingface.co",
        description="Where the worker's `sync` fetches the daily papers of the last "
        "two days (`/api/daily_papers`): Hugging Face or another dailypapers instance; empty: no sync.",
    )
    sync_linked: bool = Field(
        True,
        description="With each `sync`, ask for every synced paper's own answer (`/api/papers/{id}`) too: the "
        "models, datasets and Spaces built on it (one more request per paper).",
    )
    sync_categories: int = Field(
        200,
        ge=0,
        description="After each `sync`, ask the arXiv API (`arxiv_api_url`) for the categories of up to this "
        "many of the newest papers without one (Hugging Face's daily lists carry none), so that category "
        "filters and follows can match them; 0: never.",
    )
    worker_schedule: str = Field(
        "sync=1h,index=10m,digest=5m",
        description="What `dailypapers worker` runs periodically and how often: `sync` (the Hugging Face "
        "daily papers of the last days), `index` (embed new papers), `digest` (compose and send due "
        "digests); units s, m, h; empty: no periodic jobs.",
    )
    metrics: bool = Field(
        True,
        description="Count requests, the response cache, the database pool, jobs, imports and embeddings for "
        "Prometheus at `/metrics` (false: no counting, `/metrics` answers 404).",
    )
    metrics_dir: Path | None = Field(
        None,
        description="Folder where every process of the site keeps its metric files (default "
        "`DATA_DIR/metrics`); `/metrics` sums them.",
    )
    metrics_allow: str = Field(
        "127.0.0.1,::1",
        description="Addresses and networks (comma-separated; `*`: anyone) that may read `/metrics`; "
        "others get 404.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO",
        description="Least severe log records written (to standard error) by every command, the web "
        "workers and the worker: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`text` (time, level, logger, message) or `json` (one JSON object per line)."
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):  # `info` and `JSON` are fine too
            return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        keys = [("DAILYPAPERS_SECRET_KEY", self.secret_key)] if self.secret_key else []
        keys += [("DAILYPAPERS_PREVIOUS_SECRET_KEYS", key) for key in self.previous_keys]
        for name, key in keys:
            problem = weak_key_problem(name, key, environment=self.environment, host=self.host)
            if problem:
                raise ValueError(problem)
        if self.database_replica_url:
            problem = replica_url_problem(self.resolved_database_url, self.database_replica_url)
            if problem:
                raise ValueError(problem)
        return self

    @property
    def previous_keys(self) -> list[str]:
        """The keys of ``previous_secret_keys``, oldest first."""
        return [key.strip() for key in self.previous_secret_keys.split(",") if key.strip()]

    @property
    def signing_keys(self) -> list[str]:
        """Every key a signature may be made with, oldest first; the last one signs (itsdangerous's
        order). Only on settings from :func:`resolve_secret_key`."""
        if not self.secret_key:
            raise RuntimeError(
                "the secret key is not resolved: pass the settings through resolve_secret_key()"
            )
        return [*self.previous_keys, self.secret_key]

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/dailypapers.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dailypapers.db').as_posix()}"

    @property
    def database_backend(self) -> str:
        """``sqlite`` or ``postgresql``: the backend the database URL names (the one answer to "is this
        PostgreSQL?" before a database is open; :attr:`Database.backend` answers it after)."""
        from sqlalchemy.engine import make_url

        return make_url(self.resolved_database_url).get_backend_name()


def replica_url_problem(primary_url: str, replica_url: str) -> str | None:
    """Why ``replica_url`` cannot be the read replica of ``primary_url`` (one line), or None: both must
    be PostgreSQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    name = "DAILYPAPERS_DATABASE_REPLICA_URL"
    try:
        primary = make_url(primary_url).get_backend_name()
    except ArgumentError:
        return None  # the primary's own URL is reported where it is opened
    if primary != "postgresql":
        label = "SQLite" if primary == "sqlite" else primary
        return f"{name} needs a PostgreSQL primary, but DAILYPAPERS_DATABASE_URL is {label}"
    try:
        replica = make_url(replica_url).get_backend_name()
    except ArgumentError:
        return f"{name} is not a database URL (expected postgresql+psycopg://…)"
    if replica != "postgresql":
        return f"{name} must be a PostgreSQL URL (postgresql+psycopg://…), not {replica}"
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` can be reached from this machine only (127.0.0.0/8, ::1, ``localhost``)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def weak_key_problem(name: str, key: str, *, environment: str, host: str) -> str | None:
    """Why ``key`` must not sign here, or None: a placeholder or a key shorter than 32 characters is
    refused outside development and, in any environment, when the site listens beyond loopback."""
    if key in PLACEHOLDER_SECRETS:
        reason = "is a published placeholder"
    elif len(key) < MIN_SECRET_LENGTH:
        reason = f"is shorter than {MIN_SECRET_LENGTH} characters"
    else:
        return None
    if environment == "development" and is_loopback(host):
        return None
    where = f"in {environment}" if environment != "development" else f"on host {host}"
    return f"{name} {reason}: refused {where}; use a random key ({NEW_KEY_HINT})"


def _read_key(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretKeyError(f"{name}: cannot read {path} ({exc.strerror or exc})") from None


def _generated_key(data_dir: Path) -> str:
    """The key in ``data_dir/secret_key``, written (mode 0600) by whichever process comes first: the file
    is created with O_EXCL, so concurrent workers that lose the race read the winner's key."""
    path = data_dir / GENERATED_KEY_FILE
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the owner only
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(40):  # the winner may still be writing it
            key = _read_key(path, "the generated secret key")
            if key:
                return key
            time.sleep(0.05)
        raise SecretKeyError(
            f"the secret key file {path} is empty; delete it to have a new key generated"
        ) from None
    except OSError as exc:
        raise SecretKeyError(
            f"cannot write the secret key to {path} ({exc.strerror or exc}); "
            "set DAILYPAPERS_SECRET_KEY or DAILYPAPERS_SECRET_KEY_FILE"
        ) from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
        out.flush()
        os.fsync(out.fileno())
    return key


def resolve_secret_key(settings: Settings, *, host: str | None = None) -> Settings:
    """``settings`` with the secret key that signs, checked for ``host`` (default: ``settings.host``).

    The key is ``secret_key``, else the contents of ``secret_key_file``, else a random key generated once
    into ``data_dir/secret_key`` (single machine). With PostgreSQL and a host beyond loopback, several
    machines may serve the site and must share one key, so it has to be configured. Raises
    :class:`SecretKeyError` with a one-line reason."""
    host = settings.host if host is None else host
    if settings.secret_key and settings.secret_key_file:
        raise SecretKeyError("set DAILYPAPERS_SECRET_KEY or DAILYPAPERS_SECRET_KEY_FILE, not both")
    if settings.secret_key:
        key, name = settings.secret_key, "DAILYPAPERS_SECRET_KEY"
    elif settings.secret_key_file:
        path = Path(settings.secret_key_file)
        name = f"the key in DAILYPAPERS_SECRET_KEY_FILE ({path})"
        key = _read_key(path, "DAILYPAPERS_SECRET_KEY_FILE")
        if not key:
            raise SecretKeyError(f"DAILYPAPERS_SECRET_KEY_FILE: {path} is empty")
    elif settings.database_backend == "postgresql" and not is_loopback(host):
        raise SecretKeyError(
            f"with PostgreSQL and host {host}, every web machine must sign with the same "
            "key: set DAILYPAPERS_SECRET_KEY or DAILYPAPERS_SECRET_KEY_FILE"
        )
    else:
        key = _generated_key(settings.data_dir)
        name = f"the key in {settings.data_dir / GENERATED_KEY_FILE}"
    keys = [(name, key)] + [("DAILYPAPERS_PREVIOUS_SECRET_KEYS", k) for k in settings.previous_keys]
    for what, value in keys:
        problem = weak_key_problem(what, value, environment=settings.environment, host=host)
        if problem:
            raise SecretKeyError(problem)
    return settings.model_copy(update={"secret_key": key, "secret_key_file": ""})  # nosec B105 # no file
