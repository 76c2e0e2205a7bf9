"""Settings per environment, read from the environment and an optional `.env` file.

Only `create_app(config)` (and Alembic's env.py, the CLI and asgi.py) call `load_config()`;
nothing else reads the environment.
"""

from __future__ import annotations

import os
import tempfile
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "testing", "staging", "production"]

# Known only so that the deployed environments can refuse it.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-0123456789"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(Exception):
    """The configuration cannot start the service; the message names the variable."""


class Settings(BaseSettings):
    """Every setting the service reads; environment variables have the upper-case names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    app_env: Environment = "development"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    database_url: str = "sqlite+aiosqlite:///conduit.db"
    redis_url: str | None = None

    # Database pool (PostgreSQL); keep workers x (size + overflow) under max_connections.
    # Admission lets size + overflow requests in at once, so every one of those connections
    # is in use under load: overflow ones would be closed whenever the pool briefly held
    # `size` idle and opened again at the next burst (measured: a connect per ~40 requests).
    db_pool_size: int = Field(default=15, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=120)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    # Closed connections are always replaced at checkout for free; this adds a round trip to
    # catch ones the network dropped silently (db.py, _replace_closed_connections).
    db_pool_pre_ping: bool = False
    db_statement_timeout_ms: int = Field(default=10_000, ge=0)
    # What DATABASE_URL points at: PostgreSQL itself, or PgBouncer in transaction pooling mode
    # (db.py: unnamed statements, the statement timeout set in each transaction).
    database_pooler: Literal["none", "pgbouncer"] = "none"
    db_echo: bool = False

    # A PostgreSQL streaming replica (hot standby) of DATABASE_URL's database, behind the same
    # pooler if any: GET and HEAD read from it; writes, and every read of a write request, use
    # DATABASE_URL (service/read_routing.py). Unset: everything uses DATABASE_URL.
    database_read_url: str | None = None
    # The replica is read from only while it is known to show every commit older than this.
    replica_max_lag_seconds: float = Field(default=3.0, gt=0, le=3600)
    # How often each worker measures the replica's lag (and notices it gone or back).
    replica_check_seconds: float = Field(default=0.5, gt=0, le=60)
    # After a write, its caller reads from the primary this long: at least the lag bound, so
    # that any replica read after it already shows the write (README, "Read replicas").
    read_your_writes_seconds: float = Field(default=5.0, gt=0, le=3600)

    # Tokens and passwords. A token lives jwt_ttl_seconds; renewing it (GET or PUT /api/user
    # hands back a new one) never reaches past token_max_age_seconds from the login.
    jwt_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    token_max_age_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # Refresh tokens: short access tokens (/api/users/refresh hands out a new one with a new
    # refresh token) live access_token_ttl_seconds; a refresh token lives
    # refresh_token_ttl_seconds unless used first, and no refresh token or access token
    # outlives token_max_age_seconds from the login. legacy_tokens keeps the Conduit tokens
    # (jwt_ttl_seconds) from login and registration; off, every token is a short access token.
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=300)
    legacy_tokens: bool = True
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_memory_kib: int = Field(default=65_536, ge=8, le=4_194_304)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    hash_threads: int = Field(default=max(2, os.cpu_count() or 2), ge=1, le=64)
    # A hash that would wait longer than this (or than the request deadline, if shorter) is
    # refused at once with 503 and Retry-After.
    hash_queue_seconds: float = Field(default=3.0, ge=0, le=600)
    # Hashes one client address may have running or queued at once: its share of the threads.
    hash_queue_per_address: int = Field(default=2, ge=1, le=10_000)

    # Request limits. The deadline is enforced in the app (hypercorn has none); PostgreSQL's
    # statement_timeout must not outlast it.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_json_depth: int = Field(default=32, ge=2, le=256)
    request_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    # A request body must arrive in full within this (408 past it); it is read before the
    # request takes a database slot, and before its deadline starts.
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=600)

    # Serving behind a load balancer: how many proxies in front may set X-Forwarded-For/-Proto
    # (0 trusts none, so a client cannot spoof its address).
    trusted_proxy_hops: int = Field(default=0, ge=0, le=10)
    cors_origins: list[str] = Field(default_factory=list)

    # GET /api/tags answers from each process's memory for this long (0: always query).
    tags_cache_seconds: float = Field(default=2.0, ge=0, le=300)

    # Browser sign-in: the signed session cookie's lifetime.
    session_max_age_seconds: int = Field(default=14 * 24 * 3600, ge=300)
    # Login rate limits (page and API), failed attempts in one window: on one account from one
    # client address; on one account from all addresses (a ceiling that does not hold
    # addresses which signed in to it within login_known_address_seconds); from one address.
    # Counted in Redis when REDIS_URL is set, else in each process's memory.
    login_rate_limit_per_account_address: int = Field(default=5, ge=1)
    login_rate_limit_per_account: int = Field(default=100, ge=1)
    login_rate_limit_per_address: int = Field(default=30, ge=1)
    login_rate_limit_window_seconds: int = Field(default=300, ge=1, le=86_400)
    login_known_address_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # Registrations (POST /api/users) per client address in one window, counted like logins.
    register_rate_limit_per_address: int = Field(default=20, ge=1)
    register_rate_limit_window_seconds: int = Field(default=3600, ge=1, le=86_400)
    rate_limit_key_prefix: str = Field(default="conduit:", max_length=64)

    # Password reset (POST /api/users/password-reset and the /password-reset pages): a link
    # lives this long and works once. Requests are limited per client address and per email
    # address asked about (no lookup decides the limit, so it tells nothing about accounts).
    password_reset_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    password_reset_rate_limit_per_address: int = Field(default=10, ge=1)
    password_reset_rate_limit_per_account: int = Field(default=3, ge=1)
    password_reset_rate_limit_window_seconds: int = Field(default=3600, ge=1, le=86_400)
    # Where the service is reached from outside (scheme, host, optional path prefix): the
    # links in emails start with it. Never taken from a request's Host header, which the
    # client chooses. Unset in staging and production until it is set: reset emails fail
    # (their jobs end as failed) rather than carry a guessed address.
    public_base_url: str | None = None

    # Work outside the request (service/jobs, python -m service.worker). PostgreSQL: the
    # procrastinate queue in the same database; SQLite: an in-process runner in the web tier.
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    # SQLite only: run jobs inside the web process (`make run` needs no worker). The testing
    # environment turns it off; the tests of the in-process mode turn it on.
    jobs_in_process: bool = True
    # After SIGTERM a worker takes no new job and gives running ones this long to finish;
    # the rest are aborted and retried by another worker.
    worker_graceful_seconds: float = Field(default=20.0, ge=0, le=3600)
    jobs_max_attempts: int = Field(default=8, ge=1, le=100)
    # Retry n waits min(cap, base * 2**n) seconds; after jobs_max_attempts the job is failed
    # (dead) until an operator retries it.
    jobs_retry_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    jobs_retry_cap_seconds: float = Field(default=600.0, gt=0, le=86_400)
    # Outbox relay and job fetch fall back to polling this often (NOTIFY wakes them sooner).
    jobs_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    jobs_heartbeat_seconds: float = Field(default=10.0, gt=0, le=600)
    # A worker silent this long is dead: its running jobs are handed to another worker.
    jobs_stalled_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Clean-up jobs (cron, 5 fields or 6 with seconds): once per tick across all workers.
    cleanup_cron: str = "17 * * * *"

    # Email: smtp://user:pass@host:587 (STARTTLS, required when a password is given),
    # smtps://... (TLS from the start) or smtp://127.0.0.1:8025 (a plain local server).
    # Unset: messages are written as .eml files to mail_outbox_dir instead.
    smtp_url: SecretStr | None = None
    mail_from: str = "Conduit <no-reply@conduit.localhost>"
    mail_outbox_dir: str = "var/mail"
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, le=300)

    # Webhooks: outbound calls' limits, retention of the delivery log, and the SSRF guard
    # (private and loopback addresses refused unless allowed; link-local always refused).
    webhook_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_max_response_bytes: int = Field(default=65_536, ge=0, le=10_485_760)
    webhook_disable_after_failures: int = Field(default=20, ge=1, le=10_000)
    webhook_delivery_retention_days: int = Field(default=14, ge=1, le=3650)
    webhook_allow_private_addresses: bool = False

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    # Check every JSON response against its documented schema (a failed check is a 500).
    # On where code changes (development, testing); off where it costs throughput.
    validate_responses: bool = False

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError(
                "must start with postgresql+asyncpg:// or sqlite+aiosqlite:// "
                f"(got {value.split('://', 1)[0]}://...)"
            )
        return value

    @field_validator("database_read_url")
    @classmethod
    def _read_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError(
                "must start with postgresql+asyncpg:// (a PostgreSQL streaming replica; "
                f"got {value.split('://', 1)[0]}://...)"
            )
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://user:pass@host:587 or smtps://host:465")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises for a port out of range)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or parts.username is not None
            or any(ch.isspace() or not ch.isprintable() for ch in value)
        ):
            raise ValueError(
                "must be an http or https URL with a host and no query or fragment, "
                "e.g. https://conduit.example"
            )
        return value.rstrip("/")

    @field_validator("cleanup_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"is not a cron expression: {value!r}")
        return value

    @model_validator(mode="after")
    def _statements_within_deadline(self) -> Settings:
        if self.db_statement_timeout_ms > self.request_timeout_seconds * 1000:
            raise ValueError(
                "DB_STATEMENT_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_SECONDS "
                f"({self.db_statement_timeout_ms} ms > {self.request_timeout_seconds} s)"
            )
        return self

    @model_validator(mode="after")
    def _pooler_needs_postgres(self) -> Settings:
        if self.database_pooler != "none" and self.is_sqlite:
            raise ValueError("DATABASE_POOLER: a pooler needs a postgresql+asyncpg:// DATABASE_URL")
        return self

    @model_validator(mode="after")
    def _replica_of_postgres(self) -> Settings:
        if self.database_read_url is None:
            return self
        if self.is_sqlite:
            raise ValueError(
                "DATABASE_READ_URL: a read replica needs a postgresql+asyncpg:// DATABASE_URL "
                "(SQLite has no replicas)"
            )
        if self.replica_max_lag_seconds <= self.replica_check_seconds:
            raise ValueError(
                "REPLICA_MAX_LAG_SECONDS must exceed REPLICA_CHECK_SECONDS (the lag is known "
                "only that often)"
            )
        if self.read_your_writes_seconds < self.replica_max_lag_seconds:
            raise ValueError(
                "READ_YOUR_WRITES_SECONDS must be at least REPLICA_MAX_LAG_SECONDS "
                f"({self.read_your_writes_seconds:g} < {self.replica_max_lag_seconds:g}): "
                "a caller's reads return to the replica only once it must show their writes"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS, except in development and tests on plain http."""
        return self.app_env not in ("development", "testing")

    @property
    def is_deployed(self) -> bool:
        return self.app_env in ("staging", "production")


