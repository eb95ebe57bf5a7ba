"""Settings, read once per process from the environment (prefix ``DAILYPAPERS_``) or a ``.env`` file.

Nothing here creates an engine or a client: :func:`dailypapers.store.db.Database.from_settings` and the
web app factory take a :class:`Settings` and build what they need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "secret", "dev-insecure-secret-key"})


class Settings(BaseSettings):
    """Every setting of a dailypapers instance. Each one is documented in README.md."""

    model_config = SettingsConfigDict(env_prefix="DAILYPAPERS_", env_file=".env", extra="ignore")

    environment: str = Field(
        "development", description="`development` or anything else (e.g. `production`): outside development a placeholder or "
        "short secret key is refused."
    )
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Folder for the SQLite database and caches.")
    database_url: str = Field(
        "", description="SQLAlchemy URL. Empty: a SQLite file `dailypapers.db` under `data_dir`."
    )
    secret_key: str = Field(
        "dev-insecure-secret-key", description="Signs cookies and links. Must be set in production."
    )
    host: str = Field("127.0.0.1", description="Address `dailypapers serve` binds.")
    port: int = Field(8000, description="Port `dailypapers serve` listens on.")
    site_url: str = Field("http://127.0.0.1:8000", description="Public base URL, used in feeds and mails.")
    load_demo: bool = Field(True, description="Load the bundled demo papers when the database is empty.")
    embedding_backend: Literal["minilm", "hashing", "static", "none"] = Field(
        "minilm",
        description="Model behind semantic and hybrid search: `minilm` (all-MiniLM-L6-v2, offline), "
        "`hashing` (no model; tests and development), `static` (a model2vec model) or `none` (keyword only).",
    )
    embed_after_ingest: bool = Field(
        True, description="After each `dailypapers ingest …`, embed the papers that lack a current vector."
    )
    index_in_worker: bool = Field(
        False, description="After an ingest, queue the embedding as a job for `dailypapers worker` (any "
        "machine, e.g. one with a GPU) instead of embedding in the ingest command; no 5,000-paper cap."
    )
    sqlite_busy_timeout_ms: int = Field(5000, description="How long a SQLite writer waits for the lock.")
    arxiv_api_url: str = Field("https://export.arxiv.org/api/query", description="arXiv Atom API endpoint.")
    oai_url: str = Field("https://oaipmh.arxiv.org/oai", description="arXiv OAI-PMH endpoint.")
    http_min_interval: float = Field(
        3.0, description="Seconds between two requests to arXiv (never less than 3) or OAI-PMH."
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
        64 * 1024 * 1024, ge=0,
        description="Memory bound of the response cache per worker process, in bytes.",
    )
    cache_max_age: float = Field(
        60.0, ge=0,
        description="Seconds a cached response is kept at most, even if the data did not change "
        "(0: no limit).",
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
        "", description="Overrides of the per-client rate limits, e.g. `login=10/minute,vote=300/hour` "
        "(actions: login, register, reset, submit, vote, comment, write; see README)."
    )
    login_lockout_attempts: int = Field(
        5, ge=1, description="Failed logins in a row that lock an account for `login_lockout_minutes`."
    )
    login_lockout_minutes: float = Field(15.0, ge=0, description="How long a locked account stays locked.")
    submit_daily_cap: int = Field(5, ge=0, description="Papers one user may submit per day (admins: no cap).")
    submit_max_age_days: int = Field(
        14, ge=1, description="Only papers published on arXiv within this many days can be submitted."
    )
    session_days: int = Field(30, ge=1, description="Days a login stays valid.")
    registration_open: bool = Field(True, description="Whether anyone may create an account.")

    recommend_window_days: int = Field(
        365, ge=0, description="Recommend papers published within this many days of the newest paper "
        "(0: all papers)."
    )
    sync_url: str = Field(
        "https://huggingface.co", description="Where the worker's `sync` fetches the daily papers of the last "
        "two days (`/api/daily_papers`): Hugging Face or another dailypapers instance; empty: no sync."
    )
    worker_schedule: str = Field(
        "sync=1h,index=10m,digest=5m",
        description="What `dailypapers worker` runs periodically and how often: `sync` (the Hugging Face "
        "daily papers of the last days), `index` (embed new papers), `digest` (compose and send due digests); "
        "units s, m, h; empty: no periodic jobs.",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.environment != "development" and self.secret_key in PLACEHOLDER_SECRETS:
            raise ValueError(f"DAILYPAPERS_SECRET_KEY must be set to a real secret in {self.environment}")
        if self.environment != "development" and len(self.secret_key) < 32:
            raise ValueError(f"DAILYPAPERS_SECRET_KEY must be at least 32 characters in {self.environment} "
                             "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/dailypapers.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dailypapers.db').as_posix()}"
