"""Alembic and the models agree, and the migrations run both ways from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.models import Base
from tests.conftest import create_postgres_database

ROOT = Path(__file__).resolve().parents[2]


async def test_models_match_migrations(engine: AsyncEngine):
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


def _alembic(url: str, *args: str) -> str:
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


async def test_alembic_cli_upgrades_and_downgrades(settings: Settings, tmp_path: Path):
    """`alembic upgrade head` reads DATABASE_URL; every revision also downgrades cleanly."""
    if settings.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    else:
        target = make_url(settings.database_url)
        url = target.set(database=f"{target.database}_migrations").render_as_string(False)
        await create_postgres_database(url)
    _alembic(url, "downgrade", "base")  # an earlier run may have left it migrated
    _alembic(url, "upgrade", "head")
    assert "(head)" in _alembic(url, "current")
    _alembic(url, "downgrade", "base")
    _alembic(url, "upgrade", "head")


def _alembic_as_operator(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`alembic upgrade head` as the image runs it: production, DATABASE_URL and nothing else."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "pyproject.toml"), "upgrade", "head"],
        cwd=cwd,  # no .env file here: only what is passed counts
        env={"PATH": os.environ["PATH"], "APP_ENV": "production", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrations_need_only_the_database_url(settings: Settings, tmp_path: Path):
    """The README's `docker run -e DATABASE_URL=... IMAGE alembic upgrade head`: no SECRET_KEY."""
    if settings.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_path / 'operator.db'}"
    else:
        target = make_url(settings.database_url)
        url = target.set(database=f"{target.database}_operator").render_as_string(False)
        await create_postgres_database(url)
    result = _alembic_as_operator(url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY" not in result.stderr


async def test_production_migrations_still_require_the_url(tmp_path: Path):
    result = _alembic_as_operator("", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: DATABASE_URL is required when APP_ENV is set to production"
    ]


async def test_a_database_that_does_not_exist_is_one_line(settings: Settings, tmp_path: Path):
    if settings.is_sqlite:  # SQLite creates a missing file; a folder in its place cannot open
        (tmp_path / "folder.db").mkdir()
        url = f"sqlite+aiosqlite:///{tmp_path / 'folder.db'}"
        expected = f"error: cannot open the SQLite database {tmp_path / 'folder.db'}"
    else:
        target = make_url(settings.database_url)
        url = target.set(database="conduit_no_such_database").render_as_string(False)
        expected = 'error: database "conduit_no_such_database" does not exist'
    result = _alembic_as_operator(url, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]


async def test_an_unreachable_server_is_one_line(tmp_path: Path):
    result = _alembic_as_operator("postgresql+asyncpg://app@127.0.0.1:1/app", tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1"), lines[0]
