"""Configuration per environment, and the refusals that stop a bad deployment at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service import config
from service.config import DEV_SECRET_KEY, ConfigError, load_config, load_migration_config

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "s" * 48
PG = "postgresql+asyncpg://app@db/app"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in (
        "APP_ENV",
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "DB_POOL_SIZE",
        "DATABASE_POOLER",
        "DATABASE_READ_URL",
        "REPLICA_MAX_LAG_SECONDS",
        "REPLICA_CHECK_SECONDS",
        "READ_YOUR_WRITES_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_environment_picks_the_class(monkeypatch):
    assert isinstance(load_config(), config.DevelopmentSettings)
    monkeypatch.setenv("APP_ENV", "testing")
    assert isinstance(load_config(), config.TestingSettings)
    monkeypatch.setenv("APP_ENV", "Production")
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("DATABASE_URL", PG)
    settings = load_config()
    assert isinstance(settings, config.ProductionSettings)
    assert settings.database_url == PG


def test_unknown_environment_is_named():
    with pytest.raises(ConfigError, match="APP_ENV"):
        load_config("qa")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": PG}, "SECRET_KEY"),
        ({"DATABASE_URL": PG, "SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY"),
        ({"DATABASE_URL": PG, "SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": GOOD_SECRET}, "DATABASE_URL"),
        ({"SECRET_KEY": GOOD_SECRET, "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"SECRET_KEY": GOOD_SECRET, "DATABASE_URL": PG, "DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
    ],
)
@pytest.mark.parametrize("environment", ["production", "staging"])
def test_deployed_environments_refuse_bad_config(monkeypatch, env, message, environment):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_config(environment)


def test_env_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"SECRET_KEY={GOOD_SECRET}\nDATABASE_URL={PG}\n")
    settings = load_config("production")
    assert settings.secret_key.get_secret_value() == GOOD_SECRET


def test_asgi_refuses_to_start_with_one_clear_line(tmp_path):
    env = {"APP_ENV": "production", "DATABASE_URL": PG, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import asgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: SECRET_KEY")


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_migrations_need_only_the_database_url(monkeypatch, environment):
    monkeypatch.setenv("DATABASE_URL", PG)
    assert load_migration_config(environment).database_url == PG
    monkeypatch.setenv("SECRET_KEY", "short")  # not read, so not refused
    assert load_migration_config(environment).database_url == PG
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(
        ConfigError, match=f"DATABASE_URL is required when APP_ENV is set to {environment}"
    ):
        load_migration_config(environment)


def test_a_pooler_is_for_postgresql_and_named_when_wrong(monkeypatch):
    monkeypatch.setenv("DATABASE_POOLER", "pgbouncer")
    assert load_config("testing", database_url=PG).database_pooler == "pgbouncer"
    with pytest.raises(ConfigError, match="DATABASE_POOLER: a pooler needs a postgresql"):
        load_config("testing", database_url="sqlite+aiosqlite:///x.db")
    monkeypatch.setenv("DATABASE_POOLER", "pgpool")
    with pytest.raises(ConfigError, match="DATABASE_POOLER"):
        load_config("testing", database_url=PG)


REPLICA = "postgresql+asyncpg://app@replica/app"


def test_a_read_replica_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_READ_URL", REPLICA)
    monkeypatch.setenv("REPLICA_MAX_LAG_SECONDS", "2")
    monkeypatch.setenv("READ_YOUR_WRITES_SECONDS", "4")
    settings = load_config("testing", database_url=PG)
    assert settings.database_read_url == REPLICA
    assert (settings.replica_max_lag_seconds, settings.read_your_writes_seconds) == (2.0, 4.0)
    monkeypatch.setenv("DATABASE_READ_URL", " ")  # set but empty: no replica
    assert load_config("testing", database_url=PG).database_read_url is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"database_url": "sqlite+aiosqlite:///x.db"},
            "DATABASE_READ_URL: a read replica needs a postgresql",
        ),
        (
            {"database_read_url": "postgresql://app@replica/app"},
            "DATABASE_READ_URL: must start with postgresql\\+asyncpg://",
        ),
        (
            {"database_read_url": "sqlite+aiosqlite:///replica.db"},
            "DATABASE_READ_URL: must start with postgresql\\+asyncpg://",
        ),
        (
            {"read_your_writes_seconds": 1.0, "replica_max_lag_seconds": 3.0},
            "READ_YOUR_WRITES_SECONDS must be at least REPLICA_MAX_LAG_SECONDS",
        ),
        (
            {"replica_max_lag_seconds": 0.5, "replica_check_seconds": 0.5},
            "REPLICA_MAX_LAG_SECONDS must exceed REPLICA_CHECK_SECONDS",
        ),
    ],
)
def test_a_read_replica_is_refused_at_start_up_when_it_cannot_work(overrides, message):
    settings = {"database_url": PG, "database_read_url": REPLICA, **overrides}
    with pytest.raises(ConfigError, match=message):
        load_config("testing", **settings)