class DevelopmentSettings(Settings):
    app_env: Environment = "development"
    public_base_url: str | None = "http://localhost:8000"  # make run's address
    log_json: bool = False
    validate_responses: bool = True


class TestingSettings(Settings):
    app_env: Environment = "testing"
    database_url: str = "sqlite+aiosqlite:///test.db"
    # Cheap hashes: the suite checks behaviour, bench/ measures cost.
    argon2_time_cost: int = 1
    argon2_memory_kib: int = 64
    argon2_parallelism: int = 1
    # Tests log in and register often, from one address; the limit tests set their own.
    login_rate_limit_per_account_address: int = 10_000
    login_rate_limit_per_account: int = 10_000
    login_rate_limit_per_address: int = 10_000
    register_rate_limit_per_address: int = 10_000
    password_reset_rate_limit_per_address: int = 10_000
    password_reset_rate_limit_per_account: int = 10_000
    hash_queue_per_address: int = 10_000
    public_base_url: str | None = "http://localhost:8000"
    log_json: bool = False
    tags_cache_seconds: float = 0.0  # tests see each write at once; test_tags_cache turns it on
    jobs_in_process: bool = False  # tests of jobs start the runner or workers they need
    mail_outbox_dir: str = os.path.join(tempfile.gettempdir(), "conduit-test-mail")
    validate_responses: bool = True


