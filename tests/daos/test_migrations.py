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
from service.models.jobs import is_model_object
from tests.conftest import create_postgres_database

ROOT = Path(__file__).resolve().parents[2]


async def test_models_match_migrations(engine: AsyncEngine):
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": is_model_object,
            },
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
