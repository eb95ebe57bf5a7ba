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
        "development", description="`development` or `production`; production refuses placeholder secrets."
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

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.environment == "production" and self.secret_key in PLACEHOLDER_SECRETS:
            raise ValueError("DAILYPAPERS_SECRET_KEY must be set to a real secret in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/dailypapers.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dailypapers.db').as_posix()}"