class DeployedSettings(Settings):
    """Staging and production: no defaults for secrets or the database."""

    # Required here, so a missing one is reported beside every other wrong variable.
    secret_key: SecretStr
    database_url: str

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret == DEV_SECRET_KEY:
            raise ValueError("is the development default; set a random value")
        if len(secret) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return value


class DeployedMigrationSettings(Settings):
    """Alembic in staging and production: the database URL is required, secrets are not read.

    A one-off migration (`docker run -e DATABASE_URL=... IMAGE alembic upgrade head`, the
    compose file's `migrate` service) should not be handed the signing key it never uses.
    """

    @model_validator(mode="before")
    @classmethod
    def _url_required(cls, data: dict[str, object]) -> dict[str, object]:
        lowered = {k.lower(): v for k, v in data.items()}
        if not lowered.get("database_url"):
            raise ValueError(
                f"DATABASE_URL is required when APP_ENV is set to {lowered.get('app_env')}"
            )
        return data


class StagingSettings(DeployedSettings):
    app_env: Environment = "staging"


class ProductionSettings(DeployedSettings):
    app_env: Environment = "production"


SETTINGS_BY_ENV: dict[str, type[Settings]] = {
    "development": DevelopmentSettings,
    "testing": TestingSettings,
    "staging": StagingSettings,
    "production": ProductionSettings,
}


def load_config(env: str | None = None, **overrides: object) -> Settings:
    """Build the settings for APP_ENV (or `env`); ConfigError names the bad variable."""
    name = _environment(env)
    return _build(SETTINGS_BY_ENV[name], name, overrides)


def load_migration_config(env: str | None = None) -> Settings:
    """Settings for Alembic: like load_config, but deployed environments need only DATABASE_URL."""
    name = _environment(env)
    settings_class = SETTINGS_BY_ENV[name]
    if issubclass(settings_class, DeployedSettings):
        settings_class = DeployedMigrationSettings
    return _build(settings_class, name, {})


def _environment(env: str | None) -> str:
    name = (env or os.environ.get("APP_ENV") or "development").strip().lower()
    if name not in SETTINGS_BY_ENV:
        raise ConfigError(f"APP_ENV: must be one of {', '.join(SETTINGS_BY_ENV)} (got {name!r})")
    return name


def _build(settings_class: type[Settings], name: str, overrides: dict[str, object]) -> Settings:
    try:
        return settings_class(**{"app_env": name, **overrides})  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required when APP_ENV is staging or production"
        lines.append(f"{field}: {message}" if field else message)
    return "; ".join(lines)
